//! `autoscaling` printers: horizontalpodautoscalers (`printHorizontalPodAutoscaler`).
//!
//! Kubernetes prints the internal object, which it decodes straight from storage (v2), so
//! `autoscaling/v1` and `autoscaling/v2` requests get the same cells. The printer here
//! receives the object in the requested version; a v1 object is first turned back into
//! its v2 metrics (the CPU target plus the metrics kept in the
//! `autoscaling.alpha.kubernetes.io/*metrics` annotations).

use std::borrow::Cow;

use serde_json::{json, Value};

use super::group_cells::{age, at, int_at, int_opt, list_at, name, quantity, str_at};
use super::{Column, PrintContext, Printer};

/// Annotation of a v1 object holding the metrics v1 cannot express.
const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// Annotation of a v1 object holding the current metrics v1 cannot express.
const CURRENT_METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";

/// The printer of an `autoscaling` resource, if Kubernetes has one.
pub fn printer(plural: &str) -> Option<Printer> {
    match plural {
        "horizontalpodautoscalers" => Some(Printer {
            columns: HPA_COLUMNS,
            row: hpa_row,
        }),
        _ => None,
    }
}

const HPA_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Reference",
        "string",
        "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.",
    ),
    Column::new(
        "Targets",
        "string",
        "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).  The desired replica count is calculated multiplying the ratio between the target value and the current value by the current number of pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the individual metric source types for more information about how each type of metric must respond.",
    ),
    Column::new(
        "MinPods",
        "string",
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or External metric is configured.  Scaling is active as long as at least one metric value is available.",
    ),
    Column::new(
        "MaxPods",
        "string",
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.",
    ),
    Column::new(
        "Replicas",
        "string",
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
    ),
    Column::age(),
];

/// Whether the object has the autoscaling/v1 shape. List items may come without
/// `apiVersion`; then an object without `spec.metrics` is read as v1 (for a v2 object
/// without metrics both readings print `<none>`).
fn is_v1(obj: &Value) -> bool {
    match str_at(obj, &["apiVersion"]) {
        Some(v) => v == "autoscaling/v1",
        None => at(obj, &["spec", "metrics"]).is_none(),
    }
}

/// A JSON list kept in an annotation of a v1 object.
fn annotation_list(obj: &Value, key: &str) -> Vec<Value> {
    str_at(obj, &["metadata", "annotations", key])
        .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
        .and_then(|v| match v {
            Value::Array(items) => Some(items),
            _ => None,
        })
        .unwrap_or_default()
}

