//! Pods (pkg/registry/core/pod/strategy.go): defaults, `Pending` status with
//! the QoS class on create, spec validation, and the narrow set of spec
//! changes an update may make.

use k1s_proto::FieldError;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use serde_json::{json, Value};

use super::pod_defaults::default_pod;
use super::pod_validation::validate_pod_spec;
use super::util::{parse_quantity, typed, with_typed};
use super::Strategy;

/// The Pod strategy.
pub struct PodStrategy;

/// The message an update that changes a frozen part of a pod's spec gets.
pub const POD_UPDATE_MSG: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

impl Strategy for PodStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<Pod>(obj, default_pod);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = typed::<Pod>(obj)
            .and_then(|p| p.spec)
            .map(|s| qos_class(&s))
            .unwrap_or("BestEffort");
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"phase": "Pending", "qosClass": qos}));
        }
        // A gated pod says why it is not scheduled (`applySchedulingGatedCondition`).
        if obj["spec"]["schedulingGates"].as_array().is_some_and(|g| !g.is_empty()) {
            let gated = json!({"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates"});
            update_pod_condition(obj, gated, &k1s_proto::meta::now_rfc3339());
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match typed::<Pod>(obj).and_then(|p| p.spec) {
            Some(spec) => validate_pod_spec(&spec, "spec"),
            None => vec![FieldError::required("spec.containers", "")],
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let (Some(new_spec), Some(old_spec)) = (
            typed::<Pod>(new).and_then(|p| p.spec),
            typed::<Pod>(old).and_then(|p| p.spec),
        ) else {
            return errs;
        };
        errs.extend(validate_spec_update(&new_spec, &old_spec));
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn warnings_on_create(&self, obj: &Value) -> Vec<String> {
        super::warnings::pod::pod_on_create(obj)
    }
}

/// Checks that an update changes only what Kubernetes lets a pod update change.
pub fn validate_spec_update(new: &PodSpec, old: &PodSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let (Some(n), Some(o)) = (new.active_deadline_seconds, old.active_deadline_seconds) {
        if n > o {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                n,
                "must be less than or equal to previous value",
            ));
        }
    } else if new.active_deadline_seconds.is_none() && old.active_deadline_seconds.is_some() {
        errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            Value::Null,
            "must not update from a positive integer to nil value",
        ));
    }
    // Fold every permitted change back onto a copy of the new spec; what is left must equal the old spec.
    let mut folded = new.clone();
    copy_images(&mut folded.containers, &old.containers);
    if let (Some(n), Some(o)) = (folded.init_containers.as_mut(), old.init_containers.as_ref()) {
        copy_images(n, o);
    }
    folded.active_deadline_seconds = old.active_deadline_seconds;
    let old_tol = old.tolerations.clone().unwrap_or_default();
    let new_tol = folded.tolerations.clone().unwrap_or_default();
    if old_tol.iter().all(|t| new_tol.contains(t)) {
        folded.tolerations = old.tolerations.clone();
    }
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0) && folded.termination_grace_period_seconds == Some(1)
    {
        folded.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    let new_gates = folded.scheduling_gates.clone().unwrap_or_default();
    if new_gates
        .iter()
        .all(|g| old.scheduling_gates.iter().flatten().any(|o| o == g))
    {
        folded.scheduling_gates = old.scheduling_gates.clone();
    }
    if &folded != old {
        errs.push(FieldError::forbidden("spec", POD_UPDATE_MSG));
    }
    errs
}

fn copy_images(to: &mut [Container], from: &[Container]) {
    if to.len() != from.len() {
        return;
    }
    for (t, f) in to.iter_mut().zip(from) {
        t.image = f.image.clone();
    }
}

