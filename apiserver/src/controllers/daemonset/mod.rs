//! The DaemonSet controller (kube-controller-manager's `daemonset`): one
//! daemon pod on every node that should run it (node selector, required
//! affinity, taints against the pod's tolerations plus the ones daemon pods
//! always get), each pinned to its node with a `metadata.name` node affinity
//! for the scheduler to bind; rolled to a new template (`RollingUpdate` with
//! `maxUnavailable`/`maxSurge`, or `OnDelete`) through ControllerRevisions;
//! with the status `kubectl rollout status` reads.
//!
//! Decisions are pure ([`manage`], [`update`], [`util`]); this file reads
//! the caches, keeps the history, writes, and expects its own writes back
//! before acting again.

pub mod manage;
pub mod update;
pub mod util;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::selector::LabelSelector;
use k1s_proto::ApiError;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::controller_ref::{self, controller_of, controller_uid};
use super::expectations::Expectations;
use super::history;
use super::pod_control::{is_namespace_terminating, PodControl};
use super::pod_owner::{self, key_of};
use super::podutil::pod_from_template;
use super::resource;
use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use super::slow_start::{slow_start_batch, INITIAL_BATCH_SIZE};
use crate::api::Api;
use crate::client::Client;
use crate::events::{self, EventRecorder, EventSource};
use manage::pods_by_node;
use util::{pin_to_node, pod_template, HASH_LABEL};

/// The controller's name (its client identity, event source and log name).
pub const NAME: &str = "daemonset-controller";
/// The kind this controller owns pods as.
const KIND: &str = "DaemonSet";
/// At most this many pods are created or deleted in one sync (`BurstReplicas`).
pub const BURST_REPLICAS: usize = 250;
/// Back-off before deleting another failed daemon pod on a node (first, longest).
const FAILED_POD_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(15 * 60));

/// Settings of the DaemonSet controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// DaemonSets synced at once (`--concurrent-daemonset-syncs`).
    pub workers: usize,
    /// How often every DaemonSet is looked at regardless.
    pub resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 2,
            resync: Duration::from_secs(300),
        }
    }
}

fn daemonsets() -> &'static k1s_proto::ResourceInfo {
    resource("apps", "daemonsets")
}

fn pods() -> &'static k1s_proto::ResourceInfo {
    resource("", "pods")
}

/// Starts the DaemonSet controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let expectations = Arc::new(Expectations::default());

    let (q, exp) = (queue.clone(), expectations.clone());
    let ds_informer = Informer::new(client.clone(), daemonsets()).on_change(move |change| match change {
        Change::Applied { new, .. } => {
            q.add(key_of(new));
        }
        Change::Deleted(ds) => {
            exp.delete(&key_of(ds));
            q.add(key_of(ds));
        }
    });
    let ds_cache = ds_informer.cache();
    let (q, exp, owners) = (queue.clone(), expectations.clone(), ds_cache.clone());
    let pod_informer = Informer::new(client.clone(), pods()).on_change(move |change| {
        observe(&exp, &owners, change);
        for key in pod_owner::keys_for_change(&owners, KIND, change) {
            q.add(key);
        }
    });
    let (q, owners) = (queue.clone(), ds_cache.clone());
    // Any node change may change where daemon pods belong.
    let node_informer = Informer::new(client.clone(), resource("", "nodes")).on_change(move |_| {
        for ds in owners.list() {
            q.add(key_of(&ds));
        }
    });
    let (q, owners) = (queue.clone(), ds_cache.clone());
    let revision_informer = Informer::new(client.clone(), history::revisions()).on_change(move |change| {
        for key in pod_owner::keys_for_change(&owners, KIND, change) {
            q.add(key);
        }
    });
    let recorder = EventRecorder::spawn(client.clone(), EventSource::controller(NAME));
    let reconciler = Arc::new(DaemonSets {
        pod_control: PodControl::new(client.clone(), recorder.clone()),
        events: recorder,
        client,
        daemonsets: ds_cache.clone(),
        pods: pod_informer.cache(),
        nodes: node_informer.cache(),
        revisions: revision_informer.cache(),
        expectations,
        failed_backoff: Mutex::default(),
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![ds_informer, pod_informer, node_informer, revision_informer])
        .workers(config.workers)
        .resync(config.resync, move || {
            ds_cache.list().iter().map(|d| key_of(d)).collect()
        });
    tokio::spawn(controller.run(shutdown))
}

