//! One pod's worker: a level-triggered sync that reads the pod and the
//! container instances containerd has for it, takes the next steps (sandbox,
//! volumes, images, init containers one by one, app containers, restarts with
//! back-off, liveness kills, graceful termination) and writes the status.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, PodStatus, Secret};
use rand::RngCore;
use serde_json::Value;
use tracing::{debug, warn};

use super::backoff::{go_duration, Backoff};
use super::deps::{Deps, VolumeHandle};
use super::status::{
    self, format_pod, instances_of, is_restartable_init, restart_policy, should_restart, ImageRef, ProbeView,
    StatusInput, Waiting,
};
use crate::images::ImageInfo;
use crate::runtime::{ContainerInfo, ContainerKind, ContainerRunState, Sandbox};

/// The kubelet's shortest grace period for stopping a container.
pub const MIN_GRACE: Duration = Duration::from_secs(2);
/// How often volumes are set up again (refreshing configMap/secret contents).
const VOLUME_RESYNC: Duration = Duration::from_secs(60);
/// Retry delay after a failed sandbox or volume step.
const RETRY: Duration = Duration::from_secs(10);

/// Container ID → pod UID, shared with the manager (to route exit events).
pub type IdIndex = Arc<Mutex<HashMap<String, String>>>;

/// What a sync asks of the worker loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sync again on the next change, or after this long at the latest.
    Again(Option<Duration>),
    /// The pod is gone and cleaned up: the worker ends.
    Done,
}

/// The node facts the status needs.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// The node's name.
    pub name: String,
    /// The node's IPs (hostIP(s)).
    pub ips: Vec<IpAddr>,
}

/// The state one pod's worker keeps between syncs.
pub struct Worker {
    deps: Deps,
    node: NodeFacts,
    uid: String,
    ids: IdIndex,
    waiting: HashMap<String, Waiting>,
    crash: Backoff,
    pull: Backoff,
    pull_errors: HashMap<String, String>,
    sandbox: Option<Sandbox>,
    volumes: Option<(VolumeHandle, Instant)>,
    images: HashMap<String, ImageRef>,
    probed: HashSet<String>,
    released: bool,
    written: Option<Value>,
    wake: Option<Duration>,
}

fn field_path(kind: ContainerKind, name: &str) -> String {
    match kind {
        ContainerKind::Init => format!("spec.initContainers{{{name}}}"),
        ContainerKind::App => format!("spec.containers{{{name}}}"),
    }
}

/// kubelet's `applyDefaultImageTag`: `busybox` → `busybox:latest` (used in pull messages).
pub fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// The default pull policy: `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn new_container_id() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The grace period for stopping the pod's containers.
pub fn grace_period(pod: &Pod) -> Duration {
    let secs = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30);
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

fn is_terminal_phase(p: Option<&str>) -> bool {
    matches!(p, Some("Succeeded") | Some("Failed"))
}

impl Worker {
    /// A worker for the pod with `uid`.
    pub fn new(deps: Deps, node: NodeFacts, uid: String, ids: IdIndex) -> Worker {
        let crash = Backoff::kubelet(deps.clock.clone());
        let pull = Backoff::kubelet(deps.clock.clone());
        Worker {
            deps,
            node,
            uid,
            ids,
            waiting: HashMap::new(),
            crash,
            pull,
            pull_errors: HashMap::new(),
            sandbox: None,
            volumes: None,
            images: HashMap::new(),
            probed: HashSet::new(),
            released: false,
            written: None,
            wake: None,
        }
    }

    fn want_wake(&mut self, d: Duration) {
        self.wake = Some(self.wake.map_or(d, |w| w.min(d)));
    }

    fn event(&self, pod: &Pod, fp: Option<&str>, type_: &str, reason: &str, message: String) {
        self.deps.events.event(pod, fp, type_, reason, message);
    }

    fn set_waiting(&mut self, name: &str, reason: &str, message: String) {
        self.waiting.insert(
            name.to_string(),
            Waiting {
                reason: reason.to_string(),
                message,
            },
        );
    }

    /// The pod's container instances, recording their IDs for exit routing.
    async fn list(&self) -> anyhow::Result<Vec<ContainerInfo>> {
        let mine = self.deps.runtime.list_pod_containers(&self.uid).await?;
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        for c in &mine {
            ids.insert(c.id.clone(), self.uid.clone());
        }
        Ok(mine)
    }

