//! `ImageService`: what the pod workers, the node status and the CLI use —
//! ensure (pull policy + pull), get, list, import, remove, the air-gap folder.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::archive::ProgressFn;
use super::auth::{credentials_for, DockerConfigJson};
use super::oci::{self, ConfigFile, Descriptor, Index, Manifest};
use super::reference::{self, InvalidReference, PullPolicy, Reference};
use super::store::{ImageRecord, Store};
use super::{import, pull, ImageInfo};
use crate::config::AgentConfig;
use crate::containerd::Containerd;

/// The default snapshotter.
pub const DEFAULT_SNAPSHOTTER: &str = "overlayfs";

/// Settings of the image service.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Snapshotter to unpack into (`overlayfs`).
    pub snapshotter: String,
    /// Registries reached over plain HTTP besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// Where the air-gap folder's import record is kept.
    pub state_dir: Option<PathBuf>,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            snapshotter: DEFAULT_SNAPSHOTTER.to_string(),
            insecure_registries: Vec::new(),
            state_dir: None,
        }
    }
}

/// Why `ensure` failed; `reason()` is the container's waiting reason and
/// `Display` the message kubelet puts in status and events.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImageError {
    /// `ErrImageNeverPull`: `Container image "X" is not present with pull policy of Never`.
    #[error("Container image {image:?} is not present with pull policy of Never")]
    NeverPull {
        /// The image as the pod spec wrote it.
        image: String,
    },
    /// `ErrImagePull`: the message is the runtime's error
    /// (`rpc error: code = … desc = failed to pull and unpack image …`).
    #[error("{message}")]
    Pull {
        /// The image as the pod spec wrote it.
        image: String,
        /// The runtime's error.
        message: String,
    },
    /// `InvalidImageName`: `Failed to apply default image tag "X": couldn't parse image name "X": …`.
    #[error("{message}")]
    InvalidName {
        /// The image as written.
        image: String,
        /// kubelet's message.
        message: String,
    },
    /// containerd itself failed (not a pull problem): reported as `ErrImagePull` too.
    #[error("{0}")]
    Runtime(String),
}

impl ImageError {
    /// The container waiting reason kubelet uses.
    pub fn reason(&self) -> &'static str {
        match self {
            ImageError::NeverPull { .. } => "ErrImageNeverPull",
            ImageError::Pull { .. } | ImageError::Runtime(_) => "ErrImagePull",
            ImageError::InvalidName { .. } => "InvalidImageName",
        }
    }

    /// The Warning event kubelet records: (reason, message).
    pub fn event(&self) -> (&'static str, String) {
        match self {
            ImageError::NeverPull { .. } => ("ErrImageNeverPull", self.to_string()),
            ImageError::Pull { image, message } => (
                "Failed",
                format!("Failed to pull image {:?}: {message}", with_default_tag(image)),
            ),
            ImageError::Runtime(m) => ("Failed", format!("Failed to pull image: {m}")),
            ImageError::InvalidName { .. } => ("InspectFailed", self.to_string()),
        }
    }
}

/// The outcome of [`ImageService::ensure`].
#[derive(Debug, Clone)]
pub struct Ensured {
    /// The image.
    pub info: ImageInfo,
    /// Whether it was pulled now.
    pub pulled: bool,
    /// How long the pull took (zero when not pulled).
    pub pull_duration: Duration,
    /// Bytes of the image (for `Image size: N bytes.`).
    pub size: u64,
}

impl Ensured {
    /// kubelet's Normal event: (`Pulled`, message) — "Successfully pulled image …" or
    /// "Container image … already present on machine".
    pub fn event(&self, requested: &str) -> (&'static str, String) {
        if self.pulled {
            let d = fmt_go_duration(self.pull_duration);
            (
                "Pulled",
                format!(
                    "Successfully pulled image {:?} in {d} ({d} including waiting). Image size: {} bytes.",
                    with_default_tag(requested),
                    self.size
                ),
            )
        } else {
            (
                "Pulled",
                format!("Container image {requested:?} already present on machine"),
            )
        }
    }
}

/// `Pulling image "X"` — the Normal `Pulling` event's message.
pub fn pulling_message(requested: &str) -> String {
    format!("Pulling image {:?}", with_default_tag(requested))
}

/// kubelet's `applyDefaultImageTag`: `busybox` → `busybox:latest` (no domain added).
pub fn with_default_tag(image: &str) -> String {
    match Reference::parse(image) {
        Ok(r) if r.digest.is_none() && !has_tag(image) => format!("{image}:latest"),
        _ => image.to_string(),
    }
}

