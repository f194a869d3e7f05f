//! What volume setup hands to container building.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The kind of a pod volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// `emptyDir` (on disk or tmpfs).
    EmptyDir,
    /// `hostPath`.
    HostPath,
    /// `configMap`.
    ConfigMap,
    /// `secret`.
    Secret,
    /// `downwardAPI`.
    DownwardApi,
    /// `projected`.
    Projected,
}

impl VolumeKind {
    /// Whether the kubelet mounts it read-only into containers (the API data volumes).
    pub fn always_read_only(self) -> bool {
        matches!(
            self,
            VolumeKind::ConfigMap | VolumeKind::Secret | VolumeKind::DownwardApi | VolumeKind::Projected
        )
    }
}

/// One volume ready to be mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedVolume {
    /// Its directory (or file, for a hostPath file) on the host.
    pub host_path: PathBuf,
    /// Its kind.
    pub kind: VolumeKind,
}

/// A pod's volumes by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodVolumes {
    /// Volumes by their name in the pod spec.
    pub volumes: BTreeMap<String, MountedVolume>,
}
