//! DaemonSets (pkg/registry/apps/daemonset/strategy.go, apps/v1 defaults).

use k1s_proto::FieldError;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::pod_defaults::default_template;
use super::util::{default_str, default_to, non_negative, typed, with_typed};
use super::workload::{
    present, spec_selector_immutable, validate_controller_template, validate_replica_status, validate_rolling_numbers,
    validate_spec_selector,
};
use super::Strategy;

/// The DaemonSet strategy.
pub struct DaemonSetStrategy;

/// The annotation apps/v1 carries the internal `spec.templateGeneration` in.
pub const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// The template generation (`GetTemplateGeneration`), if the annotation parses.
pub fn template_generation(ds: &Value) -> Option<i64> {
    ds["metadata"]["annotations"][TEMPLATE_GENERATION]
        .as_str()
        .and_then(|g| g.parse().ok())
}

fn set_template_generation(ds: &mut Value, generation: i64) {
    use k1s_proto::meta::ObjectMeta;
    let mut annotations = ds.annotations().cloned().unwrap_or_default();
    annotations.insert(TEMPLATE_GENERATION.into(), Value::from(generation.to_string()));
    ds.set_meta("annotations", Value::Object(annotations));
}

impl Strategy for DaemonSetStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<DaemonSet>(obj, |ds| {
            let spec = ds.spec.get_or_insert_with(Default::default);
            let us = spec
                .update_strategy
                .get_or_insert_with(DaemonSetUpdateStrategy::default);
            default_str(&mut us.type_, "RollingUpdate");
            if us.type_.as_deref() == Some("RollingUpdate") {
                let ru = us.rolling_update.get_or_insert_with(RollingUpdateDaemonSet::default);
                default_to(&mut ru.max_unavailable, IntOrString::Int(1));
                default_to(&mut ru.max_surge, IntOrString::Int(0));
            }
            default_to(&mut spec.revision_history_limit, 10);
            default_template(&mut spec.template);
        });
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        super::util::clear_status(obj);
        let given = template_generation(obj).filter(|g| *g >= 1);
        set_template_generation(obj, given.unwrap_or(1));
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // Clients cannot set it: a changed template bumps it.
        let old_generation = template_generation(old).unwrap_or(1);
        let bump = i64::from(new["spec"]["template"] != old["spec"]["template"]);
        set_template_generation(new, old_generation + bump);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<DaemonSet>(obj).and_then(|d| d.spec).unwrap_or_default();
        let sel = present(&spec.selector);
        let mut errs = validate_spec_selector(sel, "daemonset");
        errs.extend(validate_controller_template(sel, Some(&spec.template), "DaemonSet"));
        errs.extend(non_negative(
            spec.min_ready_seconds.map(i64::from),
            "spec.minReadySeconds",
        ));
        errs.extend(non_negative(
            spec.revision_history_limit.map(i64::from),
            "spec.revisionHistoryLimit",
        ));
        if let Some(us) = &spec.update_strategy {
            match us.type_.as_deref() {
                Some("OnDelete") => {}
                Some("RollingUpdate") => match &us.rolling_update {
                    Some(ru) => errs.extend(validate_rolling_numbers(
                        ru.max_unavailable.as_ref(),
                        ru.max_surge.as_ref(),
                        "spec.updateStrategy.rollingUpdate",
                    )),
                    None => errs.push(FieldError::required("spec.updateStrategy.rollingUpdate", "")),
                },
                None | Some("") => errs.push(FieldError::required("spec.updateStrategy.type", "")),
                Some(other) => errs.push(FieldError::not_supported(
                    "spec.updateStrategy.type",
                    other,
                    &["OnDelete", "RollingUpdate"],
                )),
            }
        }
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
    fn defaults_and_validation() {
        let mut ds = json!({"metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}});
        DaemonSetStrategy.default(&mut ds);
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
        assert!(DaemonSetStrategy.validate_create(&ds).is_empty());
        ds["spec"]["updateStrategy"]["type"] = json!("Sometimes");
        let errs: Vec<String> = DaemonSetStrategy
            .validate_create(&ds)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec!["spec.updateStrategy.type: Unsupported value: \"Sometimes\": supported values: \"OnDelete\", \"RollingUpdate\"".to_string()]);
    }

    #[test]
    fn template_generation_counts_template_changes() {
        let mut ds = json!({"metadata": {"name": "agent", "annotations": {TEMPLATE_GENERATION: "7"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}});
        DaemonSetStrategy.prepare_for_create(&mut ds);
        assert_eq!(template_generation(&ds), Some(7));
        let mut fresh = json!({"metadata": {"name": "agent"}, "spec": {}});
        DaemonSetStrategy.prepare_for_create(&mut fresh);
        assert_eq!(fresh["metadata"]["annotations"][TEMPLATE_GENERATION], "1");

        let mut same = ds.clone();
        same["metadata"]["annotations"][TEMPLATE_GENERATION] = json!("99");
        same["spec"]["minReadySeconds"] = json!(5);
        DaemonSetStrategy.prepare_for_update(&mut same, &ds);
        assert_eq!(
            template_generation(&same),
            Some(7),
            "not settable, not bumped without a template change"
        );
        let mut changed = ds.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("x:2");
        DaemonSetStrategy.prepare_for_update(&mut changed, &ds);
        assert_eq!(template_generation(&changed), Some(8));
    }
}
