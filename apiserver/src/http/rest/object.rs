//! What create and update share: decoding a request object into its stored
//! form, metadata rules, validation, namespace checks, size limits; and `get`.

use k1s_proto::meta::ObjectMeta;
use k1s_proto::resources::{self, ResourceInfo};
use k1s_proto::{validation, ApiError, FieldError};
use serde_json::Value;

use super::{check_type, get_stored, to_response};
use crate::api::Api;
use crate::http::body::MAX_OBJECT_SIZE;
use crate::http::route::ResourcePath;
use crate::registry::{convert, strategy_for, typed};

/// `GET` of one object (also serves `GET …/status`).
pub fn get(api: &Api, path: &ResourcePath) -> Result<Value, ApiError> {
    Ok(to_response(path.info, get_stored(api, path)?))
}

/// Decodes a request object into its stored form: type check, typed round
/// trip (drops unknown fields, rejects wrong types), version conversion.
pub fn to_storage_form(info: &ResourceInfo, obj: Value) -> Result<Value, ApiError> {
    check_type(info, &obj)?;
    let obj = typed::normalize(info, obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            info.kind, info.version, info.kind
        ))
    })?;
    convert::to_storage(info, obj)
}

/// The resource entry objects of `info` are stored (and validated) as.
pub fn storage_info(info: &ResourceInfo) -> &'static ResourceInfo {
    resources::storage_of(info)
}

/// Fails with 422 when there are field errors.
pub fn check_errors(info: &ResourceInfo, obj: &Value, errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(info, obj.name().unwrap_or(""), &errors))
    }
}

/// Validation of a new object: metadata syntax plus the kind's rules.
pub fn validate_new(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    let mut errors = validation::validate_object_meta(obj, info);
    errors.extend(strategy_for(info).validate_create(obj));
    check_errors(info, obj, errors)
}

/// Fails with 413 when the stored form would be too large.
pub fn check_size(obj: &Value) -> Result<(), ApiError> {
    let size = serde_json::to_vec(obj).map(|v| v.len()).unwrap_or(0);
    if size > MAX_OBJECT_SIZE {
        return Err(ApiError::too_large(format!(
            "Request entity too large: the object is {size} bytes, the limit is {MAX_OBJECT_SIZE}"
        )));
    }
    Ok(())
}

/// The `details.causes` reason of a create refused in a terminating namespace.
pub const NAMESPACE_TERMINATING_CAUSE: &str = "NamespaceTerminating";

/// Checks that objects may be created in `namespace`: it must exist and not be terminating.
pub fn check_namespace(api: &Api, info: &ResourceInfo, namespace: &str, name: &str) -> Result<(), ApiError> {
    let ns_info = resources::find("", "v1", "namespaces").ok_or_else(ApiError::no_route)?;
    let ns = api
        .store
        .get(&ns_info.storage_key(None, namespace))
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(ns_info, namespace))?;
    let terminating = ns.deletion_timestamp().is_some() || ns["status"]["phase"] == "Terminating";
    if terminating {
        let message = format!("unable to create new content in namespace {namespace} because it is being terminated");
        let mut e = ApiError::forbidden(info, name, &message);
        // Controllers recognise this cause and stop creating (`NamespaceTerminatingCause`).
        e.causes.push(k1s_proto::status::Cause {
            reason: NAMESPACE_TERMINATING_CAUSE.into(),
            message,
            field: "metadata.namespace".into(),
        });
        return Err(e);
    }
    Ok(())
}

/// Whether an update leaves the object unchanged (ignoring resourceVersion).
pub fn unchanged(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.remove_meta("resourceVersion");
        v
    };
    strip(new) == strip(old)
}

/// Whether everything but metadata and status differs (what bumps `generation`).
pub fn spec_changed(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(new) != strip(old)
}

/// Whether an object marked for deletion has no finalizers left and must go.
pub fn finalized(info: &ResourceInfo, obj: &Value) -> bool {
    if obj.deletion_timestamp().is_none() || !obj.finalizers().is_empty() {
        return false;
    }
    if info.plural == "namespaces" {
        let spec_finalizers = obj["spec"]["finalizers"].as_array().map(|a| a.len()).unwrap_or(0);
        return spec_finalizers == 0;
    }
    // Pods being gracefully deleted wait for the node to confirm (delete with grace 0).
    if info.plural == "pods" {
        return obj["metadata"]["deletionGracePeriodSeconds"].as_i64().unwrap_or(0) == 0;
    }
    true
}
