//! The garbage collector: deletes objects whose owners are gone, and carries
//! out the `foregroundDeletion` and `orphan` propagation policies, as
//! Kubernetes' garbage collector does.
//!
//! A metadata informer per resource feeds a graph: owner uid → dependents.
//! The reconcile of an object:
//! - being deleted with the `orphan` finalizer: removes its ownerReferences
//!   from every dependent, then the finalizer;
//! - being deleted with the `foregroundDeletion` finalizer: waits until no
//!   dependent with `blockOwnerDeletion: true` remains (its dependents are
//!   being deleted), then removes the finalizer;
//! - otherwise, if it has ownerReferences: classifies each owner (matched by
//!   uid, looked up in the dependent's namespace when namespaced) as solid,
//!   dangling (absent, or another object with that name) or waiting (being
//!   deleted in the foreground), and then either drops the references to
//!   dangling/waiting owners (when a solid owner remains) or deletes the object.
//!
//! Absence is confirmed with a live read before anything is deleted, and
//! every write carries the object's uid and resourceVersion as preconditions.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::patch::PatchType;
use k1s_proto::resources::{find_kind, storage_of, RESOURCES};
use k1s_proto::ResourceInfo;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;

/// The controller's name (its client identity and log name).
pub const NAME: &str = "generic-garbage-collector";
/// The finalizer asking for dependents to be orphaned.
pub const ORPHAN: &str = "orphan";
/// The finalizer asking for dependents to be deleted first.
pub const FOREGROUND: &str = "foregroundDeletion";

/// Settings of the garbage collector.
#[derive(Debug, Clone)]
pub struct Config {
    /// Objects processed at once.
    pub workers: usize,
    /// How often every object with owners is looked at regardless.
    pub resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 2,
            resync: Duration::from_secs(600),
        }
    }
}

/// The resources the collector watches: every stored resource but events
/// (which Kubernetes' collector ignores too).
fn collected_resources() -> Vec<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .filter(|r| r.is_storage_version() && r.plural != "events")
        .collect()
}

/// One object: its resource (an index into the collector's resources), namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    resource: usize,
    namespace: Option<String>,
    name: String,
}

/// Owner uid → the objects naming it in their ownerReferences.
#[derive(Default)]
struct Dependents {
    by_owner: Mutex<HashMap<String, HashSet<Node>>>,
}

