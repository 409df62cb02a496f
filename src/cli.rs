//! The command line, with k3s's flag names where the meaning is the same.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "skiff", version, about = "A lightweight, embeddable, Kubernetes-compatible control plane")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the cluster: for now, open the datastore and report its revision.
    Server(ServerArgs),
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Where skiff keeps its state (default /var/lib/skiff as root, else ~/.local/share/skiff).
    #[arg(long, short = 'd', env = "SKIFF_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// sqlite:///path/to/state.db (default: <data-dir>/server/db/state.db) or
    /// http://host:2379[,http://...] for an etcd cluster.
    #[arg(long, env = "SKIFF_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Option<String>,
}
