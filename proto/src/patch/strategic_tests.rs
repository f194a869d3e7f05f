//! Strategic merge patch tests. The `MergeItem` cases are the apply half of
//! apimachinery's `strategicpatch/patch_test.go` (its test type, its current + patch →
//! result triples); the rest use the kinds' real metadata.

use serde_json::{json, Value};

use super::*;
use crate::patch::schema::{schema_for, Field, TypeSchema};
use crate::resources::find;

/// apimachinery's `MergeItem` test type.
static MERGE_ITEM: TypeSchema = TypeSchema {
    name: "MergeItem",
    fields: &[
        Field {
            name: "mergingList",
            strategy: Strategy::MergeByKey("name"),
            retain_keys: false,
            schema: SchemaRef::of(&MERGE_ITEM),
        },
        Field {
            name: "nonMergingList",
            strategy: Strategy::Default,
            retain_keys: false,
            schema: SchemaRef::of(&MERGE_ITEM),
        },
        Field {
            name: "mergingIntList",
            strategy: Strategy::MergeSet,
            retain_keys: false,
            schema: SchemaRef::ANY,
        },
        Field {
            name: "nonMergingIntList",
            strategy: Strategy::Default,
            retain_keys: false,
            schema: SchemaRef::ANY,
        },
        Field {
            name: "mergeItemPtr",
            strategy: Strategy::MergeByKey("name"),
            retain_keys: false,
            schema: SchemaRef::of(&MERGE_ITEM),
        },
        Field {
            name: "simpleMap",
            strategy: Strategy::Default,
            retain_keys: false,
            schema: SchemaRef::ANY,
        },
        Field {
            name: "replacingItem",
            strategy: Strategy::Replace,
            retain_keys: false,
            schema: SchemaRef::ANY,
        },
        Field {
            name: "retainKeysMap",
            strategy: Strategy::Default,
            retain_keys: true,
            schema: SchemaRef::of(&RETAIN_KEYS_MERGE_ITEM),
        },
        Field {
            name: "retainKeysMergingList",
            strategy: Strategy::MergeByKey("name"),
            retain_keys: true,
            schema: SchemaRef::of(&MERGE_ITEM),
        },
    ],
};

/// apimachinery's `RetainKeysMergeItem` test type.
static RETAIN_KEYS_MERGE_ITEM: TypeSchema = TypeSchema {
    name: "RetainKeysMergeItem",
    fields: &[
        Field {
            name: "mergingIntList",
            strategy: Strategy::MergeSet,
            retain_keys: false,
            schema: SchemaRef::ANY,
        },
        Field {
            name: "mergingList",
            strategy: Strategy::MergeByKey("name"),
            retain_keys: false,
            schema: SchemaRef::of(&MERGE_ITEM),
        },
        Field {
            name: "nonMergingList",
            strategy: Strategy::Default,
            retain_keys: false,
            schema: SchemaRef::of(&MERGE_ITEM),
        },
    ],
};

fn merge_item(current: &Value, patch: &Value) -> Result<Value> {
    strategic_merge_patch(current, patch, SchemaRef::of(&MERGE_ITEM))
}

