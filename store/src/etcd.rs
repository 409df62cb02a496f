//! Placeholder until the etcd backend lands.
use crate::error::Result;
/// x
#[derive(Debug, Clone)]
pub struct EtcdConfig;
impl EtcdConfig {
    /// x
    pub fn new(_endpoints: Vec<String>) -> Self {
        EtcdConfig
    }
}
/// x
#[derive(Debug)]
pub struct EtcdBackend;
impl EtcdBackend {
    /// x
    pub async fn connect(_c: EtcdConfig) -> Result<Self> {
        Err(crate::Error::Closed)
    }
}
#[async_trait::async_trait]
impl crate::Backend for EtcdBackend {
    async fn current_revision(&self) -> Result<i64> {
        Err(crate::Error::Closed)
    }
    async fn compacted_revision(&self) -> Result<i64> {
        Err(crate::Error::Closed)
    }
    async fn get(&self, _: &str, _: Option<i64>) -> Result<Option<crate::KeyValue>> {
        Err(crate::Error::Closed)
    }
    async fn range(&self, _: crate::RangeRequest) -> Result<crate::RangeResponse> {
        Err(crate::Error::Closed)
    }
    async fn count(&self, _: &str) -> Result<i64> {
        Err(crate::Error::Closed)
    }
    async fn create(&self, _: &str, _: bytes::Bytes, _: Option<i64>) -> Result<crate::Outcome<i64>> {
        Err(crate::Error::Closed)
    }
    async fn update(&self, _: &str, _: bytes::Bytes, _: i64, _: Option<i64>) -> Result<crate::Outcome<i64>> {
        Err(crate::Error::Closed)
    }
    async fn delete(&self, _: &str, _: Option<i64>) -> Result<crate::Outcome<(i64, crate::KeyValue)>> {
        Err(crate::Error::Closed)
    }
    async fn watch(&self, _: &str, _: i64) -> Result<crate::WatchStream> {
        Err(crate::Error::Closed)
    }
    async fn compact(&self, _: i64) -> Result<()> {
        Err(crate::Error::Closed)
    }
    async fn grant_lease(&self, _: std::time::Duration) -> Result<i64> {
        Err(crate::Error::Closed)
    }
    async fn revoke_lease(&self, _: i64) -> Result<()> {
        Err(crate::Error::Closed)
    }
}
