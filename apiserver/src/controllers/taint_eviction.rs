//! The taint eviction controller (kube-controller-manager's
//! `taint-eviction-controller`): a pod on a node with a NoExecute taint it
//! does not tolerate is deleted at once; one that tolerates it for
//! `tolerationSeconds` is deleted when that time has passed (counted from
//! when the controller saw the taint), unless the taint goes first. Deleted
//! pods get the `DisruptionTarget` condition (`DeletionByTaintManager`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::pod_control::patch_pod_condition;
use super::resource;
use super::runtime::{cache_key, Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use super::scheduler::filters::tolerates;
use crate::api::Api;
use crate::client::Client;
use crate::events::{EventRecorder, EventSource, NORMAL};
use crate::registry::pdb::DISRUPTION_TARGET;

/// The controller's name (its client identity and event source).
pub const NAME: &str = "taint-eviction-controller";

/// What a pod's tolerations make of its node's NoExecute taints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No NoExecute taint: the pod stays.
    Untainted,
    /// Some taint is not tolerated: delete now.
    Evict,
    /// Every taint is tolerated for ever.
    Forever,
    /// Every taint is tolerated, the shortest for this long.
    After(Duration),
}

/// The node's NoExecute taints against the pod's tolerations
/// (`GetMatchingTolerations` and `getMinTolerationTime`).
pub fn verdict(node: &Value, pod: &Value) -> Verdict {
    let taints: Vec<&Value> = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["effect"] == "NoExecute")
        .collect();
    if taints.is_empty() {
        return Verdict::Untainted;
    }
    let tolerations = pod["spec"]["tolerations"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut shortest: Option<i64> = None;
    for taint in taints {
        let Some(used) = tolerations.iter().find(|t| tolerates(t, taint)) else {
            return Verdict::Evict;
        };
        if let Some(secs) = used["tolerationSeconds"].as_i64() {
            shortest = Some(shortest.map_or(secs, |s| s.min(secs)));
        }
    }
    match shortest {
        None => Verdict::Forever,
        Some(s) => Verdict::After(Duration::from_secs(s.max(0) as u64)),
    }
}

/// Starts the taint eviction controller.
pub fn spawn(api: Arc<Api>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let q = queue.clone();
    let pods = Informer::new(client.clone(), resource("", "pods")).on_change(move |c| {
        let pod = match c {
            Change::Applied { new, .. } => new,
            Change::Deleted(old) => old,
        };
        q.add(cache_key(pod.namespace(), pod.name().unwrap_or("")));
    });
    let pod_cache = pods.cache();
    let (q, p) = (queue.clone(), pod_cache.clone());
    let nodes = Informer::new(client.clone(), resource("", "nodes")).on_change(move |c| {
        let (old, new) = match c {
            Change::Applied { old, new } => (old.as_deref(), Some(new.as_ref())),
            Change::Deleted(old) => (Some(old.as_ref()), None),
        };
        let taints = |n: Option<&Value>| n.map(|n| n["spec"]["taints"].clone());
        if taints(old) == taints(new) {
            return;
        }
        let name = new.or(old).and_then(|n| n.name()).unwrap_or("");
        for pod in p.list().iter().filter(|pod| pod["spec"]["nodeName"] == name) {
            q.add(cache_key(pod.namespace(), pod.name().unwrap_or("")));
        }
    });
    let reconciler = Arc::new(TaintEviction {
        events: EventRecorder::spawn(client.clone(), EventSource::controller(NAME)),
        client,
        pods: pod_cache,
        nodes: nodes.cache(),
        scheduled: Mutex::default(),
    });
    let controller = Controller::new(NAME, reconciler, queue).informers(vec![pods, nodes]);
    tokio::spawn(controller.run(shutdown))
}

struct TaintEviction {
    client: Client,
    events: EventRecorder,
    pods: Cache,
    nodes: Cache,
    /// Pods marked for deletion: when the mark was made.
    scheduled: Mutex<HashMap<String, Instant>>,
}

impl TaintEviction {
    fn scheduled(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        // Every critical section leaves the map consistent.
        self.scheduled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops a pending deletion, telling the pod when there was one.
    fn cancel(&self, key: &str, pod: Option<&Value>) {
        if self.scheduled().remove(key).is_some() {
            if let Some(pod) = pod {
                self.events.event(
                    pod,
                    NORMAL,
                    "TaintManagerEviction",
                    format!("Cancelling deletion of Pod {key}"),
                );
            }
        }
    }

    async fn evict(&self, key: &str, pod: &Value) -> anyhow::Result<Action> {
        self.scheduled().remove(key);
        self.events.event(
            pod,
            NORMAL,
            "TaintManagerEviction",
            format!("Marking for deletion Pod {key}"),
        );
        let (ns, name) = (pod.namespace().unwrap_or("default"), pod.name().unwrap_or(""));
        let condition = json!({"type": DISRUPTION_TARGET, "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint"});
        match patch_pod_condition(&self.client, pod, condition).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(Action::Done),
            Err(e) => return Err(e).with_context(|| format!("marking pod {key} for deletion")),
        }
        match self
            .client
            .delete(resource("", "pods"), Some(ns), name, &Value::Null)
            .await
        {
            Ok(_) => Ok(Action::Done),
            Err(e) if e.is_not_found() => Ok(Action::Done),
            Err(e) => Err(e).with_context(|| format!("deleting pod {key}")),
        }
    }
}

