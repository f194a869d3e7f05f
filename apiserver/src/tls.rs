//! STUB (replaced by the `tls` branch): PKI.
use std::path::Path;
use std::sync::Arc;
/// Names for the serving certificate.
pub struct SubjectNames {}
impl SubjectNames {
    /// Detects host names and addresses.
    pub fn detect() -> Self { SubjectNames {} }
}
/// The cluster PKI.
pub struct Pki {}
/// Loads or creates the PKI.
pub fn load_or_create(_dir: &Path, _names: &SubjectNames) -> anyhow::Result<Pki> { anyhow::bail!("stub") }
/// The rustls server config.
pub fn server_config(_pki: &Pki) -> anyhow::Result<Arc<rustls::ServerConfig>> { anyhow::bail!("stub") }
/// STUB: client config.
pub fn client_config(_pki: &Pki, _admin: bool) -> Arc<rustls::ClientConfig> { unimplemented!() }