fn check(cases: Vec<(&str, Value, Value, Value)>) {
    for (name, current, patch, want) in cases {
        let got = merge_item(&current, &patch).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn maps_and_nulls() {
    check(vec![
        (
            "add field to map",
            json!({"name": 1, "other": "a"}),
            json!({"value": 1}),
            json!({"name": 1, "value": 1, "other": "a"}),
        ),
        (
            "add field and delete field from map",
            json!({"name": 1, "other": "a"}),
            json!({"name": null, "value": 1}),
            json!({"value": 1, "other": "a"}),
        ),
        (
            "delete field from nested map with conflict",
            json!({"simpleMap": {"key1": "a", "key2": 1, "other": "a"}}),
            json!({"simpleMap": {"key1": 1, "key2": null}}),
            json!({"simpleMap": {"key1": 1, "other": "a"}}),
        ),
        (
            "delete all fields from map",
            json!({"name": 1, "value": 1, "other": "a"}),
            json!({"name": null, "value": null}),
            json!({"other": "a"}),
        ),
        ("nil patch", json!({"name": 1}), json!({}), json!({"name": 1})),
        (
            "null for a missing field is dropped",
            json!({"name": 2}),
            json!({"name": 1, "value": 1, "other": null}),
            json!({"name": 1, "value": 1}),
        ),
        (
            "nulls inside an added map are dropped",
            json!({}),
            json!({"simpleMap": {"a": "1", "b": null}}),
            json!({"simpleMap": {"a": "1"}}),
        ),
        (
            "a value of another type replaces",
            json!({"simpleMap": {"a": "1"}}),
            json!({"simpleMap": "x"}),
            json!({"simpleMap": "x"}),
        ),
        (
            "replace list of scalars",
            json!({"nonMergingIntList": [1, 4]}),
            json!({"nonMergingIntList": [2, 3]}),
            json!({"nonMergingIntList": [2, 3]}),
        ),
        (
            "replace strategy takes the patch whole",
            json!({"replacingItem": {"Some": "Generic", "Field": "Period"}}),
            json!({"replacingItem": {"Newly": "Modified"}}),
            json!({"replacingItem": {"Newly": "Modified"}}),
        ),
    ]);
}

#[test]
fn patch_directive_on_maps() {
    check(vec![
        (
            "delete map from nested map",
            json!({"simpleMap": {"key1": 1, "key2": 1}}),
            json!({"simpleMap": {"$patch": "delete"}}),
            json!({"simpleMap": {}}),
        ),
        (
            "delete all keys from map",
            json!({"name": 1, "value": 1}),
            json!({"$patch": "replace"}),
            json!({}),
        ),
        (
            "add key and delete all keys from map",
            json!({"name": 1, "value": 1}),
            json!({"other": "a", "$patch": "replace"}),
            json!({"other": "a"}),
        ),
        (
            "a directive map for a missing field adds nothing",
            json!({"name": 1}),
            json!({"simpleMap": {"$patch": "delete"}}),
            json!({"name": 1}),
        ),
        (
            "replace a nested map",
            json!({"simpleMap": {"a": "1", "b": "2"}}),
            json!({"simpleMap": {"$patch": "replace", "c": "3"}}),
            json!({"simpleMap": {"c": "3"}}),
        ),
    ]);
}

#[test]
fn merging_lists_of_maps() {
    check(vec![
        (
            "merge lists of maps",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}], "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
            json!({"mergingList": [{"name": 4, "value": 4}, {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
        ),
        (
            "merge lists of maps with conflict",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 3, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}], "mergingList": [{"name": 2, "value": 2}, {"name": 3, "value": 3}]}),
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
        ),
        (
            "add field to map in merging list",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}], "mergingList": [{"name": 1, "value": 1}]}),
            json!({"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        ),
        (
            "delete all maps from merging list with conflict",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "other": "b"}]}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]}),
            json!({"mergingList": []}),
        ),
        (
            "delete all maps from empty merging list",
            json!({"mergingList": []}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]}),
            json!({"mergingList": []}),
        ),
        (
            "delete all items from merging list",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            json!({"mergingList": [{"$patch": "replace"}]}),
            json!({"mergingList": []}),
        ),
        (
            "replace a merging list",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            json!({"mergingList": [{"name": 3, "value": "x"}, {"$patch": "replace"}]}),
            json!({"mergingList": [{"name": 3, "value": "x"}]}),
        ),
        (
            "merge empty merging lists",
            json!({"mergingList": []}),
            json!({"mergingList": []}),
            json!({"mergingList": []}),
        ),
        (
            "delete all duplicate entries in a merging list",
            json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
            json!({"mergingList": [{"name": 2, "value": "a"}]}),
        ),
        (
            "preserve the order from the patch in a merging list",
            json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "other": "x"}]}),
            json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "value": "b", "other": "x"}]}),
        ),
        (
            "preserve the order from the patch in a merging list 2",
            json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
            json!({"mergingList": [{"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
        ),
        (
            "a new item without $setElementOrder goes first",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            json!({"mergingList": [{"name": 3}]}),
            json!({"mergingList": [{"name": 3}, {"name": 1}, {"name": 2}]}),
        ),
        (
            "nested merging lists merge too",
            json!({"mergingList": [{"name": 1, "mergingList": [{"name": "a", "value": "x"}]}]}),
            json!({"mergingList": [{"name": 1, "mergingList": [{"name": "a", "other": "y"}]}]}),
            json!({"mergingList": [{"name": 1, "mergingList": [{"name": "a", "value": "x", "other": "y"}]}]}),
        ),
        (
            "a non-merging list of maps is replaced",
            json!({"nonMergingList": [{"name": 1, "value": "a"}, {"name": 2}]}),
            json!({"nonMergingList": [{"name": 1, "other": "b"}]}),
            json!({"nonMergingList": [{"name": 1, "other": "b"}]}),
        ),
        (
            "delete and reorder in one list, reorder in another",
            json!({"mergingList": [{"name": "a", "value": "a"}, {"name": "b", "value": "b"}], "mergeItemPtr": [{"name": "c", "value": "c"}, {"name": "d", "value": "d"}]}),
            json!({"$setElementOrder/mergingList": [{"name": "b"}], "$setElementOrder/mergeItemPtr": [{"name": "d"}, {"name": "c"}], "mergingList": [{"$patch": "delete", "name": "a"}]}),
            json!({"mergingList": [{"name": "b", "value": "b"}], "mergeItemPtr": [{"name": "d", "value": "d"}, {"name": "c", "value": "c"}]}),
        ),
    ]);
}

#[test]
fn merging_lists_of_primitives() {
    check(vec![
        (
            "unique scalars when merging lists",
            json!({"mergingIntList": [1, 2]}),
            json!({"mergingIntList": [2, 3]}),
            json!({"mergingIntList": [1, 2, 3]}),
        ),
        (
            "preserve the order from the patch in a merging int list",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"mergingIntList": [3, 1, 2]}),
            json!({"mergingIntList": [3, 1, 2]}),
        ),
        (
            "preserve the order from the patch in a merging int list 2",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"mergingIntList": [3, 1]}),
            json!({"mergingIntList": [2, 3, 1]}),
        ),
        (
            "delete items in lists of scalars",
            json!({"mergingIntList": [1, 2, 3, 4]}),
            json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [1, 2, 4]}),
        ),
        (
            "delete all duplicate items in lists of scalars",
            json!({"mergingIntList": [1, 2, 3, 3, 4]}),
            json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [1, 2, 4]}),
        ),
        (
            "add and delete items in lists of scalars",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$setElementOrder/mergingIntList": [1, 2, 4], "$deleteFromPrimitiveList/mergingIntList": [3], "mergingIntList": [4]}),
            json!({"mergingIntList": [1, 2, 4]}),
        ),
        (
            "$deleteFromPrimitiveList of a nonexistent item",
            json!({"mergingIntList": [1, 2]}),
            json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [1, 2]}),
        ),
        (
            "$deleteFromPrimitiveList on a null list",
            json!({"mergingIntList": null}),
            json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": null}),
        ),
        (
            "$deleteFromPrimitiveList on a nonexistent list",
            json!({"foo": ["bar"]}),
            json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"foo": ["bar"]}),
        ),
        (
            "$deleteFromPrimitiveList on a merge list",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$deleteFromPrimitiveList/mergingIntList": [2]}),
            json!({"mergingIntList": [1, 3]}),
        ),
        (
            "$deleteFromPrimitiveList on a non-merge list",
            json!({"nonMergingIntList": [1, 2, 3]}),
            json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]}),
            json!({"nonMergingIntList": [1, 3]}),
        ),
    ]);
}

