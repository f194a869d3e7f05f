//! STUB (replaced by the `tls` branch): who is asking.
/// An authenticated (or anonymous) user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo { pub name: String, pub groups: Vec<String> }
impl UserInfo {
    /// The anonymous user.
    pub fn anonymous() -> Self { UserInfo { name: "system:anonymous".into(), groups: vec!["system:unauthenticated".into()] } }
    /// Whether anonymous.
    pub fn is_anonymous(&self) -> bool { self.name == "system:anonymous" }
}

/// The user a verified client certificate names.
pub fn user_from_certs(_certs: Option<&[rustls::pki_types::CertificateDer<'_>]>) -> UserInfo { UserInfo::anonymous() }
