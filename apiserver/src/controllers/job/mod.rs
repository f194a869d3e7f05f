//! The Job controller (kube-controller-manager's `job-controller`): runs a
//! Job's pods to `completions` with at most `parallelism` at once, counts
//! each finished pod exactly once through the `batch.kubernetes.io/job-tracking`
//! finalizer, fails the Job on its back-off limit, deadline or failure
//! policy, and removes the tracking finalizer from pods whose Job is gone.
//!
//! The sync of one Job is in [`sync`]; this module wires informers and
//! keys: Job keys (pod events are batched by a second, as Kubernetes does)
//! and orphan-pod keys (pods left with the finalizer and no live Job).

pub mod backoff;
pub mod conditions;
pub mod failure_policy;
pub mod indexed;
pub mod success_policy;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::patch::PatchType;
use k1s_proto::selector::LabelSelector;
use k1s_proto::ApiError;
use k8s_openapi::api::batch::v1::Job;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::controller_ref::{claim_with_finalizers, controller_of};
use super::pod_control::PodControl;
use super::pod_owner;
use super::resource;
use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;
use crate::events::{EventRecorder, EventSource};
use sync::{has_tracking_finalizer, JobControl, Syncer, SYNC_BATCH_PERIOD};

/// The controller's name (its client identity, event source and log name).
pub const NAME: &str = "job-controller";
/// The finalizer that keeps a finished pod until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The annotation (and label) holding a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// Failures of an index so far (`backoffLimitPerIndex`).
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
/// Ignored failures of an index so far.
pub const INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";
/// `spec.managedBy` of Jobs this controller syncs (or none).
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";

/// Settings of the Job controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// Jobs synced at once (`ConcurrentJobSyncs`).
    pub workers: usize,
    /// How often every Job is looked at regardless.
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

/// What the queue holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A Job, `namespace/name`.
    Job(String),
    /// A pod that may still carry the tracking finalizer for a Job that no longer needs it.
    OrphanPod(String),
}

/// Starts the Job controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<Key> = WorkQueue::new(QueueConfig {
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
        ..QueueConfig::default()
    });
    let recorder = EventRecorder::spawn(client.clone(), EventSource::controller(NAME));
    let control = ApiControl {
        client: client.clone(),
        pods: PodControl::new(client.clone(), recorder.clone()),
    };
    let syncer = Arc::new(Syncer::new(control, recorder));
    let jobs = Informer::new(client.clone(), resource("batch", "jobs"));
    let job_cache = jobs.cache();
    let pods = Informer::new(client.clone(), resource("", "pods"));
    let pod_cache = pods.cache();
    let handlers = Handlers {
        queue: queue.clone(),
        jobs: job_cache.clone(),
        pods: pod_cache.clone(),
        syncer: syncer.clone(),
    };
    let h = handlers.clone();
    let jobs = jobs.on_change(move |change| h.job_changed(change));
    let pods = pods.on_change(move |change| handlers.pod_changed(change));
    let reconciler = Arc::new(JobReconciler {
        client,
        syncer,
        jobs: job_cache.clone(),
        pods: pod_cache,
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![jobs, pods])
        .workers(config.workers)
        .resync(config.resync, move || {
            job_cache
                .list()
                .iter()
                .filter_map(|j| job_key(j).map(Key::Job))
                .collect()
        });
    tokio::spawn(controller.run(shutdown))
}

fn job_key(obj: &Value) -> Option<String> {
    Some(format!("{}/{}", obj.namespace()?, obj.name()?))
}

/// Whether another controller manages the Job (`spec.managedBy`).
fn managed_elsewhere(job: &Value) -> bool {
    job["spec"]["managedBy"].as_str().is_some_and(|m| m != MANAGED_BY)
}

/// Whether the Job has its terminal condition.
fn is_finished(job: &Value) -> bool {
    job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
}

/// The writes of the Job controller, through the API.
struct ApiControl {
    client: Client,
    pods: PodControl,
}

impl JobControl for ApiControl {
    async fn create_pod(&self, pod: &Value, parent: &Value) -> Result<Value, ApiError> {
        self.pods.create(pod, parent).await
    }

    async fn delete_pod(&self, name: &str, parent: &Value) -> Result<(), ApiError> {
        self.pods.delete(name, parent).await
    }

    async fn remove_tracking_finalizer(&self, namespace: &str, name: &str) -> Result<(), ApiError> {
        remove_finalizer(&self.client, namespace, name).await
    }

    async fn update_status(&self, job: &Job) -> Result<Job, ApiError> {
        let body = serde_json::to_value(job).map_err(ApiError::internal)?;
        let stored = self
            .client
            .update_status(resource("batch", "jobs"), job.metadata.namespace.as_deref(), &body)
            .await?;
        serde_json::from_value(stored).map_err(ApiError::internal)
    }
}

