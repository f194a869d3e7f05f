//! Registry pulls with `oci-client`: manifest (or index → linux/<arch>),
//! config and layers streamed into containerd's content store under a lease,
//! then unpacked. Errors keep the registry's reason, worded like containerd's.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;

use super::auth::Credential;
use super::import::{store_image, PlannedImage, PlannedLayer};
use super::oci::{self, ConfigFile, Descriptor, Index, Manifest};
use super::reference::Reference;
use super::store::Store;

const ACCEPT: &[&str] = &[
    oci::MT_OCI_INDEX,
    oci::MT_DOCKER_LIST,
    oci::MT_OCI_MANIFEST,
    oci::MT_DOCKER_MANIFEST,
];

/// Why a pull failed, in the words containerd's CRI plugin uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullFailure {
    /// The gRPC code kubelet would see (`NotFound` or `Unknown`).
    pub code: &'static str,
    /// `failed to pull and unpack image "…": …`
    pub detail: String,
}

impl PullFailure {
    /// The error text kubelet shows (`rpc error: code = … desc = …`).
    pub fn message(&self) -> String {
        format!("rpc error: code = {} desc = {}", self.code, self.detail)
    }
}

/// A finished pull.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The target digest (manifest or index) — the repo digest.
    pub digest: String,
    /// Bytes of the image (config + layers, compressed).
    pub size: u64,
}

/// Makes sure rustls has a crypto provider (reqwest is built without one).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client_for(r: &Reference, insecure_registries: &[String]) -> oci_client::Client {
    install_crypto_provider();
    let protocol = if r.is_insecure(insecure_registries) {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        connect_timeout: Some(Duration::from_secs(15)),
        read_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    })
}

fn oci_reference(r: &Reference) -> oci_client::Reference {
    match (&r.tag, &r.digest) {
        (_, Some(d)) => oci_client::Reference::with_digest(r.domain.clone(), r.path.clone(), d.clone()),
        (Some(t), None) => oci_client::Reference::with_tag(r.domain.clone(), r.path.clone(), t.clone()),
        (None, None) => oci_client::Reference::with_tag(r.domain.clone(), r.path.clone(), "latest".to_string()),
    }
}

/// The innermost cause of an error chain, as text (`connect: connection refused`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    let mut io: Option<&std::io::Error> = None;
    while let Some(next) = cur.source() {
        if let Some(x) = next.downcast_ref::<std::io::Error>() {
            io = Some(x);
        }
        cur = next;
    }
    if let Some(io) = io {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
            std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
            std::io::ErrorKind::ConnectionReset => "read: connection reset by peer".to_string(),
            _ => io.to_string(),
        };
    }
    cur.to_string()
}

/// Pulls the URL out of reqwest's "error sending request for url (…)".
fn url_in(text: &str) -> Option<String> {
    let start = text.find("(http")? + 1;
    let end = text[start..].find(')')? + start;
    Some(text[start..end].to_string())
}

/// Words an oci-client error like containerd does; `stage` is
/// `failed to resolve reference "…"` or `failed to copy`.
fn describe(name: &str, e: &OciDistributionError) -> (&'static str, String) {
    match e {
        OciDistributionError::UnauthorizedError { url } => (
            "Unknown",
            format!("unexpected status from GET request to {url}: 401 Unauthorized"),
        ),
        OciDistributionError::AuthenticationFailure(reason) => (
            "Unknown",
            format!("failed to authorize: failed to fetch oauth token: {}", reason.trim()),
        ),
        OciDistributionError::RegistryError { envelope, url } => {
            let not_found = envelope.errors.iter().any(|x| {
                matches!(
                    x.code,
                    OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
                )
            });
            if not_found {
                ("NotFound", format!("{name}: not found"))
            } else {
                let msgs: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|x| format!("{:?}: {}", x.code, x.message))
                    .collect();
                (
                    "Unknown",
                    format!("unexpected response from {url}: {}", msgs.join("; ")),
                )
            }
        }
        OciDistributionError::ServerError { code, url, message } => {
            if *code == 404 {
                ("NotFound", format!("{name}: not found"))
            } else {
                let m = message.trim();
                let status = http::StatusCode::from_u16(*code)
                    .ok()
                    .and_then(|s| s.canonical_reason().map(|r| format!("{code} {r}")))
                    .unwrap_or_else(|| code.to_string());
                if m.is_empty() {
                    (
                        "Unknown",
                        format!("unexpected status from GET request to {url}: {status}"),
                    )
                } else {
                    (
                        "Unknown",
                        format!("unexpected status from GET request to {url}: {status}: {m}"),
                    )
                }
            }
        }
        OciDistributionError::RequestError(re) => {
            let top = re.to_string();
            let cause = root_cause(re);
            match url_in(&top) {
                Some(url) => {
                    let host = url
                        .split("://")
                        .nth(1)
                        .and_then(|r| r.split('/').next())
                        .unwrap_or("")
                        .to_string();
                    (
                        "Unknown",
                        format!("failed to do request: Get {url:?}: dial tcp {host}: {cause}"),
                    )
                }
                None => ("Unknown", format!("failed to do request: {top}: {cause}")),
            }
        }
        other => ("Unknown", other.to_string()),
    }
}

