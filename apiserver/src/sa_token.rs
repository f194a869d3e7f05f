//! ServiceAccount tokens: ES256 JWTs signed with a key kept in the data dir's
//! `tls/` (created on first start), with the claims Kubernetes puts in bound
//! tokens, and their verification.

use std::fmt;
use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{json, Value};

use crate::tls::files;

/// The issuer (`iss`) and default audience of the tokens.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The key file in the TLS directory (PKCS#8 PEM, ECDSA P-256).
pub const KEY_FILE: &str = "service-account.key";
/// The lifetime the kubelet asks for in `kube-api-access` volumes; such tokens
/// bound to a pod are issued for a year but report an hour (Kubernetes'
/// `--service-account-extend-token-expiration`).
pub const WARN_ONLY_EXPIRATION_SECONDS: i64 = 3607;
/// How long extended tokens really live.
pub const EXTENDED_EXPIRATION_SECONDS: i64 = 365 * 24 * 3600;

/// The key pair that signs and verifies ServiceAccount tokens.
pub struct TokenKeys {
    key: EcdsaKeyPair,
    kid: String,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// Not signed by this key.
    #[error("invalid signature")]
    BadSignature,
    /// Expired, or not valid yet.
    #[error("token has expired")]
    Expired,
    /// Another issuer or audience.
    #[error("invalid issuer or audience")]
    WrongIssuer,
}

fn pem_of_pkcs8(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

impl TokenKeys {
    /// A fresh in-memory key pair.
    pub fn generate() -> anyhow::Result<TokenKeys> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow::anyhow!("cannot generate the service account signing key"))?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    fn from_pkcs8(der: &[u8]) -> anyhow::Result<TokenKeys> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| anyhow::anyhow!("the service account key is not an ECDSA P-256 PKCS#8 key: {e}"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
        Ok(TokenKeys { key, kid })
    }

    /// Loads `<dir>/service-account.key`, creating it on first start.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<TokenKeys> {
        files::private_dir(dir)?;
        let _lock = files::lock(dir)?;
        let path = dir.join(KEY_FILE);
        if let Some(pem) = files::read_optional(&path)? {
            let der = rustls_pemfile::private_key(&mut pem.as_bytes())
                .with_context(|| format!("cannot parse {}", path.display()))?
                .with_context(|| format!("{} holds no private key", path.display()))?;
            return Self::from_pkcs8(der.secret_der()).with_context(|| format!("unusable key {}", path.display()));
        }
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow::anyhow!("cannot generate the service account signing key"))?;
        files::write_atomic(&path, pem_of_pkcs8(pkcs8.as_ref()).as_bytes(), files::SECRET_MODE)?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// Signs `claims` as a compact JWS (ES256, with the key's `kid`).
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| anyhow::anyhow!("signing failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// Checks the signature, issuer, audience (`ISSUER`) and validity window
    /// at `now` (Unix seconds); returns the claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Value, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header["alg"] != "ES256" {
            return Err(TokenError::BadSignature);
        }
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed)?;
        let public =
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref());
        public
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Value = URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims["iss"] != ISSUER {
            return Err(TokenError::WrongIssuer);
        }
        let aud_ok = match &claims["aud"] {
            Value::String(a) => a == ISSUER,
            Value::Array(list) => list.iter().any(|a| a == ISSUER),
            _ => false,
        };
        if !aud_ok {
            return Err(TokenError::WrongIssuer);
        }
        // Kubernetes allows a minute of clock skew.
        const LEEWAY: i64 = 60;
        let exp = claims["exp"].as_i64().ok_or(TokenError::Malformed)?;
        if now > exp + LEEWAY {
            return Err(TokenError::Expired);
        }
        if claims["nbf"].as_i64().is_some_and(|nbf| now + LEEWAY < nbf) {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// The object a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundPod {
    /// The pod's name.
    pub name: String,
    /// The pod's UID.
    pub uid: String,
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The ServiceAccount's namespace.
    pub namespace: String,
    /// The ServiceAccount's name.
    pub name: String,
    /// The ServiceAccount's UID.
    pub uid: String,
    /// Audiences.
    pub audiences: Vec<String>,
    /// Issued at (Unix seconds).
    pub issued_at: i64,
    /// Expires at (Unix seconds).
    pub expires_at: i64,
    /// When a client should already have replaced it (extended tokens).
    pub warn_after: Option<i64>,
    /// The pod it is bound to.
    pub pod: Option<BoundPod>,
}

