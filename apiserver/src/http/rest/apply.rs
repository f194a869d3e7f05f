//! `PATCH` with `application/apply-patch+yaml`: server-side apply of an object
//! or its status, creating the object when it does not exist.

use http::StatusCode;
use k1s_proto::apply::{self, ApplyError, Request};
use k1s_proto::meta::{now_rfc3339, ObjectMeta};
use k1s_proto::status::Cause;
use k1s_proto::ApiError;
use serde_json::Value;

use super::fieldmanager;
use super::object::to_storage_form;
use super::update::{guaranteed_update, UpdateMode};
use super::{create, get_stored, name_of, to_response};
use crate::api::Api;
use crate::http::query::Query;
use crate::http::route::ResourcePath;

/// The media type of apply patches.
pub const APPLY_YAML: &str = "application/apply-patch+yaml";

/// Whether a `Content-Type` is an apply patch.
pub fn is_apply(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim() == APPLY_YAML)
}

/// The 409 Kubernetes returns for apply conflicts.
fn conflict_error(conflicts: &[apply::Conflict]) -> ApiError {
    let mut e = ApiError::new(409, "Conflict", apply::conflict_message(conflicts));
    e.causes = conflicts
        .iter()
        .map(|c| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", c.manager),
            field: c.path.to_string(),
        })
        .collect();
    e
}

/// Decodes and checks an applied configuration against the addressed resource.
fn decode_config(path: &ResourcePath, body: &[u8]) -> Result<Value, ApiError> {
    let info = path.info;
    let config: Value =
        serde_norway::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the applied configuration is not an object",
        ));
    }
    let api_version = config["apiVersion"].as_str().unwrap_or("");
    let kind = config["kind"].as_str().unwrap_or("");
    if api_version != info.api_version() || kind != info.kind {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        return Err(ApiError::bad_request(format!(
            "invalid object type: {group}/{version}, Kind={kind}"
        )));
    }
    if config
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    Ok(config)
}

/// Runs the field manager's apply, mapping its failures to API errors.
fn run(
    path: &ResourcePath,
    req: &Request<'_>,
    live: Option<&Value>,
    config: &Value,
    force: bool,
) -> Result<Value, ApiError> {
    let info = path.info;
    apply::apply(req, live, config, force).map_err(|e| match e {
        ApplyError::Conflicts(c) => conflict_error(&c),
        ApplyError::Invalid(msg) => ApiError::internal(format!(
            "failed to create typed patch object ({}/{}; {}, Kind={}): {msg}",
            path.namespace.as_deref().unwrap_or(""),
            path.name.as_deref().unwrap_or(""),
            info.api_version(),
            info.kind
        )),
    })
}

fn check_name(obj: &Value, url_name: &str) -> Result<(), ApiError> {
    let name = obj.name().unwrap_or("");
    if name != url_name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url_name})"
        )));
    }
    Ok(())
}

/// Server-side apply of an object (`mode` Main) or its status; returns the status
/// code (201 when the apply created the object) and the object.
pub async fn apply_patch(
    api: &Api,
    path: &ResourcePath,
    body: &[u8],
    mode: UpdateMode,
    query: &Query,
) -> Result<(StatusCode, Value), ApiError> {
    fieldmanager::validate("PatchOptions", query, true)?;
    let info = path.info;
    let url_name = name_of(path)?.to_string();
    let def = fieldmanager::definition(info)
        .ok_or_else(|| ApiError::new(415, "UnsupportedMediaType", "apply is not supported for this resource"))?;
    let config = decode_config(path, body)?;
    let manager = fieldmanager::manager(query);
    let subresource = if mode == UpdateMode::Status { "status" } else { "" };
    let now = now_rfc3339();
    let api_version = info.api_version();
    let req = Request {
        def,
        api_version: &api_version,
        subresource,
        manager: &manager,
        tracked: fieldmanager::tracked(info, subresource),
        now: &now,
    };
    let mut applying = query.clone();
    applying.applying = true;

    let exists = match get_stored(api, path) {
        Ok(_) => true,
        Err(e) if e.is_not_found() && mode == UpdateMode::Main => false,
        Err(e) => return Err(e),
    };
    if !exists {
        let created = run(path, &req, None, &config, query.force)?;
        check_name(&created, &url_name)?;
        let collection = ResourcePath {
            name: None,
            subresource: None,
            ..path.clone()
        };
        let obj = create::create(api, &collection, created, &applying).await?;
        return Ok((StatusCode::CREATED, obj));
    }
    let updated = guaranteed_update(api, path, mode, &applying, |current| {
        let live = to_response(info, current.clone());
        let merged = run(path, &req, Some(&live), &config, query.force)?;
        check_name(&merged, &url_name)?;
        to_storage_form(info, merged)
    })
    .await?;
    Ok((StatusCode::OK, updated))
}
