//! Which nodes get a daemon pod, which daemon pods go, and the status —
//! Kubernetes' `manage`/`podsShouldBeOnNode` and `updateDaemonSetStatus`,
//! without I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use serde_json::{json, Map, Value};

use super::super::podutil;
use super::util::{allows_surge, by_age, is_pod_updated, node_should_run, target_node, HASH_LABEL};

/// Daemon pods by the node they run on (or are pinned to).
pub type NodePods = BTreeMap<String, Vec<Arc<Value>>>;

/// `getNodesToDaemonPods`: the set's pods by node; finished pods being
/// deleted are left out unless `include_deleted_terminal`.
pub fn pods_by_node(pods: &[Arc<Value>], include_deleted_terminal: bool) -> NodePods {
    let mut out = NodePods::new();
    for pod in pods {
        let terminal = matches!(podutil::phase(pod), "Succeeded" | "Failed");
        if !include_deleted_terminal && terminal && pod.deletion_timestamp().is_some() {
            continue;
        }
        if let Some(node) = target_node(pod) {
            out.entry(node).or_default().push(pod.clone());
        }
    }
    out
}

/// What `manage` decided.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Manage {
    /// Nodes that need a daemon pod.
    pub create_on: Vec<String>,
    /// Pods to delete.
    pub delete: Vec<Arc<Value>>,
    /// Failed daemon pods (node, pod): deleted unless their node is in back-off.
    pub failed: Vec<(String, Arc<Value>)>,
}

/// `manage`: for each node, create the daemon pod it lacks, or delete the
/// ones it should not run (finished ones, extra ones, ones on nodes that no
/// longer fit); and pods pinned to nodes that are gone.
pub fn manage(ds: &Value, nodes: &[Arc<Value>], by_node: &NodePods, hash: &str, now: jiff::Timestamp) -> Manage {
    let mut out = Manage::default();
    for node in nodes {
        let name = node.name().unwrap_or("").to_string();
        let (should_run, should_continue) = node_should_run(node, ds);
        let pods = by_node.get(&name);
        match pods {
            None if should_run => out.create_on.push(name),
            Some(pods) if should_continue => on_node(ds, &name, pods, should_run, hash, now, &mut out),
            Some(pods) if !should_continue => {
                out.delete
                    .extend(pods.iter().filter(|p| p.deletion_timestamp().is_none()).cloned());
            }
            _ => {}
        }
    }
    // Pods never scheduled, pinned to nodes that no longer exist.
    for (node, pods) in by_node {
        if nodes.iter().any(|n| n.name() == Some(node.as_str())) {
            continue;
        }
        out.delete.extend(
            pods.iter()
                .filter(|p| p["spec"]["nodeName"].as_str().is_none_or(str::is_empty))
                .cloned(),
        );
    }
    out
}

