//! OCI image layout archives built from local files, for images that need
//! no registry (the pause image, test images).
//!
//! Our own small writer rather than a crate: an image of one gzipped layer
//! is a few JSON documents and two tars, and the crates that build OCI
//! images pull in registry clients we do not want.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Why building an image failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A host file to copy into the image could not be read.
    #[error("reading {path} for the image: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    /// Writing the layer or the archive failed.
    #[error("writing the image archive {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The layer-level entries of an image, in the order they are written.
#[derive(Debug, Clone)]
enum Entry {
    Dir(String),
    File { host: PathBuf, path: String },
    Symlink { path: String, target: String },
}

/// Builds a one-layer image (root-owned files with mtime 0, so the same
/// inputs give the same digests) and writes it as an OCI layout tarball.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    reference: String,
    entries: Vec<Entry>,
    env: Vec<String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    working_dir: String,
}

/// What [`ImageBuilder::write`] produced.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// The image's fully qualified reference (its `ref.name`).
    pub reference: String,
    /// The config blob's digest: the image ID CRI reports.
    pub id: String,
    /// The manifest's digest.
    pub manifest_digest: String,
}

fn clean(path: &str) -> String {
    path.trim_start_matches('/').trim_end_matches('/').to_owned()
}

impl ImageBuilder {
    /// An empty image named `reference` (fully qualified, e.g. `localhost/skiff/pause:catatonit`).
    pub fn new(reference: impl Into<String>) -> Self {
        Self {
            reference: reference.into(),
            entries: Vec::new(),
            env: Vec::new(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            working_dir: String::new(),
        }
    }

    /// An empty directory (mode 0755; `tmp` gets 1777).
    pub fn dir(mut self, path: &str) -> Self {
        self.entries.push(Entry::Dir(clean(path)));
        self
    }

    /// A copy of the host file `host` at `path`, keeping its permission bits.
    pub fn file(mut self, host: impl Into<PathBuf>, path: &str) -> Self {
        self.entries.push(Entry::File { host: host.into(), path: clean(path) });
        self
    }

    /// A symbolic link at `path` pointing at `target` (taken literally).
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Symlink { path: clean(path), target: target.into() });
        self
    }

    /// An environment variable (`NAME=value`) of the image config.
    pub fn env(mut self, var: impl Into<String>) -> Self {
        self.env.push(var.into());
        self
    }

    /// The image's Entrypoint.
    pub fn entrypoint<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.entrypoint = args.into_iter().map(Into::into).collect();
        self
    }

    /// The image's Cmd.
    pub fn cmd<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.cmd = args.into_iter().map(Into::into).collect();
        self
    }

    /// The image's WorkingDir.
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = dir.into();
        self
    }

    /// The uncompressed layer tar: directories (with their parents) first, then files, then symlinks.
    fn layer(&self) -> Result<Vec<u8>> {
        let mut dirs: Vec<String> = Vec::new();
        let add_dir = |dir: &str, dirs: &mut Vec<String>| {
            let mut prefix = String::new();
            for part in dir.split('/').filter(|p| !p.is_empty()) {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                if !dirs.contains(&prefix) {
                    dirs.push(prefix.clone());
                }
            }
        };
        for entry in &self.entries {
            match entry {
                Entry::Dir(path) => add_dir(path, &mut dirs),
                Entry::File { path, .. } | Entry::Symlink { path, .. } => {
                    if let Some((parent, _)) = path.rsplit_once('/') {
                        add_dir(parent, &mut dirs);
                    }
                }
            }
        }
        let write_error = |source| Error::Write { path: PathBuf::from("<layer>"), source };
        let mut tar = tar::Builder::new(Vec::new());
        for dir in &dirs {
            let mut header = header(tar::EntryType::Directory, if dir == "tmp" { 0o1777 } else { 0o755 }, 0);
            tar.append_data(&mut header, format!("{dir}/"), std::io::empty()).map_err(write_error)?;
        }
        for entry in &self.entries {
            if let Entry::File { host, path } = entry {
                let read_error = |source| Error::ReadFile { path: host.clone(), source };
                let data = std::fs::read(host).map_err(read_error)?;
                let mode = std::os::unix::fs::PermissionsExt::mode(
                    &std::fs::metadata(host).map_err(read_error)?.permissions(),
                );
                let mut header = header(tar::EntryType::Regular, mode & 0o7777, data.len() as u64);
                tar.append_data(&mut header, path, data.as_slice()).map_err(write_error)?;
            }
        }
        for entry in &self.entries {
            if let Entry::Symlink { path, target } = entry {
                let mut header = header(tar::EntryType::Symlink, 0o777, 0);
                tar.append_link(&mut header, path, target).map_err(write_error)?;
            }
        }
        tar.into_inner().map_err(write_error)
    }

    /// Writes the OCI layout tarball to `path`.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<BuiltImage> {
        let path = path.as_ref();
        let write_error = |source| Error::Write { path: path.to_path_buf(), source };
        let layer = self.layer()?;
        let diff_id = sha256(&layer);
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&layer).map_err(write_error)?;
        let layer_blob = gz.finish().map_err(write_error)?;
        let layer_digest = sha256(&layer_blob);

        let mut config = serde_json::Map::new();
        if !self.env.is_empty() {
            config.insert("Env".into(), json!(self.env));
        }
        if !self.entrypoint.is_empty() {
            config.insert("Entrypoint".into(), json!(self.entrypoint));
        }
        if !self.cmd.is_empty() {
            config.insert("Cmd".into(), json!(self.cmd));
        }
        if !self.working_dir.is_empty() {
            config.insert("WorkingDir".into(), json!(self.working_dir));
        }
        let config_blob = json_bytes(&json!({
            "architecture": architecture(),
            "os": "linux",
            "config": config,
            "rootfs": { "type": "layers", "diff_ids": [diff_id] },
            "history": [{ "created_by": "skiff ImageBuilder" }],
        }));
        let config_digest = sha256(&config_blob);
        let manifest_blob = json_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_blob.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": layer_blob.len(),
            }],
        }));
        let manifest_digest = sha256(&manifest_blob);
        let index = json_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_blob.len(),
                "platform": { "architecture": architecture(), "os": "linux" },
                "annotations": { "org.opencontainers.image.ref.name": self.reference },
            }],
        }));

        let file = std::fs::File::create(path).map_err(write_error)?;
        let mut archive = tar::Builder::new(std::io::BufWriter::new(file));
        let mut add = |name: &str, data: &[u8]| {
            let mut header = header(tar::EntryType::Regular, 0o644, data.len() as u64);
            archive.append_data(&mut header, name, data)
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(write_error)?;
        add("index.json", &index).map_err(write_error)?;
        for (digest, blob) in
            [(&config_digest, &config_blob), (&manifest_digest, &manifest_blob), (&layer_digest, &layer_blob)]
        {
            let hex = digest.trim_start_matches("sha256:");
            add(&format!("blobs/sha256/{hex}"), blob).map_err(write_error)?;
        }
        archive.into_inner().and_then(|mut out| out.flush()).map_err(write_error)?;
        Ok(BuiltImage { reference: self.reference.clone(), id: config_digest, manifest_digest })
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn sha256(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The OCI name of the architecture this binary runs on.
pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}
