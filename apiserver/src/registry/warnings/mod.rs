//! The warnings Kubernetes' strategies return for accepted objects
//! (`WarningsOnCreate` / `WarningsOnUpdate`): deprecated labels and
//! annotations, duplicates that apply would drop, non-standard addresses.
//! They reach the client as `Warning` headers (see `crate::http::warning`).

pub mod net;
pub mod pod;

use k1s_proto::validation::is_dns1123_label;
use serde_json::Value;

/// `base.name` (or `name` at the root), as `field.Path.Child` prints it.
pub(crate) fn child(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

/// `base[i]` (`field.Path.Index`).
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// `base[key]` (`field.Path.Key`).
pub(crate) fn key(base: &str, k: &str) -> String {
    format!("{base}[{k}]")
}

/// The members of an array field (none when absent or not an array).
pub(crate) fn items<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.get(field).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// A string field ("" when absent).
pub(crate) fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The warning for an object whose name ends up in pod names and host names
/// but is not a DNS label (e.g. it has dots): `used_in` is Kubernetes' wording
/// of where (`Pod names and hostnames`, `the Pod's hostname`).
pub fn name_warning(obj: &Value, used_in: &str) -> Option<String> {
    let name = obj["metadata"]["name"].as_str()?;
    let msgs = is_dns1123_label(name);
    if msgs.is_empty() {
        return None;
    }
    Some(format!(
        "metadata.name: this is used in {used_in}, which can result in surprising behavior; a DNS label is recommended: [{}]",
        msgs.join(" ")
    ))
}

/// The warnings for a workload that runs pods from `spec.template`
/// (Deployment, ReplicaSet, DaemonSet): the name warning, then the template's.
pub fn workload_on_create(obj: &Value) -> Vec<String> {
    let mut out: Vec<String> = name_warning(obj, "Pod names and hostnames").into_iter().collect();
    out.extend(pod::template_warnings("spec.template", &obj["spec"]["template"]));
    out
}

/// The warnings for an update of such a workload: the template's, when the
/// update changed the spec (bumped `generation`), as Kubernetes does.
pub fn workload_on_update(new: &Value, old: &Value) -> Vec<String> {
    if generation(new) == generation(old) {
        return Vec::new();
    }
    pod::template_warnings("spec.template", &new["spec"]["template"])
}

/// Kubernetes' `WarningsForJobSpec` for the JobSpec at `path` (a Job's
/// `spec`, a CronJob's `spec.jobTemplate.spec`).
pub fn job_spec_warnings(path: &str, spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let indexed = spec["completionMode"] == "Indexed";
    let completions = spec["completions"].as_i64().unwrap_or(0);
    let parallelism = spec["parallelism"].as_i64().unwrap_or(0);
    if indexed && completions > 100_000 && parallelism > 10_000 {
        out.push(format!(
            "{path}: In Indexed Jobs with a number of completions higher than 10^5 and a parallelism higher than 10^4, Kubernetes might not be able to track completedIndexes when a big number of indexes fail"
        ));
    }
    out.extend(pod::template_warnings(&child(path, "template"), &spec["template"]));
    out
}

/// `metadata.generation` (0 when absent).
pub(crate) fn generation(obj: &Value) -> i64 {
    obj["metadata"]["generation"].as_i64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_print_like_field_path() {
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(child("spec.template", "spec"), "spec.template.spec");
        assert_eq!(
            key(&child("spec", "nodeSelector"), "beta.kubernetes.io/arch"),
            "spec.nodeSelector[beta.kubernetes.io/arch]"
        );
        assert_eq!(index("spec.containers", 2), "spec.containers[2]");
    }

    #[test]
    fn names_with_dots_get_a_warning() {
        let w = name_warning(&json!({"metadata": {"name": "web.v1"}}), "Pod names and hostnames").unwrap();
        assert_eq!(
            w,
            "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]"
        );
        assert!(name_warning(&json!({"metadata": {"name": "web"}}), "x").is_none());
    }

    #[test]
    fn workload_updates_warn_only_when_the_spec_changed() {
        let old = json!({"metadata": {"generation": 1}, "spec": {"template": {"spec": {"nodeSelector": {"beta.kubernetes.io/os": "linux"}}}}});
        let mut new = old.clone();
        assert!(workload_on_update(&new, &old).is_empty());
        new["metadata"]["generation"] = json!(2);
        assert_eq!(
            workload_on_update(&new, &old),
            vec![
                r#"spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead"#
            ]
        );
    }
}