    /// One sync. `pod` is `None` once the pod is gone from the API.
    pub async fn sync(&mut self, pod: Option<&Pod>) -> Outcome {
        self.wake = None;
        let result = match pod {
            None => self.cleanup(None).await.map(|_| Outcome::Done),
            Some(p) if p.metadata.deletion_timestamp.is_some() => self.terminate(p).await.map(|_| Outcome::Done),
            Some(p) => self.sync_pod(p).await.map(|_| Outcome::Again(self.wake)),
        };
        match result {
            Ok(o) => o,
            Err(e) => {
                warn!(pod_uid = %self.uid, error = format!("{e:#}"), "pod sync failed");
                Outcome::Again(Some(RETRY))
            }
        }
    }

    async fn sync_pod(&mut self, pod: &Pod) -> anyhow::Result<()> {
        let containers = self.list().await?;
        let api_phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let written_phase = self.written.as_ref().and_then(|s| s["phase"].as_str());
        if is_terminal_phase(api_phase) || is_terminal_phase(written_phase) {
            // Finished pods keep their stopped containers (for logs) until deleted.
            self.stop_all(pod, &containers, MIN_GRACE).await;
            self.release().await;
            let containers = self.list().await?;
            return self.write_status(pod, &containers, true).await;
        }

        // Volumes are mounted while the sandbox is made (the kubelet mounts them
        // first; neither needs the other), so a pod's first sync waits for the
        // slower of the two, not both.
        let need_sandbox = self.sandbox.is_none();
        let need_volumes = self
            .volumes
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() >= VOLUME_RESYNC);
        let deps = &self.deps;
        let (sandbox, volumes) = tokio::join!(
            async {
                if need_sandbox {
                    Some(deps.runtime.ensure_sandbox(pod).await)
                } else {
                    None
                }
            },
            async {
                if need_volumes {
                    Some(deps.config.setup_volumes(pod).await)
                } else {
                    None
                }
            },
        );
        match volumes {
            Some(Ok(v)) => self.volumes = Some((v, Instant::now())),
            Some(Err(msg)) if self.volumes.is_none() => {
                self.event(pod, None, "Warning", "FailedMount", msg);
                self.want_wake(RETRY);
                return self.write_status(pod, &containers, false).await;
            }
            Some(Err(msg)) => self.event(pod, None, "Warning", "FailedMount", msg),
            None => {}
        }
        match sandbox {
            Some(Ok(s)) => self.sandbox = Some(s),
            Some(Err(e)) => {
                self.event(
                    pod,
                    None,
                    "Warning",
                    "FailedCreatePodSandBox",
                    format!("Failed to create pod sandbox: {e:#}"),
                );
                self.want_wake(RETRY);
                return self.write_status(pod, &containers, false).await;
            }
            None => {}
        }

