//! Server-side apply and field management, as Kubernetes' field manager and
//! sigs.k8s.io/structured-merge-diff do them: every write records in
//! `metadata.managedFields` which manager owns which fields, and an apply merges
//! an applied configuration into the live object by the schema, removes the
//! fields its manager stopped applying, and fails with conflicts when it would
//! change fields another manager owns (unless forced).
//!
//! Pure functions over JSON objects in the request's version; the API server
//! wires them into create, update, patch and apply.

pub mod managed;
pub mod path;
pub mod set;
pub mod typed;

use serde_json::{Map, Value};

use crate::schema::Definition;
use managed::{Entry, Managed, Operation};
use path::{Path, PathElement};
use set::Set;
use typed::Shape;

/// The annotation `kubectl apply` (client-side) keeps the last applied configuration in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The field manager whose applies upgrade client-side-apply ownership (kubectl's default).
const KUBECTL: &str = "kubectl";

/// Which fields a write may track: the main resource does not track `status`
/// (for kinds with a status subresource), the status subresource only `status`.
#[derive(Debug, Clone)]
pub enum Tracked {
    /// Everything.
    All,
    /// Everything except these subtrees.
    Except(Vec<Path>),
    /// Only these subtrees.
    Only(Vec<Path>),
}

impl Tracked {
    fn filter(&self, set: &Set) -> Set {
        match self {
            Tracked::All => set.clone(),
            Tracked::Except(paths) => {
                let mut ignored = Set::new();
                for p in paths {
                    ignored.insert(p);
                }
                set.recursive_difference(&ignored)
            }
            Tracked::Only(paths) => paths.iter().fold(Set::new(), |acc, p| acc.union(&set.with_prefix(p))),
        }
    }
}

/// What one write is: which object type, version, subresource and manager.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The schema of the object.
    pub def: &'static Definition,
    /// The request's API version (`apps/v1`, `v1`).
    pub api_version: &'a str,
    /// `""` or the subresource written (`status`).
    pub subresource: &'a str,
    /// The field manager.
    pub manager: &'a str,
    /// The fields this write may own.
    pub tracked: Tracked,
    /// The time to record (RFC 3339, seconds).
    pub now: &'a str,
}

/// One field another manager owns that an apply would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The owner, as Kubernetes prints it (`"kubectl-client-side-apply" using apps/v1`).
    pub manager: String,
    /// The field.
    pub path: Path,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyError {
    /// 409: fields owned by other managers would change.
    Conflicts(Vec<Conflict>),
    /// The configuration or the stored object does not fit the schema.
    Invalid(String),
}

/// The message of an apply conflict error, worded as Kubernetes words it.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if conflicts.len() == 1 {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].manager, conflicts[0].path
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", c.path));
        }
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// A manager as Kubernetes names it in conflicts.
fn describe(e: &Entry) -> String {
    let mut s = format!("{:?}", e.manager);
    if !e.subresource.is_empty() {
        s = format!("{s} with subresource {:?}", e.subresource);
    }
    if e.operation == Operation::Update {
        s = format!("{s} using {}", e.api_version);
    }
    s
}

/// Paths no manager owns: type and identity metadata (Kubernetes' stripMeta).
fn stripped() -> Set {
    let mut s = Set::new();
    s.insert(&Path::fields(&["apiVersion"]));
    s.insert(&Path::fields(&["kind"]));
    s.insert(&Path::fields(&["metadata"]));
    for f in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(&Path::fields(&["metadata", f]));
    }
    s
}

fn managed_fields_of(obj: &Value) -> Option<&Value> {
    obj.get("metadata").and_then(|m| m.get("managedFields"))
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    o
}

fn set_managed_fields(obj: &mut Value, managed: &Managed) {
    let Some(map) = obj.as_object_mut() else { return };
    let meta = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else { return };
    match managed.encode() {
        Some(v) => {
            meta.insert("managedFields".into(), v);
        }
        None => {
            meta.remove("managedFields");
        }
    }
}

