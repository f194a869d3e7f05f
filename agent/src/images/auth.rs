//! Registry credentials from `imagePullSecrets`: `kubernetes.io/dockerconfigjson`
//! (`.dockerconfigjson`, `{"auths": {...}}`) and `kubernetes.io/dockercfg`
//! (`.dockercfg`, the bare map), matched to an image the way kubelet's keyring does.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context};
use base64::Engine;

use super::reference::Reference;

/// One registry's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

/// The credentials of one docker config (one pull secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerConfigJson {
    /// Registry key as written (`localhost:5000`, `https://index.docker.io/v1/`…) → credential.
    pub auths: BTreeMap<String, Credential>,
}

#[derive(serde::Deserialize)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl DockerConfigJson {
    /// Parses `.dockerconfigjson` content (`{"auths": {"reg": {"auth": "base64(user:pass)"}}}`).
    pub fn parse_config_json(data: &[u8]) -> anyhow::Result<DockerConfigJson> {
        #[derive(serde::Deserialize)]
        struct File {
            #[serde(default)]
            auths: BTreeMap<String, Entry>,
        }
        let f: File = serde_json::from_slice(data).context("invalid .dockerconfigjson")?;
        Self::from_entries(f.auths)
    }

    /// Parses legacy `.dockercfg` content (`{"reg": {"auth": "…"}}`).
    pub fn parse_dockercfg(data: &[u8]) -> anyhow::Result<DockerConfigJson> {
        let m: BTreeMap<String, Entry> = serde_json::from_slice(data).context("invalid .dockercfg")?;
        Self::from_entries(m)
    }

    /// Reads a Secret's `data` (already base64-decoded): `.dockerconfigjson` or `.dockercfg`.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> anyhow::Result<DockerConfigJson> {
        if let Some(d) = data.get(".dockerconfigjson") {
            return Self::parse_config_json(d);
        }
        if let Some(d) = data.get(".dockercfg") {
            return Self::parse_dockercfg(d);
        }
        Err(anyhow!("secret has neither .dockerconfigjson nor .dockercfg"))
    }

    fn from_entries(m: BTreeMap<String, Entry>) -> anyhow::Result<DockerConfigJson> {
        let mut auths = BTreeMap::new();
        for (reg, e) in m {
            let cred = match (e.username, e.password, e.auth) {
                (Some(u), Some(p), _) if !u.is_empty() => Credential {
                    username: u,
                    password: p,
                },
                (_, _, Some(a)) if !a.is_empty() => {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(a.trim())
                        .with_context(|| format!("auth for {reg:?} is not base64"))?;
                    let s = String::from_utf8(raw).with_context(|| format!("auth for {reg:?} is not UTF-8"))?;
                    let (u, p) = s
                        .split_once(':')
                        .ok_or_else(|| anyhow!("auth for {reg:?} is not user:password"))?;
                    Credential {
                        username: u.to_string(),
                        password: p.to_string(),
                    }
                }
                _ => continue,
            };
            auths.insert(reg, cred);
        }
        Ok(DockerConfigJson { auths })
    }
}

/// The docker configs of a pod's pull secrets (`kubernetes.io/dockerconfigjson`
/// or `kubernetes.io/dockercfg`); secrets that do not parse are skipped with a warning,
/// as kubelet does.
pub fn from_secrets(secrets: &[k8s_openapi::api::core::v1::Secret]) -> Vec<DockerConfigJson> {
    let mut out = Vec::new();
    for s in secrets {
        let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (k, v) in s.data.iter().flatten() {
            data.insert(k.clone(), v.0.clone());
        }
        for (k, v) in s.string_data.iter().flatten() {
            data.insert(k.clone(), v.clone().into_bytes());
        }
        match DockerConfigJson::from_secret_data(&data) {
            Ok(c) => out.push(c),
            Err(e) => tracing::warn!("pull secret {}: {e:#}", s.metadata.name.as_deref().unwrap_or("")),
        }
    }
    out
}

/// Splits a keyring key into (host, path prefix): `https://index.docker.io/v1/` →
/// (`docker.io`, ``), `localhost:5000/team` → (`localhost:5000`, `team`).
fn key_parts(key: &str) -> (String, String) {
    let k = key.trim().trim_start_matches("https://").trim_start_matches("http://");
    let (host, path) = k.split_once('/').unwrap_or((k, ""));
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        h => h,
    };
    let path = path.trim_end_matches('/');
    let path = if path == "v1" || path == "v2" { "" } else { path };
    (host.to_lowercase(), path.to_string())
}

