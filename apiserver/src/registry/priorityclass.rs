//! PriorityClasses (pkg/registry/scheduling/priorityclass, pkg/apis/scheduling/validation).

use k1s_proto::FieldError;
use serde_json::{json, Value};

use super::util::one_of;
use super::Strategy;

/// The highest value a user-defined PriorityClass may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;

/// The PriorityClasses every cluster has: name, value, description.
pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i64, &str)] = &[
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// The PriorityClass strategy.
pub struct PriorityClassStrategy;

impl Strategy for PriorityClassStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.entry("preemptionPolicy")
                .or_insert_with(|| json!("PreemptLowerPriority"));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        let value = obj["value"].as_i64().unwrap_or(0);
        if name.starts_with("system-") {
            if let Some(why) = system_class_mismatch(name, value, obj["globalDefault"].as_bool().unwrap_or(false)) {
                errs.push(FieldError::forbidden(
                    "metadata.name",
                    format!(
                        "priority class names with 'system-' prefix are reserved for system use only. error: {why}"
                    ),
                ));
            }
        } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
            errs.push(FieldError::forbidden(
                "value",
                format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"),
            ));
        }
        errs.extend(one_of(
            obj["preemptionPolicy"].as_str(),
            "preemptionPolicy",
            &["Never", "PreemptLowerPriority"],
        ));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if new.get("value") != old.get("value") {
            errs.push(FieldError::forbidden("value", "may not be changed in an update."));
        }
        if new.get("preemptionPolicy") != old.get("preemptionPolicy") {
            errs.push(FieldError::invalid(
                "preemptionPolicy",
                new["preemptionPolicy"].clone(),
                "field is immutable",
            ));
        }
        errs
    }
}

/// Why a `system-` class is not one of the known system classes, if it is not.
fn system_class_mismatch(name: &str, value: i64, global_default: bool) -> Option<String> {
    let Some((_, want, _)) = SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _, _)| *n == name) else {
        return Some(format!("{name} is not a known system priority class"));
    };
    if value != *want {
        return Some(format!("value of {name} PriorityClass must be {want}"));
    }
    if global_default {
        return Some(format!("globalDefault of {name} PriorityClass must be false"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_preemption_policy() {
        let mut pc = json!({"metadata": {"name": "high"}, "value": 1000});
        PriorityClassStrategy.default(&mut pc);
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
        assert!(PriorityClassStrategy.validate_create(&pc).is_empty());
    }

    #[test]
    fn rejects_reserved_names_and_large_values() {
        let big = json!({"metadata": {"name": "huge"}, "value": 1_000_000_001, "preemptionPolicy": "Never"});
        assert_eq!(
            messages(PriorityClassStrategy.validate_create(&big)),
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        );
        let reserved = json!({"metadata": {"name": "system-mine"}, "value": 5, "preemptionPolicy": "Never"});
        assert_eq!(
            messages(PriorityClassStrategy.validate_create(&reserved)),
            ["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"]
        );
        let system = json!({"metadata": {"name": "system-node-critical"}, "value": 2_000_001_000, "preemptionPolicy": "PreemptLowerPriority"});
        assert!(PriorityClassStrategy.validate_create(&system).is_empty());
        let bad_policy = json!({"metadata": {"name": "p"}, "value": 1, "preemptionPolicy": "Sometimes"});
        assert_eq!(PriorityClassStrategy.validate_create(&bad_policy).len(), 1);
    }

    #[test]
    fn value_and_policy_are_immutable() {
        let old = json!({"metadata": {"name": "p"}, "value": 1, "preemptionPolicy": "Never"});
        let new = json!({"metadata": {"name": "p"}, "value": 2, "preemptionPolicy": "PreemptLowerPriority"});
        assert_eq!(
            messages(PriorityClassStrategy.validate_update(&new, &old)),
            [
                "value: Forbidden: may not be changed in an update.",
                "preemptionPolicy: Invalid value: \"PreemptLowerPriority\": field is immutable"
            ]
        );
    }
}
