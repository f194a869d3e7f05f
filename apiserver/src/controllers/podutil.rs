//! Pure pod helpers every workload controller shares: whether a pod is
//! active, ready or available, the order in which controllers give pods up
//! (`controller.ActivePods`), and the pod a controller creates from its
//! template (Kubernetes' `controller.GetPodFromTemplate`).

use std::cmp::Ordering;

use k1s_proto::meta::{parse_time, ObjectMeta};
use serde_json::{json, Map, Value};

use super::controller_ref::owner_reference;

/// `status.phase`.
pub fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("")
}

/// Not finished and not being deleted: it counts toward replicas.
pub fn is_active(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.deletion_timestamp().is_none()
}

/// Being deleted (but maybe still running).
pub fn is_terminating(pod: &Value) -> bool {
    pod.deletion_timestamp().is_some()
}

/// `Succeeded` or `Failed`: its containers will not run again.
pub fn is_terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Being deleted and not yet terminal (`controller.IsPodTerminating`).
pub fn is_terminating_not_terminal(pod: &Value) -> bool {
    is_terminating(pod) && !is_terminal(pod)
}

/// The most restarts of any one container.
pub fn max_container_restarts(pod: &Value) -> i64 {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["restartCount"].as_i64())
        .max()
        .unwrap_or(0)
}

/// Kubernetes' `controller.ActivePods` order: pods that are less far along
/// come first (they are given up first). Unassigned < assigned; Pending <
/// Unknown < Running; not ready < ready; ready more recently < longer; more
/// restarts < fewer; newer < older.
pub fn compare_active_pods(a: &Value, b: &Value) -> Ordering {
    let node = |p: &Value| p["spec"]["nodeName"].as_str().unwrap_or("").to_string();
    let (na, nb) = (node(a), node(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let rank = |p: &Value| match phase(p) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    let by_phase = rank(a).cmp(&rank(b));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    let by_ready = is_ready(a).cmp(&is_ready(b));
    if by_ready != Ordering::Equal {
        return by_ready;
    }
    if is_ready(a) && is_ready(b) {
        let by_ready_time = later_or_unset_first(ready_since(a), ready_since(b));
        if by_ready_time != Ordering::Equal {
            return by_ready_time;
        }
    }
    let by_restarts = max_container_restarts(b).cmp(&max_container_restarts(a));
    if by_restarts != Ordering::Equal {
        return by_restarts;
    }
    let created = |p: &Value| p["metadata"]["creationTimestamp"].as_str().and_then(parse_time);
    later_or_unset_first(created(a), created(b))
}

/// Orders times so that an unset one comes first, then later before earlier (`afterOrZero`).
fn later_or_unset_first(a: Option<jiff::Timestamp>, b: Option<jiff::Timestamp>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// A condition of `status.conditions` by type.
pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The `Ready` condition is `True`.
pub fn is_ready(pod: &Value) -> bool {
    condition(pod, "Ready").is_some_and(|c| c["status"] == "True")
}

/// Ready for at least `min_ready_seconds` at `now` (Kubernetes' `IsPodAvailable`).
pub fn is_available(pod: &Value, min_ready_seconds: i64, now: jiff::Timestamp) -> bool {
    let Some(ready) = condition(pod, "Ready").filter(|c| c["status"] == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    ready["lastTransitionTime"]
        .as_str()
        .and_then(parse_time)
        .is_some_and(|t| t.as_second() + min_ready_seconds <= now.as_second())
}

/// When the pod turned ready, if it is.
pub fn ready_since(pod: &Value) -> Option<jiff::Timestamp> {
    condition(pod, "Ready")
        .filter(|c| c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(parse_time)
}

/// The pod `parent` creates from its pod `template`: the template's labels,
/// annotations, finalizers and spec, `generateName` `<prefix>`, and a
/// controller reference to `parent` (which carries `apiVersion` and `kind`).
pub fn pod_from_template(template: &Value, parent: &Value, generate_name_prefix: &str) -> Value {
    let meta = &template["metadata"];
    let mut metadata = Map::new();
    metadata.insert("generateName".into(), json!(generate_name_prefix));
    if let Some(ns) = parent.namespace() {
        metadata.insert("namespace".into(), json!(ns));
    }
    for field in ["labels", "annotations", "finalizers"] {
        if let Some(v) = meta.get(field).filter(|v| !v.is_null()) {
            metadata.insert(field.into(), v.clone());
        }
    }
    metadata.insert("ownerReferences".into(), json!([owner_reference(parent)]));
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template["spec"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(phase: &str, ready: Option<&str>) -> Value {
        let mut p = json!({"metadata": {"name": "p"}, "status": {"phase": phase}});
        if let Some(t) = ready {
            p["status"]["conditions"] = json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]);
        }
        p
    }

    #[test]
    fn activity_readiness_and_availability() {
        assert!(is_active(&pod("Pending", None)));
        assert!(!is_active(&pod("Succeeded", None)));
        assert!(!is_active(&pod("Failed", None)));
        let mut deleting = pod("Running", None);
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(!is_active(&deleting) && is_terminating(&deleting));

        let p = pod("Running", Some("2026-01-01T00:00:00Z"));
        assert!(is_ready(&p));
        let now: jiff::Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        assert!(is_available(&p, 0, now));
        assert!(is_available(&p, 10, now));
        assert!(!is_available(&p, 11, now));
        assert!(!is_available(&pod("Running", None), 0, now));
    }

    #[test]
    fn active_pods_order_gives_up_the_least_advanced_first() {
        let p = |name: &str, node: &str, phase: &str, ready: Option<&str>, restarts: i64, created: &str| {
            let mut v = pod(phase, ready);
            v["metadata"]["name"] = json!(name);
            v["metadata"]["creationTimestamp"] = json!(created);
            v["spec"]["nodeName"] = json!(node);
            v["status"]["containerStatuses"] = json!([{"name": "c", "restartCount": restarts}]);
            v
        };
        let t0 = "2026-01-01T00:00:00Z";
        let t1 = "2026-01-01T00:01:00Z";
        let mut pods = [
            p("ready-old", "n", "Running", Some(t0), 0, t0),
            p("ready-new", "n", "Running", Some(t1), 0, t0),
            p("running-restarts", "n", "Running", None, 3, t0),
            p("running-older", "n", "Running", None, 0, t0),
            p("running-newer", "n", "Running", None, 0, t1),
            p("unknown", "n", "Unknown", None, 0, t0),
            p("pending", "n", "Pending", None, 0, t0),
            p("unassigned", "", "Pending", None, 0, t0),
        ];
        pods.reverse();
        pods.sort_by(compare_active_pods);
        let names: Vec<&str> = pods.iter().map(|p| p.name().unwrap()).collect();
        assert_eq!(
            names,
            [
                "unassigned",
                "pending",
                "unknown",
                "running-restarts",
                "running-newer",
                "running-older",
                "ready-new",
                "ready-old"
            ]
        );
        assert!(is_terminal(&pod("Failed", None)) && !is_terminal(&pod("Running", None)));
    }

    #[test]
    fn pods_from_templates_carry_labels_and_a_controller_ref() {
        let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d4f", "namespace": "d", "uid": "u1"}});
        let template = json!({"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        let p = pod_from_template(&template, &rs, "web-5d4f-");
        assert_eq!(p["metadata"]["generateName"], "web-5d4f-");
        assert_eq!(p["metadata"]["namespace"], "d");
        assert_eq!(p["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(p["metadata"]["annotations"], json!({"a": "b"}));
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(p["spec"]["containers"][0]["name"], "c");
    }
}
