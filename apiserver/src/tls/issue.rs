//! Issuing the cluster CA, the serving certificate and the admin client certificate (rcgen).

use anyhow::Context;
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};

use super::names::SubjectNames;

/// Common name of the cluster CA.
pub const CA_COMMON_NAME: &str = "k1s-ca";
/// User name of the admin client certificate.
pub const ADMIN_USER: &str = "system:admin";
/// Group of the admin client certificate: the group RBAC lets do anything.
pub const ADMIN_GROUP: &str = "system:masters";
/// Lifetime of the CA.
const CA_DAYS: i64 = 3650;
/// Lifetime of the serving and client certificates (renewed at start when close to expiry).
pub const LEAF_DAYS: i64 = 365;

/// A freshly issued certificate and its private key, both PEM.
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
}

/// A new self-signed CA, valid for ten years.
pub fn ca() -> anyhow::Result<Issued> {
    let key = KeyPair::generate().context("cannot generate the CA key")?;
    let mut params = ca_params();
    set_validity(&mut params, CA_DAYS)?;
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key).context("cannot sign the CA certificate")?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A serving certificate for `names`, signed by the CA key.
pub fn serving(ca_key_pem: &str, names: &SubjectNames) -> anyhow::Result<Issued> {
    serving_for("kube-apiserver", ca_key_pem, names)
}

/// A serving certificate with common name `common_name` for `names`, signed by the CA key.
pub fn serving_for(common_name: &str, ca_key_pem: &str, names: &SubjectNames) -> anyhow::Result<Issued> {
    let mut params = leaf_params(common_name, &[], ExtendedKeyUsagePurpose::ServerAuth);
    for dns in &names.dns {
        let dns = dns
            .clone()
            .try_into()
            .with_context(|| format!("{dns:?} cannot be a DNS name in a certificate"))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    params
        .subject_alt_names
        .extend(names.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    issue(params, ca_key_pem)
}

/// The admin client certificate (`CN=system:admin, O=system:masters`), signed by the CA key.
pub fn admin(ca_key_pem: &str) -> anyhow::Result<Issued> {
    issue(
        leaf_params(ADMIN_USER, &[ADMIN_GROUP], ExtendedKeyUsagePurpose::ClientAuth),
        ca_key_pem,
    )
}

/// A client certificate for `user` in `group`, signed by the CA key.
pub fn client(ca_key_pem: &str, user: &str, group: &str) -> anyhow::Result<Issued> {
    issue(
        leaf_params(user, &[group], ExtendedKeyUsagePurpose::ClientAuth),
        ca_key_pem,
    )
}

/// The CA's subject and usages; the same every time, so a loaded CA key can sign again.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn leaf_params(common_name: &str, organizations: &[&str], usage: ExtendedKeyUsagePurpose) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    for org in organizations {
        params.distinguished_name.push(DnType::OrganizationName, *org);
    }
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    params
}

/// Signs `params` with a new key, using the CA key.
fn issue(mut params: CertificateParams, ca_key_pem: &str) -> anyhow::Result<Issued> {
    let ca_key = KeyPair::from_pem(ca_key_pem).context("cannot parse the CA key")?;
    let issuer = Issuer::new(ca_params(), ca_key);
    set_validity(&mut params, LEAF_DAYS)?;
    params.serial_number = Some(random_serial());
    let key = KeyPair::generate().context("cannot generate a key")?;
    let cert = params.signed_by(&key, &issuer).context("cannot sign a certificate")?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Valid from yesterday (tolerating clock skew between machines) for `days` days.
fn set_validity(params: &mut CertificateParams, days: i64) -> anyhow::Result<()> {
    let today = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).date();
    let from = today.yesterday().context("date out of range")?;
    let until = today
        .checked_add(jiff::Span::new().days(days))
        .context("date out of range")?;
    params.not_before = rcgen::date_time_ymd(from.year().into(), from.month() as u8, from.day() as u8);
    params.not_after = rcgen::date_time_ymd(until.year().into(), until.month() as u8, until.day() as u8);
    Ok(())
}

/// A random positive 128-bit serial number (RFC 5280 asks for unique, unpredictable serials).
fn random_serial() -> SerialNumber {
    let mut bytes = vec![0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    // Positive, and the leading byte non-zero so the DER integer is minimal.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from(bytes)
}
