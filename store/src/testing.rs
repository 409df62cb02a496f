//! Placeholder until the etcd harness lands.
/// x
#[derive(Debug)]
pub struct EtcdServer;
impl EtcdServer {
    /// x
    pub fn start() -> std::io::Result<Self> {
        Ok(EtcdServer)
    }
    /// x
    pub fn endpoint(&self) -> String {
        String::new()
    }
}
/// x
pub fn require_etcd() -> bool {
    false
}
