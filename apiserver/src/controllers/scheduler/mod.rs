//! The scheduler (`default-scheduler`): places each pending pod whose
//! `schedulerName` is `default-scheduler` on a node that fits it and binds it
//! through `pods/binding`, recording a `Scheduled` event. When no node fits
//! the pod stays Pending with `PodScheduled=False` (`Unschedulable`) and a
//! `FailedScheduling` event in kube-scheduler's words; it is tried again when
//! something that could make it fit changes (a pod leaving a node, a node
//! changing, a volume or claim changing), after a back-off, and at the latest
//! after five minutes.
//!
//! Pure parts: `filters` (the Filter plugins), `resources` (requests and
//! allocatable), `volumes` (claim checks), `message` (failure text),
//! `queueing` (whose pods, which changes matter, back-off).

pub mod filters;
pub mod message;
pub mod queueing;
pub mod resources;
pub mod volumes;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::patch::PatchType;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::debug;

use super::pod_control::patch_pod_condition;
use super::resource;
use super::runtime::{cache_key, Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;
use crate::events::{EventRecorder, EventSource, NORMAL, WARNING};
use filters::{run_filters, NodeInfo, Rejection};
use message::{failure_message, Failure};
use queueing::{frees_resources, node_name, node_update_matters, pod_update_matters, retry_in, wants_scheduling};
use volumes::{check_claims, is_bound, VolumeLookup, SELECTED_NODE};

/// The scheduler's name: its events' source and the `schedulerName` it serves.
pub const NAME: &str = queueing::SCHEDULER_NAME;

/// Settings of the scheduler.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long an unschedulable pod waits at most before it is tried again
    /// (`podMaxInUnschedulablePodsDuration`).
    pub unschedulable_retry: Duration,
    /// How often a pod whose `WaitForFirstConsumer` claims are being bound is looked at.
    pub volume_binding_poll: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            unschedulable_retry: Duration::from_secs(300),
            volume_binding_poll: Duration::from_secs(1),
        }
    }
}

/// A pod that did not fit: how often, and when last.
#[derive(Debug, Clone, Copy)]
struct Attempts {
    count: u32,
    last: Instant,
}

/// What the informer handlers and the reconciler share.
#[derive(Default)]
struct State {
    /// Pods this scheduler bound whose binding the pod cache does not show yet: key → node.
    assumed: HashMap<String, String>,
    /// Pods that fit nowhere, tried again when the world changes.
    unschedulable: HashMap<String, Attempts>,
    /// Pods waiting for their `WaitForFirstConsumer` claims to be bound.
    waiting_for_volumes: HashSet<String>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<State>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the maps consistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, key: &str) {
        let mut s = self.lock();
        s.assumed.remove(key);
        s.unschedulable.remove(key);
        s.waiting_for_volumes.remove(key);
    }

    /// Queues one unschedulable pod again, once its back-off has passed.
    fn retry(&self, queue: &WorkQueue<String>, key: &str) {
        let attempts = self.lock().unschedulable.get(key).copied();
        match attempts {
            Some(a) => {
                queue.add_after(key.to_string(), retry_in(a.count, a.last.elapsed()));
            }
            None => {
                queue.add(key.to_string());
            }
        }
    }

    /// Something changed that may let unschedulable pods fit: queue them again.
    fn retry_unschedulable(&self, queue: &WorkQueue<String>) {
        let now = Instant::now();
        let s = self.lock();
        for (key, a) in &s.unschedulable {
            queue.add_after(key.clone(), retry_in(a.count, now.saturating_duration_since(a.last)));
        }
    }

    /// A claim changed: pods waiting for binding, and those that did not fit, look again.
    fn retry_volume_users(&self, queue: &WorkQueue<String>) {
        let waiting: Vec<String> = self.lock().waiting_for_volumes.iter().cloned().collect();
        for key in waiting {
            queue.add(key);
        }
        self.retry_unschedulable(queue);
    }
}

fn key_of(obj: &Value) -> String {
    cache_key(obj.namespace(), obj.name().unwrap_or(""))
}

/// What a pod change means for the queue.
fn on_pod_change(change: &Change, queue: &WorkQueue<String>, shared: &Shared) {
    match change {
        Change::Applied { old, new } => {
            let key = key_of(new);
            // Bound (perhaps by us), or no longer ours to place.
            if node_name(new).is_some() || !wants_scheduling(new) {
                shared.forget(&key);
            } else {
                match old {
                    None => {
                        queue.add(key);
                    }
                    Some(o) if !wants_scheduling(o) || pod_update_matters(o, new) => shared.retry(queue, &key),
                    Some(_) => {}
                }
            }
            if frees_resources(old.as_deref(), Some(new)) {
                shared.retry_unschedulable(queue);
            }
        }
        Change::Deleted(pod) => {
            shared.forget(&key_of(pod));
            if frees_resources(Some(pod), None) {
                shared.retry_unschedulable(queue);
            }
        }
    }
}

