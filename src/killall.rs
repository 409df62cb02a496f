//! `skiff killall`: stops everything the node ran (as k3s-killall.sh):
//! `skiff server`/`skiff agent` leave pods' containers running when they
//! stop, so that a restarted node agent adopts them; this removes them.

use anyhow::{Context, Result};
use skiff_kubelet::config::DEFAULT_CGROUP_ROOT;
use skiff_kubelet::containerd::killall::{self, Scope};

use crate::cli::KillallArgs;

pub async fn run(args: KillallArgs) -> Result<()> {
    let data_dir = crate::server::data_dir(args.data_dir.as_deref())?;
    let scope = Scope::node(&data_dir, DEFAULT_CGROUP_ROOT);
    let report =
        tokio::task::spawn_blocking(move || killall::killall(&scope, None)).await.context("the killall thread")??;
    print!("skiff killall ({}):\n{report}", data_dir.display());
    if !report.problems.is_empty() {
        anyhow::bail!("{} problem(s) while cleaning up", report.problems.len());
    }
    Ok(())
}