fn has_tag(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split('@').next().unwrap_or(last).contains(':')
}

/// Go's `time.Duration` text truncated to milliseconds (`1.234s`, `850ms`).
pub fn fmt_go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let total_s = ms / 1000;
    let frac = ms % 1000;
    let (h, m, s) = (total_s / 3600, (total_s % 3600) / 60, total_s % 60);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// Images on containerd: lookup, pull, import, removal.
#[derive(Clone)]
pub struct ImageService {
    store: Store,
    opts: Arc<ImageOptions>,
    /// ImageInfo by target digest (content is immutable).
    cache: Arc<Mutex<HashMap<String, ImageInfo>>>,
    /// One pull at a time per image name.
    pulls: Arc<tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl ImageService {
    /// The service for an agent (insecure registries and state dir from its config).
    pub fn new(containerd: Containerd, config: &AgentConfig) -> ImageService {
        ImageService::with_options(
            containerd,
            ImageOptions {
                snapshotter: DEFAULT_SNAPSHOTTER.to_string(),
                insecure_registries: config.insecure_registries.clone(),
                state_dir: Some(config.data_dir.join("containerd")),
            },
        )
    }

    /// The service with explicit options.
    pub fn with_options(containerd: Containerd, opts: ImageOptions) -> ImageService {
        ImageService {
            store: Store::new(containerd, &opts.snapshotter),
            opts: Arc::new(opts),
            cache: Arc::new(Mutex::new(HashMap::new())),
            pulls: Arc::new(tokio::sync::Mutex::new(HashMap::new())),
        }
    }

    /// The snapshotter images are unpacked with.
    pub fn snapshotter(&self) -> &str {
        self.store.snapshotter()
    }

    /// The normalised form of a name (`busybox` → `docker.io/library/busybox:latest`).
    pub fn normalize(name: &str) -> Result<String, InvalidReference> {
        reference::normalize(name)
    }

    /// Makes sure `image` is present per `policy`, pulling with the credentials of
    /// the pod's pull secrets when needed.
    pub async fn ensure(
        &self,
        image: &str,
        policy: PullPolicy,
        auth: &[DockerConfigJson],
    ) -> Result<Ensured, ImageError> {
        let r = Reference::parse(image).map_err(|e| ImageError::InvalidName {
            image: image.to_string(),
            message: reference::invalid_name_message(image, &e),
        })?;
        let present = self
            .get_ref(&r)
            .await
            .map_err(|e| ImageError::Runtime(format!("{e:#}")))?;
        match policy.should_pull(present.is_some()) {
            None => Err(ImageError::NeverPull {
                image: image.to_string(),
            }),
            Some(false) => {
                let info = present.ok_or_else(|| ImageError::Runtime("image vanished".to_string()))?;
                let size = info.size;
                Ok(Ensured {
                    info,
                    pulled: false,
                    pull_duration: Duration::ZERO,
                    size,
                })
            }
            Some(true) => {
                let creds = credentials_for(&r, auth);
                let skip_if_present = policy != PullPolicy::Always;
                let (info, took) = self.pull_ref(&r, &creds, skip_if_present).await.map_err(|e| match e {
                    PullErr::Pull(f) => ImageError::Pull {
                        image: image.to_string(),
                        message: f.message(),
                    },
                    PullErr::Other(e) => ImageError::Runtime(format!("{e:#}")),
                })?;
                let size = info.size;
                Ok(Ensured {
                    info,
                    pulled: true,
                    pull_duration: took,
                    size,
                })
            }
        }
    }

    /// Pulls `image` with a pod's pull secrets (the pod workers' `PodImages::pull`):
    /// the error is the text kubelet puts in the `ErrImagePull` status.
    pub async fn pull_with_secrets(
        &self,
        image: &str,
        secrets: &[k8s_openapi::api::core::v1::Secret],
    ) -> Result<ImageInfo, String> {
        let auth = super::auth::from_secrets(secrets);
        self.ensure(image, PullPolicy::Always, &auth)
            .await
            .map(|e| e.info)
            .map_err(|e| e.to_string())
    }

    /// Pulls `image` unconditionally (the CLI's `k1s image pull`).
    pub async fn pull(&self, image: &str, auth: &[DockerConfigJson]) -> Result<Ensured, ImageError> {
        self.ensure(image, PullPolicy::Always, auth).await
    }

    async fn pull_ref(
        &self,
        r: &Reference,
        creds: &[super::auth::Credential],
        skip_if_present: bool,
    ) -> Result<(ImageInfo, Duration), PullErr> {
        let name = r.full_name();
        let lock = {
            let mut m = self.pulls.lock().await;
            m.entry(name.clone()).or_default().clone()
        };
        let start = Instant::now();
        let _guard = lock.lock().await;
        // Another worker may have pulled it while this one waited.
        if skip_if_present {
            if let Some(info) = self.get_ref(r).await.map_err(PullErr::Other)? {
                return Ok((info, start.elapsed()));
            }
        }
        pull::pull(&self.store, r, creds, &self.opts.insecure_registries)
            .await
            .map_err(PullErr::Pull)?;
        let took = start.elapsed();
        let info = self
            .get_ref(r)
            .await
            .map_err(PullErr::Other)?
            .ok_or_else(|| PullErr::Other(anyhow::anyhow!("{name} missing after the pull")))?;
        Ok((info, took))
    }

    /// The image called `name` (any form Docker accepts), if present.
    pub async fn get(&self, name: &str) -> anyhow::Result<Option<ImageInfo>> {
        let r = Reference::parse(name).map_err(|e| anyhow::anyhow!("{}", reference::invalid_name_message(name, &e)))?;
        self.get_ref(&r).await
    }

    async fn get_ref(&self, r: &Reference) -> anyhow::Result<Option<ImageInfo>> {
        let rec = match self.store.get_image(&r.full_name()).await? {
            Some(rec) => Some(rec),
            // `repo@digest`: any record whose target has that digest.
            None => match &r.digest {
                Some(d) => self
                    .store
                    .list_images()
                    .await?
                    .into_iter()
                    .find(|i| &i.target.digest == d && i.name.starts_with(&r.repository())),
                None => None,
            },
        };
        match rec {
            Some(rec) => self.info_of(&rec).await,
            None => Ok(None),
        }
    }

    /// Every image (one entry per name), names sorted.
    pub async fn list(&self) -> anyhow::Result<Vec<ImageInfo>> {
        let mut recs = self.store.list_images().await?;
        recs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::new();
        for rec in recs {
            // Skip `name@sha256:` records and images whose content is gone.
            if let Ok(Some(info)) = self.info_of(&rec).await {
                out.push(info);
            }
        }
        Ok(out)
    }

    /// Imports a `docker save` or OCI archive; returns the names imported.
    pub async fn import<R: Read + Send + 'static>(
        &self,
        reader: R,
        progress: Option<ProgressFn>,
    ) -> anyhow::Result<Vec<String>> {
        import::import(&self.store, reader, progress).await
    }

