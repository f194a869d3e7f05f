//! DaemonSet pieces without I/O (Kubernetes' `pkg/controller/daemon/util`
//! and the predicates of `daemon_controller.go`): the tolerations daemon pods
//! get, which nodes should run a daemon pod, the node affinity that pins a
//! pod to its node, and whether a pod is of the current template.

use std::cmp::Ordering;
use std::sync::Arc;

use k1s_proto::meta::{parse_time, ObjectMeta};
use serde_json::{json, Value};

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::super::deployment::util::scaled_value;
use super::super::scheduler::filters::{node_affinity, pod_tolerates};
use crate::registry::daemonset::template_generation;

/// The pod label holding the template's hash (`DefaultDaemonSetUniqueLabelKey`).
pub const HASH_LABEL: &str = "controller-revision-hash";
/// The pod label holding the template generation (`DaemonSetTemplateGenerationKey`).
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// `AddOrUpdateTolerationInPodSpec`: adds `toleration`, replacing one with the
/// same key, operator, value and effect.
fn add_or_update_toleration(spec: &mut Value, toleration: Value) {
    let same = |t: &Value| {
        ["key", "operator", "value", "effect"]
            .iter()
            .all(|f| t[*f].as_str().unwrap_or("") == toleration[*f].as_str().unwrap_or(""))
    };
    let mut tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    match tolerations.iter().position(same) {
        Some(i) => tolerations[i] = toleration,
        None => tolerations.push(toleration),
    }
    spec["tolerations"] = Value::Array(tolerations);
}

/// `AddOrUpdateDaemonPodTolerations`: daemon pods survive node problems —
/// not-ready and unreachable (NoExecute, forever), disk, memory and PID
/// pressure and cordoning (NoSchedule), and with host networking a network
/// that is not ready.
pub fn add_daemon_tolerations(spec: &mut Value) {
    let mut taints = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec["hostNetwork"].as_bool() == Some(true) {
        taints.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    for (key, effect) in taints {
        add_or_update_toleration(spec, json!({"key": key, "operator": "Exists", "effect": effect}));
    }
}

/// `NewPod`: the daemon pod the set would run on `node` (for the predicates).
pub fn new_pod(ds: &Value, node: &str) -> Value {
    let mut spec = ds["spec"]["template"]["spec"].clone();
    spec["nodeName"] = json!(node);
    add_daemon_tolerations(&mut spec);
    json!({"metadata": ds["spec"]["template"]["metadata"], "spec": spec})
}

/// `NodeShouldRunDaemonPod`: (should a daemon pod run on the node, may a
/// running one stay). Node name, node selector and required affinity must
/// fit; an untolerated NoSchedule taint keeps new pods away, only an
/// untolerated NoExecute one evicts running pods.
pub fn node_should_run(node: &Value, ds: &Value) -> (bool, bool) {
    let node_name = node.name().unwrap_or("");
    let pinned = ds["spec"]["template"]["spec"]["nodeName"].as_str().unwrap_or("");
    if !pinned.is_empty() && pinned != node_name {
        return (false, false);
    }
    let pod = new_pod(ds, node_name);
    if node_affinity(&pod, node).is_err() {
        return (false, false);
    }
    let taints = node["spec"]["taints"].as_array().cloned().unwrap_or_default();
    let untolerated = |effects: &[&str]| {
        taints
            .iter()
            .any(|t| effects.contains(&t["effect"].as_str().unwrap_or("")) && !pod_tolerates(&pod, t))
    };
    if untolerated(&["NoSchedule", "NoExecute"]) {
        return (false, !untolerated(&["NoExecute"]));
    }
    (true, true)
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required node affinity
/// becomes `metadata.name In [node]` (the scheduler then binds it there).
pub fn pin_to_node(affinity: &Value, node: &str) -> Value {
    let selector = json!({"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": [node]}]}]});
    let mut affinity = if affinity.is_object() {
        affinity.clone()
    } else {
        json!({})
    };
    if !affinity["nodeAffinity"].is_object() {
        affinity["nodeAffinity"] = json!({});
    }
    affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = selector;
    affinity
}

/// `GetTargetNodeName`: the pod's node, or the one its affinity pins it to.
pub fn target_node(pod: &Value) -> Option<String> {
    if let Some(n) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Some(n.to_string());
    }
    let terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"]
        .as_array()?;
    terms
        .iter()
        .flat_map(|t| t["matchFields"].as_array().into_iter().flatten())
        .find(|e| e["key"] == "metadata.name" && e["operator"] == "In")
        .and_then(|e| match e["values"].as_array().map(Vec::as_slice) {
            Some([v]) => v.as_str().map(String::from),
            _ => None,
        })
}