#[test]
fn set_element_order() {
    check(vec![
        (
            "$setElementOrder contains an item not in the list",
            json!({"mergingList": [{"name": 1}, {"name": 3}]}),
            json!({"$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}], "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
            json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
        ),
        (
            "$setElementOrder contains an item not in the int list",
            json!({"mergingIntList": [1, 3]}),
            json!({"$setElementOrder/mergingIntList": [3, 2, 1]}),
            json!({"mergingIntList": [3, 1]}),
        ),
        (
            "add an item in a list of primitives and preserve order",
            json!({"mergingIntList": [1, 4, 2]}),
            json!({"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]}),
            json!({"mergingIntList": [3, 1, 4, 2]}),
        ),
        (
            "delete an item in a list of primitives and preserve order",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$setElementOrder/mergingIntList": [2, 1], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [2, 1]}),
        ),
        (
            "add an item in a list and preserve order",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 3}, {"name": 1}, {"name": 2}], "mergingList": [{"name": 3, "value": 3}]}),
            json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
        ),
        (
            "add multiple items in a list and preserve order",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 4}, {"name": 2}, {"name": 3}], "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 4, "value": 4}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
        ),
        (
            "delete an item in a list and preserve order",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
            json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}], "mergingList": [{"name": 3, "$patch": "delete"}]}),
            json!({"mergingList": [{"name": 2, "value": 2, "other": "b"}, {"name": 1, "other": "a"}]}),
        ),
        (
            "change an item in a list and preserve order",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
            json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 3}, {"name": 1}], "mergingList": [{"name": 3, "value": "x"}]}),
            json!({"mergingList": [{"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": "x"}, {"name": 1, "other": "a"}]}),
        ),
        (
            "add and delete an item in a list and preserve order",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
            json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 1}], "mergingList": [{"name": 4, "value": 4}, {"name": 3, "$patch": "delete"}]}),
            json!({"mergingList": [{"name": 4, "value": 4}, {"name": 2, "value": 2, "other": "b"}, {"name": 1, "other": "a"}]}),
        ),
        (
            "set elements order in a list with server-only items",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 3, "value": 3}, {"name": 4, "value": 4}, {"name": 2, "value": 2}, {"name": 9}]}),
            json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 3}, {"name": 1}]}),
            json!({"mergingList": [{"name": 4, "value": 4}, {"name": 2, "value": 2}, {"name": 3, "value": 3}, {"name": 1, "other": "a"}, {"name": 9}]}),
        ),
        (
            "set elements order in a list with server-only items 2",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 9}, {"name": 3, "value": 3}, {"name": 4, "value": 4}]}),
            json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]}),
            json!({"mergingList": [{"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 9}, {"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
        ),
        (
            "set elements order in a list with server-only items 3",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 7}, {"name": 9}, {"name": 8}, {"name": 3, "value": 3}, {"name": 4, "value": 4}]}),
            json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]}),
            json!({"mergingList": [{"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 7}, {"name": 9}, {"name": 8}, {"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
        ),
        (
            "set elements order in a int list with server-only items 2",
            json!({"mergingIntList": [1, 2, 9, 3, 4]}),
            json!({"$setElementOrder/mergingIntList": [2, 1, 4, 3]}),
            json!({"mergingIntList": [2, 1, 9, 4, 3]}),
        ),
        (
            "set elements order in a int list with server-only items 3",
            json!({"mergingIntList": [1, 2, 7, 9, 8, 3, 4]}),
            json!({"$setElementOrder/mergingIntList": [2, 1, 4, 3]}),
            json!({"mergingIntList": [2, 1, 7, 9, 8, 4, 3]}),
        ),
        (
            "$setElementOrder with a list the object lacks adds it",
            json!({}),
            json!({"$setElementOrder/mergingIntList": [2, 1], "mergingIntList": [2, 1]}),
            json!({"mergingIntList": [2, 1]}),
        ),
    ]);
}