    /// Removes an image name (its content and snapshots are collected by containerd
    /// once no name uses them). Returns whether it existed.
    pub async fn remove(&self, name: &str) -> anyhow::Result<bool> {
        let n =
            reference::normalize(name).map_err(|e| anyhow::anyhow!("{}", reference::invalid_name_message(name, &e)))?;
        self.store.delete_image(&n).await
    }

    /// Imports every `*.tar`, `*.tar.gz`/`*.tgz` and `*.oci.tar` in `dir` (the air-gap
    /// folder), skipping archives already imported (by their sha256) whose images
    /// are still there. Returns the names imported now; errors per file are logged.
    pub async fn import_dir(&self, dir: &Path) -> anyhow::Result<Vec<String>> {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        entries.sort();
        let record_path = self
            .opts
            .state_dir
            .clone()
            .unwrap_or_else(|| dir.to_path_buf())
            .join("k1s-airgap-imported.json");
        let mut record: HashMap<String, Vec<String>> = std::fs::read(&record_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut imported = Vec::new();
        for path in entries {
            let fname = path
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            let gz = fname.ends_with(".tar.gz") || fname.ends_with(".tgz");
            if !(fname.ends_with(".tar") || gz) || !path.is_file() {
                continue;
            }
            let digest = match file_digest(&path) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("air-gap image {}: {e:#}", path.display());
                    continue;
                }
            };
            if let Some(names) = record.get(&digest) {
                let mut all = !names.is_empty();
                for n in names {
                    if self.store.get_image(n).await.ok().flatten().is_none() {
                        all = false;
                    }
                }
                if all {
                    continue;
                }
            }
            let r = match open_archive(&path, gz) {
                Ok(reader) => self.import(reader, None).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(names) => {
                    tracing::info!("imported {} from {}", names.join(", "), path.display());
                    record.insert(digest, names.clone());
                    imported.extend(names);
                }
                Err(e) => tracing::warn!("cannot import air-gap image {}: {e:#}", path.display()),
            }
        }
        if let Some(parent) = record_path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Ok(b) = serde_json::to_vec(&record) {
            if let Err(e) = std::fs::write(&record_path, b) {
                tracing::warn!("cannot write {}: {e}", record_path.display());
            }
        }
        Ok(imported)
    }

    /// Builds the ImageInfo of a record (cached by target digest).
    async fn info_of(&self, rec: &ImageRecord) -> anyhow::Result<Option<ImageInfo>> {
        let key = format!("{}\n{}", rec.target.digest, rec.name);
        if let Ok(c) = self.cache.lock() {
            if let Some(i) = c.get(&key) {
                return Ok(Some(i.clone()));
            }
        }
        let Ok(r) = Reference::parse(&rec.name) else {
            return Ok(None);
        };
        let Some((manifest, _)) = self.resolve_manifest(&rec.target).await? else {
            return Ok(None);
        };
        let config = match self.store.content_info(&manifest.config.digest).await? {
            Some(_) => self.store.read_blob(&manifest.config.digest).await?,
            None => return Ok(None),
        };
        let cfg = ConfigFile::parse(&config)?;
        let chain = oci::chain_ids(&cfg.rootfs.diff_ids);
        let size = config.len() as u64 + manifest.layers.iter().map(|l| l.size.max(0) as u64).sum::<u64>();
        let info = ImageInfo {
            name: rec.name.clone(),
            id: manifest.config.digest.clone(),
            repo_digests: vec![r.with_digest(&rec.target.digest)],
            chain_id: chain.last().cloned().unwrap_or_default(),
            snapshotter: self.store.snapshotter().to_string(),
            size,
            config: cfg.image_config(),
        };
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, info.clone());
        }
        Ok(Some(info))
    }

    /// The manifest for this platform behind a target (manifest or index).
    async fn resolve_manifest(&self, target: &Descriptor) -> anyhow::Result<Option<(Manifest, Descriptor)>> {
        let mut desc = target.clone();
        for _ in 0..4 {
            if self.store.content_info(&desc.digest).await?.is_none() {
                return Ok(None);
            }
            let b = self.store.read_blob(&desc.digest).await?;
            if oci::is_index(&desc.media_type) {
                let idx: Index = serde_json::from_slice(&b).context("invalid image index")?;
                match oci::select_platform(&idx) {
                    Some(d) => desc = d.clone(),
                    None => return Ok(None),
                }
                continue;
            }
            let m: Manifest = serde_json::from_slice(&b).context("invalid image manifest")?;
            return Ok(Some((m, desc)));
        }
        Ok(None)
    }
}

