//! Strategic merge patch as the API server applies it
//! (`k8s.io/apimachinery/pkg/util/strategicpatch`, `StrategicMergeMapPatch`).
//!
//! Objects merge recursively and `null` deletes a member. Lists follow the field's
//! `patchStrategy`: replaced whole by default, merged by `patchMergeKey`, or merged as
//! a set of primitives. Directives: `$patch: replace|delete` on objects and list items,
//! `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.
//! Merged lists are ordered as Kubernetes orders them: `$setElementOrder` first, then
//! the order of the patch, then that of the live list; items it cannot place relative
//! to live ones (new items without `$setElementOrder`) come first.

use serde_json::{Map, Value};

use super::gofmt::{go_string, go_type, go_value, json_kind};
use super::schema::{SchemaRef, Strategy};
use super::PatchError;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

type Result<T> = std::result::Result<T, PatchError>;

/// Applies a strategic merge patch to `original`, merging by `schema`.
///
/// Errors are worded as the API server words them. Malformed directives are
/// [`PatchError::BadRequest`] (400); a list of lists is [`PatchError::Invalid`] (422).
/// Kubernetes answers the remaining failures (e.g. `map: map[image:nginx] does not
/// contain declared merge key: name`) with a bare 500; they are `BadRequest` here.
pub fn strategic_merge_patch(original: &Value, patch: &Value, schema: SchemaRef) -> Result<Value> {
    let Value::Object(original) = original else {
        return Err(bad_request("invalid JSON document"));
    };
    let patch = match patch {
        Value::Object(patch) => patch.clone(),
        // Decoding `null` into a Go map leaves it empty.
        Value::Null => Map::new(),
        other => {
            return Err(bad_request(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(other)
            )))
        }
    };
    let mut merged = Value::Object(merge_map(original.clone(), patch, schema)?);
    strip_directives(&mut merged);
    Ok(merged)
}

/// `mergeMap`: merges `patch` into `original`, field by field.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: SchemaRef,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE).cloned() {
        return map_directive(&directive, patch);
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_ordered_lists(&mut original, &mut patch, schema)?;

    for (key, value) in patch {
        let (key, delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (directive_target(&key, DELETE_FROM_PRIMITIVE_LIST)?.to_string(), true)
        } else {
            (key, false)
        };
        if value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let same_kind = match original.get(&key) {
            None => false,
            Some(current) => GoKind::of(current) == GoKind::of(&value),
        };
        if !same_kind {
            // Absent, or of another type: the patch value is taken (a deletion list is ignored).
            if !delete_list {
                put_literal(&mut original, key, value);
            }
            continue;
        }
        let field = schema.field(&key);
        let Some(current) = original.get_mut(&key) else {
            continue;
        };
        let current_value = std::mem::take(current);
        *current = match (current_value, value) {
            (Value::Object(current_map), Value::Object(patch_map)) => {
                if field.strategy == Strategy::Replace {
                    Value::Object(patch_map)
                } else {
                    Value::Object(merge_map(current_map, patch_map, field.schema)?)
                }
            }
            (Value::Array(current_list), Value::Array(patch_list)) => {
                if field.strategy.merges() || delete_list {
                    let key = field.strategy.merge_key();
                    Value::Array(merge_list(current_list, patch_list, field.schema, key, delete_list)?)
                } else {
                    Value::Array(patch_list)
                }
            }
            (_, scalar) => scalar,
        };
    }
    Ok(original)
}

/// `$patch` on an object: `replace` takes the patch as it is, `delete` empties the object.
fn map_directive(directive: &Value, mut patch: Map<String, Value>) -> Result<Map<String, Value>> {
    match directive.as_str() {
        Some("replace") => {
            patch.shift_remove(DIRECTIVE);
            Ok(patch)
        }
        Some("delete") => Ok(Map::new()),
        _ => Err(unhandled(format!(
            "unknown patch type: {} in map: {}",
            go_string(directive),
            go_value(&Value::Object(patch))
        ))),
    }
}

/// `$retainKeys`: members of `original` not listed are cleared; the patch may only set listed ones.
fn apply_retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Result<()> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(bad_request(ERR_RETAIN_KEYS));
    };
    let retained = |key: &str| retain.iter().any(|k| k.as_str() == Some(key));
    for (key, value) in patch.iter() {
        let directive = key.starts_with(DELETE_FROM_PRIMITIVE_LIST) || key.starts_with(SET_ELEMENT_ORDER);
        if !value.is_null() && !directive && !retained(key) {
            return Err(bad_request(ERR_RETAIN_KEYS));
        }
    }
    original.retain(|key, _| retained(key));
    Ok(())
}

