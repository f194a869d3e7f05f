//! The Deployment controller (kube-controller-manager's `deployment`):
//! rolls a Deployment's pods from one ReplicaSet to the next. Each sync
//! claims the Deployment's ReplicaSets, then — as `syncDeployment` — only
//! reports status while deleting, keeps the paused condition, scales
//! proportionally when paused or on a scaling event, and otherwise runs one
//! step of the RollingUpdate or Recreate rollout, reporting progress and
//! requeueing itself for the progress deadline.
//!
//! `sync.rs`: the new ReplicaSet, revisions, scaling, cleanup and status;
//! `rolling.rs`, `recreate.rs`: the strategies; `progress.rs`: conditions
//! and the deadline; `util.rs`: the pure arithmetic.

mod progress;
mod recreate;
mod rolling;
mod sync;
pub mod util;

pub use rolling::{ideal_rollout, ideal_rollout_steps};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::selector::LabelSelector;
use k1s_proto::ApiError;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::controller_ref::{self, controller_of};
use super::pod_owner::{self, key_of};
use super::resource;
use super::runtime::{cache_key, Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use super::status_pacer::StatusPacer;
use super::written_versions::WrittenVersions;
use crate::api::Api;
use crate::client::Client;
use crate::events::{self, EventRecorder, EventSource};

/// The controller's name (its client identity, event source and log name).
pub const NAME: &str = "deployment-controller";

/// How often a Deployment's status is written at most while only its counts
/// move. Its status summarises the ReplicaSets' for people and `kubectl
/// rollout status`, and drives nothing, so it may lag a little more than the
/// ReplicaSets' status (which the rollout steps wait on).
pub const SUMMARY_STATUS_INTERVAL: Duration = Duration::from_secs(2);

/// Settings of the Deployment controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// Deployments synced at once (`--concurrent-deployment-syncs`).
    pub workers: usize,
    /// How often every Deployment is looked at regardless.
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

/// Starts the Deployment controller.
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
    let written = Arc::new(WrittenVersions::default());
    let pacer = Arc::new(StatusPacer::new(SUMMARY_STATUS_INTERVAL));
    let (q, w, p) = (queue.clone(), written.clone(), pacer.clone());
    let d_informer = Informer::new(client.clone(), resource("apps", "deployments")).on_change(move |change| {
        let d = match change {
            Change::Applied { new, .. } => new,
            Change::Deleted(d) => {
                w.forget(&written_key("deployments", d));
                p.forget(&key_of(d));
                d
            }
        };
        q.add(key_of(d));
    });
    let deployments = d_informer.cache();
    let handlers = Handlers {
        queue: queue.clone(),
        deployments: deployments.clone(),
    };
    let w = written.clone();
    let rs_informer = Informer::new(client.clone(), resource("apps", "replicasets")).on_change(move |c| {
        if let Change::Deleted(rs) = c {
            w.forget(&written_key("replicasets", rs));
        }
        handlers.replica_set(c)
    });
    let replicasets = rs_informer.cache();
    let handlers = Handlers {
        queue: queue.clone(),
        deployments: deployments.clone(),
    };
    let rs_cache = replicasets.clone();
    let pod_informer =
        Informer::new(client.clone(), resource("", "pods")).on_change(move |c| handlers.pod(c, &rs_cache));
    let reconciler = Arc::new(Deployments {
        client,
        recorder,
        deployments: deployments.clone(),
        replicasets,
        pods: pod_informer.cache(),
        written,
        pacer,
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![d_informer, rs_informer, pod_informer])
        .workers(config.workers)
        .resync(config.resync, move || {
            deployments.list().iter().map(|d| key_of(d)).collect()
        });
    tokio::spawn(controller.run(shutdown))
}

/// The key of an object in the own-write tracker: `<plural>/<namespace>/<name>`.
fn written_key(plural: &str, obj: &Value) -> String {
    format!("{plural}/{}", key_of(obj))
}

/// What ReplicaSet and pod changes mean for which Deployments.
struct Handlers {
    queue: WorkQueue<String>,
    deployments: Cache,
}

impl Handlers {
    /// The Deployments of the object's namespace whose selector matches its labels.
    fn matching(&self, obj: &Value) -> Vec<Arc<Value>> {
        let Some(ns) = obj.namespace() else {
            return Vec::new();
        };
        self.deployments
            .list_in(ns)
            .into_iter()
            .filter(|d| {
                LabelSelector::from_json(&d["spec"]["selector"]).is_ok_and(|s| !s.is_empty() && s.matches(obj.labels()))
            })
            .collect()
    }

    fn enqueue_owner(&self, obj: &Value, reference: &Value) {
        if let Some(d) = pod_owner::resolve(&self.deployments, "Deployment", obj.namespace(), reference) {
            self.queue.add(key_of(&d));
        }
    }

    /// `addReplicaSet`, `updateReplicaSet`, `deleteReplicaSet`.
    fn replica_set(&self, change: &Change) {
        match change {
            Change::Applied { old: None, new } | Change::Deleted(new) => match controller_of(new) {
                Some(reference) => self.enqueue_owner(new, &reference),
                None if matches!(change, Change::Applied { .. }) => {
                    // An orphan: whoever matches may adopt it.
                    for d in self.matching(new) {
                        self.queue.add(key_of(&d));
                    }
                }
                None => {}
            },
            Change::Applied { old: Some(old), new } => {
                if old.resource_version() == new.resource_version() {
                    return;
                }
                let (cur_ref, old_ref) = (controller_of(new), controller_of(old));
                let ref_changed = cur_ref != old_ref;
                if ref_changed {
                    if let Some(r) = &old_ref {
                        self.enqueue_owner(old, r);
                    }
                }
                if let Some(r) = cur_ref {
                    self.enqueue_owner(new, &r);
                    return;
                }
                if ref_changed || old.labels() != new.labels() {
                    for d in self.matching(new) {
                        self.queue.add(key_of(&d));
                    }
                }
            }
        }
    }

    /// `deletePod`: a Recreate rollout waits for the old pods to be gone.
    fn pod(&self, change: &Change, replicasets: &Cache) {
        let Change::Deleted(pod) = change else {
            return;
        };
        let Some(rs) =
            controller_of(pod).and_then(|r| pod_owner::resolve(replicasets, "ReplicaSet", pod.namespace(), &r))
        else {
            return;
        };
        let Some(d) =
            controller_of(&rs).and_then(|r| pod_owner::resolve(&self.deployments, "Deployment", rs.namespace(), &r))
        else {
            return;
        };
        if d["spec"]["strategy"]["type"] == "Recreate" {
            self.queue.add(key_of(&d));
        }
    }
}

/// The reconciler: the caches and how to write.
struct Deployments {
    client: Client,
    recorder: EventRecorder,
    deployments: Cache,
    replicasets: Cache,
    pods: Cache,
    /// The resourceVersion of each Deployment and ReplicaSet this controller
    /// last wrote: a cache still older waits for its event instead of acting
    /// on a stale copy (and being refused with a conflict).
    written: Arc<WrittenVersions>,
    /// Holds back status writes that only move the counts while a rollout runs.
    pacer: Arc<StatusPacer>,
}

impl Reconciler for Deployments {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let Some(obj) = self.deployments.get(Some(namespace), name) else {
            return Ok(Action::Done);
        };
        let d: Deployment =
            serde_json::from_value((*obj).clone()).with_context(|| format!("reading Deployment {key}"))?;
        let mut s = Sync::new(self, d, obj.clone());
        let result = Box::pin(s.sync_deployment())
            .await
            .with_context(|| format!("syncing Deployment {key}"));
        result?;
        Ok(match s.requeue {
            Some(after) => Action::RequeueAfter(after),
            None => Action::Done,
        })
    }
}