/// Matches a host pattern which may use `*` for one DNS label (`*.example.com`).
fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let pp: Vec<&str> = pattern.split('.').collect();
    let hp: Vec<&str> = host.split('.').collect();
    pp.len() == hp.len() && pp.iter().zip(hp.iter()).all(|(p, h)| *p == "*" || p == h)
}

/// The credentials for `image`, most specific match first (longer path prefixes
/// before shorter), in the order of the secrets given.
pub fn credentials_for(image: &Reference, configs: &[DockerConfigJson]) -> Vec<Credential> {
    let mut found: Vec<(usize, usize, Credential)> = Vec::new();
    for (i, cfg) in configs.iter().enumerate() {
        for (key, cred) in &cfg.auths {
            let (host, prefix) = key_parts(key);
            if !host_matches(&host, &image.domain.to_lowercase()) {
                continue;
            }
            let under_prefix =
                prefix.is_empty() || image.path == prefix || image.path.starts_with(&format!("{prefix}/"));
            if !under_prefix {
                continue;
            }
            found.push((prefix.len(), i, cred.clone()));
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<Credential> = Vec::new();
    for (_, _, c) in found {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn parses_dockerconfigjson_auth_and_fields() {
        let j = format!(
            r#"{{"auths":{{"localhost:5000":{{"auth":"{}"}},"https://index.docker.io/v1/":{{"username":"u","password":"p"}}}}}}"#,
            b64("alice:s3:cret")
        );
        let c = DockerConfigJson::parse_config_json(j.as_bytes()).expect("parses");
        assert_eq!(c.auths["localhost:5000"].username, "alice");
        assert_eq!(c.auths["localhost:5000"].password, "s3:cret");
        assert_eq!(c.auths["https://index.docker.io/v1/"].password, "p");
    }

    #[test]
    fn parses_dockercfg_and_secret_data() {
        let j = format!(r#"{{"reg.lan:5000":{{"auth":"{}","email":"x@y"}}}}"#, b64("bob:pw"));
        let mut data = BTreeMap::new();
        data.insert(".dockercfg".to_string(), j.into_bytes());
        let c = DockerConfigJson::from_secret_data(&data).expect("parses");
        assert_eq!(c.auths["reg.lan:5000"].username, "bob");
        assert!(DockerConfigJson::from_secret_data(&BTreeMap::new()).is_err());
        assert!(DockerConfigJson::parse_config_json(b"{\"auths\":{\"r\":{\"auth\":\"!!\"}}}").is_err());
        assert!(DockerConfigJson::parse_config_json(b"not json").is_err());
    }

    #[test]
    fn reads_k8s_secrets() {
        let j = format!(r#"{{"auths":{{"localhost:5000":{{"auth":"{}"}}}}}}"#, b64("u:p"));
        let mut data = BTreeMap::new();
        data.insert(".dockerconfigjson".to_string(), k8s_openapi::ByteString(j.into_bytes()));
        let good = k8s_openapi::api::core::v1::Secret {
            data: Some(data),
            type_: Some("kubernetes.io/dockerconfigjson".to_string()),
            ..Default::default()
        };
        let bad = k8s_openapi::api::core::v1::Secret::default();
        let c = from_secrets(&[bad, good]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].auths["localhost:5000"].username, "u");
    }

    #[test]
    fn matches_registry_and_path() {
        let cred = |u: &str| Credential {
            username: u.to_string(),
            password: "p".to_string(),
        };
        let mut a = DockerConfigJson::default();
        a.auths.insert("localhost:5000".to_string(), cred("any"));
        a.auths.insert("localhost:5000/team".to_string(), cred("team"));
        a.auths.insert("https://index.docker.io/v1/".to_string(), cred("hub"));
        a.auths.insert("*.corp.lan".to_string(), cred("corp"));
        let r = |s: &str| Reference::parse(s).expect("parses");
        let names = |v: Vec<Credential>| v.into_iter().map(|c| c.username).collect::<Vec<_>>();
        assert_eq!(
            names(credentials_for(&r("localhost:5000/team/app"), &[a.clone()])),
            ["team", "any"]
        );
        assert_eq!(
            names(credentials_for(&r("localhost:5000/other"), &[a.clone()])),
            ["any"]
        );
        assert_eq!(names(credentials_for(&r("busybox"), &[a.clone()])), ["hub"]);
        assert_eq!(names(credentials_for(&r("reg.corp.lan/x"), &[a.clone()])), ["corp"]);
        assert!(credentials_for(&r("127.0.0.1:5000/x"), &[a]).is_empty());
    }
}