impl Dependents {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashSet<Node>>> {
        // Each update is a few inserts/removes of whole entries; a poisoned map is still usable.
        self.by_owner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn of(&self, owner_uid: &str) -> Vec<Node> {
        self.lock()
            .get(owner_uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn remove(&self, node: &Node, obj: &Value) {
        let mut map = self.lock();
        for uid in owner_uids(obj) {
            if let Some(set) = map.get_mut(&uid) {
                set.remove(node);
                if set.is_empty() {
                    map.remove(&uid);
                }
            }
        }
    }

    fn add(&self, node: &Node, obj: &Value) {
        let mut map = self.lock();
        for uid in owner_uids(obj) {
            map.entry(uid).or_default().insert(node.clone());
        }
    }
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.owner_references()
        .iter()
        .filter_map(|r| r["uid"].as_str().map(String::from))
        .collect()
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.finalizers().iter().any(|x| x == f)
}

/// Whether an object is being deleted in the foreground (waiting for its dependents).
fn deleting_dependents(obj: &Value) -> bool {
    obj.deletion_timestamp().is_some() && has_finalizer(obj, FOREGROUND)
}

/// Whether an object needs the collector's attention on its own account.
fn interesting(obj: &Value) -> bool {
    !obj.owner_references().is_empty()
        || (obj.deletion_timestamp().is_some() && (has_finalizer(obj, ORPHAN) || has_finalizer(obj, FOREGROUND)))
}

/// Where an ownerReference points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnerTarget {
    /// The owner's resource and namespace (and its index, when the collector watches it).
    Found {
        info: &'static ResourceInfo,
        index: Option<usize>,
        namespace: Option<String>,
    },
    /// A kind this server does not serve: the reference cannot be checked.
    UnknownKind,
    /// A cluster-scoped dependent naming a namespaced owner: invalid, never resolvable.
    InvalidNamespace,
}

/// The collector's view of the world: resources, their caches and the dependents index.
struct Graph {
    resources: Arc<Vec<&'static ResourceInfo>>,
    caches: Vec<Cache>,
    deps: Arc<Dependents>,
}

impl Graph {
    fn target(resources: &[&'static ResourceInfo], dependent_ns: Option<&str>, r: &Value) -> OwnerTarget {
        let (Some(api_version), Some(kind)) = (r["apiVersion"].as_str(), r["kind"].as_str()) else {
            return OwnerTarget::UnknownKind;
        };
        let Some(info) = find_kind(api_version, kind).map(storage_of) else {
            return OwnerTarget::UnknownKind;
        };
        let index = resources.iter().position(|x| std::ptr::eq(*x, info));
        let namespace = match (info.namespaced, dependent_ns) {
            (false, _) => None,
            (true, Some(ns)) => Some(ns.to_string()),
            (true, None) => return OwnerTarget::InvalidNamespace,
        };
        OwnerTarget::Found { info, index, namespace }
    }

    fn owner_nodes(resources: &[&'static ResourceInfo], obj: &Value) -> Vec<Node> {
        let mut out = Vec::new();
        for r in obj.owner_references() {
            let (
                OwnerTarget::Found {
                    index: Some(index),
                    namespace,
                    ..
                },
                Some(name),
            ) = (Self::target(resources, obj.namespace(), &r), r["name"].as_str())
            else {
                continue;
            };
            out.push(Node {
                resource: index,
                namespace,
                name: name.to_string(),
            });
        }
        out
    }

    fn cached(&self, node: &Node) -> Option<Arc<Value>> {
        self.caches
            .get(node.resource)?
            .get(node.namespace.as_deref(), &node.name)
    }

    fn dependents_of(&self, uid: &str) -> Vec<Node> {
        self.deps.of(uid)
    }

    /// Every object with owners or a propagation finalizer (for the periodic resync).
    fn interesting_nodes(&self) -> Vec<Node> {
        let mut out = Vec::new();
        for (index, cache) in self.caches.iter().enumerate() {
            for obj in cache.list() {
                if let (true, Some(name)) = (interesting(&obj), obj.name()) {
                    out.push(Node {
                        resource: index,
                        namespace: obj.namespace().map(String::from),
                        name: name.to_string(),
                    });
                }
            }
        }
        out
    }
}

/// Maps one resource's changes to keys, and keeps the dependents index.
fn on_change(
    resources: &Arc<Vec<&'static ResourceInfo>>,
    graph_deps: &Arc<Dependents>,
    queue: &WorkQueue<Node>,
    index: usize,
    change: &Change,
) {
    let node_of = |obj: &Value| {
        obj.name().map(|n| Node {
            resource: index,
            namespace: obj.namespace().map(String::from),
            name: n.to_string(),
        })
    };
    let enqueue_dependents = |uid: Option<&str>| {
        if let Some(uid) = uid {
            for d in graph_deps.of(uid) {
                queue.add(d);
            }
        }
    };
    let enqueue_owners = |obj: &Value| {
        for o in Graph::owner_nodes(resources, obj) {
            queue.add(o);
        }
    };
    match change {
        Change::Applied { old, new } => {
            let Some(node) = node_of(new) else { return };
            if let Some(old) = old {
                graph_deps.remove(&node, old);
            }
            graph_deps.add(&node, new);
            if interesting(new) {
                queue.add(node);
            }
            if new.deletion_timestamp().is_some() {
                enqueue_dependents(new.uid());
            }
            let old_uid = old.as_ref().and_then(|o| o.uid());
            if old_uid.is_some() && old_uid != new.uid() {
                enqueue_dependents(old_uid);
            }
            // Owners waiting in the foreground look again when a dependent's references or deletion change.
            let relevant = |o: &Value| {
                (
                    o.metadata().and_then(|m| m.get("ownerReferences")).cloned(),
                    o.deletion_timestamp().is_some(),
                )
            };
            if old.as_ref().is_none_or(|o| relevant(o) != relevant(new)) {
                if let Some(old) = old {
                    enqueue_owners(old);
                }
                enqueue_owners(new);
            }
        }
        Change::Deleted(obj) => {
            if let Some(node) = node_of(obj) {
                graph_deps.remove(&node, obj);
            }
            enqueue_dependents(obj.uid());
            enqueue_owners(obj);
        }
    }
}

/// Starts the garbage collector.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<Node> = WorkQueue::new(QueueConfig::default());
    let resources = Arc::new(collected_resources());
    let deps = Arc::new(Dependents::default());
    let mut informers = Vec::with_capacity(resources.len());
    for (index, info) in resources.iter().enumerate() {
        let (r, d, q) = (resources.clone(), deps.clone(), queue.clone());
        let informer = Informer::new(client.clone(), info)
            .metadata_only()
            .on_change(move |change| on_change(&r, &d, &q, index, change));
        informers.push(informer);
    }
    let caches: Vec<Cache> = informers.iter().map(Informer::cache).collect();
    let graph = Arc::new(Graph {
        resources,
        caches,
        deps,
    });
    let reconciler = Arc::new(GarbageCollector {
        client,
        graph: graph.clone(),
        queue: queue.clone(),
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(informers)
        .workers(config.workers)
        .resync(config.resync, move || graph.interesting_nodes());
    tokio::spawn(controller.run(shutdown))
}

/// How an owner stands, from one dependent's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerState {
    /// Exists with the referenced uid and is not being deleted in the foreground.
    Solid,
    /// Gone, or replaced by another object with the same name.
    Dangling,
    /// Being deleted in the foreground: waiting for its dependents.
    Waiting,
}

/// What to do with a dependent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Nothing,
    /// Drop the ownerReferences with these uids.
    RemoveOwnerRefs(Vec<String>),
    /// Delete with this propagation policy, first making its references non-blocking if `unblock`.
    Delete {
        policy: &'static str,
        unblock: bool,
    },
}

/// Kubernetes' decision for a dependent, given its owners' states.
fn decide(
    owners: &[(String, OwnerState)],
    has_dependents: bool,
    a_dependent_waits: bool,
    finalizers: &[String],
) -> Plan {
    let with = |s: OwnerState| {
        owners
            .iter()
            .filter(move |(_, st)| *st == s)
            .map(|(uid, _)| uid.clone())
    };
    let solid = with(OwnerState::Solid).count();
    let dangling: Vec<String> = with(OwnerState::Dangling).collect();
    let waiting: Vec<String> = with(OwnerState::Waiting).collect();
    if solid > 0 {
        if dangling.is_empty() && waiting.is_empty() {
            return Plan::Nothing;
        }
        // References to waiting owners go too, or they would wait for this object forever.
        return Plan::RemoveOwnerRefs(dangling.into_iter().chain(waiting).collect());
    }
    if !waiting.is_empty() && has_dependents {
        // Delete in the foreground so the waiting owner waits for this object's dependents too;
        // if one of those waits on this object in turn, unblock to break the cycle.
        return Plan::Delete {
            policy: "Foreground",
            unblock: a_dependent_waits,
        };
    }
    let policy = if finalizers.iter().any(|f| f == ORPHAN) {
        "Orphan"
    } else if finalizers.iter().any(|f| f == FOREGROUND) {
        "Foreground"
    } else {
        "Background"
    };
    Plan::Delete { policy, unblock: false }
}

struct GarbageCollector {
    client: Client,
    graph: Arc<Graph>,
    queue: WorkQueue<Node>,
}

/// How many times a write is retried on a conflict before the key backs off.
const CONFLICT_RETRIES: usize = 5;

impl Reconciler for GarbageCollector {
    type Key = Node;