impl Deployments {
    /// Whether the cache lags behind this controller's own writes of the
    /// Deployment or of a ReplicaSet of its namespace.
    fn stale(&self, obj: &Value) -> bool {
        if self.written.is_stale(&written_key("deployments", obj), Some(obj)) {
            return true;
        }
        self.replicasets
            .list_in(obj.namespace().unwrap_or(""))
            .iter()
            .any(|rs| self.written.is_stale(&written_key("replicasets", rs), Some(rs)))
    }

    /// Records a write (or, with `None`, the delete) of the ReplicaSet `name`.
    fn wrote_rs(&self, namespace: Option<&str>, name: &str, written: Option<&Value>) {
        let key = format!("replicasets/{}", cache_key(namespace, name));
        self.written.record(&key, written);
    }

    /// Whether this controller created or wrote the ReplicaSet `name` and the cache does not show it yet.
    fn rs_pending(&self, namespace: Option<&str>, name: &str) -> bool {
        let key = format!("replicasets/{}", cache_key(namespace, name));
        self.written
            .is_stale(&key, self.replicasets.get(namespace, name).as_deref())
    }

    /// `getReplicaSetsForDeployment`: the ReplicaSets of the namespace the
    /// Deployment controls after adopting matching orphans and releasing
    /// those that stopped matching.
    async fn replica_sets_for(&self, obj: &Value) -> anyhow::Result<Vec<ReplicaSet>> {
        let selector = LabelSelector::from_json(&obj["spec"]["selector"]).map_err(anyhow::Error::msg)?;
        let candidates = self.replicasets.list_in(obj.namespace().unwrap_or(""));
        let owned = controller_ref::claim(
            &self.client,
            resource("apps", "replicasets"),
            obj,
            &selector,
            candidates,
        )
        .await?;
        owned
            .iter()
            .map(|rs| serde_json::from_value((**rs).clone()).context("reading a ReplicaSet"))
            .collect()
    }

