//! `skiff server`: wires the parts of a cluster together. So far the
//! datastore is the only part.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use skiff_store::Datastore;

use crate::cli::ServerArgs;

/// The data directory: `--data-dir`, else /var/lib/skiff for root, else
/// ~/.local/share/skiff (as k3s does for rootless use).
fn data_dir(args: &ServerArgs) -> Result<PathBuf> {
    if let Some(dir) = &args.data_dir {
        return Ok(dir.clone());
    }
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    if root {
        return Ok(PathBuf::from("/var/lib/skiff"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".local/share/skiff"))
}

pub async fn run(args: ServerArgs) -> Result<()> {
    let data_dir = data_dir(&args)?;
    let datastore = match &args.datastore_endpoint {
        Some(endpoint) => endpoint.parse::<Datastore>()?,
        None => Datastore::default_in(&data_dir),
    };
    let store = skiff_store::open(&datastore).await?;
    let revision = store.current_revision().await?;
    let compacted = store.compacted_revision().await?;
    println!("skiff server: datastore {datastore} is open at revision {revision} (compacted up to {compacted})");
    Ok(())
}
