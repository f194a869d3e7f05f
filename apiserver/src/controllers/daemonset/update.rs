//! The DaemonSet rolling update (Kubernetes' `rollingUpdate` in
//! `pkg/controller/daemon/update.go`), without I/O. Without surge, old pods
//! are deleted while no more than `maxUnavailable` nodes lack an available
//! pod (the manage loop then creates the new ones). With `maxSurge`, a new
//! pod is started next to an old one on up to `maxSurge` nodes, and the old
//! one is deleted once the new one is available.

use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use serde_json::Value;

use super::super::podutil;
use super::manage::NodePods;
use super::util::{is_pod_updated, node_should_run, surge_and_unavailable};

/// What a rolling update step does.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rollout {
    /// Old pods to delete.
    pub delete: Vec<Arc<Value>>,
    /// Nodes to start a new pod on (surge).
    pub create_on: Vec<String>,
}

/// A node's daemon pod of the current template and one of an older one.
type NewAndOld = (Option<Arc<Value>>, Option<Arc<Value>>);

/// `findUpdatedPodsOnNode`: the node's new and old pod; `None` when it has
/// more than one of either (the manage loop cleans that up first).
fn new_and_old(ds: &Value, pods: &[Arc<Value>], hash: &str) -> Option<NewAndOld> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().filter(|p| p.deletion_timestamp().is_none()) {
        let slot = if is_pod_updated(pod, hash, ds) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod.clone());
    }
    Some((new, old))
}

/// One step of the rolling update of `ds` to the template hashed `hash`.
pub fn rolling_update(
    ds: &Value,
    nodes: &[Arc<Value>],
    by_node: &NodePods,
    hash: &str,
    now: jiff::Timestamp,
) -> Rollout {
    let min_ready = ds["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let available = |p: &Arc<Value>| podutil::is_available(p, min_ready, now);
    // `updatedDesiredNodeCounts`: nodes that should run a pod count even without one.
    let mut by_node = by_node.clone();
    let mut desired = 0;
    for node in nodes {
        if node_should_run(node, ds).0 {
            desired += 1;
            by_node.entry(node.name().unwrap_or("").to_string()).or_default();
        }
    }
    let (max_surge, mut max_unavailable) = surge_and_unavailable(ds, desired);
    if desired > 0 && max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    let mut out = Rollout::default();

    if max_surge == 0 {
        let mut unavailable = 0;
        let mut replacements = Vec::new();
        let mut candidates = Vec::new();
        for pods in by_node.values() {
            let Some((new, old)) = new_and_old(ds, pods, hash) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => unavailable += i64::from(!available(&new)),
                (None, Some(old)) => {
                    if !available(&old) {
                        replacements.push(old);
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(old);
                    }
                }
            }
        }
        let room = usize::try_from(max_unavailable - unavailable)
            .unwrap_or(0)
            .min(candidates.len());
        out.delete = replacements;
        out.delete.extend(candidates.into_iter().take(room));
        return out;
    }

    let mut surging = 0;
    let mut available_nodes = 0;
    let mut allowed_new = Vec::new();
    let mut candidate_new = Vec::new();
    let mut should_not_run = Vec::new();
    let node_of = |name: &str| nodes.iter().find(|n| n.name() == Some(name)).cloned();
    for (node_name, pods) in &by_node {
        let Some((new, old)) = new_and_old(ds, pods, hash) else {
            surging += 1;
            continue;
        };
        let counted = old.as_ref().or(new.as_ref());
        available_nodes += i64::from(counted.is_some_and(available));
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) => {
                let fits = node_of(node_name).is_some_and(|n| node_should_run(&n, ds).0);
                if !available(&old) {
                    if fits {
                        allowed_new.push(node_name.clone());
                    } else {
                        out.delete.push(old);
                    }
                } else if !fits {
                    should_not_run.push(old);
                } else if surging < max_surge {
                    candidate_new.push(node_name.clone());
                }
            }
            (Some(new), Some(old)) => {
                if available(&new) {
                    out.delete.push(old);
                } else {
                    surging += 1;
                }
            }
        }
    }
    // Pods on nodes that no longer fit go only while enough others are available.
    let deletable = usize::try_from(available_nodes - desired)
        .unwrap_or(0)
        .min(should_not_run.len());
    out.delete.extend(should_not_run.into_iter().take(deletable));
    let room = usize::try_from(max_surge - surging)
        .unwrap_or(0)
        .min(candidate_new.len());
    out.create_on = allowed_new;
    out.create_on.extend(candidate_new.into_iter().take(room));
    out
}

