//! `PATCH`: JSON patch, merge patch and strategic merge patch of an object or its status.

use k1s_proto::meta::ObjectMeta;
use k1s_proto::patch::{apply_patch, PatchError, PatchType};
use k1s_proto::{ApiError, ResourceInfo};

use super::fieldvalidation::{check_patch, Directive};
use super::object::to_storage_form;
use super::to_response;
use super::update::{guaranteed_update, UpdateMode};
use crate::api::Api;
use crate::http::query::Query;
use crate::http::route::ResourcePath;

/// The patch type of a request, or 415 naming the accepted ones.
pub fn patch_type(content_type: Option<&str>) -> Result<PatchType, ApiError> {
    content_type.and_then(PatchType::from_content_type).ok_or_else(|| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {}",
                content_type.unwrap_or("")
            ),
        )
    })
}

/// Maps a patch failure to the status Kubernetes returns.
pub fn patch_error(e: PatchError) -> ApiError {
    match e {
        PatchError::BadRequest(m) => ApiError::bad_request(m),
        PatchError::Invalid(m) => ApiError::new(422, "Invalid", m),
        PatchError::Unsupported(m) => ApiError::new(415, "UnsupportedMediaType", m),
    }
}

/// Applies a patch to an object in the request's version.
pub fn apply(
    info: &ResourceInfo,
    current: &serde_json::Value,
    pt: PatchType,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    apply_patch(current, pt, body, info).map_err(patch_error)
}

/// `PATCH` of an object or its status.
pub async fn patch(
    api: &Api,
    path: &ResourcePath,
    content_type: Option<&str>,
    body: &[u8],
    mode: UpdateMode,
    query: &Query,
) -> Result<serde_json::Value, ApiError> {
    let pt = patch_type(content_type)?;
    let info = path.info;
    let directive = Directive::of(query);
    guaranteed_update(api, path, mode, query, |current| {
        let current = to_response(info, current.clone());
        let patched = apply(info, &current, pt, body)?;
        check_patch(info, pt, body, &patched, directive)?;
        if patched.name() != current.name() {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({})",
                patched.name().unwrap_or(""),
                current.name().unwrap_or("")
            )));
        }
        to_storage_form(info, patched)
    })
    .await
}
