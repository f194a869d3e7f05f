//! Pod volumes: emptyDir (on disk or tmpfs), hostPath (with `type`),
//! configMap, secret, downwardAPI and projected (incl. the ServiceAccount
//! token), laid out under `<pods-dir>/<uid>/volumes/kubernetes.io~<plugin>/<name>`
//! as the kubelet does. API data volumes are written with the AtomicWriter
//! layout; calling [`VolumeManager::setup`] again refreshes them.

pub mod atomic;
pub mod host_path;
pub mod payload;
mod types;

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, Volume};
use tracing::warn;

pub use types::{MountedVolume, PodVolumes, VolumeKind};

use crate::config::AgentConfig;
use crate::containers::resources::NodeAllocatable;
use crate::containers::source::{ApiSource, IssuedToken, ObjectSource, TokenRequest};
use atomic::{FileProjection, Payload};
use payload::DEFAULT_MODE;

/// A volume that could not be set up. Its `Display` is the kubelet's
/// `FailedMount` event message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
pub struct VolumeError {
    /// The volume's name in the pod spec.
    pub volume: String,
    /// Why.
    pub message: String,
}

impl VolumeError {
    /// The event reason (`FailedMount`).
    pub fn reason(&self) -> &'static str {
        "FailedMount"
    }
}

/// The default lifetime of a projected ServiceAccount token.
const DEFAULT_TOKEN_SECONDS: i64 = 3600;

/// Sets up and tears down pod volumes.
pub struct VolumeManager {
    source: Arc<dyn ObjectSource>,
    config: Arc<AgentConfig>,
    node: NodeAllocatable,
    tokens: Mutex<HashMap<TokenRequest, IssuedToken>>,
    memory_backed_secrets: bool,
}

fn plugin_dir(kind: VolumeKind) -> &'static str {
    match kind {
        VolumeKind::EmptyDir => "kubernetes.io~empty-dir",
        VolumeKind::HostPath => "kubernetes.io~host-path",
        VolumeKind::ConfigMap => "kubernetes.io~configmap",
        VolumeKind::Secret => "kubernetes.io~secret",
        VolumeKind::DownwardApi => "kubernetes.io~downward-api",
        VolumeKind::Projected => "kubernetes.io~projected",
    }
}

