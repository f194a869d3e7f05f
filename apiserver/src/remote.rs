//! The API over HTTPS, for components running outside `k1s server`
//! (`k1s agent --server URL --kubeconfig F`): one TLS connection per request,
//! credentials and CA from a kubeconfig.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use http::Request;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A remote API server: its address and the TLS settings to reach it.
#[derive(Clone)]
pub struct Remote {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
}

/// Base64 data of a kubeconfig field, or the file it names.
fn kubeconfig_bytes(section: &Value, field: &str, base: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(data) = section[format!("{field}-data")].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .with_context(|| format!("{field}-data is not base64"))?;
        return Ok(Some(bytes));
    }
    if let Some(file) = section[field].as_str() {
        let path = base.join(file);
        return Ok(Some(
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
        ));
    }
    Ok(None)
}

fn named<'a>(list: &'a Value, name: &str, what: &str) -> anyhow::Result<&'a Value> {
    list.as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == name))
        .with_context(|| format!("the kubeconfig has no {what} {name:?}"))
}

impl Remote {
    /// Reads the current context of a kubeconfig; `server` overrides its server URL.
    pub fn from_kubeconfig(path: &Path, server: Option<&str>) -> anyhow::Result<Remote> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let config: Value =
            serde_norway::from_str(&text).with_context(|| format!("{} is not a kubeconfig", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let context_name = config["current-context"]
            .as_str()
            .context("the kubeconfig has no current-context")?;
        let context = &named(&config["contexts"], context_name, "context")?["context"];
        let cluster = &named(
            &config["clusters"],
            context["cluster"].as_str().unwrap_or_default(),
            "cluster",
        )?["cluster"];
        let user = &named(&config["users"], context["user"].as_str().unwrap_or_default(), "user")?["user"];

        let url_text = server
            .or(cluster["server"].as_str())
            .context("the kubeconfig names no server")?;
        let url = url::Url::parse(url_text).with_context(|| format!("bad server URL {url_text:?}"))?;
        if url.scheme() != "https" {
            bail!("the server URL {url_text} is not https");
        }
        let host = url
            .host_str()
            .context("the server URL has no host")?
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port().unwrap_or(443);

        let mut roots = rustls::RootCertStore::empty();
        let ca = kubeconfig_bytes(cluster, "certificate-authority", base)?
            .context("the kubeconfig has no certificate-authority")?;
        for cert in rustls_pemfile::certs(&mut ca.as_slice()) {
            roots
                .add(cert.context("bad CA certificate")?)
                .context("unusable CA certificate")?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("no TLS protocol version available")?
            .with_root_certificates(roots);
        let cert = kubeconfig_bytes(user, "client-certificate", base)?;
        let key = kubeconfig_bytes(user, "client-key", base)?;
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => {
                let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert.as_slice())
                    .collect::<Result<_, _>>()
                    .context("bad client certificate")?;
                let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key.as_slice())
                    .context("bad client key")?
                    .context("no client key in the kubeconfig")?;
                builder
                    .with_client_auth_cert(chain, key)
                    .context("unusable client certificate")?
            }
            _ => builder.with_no_client_auth(),
        };
        let server_name = ServerName::try_from(host.clone()).context("bad server host name")?;
        Ok(Remote {
            host,
            port,
            server_name,
            tls: Arc::new(tls),
        })
    }

    /// Sends one request on a new connection; the body streams until the server ends it.
    pub async fn send(&self, req: Request<Full<Bytes>>) -> anyhow::Result<http::Response<crate::http::Body>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot connect to {}:{}", self.host, self.port))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(self.server_name.clone(), tcp)
            .await
            .context("TLS handshake with the API server failed")?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP handshake with the API server failed")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = req;
        if let Ok(host) = http::HeaderValue::from_str(&format!("{}:{}", self.host, self.port)) {
            req.headers_mut().insert(http::header::HOST, host);
        }
        let resp = sender
            .send_request(req)
            .await
            .context("request to the API server failed")?;
        // A transport error mid-body ends the stream (watchers then re-list).
        Ok(resp.map(|body| {
            let frames = body
                .into_data_stream()
                .take_while(|r| futures::future::ready(r.is_ok()))
                .filter_map(|r| {
                    futures::future::ready(r.ok().map(|b| Ok::<_, std::convert::Infallible>(Frame::data(b))))
                });
            BodyExt::boxed(StreamBody::new(frames))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_without_context_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kc");
        std::fs::write(&p, "apiVersion: v1\nkind: Config\n").unwrap();
        let e = Remote::from_kubeconfig(&p, None).err().unwrap();
        assert!(format!("{e:#}").contains("current-context"), "{e:#}");
    }

    #[test]
    fn reads_the_kubeconfig_k1s_writes() {
        let dir = tempfile::tempdir().unwrap();
        let names = crate::tls::SubjectNames::detect();
        let pki = crate::tls::load_or_create(&dir.path().join("tls"), &names).unwrap();
        let p = dir.path().join("kc");
        std::fs::write(&p, crate::kubeconfig::render("https://127.0.0.1:7443", &pki)).unwrap();
        let r = Remote::from_kubeconfig(&p, None).unwrap();
        assert_eq!((r.host.as_str(), r.port), ("127.0.0.1", 7443));
        let r = Remote::from_kubeconfig(&p, Some("https://localhost:9")).unwrap();
        assert_eq!((r.host.as_str(), r.port), ("localhost", 9));
        assert!(Remote::from_kubeconfig(&p, Some("http://localhost:9")).is_err());
    }
}
