//! Strict decoding: what Kubernetes' `fieldValidation` checks finds in a
//! request — fields the kind does not have (`unknown field "spec.replica"`)
//! and fields given twice (`duplicate field "spec.replicas"`, or for YAML
//! `line 7: key "replicas" already set in map`) — worded and ordered as
//! Kubernetes' strict decoders word and order them.

mod doc;
mod path;
mod walk;

use k1s_proto::ResourceInfo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use doc::{go_quote, parse_json, parse_yaml, yaml_duplicate_keys, Doc};

use super::typed::{with_type, WithType};

/// The strictness problems of `doc` decoded as the kind `info` names:
/// `Some(problems)` (empty when none), `None` when the document does not
/// decode as that kind at all (its type errors are reported elsewhere) or
/// k1s has no type for the kind.
pub fn object_problems(info: &ResourceInfo, doc: &Doc) -> Option<Vec<String>> {
    struct Check<'a>(&'a Doc);
    impl WithType for Check<'_> {
        type Output = Result<Vec<String>, String>;
        fn apply<T: DeserializeOwned + Serialize>(self) -> Self::Output {
            walk::strict_problems::<T>(self.0)
        }
    }
    with_type(info, Check(doc)).ok()?.ok()
}

/// One JSON patch operation as Kubernetes' strict check decodes it: the
/// members `op`, `path`, `from` and `value` (a repeated one is kept, as Go does).
struct JsonPatchOp;

impl<'de> Deserialize<'de> for JsonPatchOp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonPatchOp;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON patch operation")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonPatchOp, A::Error> {
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "op" | "path" | "from" | "value" => {
                            map.next_value::<Value>()?;
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(JsonPatchOp)
            }
        }
        d.deserialize_struct("jsonPatchOp", &["op", "path", "from", "value"], V)
    }
}

/// The strictness problems of a JSON patch document (unknown or repeated
/// members of its operations), each prefixed `json patch ` as Kubernetes
/// does; `None` when it is not a list of operations.
pub fn json_patch_problems(doc: &Doc) -> Option<Vec<String>> {
    let found = walk::strict_problems::<Vec<JsonPatchOp>>(doc).ok()?;
    Some(found.into_iter().map(|p| format!("json patch {p}")).collect())
}

/// Prints a JSON value as Go's `fmt` prints the `map[string]interface{}`
/// it decodes to (`%+v`): `map[spec:map[replicas:3]]`, keys sorted.
pub fn go_print(v: &Value) -> String {
    k1s_proto::patch::go_value(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k1s_proto::resources::find;
    use serde_json::json;

    #[test]
    fn checks_objects_by_kind() {
        let info = find("apps", "v1", "deployments").unwrap();
        let doc = parse_json(br#"{"spec": {"replica": 1}}"#).unwrap();
        assert_eq!(
            object_problems(info, &doc).unwrap(),
            vec![r#"unknown field "spec.replica""#]
        );
        let bad = parse_json(br#"{"spec": {"replicas": "x"}}"#).unwrap();
        assert!(object_problems(info, &bad).is_none());
        let hpa1 = find("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
        let doc = parse_json(br#"{"spec": {"targetCPUUtilizationPercentage": 5, "metrics": []}}"#).unwrap();
        assert_eq!(
            object_problems(hpa1, &doc).unwrap(),
            vec![r#"unknown field "spec.metrics""#]
        );
    }

    #[test]
    fn checks_json_patch_operations() {
        let doc = parse_json(br#"[{"op": "add", "path": "/a", "value": {"x": 1, "x": 2}, "valu": 1}, {"op": "remove", "op": "remove", "path": "/b"}]"#).unwrap();
        assert_eq!(
            json_patch_problems(&doc).unwrap(),
            vec![
                r#"json patch unknown field "[0].valu""#,
                r#"json patch duplicate field "[1].op""#
            ]
        );
        assert!(json_patch_problems(&parse_json(b"{}").unwrap()).is_none());
    }

    #[test]
    fn prints_maps_as_go_does() {
        let v = json!({"spec": {"replicas": 3, "template": {"x": [1, "a", null, true, 1.5]}}, "metadata": {}});
        assert_eq!(
            go_print(&v),
            "map[metadata:map[] spec:map[replicas:3 template:map[x:[1 a <nil> true 1.5]]]]"
        );
        assert_eq!(go_print(&json!(1e21)), "1e+21");
        assert_eq!(go_print(&json!(0.00001)), "1e-05");
        assert_eq!(go_print(&json!(100.25)), "100.25");
    }
}
