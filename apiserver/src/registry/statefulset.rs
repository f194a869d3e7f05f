//! StatefulSets (pkg/registry/apps/statefulset/strategy.go, apps/v1 defaults).

use k1s_proto::FieldError;
use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use serde_json::Value;

use super::pod_defaults::{default_pvc_spec, default_template};
use super::util::{default_str, default_to, non_negative, one_of, typed, with_typed};
use super::workload::{
    present, selector_immutable, validate_controller_template, validate_replica_status, validate_spec_selector,
};
use super::Strategy;

/// The StatefulSet strategy.
pub struct StatefulSetStrategy;

/// What an update of a StatefulSet's spec may change.
pub const STS_UPDATE_MSG: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

/// `SetDefaults_StatefulSet`.
pub fn default_statefulset(s: &mut StatefulSet) {
    let spec = s.spec.get_or_insert_with(Default::default);
    default_str(&mut spec.pod_management_policy, "OrderedReady");
    let us = spec
        .update_strategy
        .get_or_insert_with(StatefulSetUpdateStrategy::default);
    default_str(&mut us.type_, "RollingUpdate");
    if us.type_.as_deref() == Some("RollingUpdate") {
        let ru = us
            .rolling_update
            .get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
        default_to(&mut ru.partition, 0);
    }
    let policy = spec
        .persistent_volume_claim_retention_policy
        .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
    default_str(&mut policy.when_deleted, "Retain");
    default_str(&mut policy.when_scaled, "Retain");
    default_to(&mut spec.replicas, 1);
    default_to(&mut spec.revision_history_limit, 10);
    for pvc in spec.volume_claim_templates.iter_mut().flatten() {
        default_pvc_spec(pvc.spec.get_or_insert_with(Default::default));
        default_str(&mut pvc.status.get_or_insert_with(Default::default).phase, "Pending");
    }
    default_template(&mut spec.template);
}

impl Strategy for StatefulSetStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<StatefulSet>(obj, default_statefulset);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        super::util::clear_status(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<StatefulSet>(obj).and_then(|d| d.spec).unwrap_or_default();
        let mut errs = Vec::new();
        match spec.pod_management_policy.as_deref() {
            None | Some("") => errs.push(FieldError::required("spec.podManagementPolicy", "")),
            v => errs.extend(one_of(v, "spec.podManagementPolicy", &["OrderedReady", "Parallel"])),
        }
        if let Some(us) = &spec.update_strategy {
            match us.type_.as_deref() {
                Some("RollingUpdate") => {
                    if let Some(ru) = &us.rolling_update {
                        errs.extend(non_negative(
                            ru.partition.map(i64::from),
                            "spec.updateStrategy.rollingUpdate.partition",
                        ));
                    }
                }
                Some("OnDelete") => {
                    if us.rolling_update.is_some() {
                        errs.push(FieldError::invalid_shown(
                            "spec.updateStrategy.rollingUpdate",
                            "apps.RollingUpdateStatefulSetStrategy{...}",
                            "only allowed for updateStrategy 'RollingUpdate'",
                        ));
                    }
                }
                None | Some("") => errs.push(FieldError::required("spec.updateStrategy", "")),
                Some(other) => errs.push(FieldError::not_supported(
                    "spec.updateStrategy.type",
                    other,
                    &["OnDelete", "RollingUpdate"],
                )),
            }
        }
        if let Some(p) = &spec.persistent_volume_claim_retention_policy {
            for (v, f) in [(&p.when_deleted, "whenDeleted"), (&p.when_scaled, "whenScaled")] {
                errs.extend(one_of(
                    v.as_deref(),
                    &format!("spec.persistentVolumeClaimRetentionPolicy.{f}"),
                    &["Retain", "Delete"],
                ));
            }
        }
        errs.extend(non_negative(spec.replicas.map(i64::from), "spec.replicas"));
        errs.extend(non_negative(
            spec.min_ready_seconds.map(i64::from),
            "spec.minReadySeconds",
        ));
        errs.extend(non_negative(
            spec.revision_history_limit.map(i64::from),
            "spec.revisionHistoryLimit",
        ));
        if let Some(o) = &spec.ordinals {
            errs.extend(non_negative(o.start.map(i64::from), "spec.ordinals.start"));
        }
        let sel = present(&spec.selector);
        errs.extend(validate_spec_selector(sel, "statefulset"));
        errs.extend(validate_controller_template(sel, Some(&spec.template), "StatefulSet"));
        for (i, pvc) in spec.volume_claim_templates.iter().flatten().enumerate() {
            if pvc.metadata.name.as_deref().is_none_or(str::is_empty) {
                errs.push(FieldError::required(
                    format!("spec.volumeClaimTemplates[{i}].metadata.name"),
                    "",
                ));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let spec = |v: &Value| typed::<StatefulSet>(v).and_then(|d| d.spec).unwrap_or_default();
        let (n, o) = (spec(new), spec(old));
        errs.extend(selector_immutable(Some(&n.selector), Some(&o.selector)));
        if frozen(&n) != frozen(&o) {
            errs.push(FieldError::forbidden("spec", STS_UPDATE_MSG));
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        validate_replica_status(&new["status"])
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn warnings_on_create(&self, obj: &Value) -> Vec<String> {
        // StatefulSet names are DNS labels already: only the template is checked.
        super::warnings::pod::template_warnings("spec.template", &obj["spec"]["template"])
    }

    fn warnings_on_update(&self, new: &Value, old: &Value) -> Vec<String> {
        super::warnings::workload_on_update(new, old)
    }
}

/// The spec without what an update may change (selector changes have their own message).
fn frozen(s: &StatefulSetSpec) -> StatefulSetSpec {
    StatefulSetSpec {
        replicas: None,
        ordinals: None,
        template: Default::default(),
        update_strategy: None,
        revision_history_limit: None,
        persistent_volume_claim_retention_policy: None,
        min_ready_seconds: None,
        selector: Default::default(),
        ..s.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({"metadata": {"name": "db"}, "spec": {"serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    }

    #[test]
    fn defaults() {
        let mut s = minimal();
        StatefulSetStrategy.default(&mut s);
        let spec = &s["spec"];
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            spec["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["volumeClaimTemplates"][0]["spec"]["volumeMode"], "Filesystem");
        assert_eq!(spec["volumeClaimTemplates"][0]["status"], json!({"phase": "Pending"}));
        assert!(StatefulSetStrategy.validate_create(&s).is_empty());
    }

    #[test]
    fn updates_limited() {
        let mut old = minimal();
        StatefulSetStrategy.default(&mut old);
        let mut ok = old.clone();
        ok["spec"]["replicas"] = json!(3);
        ok["spec"]["template"]["spec"]["containers"][0]["image"] = json!("x:2");
        assert!(StatefulSetStrategy.validate_update(&ok, &old).is_empty());
        let mut bad = old.clone();
        bad["spec"]["serviceName"] = json!("other");
        let errs: Vec<String> = StatefulSetStrategy
            .validate_update(&bad, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec![format!("spec: Forbidden: {STS_UPDATE_MSG}")]);
    }
}
