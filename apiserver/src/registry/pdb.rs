//! What the disruption controller and the eviction subresource share about
//! PodDisruptionBudgets: which pods a budget selects, and its
//! `DisruptionAllowed` condition (`pdbhelper.UpdateDisruptionAllowedCondition`).

use k1s_proto::selector::LabelSelector;
use serde_json::{json, Map, Value};

/// Pod condition reason that says a pod is being evicted.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// How long an eviction's entry in `status.disruptedPods` counts (`DeletionTimeout`).
pub const DELETION_TIMEOUT_SECONDS: i64 = 120;
/// Most entries `status.disruptedPods` may hold before evictions are refused (`MaxDisruptedPodSize`).
pub const MAX_DISRUPTED_PODS: usize = 2000;

/// The budget's selector: a missing one selects nothing; an empty one every pod
/// of the namespace (policy/v1); a malformed one nothing.
pub fn selector(pdb: &Value) -> LabelSelector {
    let sel = &pdb["spec"]["selector"];
    if sel.is_null() {
        return LabelSelector::nothing();
    }
    LabelSelector::from_json(sel).unwrap_or_else(|_| LabelSelector::nothing())
}

/// Whether the budget guards the pod for the eviction subresource, which
/// (unlike the controller) never lets an empty selector match.
pub fn guards(pdb: &Value, pod: &Value) -> bool {
    let sel = selector(pdb);
    pdb["metadata"]["namespace"] == pod["metadata"]["namespace"]
        && !sel.is_empty()
        && !sel.matches_nothing()
        && sel.matches(pod["metadata"]["labels"].as_object())
}

/// `apimeta.SetStatusCondition`: adds or replaces a `metav1.Condition`,
/// moving `lastTransitionTime` only when its status changes.
pub fn set_condition(status: &mut Value, mut condition: Value, now: &str) {
    if !status.is_object() {
        *status = json!({});
    }
    let list = &mut status["conditions"];
    if !list.is_array() {
        *list = json!([]);
    }
    let Some(list) = list.as_array_mut() else { return };
    match list.iter_mut().find(|c| c["type"] == condition["type"]) {
        Some(old) => {
            condition["lastTransitionTime"] = if old["status"] == condition["status"] {
                old["lastTransitionTime"].clone()
            } else {
                json!(now)
            };
            *old = condition;
        }
        None => {
            condition["lastTransitionTime"] = json!(now);
            list.push(condition);
        }
    }
}

/// Sets `DisruptionAllowed` from `status.disruptionsAllowed`: `True`/`SufficientPods`
/// when disruptions are allowed, `False`/`InsufficientPods` otherwise.
pub fn update_disruption_allowed(status: &mut Value, now: &str) {
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0) > 0;
    let (state, reason) = if allowed {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let condition = json!({
        "type": "DisruptionAllowed",
        "status": state,
        "reason": reason,
        "message": "",
        "observedGeneration": status["observedGeneration"].as_i64().unwrap_or(0),
    });
    set_condition(status, condition, now);
}

/// The `SyncFailed` condition the controller sets when it cannot compute the status.
pub fn sync_failed(status: &mut Value, message: &str, now: &str) {
    status["disruptionsAllowed"] = json!(0);
    let condition = json!({
        "type": "DisruptionAllowed",
        "status": "False",
        "reason": "SyncFailed",
        "message": message,
        "observedGeneration": status["observedGeneration"].as_i64().unwrap_or(0),
    });
    set_condition(status, condition, now);
}

/// `status.disruptedPods` as a map (empty when absent).
pub fn disrupted_pods(status: &Value) -> Map<String, Value> {
    status["disruptedPods"].as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_pods_a_budget_guards() {
        let pod = json!({"metadata": {"namespace": "d", "labels": {"app": "web"}}});
        let pdb = |sel: Value| json!({"metadata": {"namespace": "d"}, "spec": {"selector": sel}});
        assert!(guards(&pdb(json!({"matchLabels": {"app": "web"}})), &pod));
        assert!(!guards(&pdb(json!({"matchLabels": {"app": "db"}})), &pod));
        assert!(!guards(&pdb(json!({})), &pod), "eviction ignores empty selectors");
        assert!(!guards(&json!({"metadata": {"namespace": "d"}, "spec": {}}), &pod));
        let other_ns = json!({"metadata": {"namespace": "x"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}});
        assert!(!guards(&other_ns, &pod));
        // The controller counts every pod for an empty selector.
        assert!(selector(&pdb(json!({}))).matches(pod["metadata"]["labels"].as_object()));
    }

    #[test]
    fn disruption_allowed_condition() {
        let mut status = json!({"disruptionsAllowed": 1, "observedGeneration": 2});
        update_disruption_allowed(&mut status, "t1");
        assert_eq!(
            status["conditions"],
            json!([{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods", "message": "",
                    "observedGeneration": 2, "lastTransitionTime": "t1"}])
        );
        update_disruption_allowed(&mut status, "t2");
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "t1");
        status["disruptionsAllowed"] = json!(0);
        update_disruption_allowed(&mut status, "t3");
        let c = &status["conditions"][0];
        assert_eq!(
            (
                c["status"].as_str(),
                c["reason"].as_str(),
                c["lastTransitionTime"].as_str()
            ),
            (Some("False"), Some("InsufficientPods"), Some("t3"))
        );
        sync_failed(&mut status, "found no controllers for pod \"p\"", "t4");
        assert_eq!(status["conditions"][0]["reason"], "SyncFailed");
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "t3");
        assert_eq!(status["conditions"].as_array().map(Vec::len), Some(1));
    }
}
