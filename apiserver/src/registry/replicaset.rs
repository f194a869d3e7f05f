//! ReplicaSets (pkg/registry/apps/replicaset/strategy.go).

use k1s_proto::FieldError;
use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::Value;

use super::pod_defaults::default_template;
use super::util::{default_to, non_negative, typed, with_typed};
use super::workload::{
    present, spec_selector_immutable, validate_controller_template, validate_replica_status, validate_spec_selector,
};
use super::Strategy;

/// The ReplicaSet strategy.
pub struct ReplicaSetStrategy;

impl Strategy for ReplicaSetStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<ReplicaSet>(obj, |rs| {
            let spec = rs.spec.get_or_insert_with(Default::default);
            default_to(&mut spec.replicas, 1);
            if let Some(t) = spec.template.as_mut() {
                default_template(t);
            }
        });
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        super::util::clear_status(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<ReplicaSet>(obj).and_then(|d| d.spec).unwrap_or_default();
        let mut errs = non_negative(spec.replicas.map(i64::from), "spec.replicas");
        errs.extend(non_negative(
            spec.min_ready_seconds.map(i64::from),
            "spec.minReadySeconds",
        ));
        let sel = present(&spec.selector);
        errs.extend(validate_spec_selector(sel, "deployment"));
        errs.extend(validate_controller_template(sel, spec.template.as_ref(), "ReplicaSet"));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        errs.extend(spec_selector_immutable(new, old));
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        validate_replica_status(&new["status"])
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn warnings_on_create(&self, obj: &Value) -> Vec<String> {
        super::warnings::workload_on_create(obj)
    }

    fn warnings_on_update(&self, new: &Value, old: &Value) -> Vec<String> {
        super::warnings::workload_on_update(new, old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_missing_selector() {
        let mut rs = json!({"metadata": {"name": "r"}, "spec": {
            "template": {"metadata": {"labels": {"app": "r"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}});
        rs = crate::registry::typed::normalize(k1s_proto::resources::find("apps", "v1", "replicasets").unwrap(), rs)
            .unwrap();
        ReplicaSetStrategy.default(&mut rs);
        assert_eq!(rs["spec"]["replicas"], 1);
        let errs: Vec<String> = ReplicaSetStrategy
            .validate_create(&rs)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.selector: Required value".to_string(),
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"r\"}: `selector` does not match template `labels`".to_string()
            ]
        );
    }

    #[test]
    fn status_counts() {
        let new = json!({"status": {"replicas": 1, "readyReplicas": 2}});
        let errs: Vec<String> = ReplicaSetStrategy
            .validate_status_update(&new, &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas".to_string()]
        );
    }
}
