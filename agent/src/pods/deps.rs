//! What the pod workers need from the rest of the agent, as small traits so
//! that the sync decisions can be tested with fakes. [`crate::pods::real`]
//! implements them over the real runtime, image service, volumes, probes and API.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod, Secret};
use serde_json::Value;

use crate::images::ImageInfo;
use crate::runtime::{ContainerInfo, ContainerKind, ContainerSpec, Sandbox};

/// A boxed, sendable future.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The container runtime, as the workers use it.
pub trait PodRuntime: Send + Sync {
    /// Creates or re-opens the pod's sandbox.
    fn ensure_sandbox<'a>(&'a self, pod: &'a Pod) -> BoxFut<'a, anyhow::Result<Sandbox>>;
    /// Removes the pod's sandbox (namespaces, files, cgroup).
    fn remove_sandbox<'a>(&'a self, pod_uid: &'a str) -> BoxFut<'a, anyhow::Result<()>>;
    /// UIDs of the pods with a sandbox on this node.
    fn list_sandboxes(&self) -> BoxFut<'_, anyhow::Result<Vec<String>>>;
    /// Creates a container (not started).
    fn create_container<'a>(&'a self, sandbox: &'a Sandbox, spec: &'a ContainerSpec) -> BoxFut<'a, anyhow::Result<()>>;
    /// Starts a created container.
    fn start_container<'a>(&'a self, id: &'a str) -> BoxFut<'a, anyhow::Result<Timestamp>>;
    /// SIGTERM, wait up to `grace`, SIGKILL.
    fn stop_container<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFut<'a, anyhow::Result<()>>;
    /// Removes a stopped container.
    fn remove_container<'a>(&'a self, id: &'a str) -> BoxFut<'a, anyhow::Result<()>>;
    /// Every container instance on the node.
    fn list_containers(&self) -> BoxFut<'_, anyhow::Result<Vec<ContainerInfo>>>;
    /// The container instances of one pod (override with a label-filtered list when cheaper).
    fn list_pod_containers<'a>(&'a self, pod_uid: &'a str) -> BoxFut<'a, anyhow::Result<Vec<ContainerInfo>>> {
        Box::pin(async move {
            let all = self.list_containers().await?;
            Ok(all.into_iter().filter(|c| c.pod_uid == pod_uid).collect())
        })
    }
}

/// Why an image could not be made present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullFailure {
    /// The registry pull failed (`ErrImagePull`), with the error text.
    Pull(String),
    /// `imagePullPolicy: Never` and the image is missing (`ErrImageNeverPull`).
    NeverPull,
}

/// Images, as the workers use them (the pull-policy decision is the worker's).
pub trait PodImages: Send + Sync {
    /// The image if it is present on the node.
    fn present<'a>(&'a self, image: &'a str) -> BoxFut<'a, anyhow::Result<Option<ImageInfo>>>;
    /// Pulls the image with the pod's pull secrets.
    fn pull<'a>(&'a self, image: &'a str, secrets: &'a [Secret]) -> BoxFut<'a, Result<ImageInfo, String>>;
}

/// A pod's set-up volumes, opaque to the worker.
pub type VolumeHandle = Arc<dyn Any + Send + Sync>;

/// Why a container spec could not be built: the waiting reason
/// (`CreateContainerConfigError` or `CreateContainerError`) and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The container's waiting reason.
    pub reason: String,
    /// The message (status and `Failed` event).
    pub message: String,
}

impl SpecError {
    /// A `CreateContainerConfigError`.
    pub fn config(message: impl Into<String>) -> SpecError {
        SpecError {
            reason: "CreateContainerConfigError".into(),
            message: message.into(),
        }
    }
}

/// Volumes and container specs (the config helper's parts).
pub trait PodConfig: Send + Sync {
    /// Sets up (or refreshes) the pod's volumes; the error text goes into `FailedMount`.
    fn setup_volumes<'a>(&'a self, pod: &'a Pod) -> BoxFut<'a, Result<VolumeHandle, String>>;
    /// Removes the pod's volumes.
    fn teardown_volumes<'a>(&'a self, pod_uid: &'a str) -> BoxFut<'a, anyhow::Result<()>>;
    /// Builds a container's spec.
    #[allow(clippy::too_many_arguments)]
    fn build_spec<'a>(
        &'a self,
        pod: &'a Pod,
        container: &'a Container,
        kind: ContainerKind,
        attempt: u32,
        image: &'a ImageInfo,
        sandbox: &'a Sandbox,
        volumes: &'a VolumeHandle,
    ) -> BoxFut<'a, Result<ContainerSpec, SpecError>>;
}

/// What the probe workers know of one container instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeState {
    /// The startup probe succeeded (or there is none).
    pub started: bool,
    /// The readiness probe's last result is success (or there is none).
    pub ready: bool,
    /// Set when the liveness (or startup) probe failed for good: the event message
    /// (`Container x failed liveness probe, will be restarted`).
    pub liveness_failure: Option<String>,
    /// The failing probe's `terminationGracePeriodSeconds`, overriding the pod's for that kill.
    pub termination_grace: Option<i64>,
}

/// Probes and lifecycle hooks.
pub trait PodProbes: Send + Sync {
    /// Starts the probe workers of a running container instance (started at `started_at`).
    fn add_container(&self, pod: &Pod, container: &str, container_id: &str, started_at: Timestamp, sandbox: &Sandbox);
    /// Stops the probe workers of an instance.
    fn remove_container(&self, container_id: &str);
    /// The instance's probe results (`None`: not known to the probe manager).
    fn status(&self, container_id: &str) -> Option<ProbeState>;
    /// Runs a lifecycle hook (`postStart`/`preStop`) for at most `timeout`; the
    /// error text is the kubelet's failure message.
    #[allow(clippy::too_many_arguments)]
    fn run_hook<'a>(
        &'a self,
        sandbox: &'a Sandbox,
        pod: &'a Pod,
        container: &'a Container,
        container_id: &'a str,
        handler: &'a LifecycleHandler,
        timeout: Duration,
    ) -> BoxFut<'a, Result<(), String>>;
}

/// The API calls of the workers.
pub trait PodApi: Send + Sync {
    /// Patches `pods/status` with a JSON merge patch.
    fn patch_status<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        patch: &'a Value,
    ) -> BoxFut<'a, anyhow::Result<Value>>;
    /// Deletes the pod for good (`gracePeriodSeconds=0`, UID precondition).
    fn delete_pod<'a>(&'a self, namespace: &'a str, name: &'a str, uid: &'a str) -> BoxFut<'a, anyhow::Result<()>>;
    /// Reads a secret (image pull secrets); `None` when missing.
    fn get_secret<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFut<'a, anyhow::Result<Option<Secret>>>;
}

/// Where the workers' events go.
pub trait EventSink: Send + Sync {
    /// Records an event about the pod (`field_path`: `spec.containers{name}`…).
    fn event(&self, pod: &Pod, field_path: Option<&str>, type_: &str, reason: &str, message: String);
}

/// Everything a worker uses.
#[derive(Clone)]
pub struct Deps {
    /// Containers and sandboxes.
    pub runtime: Arc<dyn PodRuntime>,
    /// Images.
    pub images: Arc<dyn PodImages>,
    /// Volumes and container specs.
    pub config: Arc<dyn PodConfig>,
    /// Probes and hooks.
    pub probes: Arc<dyn PodProbes>,
    /// The API.
    pub api: Arc<dyn PodApi>,
    /// Events.
    pub events: Arc<dyn EventSink>,
    /// The clock (back-off, status times).
    pub clock: Arc<dyn crate::pods::backoff::Clock>,
}
