//! `skiff agent`: a node agent (kubelet on containerd) that joins the
//! cluster of a skiff server with a join token: it pins the server's CA by
//! the token's hash, gets a client certificate for `system:node:<name>`
//! and a serving certificate for its kubelet, and keeps them in its data dir.

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cli::AgentArgs;
use crate::node_agent::{self, KubeletTls, NodeAgent};

pub async fn run(args: AgentArgs) -> Result<()> {
    let data_dir = crate::server::data_dir(args.data_dir.as_deref())?;
    let name = node_agent::node_name(&args.node);
    let ip = node_agent::node_ip(&args.node);
    let agent_dir = data_dir.join("agent");
    let credentials = skiff_kubelet::node::join::load_or_join(&agent_dir, &args.server, &args.token, &name, &[ip])
        .await
        .with_context(|| format!("joining {}", args.server))?;
    let kubeconfig = Kubeconfig::from_yaml(&credentials.kubeconfig(&args.server)).context("the agent's kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let client = kube::Client::try_from(config).context("building the API client")?;
    let tls = KubeletTls {
        serving_cert: (credentials.serving_cert.clone(), credentials.serving_key.clone()),
        client_ca: credentials.ca_pem.clone(),
    };
    let terminated = crate::termination()?;
    let agent = NodeAgent::start(&args.node, &data_dir, client, tls, &[]).await?;
    println!("skiff agent: node {name} joined {}", args.server);
    terminated.await;
    agent.stop().await;
    Ok(())
}
