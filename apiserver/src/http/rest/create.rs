//! `POST` to a collection: create.

use k1s_proto::meta::{now_rfc3339, ObjectMeta, NAME_ALPHABET};
use k1s_proto::ApiError;
use rand::Rng;
use serde_json::Value;

use super::object::{check_namespace, check_size, storage_info, to_storage_form, validate_new};
use super::{store_error, to_response};
use crate::api::Api;
use crate::http::query::Query;
use crate::http::route::ResourcePath;
use crate::http::warning;
use crate::registry::strategy_for;

/// Appends Kubernetes' 5-character random suffix to a `generateName`.
pub fn generate_name(base: &str) -> String {
    // Kubernetes trims the base so the result stays within 63 characters.
    let base: String = base.chars().take(58).collect();
    let mut rng = rand::thread_rng();
    let suffix: String = (0..5)
        .map(|_| NAME_ALPHABET[rng.gen_range(0..NAME_ALPHABET.len())] as char)
        .collect();
    format!("{base}{suffix}")
}

/// Creates an object; returns it as stored, in the request's version.
pub async fn create(api: &Api, path: &ResourcePath, body: Value, query: &Query) -> Result<Value, ApiError> {
    let info = path.info;
    if path.name.is_some() {
        return Err(ApiError::method_not_allowed());
    }
    if info.namespaced && path.namespace.is_none() {
        return Err(ApiError::method_not_allowed());
    }
    if let (Some(body_ns), Some(path_ns)) = (body.namespace(), path.namespace.as_deref()) {
        if !body_ns.is_empty() && body_ns != path_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let mut obj = to_storage_form(info, body)?;
    let sinfo = storage_info(info);
    let strategy = strategy_for(sinfo);

    if info.namespaced {
        if let Some(ns) = &path.namespace {
            obj.set_meta("namespace", Value::from(ns.as_str()));
        }
    } else {
        obj.remove_meta("namespace");
    }
    if obj.name().is_none_or(str::is_empty) {
        if let Some(base) = obj
            .meta_str("generateName")
            .filter(|b| !b.is_empty())
            .map(str::to_string)
        {
            obj.set_meta("name", Value::from(generate_name(&base)));
        }
    }
    obj.set_meta("uid", Value::from(uuid::Uuid::new_v4().to_string()));
    obj.set_meta("creationTimestamp", Value::from(now_rfc3339()));
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        obj.remove_meta(field);
    }
    if strategy.tracks_generation() {
        obj.set_meta("generation", Value::from(1));
    } else {
        obj.remove_meta("generation");
    }
    strategy.default(&mut obj);
    super::fieldmanager::track(info, "", query, None, &mut obj);
    // Mutating admission (after field tracking, as in Kubernetes): the
    // ServiceAccount plugin mounts the API token into pods, DefaultTolerationSeconds
    // adds the not-ready/unreachable tolerations.
    if info.group.is_empty() && info.kind == "Pod" {
        crate::registry::sa_admission::admit_pod(api, &mut obj);
        crate::registry::default_tolerations::admit_pod(&mut obj);
    }
    strategy.prepare_for_create(&mut obj);
    validate_new(sinfo, &obj).map_err(|e| relabel(e, info))?;
    warning::add_all(strategy.warnings_on_create(&obj));
    let name = obj.name().unwrap_or_default().to_string();
    if let Some(ns) = &path.namespace {
        if info.namespaced {
            check_namespace(api, info, ns, &name)?;
        }
    }
    check_size(&obj)?;
    let key = info.storage_key(path.namespace.as_deref().filter(|_| info.namespaced), &name);
    if query.dry_run {
        // Everything a create checks, nothing it keeps: addresses come from a scratch copy.
        if api.store.get(&key).map_err(|e| store_error(e, info, &name))?.is_some() {
            return Err(ApiError::already_exists(info, &name));
        }
        strategy.allocate(&api.allocators.scratch_copy(), &mut obj, None)?;
        return Ok(to_response(info, obj));
    }
    strategy.allocate(&api.allocators, &mut obj, None)?;
    match api.store.create(&key, obj.clone()).await {
        Ok(stored) => Ok(to_response(info, stored)),
        Err(e) => {
            strategy.release(&api.allocators, &obj);
            Err(store_error(e, info, &name))
        }
    }
}

/// Reports validation errors against the resource the client addressed.
fn relabel(mut e: ApiError, info: &k1s_proto::ResourceInfo) -> ApiError {
    if e.reason == "Invalid" && e.kind.as_deref() != Some(info.kind) {
        e.kind = Some(info.kind.to_string());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_have_five_char_suffix() {
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
        assert!(n[4..].bytes().all(|b| NAME_ALPHABET.contains(&b)));
        assert_eq!(generate_name(&"x".repeat(80)).len(), 63);
    }
}
