//! RFC 6902 appendix A, and the behaviour and messages of Kubernetes' JSON patch library.

use serde_json::{json, Value};

use super::*;

/// RFC 6902 appendix A: (document, patch, result).
#[test]
fn rfc6902_examples() {
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        (
            "A.1 add an object member",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}]),
            json!({"baz": "qux", "foo": "bar"}),
        ),
        (
            "A.2 add an array element",
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
            json!({"foo": ["bar", "qux", "baz"]}),
        ),
        (
            "A.3 remove an object member",
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "remove", "path": "/baz"}]),
            json!({"foo": "bar"}),
        ),
        (
            "A.4 remove an array element",
            json!({"foo": ["bar", "qux", "baz"]}),
            json!([{"op": "remove", "path": "/foo/1"}]),
            json!({"foo": ["bar", "baz"]}),
        ),
        (
            "A.5 replace a value",
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
            json!({"baz": "boo", "foo": "bar"}),
        ),
        (
            "A.6 move a value",
            json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
            json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
        ),
        (
            "A.7 move an array element",
            json!({"foo": ["all", "grass", "cows", "eat"]}),
            json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
            json!({"foo": ["all", "cows", "eat", "grass"]}),
        ),
        (
            "A.8 test a value: success",
            json!({"baz": "qux", "foo": ["a", 2, "c"]}),
            json!([{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]),
            json!({"baz": "qux", "foo": ["a", 2, "c"]}),
        ),
        (
            "A.10 add a nested member object",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
            json!({"foo": "bar", "child": {"grandchild": {}}}),
        ),
        (
            "A.11 ignore unrecognized elements",
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]),
            json!({"foo": "bar", "baz": "qux"}),
        ),
        (
            "A.14 ~ escape ordering",
            json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": 10}]),
            json!({"/": 9, "~1": 10}),
        ),
        (
            "A.16 add an array value",
            json!({"foo": ["bar"]}),
            json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
            json!({"foo": ["bar", ["abc", "def"]]}),
        ),
        (
            "copy",
            json!({"a": {"b": 1}}),
            json!([{"op": "copy", "from": "/a", "path": "/c"}]),
            json!({"a": {"b": 1}, "c": {"b": 1}}),
        ),
        (
            "copy into a list",
            json!({"l": [1, 2]}),
            json!([{"op": "copy", "from": "/l/1", "path": "/l/0"}]),
            json!({"l": [2, 1, 2]}),
        ),
        ("empty patch", json!({"a": 1}), json!([]), json!({"a": 1})),
        ("null patch", json!({"a": 1}), json!(null), json!({"a": 1})),
    ];
    for (name, doc, patch, want) in cases {
        assert_eq!(
            json_patch(&doc, &patch).unwrap_or_else(|e| panic!("{name}: {e}")),
            want,
            "{name}"
        );
    }
}

