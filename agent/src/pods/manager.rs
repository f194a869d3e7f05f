//! The pod manager: watches the pods bound to this node, keeps one worker task
//! per pod UID and wakes it on pod changes, container exits, probe result
//! changes and its own timers. At start it cleans up what belongs to pods that
//! no longer exist; running containers of live pods are adopted as they are.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use k1s_apiserver::client::Client;
use k1s_apiserver::controllers::runtime::{wait_shutdown, Change, Informer};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::deps::Deps;
use super::worker::{IdIndex, NodeFacts, Outcome, Worker, MIN_GRACE};
use crate::runtime::{ContainerRunState, ExitEvent};

/// A change to a pod bound to this node.
#[derive(Debug, Clone)]
pub enum PodEvent {
    /// Added or changed; `significant` is false for status-only changes (our own writes).
    Applied {
        /// The pod.
        pod: Arc<Pod>,
        /// Whether anything but status/resourceVersion/managedFields changed.
        significant: bool,
    },
    /// Gone from the API.
    Deleted(Arc<Pod>),
}

struct Handle {
    pod: watch::Sender<Option<Arc<Pod>>>,
    wake: Arc<Notify>,
}

/// Runs the pod workers of one node.
pub struct PodManager {
    deps: Deps,
    node: NodeFacts,
    ids: IdIndex,
    resync: Duration,
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// Whether two versions of a pod differ in more than status and bookkeeping.
pub fn significant_change(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("status");
        }
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    strip(old) != strip(new)
}

impl PodManager {
    /// A manager for the node described by `node`.
    pub fn new(deps: Deps, node: NodeFacts) -> PodManager {
        PodManager {
            deps,
            node,
            ids: Arc::new(Mutex::new(HashMap::new())),
            resync: Duration::from_secs(30),
        }
    }

    /// Sets the longest time a worker waits between syncs (30 s by default).
    pub fn with_resync(mut self, resync: Duration) -> PodManager {
        self.resync = resync;
        self
    }

    /// Stops and removes containers, sandboxes and volumes of pods not in `live`.
    pub async fn cleanup_orphans(&self, live: &HashSet<String>) -> anyhow::Result<()> {
        let containers = self.deps.runtime.list_containers().await?;
        for c in containers.iter().filter(|c| !live.contains(&c.pod_uid)) {
            info!(
                container = c.id,
                pod_uid = c.pod_uid,
                "removing a container of a pod that no longer exists"
            );
            if matches!(c.state, ContainerRunState::Running { .. } | ContainerRunState::Created) {
                if let Err(e) = self.deps.runtime.stop_container(&c.id, MIN_GRACE).await {
                    warn!(container = c.id, error = format!("{e:#}"), "stopping an orphan failed");
                }
            }
            if let Err(e) = self.deps.runtime.remove_container(&c.id).await {
                warn!(container = c.id, error = format!("{e:#}"), "removing an orphan failed");
            }
        }
        let mut uids: HashSet<String> = self.deps.runtime.list_sandboxes().await?.into_iter().collect();
        uids.extend(containers.iter().map(|c| c.pod_uid.clone()));
        for uid in uids.iter().filter(|u| !live.contains(*u)) {
            if let Err(e) = self.deps.runtime.remove_sandbox(uid).await {
                warn!(
                    pod_uid = uid,
                    error = format!("{e:#}"),
                    "removing an orphan sandbox failed"
                );
            }
            if let Err(e) = self.deps.config.teardown_volumes(uid).await {
                warn!(
                    pod_uid = uid,
                    error = format!("{e:#}"),
                    "removing orphan volumes failed"
                );
            }
        }
        Ok(())
    }