impl TokenClaims {
    /// The JWT claims, as Kubernetes writes them.
    pub fn to_json(&self) -> Value {
        let mut k8s = json!({
            "namespace": self.namespace,
            "serviceaccount": {"name": self.name, "uid": self.uid},
        });
        if let Some(pod) = &self.pod {
            k8s["pod"] = json!({"name": pod.name, "uid": pod.uid});
        }
        if let Some(w) = self.warn_after {
            k8s["warnafter"] = json!(w);
        }
        json!({
            "aud": self.audiences,
            "exp": self.expires_at,
            "iat": self.issued_at,
            "iss": ISSUER,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": k8s,
            "nbf": self.issued_at,
            "sub": format!("system:serviceaccount:{}:{}", self.namespace, self.name),
        })
    }

    /// Reads the claims back from a verified token's JSON.
    pub fn from_json(v: &Value) -> Option<TokenClaims> {
        let k = &v["kubernetes.io"];
        let sa = &k["serviceaccount"];
        let audiences = match &v["aud"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(l) => l.iter().filter_map(|a| a.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        };
        Some(TokenClaims {
            namespace: k["namespace"].as_str()?.to_string(),
            name: sa["name"].as_str()?.to_string(),
            uid: sa["uid"].as_str().unwrap_or_default().to_string(),
            audiences,
            issued_at: v["iat"].as_i64().unwrap_or(0),
            expires_at: v["exp"].as_i64()?,
            warn_after: k["warnafter"].as_i64(),
            pod: k["pod"]["name"].as_str().map(|n| BoundPod {
                name: n.to_string(),
                uid: k["pod"]["uid"].as_str().unwrap_or_default().to_string(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> TokenClaims {
        TokenClaims {
            namespace: "dev".into(),
            name: "default".into(),
            uid: "sa-uid".into(),
            audiences: vec![ISSUER.into()],
            issued_at: now,
            expires_at: now + 3600,
            warn_after: None,
            pod: Some(BoundPod {
                name: "web".into(),
                uid: "pod-uid".into(),
            }),
        }
    }

    #[test]
    fn sign_and_verify() {
        let keys = TokenKeys::generate().unwrap();
        let now = 1_700_000_000;
        let token = keys.sign(&claims(now).to_json()).unwrap();
        let v = keys.verify(&token, now + 10).unwrap();
        assert_eq!(v["sub"], "system:serviceaccount:dev:default");
        assert_eq!(v["kubernetes.io"]["pod"]["uid"], "pod-uid");
        assert_eq!(TokenClaims::from_json(&v).unwrap().pod, claims(now).pod);
        assert_eq!(keys.verify(&token, now + 3600 + 61), Err(TokenError::Expired));
        assert_eq!(keys.verify(&token, now - 120), Err(TokenError::Expired));
        let other = TokenKeys::generate().unwrap();
        assert_eq!(other.verify(&token, now), Err(TokenError::BadSignature));
        let mut tampered = token.clone();
        tampered.insert(token.find('.').unwrap() + 3, 'x');
        assert!(keys.verify(&tampered, now).is_err());
        assert_eq!(keys.verify("a.b", now), Err(TokenError::Malformed));
        let mut wrong_aud = claims(now).to_json();
        wrong_aud["aud"] = json!(["vault"]);
        let t = keys.sign(&wrong_aud).unwrap();
        assert_eq!(keys.verify(&t, now), Err(TokenError::WrongIssuer));
    }

    #[test]
    fn key_is_kept_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let a = TokenKeys::load_or_create(&tls).unwrap();
        let b = TokenKeys::load_or_create(&tls).unwrap();
        assert_eq!(a.kid, b.kid);
        let token = a.sign(&claims(100).to_json()).unwrap();
        assert!(b.verify(&token, 100).is_ok());
        let pem = std::fs::read_to_string(tls.join(KEY_FILE)).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