        self.prune(&containers).await;
        if self.sync_init(pod, &containers).await {
            self.sync_apps(pod, &containers).await;
        }
        let containers = self.list().await?;
        self.register_probes(pod, &containers);
        self.write_status(pod, &containers, false).await?;
        if is_terminal_phase(self.written.as_ref().and_then(|s| s["phase"].as_str())) {
            // The pod just finished: release its sandbox and volumes on the next sync.
            self.want_wake(Duration::ZERO);
        }
        Ok(())
    }

    /// Runs init containers one at a time; true once all have succeeded.
    async fn sync_init(&mut self, pod: &Pod, containers: &[ContainerInfo]) -> bool {
        let spec = pod.spec.clone().unwrap_or_default();
        for c in spec.init_containers.iter().flatten() {
            let inst = instances_of(containers, &c.name, ContainerKind::Init);
            let latest = inst.first().copied();
            let sidecar = is_restartable_init(c);
            match latest.map(|l| &l.state) {
                Some(ContainerRunState::Exited { exit_code: 0, .. }) if !sidecar => continue,
                Some(ContainerRunState::Running { .. }) => {
                    if sidecar {
                        continue;
                    }
                    return false;
                }
                Some(ContainerRunState::Exited { .. }) if !sidecar && restart_policy(&spec) == "Never" => {
                    // A failed init container fails the pod.
                    return false;
                }
                Some(_) => {
                    let Some(l) = latest else { return false };
                    let started = self.restart(pod, c, ContainerKind::Init, l).await;
                    if !(sidecar && started) {
                        return false;
                    }
                }
                None => {
                    let started = self.start(pod, c, ContainerKind::Init, 0).await;
                    if !(sidecar && started) {
                        return false;
                    }
                }
            }
        }
        true
    }

    async fn sync_apps(&mut self, pod: &Pod, containers: &[ContainerInfo]) {
        let spec = pod.spec.clone().unwrap_or_default();
        for c in &spec.containers {
            let inst = instances_of(containers, &c.name, ContainerKind::App);
            let latest = inst.first().copied();
            match latest {
                None => {
                    self.start(pod, c, ContainerKind::App, 0).await;
                }
                Some(l) => match &l.state {
                    ContainerRunState::Running { .. } => {
                        let state = self.deps.probes.status(&l.id).unwrap_or_default();
                        if let Some(message) = state.liveness_failure {
                            let grace = state
                                .termination_grace
                                .map(|g| Duration::from_secs(u64::try_from(g).unwrap_or(0)));
                            self.kill(pod, c, ContainerKind::App, l, message, grace).await;
                            self.want_wake(Duration::ZERO);
                        }
                    }
                    _ if !should_restart(c, pod, Some(l)) => {}
                    _ => {
                        self.restart(pod, c, ContainerKind::App, l).await;
                    }
                },
            }
        }
    }

    /// Starts the next instance after `latest`, unless the crash back-off holds it.
    async fn restart(&mut self, pod: &Pod, c: &Container, kind: ContainerKind, latest: &ContainerInfo) -> bool {
        let key = format!("{}/{}", self.uid, c.name);
        if let ContainerRunState::Exited { finished_at, .. } = &latest.state {
            if let Some(left) = self.crash.remaining_since(&key, *finished_at) {
                let fp = field_path(kind, &c.name);
                self.event(
                    pod,
                    Some(&fp),
                    "Warning",
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {} in pod {}",
                        c.name,
                        format_pod(pod)
                    ),
                );
                let message = format!(
                    "back-off {} restarting failed container={} pod={}",
                    go_duration(self.crash.get(&key)),
                    c.name,
                    format_pod(pod)
                );
                self.set_waiting(&c.name, "CrashLoopBackOff", message);
                self.want_wake(left);
                return false;
            }
            self.crash.next(&key, *finished_at);
        } else if latest.state == ContainerRunState::Created {
            // Created but never started (a failed start): replace it.
            if let Err(e) = self.deps.runtime.remove_container(&latest.id).await {
                warn!(
                    container = latest.id,
                    error = format!("{e:#}"),
                    "removing an unstarted container failed"
                );
            }
        }
        self.start(pod, c, kind, latest.attempt + 1).await
    }

    /// Makes the image present as the pull policy says, with events and back-off.
    async fn ensure_image(&mut self, pod: &Pod, c: &Container, fp: &str) -> Option<ImageInfo> {
        let image = c.image.clone().unwrap_or_default();
        let policy = c
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| default_pull_policy(&image).to_string());
        let present = match self.deps.images.present(&image).await {
            Ok(p) => p,
            Err(e) => {
                debug!(image, error = format!("{e:#}"), "image lookup failed");
                None
            }
        };
        if policy == "Never" || (policy == "IfNotPresent" && present.is_some()) {
            if let Some(info) = present {
                self.event(
                    pod,
                    Some(fp),
                    "Normal",
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                );
                return Some(info);
            }
            let msg = format!("Container image \"{image}\" is not present with pull policy of Never");
            self.event(pod, Some(fp), "Warning", "ErrImageNeverPull", msg.clone());
            self.event(pod, Some(fp), "Warning", "Failed", "Error: ErrImageNeverPull".into());
            self.set_waiting(&c.name, "ErrImageNeverPull", msg);
            return None;
        }
        let requested = image;
        let image = with_default_tag(&requested);
        let key = format!("{}_{}", self.uid, image);
        if let Some(left) = self.pull.remaining_since_update(&key) {
            let mut msg = format!("Back-off pulling image \"{image}\"");
            self.event(pod, Some(fp), "Normal", "BackOff", msg.clone());
            if let Some(prev) = self.pull_errors.get(&key) {
                msg = format!("{msg}: {prev}");
            }
            self.event(pod, Some(fp), "Warning", "Failed", "Error: ImagePullBackOff".into());
            self.set_waiting(&c.name, "ImagePullBackOff", msg);
            self.want_wake(left);
            return None;
        }
        self.event(pod, Some(fp), "Normal", "Pulling", format!("Pulling image \"{image}\""));
        let secrets = self.pull_secrets(pod).await;
        let started = Instant::now();
        match self.deps.images.pull(&requested, &secrets).await {
            Ok(info) => {
                let took = go_duration(started.elapsed());
                self.event(
                    pod,
                    Some(fp),
                    "Normal",
                    "Pulled",
                    format!(
                        "Successfully pulled image \"{image}\" in {took} ({took} including waiting). Image size: {} bytes.",
                        info.size
                    ),
                );
                self.pull.reset(&key);
                self.pull_errors.remove(&key);
                Some(info)
            }
            Err(msg) => {
                self.event(
                    pod,
                    Some(fp),
                    "Warning",
                    "Failed",
                    format!("Failed to pull image \"{image}\": {msg}"),
                );
                let now = self.deps.clock.now();
                self.pull.next(&key, now);
                self.pull_errors.insert(key.clone(), format!("ErrImagePull: {msg}"));
                self.event(pod, Some(fp), "Warning", "Failed", "Error: ErrImagePull".into());
                self.set_waiting(&c.name, "ErrImagePull", msg);
                if let Some(left) = self.pull.remaining_since_update(&key) {
                    self.want_wake(left);
                }
                None
            }
        }
    }

    async fn pull_secrets(&self, pod: &Pod) -> Vec<Secret> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let mut out = Vec::new();
        let refs = pod
            .spec
            .as_ref()
            .and_then(|s| s.image_pull_secrets.clone())
            .unwrap_or_default();
        for r in refs {
            match self.deps.api.get_secret(ns, &r.name).await {
                Ok(Some(s)) => out.push(s),
                Ok(None) => {}
                Err(e) => debug!(secret = r.name, error = format!("{e:#}"), "pull secret unreadable"),
            }
        }
        out
    }

    /// Creates and starts one container instance; false when a step failed
    /// (the reason is recorded for the status).
    async fn start(&mut self, pod: &Pod, c: &Container, kind: ContainerKind, attempt: u32) -> bool {
        let fp = field_path(kind, &c.name);
        let Some(sandbox) = self.sandbox.clone() else {
            return false;
        };
        let Some((volumes, _)) = self.volumes.clone() else {
            return false;
        };
        let Some(image) = self.ensure_image(pod, c, &fp).await else {
            return false;
        };
        self.images.insert(image.id.clone(), ImageRef::from_info(&image));
        let built = self
            .deps
            .config
            .build_spec(pod, c, kind, attempt, &image, &sandbox, &volumes)
            .await;
        let mut spec = match built {
            Ok(s) => s,
            Err(e) => {
                self.event(pod, Some(&fp), "Warning", "Failed", format!("Error: {}", e.message));
                self.set_waiting(&c.name, &e.reason, e.message);
                return false;
            }
        };
        if spec.id.is_empty() {
            spec.id = new_container_id();
        }
        if let Err(e) = self.deps.runtime.create_container(&sandbox, &spec).await {
            let msg = format!("{e:#}");
            self.event(pod, Some(&fp), "Warning", "Failed", format!("Error: {msg}"));
            self.set_waiting(&c.name, "CreateContainerError", msg);
            return false;
        }
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(spec.id.clone(), self.uid.clone());
        self.event(
            pod,
            Some(&fp),
            "Normal",
            "Created",
            format!("Created container: {}", c.name),
        );
        let started_at = match self.deps.runtime.start_container(&spec.id).await {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("{e:#}");
                self.event(pod, Some(&fp), "Warning", "Failed", format!("Error: {msg}"));
                self.set_waiting(&c.name, "RunContainerError", msg);
                return false;
            }
        };
        self.event(
            pod,
            Some(&fp),
            "Normal",
            "Started",
            format!("Started container {}", c.name),
        );
        self.waiting.remove(&c.name);
        if kind == ContainerKind::App || is_restartable_init(c) {
            self.deps
                .probes
                .add_container(pod, &c.name, &spec.id, started_at, &sandbox);
            self.probed.insert(spec.id.clone());
        }
        if let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            let timeout = grace_period(pod).max(MIN_GRACE);
            if let Err(msg) = self
                .deps
                .probes
                .run_hook(&sandbox, pod, c, &spec.id, hook, timeout)
                .await
            {
                debug!(container = c.name, msg, "postStart hook failed");
                self.event(
                    pod,
                    Some(&fp),
                    "Warning",
                    "FailedPostStartHook",
                    "PostStartHook failed".into(),
                );
                self.stop_one(pod, c, kind, &spec.id, Some("FailedPostStartHook".to_string()), None)
                    .await;
                self.set_waiting(&c.name, "PostStartHookError", msg);
                return false;
            }
        }
        true
    }

    /// Stops one instance: preStop hook (app containers), `Killing` event, stop with the grace left.
    async fn stop_one(
        &self,
        pod: &Pod,
        c: &Container,
        kind: ContainerKind,
        id: &str,
        message: Option<String>,
        grace_override: Option<Duration>,
    ) {
        let fp = field_path(kind, &c.name);
        let mut grace = grace_override.unwrap_or_else(|| grace_period(pod));
        let started = Instant::now();
        if let (Some(hook), Some(sandbox)) = (c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()), &self.sandbox) {
            if let Err(msg) = self.deps.probes.run_hook(sandbox, pod, c, id, hook, grace).await {
                self.event(pod, Some(&fp), "Warning", "FailedPreStopHook", msg);
            }
            grace = grace.saturating_sub(started.elapsed());
        }
        let grace = grace.max(MIN_GRACE);
        let message = message.unwrap_or_else(|| format!("Stopping container {}", c.name));
        self.event(pod, Some(&fp), "Normal", "Killing", message);
        if let Err(e) = self.deps.runtime.stop_container(id, grace).await {
            warn!(container = id, error = format!("{e:#}"), "stopping a container failed");
        }
        self.deps.probes.remove_container(id);
    }

    async fn kill(
        &mut self,
        pod: &Pod,
        c: &Container,
        kind: ContainerKind,
        inst: &ContainerInfo,
        message: String,
        grace: Option<Duration>,
    ) {
        self.stop_one(pod, c, kind, &inst.id, Some(message), grace).await;
        self.probed.remove(&inst.id);
    }

    /// Stops every running instance of the pod, concurrently.
    async fn stop_all(&mut self, pod: &Pod, containers: &[ContainerInfo], _min: Duration) {
        let spec = pod.spec.clone().unwrap_or_default();
        let this: &Worker = self;
        let mut stops = Vec::new();
        for inst in containers {
            if !matches!(
                inst.state,
                ContainerRunState::Running { .. } | ContainerRunState::Created
            ) {
                continue;
            }
            let list = match inst.kind {
                ContainerKind::App => &spec.containers,
                ContainerKind::Init => spec.init_containers.as_ref().unwrap_or(&spec.containers),
            };
            let c = list
                .iter()
                .find(|c| c.name == inst.name)
                .cloned()
                .unwrap_or_else(|| Container {
                    name: inst.name.clone(),
                    ..Default::default()
                });
            let id = inst.id.clone();
            let kind = inst.kind;
            stops.push(async move { this.stop_one(pod, &c, kind, &id, None, None).await });
        }
        futures::future::join_all(stops).await;
        for inst in containers {
            self.probed.remove(&inst.id);
        }
    }

    /// Removes exited instances beyond the newest two of each container.
    async fn prune(&self, containers: &[ContainerInfo]) {
        let mut seen: HashMap<(String, bool), usize> = HashMap::new();
        let mut sorted: Vec<&ContainerInfo> = containers.iter().collect();
        sorted.sort_by_key(|c| std::cmp::Reverse(c.attempt));
        for c in sorted {
            let n = seen.entry((c.name.clone(), c.kind == ContainerKind::Init)).or_default();
            *n += 1;
            if *n > 2 && matches!(c.state, ContainerRunState::Exited { .. }) {
                if let Err(e) = self.deps.runtime.remove_container(&c.id).await {
                    warn!(
                        container = c.id,
                        error = format!("{e:#}"),
                        "removing an old instance failed"
                    );
                }
            }
        }
    }

    /// Starts probe workers for running instances not registered yet (adopted ones).
    fn register_probes(&mut self, pod: &Pod, containers: &[ContainerInfo]) {
        let Some(sandbox) = self.sandbox.clone() else { return };
        let spec = pod.spec.clone().unwrap_or_default();
        for inst in containers {
            if !matches!(inst.state, ContainerRunState::Running { .. }) || self.probed.contains(&inst.id) {
                continue;
            }
            let probed = match inst.kind {
                ContainerKind::App => true,
                ContainerKind::Init => spec
                    .init_containers
                    .iter()
                    .flatten()
                    .any(|c| c.name == inst.name && is_restartable_init(c)),
            };
            if probed {
                let ContainerRunState::Running { started_at } = inst.state else {
                    continue;
                };
                self.deps
                    .probes
                    .add_container(pod, &inst.name, &inst.id, started_at, &sandbox);
                self.probed.insert(inst.id.clone());
            }
        }
    }

    /// Releases a finished pod's sandbox and volumes (once).
    async fn release(&mut self) {
        if self.released {
            return;
        }
        if let Err(e) = self.deps.runtime.remove_sandbox(&self.uid).await {
            warn!(pod_uid = %self.uid, error = format!("{e:#}"), "removing the sandbox failed");
        }
        if let Err(e) = self.deps.config.teardown_volumes(&self.uid).await {
            warn!(pod_uid = %self.uid, error = format!("{e:#}"), "tearing down volumes failed");
        }
        self.released = true;
    }

    /// Graceful termination of a deleted pod, then its final deletion.
    async fn terminate(&mut self, pod: &Pod) -> anyhow::Result<()> {
        let containers = self.list().await?;
        if self.sandbox.is_none() && !self.released {
            // Adopted after a restart: hooks need the sandbox.
            self.sandbox = self.deps.runtime.ensure_sandbox(pod).await.ok();
        }
        self.stop_all(pod, &containers, MIN_GRACE).await;
        let containers = self.list().await?;
        self.write_status(pod, &containers, true).await?;
        self.cleanup(Some(pod)).await?;
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or("");
        self.deps.api.delete_pod(ns, name, &self.uid).await?;
        Ok(())
    }

    /// Stops and removes everything the pod has on the node.
    async fn cleanup(&mut self, pod: Option<&Pod>) -> anyhow::Result<()> {
        let containers = self.list().await?;
        for c in &containers {
            if matches!(c.state, ContainerRunState::Running { .. }) {
                if pod.is_none() {
                    self.deps.runtime.stop_container(&c.id, MIN_GRACE).await?;
                }
                self.deps.probes.remove_container(&c.id);
            }
            self.deps.runtime.remove_container(&c.id).await?;
            self.ids.lock().unwrap_or_else(|p| p.into_inner()).remove(&c.id);
        }
        self.released = false;
        self.release().await;
        Ok(())
    }

    /// Computes the status and patches it when it changed.
    async fn write_status(&mut self, pod: &Pod, containers: &[ContainerInfo], terminal: bool) -> anyhow::Result<()> {
        let api_status = pod.status.clone().unwrap_or_default();
        let old: PodStatus = match &self.written {
            Some(v) => serde_json::from_value(v.clone()).unwrap_or_else(|_| api_status.clone()),
            None => api_status.clone(),
        };
        for c in containers {
            if !self.images.contains_key(&c.image_id) {
                if let Ok(Some(info)) = self.deps.images.present(&c.image_ref).await {
                    self.images.insert(info.id.clone(), ImageRef::from_info(&info));
                }
            }
        }
        let mut probes = HashMap::new();
        for c in containers {
            if let Some(p) = self.deps.probes.status(&c.id) {
                probes.insert(
                    c.id.clone(),
                    ProbeView {
                        started: p.started,
                        ready: p.ready,
                    },
                );
            }
        }
        let sandbox_ready = self.sandbox.is_some() && !self.released && !terminal;
        let pod_ips = self.sandbox.as_ref().map(|s| s.pod_ips.clone()).unwrap_or_default();
        let st = status::generate(&StatusInput {
            pod,
            old: &old,
            containers,
            waiting: &self.waiting,
            probes: &probes,
            images: &self.images,
            sandbox_ready,
            pod_ips: &pod_ips,
            host_ips: &self.node.ips,
            terminal,
            now: self.deps.clock.now(),
        });
        let new = status::to_value(&st);
        let current = match &self.written {
            Some(v) => v.clone(),
            None => pod.status.as_ref().map(status::to_value).unwrap_or(Value::Null),
        };
        if let Some(patch) = status::status_patch(&self.uid, &current, &new) {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let name = pod.metadata.name.as_deref().unwrap_or("");
            self.deps.api.patch_status(ns, name, &patch).await?;
        }
        self.written = Some(new);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