/// `$setElementOrder/<list>`: merges the list (if patched) and orders it as the directive says.
fn merge_ordered_lists(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: SchemaRef,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let order = match patch.shift_remove(&key) {
            Some(Value::Array(order)) => order,
            Some(other) => return Err(unhandled(bad_arg_type("[]interface {}", &other))),
            None => continue,
        };
        let target = directive_target(&key, SET_ELEMENT_ORDER)?.to_string();
        let original_list = list_member(original, &target)?;
        let patch_list = list_member(patch, &target)?;
        let field = schema.field(&target);
        let merge_key = field.strategy.merge_key();
        validate_order(patch_list.as_deref().unwrap_or_default(), &order, merge_key)?;

        let merged = match (&original_list, &patch_list) {
            (Some(current), None) => current.clone(),
            (None, Some(added)) => match remove_directives(Value::Array(added.clone())) {
                Some(Value::Array(added)) => added,
                _ => continue,
            },
            (Some(current), Some(patched)) if field.strategy.merges() => {
                merge_list(current.clone(), patched.clone(), field.schema, merge_key, false)?
            }
            (Some(_), Some(patched)) => patched.clone(),
            (None, None) => continue,
        };
        let server_order = original_list.unwrap_or_default();
        let (ordered, server_only) = partition(merged, &order, merge_key)?;
        let kind = element_kind(&[&server_order, patch_list.as_deref().unwrap_or_default()])?;
        let list = normalize_element_order(ordered, server_only, &order, &server_order, merge_key, kind)?;
        original.insert(target.clone(), Value::Array(list));
        patch.shift_remove(&target);
    }
    Ok(())
}

/// A member that must be a list when present.
fn list_member(map: &Map<String, Value>, key: &str) -> Result<Option<Vec<Value>>> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list.clone())),
        Some(other) => Err(unhandled(bad_arg_type("[]interface {}", other))),
    }
}

