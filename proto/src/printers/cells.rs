//! Small cell builders the printers share: object names and ages, label maps,
//! container lists and `a,b,c + N more...` lists, as Kubernetes formats them.

use serde_json::{Map, Value};

use super::format;
use super::PrintContext;

/// `metadata.name` as a cell (`""` when absent).
pub fn name(obj: &Value) -> Value {
    Value::from(str_at(&obj["metadata"]["name"]))
}

/// The `Age` cell: time since `metadata.creationTimestamp`.
pub fn age(obj: &Value, ctx: &PrintContext) -> Value {
    Value::from(format::age(obj["metadata"]["creationTimestamp"].as_str(), ctx.now))
}

/// A string field, `""` when absent or not a string (Go's zero value).
pub fn str_at(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A string field, or `fallback` when absent or empty.
pub fn str_or<'a>(v: &'a Value, fallback: &'a str) -> &'a str {
    match v.as_str() {
        Some(s) if !s.is_empty() => s,
        _ => fallback,
    }
}

/// An integer field, 0 when absent.
pub fn int_at(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The number of entries of a JSON object or array (0 when absent).
pub fn count(v: &Value) -> i64 {
    match v {
        Value::Object(m) => m.len() as i64,
        Value::Array(a) => a.len() as i64,
        _ => 0,
    }
}

/// `labels.FormatLabels`: `k1=v1,k2=v2` sorted by key, `<none>` when empty.
pub fn format_labels(labels: Option<&Map<String, Value>>) -> String {
    let Some(labels) = labels.filter(|m| !m.is_empty()) else {
        return "<none>".into();
    };
    let mut pairs: Vec<(&String, &str)> = labels.iter().map(|(k, v)| (k, str_at(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `layoutContainerCells`: the containers' names and images, comma-separated.
pub fn layout_containers(containers: &Value) -> (String, String) {
    let list = containers.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let names: Vec<&str> = list.iter().map(|c| str_at(&c["name"])).collect();
    let images: Vec<&str> = list.iter().map(|c| str_at(&c["image"])).collect();
    (names.join(","), images.join(","))
}

/// `listWithMoreString`: the first `max` entries joined by `,` and `+ N more...`
/// for the rest; `<unset>` when there are none.
pub fn list_with_more(items: &[String], max: usize) -> String {
    let shown = items.iter().take(max).cloned().collect::<Vec<_>>().join(",");
    if items.len() > max {
        return format!("{shown} + {} more...", items.len() - max);
    }
    if shown.is_empty() {
        "<unset>".into()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_are_sorted_and_empty_is_none() {
        let m = json!({"b": "2", "a": "1"});
        assert_eq!(format_labels(m.as_object()), "a=1,b=2");
        assert_eq!(format_labels(json!({}).as_object()), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn containers_and_lists() {
        let c = json!([{"name": "a", "image": "x:1"}, {"name": "b", "image": "y"}]);
        assert_eq!(layout_containers(&c), ("a,b".into(), "x:1,y".into()));
        assert_eq!(layout_containers(&Value::Null), (String::new(), String::new()));
        let items: Vec<String> = (1..=5).map(|i| i.to_string()).collect();
        assert_eq!(list_with_more(&items, 3), "1,2,3 + 2 more...");
        assert_eq!(list_with_more(&items[..3], 3), "1,2,3");
        assert_eq!(list_with_more(&[], 3), "<unset>");
    }
}
