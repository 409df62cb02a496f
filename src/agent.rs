//! `skiff agent`: a node agent (kubelet on containerd) that joins the
//! cluster of a skiff server with a join token.

use anyhow::Result;

use crate::cli::AgentArgs;

pub async fn run(args: AgentArgs) -> Result<()> {
    let _ = (&args.server, &args.token, &args.data_dir, &args.node);
    anyhow::bail!("skiff agent: joining a server is still being built")
}
