//! Importing image tarballs into containerd's `k8s.io` namespace (the only
//! one its CRI plugin looks in), with `ctr`, which reads OCI layouts and
//! `docker save` archives. Compressed tarballs (gzip, zstd, told apart by
//! their magic bytes) are decompressed here and streamed to ctr's stdin,
//! because `ctr images import` reads only plain tar.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tarball could not be opened or read.
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// `ctr` could not be started (not installed?).
    #[error("running ctr (part of containerd's package): {0}")]
    Spawn(#[source] std::io::Error),
    /// `ctr images import` refused the tarball.
    #[error("importing {path}: {message}")]
    Ctr { path: PathBuf, message: String },
}

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The containerd namespace the CRI plugin serves images from.
pub const CRI_NAMESPACE: &str = "k8s.io";

/// How a tarball is compressed, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Tells the compression from the file's first bytes.
    pub fn detect(head: &[u8]) -> Self {
        match head {
            [0x1f, 0x8b, ..] => Self::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Self::Zstd,
            _ => Self::None,
        }
    }
}

/// Imports the tarball at `path` into the containerd at `socket`; returns the image names it held.
pub async fn import(socket: &Path, path: &Path) -> Result<Vec<String>> {
    let read_error = |source| Error::Read { path: path.to_path_buf(), source };
    let mut head = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let read = file.read(&mut head).map_err(read_error)?;
    let compression = Compression::detect(&head[..read]);
    drop(file);

    let mut ctr = Command::new("ctr");
    ctr.arg("--address").arg(socket).args(["--namespace", CRI_NAMESPACE, "images", "import"]);
    ctr.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let output = if compression == Compression::None {
        ctr.arg(path).stdin(Stdio::null());
        ctr.output().await.map_err(Error::Spawn)?
    } else {
        ctr.arg("-").stdin(Stdio::piped());
        let mut child = ctr.spawn().map_err(Error::Spawn)?;
        let stdin = child.stdin.take();
        let feed = feed(path.to_path_buf(), compression, stdin);
        let (fed, output) = tokio::join!(feed, child.wait_with_output());
        let output = output.map_err(Error::Spawn)?;
        // A ctr that failed explains itself better than the broken pipe we saw.
        if output.status.success() {
            fed.map_err(read_error)?;
        }
        output
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr.trim().trim_start_matches("ctr: ").to_owned();
        return Err(Error::Ctr { path: path.to_path_buf(), message });
    }
    Ok(imported_names(&String::from_utf8_lossy(&output.stdout)))
}

/// Decompresses `path` into ctr's stdin.
async fn feed(
    path: PathBuf,
    compression: Compression,
    stdin: Option<tokio::process::ChildStdin>,
) -> std::io::Result<()> {
    let Some(mut stdin) = stdin else { return Ok(()) };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let result = (|| -> std::io::Result<()> {
            let file = std::io::BufReader::new(std::fs::File::open(&path)?);
            let mut decoder: Box<dyn Read> = match compression {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
                Compression::Zstd => {
                    Box::new(ruzstd::decoding::StreamingDecoder::new(file).map_err(std::io::Error::other)?)
                }
                Compression::None => Box::new(file),
            };
            loop {
                let mut chunk = vec![0u8; 256 << 10];
                let n = decoder.read(&mut chunk)?;
                if n == 0 {
                    return Ok(());
                }
                chunk.truncate(n);
                if sender.blocking_send(Ok(chunk)).is_err() {
                    return Ok(());
                }
            }
        })();
        if let Err(err) = result {
            let _ = sender.blocking_send(Err(err));
        }
    });
    while let Some(chunk) = receiver.recv().await {
        stdin.write_all(&chunk?).await?;
    }
    drop(stdin);
    reader.await.map_err(std::io::Error::other)
}

/// The names in ctr's `unpacking NAME (sha256:...)...done` lines.
fn imported_names(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("unpacking "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_told_by_magic_bytes() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(Compression::detect(b"oci-"), Compression::None);
        assert_eq!(Compression::detect(&[]), Compression::None);
    }

    #[test]
    fn imported_names_come_from_the_unpacking_lines() {
        let out = "unpacking localhost/a:1 (sha256:abc)...done\nunpacking docker.io/library/b:2 (sha256:def)...done\n";
        assert_eq!(imported_names(out), ["localhost/a:1", "docker.io/library/b:2"]);
    }
}
