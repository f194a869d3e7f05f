//! `PUT` of an object, its `status` or a namespace's `finalize`, and the
//! update machinery that patch and scale share.

use k1s_proto::meta::ObjectMeta;
use k1s_proto::{validation, ApiError};
use serde_json::Value;

use super::object::{check_errors, check_size, finalized, spec_changed, storage_info, to_storage_form, unchanged};
use super::{get_stored, key_of, name_of, store_error, stored_revision, to_response};
use crate::api::Api;
use crate::http::query::Query;
use crate::http::route::ResourcePath;
use crate::http::warning;
use crate::registry::strategy_for;
use crate::store::StoreError;

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// The main resource: everything but `status` (for kinds with a status subresource).
    Main,
    /// The `status` subresource: only `status`.
    Status,
    /// A namespace's `finalize` subresource: only `spec.finalizers`.
    Finalize,
    /// A subresource handler (`pods/binding`) that computed the whole new
    /// object from the stored one: written as given, without the generic rules.
    Internal,
}

/// How many times a write is retried when a concurrent write got in first.
const MAX_RETRIES: usize = 16;

/// `PUT`: replaces an object (or its status) with the request body.
pub async fn replace(
    api: &Api,
    path: &ResourcePath,
    body: Value,
    mode: UpdateMode,
    query: &Query,
) -> Result<Value, ApiError> {
    let name = name_of(path)?;
    if let Some(body_name) = body.name() {
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
    }
    if let (Some(body_ns), Some(path_ns)) = (body.namespace(), path.namespace.as_deref()) {
        if !body_ns.is_empty() && body_ns != path_ns && path.info.namespaced {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let new = to_storage_form(path.info, body)?;
    guaranteed_update(api, path, mode, query, |_current| Ok(new.clone())).await
}

/// Reads the stored object, lets `mutate` compute the new stored form, and
/// writes it, retrying when a concurrent write got in between.
///
/// A `resourceVersion` in the new object is a precondition (409 on mismatch);
/// without one the write is unconditional.
pub async fn guaranteed_update<F>(
    api: &Api,
    path: &ResourcePath,
    mode: UpdateMode,
    query: &Query,
    mut mutate: F,
) -> Result<Value, ApiError>
where
    F: FnMut(&Value) -> Result<Value, ApiError>,
{
    let name = name_of(path)?;
    for attempt in 0..MAX_RETRIES {
        let current = get_stored(api, path)?;
        let new = mutate(&current)?;
        match apply_update(api, path, mode, new, &current, query).await {
            Err(UpdateError::Retry) => super::conflict_pause(attempt).await,
            Err(UpdateError::Api(e)) => return Err(e),
            Ok(v) => return Ok(to_response(path.info, v)),
        }
    }
    Err(ApiError::conflict(path.info, name))
}

enum UpdateError {
    Retry,
    Api(ApiError),
}

impl From<ApiError> for UpdateError {
    fn from(e: ApiError) -> Self {
        UpdateError::Api(e)
    }
}

/// Metadata the client may not change through an update.
const IMMUTABLE_META: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
];

async fn apply_update(
    api: &Api,
    path: &ResourcePath,
    mode: UpdateMode,
    new: Value,
    old: &Value,
    query: &Query,
) -> Result<Value, UpdateError> {
    let info = path.info;
    let sinfo = storage_info(info);
    let strategy = strategy_for(sinfo);
    let name = name_of(path)?;
    let old_rev = stored_revision(old);
    if let Some(rv) = new.resource_version().filter(|rv| !rv.is_empty()) {
        if rv.parse::<u64>().ok() != Some(old_rev) {
            return Err(ApiError::conflict(info, name).into());
        }
    }

    let mut obj = match mode {
        UpdateMode::Main => {
            let mut obj = new;
            for field in IMMUTABLE_META {
                match old.metadata().and_then(|m| m.get(*field)) {
                    Some(v) => obj.set_meta(field, v.clone()),
                    None => {
                        obj.remove_meta(field);
                    }
                }
            }
            obj.set_meta("name", Value::from(name));
            match old.namespace() {
                Some(ns) => obj.set_meta("namespace", Value::from(ns)),
                None => {
                    obj.remove_meta("namespace");
                }
            }
            if info.has_status {
                copy_field(&mut obj, old, "status");
            }
            strategy.default(&mut obj);
            super::fieldmanager::track(info, "", query, Some(old), &mut obj);
            // Mutating admission on updates: DefaultTolerationSeconds admits pod updates too.
            if sinfo.group.is_empty() && sinfo.kind == "Pod" {
                crate::registry::default_tolerations::admit_pod(&mut obj);
            }
            strategy.prepare_for_update(&mut obj, old);
            let mut errors = validation::validate_object_meta(&obj, sinfo);
            errors.extend(validation::validate_object_meta_update(&obj, old));
            errors.extend(strategy.validate_update(&obj, old));
            check_errors(info, &obj, errors)?;
            if strategy.tracks_generation() && spec_changed(&obj, old) {
                obj.set_meta("generation", Value::from(old.generation() + 1));
            }
            warning::add_all(strategy.warnings_on_update(&obj, old));
            obj
        }
        UpdateMode::Status => {
            let mut obj = old.clone();
            copy_field(&mut obj, &new, "status");
            for field in strategy.status_metadata() {
                match new.metadata().and_then(|m| m.get(*field)) {
                    Some(v) => obj.set_meta(field, v.clone()),
                    None => {
                        obj.remove_meta(field);
                    }
                }
            }
            if query.applying {
                match new.metadata().and_then(|m| m.get("managedFields")).cloned() {
                    Some(m) => obj.set_meta("managedFields", m),
                    None => {
                        obj.remove_meta("managedFields");
                    }
                }
            } else {
                super::fieldmanager::track(info, "status", query, Some(old), &mut obj);
            }
            check_errors(info, &obj, strategy.validate_status_update(&obj, old))?;
            obj
        }
        UpdateMode::Finalize => {
            let mut obj = old.clone();
            let finalizers = new["spec"]["finalizers"].clone();
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                if finalizers.is_null() {
                    spec.remove("finalizers");
                } else {
                    spec.insert("finalizers".into(), finalizers);
                }
            }
            obj
        }
        UpdateMode::Internal => new,
    };
    obj.set_meta("resourceVersion", Value::from(old_rev.to_string()));

    if unchanged(&obj, old) {
        return Ok(old.clone());
    }
    check_size(&obj)?;
    let key = key_of(path)?;
    if finalized(sinfo, &obj) {
        if query.dry_run {
            return Ok(obj);
        }
        return match api.store.delete(&key, Some(old_rev)).await {
            Ok(deleted) => {
                strategy.release(&api.allocators, &deleted);
                Ok(deleted)
            }
            Err(StoreError::Conflict { .. }) => Err(UpdateError::Retry),
            Err(e) => Err(store_error(e, info, name).into()),
        };
    }
    let allocated = mode == UpdateMode::Main;
    if query.dry_run {
        // Everything an update checks, nothing it keeps: addresses come from a scratch copy.
        if allocated {
            strategy.allocate(&api.allocators.scratch_copy(), &mut obj, Some(old))?;
        }
        return Ok(obj);
    }
    if allocated {
        strategy.allocate(&api.allocators, &mut obj, Some(old))?;
    }
    match api.store.update(&key, obj.clone(), Some(old_rev)).await {
        Ok(stored) => Ok(stored),
        Err(e) => {
            if allocated {
                undo_allocation(api, strategy, &obj, old);
            }
            match e {
                StoreError::Conflict { .. } => Err(UpdateError::Retry),
                e => Err(store_error(e, info, name).into()),
            }
        }
    }
}

/// Gives back what `allocate` claimed for an update that was not stored:
/// releases the new object's claims, then claims the stored object's again.
fn undo_allocation(api: &Api, strategy: &dyn crate::registry::Strategy, new: &Value, old: &Value) {
    strategy.release(&api.allocators, new);
    let mut old = old.clone();
    // The stored object's addresses are explicit, so this re-claims exactly them.
    let _ = strategy.allocate(&api.allocators, &mut old, None);
}

/// Sets `to[field]` to `from[field]`, removing it when `from` has none.
fn copy_field(to: &mut Value, from: &Value, field: &str) {
    let Some(map) = to.as_object_mut() else { return };
    match from.get(field) {
        Some(v) => {
            map.insert(field.to_string(), v.clone());
        }
        None => {
            map.remove(field);
        }
    }
}
