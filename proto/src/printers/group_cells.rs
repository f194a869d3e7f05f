//! Cell helpers shared by the printers of the non-core API groups (`apps`, `batch`, …):
//! reading fields out of JSON objects by path, and the string forms Kubernetes' printers
//! use for selectors, label maps, container lists, quantities and int-or-strings.

use serde_json::{json, Value};

pub use super::cells::{age, list_with_more, name};
use super::{cells, format, PrintContext};
use crate::quantity::Quantity;
use crate::selector::LabelSelector;

/// The value at a path of object keys, if every step exists and is not null.
pub fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut v = obj;
    for key in path {
        v = v.get(key)?;
    }
    (!v.is_null()).then_some(v)
}

/// The string at a path, if present.
pub fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(obj, path).and_then(Value::as_str)
}

/// The string at a path, `""` when absent (a Go string field's zero value).
pub fn string_at(obj: &Value, path: &[&str]) -> String {
    str_at(obj, path).unwrap_or_default().to_string()
}

/// The integer at a path, if present.
pub fn int_opt(obj: &Value, path: &[&str]) -> Option<i64> {
    at(obj, path).and_then(Value::as_i64)
}

/// The integer at a path, 0 when absent (a Go integer field's zero value).
pub fn int_at(obj: &Value, path: &[&str]) -> i64 {
    int_opt(obj, path).unwrap_or(0)
}

/// The length of the list at a path, 0 when absent.
pub fn len_at(obj: &Value, path: &[&str]) -> i64 {
    at(obj, path).and_then(Value::as_array).map_or(0, |a| a.len() as i64)
}

/// The list at a path, empty when absent.
pub fn list_at<'a>(obj: &'a Value, path: &[&str]) -> &'a [Value] {
    at(obj, path).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// `translateTimestampSince` of the timestamp at a path (`<unknown>` when absent).
pub fn since(obj: &Value, path: &[&str], ctx: &PrintContext) -> String {
    format::age(str_at(obj, path), ctx.now)
}

/// Seconds between two RFC 3339 timestamps (`later - earlier`), if both parse.
pub fn seconds_between(earlier: &str, later: &str) -> Option<i64> {
    let a = crate::meta::parse_time(earlier)?;
    let b = crate::meta::parse_time(later)?;
    Some(b.as_second() - a.as_second())
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: `""` for a null or empty selector,
/// `Err` when the selector is invalid.
pub fn selector_string(sel: Option<&Value>) -> Result<String, String> {
    LabelSelector::from_json(sel.unwrap_or(&Value::Null)).map(|s| s.to_string())
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when it selects
/// everything or nothing, `<error>` when it is invalid.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s,
        Err(_) => "<error>".into(),
    }
}

/// `labels.FormatLabels` of a label map given as JSON: `k=v` sorted by key, `<none>` when empty.
pub fn format_labels(labels: Option<&Value>) -> String {
    cells::format_labels(labels.and_then(Value::as_object))
}

/// `layoutContainerCells` of a pod spec's containers, as two string cells.
pub fn container_cells(pod_spec: Option<&Value>) -> (Value, Value) {
    let (names, images) = cells::layout_containers(pod_spec.and_then(|s| s.get("containers")).unwrap_or(&Value::Null));
    (json!(names), json!(images))
}

/// `Quantity.String()` of a JSON quantity; `<nil>` when absent, as Go prints a nil `*Quantity`.
pub fn quantity(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<nil>".into(),
        Some(v) => match Quantity::from_json(v) {
            Ok(q) => q.canonical(),
            Err(_) => v.as_str().map_or_else(|| v.to_string(), str::to_string),
        },
    }
}

/// `intstr.IntOrString.String()`: the integer in decimal or the string as is.
pub fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.as_i64().map_or_else(|| other.to_string(), |n| n.to_string()),
    }
}

/// Whether the first condition of `kind` has status `True` (`hasJobCondition`).
pub fn condition_true(obj: &Value, kind: &str) -> bool {
    list_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == Some(kind))
        .is_some_and(|c| str_at(c, &["status"]) == Some("True"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_like_kubernetes() {
        // Requirements are sorted by key; matchLabels print with a single `=`, set values sorted.
        let sel = json!({"matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                 {"key": "legacy", "operator": "DoesNotExist"},
                                 {"key": "canary", "operator": "Exists"},
                                 {"key": "zone", "operator": "NotIn", "values": ["b", "a"]}]});
        assert_eq!(
            format_label_selector(Some(&sel)),
            "app=shop,canary,env in (dev,prod),!legacy,tier=web,zone notin (a,b)"
        );
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(
            format_label_selector(Some(&json!({"matchExpressions": [{"key": "a", "operator": "Bad"}]}))),
            "<error>"
        );
        assert_eq!(selector_string(Some(&json!({}))).as_deref(), Ok(""));
    }

    #[test]
    fn labels_and_containers() {
        assert_eq!(format_labels(Some(&json!({"z": "1", "a": "2"}))), "a=2,z=1");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
        let spec = json!({"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]});
        assert_eq!(
            container_cells(Some(&spec)),
            (json!("web,log"), json!("nginx:1.27,busybox"))
        );
        assert_eq!(container_cells(None), (json!(""), json!("")));
    }

    #[test]
    fn quantities_and_lists() {
        assert_eq!(quantity(Some(&json!("100Mi"))), "100Mi");
        assert_eq!(quantity(Some(&json!("0.5"))), "500m");
        assert_eq!(quantity(None), "<nil>");
        assert_eq!(int_or_string(&json!(2)), "2");
        assert_eq!(int_or_string(&json!("50%")), "50%");
        let items: Vec<String> = ["a", "b", "c", "d", "e"].iter().map(|s| s.to_string()).collect();
        assert_eq!(list_with_more(&items, 3), "a,b,c + 2 more...");
        assert_eq!(list_with_more(&items[..3], 3), "a,b,c");
        assert_eq!(list_with_more(&[], 3), "<unset>");
    }
}
