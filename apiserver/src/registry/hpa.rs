//! HorizontalPodAutoscalers, stored as autoscaling/v2 (pkg/registry/
//! autoscaling/horizontalpodautoscaler/strategy.go, autoscaling/v2 defaults).

use k1s_proto::FieldError;
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget, ResourceMetricSource,
};
use serde_json::Value;

use super::util::{default_str, default_to, one_of, parse_quantity, typed, with_typed};
use super::Strategy;

/// The HorizontalPodAutoscaler strategy.
pub struct HpaStrategy;

fn policy(type_: &str, value: i32) -> HPAScalingPolicy {
    HPAScalingPolicy {
        type_: type_.into(),
        value,
        period_seconds: 15,
    }
}

fn default_rules(rules: &mut HPAScalingRules, window: i32, policies: Vec<HPAScalingPolicy>) {
    default_to(&mut rules.stabilization_window_seconds, window);
    default_str(&mut rules.select_policy, "Max");
    if rules.policies.as_ref().is_none_or(Vec::is_empty) {
        rules.policies = Some(policies);
    }
}

/// `SetDefaults_HorizontalPodAutoscaler` (v2): minReplicas 1, CPU at 80%, behavior filled when given.
pub fn default_hpa(h: &mut HorizontalPodAutoscaler) {
    let spec = h.spec.get_or_insert_with(Default::default);
    default_to(&mut spec.min_replicas, 1);
    if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
        spec.metrics = Some(vec![MetricSpec {
            type_: "Resource".into(),
            resource: Some(ResourceMetricSource {
                name: "cpu".into(),
                target: MetricTarget {
                    type_: "Utilization".into(),
                    average_utilization: Some(80),
                    ..Default::default()
                },
            }),
            ..Default::default()
        }]);
    }
    if let Some(b) = spec.behavior.as_mut() {
        default_rules(
            b.scale_up.get_or_insert_with(Default::default),
            0,
            vec![policy("Pods", 4), policy("Percent", 100)],
        );
        default_rules(
            b.scale_down.get_or_insert_with(Default::default),
            300,
            vec![policy("Percent", 100)],
        );
    }
}

fn validate_target(t: &MetricTarget, path: &str, errs: &mut Vec<FieldError>) {
    match t.type_.as_str() {
        "" => errs.push(FieldError::required(format!("{path}.type"), "")),
        "Utilization" => match t.average_utilization {
            None => errs.push(FieldError::required(
                format!("{path}.averageUtilization"),
                "must set either a target raw value or a target utilization",
            )),
            Some(u) if u <= 0 => errs.push(FieldError::invalid(
                format!("{path}.averageUtilization"),
                u,
                "must be greater than 0",
            )),
            _ => {}
        },
        "Value" | "AverageValue" => {
            let (field, q) = if t.type_ == "Value" {
                ("value", &t.value)
            } else {
                ("averageValue", &t.average_value)
            };
            match q {
                None => errs.push(FieldError::required(
                    format!("{path}.{field}"),
                    "must set either a target raw value or a target utilization",
                )),
                Some(q) if parse_quantity(&q.0).is_none_or(|v| v <= 0.0) => errs.push(FieldError::invalid(
                    format!("{path}.{field}"),
                    q.0.as_str(),
                    "must be positive",
                )),
                _ => {}
            }
        }
        other => errs.push(FieldError::not_supported(
            format!("{path}.type"),
            other,
            &["AverageValue", "Utilization", "Value"],
        )),
    }
}

