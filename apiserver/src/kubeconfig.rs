//! The admin kubeconfig (like k3s's `k3s.yaml`): cluster, user and context all
//! named `default`, with the CA and the admin client certificate embedded.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::tls::{files, Pki};

/// Renders the admin kubeconfig for a server at `server_url`.
pub fn render(server_url: &str, pki: &Pki) -> String {
    format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
",
        ca = STANDARD.encode(pki.ca().cert_pem()),
        server = yaml_quote(server_url),
        cert = STANDARD.encode(pki.admin().cert_pem()),
        key = STANDARD.encode(pki.admin().key_pem()),
    )
}

/// Writes a kubeconfig to `path` atomically with mode 0600, creating parent directories.
pub fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    files::write_atomic(path, contents.as_bytes(), files::SECRET_MODE)
}

/// A YAML double-quoted scalar holding `s`.
fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;

    use crate::authn::{user_from_certs, UserInfo};

    fn pki(dir: &Path) -> Pki {
        crate::tls::load_or_create(&dir.join("tls"), &crate::tls::SubjectNames::default()).unwrap()
    }

    fn decode(value: &serde_json::Value) -> String {
        String::from_utf8(STANDARD.decode(value.as_str().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn render_embeds_ca_and_admin_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki(dir.path());
        let yaml = render("https://127.0.0.1:6443", &pki);
        let doc: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(doc["kind"], "Config");
        assert_eq!(doc["current-context"], "default");
        assert_eq!(doc["clusters"][0]["name"], "default");
        assert_eq!(doc["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443");
        assert_eq!(
            decode(&doc["clusters"][0]["cluster"]["certificate-authority-data"]),
            pki.ca().cert_pem()
        );
        assert_eq!(
            doc["contexts"][0],
            serde_json::json!({"context": {"cluster": "default", "user": "default"}, "name": "default"})
        );
        assert_eq!(doc["users"][0]["name"], "default");
        assert_eq!(
            decode(&doc["users"][0]["user"]["client-certificate-data"]),
            pki.admin().cert_pem()
        );
        assert_eq!(
            decode(&doc["users"][0]["user"]["client-key-data"]),
            pki.admin().key_pem()
        );
        // A real client library reads it too.
        let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("default"));
    }

    #[test]
    fn server_urls_are_quoted() {
        for url in ["https://[::1]:6443", "https://h:1/a\"b#c", "https://x\\y\tz"] {
            let doc: serde_json::Value = serde_norway::from_str(&format!("server: {}", yaml_quote(url))).unwrap();
            assert_eq!(doc["server"], url);
        }
    }

    #[test]
    fn write_creates_parents_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/k1s/k1s.yaml");
        write(&path, "first").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, "second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temporary file left"
        );
        let err = write(&dir.path().join("etc/k1s/k1s.yaml/x"), "").unwrap_err();
        assert!(format!("{err:#}").contains("k1s.yaml"), "{err:#}");
    }

    /// Serves `GET /version` over TLS with the PKI, recording who connected.
    async fn version_server(pki: &Pki, users: Arc<Mutex<Vec<UserInfo>>>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(crate::tls::server_config(pki).unwrap());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                users
                    .lock()
                    .unwrap()
                    .push(user_from_certs(tls.get_ref().1.peer_certificates()));
                tokio::spawn(async move {
                    let service = service_fn(|req: Request<Incoming>| async move {
                        let (code, body) = match req.uri().path() {
                            "/version" => (StatusCode::OK, r#"{"major":"1","minor":"33","gitVersion":"v1.33.0"}"#),
                            _ => (StatusCode::NOT_FOUND, "{}"),
                        };
                        let resp = Response::builder()
                            .status(code)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(body.as_bytes())))
                            .unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    });
                    let _ = Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn kubectl_accepts_the_kubeconfig() {
        const KUBECTL: &str = "/usr/bin/kubectl";
        if !Path::new(KUBECTL).exists() {
            eprintln!("skipping kubectl_accepts_the_kubeconfig: {KUBECTL} is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let pki = pki(dir.path());
        let users = Arc::new(Mutex::new(Vec::new()));
        let port = version_server(&pki, users.clone()).await;
        let path = dir.path().join("k1s.yaml");
        write(&path, &render(&format!("https://127.0.0.1:{port}"), &pki)).unwrap();

        let out = tokio::process::Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&path)
            .args(["version", "-o", "json", "--request-timeout=20s"])
            .env("HOME", dir.path())
            .env_remove("KUBECONFIG")
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "kubectl failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let version: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(version["serverVersion"]["gitVersion"], "v1.33.0", "{stdout}");
        let users = users.lock().unwrap();
        assert!(!users.is_empty());
        assert!(users.iter().all(|u| u.name == "system:admin"), "{users:?}");
    }
}