/// Records a non-apply write (create, update, patch) in `new`'s managedFields.
///
/// `old` is the live object (None on create). Client-sent managedFields in `new`
/// replace the recorded ones when they decode (an empty list resets them); on a
/// subresource, or when they are missing or invalid, the live ones are kept.
/// As in Kubernetes, an existing object with no managedFields is not tracked.
pub fn track_update(req: &Request<'_>, old: Option<&Value>, new: &mut Value) {
    let live_managed = || {
        old.and_then(managed_fields_of)
            .map(|v| Managed::decode(v).unwrap_or_default())
            .unwrap_or_default()
    };
    let sent = managed_fields_of(new).cloned();
    let mut managed = if !req.subresource.is_empty() {
        live_managed()
    } else if Managed::is_reset(sent.as_ref()) {
        Managed::default()
    } else {
        match sent.as_ref().map(Managed::decode) {
            Some(Ok(m)) if !m.entries.is_empty() => m,
            _ => live_managed(),
        }
    };
    *new = without_managed_fields(new);
    if managed.entries.is_empty() && old.is_some() {
        return;
    }
    let shape = Shape::root(req.def);
    let empty = Value::Object(Map::new());
    let old_obj = old.map(without_managed_fields).unwrap_or(empty);
    let cmp = typed::compare(&old_obj, new, shape);
    let added = req.tracked.filter(&cmp.added);
    let modified = req.tracked.filter(&cmp.modified);
    let removed = req.tracked.filter(&cmp.removed);
    let changed = added.union(&modified);
    for e in &mut managed.entries {
        e.set = e.set.difference(&changed).difference(&removed);
    }
    let current = changed.difference(&stripped());
    if !current.is_empty() {
        match managed.find_mut(req.manager, Operation::Update, req.api_version, req.subresource) {
            Some(e) => {
                e.set = e.set.union(&current);
                e.time = Some(req.now.to_string());
            }
            None => managed.entries.push(Entry {
                manager: req.manager.to_string(),
                operation: Operation::Update,
                api_version: req.api_version.to_string(),
                time: Some(req.now.to_string()),
                subresource: req.subresource.to_string(),
                set: current,
            }),
        }
    }
    managed.drop_empty();
    managed.cap_updates();
    set_managed_fields(new, &managed);
}

/// Applies `config` (the applied configuration, in the request's version) to
/// `live` (None when the object does not exist yet) for `req.manager`.
///
/// Returns the merged object with its new managedFields, ready for defaulting
/// and validation, or the conflicts (when not `force`d).
pub fn apply(req: &Request<'_>, live: Option<&Value>, config: &Value, force: bool) -> Result<Value, ApplyError> {
    match apply_once(req, live, config, force) {
        Err(ApplyError::Conflicts(conflicts)) if req.manager == KUBECTL && !force => {
            // Upgrading from client-side apply: fields whose value still matches
            // the last-applied annotation are taken over without conflict.
            let Some(allowed) = live.and_then(|l| allowed_from_last_applied(req, l)) else {
                return Err(ApplyError::Conflicts(conflicts));
            };
            let remaining: Vec<Conflict> = conflicts.into_iter().filter(|c| !allowed.has(&c.path)).collect();
            if remaining.is_empty() {
                apply_once(req, live, config, true)
            } else {
                Err(ApplyError::Conflicts(remaining))
            }
        }
        other => other,
    }
}

