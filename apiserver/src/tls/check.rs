//! Whether loaded certificates still fit: signed by the CA, far from expiry,
//! naming what they must. A leaf that does not fit is re-issued.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use super::config::{provider, roots};
use super::issue::{ADMIN_GROUP, ADMIN_USER};
use super::names::SubjectNames;
use super::KeyedCert;

/// Leaf certificates are renewed when they expire within this many days (as k3s does).
const RENEW_DAYS: i64 = 90;
const DAY_SECONDS: i64 = 24 * 60 * 60;

/// Checks that the loaded CA is a CA and has not expired.
pub fn ca(ca: &KeyedCert) -> anyhow::Result<()> {
    let cert = parse(ca.cert_der())?;
    if !cert.is_ca() {
        bail!("the certificate is not a CA");
    }
    let not_after = cert.validity().not_after;
    if not_after.timestamp() <= jiff::Timestamp::now().as_second() {
        bail!("the CA expired on {not_after}; remove the directory to create a new CA");
    }
    Ok(())
}

/// Verifies leaf certificates against the CA.
pub struct Verifier {
    server: Arc<WebPkiServerVerifier>,
    client: Arc<dyn ClientCertVerifier>,
}

impl Verifier {
    /// A verifier trusting only `ca`.
    pub fn new(ca: &KeyedCert) -> anyhow::Result<Verifier> {
        let roots = roots(ca)?;
        let server = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .context("cannot build a server certificate verifier")?;
        let client = WebPkiClientVerifier::builder_with_provider(roots, provider())
            .build()
            .context("cannot build a client certificate verifier")?;
        Ok(Verifier { server, client })
    }

    /// Whether the serving certificate is valid for every one of `names`; the reason if not.
    pub fn check_serving(&self, cert: &KeyedCert, names: &SubjectNames) -> Result<(), String> {
        // `localhost` is always among the names; verifying for it checks chain, usage and time.
        let localhost = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        self.server
            .verify_server_cert(cert.cert_der(), &[], &localhost, &[], UnixTime::now())
            .map_err(|e| format!("not valid under the CA: {e}"))?;
        expires_later(cert.cert_der())?;
        let have = sans(cert.cert_der()).map_err(|e| format!("{e:#}"))?;
        if !names.is_covered_by(&have) {
            let dns = names.dns.difference(&have.dns).map(String::as_str);
            let ips = names.ips.difference(&have.ips).map(IpAddr::to_string);
            let missing: Vec<String> = dns.map(str::to_string).chain(ips).collect();
            return Err(format!("does not name {}", missing.join(", ")));
        }
        Ok(())
    }

    /// Whether the admin certificate is a valid client certificate for `system:admin`; the reason if not.
    pub fn check_admin(&self, cert: &KeyedCert) -> Result<(), String> {
        self.check_client(cert, ADMIN_USER, ADMIN_GROUP)
    }

    /// Whether `cert` is a valid client certificate for user `user` in group `group`; the reason if not.
    pub fn check_client(&self, cert: &KeyedCert, user: &str, group: &str) -> Result<(), String> {
        self.client
            .verify_client_cert(cert.cert_der(), &[], UnixTime::now())
            .map_err(|e| format!("not valid under the CA: {e}"))?;
        expires_later(cert.cert_der())?;
        let parsed = parse(cert.cert_der()).map_err(|e| format!("{e:#}"))?;
        let subject = parsed.subject();
        let cn: Vec<_> = subject.iter_common_name().filter_map(|a| a.as_str().ok()).collect();
        let orgs: Vec<_> = subject.iter_organization().filter_map(|a| a.as_str().ok()).collect();
        if cn != [user] || !orgs.contains(&group) {
            return Err(format!("its subject is {subject}, not CN={user}, O={group}"));
        }
        Ok(())
    }
}

/// Fails when the certificate expires within [`RENEW_DAYS`].
fn expires_later(der: &CertificateDer<'_>) -> Result<(), String> {
    let cert = parse(der).map_err(|e| format!("{e:#}"))?;
    let not_after = cert.validity().not_after;
    if not_after.timestamp() - jiff::Timestamp::now().as_second() < RENEW_DAYS * DAY_SECONDS {
        return Err(format!("expires on {not_after}"));
    }
    Ok(())
}

/// The DNS names and IP addresses a certificate's subjectAltName extension holds.
pub fn sans(der: &CertificateDer<'_>) -> anyhow::Result<SubjectNames> {
    let cert = parse(der)?;
    let mut names = SubjectNames::default();
    let Some(ext) = cert.subject_alternative_name().context("invalid subjectAltName")? else {
        return Ok(names);
    };
    for name in &ext.value.general_names {
        match name {
            GeneralName::DNSName(dns) => {
                names.dns.insert(dns.to_ascii_lowercase());
            }
            GeneralName::IPAddress(bytes) => {
                if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                    names.ips.insert(IpAddr::from(v4));
                } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                    names.ips.insert(IpAddr::from(v6));
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> anyhow::Result<X509Certificate<'a>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).context("cannot parse the certificate")?;
    Ok(cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_expiring_in(days: i64) -> CertificateDer<'static> {
        let end = jiff::Zoned::now()
            .date()
            .checked_add(jiff::Span::new().days(days))
            .unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(end.year().into(), end.month() as u8, end.day() as u8);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn renewal_window() {
        for (days, ok) in [
            (-1, false),
            (10, false),
            (RENEW_DAYS - 2, false),
            (RENEW_DAYS + 2, true),
            (365, true),
        ] {
            assert_eq!(expires_later(&cert_expiring_in(days)).is_ok(), ok, "{days} days");
        }
    }

    #[test]
    fn sans_of_a_certificate() {
        let params =
            rcgen::CertificateParams::new(vec!["A.example".into(), "10.0.0.1".into(), "fd00::1".into()]).unwrap();
        let der = params
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .clone();
        let names = sans(&der).unwrap();
        assert_eq!(names.dns.iter().collect::<Vec<_>>(), ["a.example"]);
        assert_eq!(
            names.ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.0.0.1", "fd00::1"]
        );
        assert!(sans(&CertificateDer::from(vec![0u8; 3])).is_err());
    }
}