/// `validatePatchWithSetOrderList`: the patched items must appear in the directive, in its order.
fn validate_order(patch_list: &[Value], order: &[Value], merge_key: &str) -> Result<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut kept = Vec::new();
        for item in patch_list {
            let Value::Object(map) = item else {
                return Err(unhandled(bad_arg_type("map[string]interface {}", item)));
            };
            if map.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                kept.push(item);
            }
        }
        kept
    };
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if kept[p].as_object().is_some_and(|m| m.contains_key(DIRECTIVE)) {
            p += 1;
            continue;
        }
        if merge_key_equal(kept[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() {
        return Err(unhandled(format!(
            "the order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}",
            go_value(&Value::Array(patch_list.to_vec())),
            go_value(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn merge_key_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let key_of = |item: &Value| -> Result<Value> {
        let Value::Object(map) = item else {
            return Err(unhandled(bad_arg_type("map[string]interface {}", item)));
        };
        map.get(merge_key)
            .cloned()
            .ok_or_else(|| unhandled(no_merge_key(map, merge_key)))
    };
    Ok(key_of(left)? == key_of(right)?)
}

/// `mergeSlice`: merges a list with the `merge` strategy (or a `$deleteFromPrimitiveList`).
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: SchemaRef,
    merge_key: &str,
    delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_kind(&[&original, &patch])?;
    let (original, patch, merged) = if kind != GoKind::Map {
        if delete_list {
            return Ok(original.into_iter().filter(|v| !patch.contains(v)).collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for item in original.iter().chain(&patch) {
            if !merged.contains(item) {
                merged.push(item.clone());
            }
        }
        (original, patch, merged)
    } else {
        if merge_key.is_empty() {
            return Err(unhandled("cannot merge lists without merge key for struct"));
        }
        let (original, patch) = apply_list_directives(original, patch, merge_key)?;
        let merged = merge_keyed_items(original.clone(), &patch, merge_key, schema)?;
        (original, patch, merged)
    };
    let (from_patch, server_only) = partition(merged, &patch, merge_key)?;
    normalize_element_order(from_patch, server_only, &patch, &original, merge_key, kind)
}

/// `mergeSliceWithSpecialElements`: applies `$patch: delete|replace` items of a keyed list.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some((map, directive)) = item.as_object().and_then(|m| m.get(DIRECTIVE).map(|d| (m, d))) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = map
                    .get(merge_key)
                    .ok_or_else(|| unhandled(no_merge_key(map, merge_key)))?;
                original = delete_matching(original, merge_key, value)?;
            }
            // Any other item of the list is taken as it is.
            Some("replace") => replace = true,
            Some("merge") => return Err(unhandled("merging lists cannot yet be specified in the patch")),
            _ => {
                return Err(unhandled(format!(
                    "unknown patch type: {} in map: {}",
                    go_string(directive),
                    go_value(&item)
                )))
            }
        }
    }
    Ok(if replace {
        (plain, Vec::new())
    } else {
        (original, plain)
    })
}

/// Removes every item whose merge key has `value` (duplicates included).
fn delete_matching(original: Vec<Value>, merge_key: &str, value: &Value) -> Result<Vec<Value>> {
    let mut kept = Vec::with_capacity(original.len());
    for (index, item) in original.into_iter().enumerate() {
        let Value::Object(map) = &item else {
            return Err(unhandled(format!("value for key {index} is not a map")));
        };
        if map.get(merge_key) != Some(value) {
            kept.push(item);
        }
    }
    Ok(kept)
}

/// `mergeSliceWithoutSpecialElements`: merges items with a live one of the same key, appends the rest.
fn merge_keyed_items(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    schema: SchemaRef,
) -> Result<Vec<Value>> {
    for item in patch {
        let Value::Object(map) = item else {
            return Err(unhandled(bad_arg_type("map[string]interface {}", item)));
        };
        let value = map
            .get(merge_key)
            .ok_or_else(|| unhandled(no_merge_key(map, merge_key)))?;
        match find_by_key(&original, merge_key, value)? {
            Some(index) => {
                let current = match std::mem::take(&mut original[index]) {
                    Value::Object(current) => current,
                    _ => Map::new(),
                };
                original[index] = Value::Object(merge_map(current, map.clone(), schema)?);
            }
            None => original.push(item.clone()),
        }
    }
    Ok(original)
}

/// The index of the first item whose merge key has `value`.
fn find_by_key(list: &[Value], merge_key: &str, value: &Value) -> Result<Option<usize>> {
    for (index, item) in list.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(unhandled(format!("value for key {index} is not a map")));
        };
        if map.get(merge_key) == Some(value) {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

/// Splits `items` into those present in `by` (by merge key, or by value for primitives) and the rest.
fn partition(items: Vec<Value>, by: &[Value], merge_key: &str) -> Result<(Vec<Value>, Vec<Value>)> {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for item in items {
        let present = if merge_key.is_empty() {
            by.contains(&item)
        } else {
            let Value::Object(map) = &item else {
                return Err(unhandled(bad_arg_type("map[string]interface {}", &item)));
            };
            let value = map
                .get(merge_key)
                .ok_or_else(|| unhandled(no_merge_key(map, merge_key)))?;
            find_by_key(by, merge_key, value)?.is_some()
        };
        if present {
            inside.push(item);
        } else {
            outside.push(item);
        }
    }
    Ok((inside, outside))
}

/// `normalizeElementOrder`: sorts both parts by their order lists, then interleaves them.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoKind,
) -> Result<Vec<Value>> {
    let patch = sort_by_order(patch, patch_order, merge_key, kind)?;
    let server_only = sort_by_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted(server_only, patch, server_order, merge_key, kind))
}

/// `normalizeSliceOrder`: stable sort by position in `order`; deletions go last.
fn sort_by_order(items: Vec<Value>, order: &[Value], merge_key: &str, kind: GoKind) -> Result<Vec<Value>> {
    let (mut items, deletions): (Vec<Value>, Vec<Value>) = if kind == GoKind::Map {
        for item in items.iter().chain(order) {
            let Value::Object(map) = item else {
                return Err(unhandled(bad_arg_type("map[string]interface {}", item)));
            };
            if !map.contains_key(merge_key) {
                return Err(unhandled(no_merge_key(map, merge_key)));
            }
        }
        items
            .into_iter()
            .partition(|item| item.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"))
    } else {
        (items, Vec::new())
    };
    items.sort_by_key(|item| position(order, item, merge_key, kind).unwrap_or(usize::MAX));
    items.extend(deletions);
    Ok(items)
}

/// `mergeSortedSlice`: a server-only item goes before a patch item only when the live
/// list has both and puts it first; otherwise the patch item comes first.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: GoKind,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        let before = match (
            position(server_order, l, merge_key, kind),
            position(server_order, r, merge_key, kind),
        ) {
            (Some(li), Some(ri)) => li < ri,
            _ => false,
        };
        let next = if before { left.next() } else { right.next() };
        out.extend(next);
    }
    out.extend(left);
    out.extend(right);
    out
}