/// Leniencies of `evanphx/json-patch` v4 that `kubectl patch --type=json` users rely on.
#[test]
fn kubernetes_leniencies() {
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        (
            "replace adds a missing object member",
            json!({"metadata": {}}),
            json!([{"op": "replace", "path": "/metadata/labels", "value": {"a": "b"}}]),
            json!({"metadata": {"labels": {"a": "b"}}}),
        ),
        (
            "add overwrites a member",
            json!({"spec": {"replicas": 1}}),
            json!([{"op": "add", "path": "/spec/replicas", "value": 3}]),
            json!({"spec": {"replicas": 3}}),
        ),
        (
            "negative index counts from the end",
            json!({"l": [1, 2, 3]}),
            json!([{"op": "remove", "path": "/l/-1"}]),
            json!({"l": [1, 2]}),
        ),
        (
            "add at -1 appends",
            json!({"l": [1, 2]}),
            json!([{"op": "add", "path": "/l/-1", "value": 3}]),
            json!({"l": [1, 2, 3]}),
        ),
        (
            "add without value adds null",
            json!({}),
            json!([{"op": "add", "path": "/a"}]),
            json!({"a": null}),
        ),
        (
            "test of a missing member for null passes",
            json!({}),
            json!([{"op": "test", "path": "/a", "value": null}]),
            json!({}),
        ),
        (
            "escaped label key",
            json!({"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}),
            json!([{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1name"}]),
            json!({"metadata": {"labels": {}}}),
        ),
        (
            "replace the whole document",
            json!({"a": 1}),
            json!([{"op": "replace", "path": "", "value": {"b": 2}}]),
            json!({"b": 2}),
        ),
    ];
    for (name, doc, patch, want) in cases {
        assert_eq!(
            json_patch(&doc, &patch).unwrap_or_else(|e| panic!("{name}: {e}")),
            want,
            "{name}"
        );
    }
}

#[test]
fn failed_operations_are_invalid_with_kubernetes_messages() {
    let doc = json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    });
    let cases: Vec<(Value, &str)> = vec![
        (json!([{"op": "test", "path": "/spec/replicas", "value": 3}]), "testing value /spec/replicas failed: test failed"),
        (json!([{"op": "test", "path": "/spec/paused", "value": true}]), "testing value /spec/paused failed: test failed"),
        (json!([{"op": "test", "path": "", "value": {}}]), "testing value  failed: test failed"),
        (json!([{"op": "test", "path": "/spec/replicas", "value": "2"}]), "testing value /spec/replicas failed: test failed"),
        (json!([{"op": "add", "path": "/metadata/annotations/x", "value": "y"}]), "add operation does not apply: doc is missing path: \"/metadata/annotations/x\": missing value"),
        (json!([{"op": "remove", "path": "/metadata/labels/tier"}]), "error in remove for path: '/metadata/labels/tier': Unable to remove nonexistent key: tier: missing value"),
        (json!([{"op": "remove", "path": "/spec/selector/matchLabels"}]), "remove operation does not apply: doc is missing path: \"/spec/selector/matchLabels\": missing value"),
        (json!([{"op": "replace", "path": "/spec/strategy/type", "value": "Recreate"}]), "replace operation does not apply: doc is missing path: /spec/strategy/type: missing value"),
        (json!([{"op": "replace", "path": "/spec/template/spec/containers/3", "value": {}}]), "replace operation does not apply: doc is missing key: /spec/template/spec/containers/3: missing value"),
        (json!([{"op": "add", "path": "/spec/template/spec/containers/5", "value": {}}]), "error in add for path: '/spec/template/spec/containers/5': Unable to access invalid index: 5: invalid index referenced"),
        (json!([{"op": "add", "path": "/spec/template/spec/containers/x", "value": {}}]), "error in add for path: '/spec/template/spec/containers/x': value was not a proper array index: 'x': strconv.Atoi: parsing \"x\": invalid syntax"),
        (json!([{"op": "remove", "path": "/spec/template/spec/containers/1"}]), "error in remove for path: '/spec/template/spec/containers/1': Unable to access invalid index: 1: invalid index referenced"),
        (json!([{"op": "move", "from": "/spec/paused", "path": "/spec/x"}]), "error in move for path: 'paused': Unable to remove nonexistent key: paused: missing value"),
        (json!([{"op": "move", "from": "/nope/a", "path": "/spec/x"}]), "move operation does not apply: doc is missing from path: /nope/a: missing value"),
        (json!([{"op": "copy", "from": "/metadata/name", "path": "/nope/name"}]), "copy operation does not apply: doc is missing destination path: /nope/name: missing value"),
        (json!([{"op": "add", "value": 1}]), "add operation failed to decode path: missing value"),
        (json!([{"op": "replace", "value": 1}]), "replace operation failed to decode path: operation missing path field: missing value"),
        (json!([{"op": "move", "path": "/a"}]), "move operation failed to decode from: operation, missing from field: missing value"),
        (json!([{"op": "increment", "path": "/spec/replicas"}]), "Unexpected kind: increment"),
        (json!([{"path": "/spec/replicas"}]), "Unexpected kind: unknown"),
        (json!([null]), "Unexpected kind: unknown"),
    ];
    for (patch, want) in cases {
        match json_patch(&doc, &patch) {
            Err(PatchError::Invalid(message)) => assert_eq!(message, want, "{patch}"),
            other => panic!("{patch}: expected Invalid({want}), got {other:?}"),
        }
    }
}

#[test]
fn a_failed_test_leaves_no_partial_change() {
    let doc = json!({"spec": {"replicas": 2}});
    let patch = json!([
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "test", "path": "/spec/replicas", "value": 2}
    ]);
    assert!(matches!(json_patch(&doc, &patch), Err(PatchError::Invalid(_))));
    assert_eq!(doc, json!({"spec": {"replicas": 2}}));
}

#[test]
fn malformed_patches_are_bad_requests() {
    let cases = [
        (
            json!({"op": "add"}),
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
        ),
        (
            json!("x"),
            "json: cannot unmarshal string into Go value of type jsonpatch.Patch",
        ),
        (
            json!([1]),
            "json: cannot unmarshal number into Go value of type jsonpatch.Operation",
        ),
        (
            json!([[]]),
            "json: cannot unmarshal array into Go value of type jsonpatch.Operation",
        ),
    ];
    for (patch, want) in cases {
        match json_patch(&json!({}), &patch) {
            Err(PatchError::BadRequest(message)) => assert_eq!(message, want),
            other => panic!("{patch}: got {other:?}"),
        }
    }
    let too_many = Value::Array(vec![json!({"op": "test", "path": "/a"}); MAX_OPERATIONS + 1]);
    assert!(matches!(json_patch(&json!({}), &too_many), Err(PatchError::BadRequest(m)) if m.ends_with("got 10001")));
}
