//! The OCI/Docker image documents k1s reads (index, manifest, config), media
//! types, digests and chain IDs.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};

use super::ImageConfig;

/// OCI image index.
pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const MT_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer, uncompressed.
pub const MT_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip.
pub const MT_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker manifest list.
pub const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 2 manifest.
pub const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const MT_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker layer, uncompressed.
pub const MT_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker layer, gzip.
pub const MT_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Whether a media type is an index/manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == MT_OCI_INDEX || media_type == MT_DOCKER_LIST
}

/// Whether a media type is a single-platform manifest.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == MT_OCI_MANIFEST || media_type == MT_DOCKER_MANIFEST
}

/// A content descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `sha256:…`
    pub digest: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: i64,
    /// Annotations (`org.opencontainers.image.ref.name`…).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// Converts to containerd's descriptor type.
    pub fn to_proto(&self) -> containerd_client::types::Descriptor {
        containerd_client::types::Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            annotations: self.annotations.clone().into_iter().collect(),
        }
    }
}

/// An index entry's platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`…
    #[serde(default)]
    pub architecture: String,
    /// `linux`.
    #[serde(default)]
    pub os: String,
    /// `v8`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image index (or Docker manifest list).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    /// Always 2.
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: i64,
    /// Media type (optional in OCI).
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// An image manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 2.
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: i64,
    /// Media type (optional in OCI).
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// The parts of an image config k1s reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigFile {
    /// Architecture.
    #[serde(default)]
    pub architecture: String,
    /// OS.
    #[serde(default)]
    pub os: String,
    /// Run settings.
    #[serde(default)]
    pub config: Option<RunConfig>,
    /// Layer diff IDs.
    #[serde(default)]
    pub rootfs: RootFs,
}

/// `config` of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunConfig {
    /// Entrypoint.
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    /// Env.
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    /// WorkingDir.
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    /// User.
    #[serde(rename = "User", default)]
    pub user: Option<String>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    /// Uncompressed layer digests, base first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ConfigFile {
    /// Parses an image config.
    pub fn parse(data: &[u8]) -> anyhow::Result<ConfigFile> {
        serde_json::from_slice(data).context("invalid image config")
    }

    /// The run settings as [`ImageConfig`].
    pub fn image_config(&self) -> ImageConfig {
        let c = self.config.clone().unwrap_or_default();
        ImageConfig {
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
        }
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
    )
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// An incremental sha256 that yields `sha256:<hex>`.
pub struct Sha256(ring::digest::Context);

impl Default for Sha256 {
    fn default() -> Self {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }
}

impl Sha256 {
    /// Feeds bytes.
    pub fn update(&mut self, b: &[u8]) {
        self.0.update(b);
    }
    /// The digest.
    pub fn finish(self) -> String {
        format!("sha256:{}", hex(self.0.finish().as_ref()))
    }
}

impl std::io::Write for Sha256 {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The chain IDs of a layer stack: `chain(0) = diff(0)`,
/// `chain(n) = sha256(chain(n-1) + " " + diff(n))` (as containerd/`identity.ChainIDs`).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Checks a `sha256:` digest's syntax (so it is safe in paths and labels).
pub fn validate_digest(d: &str) -> anyhow::Result<()> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => Ok(()),
        _ => Err(anyhow!("invalid digest {d:?}")),
    }
}

/// The GOARCH of this machine (`amd64`, `arm64`…).
pub fn this_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Picks linux/<this arch> from an index (entries without platform are skipped
/// unless nothing else matches and there is just one).
pub fn select_platform(index: &Index) -> Option<&Descriptor> {
    let arch = this_arch();
    index
        .manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .or_else(|| {
            let candidates: Vec<&Descriptor> = index
                .manifests
                .iter()
                .filter(|m| m.platform.is_none() && is_manifest(&m.media_type))
                .collect();
            if candidates.len() == 1 {
                Some(candidates[0])
            } else {
                None
            }
        })
}

/// Detects a gzip stream by its magic bytes.
pub fn is_gzip(head: &[u8]) -> bool {
    head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_match_containerd() {
        // identity.ChainID: the first is the diff ID itself, then sha256("<parent> <diff>").
        let a = sha256_digest(b"a");
        let b = sha256_digest(b"b");
        let c = sha256_digest(b"c");
        let ids = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256_digest(format!("{a} {b}").as_bytes()));
        assert_eq!(ids[2], sha256_digest(format!("{} {c}", ids[1]).as_bytes()));
        assert!(chain_ids(&[]).is_empty());
        // A known value: sha256("sha256:x sha256:y") is fixed.
        assert_eq!(
            sha256_digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn selects_this_platform() {
        let j = format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"mediaType":"{MT_OCI_MANIFEST}","digest":"sha256:1","size":1,"platform":{{"os":"linux","architecture":"s390x-none"}}}},
            {{"mediaType":"{MT_OCI_MANIFEST}","digest":"sha256:2","size":1,"platform":{{"os":"linux","architecture":"{}"}}}},
            {{"mediaType":"{MT_OCI_MANIFEST}","digest":"sha256:3","size":1,"platform":{{"os":"windows","architecture":"{}"}}}}]}}"#,
            this_arch(),
            this_arch()
        );
        let idx: Index = serde_json::from_str(&j).expect("parses");
        assert_eq!(select_platform(&idx).map(|d| d.digest.as_str()), Some("sha256:2"));
        let none: Index =
            serde_json::from_str(r#"{"manifests":[{"mediaType":"x","digest":"sha256:1","size":1,"platform":{"os":"linux","architecture":"none"}}]}"#)
                .expect("parses");
        assert!(select_platform(&none).is_none());
    }

    #[test]
    fn config_run_settings() {
        let c = ConfigFile::parse(
            br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["PATH=/bin"],"WorkingDir":"/w","User":"1:2"},"rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#,
        )
        .expect("parses");
        let ic = c.image_config();
        assert_eq!(ic.cmd, ["sh"]);
        assert!(ic.entrypoint.is_empty());
        assert_eq!(ic.env, ["PATH=/bin"]);
        assert_eq!(ic.working_dir, "/w");
        assert_eq!(ic.user, "1:2");
        assert_eq!(c.rootfs.diff_ids, ["sha256:aa"]);
        assert!(ConfigFile::parse(b"\"x\"").is_err());
    }

    #[test]
    fn digests() {
        assert!(validate_digest(&sha256_digest(b"x")).is_ok());
        assert!(validate_digest("sha256:../../etc").is_err());
        assert!(is_gzip(&[0x1f, 0x8b, 8]));
        assert!(!is_gzip(b"ustar"));
    }
}