enum PullErr {
    Pull(pull::PullFailure),
    Other(anyhow::Error),
}

fn file_digest(path: &Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = oci::Sha256::default();
    std::io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(h.finish())
}

fn open_archive(path: &Path, gz: bool) -> anyhow::Result<Box<dyn Read + Send>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let f = std::io::BufReader::with_capacity(1 << 20, f);
    Ok(if gz {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_messages() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("busybox:1.36"), "busybox:1.36");
        assert_eq!(with_default_tag("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(pulling_message("busybox"), "Pulling image \"busybox:latest\"");
        let e = ImageError::NeverPull {
            image: "busybox:1.36".to_string(),
        };
        assert_eq!(
            e.to_string(),
            "Container image \"busybox:1.36\" is not present with pull policy of Never"
        );
        assert_eq!(e.reason(), "ErrImageNeverPull");
        let e = ImageError::Pull {
            image: "127.0.0.1:1/none:1".to_string(),
            message: "rpc error: code = Unknown desc = x".to_string(),
        };
        assert_eq!(e.reason(), "ErrImagePull");
        assert_eq!(
            e.event().1,
            "Failed to pull image \"127.0.0.1:1/none:1\": rpc error: code = Unknown desc = x"
        );
        let ok = Ensured {
            info: ImageInfo::default(),
            pulled: true,
            pull_duration: Duration::from_millis(1234),
            size: 42,
        };
        assert_eq!(
            ok.event("busybox").1,
            "Successfully pulled image \"busybox:latest\" in 1.234s (1.234s including waiting). Image size: 42 bytes."
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(fmt_go_duration(Duration::from_millis(0)), "0s");
        assert_eq!(fmt_go_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(fmt_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(fmt_go_duration(Duration::from_millis(2000)), "2s");
        assert_eq!(fmt_go_duration(Duration::from_millis(61_010)), "1m1.01s");
    }
}
