//! The workers' dependency traits implemented over the agent's real parts:
//! [`ImageService`], [`VolumeManager`] + [`containers::build_spec`](crate::containers::build_spec),
//! [`ProbeManager`] + [`hooks`](crate::probes::hooks), and the event recorder for the probes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod, Secret};

use super::deps::{BoxFut, PodConfig, PodImages, PodProbes, ProbeState, SpecError, VolumeHandle};
use super::events::EventRecorder;
use crate::containers::{self, SpecContext};
use crate::images::{DockerConfigJson, ImageInfo, ImageService, PullPolicy};
use crate::probes::hooks::{self, HookContext};
use crate::probes::{ProbeExec, ProbeManager};
use crate::runtime::{ContainerKind, ContainerSpec, Sandbox};
use crate::volumes::{PodVolumes, VolumeManager};

impl PodImages for ImageService {
    fn present<'a>(&'a self, image: &'a str) -> BoxFut<'a, anyhow::Result<Option<ImageInfo>>> {
        Box::pin(async move { self.get(image).await })
    }

    fn pull<'a>(&'a self, image: &'a str, secrets: &'a [Secret]) -> BoxFut<'a, Result<ImageInfo, String>> {
        Box::pin(async move {
            let auth = pull_auth(secrets);
            self.ensure(image, PullPolicy::Always, &auth)
                .await
                .map(|e| e.info)
                .map_err(|e| e.to_string())
        })
    }
}

/// Registry credentials from the pod's image pull secrets (unusable ones are skipped).
pub fn pull_auth(secrets: &[Secret]) -> Vec<DockerConfigJson> {
    secrets
        .iter()
        .filter_map(|s| {
            let data: BTreeMap<String, Vec<u8>> =
                s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
            DockerConfigJson::from_secret_data(&data).ok()
        })
        .collect()
}

/// Volumes and container specs from the config helper's parts.
pub struct RealConfig {
    /// Sets up the pods' volumes.
    pub volumes: Arc<VolumeManager>,
    /// What `build_spec` reads.
    pub ctx: SpecContext,
}

impl PodConfig for RealConfig {
    fn setup_volumes<'a>(&'a self, pod: &'a Pod) -> BoxFut<'a, Result<VolumeHandle, String>> {
        Box::pin(async move {
            self.volumes
                .setup(pod)
                .await
                .map(|v| Arc::new(v) as VolumeHandle)
                .map_err(|e| e.to_string())
        })
    }

    fn teardown_volumes<'a>(&'a self, pod_uid: &'a str) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move { self.volumes.teardown(pod_uid).await.map_err(anyhow::Error::from) })
    }

    fn build_spec<'a>(
        &'a self,
        pod: &'a Pod,
        container: &'a Container,
        kind: ContainerKind,
        attempt: u32,
        image: &'a ImageInfo,
        sandbox: &'a Sandbox,
        volumes: &'a VolumeHandle,
    ) -> BoxFut<'a, Result<ContainerSpec, SpecError>> {
        Box::pin(async move {
            let empty = PodVolumes::default();
            let vols = volumes.downcast_ref::<PodVolumes>().unwrap_or(&empty);
            containers::build_spec(&self.ctx, pod, container, kind, attempt, image, sandbox, vols)
                .await
                .map_err(|e| SpecError {
                    reason: e.reason().to_string(),
                    message: e.to_string(),
                })
        })
    }
}

/// Probes and hooks from the probes helper's parts.
pub struct RealProbes {
    /// The probe workers.
    pub manager: ProbeManager,
    /// Runs `exec` hooks in containers.
    pub exec: Arc<dyn ProbeExec>,
}

impl PodProbes for RealProbes {
    fn add_container(&self, pod: &Pod, container: &str, container_id: &str, started_at: Timestamp, sandbox: &Sandbox) {
        self.manager.add_container(
            pod,
            container,
            container_id,
            started_at,
            sandbox.netns.clone(),
            sandbox.pod_ips.first().copied(),
        );
    }

    fn remove_container(&self, container_id: &str) {
        self.manager.remove_container(container_id);
    }

    fn status(&self, container_id: &str) -> Option<ProbeState> {
        let s = self.manager.status(container_id);
        let failure = s.liveness_failure.or(s.startup_failure);
        Some(ProbeState {
            started: s.started,
            ready: s.ready,
            liveness_failure: failure.map(|m| format!("{m}, will be restarted")),
            termination_grace: s.termination_grace,
        })
    }

    fn run_hook<'a>(
        &'a self,
        sandbox: &'a Sandbox,
        pod: &'a Pod,
        container: &'a Container,
        container_id: &'a str,
        handler: &'a LifecycleHandler,
        timeout: Duration,
    ) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let ctx = HookContext {
                exec: self.exec.as_ref(),
                pod,
                container,
                container_id,
                netns: &sandbox.netns,
                pod_ip: sandbox.pod_ips.first().copied(),
            };
            match tokio::time::timeout(timeout, hooks::run(&ctx, handler)).await {
                Ok(r) => r,
                // A hook still running when its time is up is left behind, as the kubelet does.
                Err(_) => Ok(()),
            }
        })
    }
}

impl crate::probes::EventSink for EventRecorder {
    fn event(&self, pod: &Pod, type_: &str, reason: &str, message: String, field_path: Option<String>) {
        super::deps::EventSink::event(self, pod, field_path.as_deref(), type_, reason, message);
    }
}
