use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use x509_parser::prelude::*;

use super::*;
use crate::authn::{user_from_certs, UserInfo};

fn hosts(names: &[&str]) -> SubjectNames {
    let mut n = SubjectNames::default();
    for name in names {
        n.add(name);
    }
    n
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn creates_then_reuses() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("tls");
    let names = hosts(&["node-a", "192.0.2.7"]);
    let first = load_or_create(&dir, &names).unwrap();
    let second = load_or_create(&dir, &names).unwrap();
    assert_eq!(first.ca().cert_pem(), second.ca().cert_pem());
    assert_eq!(first.ca().key_pem(), second.ca().key_pem());
    assert_eq!(
        first.serving().cert_pem(),
        second.serving().cert_pem(),
        "serving cert reused"
    );
    assert_eq!(first.admin().cert_pem(), second.admin().cert_pem(), "admin cert reused");
    assert_eq!(second.dir(), dir);

    assert_eq!(mode(&dir), 0o700);
    for key in ["ca.key", "apiserver.key", "admin.key"] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }
    for cert in ["ca.crt", "apiserver.crt", "admin.crt"] {
        assert_eq!(mode(&dir.join(cert)), 0o644, "{cert}");
        assert!(fs::read_to_string(dir.join(cert))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
    }
    assert_eq!(fs::read_to_string(dir.join("ca.crt")).unwrap(), first.ca().cert_pem());
}

#[test]
fn certificate_contents() {
    let data = tempfile::tempdir().unwrap();
    let pki = load_or_create(
        &data.path().join("tls"),
        &hosts(&["Node-A", "192.0.2.7", "2001:db8::7"]),
    )
    .unwrap();

    let (_, ca) = parse_x509_certificate(pki.ca().cert_der()).unwrap();
    assert!(ca.is_ca());
    assert_eq!(ca.subject().to_string(), "CN=k1s-ca");
    let years = (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp()) / (365 * 86400);
    assert_eq!(years, 10);

    let (_, serving) = parse_x509_certificate(pki.serving().cert_der()).unwrap();
    assert_eq!(serving.issuer(), ca.subject());
    assert!(!serving.is_ca());
    let sans = serving.subject_alternative_name().unwrap().unwrap();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &sans.value.general_names {
        match name {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) if b.len() == 4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
            GeneralName::IPAddress(b) => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap())),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    for want in [
        "localhost",
        "node-a",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ] {
        assert!(dns.iter().any(|d| d == want), "{want} in {dns:?}");
    }
    for want in ["127.0.0.1", "::1", "10.43.0.1", "192.0.2.7", "2001:db8::7"] {
        assert!(ips.contains(&want.parse().unwrap()), "{want} in {ips:?}");
    }
    let eku = serving.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);

    let (_, admin) = parse_x509_certificate(pki.admin().cert_der()).unwrap();
    assert_eq!(admin.issuer(), ca.subject());
    let cn: Vec<_> = admin
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap())
        .collect();
    let orgs: Vec<_> = admin
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!((cn, orgs), (vec!["system:admin"], vec!["system:masters"]));
    assert!(admin.extended_key_usage().unwrap().unwrap().value.client_auth);
    assert_ne!(serving.raw_serial(), admin.raw_serial());
}

#[test]
fn detected_names_are_in_the_serving_certificate() {
    let data = tempfile::tempdir().unwrap();
    let names = SubjectNames::detect();
    let pki = load_or_create(&data.path().join("tls"), &names).unwrap();
    assert!(names.is_covered_by(&check::sans(pki.serving().cert_der()).unwrap()));
}

#[test]
fn new_host_address_reissues_serving_cert_with_same_ca() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("tls");
    let before = load_or_create(&dir, &hosts(&["192.0.2.7"])).unwrap();
    let after = load_or_create(&dir, &hosts(&["192.0.2.7", "198.51.100.9"])).unwrap();
    assert_eq!(before.ca().cert_pem(), after.ca().cert_pem());
    assert_eq!(before.admin().cert_pem(), after.admin().cert_pem());
    assert_ne!(before.serving().cert_pem(), after.serving().cert_pem());
    let sans = check::sans(after.serving().cert_der()).unwrap();
    assert!(sans.ips.contains(&"198.51.100.9".parse().unwrap()));
    // Stable from then on; an address that went away does not force a new one.
    let again = load_or_create(&dir, &hosts(&["198.51.100.9"])).unwrap();
    assert_eq!(after.serving().cert_pem(), again.serving().cert_pem());
}

