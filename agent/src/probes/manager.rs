//! The probe manager: workers per container instance, their results (the
//! kubelet's liveness/readiness/startup results managers) and the channel that
//! wakes pod workers when a result changes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::{Pod, Probe};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use super::dial::PodNet;
use super::prober::{ProbeType, Target};
use super::worker::Worker;
use super::{EventSink, ProbeExec};

/// What the probes say about one container instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeState {
    /// `containerStatuses[].started`: no startup probe, or it succeeded.
    pub started: bool,
    /// Started and, with a readiness probe, its last result past the
    /// threshold was success (false until then). Only meaningful while the
    /// container runs.
    pub ready: bool,
    /// Set once the liveness probe failed `failureThreshold` times in a row:
    /// `Container <name> failed liveness probe` (the kubelet's kill message;
    /// append `, will be restarted` when the container restarts).
    pub liveness_failure: Option<String>,
    /// The same for the startup probe: `Container <name> failed startup probe`.
    pub startup_failure: Option<String>,
    /// The failing liveness/startup probe's `terminationGracePeriodSeconds`,
    /// which overrides the pod's grace period for that kill.
    pub termination_grace: Option<i64>,
}

impl ProbeState {
    /// A container without probes (or one the manager does not know): the
    /// kubelet's rule is "no worker, so started and ready".
    fn without_probes() -> ProbeState {
        ProbeState {
            started: true,
            ready: true,
            liveness_failure: None,
            startup_failure: None,
            termination_grace: None,
        }
    }
}

/// Runs the probes of the containers on this node. Cheap to clone.
#[derive(Clone)]
pub struct ProbeManager {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    exec: Arc<dyn ProbeExec>,
    events: Arc<dyn EventSink>,
    containers: Mutex<HashMap<String, Entry>>,
    updates: broadcast::Sender<String>,
    /// Containers that started before this are adopted (agent restart).
    created: jiff::Timestamp,
}

struct Entry {
    pod_uid: String,
    has_readiness: bool,
    started: bool,
    readiness_ok: bool,
    liveness_failure: Option<String>,
    startup_failure: Option<String>,
    termination_grace: Option<i64>,
    workers: Vec<(ProbeType, AbortHandle)>,
    container_name: String,
}

impl Entry {
    fn state(&self) -> ProbeState {
        ProbeState {
            started: self.started,
            ready: self.started && (!self.has_readiness || self.readiness_ok),
            liveness_failure: self.liveness_failure.clone(),
            startup_failure: self.startup_failure.clone(),
            termination_grace: self.termination_grace,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let containers = self.containers.get_mut().unwrap_or_else(|e| e.into_inner());
        for entry in containers.values() {
            for (_, handle) in &entry.workers {
                handle.abort();
            }
        }
    }
}

impl ProbeManager {
    /// A manager running exec probes through `exec` and recording events in `events`.
    pub fn new(exec: Arc<dyn ProbeExec>, events: Arc<dyn EventSink>) -> ProbeManager {
        let (updates, _) = broadcast::channel(1024);
        ProbeManager {
            inner: Arc::new(Inner {
                exec,
                events,
                containers: Mutex::new(HashMap::new()),
                updates,
                created: jiff::Timestamp::now(),
            }),
        }
    }

    /// Starts probing a running container instance (idempotent per ID).
    /// `started_at` is when its task started (initial delays count from it);
    /// an instance that started before the manager was created counts as
    /// adopted and gets its first probe spread over one period. `netns` is
    /// the sandbox's network namespace file, `pod_ip` its IP if it has one.
    /// Must be called from within a tokio runtime.
    pub fn add_container(
        &self,
        pod: &Pod,
        container_name: &str,
        container_id: &str,
        started_at: jiff::Timestamp,
        netns: PathBuf,
        pod_ip: Option<IpAddr>,
    ) {
        let mut containers = self.inner.lock();
        if containers.contains_key(container_id) {
            return;
        }
        let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
        let Some((container, field_path)) = super::format::find_container(pod, container_name) else {
            tracing::warn!(pod = %pod_uid, container = container_name, "no such container in the pod spec: not probing");
            return;
        };
        let target = Target {
            pod: Arc::new(pod.clone()),
            container: Arc::new(container.clone()),
            field_path,
            container_id: container_id.to_string(),
            net: PodNet { netns, pod_ip },
            exec: self.inner.exec.clone(),
            events: self.inner.events.clone(),
        };
        let has_startup = container.startup_probe.is_some();
        let mut entry = Entry {
            pod_uid,
            has_readiness: container.readiness_probe.is_some(),
            started: !has_startup,
            readiness_ok: false,
            liveness_failure: None,
            startup_failure: None,
            termination_grace: None,
            workers: Vec::new(),
            container_name: container_name.to_string(),
        };
        let adopted = started_at < self.inner.created;
        let types: &[ProbeType] = if has_startup {
            &[ProbeType::Startup]
        } else {
            &[ProbeType::Liveness, ProbeType::Readiness]
        };
        for &probe_type in types {
            if let Some(handle) = self.inner.spawn(&target, probe_type, started_at, adopted) {
                entry.workers.push((probe_type, handle));
            }
        }
        containers.insert(container_id.to_string(), entry);
    }