#[cfg(test)]
mod tests {
    use super::super::manage::pods_by_node;
    use super::super::manage::tests::{ds, node, pod, NOW};
    use super::*;
    use serde_json::json;

    fn names(pods: &[Arc<Value>]) -> Vec<&str> {
        pods.iter().filter_map(|p| p.name()).collect()
    }

    #[test]
    fn without_surge_old_pods_go_within_max_unavailable() {
        let t = NOW.parse().unwrap();
        let nodes: Vec<Arc<Value>> = (1..=4).map(|i| node(&format!("n{i}"), true)).collect();
        let old = |i: i32| {
            pod(
                &format!("old{i}"),
                &format!("n{i}"),
                "h1",
                "ready",
                "2026-01-01T00:00:00Z",
            )
        };
        let d = ds(json!({"maxUnavailable": 1, "maxSurge": 0}));
        let r = rolling_update(
            &d,
            &nodes,
            &pods_by_node(&[old(1), old(2), old(3), old(4)], false),
            "h2",
            t,
        );
        assert_eq!(names(&r.delete), ["old1"]);
        assert!(r.create_on.is_empty());
        // A node still waiting for its new pod uses up the budget.
        let r = rolling_update(&d, &nodes, &pods_by_node(&[old(2), old(3), old(4)], false), "h2", t);
        assert!(r.delete.is_empty());
        let fresh = pod("new1", "n1", "h2", "unready", NOW);
        let r = rolling_update(
            &d,
            &nodes,
            &pods_by_node(&[fresh, old(2), old(3), old(4)], false),
            "h2",
            t,
        );
        assert!(r.delete.is_empty(), "the new pod is not available yet");
        // An old pod that is not available anyway is replaced at once.
        let broken = pod("old2", "n2", "h1", "unready", "2026-01-01T00:00:00Z");
        let d2 = ds(json!({"maxUnavailable": "50%", "maxSurge": 0}));
        let r = rolling_update(
            &d2,
            &nodes,
            &pods_by_node(&[old(1), broken, old(3), old(4)], false),
            "h2",
            t,
        );
        assert_eq!(names(&r.delete), ["old2", "old1"]);
    }

    #[test]
    fn with_surge_new_pods_start_next_to_old_ones() {
        let t = NOW.parse().unwrap();
        let nodes: Vec<Arc<Value>> = (1..=3).map(|i| node(&format!("n{i}"), true)).collect();
        let old = |i: i32| {
            pod(
                &format!("old{i}"),
                &format!("n{i}"),
                "h1",
                "ready",
                "2026-01-01T00:00:00Z",
            )
        };
        let d = ds(json!({"maxUnavailable": 0, "maxSurge": 1}));
        let r = rolling_update(&d, &nodes, &pods_by_node(&[old(1), old(2), old(3)], false), "h2", t);
        assert_eq!(r.create_on, ["n1"]);
        assert!(r.delete.is_empty());
        let surging = pod("new1", "n1", "h2", "unready", NOW);
        let r = rolling_update(
            &d,
            &nodes,
            &pods_by_node(&[old(1), surging, old(2), old(3)], false),
            "h2",
            t,
        );
        assert!(r.create_on.is_empty() && r.delete.is_empty(), "one surge at a time");
        let done = pod("new1", "n1", "h2", "ready", NOW);
        let r = rolling_update(
            &d,
            &nodes,
            &pods_by_node(&[old(1), done, old(2), old(3)], false),
            "h2",
            t,
        );
        assert_eq!(names(&r.delete), ["old1"]);
        assert_eq!(r.create_on, ["n2"]);
    }
}