#[test]
fn retain_keys() {
    check(vec![
        (
            "retainKeys map can add a field when no retainKeys directive present",
            json!({"retainKeysMap": {"name": "foo"}}),
            json!({"retainKeysMap": {"value": "bar"}}),
            json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
        ),
        (
            "retainKeys map can delete a field when no retainKeys directive present",
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
            json!({"retainKeysMap": {"value": null}}),
            json!({"retainKeysMap": {"name": "foo"}}),
        ),
        (
            "retainKeys map merge an empty map",
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
            json!({"retainKeysMap": {}}),
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
        ),
        (
            "retainKeys list can change a field when no retainKeys directive present",
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
            json!({"retainKeysMergingList": [{"name": "foo", "value": "b"}]}),
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "b"}]}),
        ),
        (
            "nil patch with retainKeys map",
            json!({"name": "a", "value": "b", "retainKeysMap": {"name": "foo"}}),
            json!({}),
            json!({"name": "a", "value": "b", "retainKeysMap": {"name": "foo"}}),
        ),
        (
            "retainKeys map deletes nested merging int list",
            json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3]}}),
            json!({"retainKeysMap": {"$retainKeys": ["name"], "mergingIntList": null}}),
            json!({"retainKeysMap": {"name": "foo"}}),
        ),
        (
            "retainKeys map nested merging list with no change",
            json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
            json!({"retainKeysMap": {"$retainKeys": ["mergingList", "name", "value"], "$setElementOrder/mergingList": [{"name": "a"}, {"name": "b"}], "value": "bar"}}),
            json!({"retainKeysMap": {"name": "foo", "value": "bar", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
        ),
        (
            "retainKeys map adds an item in nested merging list",
            json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "x"}]}}),
            json!({"retainKeysMap": {"$retainKeys": ["mergingList", "name"], "$setElementOrder/mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "mergingList": [{"name": "c"}]}}),
            json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "x"}]}}),
        ),
        (
            "retainKeys map deletes an item in nested merging list",
            json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "x"}]}}),
            json!({"retainKeysMap": {"$retainKeys": ["mergingList", "name"], "$setElementOrder/mergingList": [{"name": "a"}], "mergingList": [{"name": "b", "$patch": "delete"}]}}),
            json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "x"}]}}),
        ),
        (
            "retainKeys map deletes nested merging list",
            json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}]}}),
            json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "bar", "mergingList": null}}),
            json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
        ),
        (
            "retainKeys list of maps clears a field",
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a", "other": "x"}]}),
            json!({"$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}], "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo"}]}),
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
        ),
        (
            "retainKeys list of maps changes a field and clear a field with conflict",
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "modified", "other": "x"}]}),
            json!({"$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}], "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo", "value": "new"}]}),
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "new"}]}),
        ),
        (
            "retainKeys list of maps deletes a field and clear a field",
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a", "other": "x"}]}),
            json!({"$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}], "retainKeysMergingList": [{"$retainKeys": ["name"], "name": "foo", "value": null}]}),
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}),
        ),
    ]);
}