    async fn reconcile(&self, node: &Node) -> anyhow::Result<Action> {
        let Some(obj) = self.graph.cached(node) else {
            return Ok(Action::Done);
        };
        let uid = obj.uid().unwrap_or_default().to_string();
        if obj.deletion_timestamp().is_some() {
            if has_finalizer(&obj, ORPHAN) {
                self.orphan_dependents(&uid).await?;
                self.remove_finalizer(node, &uid, ORPHAN).await?;
            } else if has_finalizer(&obj, FOREGROUND) {
                self.process_deleting_dependents(node, &uid).await?;
            }
            return Ok(Action::Done);
        }
        if obj.owner_references().is_empty() {
            return Ok(Action::Done);
        }
        // Plan from the cache; act only after re-planning on the live object.
        if self.plan(node, &obj).await? == Plan::Nothing {
            return Ok(Action::Done);
        }
        let info = self.info(node);
        let latest = match self.client.get(info, node.namespace.as_deref(), &node.name).await {
            Ok(o) => o,
            Err(e) if e.is_not_found() => return Ok(Action::Done),
            Err(e) => return Err(e).context("reading the dependent"),
        };
        if latest.uid() != Some(uid.as_str()) || latest.deletion_timestamp().is_some() {
            return Ok(Action::Done);
        }
        let plan = self.plan(node, &latest).await?;
        debug!(?node, ?plan, "garbage collector");
        match plan {
            Plan::Nothing => {}
            Plan::RemoveOwnerRefs(uids) => {
                self.edit(info, node, &uid, |o| {
                    let refs = o.owner_references();
                    let keep: Vec<Value> = refs
                        .iter()
                        .filter(|r| !uids.iter().any(|u| r["uid"] == u.as_str()))
                        .cloned()
                        .collect();
                    (keep.len() != refs.len()).then(|| owner_refs_patch(keep))
                })
                .await?;
            }
            Plan::Delete { policy, unblock } => {
                let mut target = latest;
                if unblock {
                    let unblocked = self
                        .edit(info, node, &uid, |o| {
                            let mut refs = o.owner_references();
                            let mut changed = false;
                            for r in refs.iter_mut().filter(|r| r["blockOwnerDeletion"] == true) {
                                r["blockOwnerDeletion"] = json!(false);
                                changed = true;
                            }
                            changed.then(|| owner_refs_patch(refs))
                        })
                        .await?;
                    if let Some(o) = unblocked {
                        target = o;
                    }
                }
                let options = json!({
                    "kind": "DeleteOptions", "apiVersion": "v1",
                    "propagationPolicy": policy,
                    "preconditions": {"uid": uid, "resourceVersion": target.resource_version()},
                });
                match self
                    .client
                    .delete(info, node.namespace.as_deref(), &node.name, &options)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    // Changed since it was read (adopted, say): look again with the back-off.
                    Err(e) => return Err(e).context("deleting the dependent"),
                }
            }
        }
        Ok(Action::Done)
    }
}

fn owner_refs_patch(refs: Vec<Value>) -> Value {
    let refs = if refs.is_empty() {
        Value::Null
    } else {
        Value::Array(refs)
    };
    json!({"metadata": {"ownerReferences": refs}})
}

impl GarbageCollector {
    fn info(&self, node: &Node) -> &'static ResourceInfo {
        self.graph.resources[node.resource]
    }

