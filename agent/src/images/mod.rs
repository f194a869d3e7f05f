//! Images: Docker-style name normalisation, registry pulls, `docker save`/OCI
//! archive import, unpacking layers into snapshots, listing.
//!
//! - [`reference`]: Docker name normalisation and the pull-policy decision.
//! - [`auth`]: `imagePullSecrets` (`.dockerconfigjson`/`.dockercfg`) credentials.
//! - [`oci`]: image documents, media types, digests, chain IDs, platform choice.
//! - [`store`]: containerd Content/Images/Snapshots/Diff/Leases plumbing.
//! - [`archive`] + [`import`]: streaming `docker save`/OCI archive import.
//! - [`pull`]: registry pulls with oci-client.
//! - [`service`]: [`ImageService`], the API the rest of the agent uses.

pub mod archive;
pub mod auth;
pub mod import;
pub mod oci;
pub mod pull;
pub mod reference;
pub mod service;
pub mod store;

pub use archive::{Progress, ProgressFn};
pub use auth::{Credential, DockerConfigJson};
pub use reference::{normalize, PullPolicy, Reference};
pub use service::{Ensured, ImageError, ImageOptions, ImageService};

/// An image ready to run: what the runtime needs to make a container from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// The normalised name containerd knows it by (`docker.io/library/busybox:1.36`).
    pub name: String,
    /// The image ID: the digest of its config (`sha256:…`), as `kubectl describe` shows it.
    pub id: String,
    /// `repo@sha256:` digests (the manifest/index digest), for `imageID` in pod status.
    pub repo_digests: Vec<String>,
    /// The chain ID of its top layer: the committed snapshot containers are made from.
    pub chain_id: String,
    /// The snapshotter it was unpacked with (`overlayfs`).
    pub snapshotter: String,
    /// Size in bytes (compressed content), for `node.status.images`.
    pub size: u64,
    /// The run settings of the image config.
    pub config: ImageConfig,
}

/// The parts of an OCI image config that decide how a container runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env` (`NAME=value`).
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `User` (`uid`, `uid:gid`, `name`…).
    pub user: String,
}