/// (description, current, patch, expected error).
fn check_errors(cases: Vec<(&str, Value, Value, PatchError)>) {
    for (name, current, patch, want) in cases {
        match (merge_item(&current, &patch), want) {
            (Err(PatchError::BadRequest(got)), PatchError::BadRequest(want))
            | (Err(PatchError::Invalid(got)), PatchError::Invalid(want)) => {
                assert_eq!(got, want, "{name}")
            }
            (got, want) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn errors_are_worded_as_kubernetes_words_them() {
    use PatchError::{BadRequest, Invalid};
    check_errors(vec![
        (
            "should check if order in $setElementOrder and patch list match",
            json!({"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}], "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
            BadRequest("the order in patch list:\n[map[name:3 value:3] map[name:1 value:1]]\n doesn't match $setElementOrder list:\n[map[name:1] map[name:2] map[name:3]]".into()),
        ),
        (
            "int list order mismatch",
            json!({"mergingIntList": [1, 3, 2]}),
            json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]}),
            BadRequest("the order in patch list:\n[3 1]\n doesn't match $setElementOrder list:\n[1 2 3]".into()),
        ),
        ("missing merge key should error out", json!({"mergingList": [{"name": 1, "value": "a"}]}), json!({"mergingList": [{"value": "b"}]}), BadRequest("map: map[value:b] does not contain declared merge key: name".into())),
        ("delete directive without merge key", json!({"mergingList": [{"name": 1}]}), json!({"mergingList": [{"$patch": "delete"}]}), BadRequest("map: map[$patch:delete] does not contain declared merge key: name".into())),
        ("merge directive in a list", json!({"mergingList": [{"name": 1}]}), json!({"mergingList": [{"$patch": "merge"}]}), BadRequest("merging lists cannot yet be specified in the patch".into())),
        ("merge directive on a map", json!({"simpleMap": {"a": "1"}}), json!({"simpleMap": {"$patch": "merge", "b": "2"}}), BadRequest("unknown patch type: merge in map: map[$patch:merge b:2]".into())),
        ("unknown directive in a list", json!({"mergingList": [{"name": 1}]}), json!({"mergingList": [{"name": 1, "$patch": "squash"}]}), BadRequest("unknown patch type: squash in map: map[$patch:squash name:1]".into())),
        ("a field outside $retainKeys", json!({"retainKeysMap": {"name": "foo"}}), json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "x"}}), BadRequest("invalid patch format of retainKeys".into())),
        ("$retainKeys not a list", json!({"retainKeysMap": {"name": "foo"}}), json!({"retainKeysMap": {"$retainKeys": "name"}}), BadRequest("invalid patch format of retainKeys".into())),
        ("bad $deleteFromPrimitiveList key", json!({"mergingIntList": [1]}), json!({"$deleteFromPrimitiveListmergingIntList": [1]}), BadRequest("invalid patch format of primitive list".into())),
        ("bad $setElementOrder key", json!({"mergingIntList": [1]}), json!({"$setElementOrder": [1]}), BadRequest("invalid patch format of setElementOrder list".into())),
        ("$setElementOrder not a list", json!({"mergingIntList": [1]}), json!({"$setElementOrder/mergingIntList": 1}), BadRequest("expected a []interface {}, but received a int64".into())),
        ("list of lists", json!({"mergingIntList": []}), json!({"mergingIntList": [[1]]}), Invalid("lists of lists are not supported".into())),
        ("mixed element types", json!({"mergingIntList": [1]}), json!({"mergingIntList": ["a"]}), BadRequest("list element types are not identical: [[1] [a]]".into())),
        ("patch is not an object", json!({}), json!([1]), BadRequest("json: cannot unmarshal array into Go value of type map[string]interface {}".into())),
    ]);
}