    /// Classifies the owners of `obj` and decides what to do.
    async fn plan(&self, node: &Node, obj: &Value) -> anyhow::Result<Plan> {
        let mut owners = Vec::new();
        for r in obj.owner_references() {
            let uid = r["uid"].as_str().unwrap_or_default().to_string();
            match self.owner_state(node.namespace.as_deref(), &r, &uid).await? {
                Some(state) => owners.push((uid, state)),
                // An owner that cannot be checked keeps the object (Kubernetes leaves it too).
                None => return Ok(Plan::Nothing),
            }
        }
        let deps: Vec<Arc<Value>> = match obj.uid() {
            Some(uid) => self
                .graph
                .dependents_of(uid)
                .iter()
                .filter_map(|d| self.graph.cached(d))
                .collect(),
            None => Vec::new(),
        };
        let a_dependent_waits = deps.iter().any(|d| deleting_dependents(d));
        Ok(decide(&owners, !deps.is_empty(), a_dependent_waits, &obj.finalizers()))
    }

    /// How the owner an ownerReference names stands; `None` when it cannot be checked.
    async fn owner_state(
        &self,
        dependent_ns: Option<&str>,
        r: &Value,
        uid: &str,
    ) -> anyhow::Result<Option<OwnerState>> {
        let name = r["name"].as_str().unwrap_or_default();
        if uid.is_empty() || name.is_empty() {
            // Kubernetes requires both; a reference without them proves nothing about its owner.
            return Ok(None);
        }
        let (info, index, namespace) = match Graph::target(&self.graph.resources, dependent_ns, r) {
            OwnerTarget::Found { info, index, namespace } => (info, index, namespace),
            OwnerTarget::UnknownKind | OwnerTarget::InvalidNamespace => return Ok(None),
        };
        let state = |o: &Value| {
            if deleting_dependents(o) {
                OwnerState::Waiting
            } else {
                OwnerState::Solid
            }
        };
        if let Some(index) = index {
            let node = Node {
                resource: index,
                namespace: namespace.clone(),
                name: name.to_string(),
            };
            if let Some(o) = self.graph.cached(&node).filter(|o| o.uid() == Some(uid)) {
                return Ok(Some(state(&o)));
            }
        }
        // Absent from the cache (or another uid): confirm with a live read before calling it gone.
        match self.client.get(info, namespace.as_deref(), name).await {
            Ok(o) if o.uid() == Some(uid) => Ok(Some(state(&o))),
            Ok(_) => Ok(Some(OwnerState::Dangling)),
            Err(e) if e.is_not_found() => Ok(Some(OwnerState::Dangling)),
            Err(e) => Err(e).context("looking up an owner"),
        }
    }

