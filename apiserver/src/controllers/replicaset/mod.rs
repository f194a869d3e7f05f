//! The ReplicaSet controller (kube-controller-manager's `replicaset`): keeps
//! `spec.replicas` pods of the template running. It claims pods by selector
//! (adopting orphans, releasing pods that stopped matching), creates missing
//! pods in slow-start batches, deletes surplus pods in Kubernetes' ranking
//! order, waits for its own creates and deletes to show up in its pod cache
//! before acting again (expectations), and reports the status counts and the
//! `ReplicaFailure` condition.

pub mod rank;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::selector::LabelSelector;
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use super::controller_ref::{self, controller_of, controller_uid};
use super::expectations::Expectations;
use super::pod_control::{is_namespace_terminating, PodControl};
use super::pod_owner::{self, key_of};
use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use super::slow_start::{slow_start_batch, INITIAL_BATCH_SIZE};
use super::status_pacer::StatusPacer;
use super::written_versions::WrittenVersions;
use super::{podutil, resource};
use crate::api::Api;
use crate::client::Client;
use crate::events::{EventRecorder, EventSource};

/// The controller's name (its client identity, event source and log name).
pub const NAME: &str = "replicaset-controller";
/// At most this many pods are created or deleted in one sync (`BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// Settings of the ReplicaSet controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// ReplicaSets synced at once (`--concurrent-replicaset-syncs`).
    pub workers: usize,
    /// How often every ReplicaSet is looked at regardless.
    pub resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 5,
            resync: Duration::from_secs(300),
        }
    }
}

/// Starts the ReplicaSet controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let recorder = EventRecorder::spawn(client.clone(), EventSource::controller(NAME));
    start(client, recorder, config, shutdown)
}