/// Starts the scheduler.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_scheduler(api);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let shared = Shared::default();

    let (q, s) = (queue.clone(), shared.clone());
    let pods = Informer::new(client.clone(), resource("", "pods")).on_change(move |c| on_pod_change(c, &q, &s));
    let (q, s) = (queue.clone(), shared.clone());
    let nodes = Informer::new(client.clone(), resource("", "nodes")).on_change(move |c| match c {
        Change::Applied { old: None, .. } => s.retry_unschedulable(&q),
        Change::Applied { old: Some(o), new } if node_update_matters(o, new) => s.retry_unschedulable(&q),
        _ => {}
    });
    let (q, s) = (queue.clone(), shared.clone());
    let claims = Informer::new(client.clone(), resource("", "persistentvolumeclaims")).on_change(move |c| {
        if let Change::Applied { .. } = c {
            s.retry_volume_users(&q);
        }
    });
    let (q, s) = (queue.clone(), shared.clone());
    let volumes = Informer::new(client.clone(), resource("", "persistentvolumes")).on_change(move |c| {
        if let Change::Applied { .. } = c {
            s.retry_volume_users(&q);
        }
    });
    let classes = Informer::new(client.clone(), resource("storage.k8s.io", "storageclasses"));

    let scheduler = Arc::new(Scheduler {
        events: EventRecorder::spawn(client.clone(), EventSource::controller(NAME)),
        client,
        config,
        shared,
        pods: pods.cache(),
        nodes: nodes.cache(),
        caches: VolumeCaches {
            claims: claims.cache(),
            volumes: volumes.cache(),
            classes: classes.cache(),
        },
    });
    // One worker: each decision sees the bindings made before it.
    let controller = Controller::new(NAME, scheduler, queue).informers(vec![pods, nodes, claims, volumes, classes]);
    tokio::spawn(controller.run(shutdown))
}

/// The volume caches, as the claim checks read them.
struct VolumeCaches {
    claims: Cache,
    volumes: Cache,
    classes: Cache,
}

impl VolumeLookup for VolumeCaches {
    fn claim(&self, namespace: &str, name: &str) -> Option<Value> {
        self.claims.get(Some(namespace), name).map(|v| (*v).clone())
    }
    fn volume(&self, name: &str) -> Option<Value> {
        self.volumes.get(None, name).map(|v| (*v).clone())
    }
    fn class(&self, name: &str) -> Option<Value> {
        self.classes.get(None, name).map(|v| (*v).clone())
    }
}

struct Scheduler {
    client: Client,
    events: EventRecorder,
    config: Config,
    shared: Shared,
    pods: Cache,
    nodes: Cache,
    caches: VolumeCaches,
}

/// Where a pod goes, or why nowhere.
#[derive(Debug)]
enum Decision {
    /// Bind to this node once these `WaitForFirstConsumer` claims are bound.
    Node { node: String, delayed_claims: Vec<String> },
    /// No node fits.
    Unschedulable(Failure),
}

/// The nodes with what the pods on them (bound, or bound by us and not yet seen so) hold.
fn snapshot(nodes: &[Arc<Value>], pods: &[Arc<Value>], assumed: &HashMap<String, String>) -> Vec<NodeInfo> {
    let mut infos: Vec<NodeInfo> = nodes.iter().map(|n| NodeInfo::new((**n).clone())).collect();
    infos.sort_by(|a, b| a.name().cmp(b.name()));
    let index: HashMap<String, usize> = infos
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name().to_string(), i))
        .collect();
    for pod in pods {
        if queueing::is_terminal(pod) {
            continue;
        }
        let node = node_name(pod).or_else(|| assumed.get(&key_of(pod)).map(String::as_str));
        if let Some(i) = node.and_then(|n| index.get(n)) {
            infos[*i].add_pod(pod);
        }
    }
    infos
}

/// Picks among feasible nodes the one with the most room left (kube-scheduler's
/// LeastAllocated score on cpu and memory); ties go to the first by name.
fn pick<'a>(feasible: &[&'a NodeInfo], requests: &resources::Resources) -> Option<&'a NodeInfo> {
    let free = |have: i64, used: i64, want: i64| {
        if have <= 0 {
            0.0
        } else {
            (have - used - want).max(0) as f64 / have as f64
        }
    };
    let score = |n: &NodeInfo| {
        let a = &n.allocatable.resources;
        free(a.milli_cpu, n.requested.milli_cpu, requests.milli_cpu)
            + free(a.memory, n.requested.memory, requests.memory)
    };
    let mut best: Option<(&NodeInfo, f64)> = None;
    for n in feasible {
        let s = score(n);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((n, s));
        }
    }
    best.map(|(n, _)| n)
}

