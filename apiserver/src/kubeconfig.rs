//! STUB (replaced by the `tls` branch): kubeconfig.
use std::path::Path;
/// Renders a kubeconfig.
pub fn render(_url: &str, _pki: &crate::tls::Pki) -> String { String::new() }
/// Writes a kubeconfig.
pub fn write(_path: &Path, _contents: &str) -> anyhow::Result<()> { Ok(()) }