/// `IsPodUpdated`: the pod carries the current hash (or template generation).
pub fn is_pod_updated(pod: &Value, hash: &str, ds: &Value) -> bool {
    let generation_matches =
        template_generation(ds).is_some_and(|g| pod.label(TEMPLATE_GENERATION_LABEL) == Some(g.to_string().as_str()));
    let hash_matches = !hash.is_empty() && pod.label(HASH_LABEL) == Some(hash);
    hash_matches || generation_matches
}

/// `CreatePodTemplate`: the template with the daemon tolerations, the
/// template generation and the hash as labels.
pub fn pod_template(ds: &Value, hash: &str) -> Value {
    let mut template = ds["spec"]["template"].clone();
    add_daemon_tolerations(&mut template["spec"]);
    let mut labels = template["metadata"]["labels"].as_object().cloned().unwrap_or_default();
    if let Some(g) = template_generation(ds) {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), json!(g.to_string()));
    }
    if !hash.is_empty() {
        labels.insert(HASH_LABEL.into(), json!(hash));
    }
    template["metadata"]["labels"] = Value::Object(labels);
    template
}

/// `podByCreationTimestampAndPhase`: scheduled pods first, then oldest, then by name.
pub fn by_age(a: &Arc<Value>, b: &Arc<Value>) -> Ordering {
    let scheduled = |p: &Value| p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty());
    let created = |p: &Value| p.meta_str("creationTimestamp").and_then(parse_time);
    scheduled(b)
        .cmp(&scheduled(a))
        .then_with(|| created(a).cmp(&created(b)))
        .then_with(|| a.name().cmp(&b.name()))
}

/// An int-or-percent field of `total`, rounded up (daemon pod surge and
/// unavailability); 0 when unset, `None` when malformed.
fn scaled_up(value: &Value, total: i64) -> Option<i64> {
    if value.is_null() {
        return Some(0);
    }
    let v: IntOrString = serde_json::from_value(value.clone()).ok()?;
    scaled_value(&v, i32::try_from(total).ok()?, true).ok().map(i64::from)
}

/// `SurgeCount` and `UnavailableCount` for `desired` nodes: 0 unless rolling.
pub fn surge_and_unavailable(ds: &Value, desired: i64) -> (i64, i64) {
    let strategy = &ds["spec"]["updateStrategy"];
    if strategy["type"] != "RollingUpdate" || !strategy["rollingUpdate"].is_object() {
        return (0, 0);
    }
    let r = &strategy["rollingUpdate"];
    (
        scaled_up(&r["maxSurge"], desired).unwrap_or(0),
        scaled_up(&r["maxUnavailable"], desired).unwrap_or(0),
    )
}

