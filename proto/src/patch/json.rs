//! RFC 6902 JSON patch as the Kubernetes API server applies it (with
//! `gopkg.in/evanphx/json-patch.v4`), including that library's leniencies and its
//! error messages: `replace` of a missing object key adds it, negative array indices
//! count from the end, `copy` from a missing key copies `null`.
//!
//! The `json-patch` crate implements strict RFC 6902 with other error texts, so the
//! operations are written here; merge patch does use the crate (see `merge.rs`).

use serde_json::{Map, Value};

use super::gofmt::json_kind;
use super::PatchError;

/// The most operations one patch may hold (`maxJSONPatchOperations`).
const MAX_OPERATIONS: usize = 10_000;

/// Applies an RFC 6902 JSON patch (a JSON array of operations) to `original`.
///
/// A patch that is not a list of operations is a [`PatchError::BadRequest`]; an
/// operation that cannot be applied, including a failing `test`, is a
/// [`PatchError::Invalid`] worded as Kubernetes words it, e.g.
/// `testing value /spec/replicas failed: test failed`.
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations = decode(patch)?;
    if operations.len() > MAX_OPERATIONS {
        // Kubernetes answers 413 RequestEntityTooLarge with this message.
        return Err(PatchError::BadRequest(format!(
            "The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {}",
            operations.len()
        )));
    }
    let mut doc = original.clone();
    for operation in operations {
        apply(&mut doc, operation).map_err(PatchError::Invalid)?;
    }
    Ok(doc)
}

/// `jsonpatch.DecodePatch`: a list of objects (a `null` item is an operation of kind `unknown`).
fn decode(patch: &Value) -> Result<Vec<Option<&Map<String, Value>>>, PatchError> {
    let items = match patch {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                json_kind(other)
            )))
        }
    };
    items
        .iter()
        .map(|item| match item {
            Value::Object(op) => Ok(Some(op)),
            Value::Null => Ok(None),
            other => Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                json_kind(other)
            ))),
        })
        .collect()
}

/// One operation's fields, read as the Go library reads them.
struct Operation<'a>(Option<&'a Map<String, Value>>);

impl Operation<'_> {
    fn kind(&self) -> &str {
        match self.0.and_then(|op| op.get("op")) {
            Some(Value::String(kind)) => kind,
            _ => "unknown",
        }
    }

    fn path(&self) -> Result<&str, String> {
        self.string("path", "operation missing path field: missing value")
    }

    fn from(&self) -> Result<&str, String> {
        self.string("from", "operation, missing from field: missing value")
    }

    fn string(&self, field: &str, missing: &str) -> Result<&str, String> {
        match self.0.and_then(|op| op.get(field)) {
            Some(Value::String(s)) => Ok(s),
            None | Some(Value::Null) => Err(missing.to_string()),
            Some(other) => Err(format!(
                "json: cannot unmarshal {} into Go value of type string",
                json_kind(other)
            )),
        }
    }

    /// `value`, or `None` when the operation has no such field.
    fn value(&self) -> Option<&Value> {
        self.0.and_then(|op| op.get("value"))
    }
}

fn apply(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), String> {
    let op = Operation(op);
    match op.kind() {
        "add" => add(doc, &op),
        "remove" => remove(doc, &op),
        "replace" => replace(doc, &op),
        "move" => move_value(doc, &op),
        "test" => test(doc, &op),
        "copy" => copy(doc, &op),
        other => Err(format!("Unexpected kind: {other}")),
    }
}

fn add(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let path = op
        .path()
        .map_err(|_| "add operation failed to decode path: missing value".to_string())?;
    let (mut container, key) = find(doc, path)
        .ok_or_else(|| format!("add operation does not apply: doc is missing path: \"{path}\": missing value"))?;
    let value = op.value().cloned().unwrap_or(Value::Null);
    container
        .add(&key, value)
        .map_err(|e| format!("error in add for path: '{path}': {e}"))
}

fn remove(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let path = op
        .path()
        .map_err(|_| "remove operation failed to decode path: missing value".to_string())?;
    let (mut container, key) = find(doc, path)
        .ok_or_else(|| format!("remove operation does not apply: doc is missing path: \"{path}\": missing value"))?;
    container
        .remove(&key)
        .map_err(|e| format!("error in remove for path: '{path}': {e}"))
}

fn replace(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let path = op
        .path()
        .map_err(|e| format!("replace operation failed to decode path: {e}"))?;
    if path.is_empty() {
        // The whole document; a value that is neither object nor array is ignored, as in Go.
        if let Some(value @ (Value::Object(_) | Value::Array(_))) = op.value() {
            *doc = value.clone();
        }
        return Ok(());
    }
    let (mut container, key) = find(doc, path)
        .ok_or_else(|| format!("replace operation does not apply: doc is missing path: {path}: missing value"))?;
    container
        .get(&key)
        .map_err(|_| format!("replace operation does not apply: doc is missing key: {path}: missing value"))?;
    let value = op.value().cloned().unwrap_or(Value::Null);
    // Kubernetes' library really says "remove" here.
    container
        .set(&key, value)
        .map_err(|e| format!("error in remove for path: '{path}': {e}"))
}

fn move_value(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let from = op
        .from()
        .map_err(|e| format!("move operation failed to decode from: {e}"))?;
    let (mut container, key) = find(doc, from)
        .ok_or_else(|| format!("move operation does not apply: doc is missing from path: {from}: missing value"))?;
    let value = container
        .get(&key)
        .map_err(|e| format!("error in move for path: '{key}': {e}"))?
        .cloned()
        .unwrap_or(Value::Null);
    container
        .remove(&key)
        .map_err(|e| format!("error in move for path: '{key}': {e}"))?;
    let path = op
        .path()
        .map_err(|e| format!("move operation failed to decode path: {e}"))?;
    let (mut container, key) = find(doc, path).ok_or_else(|| {
        format!("move operation does not apply: doc is missing destination path: {path}: missing value")
    })?;
    container
        .add(&key, value)
        .map_err(|e| format!("error in move for path: '{path}': {e}"))
}