/// Tells the expectations about daemon pods seen created or deleted.
fn observe(expectations: &Expectations, owners: &Cache, change: &Change) {
    let owner = |pod: &Value| {
        controller_of(pod)
            .and_then(|r| pod_owner::resolve(owners, KIND, pod.namespace(), &r))
            .map(|ds| key_of(&ds))
    };
    match change {
        Change::Applied { old: None, new } if new.deletion_timestamp().is_none() => {
            if let Some(k) = owner(new) {
                expectations.creation_observed(&k);
            }
        }
        Change::Applied { old: None, new: pod } | Change::Deleted(pod) => {
            if let Some(k) = owner(pod) {
                expectations.deletion_observed(&k, &key_of(pod));
            }
        }
        Change::Applied { .. } => {}
    }
}

struct DaemonSets {
    client: Client,
    pod_control: PodControl,
    events: EventRecorder,
    daemonsets: Cache,
    pods: Cache,
    nodes: Cache,
    revisions: Cache,
    expectations: Arc<Expectations>,
    /// (DaemonSet key, node) → (last failed-pod deletion, current back-off).
    failed_backoff: Mutex<HashMap<(String, String), (Instant, Duration)>>,
}

impl Reconciler for DaemonSets {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let Some(ds) = self.daemonsets.get(Some(namespace), name) else {
            self.expectations.delete(key);
            return Ok(Action::Done);
        };
        let Ok(selector) = LabelSelector::from_json(&ds["spec"]["selector"]) else {
            return Ok(Action::Done);
        };
        if selector.is_empty() {
            self.events.event(
                &ds,
                events::WARNING,
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            );
            return Ok(Action::Done);
        }
        // Its history may be going away with it: nothing more to do (or report).
        if ds.deletion_timestamp().is_some() {
            return Ok(Action::Done);
        }
        let mut nodes = self.nodes.list();
        nodes.sort_by(|a, b| a.name().cmp(&b.name()));
        let (current, old) = self.construct_history(&ds, &selector).await?;
        let hash = current.label(HASH_LABEL).unwrap_or("").to_string();
        let pods = self.claim_pods(&ds, &selector).await?;
        let now = jiff::Timestamp::now();

        let mut requeue = None;
        let mut result = Ok(());
        let observed = self.expectations.satisfied(key);
        if observed {
            result = self
                .update(key, &ds, &nodes, &pods, &hash, &old, now, &mut requeue)
                .await;
        }
        let by_node = pods_by_node(&pods, false);
        let counts = manage::counts(&ds, &nodes, &by_node, &hash, now);
        if !counts.written(&ds) {
            let mut updated = (*ds).clone();
            updated["status"] = counts.to_json(&ds, observed);
            match self.client.update_status(daemonsets(), Some(namespace), &updated).await {
                Ok(_) => {}
                // Our cached copy is older than the set: look again once the cache caught up.
                Err(e) if e.is_conflict() => return Ok(Action::RequeueAfter(Duration::from_millis(100))),
                Err(e) => return Err(e).with_context(|| format!("updating the status of DaemonSet {key}")),
            }
        }
        result?;
        let min_ready = ds["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
        if min_ready > 0 && counts.ready != counts.available {
            let after = Duration::from_secs(min_ready as u64);
            requeue = Some(requeue.map_or(after, |r: Duration| r.min(after)));
        }
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }
}

impl DaemonSets {
    /// `updateDaemonSet`: manage the nodes' pods, roll if nothing is pending,
    /// clean up the history.
    #[allow(clippy::too_many_arguments)]
    async fn update(
        &self,
        key: &str,
        ds: &Value,
        nodes: &[Arc<Value>],
        pods: &[Arc<Value>],
        hash: &str,
        old: &[Arc<Value>],
        now: jiff::Timestamp,
        requeue: &mut Option<Duration>,
    ) -> anyhow::Result<()> {
        let by_node = pods_by_node(pods, false);
        let plan = manage::manage(ds, nodes, &by_node, hash, now);
        let mut delete = plan.delete;
        for (node, pod) in plan.failed {
            match self.failed_pod_backoff(key, &node) {
                Some(wait) => *requeue = Some(requeue.map_or(wait, |r| r.min(wait))),
                None => {
                    self.events.event(
                        ds,
                        events::WARNING,
                        "FailedDaemonPod",
                        format!(
                            "Found failed daemon pod {}/{} on node {node}, will try to kill it",
                            pod.namespace().unwrap_or(""),
                            pod.name().unwrap_or("")
                        ),
                    );
                    delete.push(pod);
                }
            }
        }
        self.sync_nodes(key, ds, &delete, &plan.create_on, hash).await?;
        if self.expectations.satisfied(key) && ds["spec"]["updateStrategy"]["type"] == "RollingUpdate" {
            let rollout = update::rolling_update(ds, nodes, &by_node, hash, now);
            self.sync_nodes(key, ds, &rollout.delete, &rollout.create_on, hash)
                .await?;
        }
        self.cleanup_history(ds, pods, old).await
    }