/// Starts the controller with a given client and event recorder.
pub fn start(
    client: Client,
    recorder: EventRecorder,
    config: Config,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let expectations = Arc::new(Expectations::default());

    let written = Arc::new(WrittenVersions::default());
    let pacer = Arc::new(StatusPacer::default());
    let (q, exp, w, p) = (queue.clone(), expectations.clone(), written.clone(), pacer.clone());
    let rs_informer =
        Informer::new(client.clone(), resource("apps", "replicasets")).on_change(move |change| match change {
            Change::Applied { new, .. } => {
                q.add(key_of(new));
            }
            Change::Deleted(rs) => {
                let key = key_of(rs);
                exp.delete(&key);
                w.forget(&key);
                p.forget(&key);
                q.add(key);
            }
        });
    let replicasets = rs_informer.cache();
    let handlers = PodHandlers {
        queue: queue.clone(),
        expectations: expectations.clone(),
        replicasets: replicasets.clone(),
    };
    let pod_informer = Informer::new(client.clone(), resource("", "pods")).on_change(move |c| handlers.on(c));
    let pods = pod_informer.cache();
    let reconciler = Arc::new(ReplicaSets {
        pod_control: PodControl::new(client.clone(), recorder),
        client,
        replicasets: replicasets.clone(),
        pods,
        expectations,
        written,
        pacer,
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![rs_informer, pod_informer])
        .workers(config.workers)
        .resync(config.resync, move || {
            replicasets.list().iter().map(|rs| key_of(rs)).collect()
        });
    tokio::spawn(controller.run(shutdown))
}

/// What pod changes mean for which ReplicaSets (Kubernetes' add/update/deletePod).
struct PodHandlers {
    queue: WorkQueue<String>,
    expectations: Arc<Expectations>,
    replicasets: Cache,
}

impl PodHandlers {
    fn on(&self, change: &Change) {
        match change {
            Change::Applied { old: None, new } => self.added(new),
            Change::Applied { old: Some(old), new } => self.updated(old, new),
            Change::Deleted(pod) => self.deleted(pod),
        }
    }

    fn added(&self, pod: &Value) {
        if pod.deletion_timestamp().is_some() {
            // Seen for the first time already terminating: not a creation.
            self.deleted(pod);
            return;
        }
        if let Some(reference) = controller_of(pod) {
            if let Some(rs) = pod_owner::resolve(&self.replicasets, "ReplicaSet", pod.namespace(), &reference) {
                let key = key_of(&rs);
                self.expectations.creation_observed(&key);
                self.queue.add(key);
            }
            return;
        }
        // An orphan: whoever matches may adopt it.
        for rs in pod_owner::matching(&self.replicasets, pod) {
            self.queue.add(key_of(&rs));
        }
    }

    fn updated(&self, old: &Value, new: &Value) {
        if old.resource_version() == new.resource_version() {
            return;
        }
        let labels_changed = old.labels() != new.labels();
        if new.deletion_timestamp().is_some() {
            // A graceful delete: replace the pod now, not once the kubelet is done.
            self.deleted(new);
            if labels_changed {
                self.deleted(old);
            }
            return;
        }
        let (cur_ref, old_ref) = (controller_of(new), controller_of(old));
        let ref_changed = cur_ref != old_ref;
        if ref_changed {
            if let Some(rs) =
                old_ref.and_then(|r| pod_owner::resolve(&self.replicasets, "ReplicaSet", old.namespace(), &r))
            {
                self.queue.add(key_of(&rs));
            }
        }
        if let Some(reference) = cur_ref {
            if let Some(rs) = pod_owner::resolve(&self.replicasets, "ReplicaSet", new.namespace(), &reference) {
                let key = key_of(&rs);
                let min_ready = status::min_ready_seconds(&rs);
                if min_ready > 0 && !podutil::is_ready(old) && podutil::is_ready(new) {
                    // Look again once the pod has been ready long enough to count as available.
                    self.queue
                        .add_after(key.clone(), Duration::from_secs(min_ready as u64 + 1));
                }
                self.queue.add(key);
            }
            return;
        }
        if labels_changed || ref_changed {
            for rs in pod_owner::matching(&self.replicasets, new) {
                self.queue.add(key_of(&rs));
            }
        }
    }

    fn deleted(&self, pod: &Value) {
        let Some(reference) = controller_of(pod) else {
            return;
        };
        if let Some(rs) = pod_owner::resolve(&self.replicasets, "ReplicaSet", pod.namespace(), &reference) {
            let key = key_of(&rs);
            self.expectations.deletion_observed(&key, &key_of(pod));
            self.queue.add(key);
        }
    }
}

struct ReplicaSets {
    client: Client,
    pod_control: PodControl,
    replicasets: Cache,
    pods: Cache,
    expectations: Arc<Expectations>,
    /// The resourceVersion of each status this controller wrote: a cache still
    /// older than that waits for its event instead of writing from a stale copy.
    written: Arc<WrittenVersions>,
    /// Holds back status writes while the counts change quickly (a rollout).
    pacer: Arc<StatusPacer>,
}

impl Reconciler for ReplicaSets {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let Some(rs) = self.replicasets.get(Some(namespace), name) else {
            self.expectations.delete(key);
            return Ok(Action::Done);
        };
        if self.written.is_stale(key, Some(&rs)) {
            // Our last status write is on its way to the cache; its event syncs again.
            return Ok(Action::Done);
        }
        let needs_sync = self.expectations.satisfied(key);
        let selector = match LabelSelector::from_json(&rs["spec"]["selector"]) {
            Ok(s) => s,
            Err(e) => {
                debug!(replicaset = key, error = e, "invalid selector; nothing to do");
                return Ok(Action::Done);
            }
        };
        let active: Vec<Arc<Value>> = self
            .pods
            .list_in(namespace)
            .into_iter()
            .filter(|p| podutil::is_active(p))
            .collect();
        let pods = controller_ref::claim(&self.client, resource("", "pods"), &rs, &selector, active)
            .await
            .with_context(|| format!("claiming pods for ReplicaSet {key}"))?;

        let manage_error = if needs_sync && rs.deletion_timestamp().is_none() {
            self.manage_replicas(key, &rs, &pods).await.err()
        } else {
            None
        };
        let now = jiff::Timestamp::now();
        let new_status = status::calculate(&rs, &pods, manage_error.as_ref().map(|e| e.message.as_str()), now);
        if status::needs_write(&rs, &new_status) {
            if let Some(wait) = self.pacer.wait(key, Instant::now()) {
                // Written once the interval has passed, from the world as it is then.
                if let Some(e) = manage_error {
                    return Err(anyhow::Error::new(e).context(format!("syncing ReplicaSet {key}")));
                }
                return Ok(Action::RequeueAfter(wait));
            }
        }
        let written = self.update_status(&rs, new_status).await?;
        if let Some(e) = manage_error {
            return Err(anyhow::Error::new(e).context(format!("syncing ReplicaSet {key}")));
        }
        let replicas = status::spec_replicas(&rs);
        let min_ready = status::min_ready_seconds(&rs);
        if min_ready > 0
            && i64::from(written.ready_replicas.unwrap_or(0)) == replicas
            && i64::from(written.available_replicas.unwrap_or(0)) != replicas
        {
            // A last line of defence against clock skew: look again once pods may be available.
            return Ok(Action::RequeueAfter(Duration::from_secs(min_ready as u64)));
        }
        Ok(Action::Done)
    }
}