    /// `getPodMapForDeployment`: the Deployment's pods (by selector) grouped by
    /// the uid of the ReplicaSet among `rss` that controls them.
    fn pod_map(&self, obj: &Value, rss: &[ReplicaSet]) -> HashMap<String, Vec<Arc<Value>>> {
        let mut map: HashMap<String, Vec<Arc<Value>>> = rss
            .iter()
            .filter_map(|rs| rs.metadata.uid.clone())
            .map(|uid| (uid, Vec::new()))
            .collect();
        let Ok(selector) = LabelSelector::from_json(&obj["spec"]["selector"]) else {
            return map;
        };
        for pod in self.pods.list_in(obj.namespace().unwrap_or("")) {
            if !selector.matches(pod.labels()) {
                continue;
            }
            if let Some(uid) = super::controller_ref::controller_uid(&pod) {
                if let Some(list) = map.get_mut(&uid) {
                    list.push(pod);
                }
            }
        }
        map
    }
}

/// One sync of one Deployment: the working copy of the Deployment (kept
/// current after each write, so later steps of the same sync do not write
/// from a stale copy) and when to look again.
pub(super) struct Sync<'a> {
    ctl: &'a Deployments,
    /// The Deployment as last written or read.
    d: Deployment,
    /// The Deployment's JSON as cached (for claiming and the pod map).
    obj: Arc<Value>,
    /// The time this sync runs at.
    now: jiff::Timestamp,
    /// Look again after this long (the progress deadline).
    requeue: Option<Duration>,
}

impl<'a> Sync<'a> {
    fn new(ctl: &'a Deployments, d: Deployment, obj: Arc<Value>) -> Sync<'a> {
        Sync {
            ctl,
            d,
            obj,
            now: jiff::Timestamp::now(),
            requeue: None,
        }
    }

    fn name(&self) -> &str {
        self.d.metadata.name.as_deref().unwrap_or("")
    }

    fn namespace(&self) -> Option<&str> {
        self.d.metadata.namespace.as_deref()
    }

    fn event(&self, type_: &str, reason: &str, message: String) {
        self.ctl.recorder.event(&self.obj, type_, reason, message);
    }

    /// `syncDeployment`.
    async fn sync_deployment(&mut self) -> anyhow::Result<()> {
        let selector = LabelSelector::from_json(&self.obj["spec"]["selector"]).map_err(anyhow::Error::msg)?;
        if selector.is_empty() {
            self.event(
                events::WARNING,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            );
            let status = self.d.status.clone().unwrap_or_default();
            if status.observed_generation.unwrap_or(0) < self.d.metadata.generation.unwrap_or(0) {
                let mut s = status;
                s.observed_generation = self.d.metadata.generation;
                self.d.status = Some(s);
                self.update_status().await?;
            }
            return Ok(());
        }
        if self.ctl.stale(&self.obj) {
            // Our own last writes are on their way to the caches; their events sync again.
            return Ok(());
        }
        let mut rss = Box::pin(self.ctl.replica_sets_for(&self.obj)).await?;
        if self.d.metadata.deletion_timestamp.is_some() {
            return Box::pin(self.sync_status_only(&mut rss)).await;
        }
        Box::pin(self.check_paused_conditions()).await?;
        if util::paused(&self.d) {
            return Box::pin(self.sync(&mut rss)).await;
        }
        if Box::pin(self.is_scaling_event(&mut rss)).await? {
            return Box::pin(self.sync(&mut rss)).await;
        }
        match util::strategy_type(&self.d) {
            "Recreate" => {
                let pods = self.ctl.pod_map(&self.obj, &rss);
                Box::pin(self.rollout_recreate(&mut rss, &pods)).await
            }
            "RollingUpdate" => Box::pin(self.rollout_rolling(&mut rss)).await,
            _ => Ok(()),
        }
    }

    /// Whether writing `status` over the stored one can wait: it only moves the
    /// counts (and the progress time) and this Deployment's status was written
    /// less than the pacing interval ago. Then the sync requeues itself for
    /// the rest of the interval and writes the status as it stands then.
    fn status_write_can_wait(&mut self, status: &DeploymentStatus) -> bool {
        let stored = self.d.status.clone().unwrap_or_default();
        if !util::counts_only_change(&stored, status) {
            return false;
        }
        let Some(wait) = self.ctl.pacer.wait(&key_of(&self.obj), Instant::now()) else {
            return false;
        };
        self.requeue = Some(self.requeue.map_or(wait, |r| r.min(wait)));
        true
    }

    /// Writes the working copy's status (and annotations: the revision travels
    /// with the status, as the Deployment status strategy allows).
    async fn update_status(&mut self) -> Result<(), ApiError> {
        let body = serde_json::to_value(&self.d).map_err(ApiError::internal)?;
        let written = self
            .ctl
            .client
            .update_status(resource("apps", "deployments"), self.namespace(), &body)
            .await?;
        self.ctl
            .written
            .record(&written_key("deployments", &written), Some(&written));
        self.ctl.pacer.wrote(&key_of(&written), Instant::now());
        self.d = serde_json::from_value(written).map_err(ApiError::internal)?;
        Ok(())
    }

    /// Replaces an RS of the working list with its written state.
    fn replace(rss: &mut [ReplicaSet], rs: &ReplicaSet) {
        if let Some(slot) = rss.iter_mut().find(|r| r.metadata.uid == rs.metadata.uid) {
            *slot = rs.clone();
        }
    }
}

#[cfg(test)]
mod tests;
