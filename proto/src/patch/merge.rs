//! RFC 7386 JSON merge patch (`application/merge-patch+json`).

use serde_json::Value;

/// Applies an RFC 7386 merge patch: objects merge recursively, `null` deletes a
/// member, and any other value (lists included) replaces the target whole.
pub fn merge_patch(original: &Value, patch: &Value) -> Value {
    let mut doc = original.clone();
    json_patch::merge(&mut doc, patch);
    doc
}

/// Drops `null` members of objects inside lists of a merge patch.
///
/// Kubernetes' merge-patch library prunes them before storing a list, and decoding into
/// the typed object would drop them anyway; the RFC keeps list values verbatim.
pub(crate) fn prune_nulls_in_lists(patch: &mut Value) {
    fn prune(value: &mut Value, in_list: bool) {
        match value {
            Value::Object(map) => {
                if in_list {
                    map.retain(|_, v| !v.is_null());
                }
                for v in map.values_mut() {
                    prune(v, in_list);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| prune(v, true)),
            _ => {}
        }
    }
    prune(patch, false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7386 appendix A, verbatim.
    #[test]
    fn rfc7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, want) in cases {
            assert_eq!(merge_patch(&target, &patch), want, "{target} + {patch}");
        }
    }

    #[test]
    fn lists_of_objects_lose_null_members() {
        let mut patch = json!({"spec": {"containers": [{"name": "a", "image": null, "env": [{"name": "X", "value": null}]}], "paused": null}});
        prune_nulls_in_lists(&mut patch);
        assert_eq!(
            patch,
            json!({"spec": {"containers": [{"name": "a", "env": [{"name": "X"}]}], "paused": null}})
        );
    }
}
