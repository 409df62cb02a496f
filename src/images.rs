//! `skiff images`: import tarballs into, and list the images of, the
//! containerd of a running `skiff server` (found under its data dir).

use anyhow::Result;
use skiff_kubelet::images::node::NodeImages;

use crate::cli::{ImagesArgs, ImagesCommand};

pub async fn run(args: ImagesArgs) -> Result<()> {
    match args.command {
        ImagesCommand::Import { data_dir, files } => {
            let node = NodeImages::open(&crate::server::data_dir(data_dir.as_deref())?)?;
            for file in files {
                for name in node.import(&file).await? {
                    println!("imported {name}");
                }
            }
        }
        ImagesCommand::Ls { data_dir } => {
            let node = NodeImages::open(&crate::server::data_dir(data_dir.as_deref())?)?;
            print!("{}", node.table().await?);
        }
    }
    Ok(())
}
