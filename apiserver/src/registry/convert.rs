//! Version conversion between served versions and the stored one:
//! autoscaling/v1 ⇄ v2 HorizontalPodAutoscaler (stored as v2) and
//! events.k8s.io/v1 ⇄ core/v1 Event (stored as core/v1), field for field as
//! Kubernetes' conversion functions map them.

use k1s_proto::{ApiError, ResourceInfo};
use serde_json::{json, Map, Value};

/// Annotation holding the v2 metrics autoscaling/v1 cannot express.
pub const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// Annotation holding the v2 current metrics autoscaling/v1 cannot express.
pub const CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// Annotation holding the v2 conditions.
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// Annotation holding the v2 scaling behavior.
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

/// Converts a request object into the storage version.
pub fn to_storage(info: &ResourceInfo, obj: Value) -> Result<Value, ApiError> {
    if info.is_storage_version() {
        return Ok(obj);
    }
    match (info.group, info.version, info.kind) {
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => Ok(hpa_v1_to_v2(obj)),
        ("events.k8s.io", "v1", "Event") => Ok(event_new_to_core(obj)),
        _ => Err(ApiError::internal(format!(
            "no conversion from {} to its storage version",
            info.api_version()
        ))),
    }
}

/// Converts a stored object into the version `info` serves (identity for the storage version).
pub fn from_storage(info: &ResourceInfo, obj: Value) -> Value {
    if info.is_storage_version() {
        return obj;
    }
    match (info.group, info.version, info.kind) {
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => hpa_v2_to_v1(obj),
        ("events.k8s.io", "v1", "Event") => event_core_to_new(obj),
        _ => obj,
    }
}

fn take(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    map.remove(key).filter(|v| !v.is_null())
}

fn annotations(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    obj.get_mut("metadata")?.get_mut("annotations")?.as_object_mut()
}

fn take_annotation(obj: &mut Value, key: &str) -> Option<Value> {
    let ann = annotations(obj)?;
    let raw = ann.remove(key)?;
    if ann.is_empty() {
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("annotations");
        }
    }
    serde_json::from_str(raw.as_str()?).ok()
}

fn set_annotation(obj: &mut Value, key: &str, value: &Value) {
    let Some(meta) = obj
        .as_object_mut()
        .map(|m| m.entry("metadata").or_insert_with(|| json!({})))
    else {
        return;
    };
    let Some(meta) = meta.as_object_mut() else { return };
    let ann = meta.entry("annotations").or_insert_with(|| json!({}));
    if let Some(a) = ann.as_object_mut() {
        a.insert(key.to_string(), json!(value.to_string()));
    }
}

fn is_cpu_utilization(m: &Value) -> bool {
    m["type"] == "Resource" && m["resource"]["name"] == "cpu" && m["resource"]["target"]["type"] == "Utilization"
}