#[test]
fn broken_leaves_are_reissued() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("tls");
    let first = load_or_create(&dir, &SubjectNames::default()).unwrap();
    fs::write(dir.join("apiserver.crt"), "garbage").unwrap();
    fs::remove_file(dir.join("admin.key")).unwrap();
    let second = load_or_create(&dir, &SubjectNames::default()).unwrap();
    assert_eq!(first.ca().cert_pem(), second.ca().cert_pem());
    assert_ne!(first.admin().cert_pem(), second.admin().cert_pem());
    assert!(fs::read_to_string(dir.join("apiserver.crt"))
        .unwrap()
        .starts_with("-----BEGIN"));

    // A leaf signed by another CA is replaced too.
    let other = load_or_create(&data.path().join("other"), &SubjectNames::default()).unwrap();
    fs::write(dir.join("admin.crt"), other.admin().cert_pem()).unwrap();
    fs::write(dir.join("admin.key"), other.admin().key_pem()).unwrap();
    let third = load_or_create(&dir, &SubjectNames::default()).unwrap();
    assert_ne!(third.admin().cert_pem(), other.admin().cert_pem());
    assert_eq!(third.ca().cert_pem(), first.ca().cert_pem());
}

#[test]
fn unusable_directories_and_ca_files_are_errors_naming_the_path() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("file");
    fs::write(&file, "").unwrap();
    let err = format!(
        "{:#}",
        load_or_create(&file.join("tls"), &SubjectNames::default()).unwrap_err()
    );
    assert!(err.contains(&file.join("tls").display().to_string()), "{err}");

    let dir = data.path().join("tls");
    load_or_create(&dir, &SubjectNames::default()).unwrap();
    let ca_pem = fs::read_to_string(dir.join("ca.crt")).unwrap();
    fs::remove_file(dir.join("ca.key")).unwrap();
    let err = format!("{:#}", load_or_create(&dir, &SubjectNames::default()).unwrap_err());
    assert!(err.contains(&dir.join("ca.key").display().to_string()), "{err}");
    assert_eq!(
        fs::read_to_string(dir.join("ca.crt")).unwrap(),
        ca_pem,
        "the CA is never replaced silently"
    );

    fs::write(dir.join("ca.key"), "not a key").unwrap();
    let err = format!("{:#}", load_or_create(&dir, &SubjectNames::default()).unwrap_err());
    assert!(err.contains(&dir.join("ca.key").display().to_string()), "{err}");
}

/// Runs one TLS handshake and exchange; returns the user the server saw, or its handshake error.
async fn handshake(server: Arc<rustls::ServerConfig>, client: Arc<rustls::ClientConfig>) -> Result<UserInfo, String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = TlsAcceptor::from(server).accept(tcp).await.map_err(|e| e.to_string())?;
        let user = user_from_certs(tls.get_ref().1.peer_certificates());
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(user)
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let client_result = async {
        let mut tls = TlsConnector::from(client)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await?;
        tls.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"pong");
        Ok::<_, std::io::Error>(())
    }
    .await;
    let server_result = server_side.await.unwrap();
    assert_eq!(
        client_result.is_ok(),
        server_result.is_ok(),
        "client {client_result:?}, server {server_result:?}"
    );
    server_result
}

#[tokio::test]
async fn handshake_with_admin_certificate() {
    let data = tempfile::tempdir().unwrap();
    let pki = load_or_create(&data.path().join("tls"), &SubjectNames::default()).unwrap();
    let user = handshake(server_config(&pki).unwrap(), client_config(&pki, true))
        .await
        .unwrap();
    assert_eq!(user.name, "system:admin");
    assert!(user.groups.contains(&"system:masters".to_string()), "{user:?}");
    assert!(user.groups.contains(&"system:authenticated".to_string()), "{user:?}");
}

#[tokio::test]
async fn handshake_without_client_certificate_is_anonymous() {
    let data = tempfile::tempdir().unwrap();
    let pki = load_or_create(&data.path().join("tls"), &SubjectNames::default()).unwrap();
    let user = handshake(server_config(&pki).unwrap(), client_config(&pki, false))
        .await
        .unwrap();
    assert!(user.is_anonymous(), "{user:?}");
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_rejected() {
    let data = tempfile::tempdir().unwrap();
    let pki = load_or_create(&data.path().join("tls"), &SubjectNames::default()).unwrap();
    let stranger = load_or_create(&data.path().join("other"), &SubjectNames::default()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(config::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(config::roots(pki.ca()).unwrap())
        .with_client_auth_cert(vec![stranger.admin().cert_der().clone()], stranger.admin().key_der())
        .unwrap();
    let err = handshake(server_config(&pki).unwrap(), Arc::new(client))
        .await
        .unwrap_err();
    assert!(err.contains("UnknownIssuer") || err.contains("certificate"), "{err}");
}

#[tokio::test]
async fn server_certificate_from_another_ca_is_refused_by_the_client() {
    let data = tempfile::tempdir().unwrap();
    let pki = load_or_create(&data.path().join("tls"), &SubjectNames::default()).unwrap();
    let stranger = load_or_create(&data.path().join("other"), &SubjectNames::default()).unwrap();
    assert!(handshake(server_config(&stranger).unwrap(), client_config(&pki, true))
        .await
        .is_err());
}

#[test]
fn server_config_offers_h2_and_http1() {
    let data = tempfile::tempdir().unwrap();
    let pki = load_or_create(&data.path().join("tls"), &SubjectNames::default()).unwrap();
    assert_eq!(
        server_config(&pki).unwrap().alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}