/// `AllowsSurge`.
pub fn allows_surge(ds: &Value) -> bool {
    surge_and_unavailable(ds, 1).0 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn ds(template_spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "d", "uid": "ds-uid", "generation": 1,
                "annotations": {"deprecated.daemonset.template.generation": "3"}},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": template_spec}}})
    }

    fn node(name: &str, labels: Value, taints: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}})
    }

    #[test]
    fn daemon_pods_tolerate_node_problems() {
        let mut spec = json!({"tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "custom", "operator": "Exists"}]});
        add_daemon_tolerations(&mut spec);
        let keys: Vec<&str> = spec["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["key"].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "node.kubernetes.io/not-ready",
                "custom",
                "node.kubernetes.io/unreachable",
                "node.kubernetes.io/disk-pressure",
                "node.kubernetes.io/memory-pressure",
                "node.kubernetes.io/pid-pressure",
                "node.kubernetes.io/unschedulable"
            ]
        );
        // The matching toleration is replaced: daemon pods stay forever.
        assert!(spec["tolerations"][0].get("tolerationSeconds").is_none());
        let mut host = json!({"hostNetwork": true});
        add_daemon_tolerations(&mut host);
        assert_eq!(host["tolerations"][6]["key"], "node.kubernetes.io/network-unavailable");
    }

    #[test]
    fn which_nodes_run_daemon_pods() {
        let plain = ds(json!({"containers": []}));
        let selective = ds(json!({"nodeSelector": {"disk": "ssd"}}));
        let tolerant = ds(json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]}));
        let pinned = ds(json!({"nodeName": "other"}));
        let no_schedule = json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
        let no_execute = json!([{"key": "dedicated", "value": "db", "effect": "NoExecute"}]);
        let not_ready = json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]);
        let cases = [
            ("plain node", &plain, node("n1", json!({}), json!([])), (true, true)),
            (
                "selector mismatch",
                &selective,
                node("n1", json!({}), json!([])),
                (false, false),
            ),
            (
                "selector match",
                &selective,
                node("n1", json!({"disk": "ssd"}), json!([])),
                (true, true),
            ),
            (
                "untolerated NoSchedule: keep running ones",
                &plain,
                node("n1", json!({}), no_schedule.clone()),
                (false, true),
            ),
            (
                "untolerated NoExecute: evict",
                &plain,
                node("n1", json!({}), no_execute.clone()),
                (false, false),
            ),
            ("tolerated", &tolerant, node("n1", json!({}), no_execute), (true, true)),
            (
                "not ready and cordoned: daemon pods stay",
                &plain,
                node("n1", json!({}), not_ready),
                (true, true),
            ),
            (
                "pinned elsewhere",
                &pinned,
                node("n1", json!({}), json!([])),
                (false, false),
            ),
        ];
        for (what, d, n, want) in cases {
            assert_eq!(node_should_run(&n, d), want, "{what}");
        }
    }

    #[test]
    fn pods_are_pinned_and_found_by_node() {
        let existing = json!({"podAntiAffinity": {"x": 1}, "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": []}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}]}});
        let pinned = pin_to_node(&existing, "n7");
        assert_eq!(pinned["podAntiAffinity"], json!({"x": 1}));
        assert_eq!(
            pinned["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
            1
        );
        assert_eq!(
            pinned["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!({"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]})
        );
        let pod = json!({"spec": {"affinity": pin_to_node(&Value::Null, "n7")}});
        assert_eq!(target_node(&pod).as_deref(), Some("n7"));
        assert_eq!(
            target_node(&json!({"spec": {"nodeName": "n2", "affinity": pinned}})).as_deref(),
            Some("n2")
        );
        assert_eq!(target_node(&json!({"spec": {}})), None);
    }

    #[test]
    fn templates_and_updated_pods() {
        let d = ds(json!({"containers": []}));
        let t = pod_template(&d, "5d8f");
        assert_eq!(
            t["metadata"]["labels"],
            json!({"app": "agent", TEMPLATE_GENERATION_LABEL: "3", HASH_LABEL: "5d8f"})
        );
        assert_eq!(t["spec"]["tolerations"].as_array().unwrap().len(), 6);
        let pod = |labels: Value| json!({"metadata": {"labels": labels}});
        assert!(is_pod_updated(&pod(json!({HASH_LABEL: "5d8f"})), "5d8f", &d));
        assert!(is_pod_updated(
            &pod(json!({TEMPLATE_GENERATION_LABEL: "3"})),
            "other",
            &d
        ));
        assert!(!is_pod_updated(
            &pod(json!({HASH_LABEL: "old", TEMPLATE_GENERATION_LABEL: "2"})),
            "5d8f",
            &d
        ));
    }

    #[test]
    fn surge_and_unavailability_round_up() {
        let mut d = ds(json!({}));
        assert_eq!(surge_and_unavailable(&d, 10), (0, 1));
        d["spec"]["updateStrategy"]["rollingUpdate"] = json!({"maxUnavailable": "25%", "maxSurge": "10%"});
        assert_eq!(surge_and_unavailable(&d, 10), (1, 3));
        assert!(allows_surge(&d));
        d["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        assert_eq!(surge_and_unavailable(&d, 10), (0, 0));
        assert!(!allows_surge(&d));
    }

    #[test]
    fn scheduled_then_oldest_first() {
        let p = |name: &str, node: &str, created: &str| {
            Arc::new(json!({"metadata": {"name": name, "creationTimestamp": created}, "spec": {"nodeName": node}}))
        };
        let mut pods = [
            p("c", "", "2026-01-01T00:00:00Z"),
            p("b", "n1", "2026-01-01T00:00:09Z"),
            p("a", "n1", "2026-01-01T00:00:09Z"),
            p("d", "n1", "2026-01-01T00:00:01Z"),
        ];
        pods.sort_by(by_age);
        let names: Vec<&str> = pods.iter().filter_map(|p| p.name()).collect();
        assert_eq!(names, ["d", "a", "b", "c"]);
    }
}
