//! The cluster's certificates under `<data-dir>/tls/`: a CA (`k1s-ca`), the API
//! server's serving certificate and the admin client certificate, created on
//! first start, reused afterwards, and re-issued when no longer fit (a new host
//! address, close to expiry); plus the rustls configurations built from them.

mod check;
mod config;
pub(crate) mod files;
mod insecure;
mod issue;
mod kubelet;
mod names;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::info;

pub use config::{client_config, server_config};
pub use insecure::{insecure_client_config, AnyServerCert};
pub use issue::{ADMIN_GROUP, ADMIN_USER, CA_COMMON_NAME};
pub use kubelet::{kubelet_client_config, kubelet_server_config, KUBELET_CLIENT_GROUP, KUBELET_CLIENT_USER};
pub use names::{SubjectNames, KUBERNETES_SERVICE_IP};

/// Where one certificate and its key live inside the TLS directory.
#[derive(Clone, Copy)]
struct PairFiles {
    cert: &'static str,
    key: &'static str,
}

const CA_FILES: PairFiles = PairFiles {
    cert: "ca.crt",
    key: "ca.key",
};
const SERVING_FILES: PairFiles = PairFiles {
    cert: "apiserver.crt",
    key: "apiserver.key",
};
const ADMIN_FILES: PairFiles = PairFiles {
    cert: "admin.crt",
    key: "admin.key",
};

/// A certificate with its private key, as PEM text and as DER.
pub struct KeyedCert {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
}

impl KeyedCert {
    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PEM (PKCS#8).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The private key, DER.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        self.key_der.clone_key()
    }

    /// Parses a PEM certificate and key, checking that they belong together.
    fn parse(cert_pem: String, key_pem: String, dir: &Path, pair: PairFiles) -> anyhow::Result<KeyedCert> {
        let cert_path = dir.join(pair.cert);
        let key_path = dir.join(pair.key);
        let cert_der = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .next()
            .with_context(|| format!("no certificate in {}", cert_path.display()))?
            .with_context(|| format!("cannot parse {}", cert_path.display()))?;
        let key_der = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .with_context(|| format!("cannot parse {}", key_path.display()))?
            .with_context(|| format!("no private key in {}", key_path.display()))?;
        rustls::sign::CertifiedKey::from_der(vec![cert_der.clone()], key_der.clone_key(), &config::provider())
            .with_context(|| format!("{} is not the key of {}", key_path.display(), cert_path.display()))?;
        Ok(KeyedCert {
            cert_pem,
            key_pem,
            cert_der,
            key_der,
        })
    }
}

/// The cluster PKI: the CA, the serving certificate and the admin client certificate.
pub struct Pki {
    dir: PathBuf,
    ca: KeyedCert,
    serving: KeyedCert,
    admin: KeyedCert,
}

impl Pki {
    /// The directory the files live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate (clients trust it); its key signs the others.
    pub fn ca(&self) -> &KeyedCert {
        &self.ca
    }

    /// The API server's serving certificate.
    pub fn serving(&self) -> &KeyedCert {
        &self.serving
    }

