//! `skiff controller-manager`: the controllers on their own, as
//! kube-controller-manager runs, against any Kubernetes API server
//! reachable through a kubeconfig.

use anyhow::{Context, Result, bail};
use skiff_controllers::ControllerManager;
use skiff_controllers::leader::Timings;

use crate::cli::ControllerManagerArgs;

pub async fn run(args: ControllerManagerArgs) -> Result<()> {
    let config = crate::scheduler::client_config(args.kubeconfig.as_deref()).await?;
    let url = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).context("building the API client")?;
    let mut manager = ControllerManager::new(client);
    if !args.controllers.is_empty() {
        let known: Vec<&str> = manager.enabled().to_vec();
        if let Some(unknown) = args.controllers.iter().find(|c| !known.contains(&c.as_str())) {
            bail!("unknown controller {unknown:?} (known: {})", known.join(", "));
        }
        let wanted: Vec<&str> = args.controllers.iter().map(String::as_str).collect();
        manager = manager.only(&wanted);
    }
    if args.leader_elect {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let identity = format!("{}_{}", host.trim(), uuid::Uuid::new_v4().simple());
        manager = manager.with_leader_election(&identity, Timings::default());
    }
    let terminated = crate::termination()?;
    println!("skiff controller-manager: running {} for {url}", manager.enabled().join(", "));
    manager.run(terminated).await;
    Ok(())
}
