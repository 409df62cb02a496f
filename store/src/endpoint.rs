//! Choosing a backend from a k3s-style `--datastore-endpoint` URL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::etcd::{EtcdBackend, EtcdConfig};
use crate::memory::MemoryBackend;
use crate::sqlite::{SqliteBackend, SqliteConfig};

/// A datastore endpoint: `sqlite:///path/to/state.db`,
/// `http://127.0.0.1:2379[,http://...]` for etcd, or `memory://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datastore {
    Sqlite(PathBuf),
    Etcd(Vec<String>),
    Memory,
}

impl Datastore {
    /// The default: a SQLite file under the data directory (where k3s keeps its own).
    pub fn default_in(data_dir: &Path) -> Self {
        Datastore::Sqlite(data_dir.join("server").join("db").join("state.db"))
    }
}

impl FromStr for Datastore {
    type Err = Error;

    fn from_str(endpoint: &str) -> Result<Self> {
        let invalid =
            |reason: &str| Error::InvalidEndpoint { endpoint: endpoint.to_owned(), reason: reason.to_owned() };
        let endpoint = endpoint.trim();
        if let Some(path) = endpoint.strip_prefix("sqlite://") {
            if path.contains('?') {
                return Err(invalid("query parameters are not supported; skiff sets the SQLite options itself"));
            }
            if path.is_empty() {
                return Err(invalid("no database path; use sqlite:///path/to/state.db"));
            }
            return Ok(Datastore::Sqlite(PathBuf::from(path)));
        }
        if endpoint == "memory://" {
            return Ok(Datastore::Memory);
        }
        if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            let urls: Vec<String> = endpoint.split(',').map(|u| u.trim().to_owned()).collect();
            if let Some(bad) = urls.iter().find(|u| !u.starts_with("http://")) {
                let reason = if bad.starts_with("https://") {
                    "https etcd endpoints need client TLS options, which skiff does not support yet"
                } else {
                    "every etcd endpoint must be an http:// URL"
                };
                return Err(invalid(reason));
            }
            if urls.iter().any(|u| u.len() <= "http://".len()) {
                return Err(invalid("an etcd endpoint has no host"));
            }
            return Ok(Datastore::Etcd(urls));
        }
        Err(invalid("expected sqlite:///path, http://host:port[,http://...] (etcd) or memory://"))
    }
}

impl fmt::Display for Datastore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datastore::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Datastore::Etcd(urls) => f.write_str(&urls.join(",")),
            Datastore::Memory => f.write_str("memory://"),
        }
    }
}

/// Opens the backend an endpoint names.
pub async fn open(datastore: &Datastore) -> Result<Arc<dyn Backend>> {
    Ok(match datastore {
        Datastore::Sqlite(path) => {
            let config = SqliteConfig::new(path.clone());
            Arc::new(
                tokio::task::spawn_blocking(move || SqliteBackend::open(config)).await.map_err(|_| Error::Closed)??,
            )
        }
        Datastore::Etcd(urls) => Arc::new(EtcdBackend::connect(EtcdConfig::new(urls.clone())).await?),
        Datastore::Memory => Arc::new(MemoryBackend::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_select_their_backend() {
        let cases = [
            ("sqlite:///var/lib/skiff/state.db", Datastore::Sqlite("/var/lib/skiff/state.db".into())),
            ("http://127.0.0.1:2379", Datastore::Etcd(vec!["http://127.0.0.1:2379".into()])),
            (
                "http://127.0.0.1:2379,http://127.0.0.2:2379",
                Datastore::Etcd(vec!["http://127.0.0.1:2379".into(), "http://127.0.0.2:2379".into()]),
            ),
            ("memory://", Datastore::Memory),
        ];
        for (endpoint, want) in cases {
            assert_eq!(endpoint.parse::<Datastore>().expect(endpoint), want, "{endpoint}");
        }
    }

    #[test]
    fn bad_endpoints_are_refused_with_the_reason() {
        for endpoint in
            ["", "postgres://x", "sqlite://", "sqlite:///x.db?_journal=WAL", "https://127.0.0.1:2379", "http://"]
        {
            let err = endpoint.parse::<Datastore>().expect_err(endpoint);
            assert!(err.to_string().contains("invalid datastore endpoint"), "{endpoint}: {err}");
        }
    }
}
