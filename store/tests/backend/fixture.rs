//! A backend under test and whatever keeps it alive.

use std::sync::Arc;

use skiff_store::testing::{EtcdServer, require_etcd};
use skiff_store::{Backend, EtcdBackend, EtcdConfig, MemoryBackend, SqliteBackend, SqliteConfig};

pub struct Fixture {
    backend: Arc<dyn Backend>,
    _dir: Option<tempfile::TempDir>,
    _etcd: Option<EtcdServer>,
}

impl Fixture {
    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// SQLite with a watch cache of 8 events, so that most watch replays
    /// read the history on disk.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = SqliteConfig::new(dir.path().join("state.db")).watch_cache_events(8);
        let backend = SqliteBackend::open(config).expect("open sqlite");
        Self { backend: Arc::new(backend), _dir: Some(dir), _etcd: None }
    }

    pub fn memory() -> Self {
        Self { backend: Arc::new(MemoryBackend::new()), _dir: None, _etcd: None }
    }

    /// A fresh etcd for this test, or `None` (skip) when etcd is missing outside CI.
    pub async fn etcd() -> Option<Self> {
        if !require_etcd() {
            return None;
        }
        let etcd = EtcdServer::start().expect("start etcd");
        let backend = EtcdBackend::connect(EtcdConfig::new(vec![etcd.endpoint()])).await.expect("connect to etcd");
        Some(Self { backend: Arc::new(backend), _dir: None, _etcd: Some(etcd) })
    }
}