#[test]
fn null_patch_changes_nothing() {
    let current = json!({"name": 1, "mergingList": [{"name": 1}]});
    assert_eq!(merge_item(&current, &Value::Null).expect("null patch"), current);
}

/// Patches a served kind with its real metadata.
fn patch_kind(plural: &str, group: &str, current: &Value, patch: &Value) -> Value {
    let info = find(group, "v1", plural).expect("served resource");
    strategic_merge_patch(current, patch, schema_for(info)).unwrap_or_else(|e| panic!("{plural}: {e}"))
}

fn pod(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
}

#[test]
fn pod_containers_merge_by_name_with_env_ports_and_mounts() {
    let current = pod(json!([{
        "name": "web", "image": "nginx:1.25",
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "args": ["--a", "--b"]
    }]));
    let patch = json!({"spec": {"containers": [{
        "name": "web", "image": "nginx:1.27",
        "env": [{"name": "B", "value": "two"}],
        "ports": [{"containerPort": 80, "name": "http"}],
        "volumeMounts": [{"mountPath": "/data", "readOnly": true}],
        "args": ["--c"]
    }]}});
    let want = pod(json!([{
        "name": "web", "image": "nginx:1.27",
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "two"}],
        "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}],
        "args": ["--c"]
    }]));
    assert_eq!(patch_kind("pods", "", &current, &patch), want);
}

