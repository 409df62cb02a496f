//! `skiff images`: import tarballs into, and list the images of, the
//! containerd of a running `skiff server` (found under its data dir).

use std::path::PathBuf;

use anyhow::{Context, Result};
use skiff_kubelet::images::node::NodeImages;

use crate::cli::{ImagesArgs, ImagesCommand};

/// `skiff server`'s default data dir: /var/lib/skiff as root, else ~/.local/share/skiff.
fn default_data_dir() -> Result<PathBuf> {
    if running_as_root() {
        return Ok(PathBuf::from("/var/lib/skiff"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".local/share/skiff"))
}

/// Whether we run as root, told the way `skiff server` tells it (the owner of /proc/self).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

pub async fn run(args: ImagesArgs) -> Result<()> {
    match args.command {
        ImagesCommand::Import { data_dir, files } => {
            let node = NodeImages::open(&data_dir.map_or_else(default_data_dir, Ok)?)?;
            for file in files {
                for name in node.import(&file).await? {
                    println!("imported {name}");
                }
            }
        }
        ImagesCommand::Ls { data_dir } => {
            let node = NodeImages::open(&data_dir.map_or_else(default_data_dir, Ok)?)?;
            print!("{}", node.table().await?);
        }
    }
    Ok(())
}
