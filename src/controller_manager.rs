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
    // As kube-controller-manager without --root-ca-file: the kubeconfig's CA is what pods trust.
    let root_ca = config.root_cert.as_deref().map(pem_certificates);
    let client = kube::Client::try_from(config).context("building the API client")?;
    let mut manager = ControllerManager::new(client);
    if let Some(pem) = root_ca {
        manager = manager.with_root_ca(pem);
    }
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

/// DER certificates as one PEM bundle.
fn pem_certificates(certificates: &[Vec<u8>]) -> String {
    use base64::Engine;
    let mut pem = String::new();
    for der in certificates {
        let encoded = base64::engine::general_purpose::STANDARD.encode(der);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

#[cfg(test)]
mod tests {
    #[test]
    fn der_certificates_become_a_pem_bundle() {
        let pem = super::pem_certificates(&[vec![0u8; 60], vec![1, 2, 3]]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2], "AAAAAAAAAAAAAAAA");
        assert_eq!(
            &lines[3..],
            ["-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----", "AQID", "-----END CERTIFICATE-----"]
        );
    }
}