fn test(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let path = op
        .path()
        .map_err(|e| format!("test operation failed to decode path: {e}"))?;
    let failed = || format!("testing value {path} failed: test failed");
    if path.is_empty() {
        return if op.value() == Some(&*doc) {
            Ok(())
        } else {
            Err(failed())
        };
    }
    let (container, key) = find(doc, path)
        .ok_or_else(|| format!("test operation does not apply: is missing path: {path}: missing value"))?;
    let actual = container
        .get(&key)
        .map_err(|e| format!("error in test for path: '{path}': {e}"))?;
    let equal = match (actual, op.value()) {
        // A missing (or null) member passes a test for null.
        (None | Some(Value::Null), Some(Value::Null)) => true,
        (Some(actual), Some(expected)) => actual == expected,
        _ => false,
    };
    if equal {
        Ok(())
    } else {
        Err(failed())
    }
}

fn copy(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let from = op
        .from()
        .map_err(|e| format!("copy operation failed to decode from: {e}"))?;
    let (container, key) = find(doc, from)
        .ok_or_else(|| format!("copy operation does not apply: doc is missing from path: {from}: missing value"))?;
    let value = container
        .get(&key)
        .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
        .cloned()
        .unwrap_or(Value::Null);
    let path = op
        .path()
        .map_err(|_| "copy operation failed to decode path: missing value".to_string())?;
    let (mut container, key) = find(doc, path).ok_or_else(|| {
        format!("copy operation does not apply: doc is missing destination path: {path}: missing value")
    })?;
    container
        .add(&key, value)
        .map_err(|e| format!("error while adding value during copy: {e}"))
}

/// The object or array a pointer's last token applies to.
enum Container<'a> {
    Doc(&'a mut Map<String, Value>),
    Ary(&'a mut Vec<Value>),
}

/// `findObject`: walks all but the last token of `path`; `None` when a step is missing.
fn find<'a>(doc: &'a mut Value, path: &str) -> Option<(Container<'a>, String)> {
    let tokens: Vec<&str> = path.split('/').collect();
    let (last, parents) = tokens.split_last()?;
    if parents.is_empty() {
        return None;
    }
    let mut current = doc;
    for token in &parents[1..] {
        let token = unescape(token);
        current = match current {
            Value::Object(map) => map.get_mut(&token)?,
            Value::Array(items) => {
                let index = array_index(&token, items.len()).ok()?;
                items.get_mut(index)?
            }
            _ => return None,
        };
    }
    let container = match current {
        Value::Object(map) => Container::Doc(map),
        Value::Array(items) => Container::Ary(items),
        _ => return None,
    };
    Some((container, unescape(last)))
}

impl Container<'_> {
    fn get(&self, key: &str) -> Result<Option<&Value>, String> {
        match self {
            Container::Doc(map) => Ok(map.get(key)),
            Container::Ary(items) => Ok(items.get(array_index(key, items.len())?)),
        }
    }

    fn set(&mut self, key: &str, value: Value) -> Result<(), String> {
        match self {
            Container::Doc(map) => {
                map.insert(key.to_string(), value);
                Ok(())
            }
            Container::Ary(items) => {
                let index = array_index(key, items.len())?;
                items[index] = value;
                Ok(())
            }
        }
    }

    fn add(&mut self, key: &str, value: Value) -> Result<(), String> {
        match self {
            Container::Doc(map) => {
                map.insert(key.to_string(), value);
                Ok(())
            }
            Container::Ary(items) if key == "-" => {
                items.push(value);
                Ok(())
            }
            Container::Ary(items) => {
                let raw = atoi(key).map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
                // Inserting may also target the position just past the end.
                let len = items.len() as i64 + 1;
                if raw >= len || raw < -len {
                    return Err(invalid_index(raw));
                }
                let index = if raw < 0 { raw + len } else { raw };
                items.insert(index as usize, value);
                Ok(())
            }
        }
    }

    fn remove(&mut self, key: &str) -> Result<(), String> {
        match self {
            Container::Doc(map) => match map.shift_remove(key) {
                Some(_) => Ok(()),
                None => Err(format!("Unable to remove nonexistent key: {key}: missing value")),
            },
            Container::Ary(items) => {
                let index = array_index(key, items.len())?;
                items.remove(index);
                Ok(())
            }
        }
    }
}

/// An existing element's index; negative indices count from the end.
fn array_index(key: &str, len: usize) -> Result<usize, String> {
    let raw = atoi(key)?;
    let len = len as i64;
    if raw < -len {
        return Err(invalid_index(raw));
    }
    let index = if raw < 0 { raw + len } else { raw };
    if index >= len {
        return Err(invalid_index(index));
    }
    Ok(index as usize)
}

fn invalid_index(index: i64) -> String {
    format!("Unable to access invalid index: {index}: invalid index referenced")
}

/// Go's `strconv.Atoi`, with its error text.
fn atoi(s: &str) -> Result<i64, String> {
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
            _ => "invalid syntax",
        };
        format!("strconv.Atoi: parsing \"{s}\": {why}")
    })
}

/// RFC 6901 token decoding (`~1` is `/`, `~0` is `~`), in one pass.
fn unescape(token: &str) -> String {
    if !token.contains('~') {
        return token.to_string();
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('~', Some('1')) => {
                out.push('/');
                chars.next();
            }
            ('~', Some('0')) => {
                out.push('~');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