impl ReplicaSets {
    /// Creates or deletes pods so that `pods` (the active, claimed ones) moves toward `spec.replicas`.
    async fn manage_replicas(&self, key: &str, rs: &Value, pods: &[Arc<Value>]) -> Result<(), k1s_proto::ApiError> {
        let diff = pods.len() as i64 - status::spec_replicas(rs);
        if diff < 0 {
            let n = ((-diff) as usize).min(BURST_REPLICAS);
            self.expectations.expect_creations(key, n);
            let prefix = format!("{}-", rs.name().unwrap_or(""));
            let prefix = prefix.as_str();
            let (created, error) = slow_start_batch(n, INITIAL_BATCH_SIZE, move || async move {
                let pod = podutil::pod_from_template(&rs["spec"]["template"], rs, prefix);
                match self.pod_control.create(&pod, rs).await {
                    Ok(_) => Ok(()),
                    // Nothing can be created in a namespace going away; not an error to retry.
                    Err(e) if is_namespace_terminating(&e) => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await;
            // The informer will never see the pods that were not created.
            for _ in created..n {
                self.expectations.creation_observed(key);
            }
            if let Some(e) = error {
                return Err(e);
            }
        } else if diff > 0 {
            let n = (diff as usize).min(BURST_REPLICAS);
            let related = self.related_pods(rs);
            let doomed = rank::pods_to_delete(pods.to_vec(), &related, n, jiff::Timestamp::now());
            self.expectations
                .expect_deletions(key, doomed.iter().map(|p| key_of(p)));
            let results = futures::future::join_all(doomed.iter().map(|p| async move {
                let name = p.name().unwrap_or("");
                let r = self.pod_control.delete(name, rs).await;
                if r.is_err() {
                    // The informer will never see this deletion.
                    self.expectations.deletion_observed(key, &key_of(p));
                }
                r
            }))
            .await;
            if let Some(e) = results.into_iter().filter_map(Result::err).find(|e| !e.is_not_found()) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The pods of every ReplicaSet with the same controller as `rs` (the
    /// Deployment's other revisions), each once.
    fn related_pods(&self, rs: &Value) -> Vec<Arc<Value>> {
        let Some(owner) = controller_uid(rs) else {
            return Vec::new();
        };
        let namespace = rs.namespace().unwrap_or("");
        let pods = self.pods.list_in(namespace);
        let mut seen = std::collections::HashSet::new();
        let mut related = Vec::new();
        for sibling in self.replicasets.list_in(namespace) {
            if controller_uid(&sibling).as_deref() != Some(owner.as_str()) {
                continue;
            }
            let Ok(selector) = LabelSelector::from_json(&sibling["spec"]["selector"]) else {
                continue;
            };
            for p in pods.iter().filter(|p| selector.matches(p.labels())) {
                if seen.insert(p.uid().unwrap_or("").to_string()) {
                    related.push(p.clone());
                }
            }
        }
        related
    }

    /// Writes `status` (with `observedGeneration`) when it differs from the
    /// stored one, retrying once on a fresh copy; returns the status in effect.
    async fn update_status(&self, rs: &Value, mut status: ReplicaSetStatus) -> anyhow::Result<ReplicaSetStatus> {
        if !status::needs_write(rs, &status) {
            return Ok(status);
        }
        let info = resource("apps", "replicasets");
        let mut obj = rs.clone();
        for attempt in 0..2 {
            status.observed_generation = Some(obj.generation());
            obj["status"] = serde_json::to_value(&status)?;
            match self.client.update_status(info, obj.namespace(), &obj).await {
                Ok(written) => {
                    self.written.record(&key_of(rs), Some(&written));
                    self.pacer.wrote(&key_of(rs), Instant::now());
                    return Ok(status);
                }
                Err(e) if e.is_not_found() => return Ok(status),
                Err(e) if attempt == 1 => {
                    return Err(e).with_context(|| format!("updating the status of ReplicaSet {}", key_of(rs)));
                }
                Err(_) => {
                    obj = self
                        .client
                        .get(info, rs.namespace(), rs.name().unwrap_or(""))
                        .await
                        .with_context(|| format!("reading ReplicaSet {}", key_of(rs)))?;
                }
            }
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests;