/// Sets or replaces a pod condition as `podutil.UpdatePodCondition` does:
/// `lastTransitionTime` moves to `now` only when the status changes (an unset
/// `lastProbeTime` is left out, as the stored form drops nulls). Returns
/// whether the condition changed.
pub fn update_pod_condition(pod: &mut Value, mut condition: Value, now: &str) -> bool {
    condition["lastTransitionTime"] = json!(now);
    let Some(status) = pod
        .as_object_mut()
        .map(|m| m.entry("status").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    let list = status.entry("conditions").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let Some(list) = list.as_array_mut() else {
        return false;
    };
    match list.iter_mut().find(|c| c["type"] == condition["type"]) {
        Some(old) => {
            if old["status"] == condition["status"] {
                condition["lastTransitionTime"] = old["lastTransitionTime"].clone();
            }
            let changed = *old != condition;
            *old = condition;
            changed
        }
        None => {
            list.push(condition);
            true
        }
    }
}

/// Kubernetes' QoS class of a pod: `Guaranteed`, `Burstable` or `BestEffort`.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: std::collections::BTreeMap<&str, f64> = Default::default();
    let mut limits: std::collections::BTreeMap<&str, f64> = Default::default();
    let mut guaranteed = true;
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        let res = c.resources.as_ref();
        let mut limited = Vec::new();
        for (kind, acc) in [("requests", &mut requests), ("limits", &mut limits)] {
            let map = res.and_then(|r| {
                if kind == "requests" {
                    r.requests.as_ref()
                } else {
                    r.limits.as_ref()
                }
            });
            for name in ["cpu", "memory"] {
                let Some(q) = map.and_then(|m| m.get(name)).and_then(|q| parse_quantity(&q.0)) else {
                    continue;
                };
                if q == 0.0 {
                    continue;
                }
                *acc.entry(name).or_default() += q;
                if kind == "limits" {
                    limited.push(name);
                }
            }
        }
        if limited.len() != 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests == limits {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": containers}})
    }

    #[test]
    fn create_sets_pending_and_qos() {
        let cases = [
            (json!([{"name": "a", "image": "x"}]), "BestEffort"),
            (
                json!([{"name": "a", "image": "x", "resources": {"requests": {"cpu": "100m"}}}]),
                "Burstable",
            ),
            (
                json!([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]),
                "Guaranteed",
            ),
            (
                json!([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]),
                "Burstable",
            ),
        ];
        for (containers, want) in cases {
            let mut p = pod(containers);
            PodStrategy.default(&mut p);
            PodStrategy.prepare_for_create(&mut p);
            assert_eq!(p["status"], json!({"phase": "Pending", "qosClass": want}));
        }
    }

    #[test]
    fn gated_pods_get_a_scheduling_gated_condition() {
        let mut p = pod(json!([{"name": "a", "image": "x"}]));
        p["spec"]["schedulingGates"] = json!([{"name": "example.com/gate"}]);
        PodStrategy.prepare_for_create(&mut p);
        let c = &p["status"]["conditions"][0];
        assert_eq!(
            (c["type"].as_str(), c["status"].as_str()),
            (Some("PodScheduled"), Some("False"))
        );
        assert_eq!(c["reason"], "SchedulingGated");
        assert!(c["lastTransitionTime"].is_string());
    }

    #[test]
    fn pod_conditions_move_their_transition_time_only_on_change() {
        let mut p = json!({"metadata": {"name": "x"}});
        let unsched =
            |m: &str| json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": m});
        assert!(update_pod_condition(&mut p, unsched("a"), "t1"));
        assert!(!update_pod_condition(&mut p, unsched("a"), "t2"));
        assert!(update_pod_condition(&mut p, unsched("b"), "t3"));
        let c = &p["status"]["conditions"][0];
        assert_eq!(
            (c["lastTransitionTime"].as_str(), c["message"].as_str()),
            (Some("t1"), Some("b"))
        );
        assert!(update_pod_condition(
            &mut p,
            json!({"type": "PodScheduled", "status": "True"}),
            "t4"
        ));
        assert_eq!(
            p["status"]["conditions"],
            json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": "t4"}])
        );
    }

    #[test]
    fn updates_may_change_only_images_and_a_few_fields() {
        let mut old = pod(json!([{"name": "a", "image": "nginx:1"}]));
        PodStrategy.default(&mut old);
        let mut image = old.clone();
        image["spec"]["containers"][0]["image"] = json!("nginx:2");
        image["spec"]["tolerations"] = json!([{"key": "k", "operator": "Exists"}]);
        assert!(PodStrategy.validate_update(&image, &old).is_empty());
        let mut port = old.clone();
        port["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80, "protocol": "TCP"}]);
        let errs = PodStrategy.validate_update(&port, &old);
        assert_eq!(errs, vec![FieldError::forbidden("spec", POD_UPDATE_MSG)]);
        // Binding goes through `pods/binding`, never an update.
        let mut bind = old.clone();
        bind["spec"]["nodeName"] = json!("node1");
        assert_eq!(PodStrategy.validate_update(&bind, &old).len(), 1);
    }
}