    /// The admin client certificate (`CN=system:admin, O=system:masters`).
    pub fn admin(&self) -> &KeyedCert {
        &self.admin
    }
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Loads the PKI from `dir` (the data dir's `tls/`), creating what is missing
/// and re-issuing the serving or admin certificate when it no longer fits.
/// The serving certificate names the built-in names plus `hosts`.
pub fn load_or_create(dir: &Path, hosts: &SubjectNames) -> anyhow::Result<Pki> {
    files::private_dir(dir).with_context(|| format!("the TLS directory {} is unusable", dir.display()))?;
    let _lock = files::lock(dir)?;
    let ca = load_or_create_ca(dir)?;
    let verifier = check::Verifier::new(&ca)?;

    let mut names = SubjectNames::builtin();
    names.dns.extend(hosts.dns.iter().cloned());
    names.ips.extend(hosts.ips.iter().copied());
    let serving = ensure_leaf(
        dir,
        SERVING_FILES,
        |cert| verifier.check_serving(cert, &names),
        || issue::serving(&ca.key_pem, &names),
    )?;
    let admin = ensure_leaf(
        dir,
        ADMIN_FILES,
        |cert| verifier.check_admin(cert),
        || issue::admin(&ca.key_pem),
    )?;

    let pki = Pki {
        dir: dir.to_path_buf(),
        ca,
        serving,
        admin,
    };
    // Fail here, with the directory named, rather than later at the first handshake.
    config::try_server_config(&pki).with_context(|| format!("the certificates in {} are unusable", dir.display()))?;
    config::try_client_config(&pki, true)
        .with_context(|| format!("the certificates in {} are unusable", dir.display()))?;
    Ok(pki)
}

/// Loads the CA, or creates it when there is none. A CA certificate without its
/// key is an error: clients may trust it, so it is never replaced silently.
fn load_or_create_ca(dir: &Path) -> anyhow::Result<KeyedCert> {
    let cert_path = dir.join(CA_FILES.cert);
    let key_path = dir.join(CA_FILES.key);
    let ca = match (files::read_optional(&cert_path)?, files::read_optional(&key_path)?) {
        (Some(cert), Some(key)) => KeyedCert::parse(cert, key, dir, CA_FILES)?,
        (Some(_), None) => bail!(
            "{} exists but its key {} is missing; restore the key, or remove {} to create a new CA \
             (kubeconfigs made with the old one stop working)",
            cert_path.display(),
            key_path.display(),
            dir.display()
        ),
        (None, _) => {
            let issued = issue::ca()?;
            write_pair(dir, CA_FILES, &issued)?;
            info!(path = %cert_path.display(), "created the cluster CA");
            KeyedCert::parse(issued.cert_pem, issued.key_pem, dir, CA_FILES)?
        }
    };
    check::ca(&ca).with_context(|| format!("{} is not a usable CA", cert_path.display()))?;
    Ok(ca)
}

/// Returns the certificate in `pair` if it passes `check`, else issues, writes and returns a new one.
fn ensure_leaf(
    dir: &Path,
    pair: PairFiles,
    check: impl Fn(&KeyedCert) -> Result<(), String>,
    issue: impl Fn() -> anyhow::Result<issue::Issued>,
) -> anyhow::Result<KeyedCert> {
    let cert_path = dir.join(pair.cert);
    let reason = match (
        files::read_optional(&cert_path)?,
        files::read_optional(&dir.join(pair.key))?,
    ) {
        (Some(cert), Some(key)) => match KeyedCert::parse(cert, key, dir, pair) {
            Ok(existing) => match check(&existing) {
                Ok(()) => return Ok(existing),
                Err(reason) => reason,
            },
            Err(e) => format!("{e:#}"),
        },
        _ => "missing".to_string(),
    };
    let issued = issue()?;
    write_pair(dir, pair, &issued)?;
    info!(path = %cert_path.display(), %reason, "issued a new certificate");
    let fresh = KeyedCert::parse(issued.cert_pem, issued.key_pem, dir, pair)?;
    if let Err(reason) = check(&fresh) {
        bail!(
            "the certificate just issued to {} fails its check ({reason}); is {} a CA made by k1s?",
            cert_path.display(),
            dir.join(CA_FILES.cert).display()
        );
    }
    Ok(fresh)
}

/// Writes the key (0600) first and the certificate (0644) last, so a crash in between
/// leaves a pair that does not match (and is re-issued), never a certificate without a key.
fn write_pair(dir: &Path, pair: PairFiles, issued: &issue::Issued) -> anyhow::Result<()> {
    files::write_atomic(&dir.join(pair.key), issued.key_pem.as_bytes(), files::SECRET_MODE)?;
    files::write_atomic(&dir.join(pair.cert), issued.cert_pem.as_bytes(), files::PUBLIC_MODE)
}