    /// Watches the node's pods through `client` (`spec.nodeName=<node>`), cleans up
    /// orphans once the first list is in, then runs the workers until `shutdown`.
    /// `exits` are the runtime's container exits, `wakes` pod UIDs whose probe results changed.
    pub async fn run(
        self,
        client: Client,
        exits: BoxStream<'static, ExitEvent>,
        wakes: BoxStream<'static, String>,
        shutdown: watch::Receiver<bool>,
    ) {
        let Some(info) = k1s_proto::resources::find("", "v1", "pods") else {
            warn!("the resource table has no pods");
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let node = percent_encoding::utf8_percent_encode(
            &format!("spec.nodeName={}", self.node.name),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        let informer = Informer::new(client, info)
            .with_query(&format!("fieldSelector={node}"))
            .on_change(move |change| forward(&tx, change));
        let cache = informer.cache();
        let informer_task = tokio::spawn(informer.run(shutdown.clone()));
        let mut stop = shutdown.clone();
        tokio::select! {
            _ = cache.wait_synced() => {}
            _ = wait_shutdown(&mut stop) => return,
        }
        let live: HashSet<String> = cache
            .list()
            .iter()
            .filter_map(|p| p["metadata"]["uid"].as_str().map(String::from))
            .collect();
        if let Err(e) = self.cleanup_orphans(&live).await {
            warn!(error = format!("{e:#}"), "cleaning up orphaned containers failed");
        }
        self.run_events(rx, exits, wakes, shutdown).await;
        informer_task.abort();
    }

    /// Runs the workers from a stream of pod events (the core of [`PodManager::run`]).
    pub async fn run_events(
        self,
        mut pods: mpsc::UnboundedReceiver<PodEvent>,
        mut exits: BoxStream<'static, ExitEvent>,
        mut wakes: BoxStream<'static, String>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut workers: HashMap<String, Handle> = HashMap::new();
        let mut finished: HashSet<String> = HashSet::new();
        let mut tasks: JoinSet<String> = JoinSet::new();
        loop {
            tokio::select! {
                _ = wait_shutdown(&mut shutdown) => break,
                ev = pods.recv() => match ev {
                    None => break,
                    Some(PodEvent::Applied { pod, significant }) => {
                        let uid = uid_of(&pod);
                        if uid.is_empty() || finished.contains(&uid) {
                            continue;
                        }
                        if let Some(h) = workers.get(&uid) {
                            h.pod.send_if_modified(|cur| {
                                *cur = Some(pod.clone());
                                significant
                            });
                        } else {
                            let (ptx, prx) = watch::channel(Some(pod));
                            let wake = Arc::new(Notify::new());
                            let worker = Worker::new(self.deps.clone(), self.node.clone(), uid.clone(), self.ids.clone());
                            tasks.spawn(worker_loop(worker, uid.clone(), prx, wake.clone(), self.resync, shutdown.clone()));
                            workers.insert(uid, Handle { pod: ptx, wake });
                        }
                    }
                    Some(PodEvent::Deleted(pod)) => {
                        let uid = uid_of(&pod);
                        finished.remove(&uid);
                        if let Some(h) = workers.get(&uid) {
                            h.pod.send_replace(None);
                        }
                    }
                },
                Some(exit) = exits.next() => {
                    let uid = self.ids.lock().unwrap_or_else(|p| p.into_inner()).get(&exit.container_id).cloned();
                    if let Some(h) = uid.and_then(|u| workers.get(&u)) {
                        h.wake.notify_one();
                    }
                }
                Some(uid) = wakes.next() => {
                    if let Some(h) = workers.get(&uid) {
                        h.wake.notify_one();
                    }
                }
                Some(done) = tasks.join_next() => {
                    if let Ok(uid) = done {
                        workers.remove(&uid);
                        finished.insert(uid);
                    }
                }
            }
        }
        // Containers keep running when the agent stops; workers just end.
        tasks.abort_all();
    }
}

/// A broadcast receiver as a stream for [`PodManager::run`] (lagged items are skipped):
/// `broadcast_stream(runtime.subscribe_exits())`, `broadcast_stream(probes.subscribe())`.
pub fn broadcast_stream<T: Clone + Send + 'static>(rx: tokio::sync::broadcast::Receiver<T>) -> BoxStream<'static, T> {
    tokio_stream::wrappers::BroadcastStream::new(rx)
        .filter_map(|r| async move { r.ok() })
        .boxed()
}

/// Turns an informer change into pod events.
fn forward(tx: &mpsc::UnboundedSender<PodEvent>, change: &Change) {
    let parse = |v: &Value| serde_json::from_value::<Pod>(v.clone()).ok().map(Arc::new);
    match change {
        Change::Applied { old, new } => {
            let Some(pod) = parse(new) else { return };
            if let Some(o) = old {
                if o["metadata"]["uid"] != new["metadata"]["uid"] {
                    if let Some(old_pod) = parse(o) {
                        let _ = tx.send(PodEvent::Deleted(old_pod));
                    }
                }
            }
            let significant = old.as_ref().is_none_or(|o| significant_change(o, new));
            let _ = tx.send(PodEvent::Applied { pod, significant });
        }
        Change::Deleted(old) => {
            if let Some(pod) = parse(old) {
                let _ = tx.send(PodEvent::Deleted(pod));
            }
        }
    }
}

async fn worker_loop(
    mut worker: Worker,
    uid: String,
    mut pod: watch::Receiver<Option<Arc<Pod>>>,
    wake: Arc<Notify>,
    resync: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> String {
    loop {
        let current = pod.borrow_and_update().clone();
        let delay = match worker.sync(current.as_deref()).await {
            Outcome::Done => return uid,
            Outcome::Again(d) => d.unwrap_or(resync).min(resync),
        };
        tokio::select! {
            _ = wait_shutdown(&mut shutdown) => return uid,
            changed = pod.changed() => if changed.is_err() { return uid },
            _ = wake.notified() => {}
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_only_changes_are_not_significant() {
        let old = json!({"metadata": {"name": "p", "resourceVersion": "1"}, "spec": {"a": 1}, "status": {"phase": "Pending"}});
        let status = json!({"metadata": {"name": "p", "resourceVersion": "2", "managedFields": []}, "spec": {"a": 1}, "status": {"phase": "Running"}});
        assert!(!significant_change(&old, &status));
        let deleting = json!({"metadata": {"name": "p", "resourceVersion": "3", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"a": 1}});
        assert!(significant_change(&old, &deleting));
    }

    #[tokio::test]
    async fn broadcast_receivers_become_streams() {
        let (tx, rx) = tokio::sync::broadcast::channel(4);
        let mut s = broadcast_stream(rx);
        tx.send("u1".to_string()).unwrap();
        tx.send("u2".to_string()).unwrap();
        assert_eq!(s.next().await.as_deref(), Some("u1"));
        assert_eq!(s.next().await.as_deref(), Some("u2"));
    }
}
