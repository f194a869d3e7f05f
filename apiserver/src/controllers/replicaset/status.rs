//! A ReplicaSet's status from the pods it owns (Kubernetes'
//! `replica_set_utils.go`: `calculateStatus`, the `ReplicaFailure` condition,
//! and when a status write is needed).

use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use k1s_proto::selector::LabelSelector;
use k8s_openapi::api::apps::v1::{ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Map, Value};

use crate::controllers::podutil;

/// The condition type set when pods cannot be created or deleted.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// The status stored on `rs` (empty when it has none).
pub fn current(rs: &Value) -> ReplicaSetStatus {
    serde_json::from_value(rs["status"].clone()).unwrap_or_default()
}

/// `spec.replicas` (1 when unset, the default).
pub fn spec_replicas(rs: &Value) -> i64 {
    rs["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// `spec.minReadySeconds`.
pub fn min_ready_seconds(rs: &Value) -> i64 {
    rs["spec"]["minReadySeconds"].as_i64().unwrap_or(0)
}

fn count(n: usize) -> Option<i32> {
    // Go writes these with `omitempty`.
    (n > 0).then(|| i32::try_from(n).unwrap_or(i32::MAX))
}

/// The status `rs` should have with `pods` (its active, claimed pods) at `now`;
/// `manage_error` is the error of this sync's creates or deletes, if any.
pub fn calculate(
    rs: &Value,
    pods: &[Arc<Value>],
    manage_error: Option<&str>,
    now: jiff::Timestamp,
) -> ReplicaSetStatus {
    let mut status = current(rs);
    let empty = Map::new();
    let template_labels = rs["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap_or(&empty);
    let fully_labeled = LabelSelector::from_labels(template_labels);
    let min_ready = min_ready_seconds(rs);
    let (mut labeled, mut ready, mut available) = (0, 0, 0);
    for p in pods {
        if fully_labeled.matches(p.labels()) {
            labeled += 1;
        }
        if podutil::is_ready(p) {
            ready += 1;
            if podutil::is_available(p, min_ready, now) {
                available += 1;
            }
        }
    }
    let failure = condition(&status, REPLICA_FAILURE).is_some();
    match manage_error {
        Some(message) if !failure => {
            let diff = pods.len() as i64 - spec_replicas(rs);
            let reason = match diff {
                d if d < 0 => "FailedCreate",
                d if d > 0 => "FailedDelete",
                _ => "",
            };
            set_condition(
                &mut status,
                ReplicaSetCondition {
                    type_: REPLICA_FAILURE.into(),
                    status: "True".into(),
                    reason: Some(reason.into()),
                    message: Some(message.into()),
                    last_transition_time: Some(Time(now)),
                },
            );
        }
        None if failure => remove_condition(&mut status, REPLICA_FAILURE),
        _ => {}
    }
    status.replicas = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    status.fully_labeled_replicas = count(labeled);
    status.ready_replicas = count(ready);
    status.available_replicas = count(available);
    status
}

/// Whether `rs` must be written with `new` (`updateReplicaSetStatus`): a count
/// differs, a condition differs, or the generation is not yet observed.
pub fn needs_write(rs: &Value, new: &ReplicaSetStatus) -> bool {
    let old = current(rs);
    let n = |v: Option<i32>| v.unwrap_or(0);
    old.replicas != new.replicas
        || n(old.fully_labeled_replicas) != n(new.fully_labeled_replicas)
        || n(old.ready_replicas) != n(new.ready_replicas)
        || n(old.available_replicas) != n(new.available_replicas)
        || old.observed_generation.unwrap_or(0) != rs.generation()
        || old.conditions.unwrap_or_default() != new.conditions.clone().unwrap_or_default()
}

/// A condition of the status by type.
pub fn condition<'a>(status: &'a ReplicaSetStatus, type_: &str) -> Option<&'a ReplicaSetCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// `SetCondition`: replaces the condition of that type unless status and reason are unchanged.
pub fn set_condition(status: &mut ReplicaSetStatus, c: ReplicaSetCondition) {
    if let Some(cur) = condition(status, &c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
    }
    remove_condition(status, &c.type_);
    status.conditions.get_or_insert_with(Vec::new).push(c);
}

/// Removes the condition of a type.
pub fn remove_condition(status: &mut ReplicaSetStatus, type_: &str) {
    if let Some(cs) = status.conditions.as_mut() {
        cs.retain(|c| c.type_ != type_);
        if cs.is_empty() {
            status.conditions = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(replicas: i64, min_ready: i64) -> Value {
        json!({"metadata": {"name": "web", "generation": 2},
               "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                        "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}}}},
               "status": {"replicas": 0, "observedGeneration": 1}})
    }

    fn pod(labels: Value, ready_since: Option<&str>) -> Arc<Value> {
        let mut p = json!({"metadata": {"name": "p", "labels": labels}, "status": {"phase": "Running"}});
        if let Some(t) = ready_since {
            p["status"]["conditions"] = json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]);
        }
        Arc::new(p)
    }

    #[test]
    fn counts_labeled_ready_and_available_pods() {
        let now: jiff::Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let full = json!({"app": "web", "tier": "fe", "pod-template-hash": "x"});
        let pods = vec![
            pod(full.clone(), Some("2026-01-01T00:00:00Z")), // ready for 60 s: available
            pod(full.clone(), Some("2026-01-01T00:00:40Z")), // ready for 20 s: not yet
            pod(json!({"app": "web"}), None),                // partly labeled, not ready
        ];
        let s = calculate(&rs(3, 30), &pods, None, now);
        assert_eq!(
            (
                s.replicas,
                s.fully_labeled_replicas,
                s.ready_replicas,
                s.available_replicas
            ),
            (3, Some(2), Some(2), Some(1))
        );
        // observedGeneration is the caller's to set; the stored one is kept here.
        assert_eq!(s.observed_generation, Some(1));
        assert!(s.conditions.is_none());
        let empty = calculate(&rs(0, 0), &[], None, now);
        assert_eq!(
            serde_json::to_value(&empty).unwrap(),
            json!({"replicas": 0, "observedGeneration": 1}),
            "zero counts are omitted, as Go's omitempty does"
        );
    }

    #[test]
    fn replica_failure_is_set_once_and_cleared() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let later: jiff::Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let msg = "pods \"web-x\" is forbidden: exceeded quota: q";
        let mut r = rs(3, 0);
        let s = calculate(&r, &[], Some(msg), now);
        let c = condition(&s, REPLICA_FAILURE).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("True", Some("FailedCreate")));
        assert_eq!(c.message.as_deref(), Some(msg));
        // A later failure keeps the first condition (and its time).
        r["status"] = serde_json::to_value(&s).unwrap();
        let again = calculate(&r, &[], Some("other"), later);
        assert_eq!(again.conditions, s.conditions);
        // Too many pods and a failing delete: FailedDelete.
        let extra = vec![pod(json!({}), None), pod(json!({}), None)];
        let del = calculate(&rs(1, 0), &extra, Some("boom"), now);
        assert_eq!(
            condition(&del, REPLICA_FAILURE).unwrap().reason.as_deref(),
            Some("FailedDelete")
        );
        // Success clears it.
        let ok = calculate(&r, &[], None, later);
        assert!(ok.conditions.is_none());
    }

    #[test]
    fn writes_only_on_change() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut r = rs(0, 0);
        let s = calculate(&r, &[], None, now);
        assert!(needs_write(&r, &s), "generation 2 is not observed yet");
        let mut written = s.clone();
        written.observed_generation = Some(2);
        r["status"] = serde_json::to_value(&written).unwrap();
        assert!(!needs_write(&r, &calculate(&r, &[], None, now)));
        let one = vec![pod(json!({}), None)];
        assert!(needs_write(&r, &calculate(&r, &one, None, now)));
    }
}