    /// Removes the references to `owner_uid` from all its dependents.
    async fn orphan_dependents(&self, owner_uid: &str) -> anyhow::Result<()> {
        for dep in self.graph.dependents_of(owner_uid) {
            let info = self.info(&dep);
            let Some(dep_uid) = self.graph.cached(&dep).and_then(|o| o.uid().map(String::from)) else {
                continue;
            };
            self.edit(info, &dep, &dep_uid, |o| {
                let refs = o.owner_references();
                let keep: Vec<Value> = refs.iter().filter(|r| r["uid"] != owner_uid).cloned().collect();
                (keep.len() != refs.len()).then(|| owner_refs_patch(keep))
            })
            .await
            .with_context(|| format!("orphaning {}/{}", dep.namespace.as_deref().unwrap_or(""), dep.name))?;
        }
        Ok(())
    }

    /// Removes `foregroundDeletion` once no blocking dependent remains; until
    /// then makes sure each blocking dependent is being deleted.
    async fn process_deleting_dependents(&self, node: &Node, uid: &str) -> anyhow::Result<()> {
        let mut blocking = Vec::new();
        for dep in self.graph.dependents_of(uid) {
            let Some(obj) = self.graph.cached(&dep) else { continue };
            let blocks = obj
                .owner_references()
                .iter()
                .any(|r| r["uid"] == uid && r["blockOwnerDeletion"] == true);
            if blocks {
                blocking.push((dep, obj));
            }
        }
        if blocking.is_empty() {
            return self.remove_finalizer(node, uid, FOREGROUND).await;
        }
        for (dep, obj) in blocking {
            if !deleting_dependents(&obj) {
                self.queue.add(dep);
            }
        }
        Ok(())
    }

    async fn remove_finalizer(&self, node: &Node, uid: &str, finalizer: &str) -> anyhow::Result<()> {
        self.edit(self.info(node), node, uid, |o| {
            let fins = o.finalizers();
            let rest: Vec<String> = fins.iter().filter(|f| *f != finalizer).cloned().collect();
            let value = if rest.is_empty() { Value::Null } else { json!(rest) };
            (rest.len() != fins.len()).then(|| json!({"metadata": {"finalizers": value}}))
        })
        .await
        .with_context(|| format!("removing the {finalizer} finalizer"))?;
        Ok(())
    }

    /// Reads the live object with `uid` and applies the merge patch `change`
    /// computes (none: nothing to do), guarded by its resourceVersion; retries
    /// conflicts. Returns the patched object, if it was patched.
    async fn edit(
        &self,
        info: &'static ResourceInfo,
        node: &Node,
        uid: &str,
        change: impl Fn(&Value) -> Option<Value>,
    ) -> anyhow::Result<Option<Value>> {
        let ns = node.namespace.as_deref();
        for _ in 0..CONFLICT_RETRIES {
            let latest = match self.client.get(info, ns, &node.name).await {
                Ok(o) => o,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            if latest.uid() != Some(uid) {
                return Ok(None);
            }
            let Some(mut patch) = change(&latest) else {
                return Ok(None);
            };
            patch["metadata"]["resourceVersion"] = json!(latest.resource_version());
            match self
                .client
                .patch(info, ns, &node.name, None, PatchType::Merge, &patch)
                .await
            {
                Ok(o) => return Ok(Some(o)),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!(
            "{} {}: still conflicting after {CONFLICT_RETRIES} tries",
            info.plural,
            node.name
        )
    }
}

#[cfg(test)]
mod tests;