/// Decides where `pod` goes, given the cluster as the caches show it.
fn decide(pod: &Value, infos: &[NodeInfo], lookup: &impl VolumeLookup) -> Decision {
    if infos.is_empty() {
        return Decision::Unschedulable(Failure::NoNodes);
    }
    let claims = match check_claims(pod, lookup) {
        Ok(c) => c,
        Err(message) => {
            return Decision::Unschedulable(Failure::PreFilter {
                nodes: infos.len(),
                message,
            })
        }
    };
    let requests = resources::pod_requests(pod);
    let mut feasible = Vec::new();
    let mut rejections: Vec<Rejection> = Vec::new();
    for info in infos {
        match run_filters(pod, &requests, &claims.bound, info) {
            Ok(()) => feasible.push(info),
            Err(r) => rejections.push(r),
        }
    }
    match pick(&feasible, &requests) {
        Some(node) => Decision::Node {
            node: node.name().to_string(),
            delayed_claims: claims.delayed,
        },
        None => Decision::Unschedulable(Failure::Filter(rejections)),
    }
}

impl Reconciler for Scheduler {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let Some(pod) = self.pods.get(Some(namespace), name) else {
            self.shared.forget(key);
            return Ok(Action::Done);
        };
        if !wants_scheduling(&pod) || self.shared.lock().assumed.contains_key(key) {
            return Ok(Action::Done);
        }
        let infos = {
            let assumed = self.shared.lock().assumed.clone();
            snapshot(&self.nodes.list(), &self.pods.list(), &assumed)
        };
        match decide(&pod, &infos, &self.caches) {
            Decision::Node { node, delayed_claims } => {
                if !self.claims_bound(namespace, &node, &delayed_claims).await? {
                    self.shared.lock().waiting_for_volumes.insert(key.clone());
                    return Ok(Action::RequeueAfter(self.config.volume_binding_poll));
                }
                self.bind(key, &pod, &node).await
            }
            Decision::Unschedulable(failure) => self.unschedulable(key, &pod, &failure).await,
        }
    }
}

impl Scheduler {
    /// Asks for the pod's delayed claims to be bound near `node` (the
    /// `selected-node` annotation provisioners act on); whether all are bound.
    async fn claims_bound(&self, namespace: &str, node: &str, claims: &[String]) -> anyhow::Result<bool> {
        let mut all_bound = true;
        for claim in claims {
            let Some(pvc) = self.caches.claims.get(Some(namespace), claim) else {
                all_bound = false;
                continue;
            };
            if is_bound(&pvc) {
                continue;
            }
            all_bound = false;
            if pvc["metadata"]["annotations"][SELECTED_NODE] != node {
                let patch = json!({"metadata": {"annotations": {SELECTED_NODE: node}}});
                self.client
                    .patch(
                        resource("", "persistentvolumeclaims"),
                        Some(namespace),
                        claim,
                        None,
                        PatchType::Merge,
                        &patch,
                    )
                    .await
                    .with_context(|| format!("selecting node {node} for claim {namespace}/{claim}"))?;
            }
        }
        Ok(all_bound)
    }

    async fn bind(&self, key: &str, pod: &Value, node: &str) -> anyhow::Result<Action> {
        let (namespace, name) = (pod.namespace().unwrap_or("default"), pod.name().unwrap_or(""));
        let binding = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": pod.uid().unwrap_or("")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        match self
            .client
            .create_subresource(resource("", "pods"), Some(namespace), name, "binding", &binding)
            .await
        {
            Ok(_) => {
                self.shared.forget(key);
                self.shared.lock().assumed.insert(key.to_string(), node.to_string());
                debug!(pod = key, node, "bound");
                self.events.event(
                    pod,
                    NORMAL,
                    "Scheduled",
                    format!("Successfully assigned {namespace}/{name} to {node}"),
                );
                Ok(Action::Done)
            }
            // Bound meanwhile, deleted, or recreated under the same name: the cache will tell.
            Err(e) if e.is_not_found() || (e.is_conflict() && e.kind.as_deref() == Some("pods/binding")) => {
                Ok(Action::Done)
            }
            Err(e) => Err(e).with_context(|| format!("binding pod {key} to node {node}")),
        }
    }

    async fn unschedulable(&self, key: &str, pod: &Value, failure: &Failure) -> anyhow::Result<Action> {
        let never = pod["spec"]["preemptionPolicy"] == "Never";
        let message = failure_message(failure, never);
        debug!(pod = key, %message, "unschedulable");
        self.events.event(pod, WARNING, "FailedScheduling", message.clone());
        {
            let mut s = self.shared.lock();
            let count = s.unschedulable.get(key).map_or(0, |a| a.count);
            s.unschedulable.insert(
                key.to_string(),
                Attempts {
                    count: count.saturating_add(1),
                    last: Instant::now(),
                },
            );
        }
        let condition =
            json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message});
        match patch_pod_condition(&self.client, pod, condition).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(Action::Done),
            Err(e) => return Err(e).with_context(|| format!("updating the PodScheduled condition of {key}")),
        }
        Ok(Action::RequeueAfter(self.config.unschedulable_retry))
    }
}

#[cfg(test)]
mod tests;