/// The position of `item` in `list`, by merge key for objects and by value otherwise.
fn position(list: &[Value], item: &Value, merge_key: &str, kind: GoKind) -> Option<usize> {
    if kind == GoKind::Map {
        let key = item.get(merge_key);
        list.iter().position(|v| v.get(merge_key) == key)
    } else {
        list.iter().position(|v| v == item)
    }
}

/// Go's dynamic type of a decoded JSON value, as `reflect.TypeOf` compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoKind {
    Null,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

impl GoKind {
    fn of(v: &Value) -> GoKind {
        match v {
            Value::Null => GoKind::Null,
            Value::Bool(_) => GoKind::Bool,
            Value::Number(n) if n.is_i64() || n.is_u64() => GoKind::Int,
            Value::Number(_) => GoKind::Float,
            Value::String(_) => GoKind::String,
            Value::Array(_) => GoKind::Slice,
            Value::Object(_) => GoKind::Map,
        }
    }
}

/// `sliceElementType`: the one element type of the lists (lists of lists are rejected).
fn element_kind(lists: &[&[Value]]) -> Result<GoKind> {
    let mut kind = None;
    for item in lists.iter().flat_map(|list| list.iter()) {
        let this = GoKind::of(item);
        match kind {
            None if this == GoKind::Slice => return Err(PatchError::Invalid(ERR_NO_LIST_OF_LISTS.to_string())),
            None => kind = Some(this),
            Some(kind) if kind != this => {
                let all = Value::Array(lists.iter().map(|l| Value::Array(l.to_vec())).collect());
                return Err(unhandled(format!(
                    "list element types are not identical: {}",
                    go_value(&all)
                )));
            }
            Some(_) => {}
        }
    }
    kind.ok_or_else(|| unhandled("no elements in any of the given slices"))
}

/// Sets a member to a patch value taken as it is: nulls dropped, `$patch` objects removed.
fn put_literal(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(value) => {
            original.insert(key, value);
        }
        None => {
            original.shift_remove(&key);
        }
    }
}

fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// `removeDirectives`: drops objects carrying `$patch` (`None` for the value itself).
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.contains_key(DIRECTIVE) => None,
        Value::Object(map) => Some(Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(remove_directives).collect())),
        other => Some(other),
    }
}

/// Removes directive keys left in values taken verbatim: decoding into the typed object
/// drops them on a real cluster, as they name no field.
fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !is_directive_key(key));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with("$setElementOrder/")
        || key.starts_with("$deleteFromPrimitiveList/")
}

/// `extractKey`: the list a `$prefix/<list>` directive names.
fn directive_target<'a>(key: &'a str, prefix: &str) -> Result<&'a str> {
    match key.split_once('/') {
        Some((head, target)) if head == prefix => Ok(target),
        _ if prefix == SET_ELEMENT_ORDER => Err(bad_request(ERR_SET_ELEMENT_ORDER)),
        _ => Err(bad_request(ERR_PRIMITIVE_LIST)),
    }
}

const ERR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";
const ERR_NO_LIST_OF_LISTS: &str = "lists of lists are not supported";

/// `mergepatch.ErrNoMergeKey`.
fn no_merge_key(map: &Map<String, Value>, merge_key: &str) -> String {
    format!(
        "map: {} does not contain declared merge key: {merge_key}",
        go_value(&Value::Object(map.clone()))
    )
}

/// `mergepatch.ErrBadArgType`.
fn bad_arg_type(expected: &str, actual: &Value) -> String {
    format!("expected a {expected}, but received a {}", go_type(actual))
}

/// One of the errors the API server maps to 400 Bad Request.
fn bad_request(message: impl Into<String>) -> PatchError {
    PatchError::BadRequest(message.into())
}

/// An error Kubernetes returns unmapped (500, no reason); reported as a bad request here.
fn unhandled(message: impl Into<String>) -> PatchError {
    PatchError::BadRequest(message.into())
}

#[cfg(test)]
#[path = "strategic_tests.rs"]
mod tests;