#[test]
fn deleting_a_container_by_key() {
    let current = pod(json!([{"name": "web", "image": "nginx"}, {"name": "sidecar", "image": "busybox"}]));
    let patch = json!({"spec": {"containers": [{"$patch": "delete", "name": "sidecar"}]}});
    assert_eq!(
        patch_kind("pods", "", &current, &patch),
        pod(json!([{"name": "web", "image": "nginx"}]))
    );
}

#[test]
fn set_element_order_reorders_containers() {
    let current = pod(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}, {"name": "c", "image": "z"}]));
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}], "containers": [{"name": "a", "image": "x2"}]}});
    let want = pod(json!([{"name": "c", "image": "z"}, {"name": "a", "image": "x2"}, {"name": "b", "image": "y"}]));
    assert_eq!(patch_kind("pods", "", &current, &patch), want);
}

#[test]
fn new_container_without_order_goes_first() {
    // As on a real cluster (the kubectl-patch docs show the added container first).
    let current = pod(json!([{"name": "web", "image": "nginx"}]));
    let patch = json!({"spec": {"containers": [{"name": "redis", "image": "redis"}]}});
    let want = pod(json!([{"name": "redis", "image": "redis"}, {"name": "web", "image": "nginx"}]));
    assert_eq!(patch_kind("pods", "", &current, &patch), want);
}

#[test]
fn tolerations_are_replaced_and_volumes_retain_keys() {
    let current = json!({"spec": {
        "tolerations": [{"key": "a", "operator": "Exists"}],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]
    }});
    let patch = json!({"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "volumes": [{"$retainKeys": ["hostPath", "name"], "name": "data", "hostPath": {"path": "/srv"}}]
    }});
    let want = json!({"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "volumes": [{"name": "data", "hostPath": {"path": "/srv"}}, {"name": "cfg", "configMap": {"name": "c"}}]
    }});
    assert_eq!(patch_kind("pods", "", &current, &patch), want);
}

#[test]
fn retain_keys_drops_rolling_update_when_strategy_becomes_recreate() {
    let current = json!({"spec": {"replicas": 2, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
    let want = json!({"spec": {"replicas": 2, "strategy": {"type": "Recreate"}}});
    for patch in [
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
    ] {
        assert_eq!(patch_kind("deployments", "apps", &current, &patch), want, "{patch}");
    }
    // Without the directive the union keeps both members, as on a real cluster.
    let plain = json!({"spec": {"strategy": {"type": "Recreate"}}});
    let kept = patch_kind("deployments", "apps", &current, &plain);
    assert_eq!(kept["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
}

#[test]
fn finalizers_are_a_set() {
    let current = json!({"metadata": {"name": "x", "finalizers": ["a", "b"]}});
    let cases = [
        (json!({"metadata": {"finalizers": ["b", "c"]}}), json!(["a", "b", "c"])),
        (
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
            json!(["b"]),
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "b"], "finalizers": ["z"]}}),
            json!(["z"]),
        ),
        (
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}}),
            json!(["c", "b", "a"]),
        ),
    ];
    for (patch, want) in cases {
        let got = patch_kind("configmaps", "", &current, &patch);
        assert_eq!(got["metadata"]["finalizers"], want, "{patch}");
    }
    let nulled = patch_kind("configmaps", "", &current, &json!({"metadata": {"finalizers": null}}));
    assert_eq!(nulled, json!({"metadata": {"name": "x"}}));
}

