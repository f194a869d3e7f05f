//! Small helpers the strategies share: typed views of JSON objects, Go-style
//! rendering of values for messages, label selectors, quantities.

use std::collections::BTreeMap;

use k1s_proto::FieldError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::names;

/// Reads an object as its k8s-openapi type (`None` when it does not fit).
pub fn typed<T: DeserializeOwned>(obj: &Value) -> Option<T> {
    serde_json::from_value(obj.clone()).ok()
}

/// Changes an object through its k8s-openapi type; leaves it alone when it does not fit.
pub fn with_typed<T: DeserializeOwned + Serialize>(obj: &mut Value, f: impl FnOnce(&mut T)) {
    let Some(mut t) = typed::<T>(obj) else { return };
    f(&mut t);
    if let Ok(v) = serde_json::to_value(&t) {
        *obj = v;
    }
}

/// Drops `status` (what a create may not set for kinds whose status controllers own).
pub fn clear_status(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
}

/// Sets `*field` to `value` when unset.
pub fn default_to<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

/// Sets a string field to `value` when unset or empty.
pub fn default_str(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_string());
    }
}

/// Go's `%#v` of a `map[string]string` (keys sorted; `(nil)` when empty).
pub fn go_string_map(map: Option<&BTreeMap<String, String>>) -> String {
    match map {
        Some(m) if !m.is_empty() => {
            let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
            format!("map[string]string{{{}}}", pairs.join(", "))
        }
        _ => "map[string]string(nil)".to_string(),
    }
}

fn go_string_slice(items: Option<&Vec<String>>) -> String {
    match items {
        Some(v) => {
            let shown: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
            format!("[]string{{{}}}", shown.join(", "))
        }
        None => "[]string(nil)".to_string(),
    }
}

/// Go's `%#v` of a `metav1.LabelSelector`, as field errors print it (pointers dereferenced).
pub fn go_selector(sel: Option<&LabelSelector>) -> String {
    let Some(sel) = sel else {
        return "null".to_string();
    };
    let exprs = match &sel.match_expressions {
        Some(list) => {
            let shown: Vec<String> = list
                .iter()
                .map(|r| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:{}}}",
                        r.key,
                        r.operator,
                        go_string_slice(r.values.as_ref())
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", shown.join(", "))
        }
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{exprs}}}",
        go_string_map(sel.match_labels.as_ref())
    )
}

/// Whether a selector selects nothing-in-particular (no labels, no expressions).
pub fn selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Whether `sel` selects an object with `labels` (an empty selector selects everything).
pub fn selector_matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let labels_ok = sel.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = sel.match_expressions.iter().flatten().all(|r| {
        let values = r.values.as_deref().unwrap_or(&[]);
        match r.operator.as_str() {
            "In" => labels.get(&r.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&r.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&r.key),
            "DoesNotExist" => !labels.contains_key(&r.key),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// Validates label keys and values of a map at `path` (e.g. `spec.template.metadata.labels`).
pub fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        for m in names::is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), m));
        }
        for m in names::is_valid_label_value(v) {
            errs.push(FieldError::invalid(format!("{path}[{k}]"), v.as_str(), m));
        }
    }
    errs
}

/// Validates a label selector's syntax (metav1 `ValidateLabelSelector`).
pub fn validate_selector(sel: &LabelSelector, path: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(sel.match_labels.as_ref(), &format!("{path}.matchLabels"));
    for (i, r) in sel.match_expressions.iter().flatten().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let has_values = r.values.as_ref().is_some_and(|v| !v.is_empty());
        match r.operator.as_str() {
            "In" | "NotIn" if !has_values => errs.push(FieldError::required(
                format!("{p}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if has_values => errs.push(FieldError::forbidden(
                format!("{p}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                format!("{p}.operator"),
                other,
                "not a valid selector operator",
            )),
        }
        for m in names::is_qualified_name(&r.key) {
            errs.push(FieldError::invalid(format!("{p}.key"), r.key.as_str(), m));
        }
    }
    errs
}

/// `must be greater than or equal to 0` when negative.
pub fn non_negative(value: Option<i64>, path: &str) -> Vec<FieldError> {
    match value {
        Some(v) if v < 0 => vec![FieldError::invalid(path, v, "must be greater than or equal to 0")],
        _ => Vec::new(),
    }
}

/// `Unsupported value` unless `value` is one of `allowed`.
pub fn one_of(value: Option<&str>, path: &str, allowed: &[&str]) -> Vec<FieldError> {
    match value {
        Some(v) if !allowed.contains(&v) => vec![FieldError::not_supported(path, v, allowed)],
        _ => Vec::new(),
    }
}

/// Parses a resource quantity (`100m`, `1Gi`, `1e3`) to its value.
pub fn parse_quantity(s: &str) -> Option<f64> {
    k1s_proto::quantity::Quantity::parse(s).ok().map(|q| q.as_f64())
}

/// A quantity in Kubernetes' canonical form (`2000m` → `2`), as messages show it.
pub fn canonical_quantity(s: &str) -> String {
    k1s_proto::quantity::Quantity::parse(s)
        .map(|q| q.canonical())
        .unwrap_or_else(|_| s.to_string())
}

/// The message Kubernetes gives for a malformed quantity.
pub const QUANTITY_MSG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn quantities() {
        for (s, v) in [
            ("100m", 0.1),
            ("1Gi", 1073741824.0),
            ("2", 2.0),
            ("1e3", 1000.0),
            ("1.5k", 1500.0),
        ] {
            assert_eq!(parse_quantity(s), Some(v), "{s}");
        }
        assert_eq!(parse_quantity("abc"), None);
        assert_eq!(parse_quantity("1x"), None);
    }

    #[test]
    fn selectors() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "y".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["db".into()]),
            }]),
        };
        let labels: BTreeMap<String, String> = [("app".to_string(), "y".to_string())].into();
        assert!(selector_matches(&sel, Some(&labels)));
        let db: BTreeMap<String, String> = [("app", "y"), ("tier", "db")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .into();
        assert!(!selector_matches(&sel, Some(&db)));
        assert_eq!(
            go_selector(Some(&sel)),
            "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"y\"}, MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"tier\", Operator:\"NotIn\", Values:[]string{\"db\"}}}}"
        );
        let bad = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: "In".into(),
                values: None,
            }]),
        };
        let errs = validate_selector(&bad, "spec.selector");
        assert_eq!(
            errs[0].to_string(),
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        );
    }
}