    /// Stops probing a container instance and forgets its results.
    pub fn remove_container(&self, container_id: &str) {
        if let Some(entry) = self.inner.lock().remove(container_id) {
            entry.workers.iter().for_each(|(_, h)| h.abort());
        }
    }

    /// Stops probing every container of a pod and forgets their results.
    pub fn remove_pod(&self, pod_uid: &str) {
        self.inner.lock().retain(|_, entry| {
            if entry.pod_uid == pod_uid {
                entry.workers.iter().for_each(|(_, h)| h.abort());
                false
            } else {
                true
            }
        });
    }

    /// Graceful termination of a pod began: liveness and startup probes stop
    /// (and their failures are forgotten) so they cannot restart containers
    /// that are being stopped; readiness probes go on (the kubelet's
    /// `StopLivenessAndStartup`).
    pub fn stop_liveness_and_startup(&self, pod_uid: &str) {
        for entry in self.inner.lock().values_mut().filter(|e| e.pod_uid == pod_uid) {
            entry.workers.retain(|(t, h)| {
                let stop = matches!(t, ProbeType::Liveness | ProbeType::Startup);
                if stop {
                    h.abort();
                }
                !stop
            });
            entry.liveness_failure = None;
            entry.startup_failure = None;
            entry.termination_grace = None;
        }
    }

    /// The probes' view of a container instance. Unknown IDs report as a
    /// container without probes (started, ready).
    pub fn status(&self, container_id: &str) -> ProbeState {
        self.inner
            .lock()
            .get(container_id)
            .map(Entry::state)
            .unwrap_or_else(ProbeState::without_probes)
    }

    /// Pod UIDs whose probe results changed (re-sync those pods). A lagging
    /// receiver (`RecvError::Lagged`) should re-sync every pod.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.inner.updates.subscribe()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawns the worker for `probe_type` if the container has that probe.
    fn spawn(
        self: &Arc<Self>,
        target: &Target,
        probe_type: ProbeType,
        started_at: jiff::Timestamp,
        adopted: bool,
    ) -> Option<AbortHandle> {
        let spec = probe_type.spec(&target.container)?.clone();
        let worker = Worker {
            inner: Arc::downgrade(self),
            target: target.clone(),
            probe_type,
            spec,
            started_at,
            adopted,
        };
        Some(tokio::spawn(worker.run()).abort_handle())
    }

    /// Stores a result that passed its threshold; wakes the pod on a change.
    pub(crate) fn record(&self, container_id: &str, probe_type: ProbeType, spec: &Probe, ok: bool) {
        let changed_pod = {
            let mut containers = self.lock();
            let Some(entry) = containers.get_mut(container_id) else {
                return;
            };
            let before = entry.state();
            match (probe_type, ok) {
                (ProbeType::Readiness, ok) => entry.readiness_ok = ok,
                (ProbeType::Liveness, true) => entry.liveness_failure = None,
                (ProbeType::Liveness, false) => {
                    entry.liveness_failure = Some(format!("Container {} failed liveness probe", entry.container_name));
                    entry.termination_grace = spec.termination_grace_period_seconds;
                }
                (ProbeType::Startup, true) => entry.started = true,
                (ProbeType::Startup, false) => {
                    entry.startup_failure = Some(format!("Container {} failed startup probe", entry.container_name));
                    entry.termination_grace = spec.termination_grace_period_seconds;
                }
            }
            (entry.state() != before).then(|| entry.pod_uid.clone())
        };
        if let Some(pod_uid) = changed_pod {
            let _ = self.updates.send(pod_uid);
        }
    }

    /// The startup probe succeeded: liveness and readiness probing begins.
    pub(crate) fn start_after_startup(self: &Arc<Self>, target: &Target, started_at: jiff::Timestamp) {
        let mut containers = self.lock();
        let Some(entry) = containers.get_mut(&target.container_id) else {
            return;
        };
        for probe_type in [ProbeType::Liveness, ProbeType::Readiness] {
            if let Some(handle) = self.spawn(target, probe_type, started_at, false) {
                entry.workers.push((probe_type, handle));
            }
        }
    }
}

#[cfg(test)]
mod tests;
