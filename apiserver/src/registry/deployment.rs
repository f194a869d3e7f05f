//! Deployments (pkg/registry/apps/deployment/strategy.go, apps/v1 defaults,
//! apps validation).

use k1s_proto::FieldError;
use k8s_openapi::api::apps::v1::{self as apps, Deployment, RollingUpdateDeployment};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::pod_defaults::default_template;
use super::util::{default_str, default_to, non_negative, typed, with_typed};
use super::workload::{
    present, spec_selector_immutable, validate_controller_template, validate_replica_status, validate_rolling_numbers,
    validate_spec_selector,
};
use super::Strategy;

/// The Deployment strategy.
pub struct DeploymentStrategy;

/// `SetDefaults_Deployment`.
pub fn default_deployment(d: &mut Deployment) {
    let spec = d.spec.get_or_insert_with(Default::default);
    default_to(&mut spec.replicas, 1);
    let strategy = spec.strategy.get_or_insert_with(apps::DeploymentStrategy::default);
    default_str(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        default_to(&mut ru.max_unavailable, IntOrString::String("25%".into()));
        default_to(&mut ru.max_surge, IntOrString::String("25%".into()));
    }
    default_to(&mut spec.revision_history_limit, 10);
    default_to(&mut spec.progress_deadline_seconds, 600);
    default_template(&mut spec.template);
}

impl Strategy for DeploymentStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<Deployment>(obj, default_deployment);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        super::util::clear_status(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let Some(spec) = typed::<Deployment>(obj).and_then(|d| d.spec) else {
            return vec![
                FieldError::required("spec.selector", ""),
                FieldError::required("spec.template", ""),
            ];
        };
        let mut errs = non_negative(spec.replicas.map(i64::from), "spec.replicas");
        let sel = present(&spec.selector);
        errs.extend(validate_spec_selector(sel, "deployment"));
        errs.extend(validate_controller_template(sel, Some(&spec.template), "ReplicaSet"));
        if let Some(st) = &spec.strategy {
            match st.type_.as_deref() {
                Some("Recreate") => {
                    if st.rolling_update.is_some() {
                        errs.push(FieldError::forbidden(
                            "spec.strategy.rollingUpdate",
                            "may not be specified when strategy `type` is 'Recreate'",
                        ));
                    }
                }
                Some("RollingUpdate") => {
                    if let Some(ru) = &st.rolling_update {
                        errs.extend(validate_rolling_numbers(
                            ru.max_unavailable.as_ref(),
                            ru.max_surge.as_ref(),
                            "spec.strategy.rollingUpdate",
                        ));
                    }
                }
                None | Some("") => errs.push(FieldError::required("spec.strategy.type", "")),
                Some(other) => errs.push(FieldError::not_supported(
                    "spec.strategy.type",
                    other,
                    &["Recreate", "RollingUpdate"],
                )),
            }
        }
        errs.extend(non_negative(
            spec.min_ready_seconds.map(i64::from),
            "spec.minReadySeconds",
        ));
        errs.extend(non_negative(
            spec.revision_history_limit.map(i64::from),
            "spec.revisionHistoryLimit",
        ));
        if let Some(pd) = spec.progress_deadline_seconds {
            errs.extend(non_negative(Some(pd.into()), "spec.progressDeadlineSeconds"));
            if pd <= spec.min_ready_seconds.unwrap_or(0) {
                errs.push(FieldError::invalid(
                    "spec.progressDeadlineSeconds",
                    pd,
                    "must be greater than minReadySeconds",
                ));
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

    /// The controller writes the `deployment.kubernetes.io/revision` annotation with the status.
    fn status_metadata(&self) -> &'static [&'static str] {
        &["annotations"]
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

    fn minimal() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}})
    }

    #[test]
    fn minimal_deployment_gets_exactly_kubernetes_defaults() {
        let mut d = minimal();
        DeploymentStrategy.default(&mut d);
        let want = json!({
            "progressDeadlineSeconds": 600,
            "replicas": 1,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "containers": [{"image": "nginx:1.27", "imagePullPolicy": "IfNotPresent", "name": "nginx", "resources": {},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
                "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                "securityContext": {}, "terminationGracePeriodSeconds": 30}}
        });
        assert_eq!(d["spec"], want);
        assert!(DeploymentStrategy.validate_create(&d).is_empty());
    }

    #[test]
    fn validation_messages() {
        let mut d = minimal();
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "x"});
        d["spec"]["replicas"] = json!(-1);
        DeploymentStrategy.default(&mut d);
        let errs: Vec<String> = DeploymentStrategy
            .validate_create(&d)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`".to_string(),
            ]
        );
        let mut r = minimal();
        r["spec"]["strategy"] = json!({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}});
        r["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        let errs: Vec<String> = DeploymentStrategy
            .validate_create(&r)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            errs.contains(
                &"spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
                    .to_string()
            ),
            "{errs:?}"
        );
        assert!(errs.contains(
            &"spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
                .to_string()
        ));
        let mut z = minimal();
        z["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}});
        DeploymentStrategy.default(&mut z);
        let errs: Vec<String> = DeploymentStrategy
            .validate_create(&z)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0%: may not be 0 when `maxSurge` is 0"
                    .to_string()
            ]
        );
    }

    #[test]
    fn selector_is_immutable() {
        let mut old = minimal();
        DeploymentStrategy.default(&mut old);
        let mut new = old.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "2"}});
        new["spec"]["template"]["metadata"]["labels"] = json!({"app": "web", "v": "2"});
        let errs: Vec<String> = DeploymentStrategy
            .validate_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"v\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable".to_string()]);
    }

    #[test]
    fn create_clears_status() {
        let mut d = minimal();
        d["status"] = json!({"replicas": 5});
        DeploymentStrategy.prepare_for_create(&mut d);
        assert!(d.get("status").is_none());
    }
}