fn hpa_v1_to_v2(mut obj: Value) -> Value {
    let extra_metrics = take_annotation(&mut obj, METRICS_ANNOTATION);
    let current_extra = take_annotation(&mut obj, CURRENT_METRICS_ANNOTATION);
    let conditions = take_annotation(&mut obj, CONDITIONS_ANNOTATION);
    let behavior = take_annotation(&mut obj, BEHAVIOR_ANNOTATION);
    let Some(map) = obj.as_object_mut() else { return obj };
    map.insert("apiVersion".into(), json!("autoscaling/v2"));
    if let Some(Value::Object(spec)) = map.get_mut("spec") {
        let mut metrics = Vec::new();
        if let Some(t) = take(spec, "targetCPUUtilizationPercentage") {
            metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": t}}}));
        }
        if let Some(Value::Array(extra)) = extra_metrics {
            metrics.extend(extra.into_iter().filter(|m| !is_cpu_utilization(m)));
        }
        if !metrics.is_empty() {
            spec.insert("metrics".into(), Value::Array(metrics));
        }
        if let Some(b) = behavior {
            spec.insert("behavior".into(), b);
        }
    }
    if let Some(Value::Object(status)) = map.get_mut("status") {
        let mut current = Vec::new();
        if let Some(c) = take(status, "currentCPUUtilizationPercentage") {
            current
                .push(json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": c}}}));
        }
        if let Some(Value::Array(extra)) = current_extra {
            current.extend(
                extra
                    .into_iter()
                    .filter(|m| !(m["type"] == "Resource" && m["resource"]["name"] == "cpu")),
            );
        }
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(c) = conditions {
            status.insert("conditions".into(), c);
        }
    }
    obj
}

fn hpa_v2_to_v1(mut obj: Value) -> Value {
    let Some(map) = obj.as_object_mut() else { return obj };
    map.insert("apiVersion".into(), json!("autoscaling/v1"));
    let mut extra_metrics = Vec::new();
    let mut behavior = None;
    if let Some(Value::Object(spec)) = map.get_mut("spec") {
        if let Some(Value::Array(metrics)) = spec.remove("metrics") {
            for m in metrics {
                if is_cpu_utilization(&m) && !spec.contains_key("targetCPUUtilizationPercentage") {
                    spec.insert(
                        "targetCPUUtilizationPercentage".into(),
                        m["resource"]["target"]["averageUtilization"].clone(),
                    );
                } else {
                    extra_metrics.push(m);
                }
            }
        }
        behavior = take(spec, "behavior");
    }
    let mut current_extra = Vec::new();
    let mut conditions = None;
    if let Some(Value::Object(status)) = map.get_mut("status") {
        if let Some(Value::Array(current)) = status.remove("currentMetrics") {
            for m in current {
                let cpu = m["type"] == "Resource" && m["resource"]["name"] == "cpu";
                let util = &m["resource"]["current"]["averageUtilization"];
                if cpu && !util.is_null() && !status.contains_key("currentCPUUtilizationPercentage") {
                    status.insert("currentCPUUtilizationPercentage".into(), util.clone());
                } else {
                    current_extra.push(m);
                }
            }
        }
        conditions = take(status, "conditions");
    }
    if !extra_metrics.is_empty() {
        set_annotation(&mut obj, METRICS_ANNOTATION, &Value::Array(extra_metrics));
    }
    if !current_extra.is_empty() {
        set_annotation(&mut obj, CURRENT_METRICS_ANNOTATION, &Value::Array(current_extra));
    }
    if let Some(c) = conditions {
        set_annotation(&mut obj, CONDITIONS_ANNOTATION, &c);
    }
    if let Some(b) = behavior {
        set_annotation(&mut obj, BEHAVIOR_ANNOTATION, &b);
    }
    obj
}

/// events.k8s.io/v1 field ⇄ core/v1 field.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename(mut obj: Value, api_version: &str, forward: bool) -> Value {
    let Some(map) = obj.as_object_mut() else { return obj };
    map.insert("apiVersion".into(), json!(api_version));
    for (new, core) in EVENT_FIELDS {
        let (from, to) = if forward { (*new, *core) } else { (*core, *new) };
        match map.remove(from) {
            Some(v) => {
                map.insert(to.to_string(), v);
            }
            None => {
                map.remove(to);
            }
        }
    }
    obj
}

fn event_new_to_core(obj: Value) -> Value {
    rename(obj, "v1", true)
}

fn event_core_to_new(obj: Value) -> Value {
    let mut out = rename(obj, "events.k8s.io/v1", false);
    if let Some(map) = out.as_object_mut() {
        // Empty strings and nulls the core form carries do not appear in events.k8s.io/v1.
        map.retain(|k, v| !(v.is_null() || (v.as_str() == Some("") && k != "note")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k1s_proto::resources::find;

    #[test]
    fn hpa_round_trip() {
        let v1 = find("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
        let obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
                "targetCPUUtilizationPercentage": 50},
            "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 40}});
        let stored = to_storage(v1, obj.clone()).unwrap();
        assert_eq!(stored["apiVersion"], "autoscaling/v2");
        assert_eq!(
            stored["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}])
        );
        assert_eq!(
            stored["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
            40
        );
        assert_eq!(from_storage(v1, stored), obj);
    }

    #[test]
    fn hpa_v2_extras_survive_in_annotations() {
        let v1 = find("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
        let v2obj = json!({"apiVersion": "autoscaling/v2", "metadata": {"name": "web"},
            "spec": {"maxReplicas": 3, "metrics": [
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}},
            "status": {"conditions": [{"type": "AbleToScale", "status": "True"}]}});
        let as_v1 = from_storage(v1, v2obj.clone());
        assert!(as_v1["spec"].get("targetCPUUtilizationPercentage").is_none());
        assert!(as_v1["metadata"]["annotations"][METRICS_ANNOTATION].is_string());
        assert!(as_v1["metadata"]["annotations"][BEHAVIOR_ANNOTATION].is_string());
        let back = to_storage(v1, as_v1).unwrap();
        assert_eq!(back, v2obj);
        let v2 = find("autoscaling", "v2", "horizontalpodautoscalers").unwrap();
        assert_eq!(from_storage(v2, v2obj.clone()), v2obj);
    }

    #[test]
    fn event_round_trip() {
        let ev = find("events.k8s.io", "v1", "events").unwrap();
        let new = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "k1s/scheduler", "reportingInstance": "k1s-1",
            "action": "Binding", "reason": "Scheduled", "type": "Normal", "note": "assigned",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}, "deprecatedCount": 1});
        let core = to_storage(ev, new.clone()).unwrap();
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["message"], "assigned");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["reportingComponent"], "k1s/scheduler");
        assert_eq!(core["count"], 1);
        assert!(core.get("note").is_none());
        assert_eq!(from_storage(ev, core), new);
    }
}
