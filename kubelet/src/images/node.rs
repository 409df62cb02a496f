//! The images of a node's running containerd, for `skiff images`: found by
//! the data dir's layout, listed as `crictl images` lists them.

use std::path::{Path, PathBuf};

use super::import;
use crate::containerd::ContainerdConfig;
use crate::runtime::cri::CriRuntime;
use crate::runtime::{Runtime, RuntimeError, api};

/// Why the node's images could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No containerd socket where skiff's containerd keeps it.
    #[error("no containerd socket at {0}: is skiff server running?")]
    NoSocket(PathBuf),
    /// Importing a tarball failed.
    #[error(transparent)]
    Import(#[from] import::Error),
    /// Listing the images failed.
    #[error("listing images: {0}")]
    List(#[source] RuntimeError),
}

/// The containerd of the node whose data dir is given.
#[derive(Debug)]
pub struct NodeImages {
    socket: PathBuf,
}

impl NodeImages {
    /// The containerd skiff runs for `<data_dir>/agent`; fails when its socket is not there.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        let socket = ContainerdConfig::new(data_dir.join("agent").join("containerd")).socket;
        if !socket.exists() {
            return Err(Error::NoSocket(socket));
        }
        Ok(Self { socket })
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Imports one tarball; returns the image names it held.
    pub async fn import(&self, tarball: &Path) -> Result<Vec<String>, Error> {
        Ok(import::import(&self.socket, tarball).await?)
    }

    /// The images as a table: IMAGE  TAG  IMAGE ID  SIZE.
    pub async fn table(&self) -> Result<String, Error> {
        let images = CriRuntime::connect(&self.socket).list_images().await.map_err(Error::List)?;
        Ok(table(&images))
    }
}

/// One row per tag (or per digest for untagged images), sorted, in aligned columns.
pub fn table(images: &[api::Image]) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for image in images {
        let id = image.id.trim_start_matches("sha256:").chars().take(13).collect::<String>();
        let size = human_size(image.size);
        let mut named = false;
        for tag in &image.repo_tags {
            let (repo, tag) = split_reference(tag, ':');
            rows.push([repo, tag, id.clone(), size.clone()]);
            named = true;
        }
        if !named {
            for digest in &image.repo_digests {
                let (repo, _) = split_reference(digest, '@');
                rows.push([repo, "<none>".into(), id.clone(), size.clone()]);
                named = true;
            }
        }
        if !named {
            rows.push(["<none>".into(), "<none>".into(), id, size]);
        }
    }
    rows.sort();
    rows.dedup();
    let header = ["IMAGE".to_owned(), "TAG".into(), "IMAGE ID".into(), "SIZE".into()];
    let all: Vec<&[String; 4]> = std::iter::once(&header).chain(rows.iter()).collect();
    let widths: Vec<usize> = (0..4).map(|col| all.iter().map(|row| row[col].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in all {
        let line = format!(
            "{:w0$}   {:w1$}   {:w2$}   {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Splits `repo:tag` at the separator after the last `/` (a registry port is not a tag).
fn split_reference(reference: &str, separator: char) -> (String, String) {
    let name_start = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    match reference[name_start..].find(separator) {
        Some(at) => {
            let at = name_start + at;
            (reference[..at].to_owned(), reference[at + 1..].to_owned())
        }
        None => (reference.to_owned(), "<none>".to_owned()),
    }
}

/// Sizes as crictl prints them: decimal units, three significant digits (`1.02MB`, `315kB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.digits$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_printed_like_crictl() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(315_392), "315kB");
        assert_eq!(human_size(1_020_000), "1.02MB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(12_340_000), "12.3MB");
    }

    #[test]
    fn the_table_has_a_row_per_tag_and_splits_at_the_tag_not_the_port() {
        let images = [
            api::Image {
                id: "sha256:0123456789abcdef0123".into(),
                repo_tags: vec!["localhost:5000/a/b:1.0".into(), "docker.io/library/b:latest".into()],
                size: 1_020_000,
                ..Default::default()
            },
            api::Image {
                id: "sha256:fedcba9876543210".into(),
                repo_digests: vec!["localhost/c@sha256:abc".into()],
                size: 999,
                ..Default::default()
            },
        ];
        let table = table(&images);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"]);
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["docker.io/library/b", "latest", "0123456789abc", "1.02MB"]
        );
        assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["localhost/c", "<none>", "fedcba9876543", "999B"]);
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["localhost:5000/a/b", "1.0", "0123456789abc", "1.02MB"]
        );
    }
}
