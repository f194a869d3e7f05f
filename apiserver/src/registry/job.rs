//! Jobs (pkg/registry/batch/job/strategy.go, batch/v1 defaults, batch
//! validation): the generated selector and pod labels, defaults, the
//! restartPolicy rule and what an update may not change.

use std::collections::BTreeMap;

use k1s_proto::FieldError;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use super::pod_defaults::default_template;
use super::pod_validation::validate_template;
use super::util::{default_str, default_to, go_selector, non_negative, one_of, typed, validate_selector, with_typed};
use super::workload::selector_matches_template;
use super::Strategy;

/// The Job strategy.
pub struct JobStrategy;

/// The label (and selector key) holding the Job's uid.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The label holding the Job's name.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
const LEGACY_JOB_NAME_LABEL: &str = "job-name";

/// `SetDefaults_Job`.
pub fn default_job(job: &mut Job) {
    let spec = job.spec.get_or_insert_with(Default::default);
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
    }
    default_to(&mut spec.parallelism, 1);
    if spec.backoff_limit.is_none() {
        spec.backoff_limit = Some(if spec.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            6
        });
    }
    default_str(&mut spec.completion_mode, "NonIndexed");
    default_to(&mut spec.suspend, false);
    default_to(&mut spec.manual_selector, false);
    let replacement = if spec.pod_failure_policy.is_some() {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    default_str(&mut spec.pod_replacement_policy, replacement);
    if let Some(pfp) = spec.pod_failure_policy.as_mut() {
        for rule in pfp.rules.iter_mut() {
            for c in rule.on_pod_conditions.iter_mut().flatten() {
                if c.status.is_empty() {
                    c.status = "True".to_string();
                }
            }
        }
    }
    default_template(&mut spec.template);
    // The Job's own labels default to its template's labels.
    let template_labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone());
    if let Some(labels) = template_labels {
        if job.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
            job.metadata.labels = Some(labels);
        }
    }
}

/// Adds the uid selector and the job labels to the template (unless `manualSelector`).
fn generate_selector(job: &mut Job) {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let spec = job.spec.get_or_insert_with(Default::default);
    if spec.manual_selector == Some(true) {
        return;
    }
    let labels = spec
        .template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new);
    for (k, v) in [
        (CONTROLLER_UID_LABEL, &uid),
        (JOB_NAME_LABEL, &name),
        (LEGACY_CONTROLLER_UID_LABEL, &uid),
        (LEGACY_JOB_NAME_LABEL, &name),
    ] {
        labels.entry(k.to_string()).or_insert_with(|| v.clone());
    }
    let sel = spec.selector.get_or_insert_with(LabelSelector::default);
    sel.match_labels
        .get_or_insert_with(BTreeMap::new)
        .entry(CONTROLLER_UID_LABEL.to_string())
        .or_insert(uid);
}

