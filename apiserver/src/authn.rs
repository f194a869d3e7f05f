//! Authentication: who is asking. A verified client certificate names the user
//! (CN) and groups (O), as Kubernetes' x509 authenticator does; anyone else is anonymous.

use rustls::pki_types::CertificateDer;

/// User name of unauthenticated requests.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// Group of unauthenticated requests.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// Group every authenticated user is added to.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// An authenticated (or anonymous) user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name.
    pub name: String,
    /// The groups the user belongs to.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The anonymous user (`system:anonymous`, group `system:unauthenticated`).
    pub fn anonymous() -> Self {
        UserInfo {
            name: ANONYMOUS_USER.into(),
            groups: vec![UNAUTHENTICATED_GROUP.into()],
        }
    }

    /// Whether this is the anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS_USER
    }
}

/// The user a client certificate chain names: CN is the user, each O a group,
/// plus `system:authenticated`. The chain must already be verified (the TLS
/// handshake does that); no chain, or a certificate without a CN, is anonymous.
pub fn user_from_certs(certs: Option<&[CertificateDer<'_>]>) -> UserInfo {
    let Some(leaf) = certs.and_then(<[_]>::first) else {
        return UserInfo::anonymous();
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return UserInfo::anonymous();
    };
    let subject = cert.subject();
    // Go's pkix.Name keeps the last CommonName when there are several.
    let name = subject
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .last()
        .unwrap_or_default();
    if name.is_empty() {
        return UserInfo::anonymous();
    }
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .map(str::to_string)
        .collect();
    if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        groups.push(AUTHENTICATED_GROUP.into());
    }
    UserInfo {
        name: name.to_string(),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn cert(subject: &[(DnType, &str)]) -> CertificateDer<'static> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        for (ty, value) in subject {
            params.distinguished_name.push(ty.clone(), *value);
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn users_from_subjects() {
        type Subject<'a> = &'a [(DnType, &'a str)];
        let cases: &[(Subject, &str, &[&str])] = &[
            (
                &[
                    (DnType::OrganizationName, "system:masters"),
                    (DnType::CommonName, "system:admin"),
                ],
                "system:admin",
                &["system:masters", "system:authenticated"],
            ),
            (&[(DnType::CommonName, "jane")], "jane", &["system:authenticated"]),
            (
                // rcgen keeps one value per attribute type; a custom type with O's OID adds a second O.
                &[
                    (DnType::OrganizationName, "dev"),
                    (DnType::CustomDnType(vec![2, 5, 4, 10]), "ops"),
                    (DnType::CommonName, "bob"),
                ],
                "bob",
                &["dev", "ops", "system:authenticated"],
            ),
            (
                &[(DnType::OrganizationName, "dev")],
                "system:anonymous",
                &["system:unauthenticated"],
            ),
            (
                &[(DnType::CommonName, "")],
                "system:anonymous",
                &["system:unauthenticated"],
            ),
            // Like Go's pkix.Name, the last CN counts.
            (
                &[(DnType::CommonName, "a"), (DnType::CustomDnType(vec![2, 5, 4, 3]), "b")],
                "b",
                &["system:authenticated"],
            ),
            (
                &[
                    (DnType::OrganizationName, "system:authenticated"),
                    (DnType::CommonName, "c"),
                ],
                "c",
                &["system:authenticated"],
            ),
        ];
        for (subject, name, groups) in cases {
            let user = user_from_certs(Some(&[cert(subject)]));
            assert_eq!(user.name, *name, "{subject:?}");
            assert_eq!(user.groups, *groups, "{subject:?}");
        }
    }

    #[test]
    fn no_certificate_is_anonymous() {
        for certs in [None, Some(&[][..])] {
            let user = user_from_certs(certs);
            assert!(user.is_anonymous());
            assert_eq!(user, UserInfo::anonymous());
            assert_eq!(user.groups, ["system:unauthenticated"]);
        }
        assert!(user_from_certs(Some(&[CertificateDer::from(vec![1, 2, 3])])).is_anonymous());
        assert!(!UserInfo {
            name: "x".into(),
            groups: vec![]
        }
        .is_anonymous());
    }
}