/// Whether `path` is a mount point (its device differs from its parent's).
fn is_mount_point(path: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::symlink_metadata(path),
        path.parent().map(std::fs::symlink_metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev() || me.ino() == parent.ino()
}

fn mount_tmpfs(path: &Path, size: Option<i64>) -> Result<(), String> {
    if is_mount_point(path) {
        return Ok(());
    }
    let mut opts = String::from("mode=0777");
    if let Some(s) = size.filter(|s| *s > 0) {
        opts.push_str(&format!(",size={s}"));
    }
    nix::mount::mount(
        Some("tmpfs"),
        path,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(|e| format!("mount of tmpfs at {} failed: {e}", path.display()))
}

impl VolumeManager {
    /// A manager reading ConfigMaps/Secrets and requesting tokens through `client`.
    pub fn new(client: k1s_apiserver::client::Client, config: Arc<AgentConfig>) -> VolumeManager {
        let node = NodeAllocatable::detect(&config.data_dir);
        VolumeManager::with_source(Arc::new(ApiSource::new(client)), config, node)
    }

    /// A manager over any [`ObjectSource`] (tests use fakes).
    pub fn with_source(
        source: Arc<dyn ObjectSource>,
        config: Arc<AgentConfig>,
        node: NodeAllocatable,
    ) -> VolumeManager {
        VolumeManager {
            source,
            config,
            node,
            tokens: Mutex::new(HashMap::new()),
            memory_backed_secrets: true,
        }
    }

    /// Whether secret and projected volumes live on tmpfs (the kubelet's way; on by default).
    pub fn memory_backed_secrets(mut self, on: bool) -> VolumeManager {
        self.memory_backed_secrets = on;
        self
    }

    /// `<pods-dir>/<uid>/volumes`.
    pub fn volumes_dir(&self, pod_uid: &str) -> PathBuf {
        self.config.pods_dir().join(pod_uid).join("volumes")
    }

    fn dir_of(&self, pod_uid: &str, kind: VolumeKind, name: &str) -> PathBuf {
        self.volumes_dir(pod_uid).join(plugin_dir(kind)).join(name)
    }

    /// Sets up every volume of `pod` (idempotent); a second call refreshes the
    /// contents of configMap, secret, downwardAPI and projected volumes whose
    /// sources changed, and renews ServiceAccount tokens past 80% of their life.
    pub async fn setup(&self, pod: &Pod) -> Result<PodVolumes, VolumeError> {
        let mut out = PodVolumes::default();
        let volumes = pod.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default();
        for v in &volumes {
            let mounted = self.setup_one(pod, v).await.map_err(|message| VolumeError {
                volume: v.name.clone(),
                message,
            })?;
            if let Some(m) = mounted {
                out.volumes.insert(v.name.clone(), m);
            }
        }
        Ok(out)
    }

    async fn setup_one(&self, pod: &Pod, v: &Volume) -> Result<Option<MountedVolume>, String> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let fs_group = pod
            .spec
            .as_ref()
            .and_then(|s| s.security_context.as_ref())
            .and_then(|s| s.fs_group)
            .map(|g| g as u32);
        if let Some(e) = &v.empty_dir {
            let dir = self.dir_of(uid, VolumeKind::EmptyDir, &v.name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            if e.medium.as_deref() == Some("Memory") {
                let size = e
                    .size_limit
                    .as_ref()
                    .and_then(|q| k1s_proto::quantity::Quantity::parse(&q.0).ok())
                    .map(|q| q.value());
                mount_tmpfs(&dir, size)?;
            }
            let mut mode = 0o777;
            if let Some(g) = fs_group {
                std::os::unix::fs::chown(&dir, None, Some(g))
                    .map_err(|e| format!("cannot chown {}: {e}", dir.display()))?;
                mode |= 0o2000;
            }
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))?;
            return Ok(Some(MountedVolume {
                host_path: dir,
                kind: VolumeKind::EmptyDir,
            }));
        }
        if let Some(h) = &v.host_path {
            let path = PathBuf::from(&h.path);
            host_path::check_type(&path, h.type_.as_deref())?;
            return Ok(Some(MountedVolume {
                host_path: path,
                kind: VolumeKind::HostPath,
            }));
        }
        let (kind, payload) = if let Some(c) = &v.config_map {
            let optional = c.optional == Some(true);
            let mode = c.default_mode.map_or(DEFAULT_MODE, |m| m as u32);
            let payload = match self.source.config_map(ns, &c.name).await.map_err(|e| e.0)? {
                Some(cm) => payload::config_map(&cm, c.items.as_deref(), mode, optional)?,
                None if optional => Payload::new(),
                None => return Err(format!("configmap \"{}\" not found", c.name)),
            };
            (VolumeKind::ConfigMap, payload)
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            let optional = s.optional == Some(true);
            let mode = s.default_mode.map_or(DEFAULT_MODE, |m| m as u32);
            let payload = match self.source.secret(ns, &name).await.map_err(|e| e.0)? {
                Some(sec) => payload::secret(&sec, s.items.as_deref(), mode, optional)?,
                None if optional => Payload::new(),
                None => return Err(format!("secret \"{name}\" not found")),
            };
            (VolumeKind::Secret, payload)
        } else if let Some(d) = &v.downward_api {
            let mode = d.default_mode.map_or(DEFAULT_MODE, |m| m as u32);
            let items = d.items.clone().unwrap_or_default();
            (
                VolumeKind::DownwardApi,
                payload::downward_api(&items, pod, mode, &self.node)?,
            )
        } else if let Some(p) = &v.projected {
            (VolumeKind::Projected, self.projected(pod, p, fs_group).await?)
        } else {
            return Err("this volume type is not supported by k1s yet".into());
        };
        let dir = self.dir_of(uid, kind, &v.name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if self.memory_backed_secrets && matches!(kind, VolumeKind::Secret | VolumeKind::Projected) {
            if let Err(e) = mount_tmpfs(&dir, None) {
                warn!(volume = %v.name, error = %e, "secret volume stays on disk");
            }
        }
        let mut payload = payload;
        if fs_group.is_some() {
            // SetVolumeOwnership on a read-only volume: group-readable files.
            for f in payload.values_mut() {
                f.mode |= 0o440;
            }
        }
        atomic::write(&dir, &payload, fs_group)?;
        if let Some(g) = fs_group {
            let _ = std::os::unix::fs::chown(&dir, None, Some(g));
            if let Ok(m) = std::fs::metadata(&dir) {
                let _ =
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m.permissions().mode() | 0o2000));
            }
        }
        Ok(Some(MountedVolume { host_path: dir, kind }))
    }

    async fn projected(
        &self,
        pod: &Pod,
        p: &k8s_openapi::api::core::v1::ProjectedVolumeSource,
        fs_group: Option<u32>,
    ) -> Result<Payload, String> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let default_mode = p.default_mode.map_or(DEFAULT_MODE, |m| m as u32);
        let mut out = Payload::new();
        let mut errors: Vec<String> = Vec::new();
        for src in p.sources.iter().flatten() {
            let part: Result<Payload, String> = if let Some(c) = &src.config_map {
                let optional = c.optional == Some(true);
                match self.source.config_map(ns, &c.name).await {
                    Ok(Some(cm)) => payload::config_map(&cm, c.items.as_deref(), default_mode, optional),
                    Ok(None) if optional => Ok(Payload::new()),
                    Ok(None) => Err(format!("configmap \"{}\" not found", c.name)),
                    Err(e) => Err(e.0),
                }
            } else if let Some(s) = &src.secret {
                let optional = s.optional == Some(true);
                match self.source.secret(ns, &s.name).await {
                    Ok(Some(sec)) => payload::secret(&sec, s.items.as_deref(), default_mode, optional),
                    Ok(None) if optional => Ok(Payload::new()),
                    Ok(None) => Err(format!("secret \"{}\" not found", s.name)),
                    Err(e) => Err(e.0),
                }
            } else if let Some(d) = &src.downward_api {
                payload::downward_api(d.items.as_deref().unwrap_or_default(), pod, default_mode, &self.node)
            } else if let Some(t) = &src.service_account_token {
                let mode = if fs_group.is_some() { 0o600 } else { default_mode };
                let req = TokenRequest {
                    namespace: ns.to_string(),
                    service_account: pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.service_account_name.clone())
                        .unwrap_or_else(|| "default".into()),
                    audiences: t.audience.clone().filter(|a| !a.is_empty()).into_iter().collect(),
                    expiration_seconds: t.expiration_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS),
                    pod_name: pod.metadata.name.clone().unwrap_or_default(),
                    pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
                };
                self.token(&req).await.map(|tok| {
                    Payload::from([(
                        t.path.clone(),
                        FileProjection {
                            data: tok.token.into_bytes(),
                            mode,
                            uid: None,
                        },
                    )])
                })
            } else {
                Ok(Payload::new())
            };
            match part {
                Ok(files) => out.extend(files),
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => Ok(out),
            1 => Err(errors.remove(0)),
            _ => Err(format!("[{}]", errors.join(", "))),
        }
    }

    /// A token for `req`: the cached one until 80% of its requested life has passed.
    async fn token(&self, req: &TokenRequest) -> Result<IssuedToken, String> {
        let now = Timestamp::now();
        let cached = self.tokens.lock().ok().and_then(|t| t.get(req).cloned());
        if let Some(tok) = cached {
            let margin = SignedDuration::from_secs(req.expiration_seconds / 5);
            if tok.expires.checked_sub(margin).is_ok_and(|refresh_at| now < refresh_at) {
                return Ok(tok);
            }
        }
        let tok = self.source.token(req).await.map_err(|e| e.0)?;
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(req.clone(), tok.clone());
        }
        Ok(tok)
    }

    /// Unmounts the pod's tmpfs volumes and removes its volume and container
    /// files (`<pods-dir>/<uid>/volumes` and `containers`); forgets its tokens.
    pub async fn teardown(&self, pod_uid: &str) -> Result<(), VolumeError> {
        if let Ok(mut t) = self.tokens.lock() {
            t.retain(|k, _| k.pod_uid != pod_uid);
        }
        let fail = |message: String| VolumeError {
            volume: String::new(),
            message,
        };
        let vols = self.volumes_dir(pod_uid);
        for plugin in std::fs::read_dir(&vols).into_iter().flatten().flatten() {
            for vol in std::fs::read_dir(plugin.path()).into_iter().flatten().flatten() {
                let path = vol.path();
                if is_mount_point(&path) {
                    nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH)
                        .map_err(|e| fail(format!("cannot unmount {}: {e}", path.display())))?;
                }
            }
        }
        for dir in [vols, self.config.pods_dir().join(pod_uid).join("containers")] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(fail(format!("cannot remove {}: {e}", dir.display()))),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