impl Strategy for JobStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<Job>(obj, default_job);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        with_typed::<Job>(obj, |job| {
            generate_selector(job);
            job.status = None;
            // Kubernetes defaults again when it reads the object back, so the
            // Job's labels pick up the generated ones.
            default_job(job);
        });
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let Some(job) = typed::<Job>(obj) else {
            return Vec::new();
        };
        let spec = job.spec.clone().unwrap_or_default();
        let mut errs = validate_generated_selector(&job, &spec);
        errs.extend(validate_job_spec(&spec, "spec"));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let spec = |v: &Value| typed::<Job>(v).and_then(|j| j.spec).unwrap_or_default();
        let (n, o) = (spec(new), spec(old));
        if n.selector != o.selector {
            errs.push(FieldError::invalid_shown(
                "spec.selector",
                go_selector(n.selector.as_ref()),
                "field is immutable",
            ));
        }
        let mut template = n.template.clone();
        if o.suspend == Some(true) {
            // A suspended Job may change its pods' scheduling directives.
            if let (Some(t), Some(ot)) = (template.spec.as_mut(), o.template.spec.as_ref()) {
                t.node_selector = ot.node_selector.clone();
                t.tolerations = ot.tolerations.clone();
                t.affinity = ot.affinity.clone();
                t.scheduling_gates = ot.scheduling_gates.clone();
            }
            template.metadata = o.template.metadata.clone();
        }
        if template != o.template {
            errs.push(FieldError::invalid_shown(
                "spec.template",
                "core.PodTemplateSpec{...}",
                "field is immutable",
            ));
        }
        for (changed, field) in [
            (n.completion_mode != o.completion_mode, "spec.completionMode"),
            (n.pod_failure_policy != o.pod_failure_policy, "spec.podFailurePolicy"),
            (
                n.backoff_limit_per_index != o.backoff_limit_per_index,
                "spec.backoffLimitPerIndex",
            ),
        ] {
            if changed {
                errs.push(FieldError::invalid(field, Value::Null, "field is immutable"));
            }
        }
        let elastic = n.completion_mode.as_deref() == Some("Indexed") && n.completions == n.parallelism;
        if n.completions != o.completions && !elastic {
            errs.push(FieldError::invalid(
                "spec.completions",
                n.completions,
                "field is immutable",
            ));
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        let status = &new["status"];
        let mut errs = Vec::new();
        for f in ["active", "succeeded", "failed", "ready", "terminating"] {
            errs.extend(non_negative(
                status.get(f).and_then(Value::as_i64),
                &format!("status.{f}"),
            ));
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn warnings_on_create(&self, obj: &Value) -> Vec<String> {
        let mut w: Vec<String> = super::warnings::name_warning(obj, "Pod names and hostnames")
            .into_iter()
            .collect();
        w.extend(super::warnings::job_spec_warnings("spec", &obj["spec"]));
        w
    }

    fn warnings_on_update(&self, new: &Value, old: &Value) -> Vec<String> {
        if super::warnings::generation(new) == super::warnings::generation(old) {
            return Vec::new();
        }
        super::warnings::job_spec_warnings("spec", &new["spec"])
    }
}

/// Without `manualSelector`, the generated labels must be on the template and the selector must be the generated one.
fn validate_generated_selector(job: &Job, spec: &JobSpec) -> Vec<FieldError> {
    if spec.manual_selector == Some(true) {
        return Vec::new();
    }
    let mut errs = Vec::new();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    if uid.is_empty() {
        errs.push(FieldError::required("metadata.uid", ""));
    }
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    for (k, want) in [
        (LEGACY_CONTROLLER_UID_LABEL, &uid),
        (LEGACY_JOB_NAME_LABEL, &name),
        (CONTROLLER_UID_LABEL, &uid),
        (JOB_NAME_LABEL, &name),
    ] {
        let path = format!("spec.template.metadata.labels[{k}]");
        match labels.get(k) {
            None => errs.push(FieldError::required(path, format!("must be '{want}'"))),
            Some(v) if v != want => errs.push(FieldError::invalid(path, v.as_str(), format!("must be '{want}'"))),
            _ => {}
        }
    }
    let expected: BTreeMap<String, String> = [(CONTROLLER_UID_LABEL.to_string(), uid)].into();
    if let Some(sel) = &spec.selector {
        if !super::util::selector_matches(sel, Some(&expected)) {
            errs.push(FieldError::invalid_shown(
                "spec.selector",
                go_selector(Some(sel)),
                "`selector` not auto-generated",
            ));
        }
    }
    errs
}

/// `ValidateJobSpec`: counts, completion mode, selector/template agreement, restartPolicy.
pub fn validate_job_spec(spec: &JobSpec, path: &str) -> Vec<FieldError> {
    let mut errs = non_negative(spec.parallelism.map(i64::from), &format!("{path}.parallelism"));
    errs.extend(non_negative(
        spec.completions.map(i64::from),
        &format!("{path}.completions"),
    ));
    errs.extend(non_negative(
        spec.active_deadline_seconds,
        &format!("{path}.activeDeadlineSeconds"),
    ));
    errs.extend(non_negative(
        spec.backoff_limit.map(i64::from),
        &format!("{path}.backoffLimit"),
    ));
    errs.extend(non_negative(
        spec.ttl_seconds_after_finished.map(i64::from),
        &format!("{path}.ttlSecondsAfterFinished"),
    ));
    errs.extend(one_of(
        spec.completion_mode.as_deref(),
        &format!("{path}.completionMode"),
        &["NonIndexed", "Indexed"],
    ));
    if spec.completion_mode.as_deref() == Some("Indexed") && spec.completions.is_none() {
        errs.push(FieldError::required(
            format!("{path}.completions"),
            "when completion mode is Indexed",
        ));
    }
    errs.extend(one_of(
        spec.pod_replacement_policy.as_deref(),
        &format!("{path}.podReplacementPolicy"),
        &["Failed", "TerminatingOrFailed"],
    ));
    if path == "spec" {
        match &spec.selector {
            None => errs.push(FieldError::required(format!("{path}.selector"), "")),
            Some(sel) => {
                errs.extend(validate_selector(sel, &format!("{path}.selector")));
                errs.extend(selector_matches_template(
                    Some(sel),
                    &spec.template,
                    &format!("{path}.template"),
                ));
            }
        }
    }
    errs.extend(validate_template(&spec.template, &format!("{path}.template")));
    let rp = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("");
    if rp != "OnFailure" && rp != "Never" {
        errs.push(FieldError::not_supported(
            format!("{path}.template.spec.restartPolicy"),
            rp,
            &["OnFailure", "Never"],
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn created(spec: Value) -> Value {
        let mut j = json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u-1"}, "spec": spec});
        JobStrategy.default(&mut j);
        JobStrategy.prepare_for_create(&mut j);
        j
    }

    #[test]
    fn create_generates_selector_labels_and_defaults() {
        let j = created(
            json!({"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5"}]}}}),
        );
        let labels = json!({"batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "pi",
            "controller-uid": "u-1", "job-name": "pi"});
        assert_eq!(j["spec"]["template"]["metadata"]["labels"], labels);
        assert_eq!(j["metadata"]["labels"], labels);
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        for (f, v) in [
            ("backoffLimit", json!(6)),
            ("completions", json!(1)),
            ("parallelism", json!(1)),
            ("completionMode", json!("NonIndexed")),
            ("suspend", json!(false)),
            ("manualSelector", json!(false)),
            ("podReplacementPolicy", json!("TerminatingOrFailed")),
        ] {
            assert_eq!(j["spec"][f], v, "{f}");
        }
        assert!(
            JobStrategy.validate_create(&j).is_empty(),
            "{:?}",
            JobStrategy.validate_create(&j)
        );
    }

    #[test]
    fn restart_policy_must_be_onfailure_or_never() {
        let j = created(json!({"template": {"spec": {"containers": [{"name": "pi", "image": "perl:5"}]}}}));
        let errs: Vec<String> = JobStrategy
            .validate_create(&j)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"".to_string()]
        );
    }

    #[test]
    fn template_and_selector_are_immutable() {
        let old = created(
            json!({"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5"}]}}}),
        );
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:6");
        let errs: Vec<String> = JobStrategy
            .validate_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable".to_string()]
        );
        let mut scaled = old.clone();
        scaled["spec"]["parallelism"] = json!(3);
        assert!(JobStrategy.validate_update(&scaled, &old).is_empty());
    }
}
