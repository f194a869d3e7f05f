//! Authentication: who is asking. A verified client certificate names the user
//! (CN) and groups (O), as Kubernetes' x509 authenticator does; a valid
//! ServiceAccount bearer token names `system:serviceaccount:<ns>:<name>`;
//! anyone else is anonymous.

use http::HeaderMap;
use k1s_proto::meta::ObjectMeta;
use rustls::pki_types::CertificateDer;

use crate::api::Api;
use crate::sa_token::TokenClaims;

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

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The user a ServiceAccount token names, when it is validly signed, not expired,
/// and its ServiceAccount (and the pod it is bound to) still exist with the same UIDs.
pub fn user_from_token(api: &Api, token: &str) -> Option<UserInfo> {
    let keys = api.config.service_account_keys.as_ref()?;
    let claims = keys.verify(token, jiff::Timestamp::now().as_second()).ok()?;
    let claims = TokenClaims::from_json(&claims)?;
    let live_uid = |plural: &str, name: &str| -> Option<String> {
        let info = k1s_proto::resources::find("", "v1", plural)?;
        let obj = api.store.get(&info.storage_key(Some(&claims.namespace), name)).ok()??;
        Some(obj.uid().unwrap_or_default().to_string())
    };
    let sa_uid = live_uid("serviceaccounts", &claims.name)?;
    if !claims.uid.is_empty() && claims.uid != sa_uid {
        return None;
    }
    if let Some(pod) = &claims.pod {
        if live_uid("pods", &pod.name)? != pod.uid {
            return None;
        }
    }
    Some(UserInfo {
        name: format!("system:serviceaccount:{}:{}", claims.namespace, claims.name),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", claims.namespace),
            AUTHENTICATED_GROUP.into(),
        ],
    })
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
