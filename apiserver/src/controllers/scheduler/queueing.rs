//! When the scheduler looks at a pod (again): which pods are its to place,
//! which changes can make an unschedulable pod fit (kube-scheduler's queueing
//! hints, simplified), and the back-off between attempts at one pod.

use std::time::Duration;

use k1s_proto::meta::ObjectMeta;
use serde_json::Value;

/// The scheduler's name, which pods name in `spec.schedulerName`.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// Back-off after the first failed attempt (`podInitialBackoffSeconds`).
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest back-off (`podMaxBackoffSeconds`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Whether a pod's phase is final.
pub fn is_terminal(pod: &Value) -> bool {
    matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// The node a pod is bound to, if any.
pub fn node_name(pod: &Value) -> Option<&str> {
    pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty())
}

/// Whether this scheduler should place the pod: unbound, ours, alive, not gated.
pub fn wants_scheduling(pod: &Value) -> bool {
    let ours = pod["spec"]["schedulerName"]
        .as_str()
        .is_none_or(|s| s.is_empty() || s == SCHEDULER_NAME);
    let gated = pod["spec"]["schedulingGates"].as_array().is_some_and(|g| !g.is_empty());
    ours && !gated && node_name(pod).is_none() && pod.deletion_timestamp().is_none() && !is_terminal(pod)
}

/// Whether an update of a pending pod can change where it fits (its spec,
/// labels or annotations; not its status, which the scheduler itself writes).
pub fn pod_update_matters(old: &Value, new: &Value) -> bool {
    old["spec"] != new["spec"]
        || old["metadata"]["labels"] != new["metadata"]["labels"]
        || old["metadata"]["annotations"] != new["metadata"]["annotations"]
}

/// Whether an assigned pod stopped holding its node's resources: it went away or finished.
pub fn frees_resources(old: Option<&Value>, new: Option<&Value>) -> bool {
    let held = |p: &Value| node_name(p).is_some() && !is_terminal(p);
    match (old, new) {
        (Some(o), None) => held(o),
        (Some(o), Some(n)) => held(o) && !held(n),
        _ => false,
    }
}

/// Whether a node change can make a pod fit that did not: its spec (cordon,
/// taints), labels or allocatable changed.
pub fn node_update_matters(old: &Value, new: &Value) -> bool {
    old["spec"] != new["spec"]
        || old["metadata"]["labels"] != new["metadata"]["labels"]
        || old["status"]["allocatable"] != new["status"]["allocatable"]
}

/// The back-off after `attempts` failed attempts: 1 s doubling to 10 s.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(16);
    INITIAL_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF)
}

/// How long a pod that failed `attempts` times, the last one `since_failure`
/// ago, still waits before it is tried again when the world changes.
pub fn retry_in(attempts: u32, since_failure: Duration) -> Duration {
    backoff(attempts).saturating_sub(since_failure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn which_pods_are_ours() {
        let base = json!({"metadata": {"name": "p"}, "spec": {"schedulerName": "default-scheduler"}, "status": {"phase": "Pending"}});
        let with = |f: &dyn Fn(&mut Value)| {
            let mut p = base.clone();
            f(&mut p);
            p
        };
        assert!(wants_scheduling(&base));
        assert!(wants_scheduling(&with(&|p| p["spec"] = json!({}))));
        assert!(!wants_scheduling(&with(&|p| p["spec"]["nodeName"] = json!("n1"))));
        assert!(!wants_scheduling(&with(
            &|p| p["spec"]["schedulerName"] = json!("other")
        )));
        assert!(!wants_scheduling(&with(
            &|p| p["metadata"]["deletionTimestamp"] = json!("t")
        )));
        assert!(!wants_scheduling(&with(&|p| p["status"]["phase"] = json!("Failed"))));
        assert!(!wants_scheduling(&with(
            &|p| p["spec"]["schedulingGates"] = json!([{"name": "g"}])
        )));
        assert!(wants_scheduling(&with(&|p| p["spec"]["schedulingGates"] = json!([]))));
    }

    #[test]
    fn which_changes_matter() {
        let pending =
            json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": []}, "status": {"phase": "Pending"}});
        let mut status_only = pending.clone();
        status_only["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False"}]);
        assert!(!pod_update_matters(&pending, &status_only));
        let mut relabelled = pending.clone();
        relabelled["metadata"]["labels"]["a"] = json!("2");
        assert!(pod_update_matters(&pending, &relabelled));

        let running = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let mut done = running.clone();
        done["status"]["phase"] = json!("Succeeded");
        assert!(frees_resources(Some(&running), None));
        assert!(frees_resources(Some(&running), Some(&done)));
        assert!(!frees_resources(Some(&done), None), "a finished pod held nothing");
        assert!(!frees_resources(Some(&pending), None), "an unbound pod held nothing");
        assert!(!frees_resources(Some(&running), Some(&running)));

        let node = json!({"metadata": {"labels": {"x": "1"}}, "spec": {}, "status": {"allocatable": {"cpu": "2"},
            "conditions": [{"type": "Ready", "lastHeartbeatTime": "t1"}]}});
        let mut heartbeat = node.clone();
        heartbeat["status"]["conditions"][0]["lastHeartbeatTime"] = json!("t2");
        assert!(!node_update_matters(&node, &heartbeat));
        let mut cordoned = node.clone();
        cordoned["spec"]["unschedulable"] = json!(false);
        assert!(node_update_matters(&node, &cordoned));
        let mut grown = node.clone();
        grown["status"]["allocatable"]["cpu"] = json!("4");
        assert!(node_update_matters(&node, &grown));
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        let secs: Vec<u64> = (1..=6).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff(0), INITIAL_BACKOFF);
        assert_eq!(retry_in(3, Duration::from_secs(1)), Duration::from_secs(3));
        assert_eq!(retry_in(3, Duration::from_secs(9)), Duration::ZERO);
    }
}
