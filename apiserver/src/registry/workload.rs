//! What the workload kinds share: selector/template agreement, rolling
//! update numbers (int or percent), replica-count status checks.

use k1s_proto::FieldError;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::pod_validation::validate_template;
use super::util::{go_selector, go_string_map, non_negative, selector_is_empty, selector_matches, validate_selector};

/// A required selector as the typed round trip leaves it: an empty one
/// stands for a missing one (the round trip turns a missing selector into `{}`).
pub fn present(sel: &LabelSelector) -> Option<&LabelSelector> {
    (!selector_is_empty(sel)).then_some(sel)
}

/// `spec.selector` present and well-formed (`Required value` when missing).
///
/// Kubernetes also has `empty selector is invalid for <kind>` for an explicit
/// `{}`; after the typed round trip that cannot be told from a missing one.
pub fn validate_spec_selector(sel: Option<&LabelSelector>, _kind: &str) -> Vec<FieldError> {
    match sel {
        None => vec![FieldError::required("spec.selector", "")],
        Some(s) => validate_selector(s, "spec.selector"),
    }
}

/// The template's labels must be selected by the selector (a missing selector selects nothing).
pub fn selector_matches_template(sel: Option<&LabelSelector>, t: &PodTemplateSpec, path: &str) -> Vec<FieldError> {
    let labels = t.metadata.as_ref().and_then(|m| m.labels.as_ref());
    if sel.is_some_and(|sel| selector_matches(sel, labels)) {
        Vec::new()
    } else {
        vec![FieldError::invalid_shown(
            format!("{path}.metadata.labels"),
            go_string_map(labels),
            "`selector` does not match template `labels`",
        )]
    }
}

/// A controller's pod template (`ValidatePodTemplateSpecForReplicaSet`): labels
/// match the selector, the pod spec is valid, restartPolicy is Always and
/// activeDeadlineSeconds is unset (`kind_title` names the kind in that message).
pub fn validate_controller_template(
    sel: Option<&LabelSelector>,
    t: Option<&PodTemplateSpec>,
    kind_title: &str,
) -> Vec<FieldError> {
    let Some(t) = t else {
        return vec![FieldError::required("spec.template", "")];
    };
    let mut errs = selector_matches_template(sel, t, "spec.template");
    errs.extend(validate_template(t, "spec.template"));
    if let Some(spec) = &t.spec {
        let rp = spec.restart_policy.as_deref().unwrap_or("");
        if rp != "Always" {
            errs.push(FieldError::not_supported(
                "spec.template.spec.restartPolicy",
                rp,
                &["Always"],
            ));
        }
        if spec.active_deadline_seconds.is_some() {
            errs.push(FieldError::forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                format!("activeDeadlineSeconds in {kind_title} is not Supported"),
            ));
        }
    }
    errs
}

/// `spec.selector: field is immutable` when the selector changed.
pub fn selector_immutable(new: Option<&LabelSelector>, old: Option<&LabelSelector>) -> Vec<FieldError> {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid_shown(
            "spec.selector",
            go_selector(new),
            "field is immutable",
        )]
    }
}

/// `spec.selector` of an apps/v1 workload may not change after create.
pub fn spec_selector_immutable(new: &Value, old: &Value) -> Vec<FieldError> {
    let sel = |v: &Value| serde_json::from_value::<LabelSelector>(v["spec"]["selector"].clone()).ok();
    selector_immutable(sel(new).as_ref(), sel(old).as_ref())
}