/// The `shouldContinueRunning` branch of `podsShouldBeOnNode`.
fn on_node(
    ds: &Value,
    node: &str,
    pods: &[Arc<Value>],
    should_run: bool,
    hash: &str,
    now: jiff::Timestamp,
    out: &mut Manage,
) {
    let mut running = Vec::new();
    for pod in pods {
        if pod.deletion_timestamp().is_some() {
            continue;
        }
        match podutil::phase(pod) {
            "Failed" => out.failed.push((node.to_string(), pod.clone())),
            "Succeeded" => out.delete.push(pod.clone()),
            _ => running.push(pod.clone()),
        }
    }
    running.sort_by(by_age);
    if !allows_surge(ds) {
        // One pod per node: the oldest stays.
        out.delete.extend(running.iter().skip(1).cloned());
        return;
    }
    if running.len() <= 1 {
        if running.is_empty() && should_run {
            out.create_on.push(node.to_string());
        }
        return;
    }
    // Surging: at most the oldest new and the oldest old pod; the old one goes
    // once it is not ready or the new one is available.
    let (mut oldest_new, mut oldest_old) = (None, None);
    for pod in running {
        let slot = if pod.label(HASH_LABEL) == Some(hash) {
            &mut oldest_new
        } else {
            &mut oldest_old
        };
        if slot.is_none() {
            *slot = Some(pod);
        } else {
            out.delete.push(pod);
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
        let min_ready = ds["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
        if !podutil::is_ready(&old) || podutil::is_available(&new, min_ready, now) {
            out.delete.push(old);
        }
    }
}

/// The DaemonSet status counts (`updateDaemonSetStatus`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Nodes that should run the daemon pod.
    pub desired: i64,
    /// Of those, nodes running it.
    pub current: i64,
    /// Nodes running it that should not.
    pub misscheduled: i64,
    /// Nodes whose oldest daemon pod is ready.
    pub ready: i64,
    /// … and available.
    pub available: i64,
    /// Nodes whose oldest daemon pod is of the current template.
    pub updated: i64,
}

/// Counts the nodes for the status.
pub fn counts(ds: &Value, nodes: &[Arc<Value>], by_node: &NodePods, hash: &str, now: jiff::Timestamp) -> Counts {
    let min_ready = ds["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let mut c = Counts::default();
    for node in nodes {
        let (should_run, _) = node_should_run(node, ds);
        let pods = by_node.get(node.name().unwrap_or("")).filter(|p| !p.is_empty());
        if !should_run {
            c.misscheduled += i64::from(pods.is_some());
            continue;
        }
        c.desired += 1;
        let Some(pods) = pods else {
            continue;
        };
        c.current += 1;
        let mut sorted = pods.clone();
        sorted.sort_by(by_age);
        let oldest = &sorted[0];
        if podutil::is_ready(oldest) {
            c.ready += 1;
            if podutil::is_available(oldest, min_ready, now) {
                c.available += 1;
            }
        }
        if is_pod_updated(oldest, hash, ds) {
            c.updated += 1;
        }
    }
    c
}

impl Counts {
    /// `storeDaemonSetStatus`'s check: whether the set's status already says this.
    pub fn written(&self, ds: &Value) -> bool {
        let s = &ds["status"];
        let n = |k: &str| s[k].as_i64().unwrap_or(0);
        n("desiredNumberScheduled") == self.desired
            && n("currentNumberScheduled") == self.current
            && n("numberMisscheduled") == self.misscheduled
            && n("numberReady") == self.ready
            && n("updatedNumberScheduled") == self.updated
            && n("numberAvailable") == self.available
            && n("numberUnavailable") == self.desired - self.available
            && n("observedGeneration") >= ds.generation()
    }

    /// The status as Kubernetes serialises it (`omitempty` fields left out at zero).
    pub fn to_json(&self, ds: &Value, observed_generation: bool) -> Value {
        let old = &ds["status"];
        let mut s = Map::new();
        let generation = if observed_generation {
            ds.generation()
        } else {
            old["observedGeneration"].as_i64().unwrap_or(0)
        };
        s.insert("currentNumberScheduled".into(), json!(self.current));
        s.insert("numberMisscheduled".into(), json!(self.misscheduled));
        s.insert("desiredNumberScheduled".into(), json!(self.desired));
        s.insert("numberReady".into(), json!(self.ready));
        for (k, v) in [
            ("observedGeneration", generation),
            ("updatedNumberScheduled", self.updated),
            ("numberAvailable", self.available),
            ("numberUnavailable", self.desired - self.available),
        ] {
            if v != 0 {
                s.insert(k.into(), json!(v));
            }
        }
        for k in ["collisionCount", "conditions"] {
            if let Some(v) = old.get(k).filter(|v| !v.is_null()) {
                s.insert(k.into(), v.clone());
            }
        }
        Value::Object(s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) const NOW: &str = "2026-01-01T00:10:00Z";

    pub(crate) fn ds(rolling: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "d", "uid": "ds-uid", "generation": 2},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"nodeSelector": {"run": "yes"}}}}})
    }

    pub(crate) fn node(name: &str, fits: bool) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": name, "labels": {"run": if fits {"yes"} else {"no"}}}, "spec": {}}))
    }

    /// A daemon pod named `name` on `node` at `hash` in `state` (ready, unready, failed, succeeded).
    pub(crate) fn pod(name: &str, node: &str, hash: &str, state: &str, created: &str) -> Arc<Value> {
        let (phase, ready) = match state {
            "ready" => ("Running", "True"),
            "unready" => ("Running", "False"),
            "failed" => ("Failed", "False"),
            "succeeded" => ("Succeeded", "False"),
            other => panic!("{other}"),
        };
        Arc::new(
            json!({"metadata": {"name": name, "namespace": "d", "creationTimestamp": created,
                "labels": {"app": "agent", HASH_LABEL: hash}},
            "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
        )
    }

    fn names(pods: &[Arc<Value>]) -> Vec<&str> {
        pods.iter().filter_map(|p| p.name()).collect()
    }

    #[test]
    fn one_pod_per_fitting_node() {
        let d = ds(json!({"maxUnavailable": 1, "maxSurge": 0}));
        let nodes = vec![
            node("n1", true),
            node("n2", true),
            node("n3", false),
            node("n4", true),
            node("n5", true),
        ];
        let pods = vec![
            pod("a-old", "n1", "h", "ready", "2026-01-01T00:00:00Z"),
            pod("a-new", "n1", "h", "ready", "2026-01-01T00:00:05Z"),
            pod("c", "n3", "h", "ready", "2026-01-01T00:00:00Z"),
            pod("d", "n4", "h", "failed", "2026-01-01T00:00:00Z"),
            pod("e", "n5", "h", "succeeded", "2026-01-01T00:00:00Z"),
        ];
        let m = manage(&d, &nodes, &pods_by_node(&pods, false), "h", NOW.parse().unwrap());
        assert_eq!(m.create_on, ["n2"]);
        assert_eq!(names(&m.delete), ["a-new", "c", "e"]);
        assert_eq!(m.failed.len(), 1);
        assert_eq!(m.failed[0].0, "n4");

        // Unscheduled pods pinned to a node that is gone go too.
        let mut ghost = (*pod("g", "", "h", "unready", NOW)).clone();
        ghost["spec"] = json!({"affinity": super::super::util::pin_to_node(&Value::Null, "gone")});
        let m = manage(
            &d,
            &nodes[..1],
            &pods_by_node(&[Arc::new(ghost)], false),
            "h",
            NOW.parse().unwrap(),
        );
        assert_eq!(names(&m.delete), ["g"]);
    }

    #[test]
    fn surging_keeps_old_until_new_is_available() {
        let d = ds(json!({"maxUnavailable": 0, "maxSurge": 1}));
        let nodes = vec![node("n1", true)];
        let t = NOW.parse().unwrap();
        let old = pod("old", "n1", "h1", "ready", "2026-01-01T00:00:00Z");
        let new_unready = pod("new", "n1", "h2", "unready", "2026-01-01T00:00:05Z");
        let new_ready = pod("new", "n1", "h2", "ready", "2026-01-01T00:00:05Z");
        let m = manage(&d, &nodes, &pods_by_node(&[old.clone(), new_unready], false), "h2", t);
        assert!(m.delete.is_empty() && m.create_on.is_empty());
        let m = manage(&d, &nodes, &pods_by_node(&[old, new_ready], false), "h2", t);
        assert_eq!(names(&m.delete), ["old"]);
    }

    #[test]
    fn status_counts_nodes() {
        let d = ds(json!({"maxUnavailable": 1}));
        let nodes = vec![node("n1", true), node("n2", true), node("n3", false), node("n4", true)];
        let pods = vec![
            pod("a", "n1", "h2", "ready", "2026-01-01T00:00:00Z"),
            pod("b", "n2", "h1", "unready", "2026-01-01T00:00:00Z"),
            pod("c", "n3", "h2", "ready", "2026-01-01T00:00:00Z"),
        ];
        let c = counts(&d, &nodes, &pods_by_node(&pods, false), "h2", NOW.parse().unwrap());
        assert_eq!(
            c,
            Counts {
                desired: 3,
                current: 2,
                misscheduled: 1,
                ready: 1,
                available: 1,
                updated: 1
            }
        );
        let status = c.to_json(&d, true);
        assert_eq!(
            status,
            json!({"currentNumberScheduled": 2, "numberMisscheduled": 1, "desiredNumberScheduled": 3, "numberReady": 1,
                "observedGeneration": 2, "updatedNumberScheduled": 1, "numberAvailable": 1, "numberUnavailable": 2})
        );
        let mut written = d.clone();
        written["status"] = status;
        assert!(c.written(&written));
        assert!(!c.written(&d));
    }
}
