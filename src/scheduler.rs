//! `skiff scheduler`: the scheduler on its own, as kube-scheduler runs,
//! against any Kubernetes API server reachable through a kubeconfig.

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use skiff_scheduler::Scheduler;
use skiff_scheduler::profile::Profile;

use crate::cli::SchedulerArgs;

/// The client configuration from `kubeconfig`, or the usual places.
pub async fn client_config(kubeconfig: Option<&std::path::Path>) -> Result<kube::Config> {
    Ok(match kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await.context("finding a kubeconfig (pass --kubeconfig)")?,
    })
}

pub async fn run(args: SchedulerArgs) -> Result<()> {
    let config = client_config(args.kubeconfig.as_deref()).await?;
    let url = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).context("building the API client")?;
    let profiles = match &args.config {
        Some(path) => skiff_scheduler::config::load(path)?,
        None => vec![Profile::default_profile()],
    };
    let names: Vec<String> = profiles.iter().map(|p| p.scheduler_name.clone()).collect();
    let terminated = crate::termination()?;
    println!("skiff scheduler: scheduling for {url} as {}", names.join(", "));
    Scheduler::new(client, profiles).run(terminated).await;
    Ok(())
}