fn apply_once(req: &Request<'_>, live: Option<&Value>, config: &Value, force: bool) -> Result<Value, ApplyError> {
    let shape = Shape::root(req.def);
    let mut managed = match live.and_then(managed_fields_of) {
        Some(v) => {
            Managed::decode(v).map_err(|e| ApplyError::Invalid(format!("failed to decode managed fields: {e}")))?
        }
        None => Managed::default(),
    };
    let live_obj = live
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let config_set = typed::to_field_set(config, shape).map_err(ApplyError::Invalid)?;
    let config_set = req.tracked.filter(&config_set);
    let merged = typed::merge(&live_obj, config, shape).map_err(ApplyError::Invalid)?;

    let is_self = |e: &Entry| e.same_manager(req.manager, Operation::Apply, req.api_version, req.subresource);
    let last = managed.entries.iter().find(|e| is_self(e)).map(|e| e.set.clone());

    // Ownership moves: other managers lose the fields this apply changes.
    let cmp = typed::compare(&live_obj, &merged, shape);
    let changed = req.tracked.filter(&cmp.added.union(&cmp.modified));
    let removed = req.tracked.filter(&cmp.removed);
    let mut conflicts = Vec::new();
    for e in managed.entries.iter().filter(|e| !is_self(e)) {
        for p in e.set.intersection(&changed).paths() {
            conflicts.push(Conflict {
                manager: describe(e),
                path: p,
            });
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| a.manager.cmp(&b.manager).then_with(|| a.path.cmp(&b.path)));
        return Err(ApplyError::Conflicts(conflicts));
    }
    for e in managed.entries.iter_mut().filter(|e| !is_self(e)) {
        e.set = e.set.difference(&changed).difference(&removed);
    }
    let old_time = managed.entries.iter().find(|e| is_self(e)).and_then(|e| e.time.clone());
    managed.entries.retain(|e| !is_self(e));
    managed.entries.push(Entry {
        manager: req.manager.to_string(),
        operation: Operation::Apply,
        api_version: req.api_version.to_string(),
        time: old_time,
        subresource: req.subresource.to_string(),
        set: config_set,
    });

    // Fields the applier applied last time and no manager owns any more go away.
    let mut result = merged;
    if let Some(last) = last.filter(|l| !l.is_empty()) {
        let owned = managed.entries.iter().fold(Set::new(), |acc, e| acc.union(&e.set));
        let ensure =
            |s: &Set, p: &Path, named: bool| s.has(p) || (named && s.children_at(p).is_some_and(|c| !c.is_empty()));
        typed::remove_where(&mut result, shape, &|p, named| {
            ensure(&last, p, named) && !ensure(&owned, p, named)
        });
        let cmp = typed::compare(&live_obj, &result, shape);
        let removed = req.tracked.filter(&cmp.removed);
        for e in managed.entries.iter_mut().filter(|e| !is_self(e)) {
            e.set = e.set.difference(&removed);
        }
    }
    let strip = stripped();
    let changed_object = result != live_obj;
    for e in managed.entries.iter_mut().filter(|e| is_self(e)) {
        e.set = e.set.difference(&strip);
        if changed_object {
            e.time = Some(req.now.to_string());
        }
    }
    managed.drop_empty();

    if req.manager == KUBECTL {
        update_last_applied(&live_obj, config, &mut result);
    }
    set_managed_fields(&mut result, &managed);
    Ok(result)
}

/// The fields of the last-applied annotation whose value the live object still has.
fn allowed_from_last_applied(req: &Request<'_>, live: &Value) -> Option<Set> {
    let text = live["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last["apiVersion"].as_str() != Some(req.api_version) {
        return None;
    }
    let shape = Shape::root(req.def);
    let set = typed::to_field_set(&last, shape).ok()?;
    let cmp = typed::compare(&last, &without_managed_fields(live), shape);
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// Keeps the client-side-apply annotation in step with server-side applies by kubectl.
fn update_last_applied(live: &Value, config: &Value, result: &mut Value) {
    let has = live["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .is_some_and(|s| !s.is_empty());
    if !has {
        return;
    }
    let mut applied = config.clone();
    if let Some(ann) = applied
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        ann.remove(LAST_APPLIED);
    }
    let text = format!("{}\n", sorted(&applied));
    if let Some(ann) = result
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        ann.insert(LAST_APPLIED.to_string(), Value::String(text));
    }
}

/// JSON with object keys sorted, as Go's encoding/json writes maps.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The manager name Kubernetes derives from a User-Agent when a request names none:
/// the text before the first `/`, without non-printable characters, at most 128 bytes.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let head = user_agent.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in head.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > FIELD_MANAGER_MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

/// The longest `fieldManager` Kubernetes accepts.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// Validates a `fieldManager` query value as Kubernetes does: (field, detail) pairs.
pub fn validate_field_manager(manager: &str) -> Vec<(String, Value, String)> {
    let mut errs = Vec::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errs.push((
            "TooLong".to_string(),
            Value::Null,
            format!("may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"),
        ));
    }
    for (i, c) in manager.chars().enumerate() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{feff}') {
            errs.push((
                "Invalid".to_string(),
                Value::String(manager.to_string()),
                format!("invalid character {} (at position {i})", unicode_name(c)),
            ));
        }
    }
    errs
}

/// Go's `%#U` of a character: `U+0000`.
fn unicode_name(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// Builds a path of field names and one keyed item; handy for callers and tests.
pub fn keyed_path(fields: &[&str], key: &[(&str, Value)]) -> Path {
    Path::fields(fields).child(PathElement::Key(
        key.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect(),
    ))
}

#[cfg(test)]
mod tests;