impl Strategy for HpaStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<HorizontalPodAutoscaler>(obj, default_hpa);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        super::util::clear_status(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<HorizontalPodAutoscaler>(obj)
            .and_then(|h| h.spec)
            .unwrap_or_default();
        let mut errs = Vec::new();
        let r = &spec.scale_target_ref;
        if r.kind.is_empty() {
            errs.push(FieldError::required("spec.scaleTargetRef.kind", ""));
        }
        if r.name.is_empty() {
            errs.push(FieldError::required("spec.scaleTargetRef.name", ""));
        }
        let min = spec.min_replicas.unwrap_or(1);
        if min < 1 {
            errs.push(FieldError::invalid(
                "spec.minReplicas",
                min,
                "must be greater than or equal to 1",
            ));
        }
        if spec.max_replicas < 1 {
            errs.push(FieldError::invalid(
                "spec.maxReplicas",
                spec.max_replicas,
                "must be greater than 0",
            ));
        } else if spec.max_replicas < min {
            errs.push(FieldError::invalid(
                "spec.maxReplicas",
                spec.max_replicas,
                "must be greater than or equal to `minReplicas`",
            ));
        }
        for (i, m) in spec.metrics.iter().flatten().enumerate() {
            let p = format!("spec.metrics[{i}]");
            match m.type_.as_str() {
                "Resource" => match &m.resource {
                    Some(res) => {
                        if res.name.is_empty() {
                            errs.push(FieldError::required(format!("{p}.resource.name"), ""));
                        }
                        validate_target(&res.target, &format!("{p}.resource.target"), &mut errs);
                    }
                    None => errs.push(FieldError::required(
                        format!("{p}.resource"),
                        "must populate information for the given metric source",
                    )),
                },
                "ContainerResource" => match &m.container_resource {
                    Some(res) => validate_target(&res.target, &format!("{p}.containerResource.target"), &mut errs),
                    None => errs.push(FieldError::required(
                        format!("{p}.containerResource"),
                        "must populate information for the given metric source",
                    )),
                },
                "Pods" => match &m.pods {
                    Some(s) => validate_target(&s.target, &format!("{p}.pods.target"), &mut errs),
                    None => errs.push(FieldError::required(
                        format!("{p}.pods"),
                        "must populate information for the given metric source",
                    )),
                },
                "Object" => match &m.object {
                    Some(s) => validate_target(&s.target, &format!("{p}.object.target"), &mut errs),
                    None => errs.push(FieldError::required(
                        format!("{p}.object"),
                        "must populate information for the given metric source",
                    )),
                },
                "External" => match &m.external {
                    Some(s) => validate_target(&s.target, &format!("{p}.external.target"), &mut errs),
                    None => errs.push(FieldError::required(
                        format!("{p}.external"),
                        "must populate information for the given metric source",
                    )),
                },
                "" => errs.push(FieldError::required(
                    format!("{p}.type"),
                    "must specify a metric source type",
                )),
                other => errs.push(FieldError::not_supported(
                    format!("{p}.type"),
                    other,
                    &["ContainerResource", "External", "Object", "Pods", "Resource"],
                )),
            }
        }
        if let Some(b) = &spec.behavior {
            for (rules, name) in [(&b.scale_up, "scaleUp"), (&b.scale_down, "scaleDown")] {
                let Some(rules) = rules else { continue };
                let p = format!("spec.behavior.{name}");
                if let Some(w) = rules.stabilization_window_seconds {
                    if !(0..=3600).contains(&w) {
                        errs.push(FieldError::invalid(
                            format!("{p}.stabilizationWindowSeconds"),
                            w,
                            "must be less than or equal to 3600",
                        ));
                    }
                }
                errs.extend(one_of(
                    rules.select_policy.as_deref(),
                    &format!("{p}.selectPolicy"),
                    &["Disabled", "Max", "Min"],
                ));
                for (i, pol) in rules.policies.iter().flatten().enumerate() {
                    let pp = format!("{p}.policies[{i}]");
                    errs.extend(one_of(Some(&pol.type_), &format!("{pp}.type"), &["Percent", "Pods"]));
                    if pol.value <= 0 {
                        errs.push(FieldError::invalid(
                            format!("{pp}.value"),
                            pol.value,
                            "must be greater than zero",
                        ));
                    }
                    if !(1..=1800).contains(&pol.period_seconds) {
                        errs.push(FieldError::invalid(
                            format!("{pp}.periodSeconds"),
                            pol.period_seconds,
                            "must be greater than zero and less than or equal to 1800",
                        ));
                    }
                }
            }
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        let mut h = json!({"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        HpaStrategy.default(&mut h);
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert_eq!(
            h["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}])
        );
        assert_eq!(
            h["spec"]["behavior"],
            json!({"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}})
        );
        assert!(HpaStrategy.validate_create(&h).is_empty());
        h["spec"]["minReplicas"] = json!(6);
        let errs: Vec<String> = HpaStrategy
            .validate_create(&h)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`".to_string()]
        );
    }
}
