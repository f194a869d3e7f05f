//! rustls configurations built from the PKI, all on the ring provider.

use std::sync::Arc;

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::{KeyedCert, Pki};

/// The crypto provider k1s uses everywhere.
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A root store holding only the cluster CA.
pub(super) fn roots(ca: &KeyedCert) -> anyhow::Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.cert_der().clone())
        .context("the CA certificate cannot be a trust anchor")?;
    Ok(Arc::new(roots))
}

/// The API server's TLS settings: its serving certificate, ALPN `h2` and
/// `http/1.1`, and client certificates verified against the CA but optional,
/// so anonymous requests reach the server (which answers them 401 where
/// authentication is needed).
pub fn server_config(pki: &Pki) -> anyhow::Result<Arc<ServerConfig>> {
    try_server_config(pki).map(Arc::new)
}

/// A client's TLS settings trusting the cluster CA, presenting the admin
/// certificate when `with_admin_cert`. ALPN is left empty (HTTP/1.1); set
/// `alpn_protocols` on a clone for HTTP/2.
pub fn client_config(pki: &Pki, with_admin_cert: bool) -> Arc<ClientConfig> {
    // load_or_create built this very configuration before handing out the Pki.
    Arc::new(try_client_config(pki, with_admin_cert).expect("the PKI was checked when loaded"))
}

pub(super) fn try_server_config(pki: &Pki) -> anyhow::Result<ServerConfig> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(pki.ca())?, provider.clone())
        .allow_unauthenticated()
        .build()
        .context("cannot build the client certificate verifier")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("no TLS protocol version available")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.serving().cert_der().clone()], pki.serving().key_der())
        .context("the serving certificate and key are unusable")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

pub(super) fn try_client_config(pki: &Pki, with_admin_cert: bool) -> anyhow::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("no TLS protocol version available")?
        .with_root_certificates(roots(pki.ca())?);
    if with_admin_cert {
        builder
            .with_client_auth_cert(vec![pki.admin().cert_der().clone()], pki.admin().key_der())
            .context("the admin certificate and key are unusable")
    } else {
        Ok(builder.with_no_client_auth())
    }
}