impl Reconciler for TaintEviction {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let Some(pod) = self.pods.get(Some(namespace), name) else {
            self.cancel(key, None);
            return Ok(Action::Done);
        };
        let node = pod["spec"]["nodeName"]
            .as_str()
            .filter(|n| !n.is_empty())
            .and_then(|n| self.nodes.get(None, n));
        let verdict = match (&node, pod.deletion_timestamp()) {
            (Some(node), None) => verdict(node, &pod),
            _ => Verdict::Untainted,
        };
        let wait = match verdict {
            Verdict::Untainted | Verdict::Forever => {
                self.cancel(key, Some(&pod));
                return Ok(Action::Done);
            }
            Verdict::Evict => Duration::ZERO,
            Verdict::After(d) => d,
        };
        let since = *self.scheduled().entry(key.clone()).or_insert_with(Instant::now);
        let due = since + wait;
        let now = Instant::now();
        if due <= now {
            return self.evict(key, &pod).await;
        }
        Ok(Action::RequeueAfter(due - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::{eventually, TestEnv};
    use k1s_proto::patch::PatchType;
    use k1s_proto::resources::find;

    fn node(taints: Value) -> Value {
        json!({"metadata": {"name": "n1"}, "spec": {"taints": taints}})
    }

    fn pod(tolerations: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"tolerations": tolerations}})
    }

    #[test]
    fn verdicts() {
        let unreachable = json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                                 {"key": "other", "effect": "NoSchedule"}]);
        let default = json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]);
        let cases = [
            (json!([]), json!([]), Verdict::Untainted),
            (
                json!([{"key": "other", "effect": "NoSchedule"}]),
                json!([]),
                Verdict::Untainted,
            ),
            (unreachable.clone(), json!([]), Verdict::Evict),
            (
                unreachable.clone(),
                default.clone(),
                Verdict::After(Duration::from_secs(300)),
            ),
            (unreachable.clone(), json!([{"operator": "Exists"}]), Verdict::Forever),
            (
                json!([{"key": "a", "effect": "NoExecute"}, {"key": "b", "effect": "NoExecute"}]),
                json!([{"key": "a", "operator": "Exists", "tolerationSeconds": 60},
                       {"key": "b", "operator": "Exists", "tolerationSeconds": 30}]),
                Verdict::After(Duration::from_secs(30)),
            ),
            (
                json!([{"key": "a", "effect": "NoExecute"}]),
                json!([{"key": "a", "operator": "Exists", "tolerationSeconds": -5}]),
                Verdict::After(Duration::ZERO),
            ),
        ];
        for (taints, tolerations, want) in cases {
            assert_eq!(
                verdict(&node(taints.clone()), &pod(tolerations.clone())),
                want,
                "{taints} / {tolerations}"
            );
        }
    }

    #[tokio::test]
    async fn pods_leave_nodes_with_untolerated_no_execute_taints() {
        let env = TestEnv::new().await;
        let c = env.client();
        let (nodes, pods) = (find("", "v1", "nodes").unwrap(), find("", "v1", "pods").unwrap());
        c.create(
            nodes,
            None,
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
        )
        .await
        .unwrap();
        let make = |name: &str, tolerations: Value| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                   "spec": {"nodeName": "n1", "tolerations": tolerations,
                            "containers": [{"name": "c", "image": "busybox:1.36"}]}})
        };
        // Created pods also get the default not-ready/unreachable tolerations.
        c.create(pods, Some("default"), &make("plain", json!([])))
            .await
            .unwrap();
        c.create(
            pods,
            Some("default"),
            &make(
                "patient",
                json!([{"key": "maintenance", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}]),
            ),
        )
        .await
        .unwrap();
        c.create(
            pods,
            Some("default"),
            &make("stubborn", json!([{"key": "maintenance", "operator": "Exists"}])),
        )
        .await
        .unwrap();
        env.keep(spawn(env.api.clone(), env.shutdown()));
        c.patch(
            nodes,
            None,
            "n1",
            None,
            PatchType::Merge,
            &json!({"spec": {"taints": [{"key": "maintenance", "value": "now", "effect": "NoExecute"}]}}),
        )
        .await
        .unwrap();
        // Pods on a node are deleted gracefully: they are marked and get a deletion timestamp.
        let deleting = |name: &'static str| {
            let c = c.clone();
            async move {
                c.get(pods, Some("default"), name)
                    .await
                    .map(|p| p["metadata"]["deletionTimestamp"].is_string())
                    .unwrap_or(true)
            }
        };
        eventually("plain pod evicted at once", || deleting("plain")).await;
        let p = c.get(pods, Some("default"), "plain").await.unwrap();
        let target = p["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == DISRUPTION_TARGET)
            .cloned()
            .unwrap();
        assert_eq!(target["reason"], "DeletionByTaintManager");
        assert!(!deleting("patient").await, "tolerated for a second");
        eventually("patient pod evicted after its toleration", || deleting("patient")).await;
        assert!(!deleting("stubborn").await, "tolerated for ever");
    }
}