fn failure(name: &str, stage: &str, e: &OciDistributionError) -> PullFailure {
    let (code, why) = describe(name, e);
    PullFailure {
        code,
        detail: format!("failed to pull and unpack image {name:?}: {stage}: {why}"),
    }
}

fn other_failure(name: &str, e: &anyhow::Error) -> PullFailure {
    PullFailure {
        code: "Unknown",
        detail: format!("failed to pull and unpack image {name:?}: {e:#}"),
    }
}

/// Pulls `r` into containerd (trying each credential, then anonymously when
/// there are none) and records it under its name.
pub async fn pull(
    store: &Store,
    r: &Reference,
    creds: &[Credential],
    insecure_registries: &[String],
) -> Result<Pulled, PullFailure> {
    let name = r.full_name();
    let auths: Vec<RegistryAuth> = if creds.is_empty() {
        vec![RegistryAuth::Anonymous]
    } else {
        creds
            .iter()
            .map(|c| RegistryAuth::Basic(c.username.clone(), c.password.clone()))
            .collect()
    };
    let mut last = None;
    for auth in auths {
        let client = client_for(r, insecure_registries);
        match pull_with(store, &client, r, &auth).await {
            Ok(p) => return Ok(p),
            Err(PullError::Registry(stage, e)) => {
                let retry = matches!(
                    e,
                    OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_)
                );
                last = Some(failure(&name, &stage, &e));
                if !retry {
                    break;
                }
            }
            Err(PullError::Other(e)) => return Err(other_failure(&name, &e)),
        }
    }
    Err(last.unwrap_or_else(|| other_failure(&name, &anyhow::anyhow!("no credentials to try"))))
}