/// Strips the tracking finalizer from a pod (`removeTrackingFinalizerPatch`).
async fn remove_finalizer(client: &Client, namespace: &str, name: &str) -> Result<(), ApiError> {
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}});
    client
        .patch(
            resource("", "pods"),
            Some(namespace),
            name,
            None,
            PatchType::StrategicMerge,
            &patch,
        )
        .await
        .map(|_| ())
}

/// Informer handlers: map Job and pod changes to keys, and note what the
/// expectations were waiting for.
#[derive(Clone)]
struct Handlers {
    queue: WorkQueue<Key>,
    jobs: Cache,
    pods: Cache,
    syncer: Arc<Syncer<ApiControl>>,
}

impl Handlers {
    fn job_changed(&self, change: &Change) {
        match change {
            Change::Applied { old: None, new } => {
                if let Some(k) = job_key(new) {
                    self.queue.add(Key::Job(k));
                }
            }
            Change::Applied { old: Some(old), new } => {
                let Some(k) = job_key(new) else {
                    return;
                };
                if old.generation() == new.generation() {
                    // Status updates are batched like pod events.
                    self.queue.add_after(Key::Job(k.clone()), SYNC_BATCH_PERIOD);
                } else {
                    self.queue.add(Key::Job(k.clone()));
                }
                if is_finished(new) {
                    self.cleanup_pod_finalizers(new);
                }
                self.requeue_for_deadline(&k, old, new);
            }
            Change::Deleted(job) => {
                if let Some(k) = job_key(job) {
                    self.queue.add(Key::Job(k));
                }
                self.cleanup_pod_finalizers(job);
            }
        }
    }

    /// A changed `activeDeadlineSeconds` needs a sync when the new deadline passes.
    fn requeue_for_deadline(&self, key: &str, old: &Value, new: &Value) {
        let Some(start) = new["status"]["startTime"]
            .as_str()
            .and_then(k1s_proto::meta::parse_time)
        else {
            return;
        };
        let Some(ads) = new["spec"]["activeDeadlineSeconds"].as_i64() else {
            return;
        };
        if old["spec"]["activeDeadlineSeconds"].as_i64() == Some(ads) {
            return;
        }
        let elapsed = jiff::Timestamp::now().duration_since(start).as_secs_f64();
        let left = (ads as f64 - elapsed).max(0.0);
        self.queue
            .add_after(Key::Job(key.to_string()), Duration::from_secs_f64(left));
    }

    /// Queues the pods a finished or deleted Job still holds with the finalizer.
    fn cleanup_pod_finalizers(&self, job: &Value) {
        let Some(ns) = job.namespace() else {
            return;
        };
        for pod in self.pods.list_in(ns) {
            let controlled = controller_of(&pod).is_some_and(|r| r["uid"].as_str() == job.uid());
            if controlled && has_tracking_finalizer(&pod) {
                self.enqueue_orphan(&pod);
            }
        }
    }

    fn enqueue_orphan(&self, pod: &Value) {
        if let Some(k) = job_key(pod) {
            self.queue.add(Key::OrphanPod(k));
        }
    }

    fn enqueue_batched(&self, job: &Value) {
        if let Some(k) = job_key(job) {
            self.queue.add_after(Key::Job(k), SYNC_BATCH_PERIOD);
        }
    }

    /// The Job a controller reference names, if it exists with that uid.
    fn resolve(&self, namespace: Option<&str>, owner: &Value) -> Option<Arc<Value>> {
        pod_owner::resolve(&self.jobs, "Job", namespace, owner)
    }

    /// Jobs whose selector matches an orphan pod (they may adopt it).
    fn matching_jobs(&self, pod: &Value) -> Vec<Arc<Value>> {
        pod_owner::matching(&self.jobs, pod)
    }

    fn pod_changed(&self, change: &Change) {
        match change {
            Change::Applied { old: None, new } => self.pod_added(new),
            Change::Applied { old: Some(old), new } => self.pod_updated(old, new),
            Change::Deleted(pod) => self.pod_deleted(pod, true),
        }
    }

    fn pod_added(&self, pod: &Value) {
        if pod.deletion_timestamp().is_some() {
            // Seen first while already going away: not a creation this controller waits for.
            self.pod_deleted(pod, false);
            return;
        }
        if let Some(owner) = controller_of(pod) {
            if let Some(job) = self.resolve(pod.namespace(), &owner) {
                if let Some(k) = job_key(&job) {
                    self.syncer.expectations.creation_observed(&k);
                }
                self.enqueue_batched(&job);
            }
            return;
        }
        if has_tracking_finalizer(pod) {
            self.enqueue_orphan(pod);
        }
        for job in self.matching_jobs(pod) {
            self.enqueue_batched(&job);
        }
    }

