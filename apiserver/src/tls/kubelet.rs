//! Certificates of the kubelet endpoint (logs, exec, attach, port-forward):
//! the node's serving certificate and the API server's client certificate to
//! reach it, both signed by the cluster CA and kept beside the others in `tls/`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};

use super::config::{provider, roots};
use super::names::SubjectNames;
use super::{check, ensure_leaf, files, issue, load_or_create_ca, KeyedCert, PairFiles};

/// User name of the API server's client certificate for kubelets (as kubeadm names it).
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";
/// Group of that certificate.
pub const KUBELET_CLIENT_GROUP: &str = "system:masters";

const KUBELET_CLIENT_FILES: PairFiles = PairFiles {
    cert: "apiserver-kubelet-client.crt",
    key: "apiserver-kubelet-client.key",
};

/// The kubelet's TLS settings: a serving certificate for the node's name and
/// addresses (plus localhost), issued by the cluster CA in `dir` and re-issued
/// when it no longer fits, and client certificates required and verified
/// against the CA. ALPN is `http/1.1` (upgrades need HTTP/1.1).
pub fn kubelet_server_config(dir: &Path, node_name: &str, ips: &[IpAddr]) -> anyhow::Result<Arc<ServerConfig>> {
    files::private_dir(dir).with_context(|| format!("the TLS directory {} is unusable", dir.display()))?;
    let _lock = files::lock(dir)?;
    let ca = load_or_create_ca(dir)?;
    let verifier = check::Verifier::new(&ca)?;
    let mut names = SubjectNames::default();
    names.add("localhost");
    names.add(node_name);
    names.ips.insert(IpAddr::from([127, 0, 0, 1]));
    names.ips.extend(ips.iter().copied());
    let files = PairFiles {
        cert: "kubelet.crt",
        key: "kubelet.key",
    };
    let serving = ensure_leaf(
        dir,
        files,
        |cert| verifier.check_serving(cert, &names),
        || issue::serving_for(node_name, &ca.key_pem, &names),
    )?;
    let provider = provider();
    let client_verifier = WebPkiClientVerifier::builder_with_provider(roots(&ca)?, provider.clone())
        .build()
        .context("cannot build the client certificate verifier")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("no TLS protocol version available")?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(vec![serving.cert_der().clone()], serving.key_der())
        .context("the kubelet serving certificate and key are unusable")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The API server's TLS settings towards kubelets: trusts the cluster CA and
/// presents `CN=kube-apiserver-kubelet-client, O=system:masters` (issued on
/// first use). ALPN `http/1.1`.
pub fn kubelet_client_config(dir: &Path) -> anyhow::Result<Arc<ClientConfig>> {
    files::private_dir(dir).with_context(|| format!("the TLS directory {} is unusable", dir.display()))?;
    let _lock = files::lock(dir)?;
    let ca = load_or_create_ca(dir)?;
    let verifier = check::Verifier::new(&ca)?;
    let cert: KeyedCert = ensure_leaf(
        dir,
        KUBELET_CLIENT_FILES,
        |cert| verifier.check_client(cert, KUBELET_CLIENT_USER, KUBELET_CLIENT_GROUP),
        || issue::client(&ca.key_pem, KUBELET_CLIENT_USER, KUBELET_CLIENT_GROUP),
    )?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("no TLS protocol version available")?
        .with_root_certificates(roots(&ca)?)
        .with_client_auth_cert(vec![cert.cert_der().clone()], cert.key_der())
        .context("the kubelet client certificate and key are unusable")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        kubelet_server_config(dir.path(), "node-a", &[ip]).unwrap();
        let first = std::fs::read(dir.path().join("kubelet.crt")).unwrap();
        kubelet_server_config(dir.path(), "node-a", &[ip]).unwrap();
        assert_eq!(first, std::fs::read(dir.path().join("kubelet.crt")).unwrap());
        // A new address makes a new certificate.
        kubelet_server_config(dir.path(), "node-a", &["10.1.2.4".parse().unwrap()]).unwrap();
        assert_ne!(first, std::fs::read(dir.path().join("kubelet.crt")).unwrap());

        kubelet_client_config(dir.path()).unwrap();
        let client = std::fs::read(dir.path().join(KUBELET_CLIENT_FILES.cert)).unwrap();
        kubelet_client_config(dir.path()).unwrap();
        assert_eq!(
            client,
            std::fs::read(dir.path().join(KUBELET_CLIENT_FILES.cert)).unwrap()
        );
    }
}