/// The v2 `spec.metrics` and `status.currentMetrics` of a v1 object: the CPU utilization
/// fields first, then the metrics the annotations carry.
fn v1_metrics(obj: &Value) -> (Vec<Value>, Vec<Value>) {
    let mut specs = Vec::new();
    if let Some(t) = int_opt(obj, &["spec", "targetCPUUtilizationPercentage"]) {
        specs.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": t}}}));
    }
    let cpu_target = |m: &Value| {
        m["type"] == "Resource" && m["resource"]["name"] == "cpu" && m["resource"]["target"]["type"] == "Utilization"
    };
    specs.extend(
        annotation_list(obj, METRICS_ANNOTATION)
            .into_iter()
            .filter(|m| !cpu_target(m)),
    );
    let mut statuses = Vec::new();
    if let Some(c) = int_opt(obj, &["status", "currentCPUUtilizationPercentage"]) {
        statuses.push(json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": c}}}));
    }
    let cpu_status = |m: &Value| m["type"] == "Resource" && m["resource"]["name"] == "cpu";
    statuses.extend(
        annotation_list(obj, CURRENT_METRICS_ANNOTATION)
            .into_iter()
            .filter(|m| !cpu_status(m)),
    );
    (specs, statuses)
}

/// One metric as `current/target` (`formatHPAMetrics`' cases).
fn format_metric(spec: &Value, status: Option<&Value>) -> String {
    // The status entry's source of the same kind, paired by position as Kubernetes pairs them.
    let source = |key: &str| status.and_then(|s| at(s, &[key]));
    let unknown = || "<unknown>".to_string();
    match str_at(spec, &["type"]).unwrap_or_default() {
        kind @ ("External" | "Object") => {
            let key = if kind == "External" { "external" } else { "object" };
            let target = at(spec, &[key, "target"]);
            match target.and_then(|t| at(t, &["averageValue"])) {
                Some(avg) => {
                    let current = source(key)
                        .and_then(|s| at(s, &["current", "averageValue"]))
                        .map_or_else(unknown, |q| quantity(Some(q)));
                    format!("{current}/{} (avg)", quantity(Some(avg)))
                }
                None => {
                    let current = source(key).map_or_else(unknown, |s| quantity(at(s, &["current", "value"])));
                    format!("{current}/{}", quantity(target.and_then(|t| at(t, &["value"]))))
                }
            }
        }
        "Pods" => {
            let current = source("pods").map_or_else(unknown, |s| quantity(at(s, &["current", "averageValue"])));
            format!("{current}/{}", quantity(at(spec, &["pods", "target", "averageValue"])))
        }
        kind @ ("Resource" | "ContainerResource") => {
            let key = if kind == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let resource = str_at(spec, &[key, "name"]).unwrap_or_default();
            let target = at(spec, &[key, "target"]);
            match target.and_then(|t| at(t, &["averageValue"])) {
                Some(avg) => {
                    let current = source(key).map_or_else(unknown, |s| quantity(at(s, &["current", "averageValue"])));
                    format!("{resource}: {current}/{}", quantity(Some(avg)))
                }
                None => {
                    let current = source(key)
                        .and_then(|s| int_opt(s, &["current", "averageUtilization"]))
                        .map_or_else(unknown, |u| format!("{u}%"));
                    let target = target
                        .and_then(|t| int_opt(t, &["averageUtilization"]))
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{resource}: {current}/{target}")
                }
            }
        }
        _ => "<unknown type>".to_string(),
    }
}

/// `formatHPAMetrics`: the first two metrics, then ` + N more...`; `<none>` without metrics.
pub fn format_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 2;
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| format_metric(spec, statuses.get(i)))
        .collect();
    let shown = list.iter().take(MAX).cloned().collect::<Vec<_>>().join(", ");
    if list.len() > MAX {
        format!("{shown} + {} more...", list.len() - MAX)
    } else {
        shown
    }
}