    fn pod_updated(&self, old: &Value, new: &Value) {
        if old.resource_version() == new.resource_version() {
            return;
        }
        if new.deletion_timestamp().is_some() {
            // Graceful deletion began: the Job may replace the pod now.
            self.pod_deleted(new, false);
            return;
        }
        let finalizer_removed = !has_tracking_finalizer(new);
        let (cur_ref, old_ref) = (controller_of(new), controller_of(old));
        let ref_changed = cur_ref != old_ref;
        if ref_changed {
            if let Some(job) = old_ref.and_then(|r| self.resolve(old.namespace(), &r)) {
                if finalizer_removed {
                    self.finalizer_observed(&job, new);
                }
                self.enqueue_batched(&job);
            }
        }
        if let Some(owner) = cur_ref {
            if let Some(job) = self.resolve(new.namespace(), &owner) {
                if finalizer_removed {
                    self.finalizer_observed(&job, new);
                }
                self.enqueue_batched(&job);
            }
            return;
        }
        if has_tracking_finalizer(new) {
            self.enqueue_orphan(new);
        }
        if new.labels() != old.labels() || ref_changed {
            for job in self.matching_jobs(new) {
                self.enqueue_batched(&job);
            }
        }
    }

    /// A pod went away (`last`) or began to (`!last`).
    fn pod_deleted(&self, pod: &Value, last: bool) {
        let finalizer = has_tracking_finalizer(pod);
        let Some(owner) = controller_of(pod) else {
            if finalizer {
                self.enqueue_orphan(pod);
            }
            return;
        };
        let job = self.resolve(pod.namespace(), &owner);
        let Some(job) = job.filter(|j| !is_finished(j)) else {
            // The Job will not remove this finalizer.
            if finalizer {
                self.enqueue_orphan(pod);
            }
            return;
        };
        if let Some(k) = job_key(&job) {
            self.syncer.expectations.deletion_observed(&k, &sync::pod_key(pod));
        }
        if last || !finalizer {
            self.finalizer_observed(&job, pod);
        }
        self.enqueue_batched(&job);
    }

    fn finalizer_observed(&self, job: &Value, pod: &Value) {
        if let (Some(k), Some(uid)) = (job_key(job), pod.uid()) {
            self.syncer.finalizers.observed(&k, uid);
        }
    }
}

/// Syncs Jobs and cleans up orphan pods.
struct JobReconciler {
    client: Client,
    syncer: Arc<Syncer<ApiControl>>,
    jobs: Cache,
    pods: Cache,
}

impl JobReconciler {
    async fn sync_job(&self, key: &str) -> anyhow::Result<Action> {
        let (ns, name) = key.split_once('/').context("a Job key is namespace/name")?;
        let Some(job) = self.jobs.get(Some(ns), name) else {
            self.syncer.expectations.delete(key);
            self.syncer.finalizers.delete(key);
            self.syncer.backoff.remove(key);
            return Ok(Action::Done);
        };
        if managed_elsewhere(&job) {
            return Ok(Action::Done);
        }
        if is_finished(&job) {
            self.syncer.backoff.remove(key);
            return Ok(Action::Done);
        }
        let selector = LabelSelector::from_json(&job["spec"]["selector"])
            .map_err(|e| anyhow::anyhow!("couldn't convert Job selector: {e}"))?;
        let pods = claim_with_finalizers(
            &self.client,
            resource("", "pods"),
            &job,
            &selector,
            self.pods.list_in(ns),
            &[TRACKING_FINALIZER],
        )
        .await?;
        let requeue = self.syncer.sync(key, job, pods, jiff::Timestamp::now()).await?;
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }

    /// Removes the tracking finalizer from a pod no live Job needs it on (`syncOrphanPod`).
    async fn sync_orphan_pod(&self, key: &str) -> anyhow::Result<Action> {
        let (ns, name) = key.split_once('/').context("a pod key is namespace/name")?;
        let Some(pod) = self.pods.get(Some(ns), name) else {
            return Ok(Action::Done);
        };
        if let Some(owner) = controller_of(&pod) {
            if owner["kind"] != "Job" || owner["apiVersion"] != "batch/v1" {
                return Ok(Action::Done);
            }
            let job = owner["name"]
                .as_str()
                .and_then(|n| self.jobs.get(Some(ns), n))
                .filter(|j| j.uid() == owner["uid"].as_str());
            if let Some(job) = job {
                if managed_elsewhere(&job) || !is_finished(&job) {
                    // Adopted, or someone else's to clean up.
                    return Ok(Action::Done);
                }
            }
        }
        if has_tracking_finalizer(&pod) {
            match remove_finalizer(&self.client, ns, name).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e).context("removing the tracking finalizer of an orphan pod"),
            }
        }
        Ok(Action::Done)
    }
}

impl Reconciler for JobReconciler {
    type Key = Key;

    async fn reconcile(&self, key: &Key) -> anyhow::Result<Action> {
        match key {
            Key::Job(k) => self.sync_job(k).await.with_context(|| format!("syncing Job {k}")),
            Key::OrphanPod(k) => self.sync_orphan_pod(k).await,
        }
    }
}

#[cfg(test)]
mod tests;