enum PullError {
    Registry(String, OciDistributionError),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for PullError {
    fn from(e: anyhow::Error) -> Self {
        PullError::Other(e)
    }
}

async fn pull_with(
    store: &Store,
    client: &oci_client::Client,
    r: &Reference,
    auth: &RegistryAuth,
) -> Result<Pulled, PullError> {
    let name = r.full_name();
    let resolve = format!("failed to resolve reference {name:?}");
    let oref = oci_reference(r);
    let (body, digest) = client
        .pull_manifest_raw(&oref, auth, ACCEPT)
        .await
        .map_err(|e| PullError::Registry(resolve.clone(), e))?;
    let top_type = media_type_of(&body);
    let top = Descriptor {
        media_type: top_type.clone(),
        digest: digest.clone(),
        size: body.len() as i64,
        ..Default::default()
    };
    let (index, mdesc, mbytes) = if oci::is_index(&top_type) {
        let idx: Index = serde_json::from_slice(&body)
            .context("invalid image index")
            .map_err(PullError::Other)?;
        let chosen = oci::select_platform(&idx)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no match for platform in manifest: linux/{}", oci::this_arch()))?;
        let (mb, md) = client
            .pull_manifest_raw(&oref.clone_with_digest(chosen.digest.clone()), auth, ACCEPT)
            .await
            .map_err(|e| PullError::Registry(resolve.clone(), e))?;
        if md != chosen.digest {
            return Err(anyhow::anyhow!("manifest {} has digest {md}", chosen.digest).into());
        }
        let d = Descriptor {
            media_type: if chosen.media_type.is_empty() {
                media_type_of(&mb)
            } else {
                chosen.media_type.clone()
            },
            digest: md,
            size: mb.len() as i64,
            ..Default::default()
        };
        (Some((top.clone(), body.to_vec(), idx)), d, mb.to_vec())
    } else {
        (None, top.clone(), body.to_vec())
    };
    let manifest: Manifest = serde_json::from_slice(&mbytes)
        .context("invalid image manifest")
        .map_err(PullError::Other)?;
    let lease = store.create_lease().await?;
    let r = fetch_and_store(store, client, &oref, &lease, &name, index, (mdesc, mbytes, manifest)).await;
    store.delete_lease(&lease).await;
    let size = r?;
    Ok(Pulled { digest, size })
}

fn media_type_of(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Head>(body) {
        Ok(Head {
            media_type: Some(m), ..
        }) => m,
        Ok(Head { manifests: Some(_), .. }) => oci::MT_OCI_INDEX.to_string(),
        _ => oci::MT_OCI_MANIFEST.to_string(),
    }
}

async fn fetch_and_store(
    store: &Store,
    client: &oci_client::Client,
    oref: &oci_client::Reference,
    lease: &str,
    name: &str,
    index: Option<(Descriptor, Vec<u8>, Index)>,
    manifest: (Descriptor, Vec<u8>, Manifest),
) -> Result<u64, PullError> {
    let copy = "failed to copy".to_string();
    let cfg_desc = manifest.2.config.clone();
    oci::validate_digest(&cfg_desc.digest)?;
    let mut config = Vec::new();
    client
        .pull_blob(oref, cfg_desc.digest.as_str(), &mut config)
        .await
        .map_err(|e| PullError::Registry(copy.clone(), e))?;
    if oci::sha256_digest(&config) != cfg_desc.digest {
        return Err(anyhow::anyhow!("config {} does not match its digest", cfg_desc.digest).into());
    }
    let cfg = ConfigFile::parse(&config)?;
    if cfg.rootfs.diff_ids.len() != manifest.2.layers.len() {
        return Err(anyhow::anyhow!(
            "the manifest has {} layers but the config lists {} diff IDs",
            manifest.2.layers.len(),
            cfg.rootfs.diff_ids.len()
        )
        .into());
    }
    let mut size = config.len() as u64;
    let mut layers = Vec::new();
    for (l, diff_id) in manifest.2.layers.iter().zip(cfg.rootfs.diff_ids.iter()) {
        oci::validate_digest(&l.digest)?;
        size += l.size.max(0) as u64;
        if store.content_info(&l.digest).await?.is_none() {
            let mut w = store.writer(lease, Some(&l.digest), l.size).await?;
            let mut stream = client
                .pull_blob_stream(oref, l.digest.as_str())
                .await
                .map_err(|e| PullError::Registry(copy.clone(), e))?;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        w.abort().await;
                        return Err(anyhow::anyhow!("failed to copy: reading {}: {e}", l.digest).into());
                    }
                };
                w.write(chunk).await?;
            }
            w.commit(Some(&l.digest), HashMap::new())
                .await
                .with_context(|| format!("failed to copy layer {}", l.digest))?;
        }
        layers.push(PlannedLayer {
            desc: l.clone(),
            diff_id: diff_id.clone(),
            data: None,
        });
    }
    let img = PlannedImage {
        names: vec![name.to_string()],
        index,
        manifest,
        config,
        layers,
    };
    store_image(store, lease, &img).await?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_keep_the_reason() {
        let e = OciDistributionError::UnauthorizedError {
            url: "http://127.0.0.1:5000/v2/app/manifests/v1".to_string(),
        };
        let f = failure(
            "127.0.0.1:5000/app:v1",
            "failed to resolve reference \"127.0.0.1:5000/app:v1\"",
            &e,
        );
        assert_eq!(
            f.message(),
            "rpc error: code = Unknown desc = failed to pull and unpack image \"127.0.0.1:5000/app:v1\": failed to resolve reference \"127.0.0.1:5000/app:v1\": unexpected status from GET request to http://127.0.0.1:5000/v2/app/manifests/v1: 401 Unauthorized"
        );
        let e = OciDistributionError::ServerError {
            code: 404,
            url: "u".to_string(),
            message: String::new(),
        };
        let f = failure("r/a:1", "s", &e);
        assert_eq!(f.code, "NotFound");
        assert!(f.detail.ends_with("s: r/a:1: not found"), "{}", f.detail);
    }

    #[test]
    fn media_types_from_bodies() {
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"manifests":[]}"#),
            oci::MT_OCI_INDEX
        );
        assert_eq!(
            media_type_of(format!(r#"{{"mediaType":"{}"}}"#, oci::MT_DOCKER_MANIFEST).as_bytes()),
            oci::MT_DOCKER_MANIFEST
        );
        assert_eq!(
            media_type_of(br#"{"schemaVersion":2,"config":{}}"#),
            oci::MT_OCI_MANIFEST
        );
        assert_eq!(
            url_in("error sending request for url (http://127.0.0.1:1/v2/none/manifests/1)").as_deref(),
            Some("http://127.0.0.1:1/v2/none/manifests/1")
        );
    }
}