    /// `failedPodsBackoff`: `None` when a failed pod on the node may be deleted
    /// now (and the back-off grows), else how long to wait.
    fn failed_pod_backoff(&self, key: &str, node: &str) -> Option<Duration> {
        let mut map = self.failed_backoff.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry((key.to_string(), node.to_string()));
        let now = Instant::now();
        match entry {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let (last, delay) = *e.get();
                if now.duration_since(last) < delay {
                    return Some(delay - now.duration_since(last));
                }
                e.insert((now, (delay * 2).min(FAILED_POD_BACKOFF.1)));
                None
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((now, FAILED_POD_BACKOFF.0));
                None
            }
        }
    }

    /// `getDaemonPods`: the set's pods, orphans adopted and strays released.
    async fn claim_pods(&self, ds: &Value, selector: &LabelSelector) -> anyhow::Result<Vec<Arc<Value>>> {
        let candidates = self.pods.list_in(ds.namespace().unwrap_or(""));
        controller_ref::claim(&self.client, pods(), ds, selector, candidates)
            .await
            .with_context(|| format!("claiming pods for DaemonSet {}", key_of(ds)))
    }

    /// `syncNodes`: deletes `delete` and creates a pod pinned to each node of
    /// `create_on` (slow-start batches), expecting to see them come and go.
    async fn sync_nodes(
        &self,
        key: &str,
        ds: &Value,
        delete: &[Arc<Value>],
        create_on: &[String],
        hash: &str,
    ) -> anyhow::Result<()> {
        let create_on = &create_on[..create_on.len().min(BURST_REPLICAS)];
        let delete = &delete[..delete.len().min(BURST_REPLICAS)];
        if create_on.is_empty() && delete.is_empty() {
            return Ok(());
        }
        self.expectations.expect_creations(key, create_on.len());
        self.expectations
            .expect_deletions(key, delete.iter().map(|p| key_of(p)));
        let template = pod_template(ds, hash);
        let prefix = format!("{}-", ds.name().unwrap_or(""));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (_, failure) = slow_start_batch(create_on.len(), INITIAL_BATCH_SIZE, || {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let node = create_on.get(i).cloned().unwrap_or_default();
            let mut pod = pod_from_template(&template, ds, &prefix);
            pod["spec"]["affinity"] = pin_to_node(&pod["spec"]["affinity"], &node);
            async move {
                match self.pod_control.create(&pod, ds).await {
                    Ok(_) => Ok(()),
                    // Nothing can be created in a namespace going away; not an error.
                    Err(e) if is_namespace_terminating(&e) => {
                        self.expectations.creation_observed(key);
                        Ok(())
                    }
                    Err(e) => {
                        self.expectations.creation_observed(key);
                        Err(e)
                    }
                }
            }
        })
        .await;
        // Creations never attempted will not be observed either.
        let attempted = next.load(std::sync::atomic::Ordering::SeqCst).min(create_on.len());
        for _ in attempted..create_on.len() {
            self.expectations.creation_observed(key);
        }
        let deletions = futures::future::join_all(delete.iter().map(|pod| async move {
            let name = pod.name().unwrap_or("");
            match self.pod_control.delete(name, ds).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.expectations.deletion_observed(key, &key_of(pod));
                    if e.is_not_found() {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
            }
        }))
        .await;
        let errors: Vec<ApiError> = failure
            .into_iter()
            .chain(deletions.into_iter().filter_map(Result::err))
            .collect();
        match errors.first() {
            None => Ok(()),
            Some(e) => Err(anyhow::Error::new(e.clone()).context(format!("syncing the pods of DaemonSet {key}"))),
        }
    }

    /// `constructHistory`: the revision of the current template (created, or
    /// renumbered to come last) and the older ones; orphans are adopted.
    async fn construct_history(
        &self,
        ds: &Value,
        selector: &LabelSelector,
    ) -> anyhow::Result<(Value, Vec<Arc<Value>>)> {
        let patch = history::template_patch(ds);
        let mut current = Vec::new();
        let mut old = Vec::new();
        for r in self.revisions.list_in(ds.namespace().unwrap_or("")) {
            if !selector.matches(r.labels()) {
                continue;
            }
            let r = match controller_uid(&r) {
                Some(uid) if Some(uid.as_str()) == ds.uid() => r,
                Some(_) => continue,
                None => match controller_ref::adopt(&self.client, history::revisions(), ds, &r).await? {
                    Some(adopted) => Arc::new(adopted),
                    None => continue,
                },
            };
            if r["data"] == patch {
                current.push(r);
            } else {
                old.push(r);
            }
        }
        let next = old.iter().map(|r| history::number(r)).max().unwrap_or(0) + 1;
        let cur = match current.len() {
            0 => self.snapshot(ds, next).await?,
            _ => {
                let cur = self.dedup(ds, current).await?;
                if history::number(&cur) < next {
                    history::renumber(&self.client, &cur, next).await?
                } else {
                    cur
                }
            }
        };
        Ok((cur, old))
    }

    /// `snapshot`: a revision `<ds>-<hash>` of the current template; a name
    /// taken by another template bumps `status.collisionCount` and fails (retried).
    async fn snapshot(&self, ds: &Value, number: i64) -> anyhow::Result<Value> {
        let collision = ds["status"]["collisionCount"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok());
        let hash = history::compute_hash(&ds["spec"]["template"], collision);
        let mut labels = ds["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        labels.insert(HASH_LABEL.into(), json!(hash));
        let name = format!("{}-{hash}", ds.name().unwrap_or(""));
        let mut revision = json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": ds.namespace(), "labels": labels,
                "ownerReferences": [controller_ref::owner_reference(ds)]},
            "data": history::template_patch(ds),
            "revision": number,
        });
        if let Some(a) = ds.annotations() {
            revision.set_meta("annotations", Value::Object(a.clone()));
        }
        let err = match self
            .client
            .create(history::revisions(), ds.namespace(), &revision)
            .await
        {
            Ok(created) => return Ok(created),
            Err(e) if e.is_already_exists() => e,
            Err(e) => return Err(e).with_context(|| format!("creating ControllerRevision {name}")),
        };
        let existing = self
            .client
            .get(history::revisions(), ds.namespace(), &name)
            .await
            .with_context(|| format!("reading ControllerRevision {name}"))?;
        if history::equal(&existing, &revision) {
            return Ok(existing);
        }
        let ds_name = ds.name().unwrap_or("");
        let mut fresh = self
            .client
            .get(daemonsets(), ds.namespace(), ds_name)
            .await
            .with_context(|| format!("reading DaemonSet {ds_name}"))?;
        if fresh["status"]["collisionCount"] != ds["status"]["collisionCount"] {
            anyhow::bail!("found a stale collision count of DaemonSet {ds_name:?} while processing; will retry until it is updated");
        }
        fresh["status"]["collisionCount"] = json!(collision.unwrap_or(0) + 1);
        self.client
            .update_status(daemonsets(), ds.namespace(), &fresh)
            .await
            .with_context(|| format!("bumping the collision count of DaemonSet {ds_name}"))?;
        Err(anyhow::Error::new(err).context(format!("hash collision for DaemonSet {ds_name}")))
    }

    /// `dedupCurHistories`: of several revisions of the current template, the
    /// highest stays; pods labelled with another's hash move to it.
    async fn dedup(&self, ds: &Value, mut current: Vec<Arc<Value>>) -> anyhow::Result<Value> {
        history::sort(&mut current);
        let Some(keep) = current.pop() else {
            anyhow::bail!("no current revision");
        };
        let keep_hash = keep.label(HASH_LABEL).unwrap_or("").to_string();
        for dup in current {
            let dup_hash = dup.label(HASH_LABEL).unwrap_or("");
            for pod in self.pods.list_in(ds.namespace().unwrap_or("")) {
                if controller_uid(&pod).as_deref() == ds.uid() && pod.label(HASH_LABEL) == Some(dup_hash) {
                    let patch = json!({"metadata": {"labels": {HASH_LABEL: keep_hash}}});
                    self.client
                        .patch(
                            pods(),
                            pod.namespace(),
                            pod.name().unwrap_or(""),
                            None,
                            k1s_proto::patch::PatchType::StrategicMerge,
                            &patch,
                        )
                        .await
                        .with_context(|| format!("relabelling pod {}", key_of(&pod)))?;
                }
            }
            history::delete(&self.client, &dup).await?;
        }
        Ok((*keep).clone())
    }

    /// `cleanupHistory`: deletes the oldest revisions beyond
    /// `revisionHistoryLimit` that no pod (even a finished one) still uses.
    async fn cleanup_history(&self, ds: &Value, pods: &[Arc<Value>], old: &[Arc<Value>]) -> anyhow::Result<()> {
        let limit = ds["spec"]["revisionHistoryLimit"].as_i64().unwrap_or(10);
        let mut to_kill = i64::try_from(old.len()).unwrap_or(0) - limit;
        if to_kill <= 0 {
            return Ok(());
        }
        let live: BTreeSet<&str> = pods.iter().filter_map(|p| p.label(HASH_LABEL)).collect();
        let mut old = old.to_vec();
        history::sort(&mut old);
        for r in old {
            if to_kill <= 0 {
                break;
            }
            if r.label(HASH_LABEL).is_some_and(|h| live.contains(h)) {
                continue;
            }
            history::delete(&self.client, &r).await?;
            to_kill -= 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