fn hpa_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let (specs, statuses): (Cow<[Value]>, Cow<[Value]>) = if is_v1(obj) {
        let (s, c) = v1_metrics(obj);
        (Cow::Owned(s), Cow::Owned(c))
    } else {
        (
            Cow::Borrowed(list_at(obj, &["spec", "metrics"])),
            Cow::Borrowed(list_at(obj, &["status", "currentMetrics"])),
        )
    };
    let reference = format!(
        "{}/{}",
        str_at(obj, &["spec", "scaleTargetRef", "kind"]).unwrap_or_default(),
        str_at(obj, &["spec", "scaleTargetRef", "name"]).unwrap_or_default()
    );
    let min_pods = int_opt(obj, &["spec", "minReplicas"]).map_or_else(|| "<unset>".to_string(), |n| n.to_string());
    vec![
        name(obj),
        json!(reference),
        json!(format_metrics(&specs, &statuses)),
        json!(min_pods),
        json!(int_at(obj, &["spec", "maxReplicas"])),
        json!(int_at(obj, &["status", "currentReplicas"])),
        age(obj, ctx),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PrintContext {
        PrintContext {
            now: "2025-01-01T00:10:00Z".parse().unwrap(),
        }
    }

    fn cpu_util(target: i64) -> Value {
        json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}})
    }

    fn cpu_current(util: i64) -> Value {
        json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": util, "averageValue": "120m"}}})
    }

    fn hpa(metrics: Value, current: Value) -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 10, "metrics": metrics},
            "status": {"currentReplicas": 3, "desiredReplicas": 3, "currentMetrics": current}})
    }

    fn row(obj: &Value) -> Vec<Value> {
        let p = printer("horizontalpodautoscalers").unwrap();
        let cells = (p.row)(obj, &ctx());
        assert_eq!(cells.len(), p.columns.len());
        cells
    }

    #[test]
    fn columns() {
        let names: Vec<&str> = HPA_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"]
        );
        assert!(HPA_COLUMNS.iter().all(|c| c.priority == 0));
    }

    #[test]
    fn cpu_utilization_row() {
        let h = hpa(json!([cpu_util(50)]), json!([cpu_current(45)]));
        assert_eq!(
            row(&h),
            [
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: 45%/50%"),
                json!("1"),
                json!(10),
                json!(3),
                json!("10m")
            ]
        );
        // No metrics observed yet.
        let h = hpa(json!([cpu_util(50)]), Value::Null);
        assert_eq!(row(&h)[2], "cpu: <unknown>/50%");
    }

    #[test]
    fn value_targets_and_more() {
        let specs = json!([
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
            {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}},
        ]);
        let statuses = json!([
            {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "52428800"}}},
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "current": {"averageValue": "500"}}},
        ]);
        let h = hpa(specs, statuses);
        assert_eq!(row(&h)[2], "memory: 52428800/100Mi, 500/1k + 1 more...");
    }

    #[test]
    fn object_external_and_container_metrics() {
        let object_avg = json!({"type": "Object", "object": {"describedObject": {"kind": "Service", "name": "s"},
            "metric": {"name": "hits"}, "target": {"type": "AverageValue", "averageValue": "100m"}}});
        let external_value = json!({"type": "External", "external": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "10"}}});
        assert_eq!(
            format_metrics(std::slice::from_ref(&object_avg), &[]),
            "<unknown>/100m (avg)"
        );
        assert_eq!(
            format_metrics(
                &[object_avg, external_value],
                &[
                    json!({"type": "Object", "object": {"current": {"averageValue": "50m"}}}),
                    json!({"type": "External", "external": {"current": {"value": "4"}}})
                ]
            ),
            "50m/100m (avg), 4/10"
        );
        let container = json!({"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
            "target": {"type": "Utilization", "averageUtilization": 60}}});
        assert_eq!(
            format_metrics(
                &[container],
                &[
                    json!({"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "current": {"averageUtilization": 30}}})
                ]
            ),
            "cpu: 30%/60%"
        );
        // A utilization target without a number shows <auto>; an unknown type its own marker.
        let auto = json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}});
        assert_eq!(
            format_metrics(&[auto, json!({"type": "Weird"})], &[]),
            "cpu: <unknown>/<auto>, <unknown type>"
        );
        assert_eq!(format_metrics(&[], &[]), "<none>");
        // Statuses pair with specs by position, whatever their kind.
        let mem = json!({"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}});
        assert_eq!(format_metrics(&[mem], &[cpu_current(10)]), "memory: 120m/1Gi");
    }

    #[test]
    fn v1_object_prints_like_v2() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 4, "targetCPUUtilizationPercentage": 70},
            "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 35}});
        assert_eq!(
            row(&v1),
            [
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: 35%/70%"),
                json!("<unset>"),
                json!(4),
                json!(2),
                json!("10m")
            ]
        );
        let extra = json!([{"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]);
        let current =
            json!([{"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "80Mi"}}}]);
        let mut v1 = v1;
        v1["metadata"]["annotations"] = json!({
            METRICS_ANNOTATION: extra.to_string(),
            CURRENT_METRICS_ANNOTATION: current.to_string(),
        });
        assert_eq!(row(&v1)[2], "cpu: 35%/70%, memory: 80Mi/100Mi");
        // Only annotation metrics, nothing observed.
        let only_memory = json!({"apiVersion": "autoscaling/v1", "metadata": {"name": "m", "annotations": {METRICS_ANNOTATION: extra.to_string()}},
            "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "db"}, "minReplicas": 2, "maxReplicas": 3}});
        let cells = row(&only_memory);
        assert_eq!(cells[1], "StatefulSet/db");
        assert_eq!(cells[2], "memory: <unknown>/100Mi");
        assert_eq!(cells[3], "2");
        assert_eq!(cells[5], 0);
        // A list item without apiVersion is told apart by its shape.
        let mut item = only_memory.clone();
        item.as_object_mut().unwrap().remove("apiVersion");
        assert_eq!(row(&item)[2], "memory: <unknown>/100Mi");
        let mut v2_item = hpa(json!([cpu_util(50)]), json!([cpu_current(45)]));
        v2_item.as_object_mut().unwrap().remove("apiVersion");
        assert_eq!(row(&v2_item)[2], "cpu: 45%/50%");
    }
}