#[test]
fn owner_references_merge_by_uid_and_labels_merge() {
    let current = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}, "ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "rs"}]}});
    let patch = json!({"metadata": {"labels": {"tier": null, "env": "prod"}, "ownerReferences": [{"uid": "2", "kind": "Deployment", "name": "d"}, {"uid": "1", "controller": true}]}});
    let want = json!({"metadata": {
        "labels": {"app": "web", "env": "prod"},
        "ownerReferences": [{"uid": "2", "kind": "Deployment", "name": "d"}, {"uid": "1", "kind": "ReplicaSet", "name": "rs", "controller": true}]
    }});
    assert_eq!(patch_kind("pods", "", &current, &patch), want);
}

#[test]
fn service_ports_merge_by_port_and_conditions_by_type() {
    let current = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}, "status": {"conditions": [{"type": "A", "status": "False"}]}});
    let patch = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "targetPort": 8443}]}, "status": {"conditions": [{"type": "A", "status": "True"}]}});
    let want = json!({
        "spec": {"ports": [{"port": 80, "targetPort": 8080, "name": "http"}, {"port": 443, "targetPort": 8443}]},
        "status": {"conditions": [{"type": "A", "status": "True"}]}
    });
    assert_eq!(patch_kind("services", "", &current, &patch), want);
}

#[test]
fn node_status_addresses_and_conditions_merge_by_type() {
    let current = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}],
        "conditions": [{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}]
    }});
    let patch = json!({"status": {
        "$setElementOrder/conditions": [{"type": "MemoryPressure"}, {"type": "Ready"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]
    }});
    let want = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n1"}],
        "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]
    }});
    assert_eq!(patch_kind("nodes", "", &current, &patch), want);
}

#[test]
fn rbac_rules_are_atomic_and_pdb_selector_is_replaced() {
    let role = json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
    let patch = json!({"rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]});
    let got = patch_kind("clusterroles", "rbac.authorization.k8s.io", &role, &patch);
    assert_eq!(got, patch);

    let pdb = json!({"spec": {"selector": {"matchLabels": {"app": "a", "tier": "x"}}}});
    let patch = json!({"spec": {"selector": {"matchLabels": {"app": "b"}}}});
    assert_eq!(patch_kind("poddisruptionbudgets", "policy", &pdb, &patch), patch);
}

#[test]
fn cron_job_template_containers_merge() {
    let current = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "a", "env": [{"name": "X", "value": "1"}]}]}}}}}});
    let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "Y", "value": "2"}]}]}}}}}});
    let got = patch_kind("cronjobs", "batch", &current, &patch);
    let env = &got["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env, &json!([{"name": "Y", "value": "2"}, {"name": "X", "value": "1"}]));
}

#[test]
fn directive_keys_never_reach_the_result() {
    // A new container whose env carries directives, and a new map with $retainKeys.
    let current = pod(json!([{"name": "web", "image": "nginx"}]));
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
        "containers": [{"name": "side", "image": "busybox", "$setElementOrder/env": [{"name": "A"}], "env": [{"name": "A", "value": "1"}]}],
        "securityContext": {"$retainKeys": ["runAsUser"], "runAsUser": 1000}
    }});
    let got = patch_kind("pods", "", &current, &patch);
    let want = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "web", "image": "nginx"}, {"name": "side", "image": "busybox", "env": [{"name": "A", "value": "1"}]}],
        "securityContext": {"runAsUser": 1000}
    }});
    assert_eq!(got, want);
}

#[test]
fn unknown_kinds_patch_like_merge_patch() {
    let mut info = *find("", "v1", "configmaps").expect("configmaps");
    info.group = "example.com";
    info.kind = "Widget";
    let current = json!({"metadata": {"finalizers": ["a"]}, "spec": {"items": [{"name": "x"}], "size": 1}});
    let patch = json!({"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "y"}]}});
    let got = strategic_merge_patch(&current, &patch, schema_for(&info)).expect("patch");
    assert_eq!(
        got,
        json!({"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "y"}], "size": 1}})
    );
}