/// Go's rendering of an IntOrString in messages (its `String()`).
pub fn show_int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// The number an int-or-percent stands for (percent as its number; `None` when malformed).
pub fn int_or_percent_value(v: &IntOrString) -> Option<i64> {
    match v {
        IntOrString::Int(i) => Some((*i).into()),
        IntOrString::String(s) => s.strip_suffix('%').and_then(|n| n.parse().ok()),
    }
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int as is, a percent of
/// `total` rounded up or down; an error for a string that is not a percent.
pub fn scaled_int_or_percent(v: &IntOrString, total: i64, round_up: bool) -> Result<i64, String> {
    match v {
        IntOrString::Int(i) => Ok((*i).into()),
        IntOrString::String(s) => {
            let Some(n) = s.strip_suffix('%') else {
                return Err("invalid value for IntOrString: invalid type: string is not a percentage".into());
            };
            let pct: i64 = n
                .parse()
                .map_err(|e| format!("invalid value for IntOrString: invalid value {s:?}: {e}"))?;
            let scaled = pct as f64 * total as f64 / 100.0;
            Ok(if round_up { scaled.ceil() } else { scaled.floor() } as i64)
        }
    }
}

/// `ValidatePositiveIntOrPercent`: a non-negative int, or a `[0-9]+%` string.
pub fn validate_int_or_percent(v: Option<&IntOrString>, path: &str) -> Vec<FieldError> {
    match v {
        Some(IntOrString::String(s)) => {
            let ok = s
                .strip_suffix('%')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if ok {
                Vec::new()
            } else {
                vec![FieldError::invalid_shown(path, s.clone(), "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]
            }
        }
        Some(IntOrString::Int(i)) => non_negative(Some((*i).into()), path),
        None => Vec::new(),
    }
}

/// `maxUnavailable`/`maxSurge` together: valid numbers, not both zero, at most 100% unavailable.
pub fn validate_rolling_numbers(
    max_unavailable: Option<&IntOrString>,
    max_surge: Option<&IntOrString>,
    path: &str,
) -> Vec<FieldError> {
    let mu_path = format!("{path}.maxUnavailable");
    let mut errs = validate_int_or_percent(max_unavailable, &mu_path);
    errs.extend(validate_int_or_percent(max_surge, &format!("{path}.maxSurge")));
    let zero = |v: Option<&IntOrString>| v.is_none_or(|v| int_or_percent_value(v) == Some(0));
    if zero(max_unavailable) && zero(max_surge) {
        let shown = max_unavailable.map(show_int_or_string).unwrap_or_else(|| "0".into());
        errs.push(FieldError::invalid_shown(
            mu_path.clone(),
            shown,
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    if let Some(v @ IntOrString::String(_)) = max_unavailable {
        if int_or_percent_value(v).is_some_and(|n| n > 100) {
            errs.push(FieldError::invalid_shown(
                mu_path,
                show_int_or_string(v),
                "must not be greater than 100%",
            ));
        }
    }
    errs
}

/// Non-negative status counters, and `ready`/`available` within `replicas`.
pub fn validate_replica_status(status: &serde_json::Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let get = |f: &str| status.get(f).and_then(serde_json::Value::as_i64);
    for f in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "fullyLabeledReplicas",
        "currentReplicas",
        "unavailableReplicas",
        "observedGeneration",
        "currentNumberScheduled",
        "numberMisscheduled",
        "desiredNumberScheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberUnavailable",
        "collisionCount",
    ] {
        errs.extend(non_negative(get(f), &format!("status.{f}")));
    }
    if let (Some(ready), Some(replicas)) = (get("readyReplicas"), get("replicas")) {
        if ready > replicas {
            errs.push(FieldError::invalid(
                "status.readyReplicas",
                ready,
                "cannot be greater than status.replicas",
            ));
        }
    }
    if let (Some(avail), Some(replicas)) = (get("availableReplicas"), get("replicas")) {
        if avail > replicas {
            errs.push(FieldError::invalid(
                "status.availableReplicas",
                avail,
                "cannot be greater than status.replicas",
            ));
        }
    }
    if let (Some(avail), Some(ready)) = (get("availableReplicas"), get("readyReplicas")) {
        if avail > ready {
            errs.push(FieldError::invalid(
                "status.availableReplicas",
                avail,
                "cannot be greater than readyReplicas",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_or_percent_scaling_rounds_as_kubernetes() {
        let cases = [
            (IntOrString::Int(3), 10, true, Ok(3)),
            (IntOrString::String("25%".into()), 10, true, Ok(3)),
            (IntOrString::String("25%".into()), 10, false, Ok(2)),
            (IntOrString::String("50%".into()), 3, true, Ok(2)),
            (IntOrString::String("0%".into()), 7, true, Ok(0)),
        ];
        for (v, total, up, want) in cases {
            assert_eq!(scaled_int_or_percent(&v, total, up), want, "{v:?} of {total}");
        }
        assert!(scaled_int_or_percent(&IntOrString::String("3".into()), 10, true).is_err());
    }
}
