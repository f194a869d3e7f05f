//! `PATCH` bodies applied as the Kubernetes API server applies them: RFC 6902 JSON
//! patch, RFC 7386 merge patch and strategic merge patch (what `kubectl apply`,
//! `kubectl patch`, `label`, `annotate`, `scale`, `set image` and `edit` send).
//! Server-side apply lives in [`crate::apply`].

mod gofmt;
mod json;
mod merge;
mod schema;
mod strategic;

use serde_json::Value;

use crate::ResourceInfo;

pub use gofmt::{go_quote, go_value};
pub use json::json_patch;
pub use merge::merge_patch;
pub use schema::{schema_for, Field, SchemaRef, Strategy, TypeSchema};
pub use strategic::strategic_merge_patch;

/// The patch formats, by request `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header value; parameters such as `;charset=utf-8` are ignored.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Why a patch could not be applied; messages are worded as Kubernetes words them.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// 400 Bad Request: the body is not a patch of its type (invalid JSON, malformed directives).
    #[error("{0}")]
    BadRequest(String),
    /// 422 Unprocessable Entity (reason `Invalid`): a JSON patch operation failed, or a
    /// strategic merge patch holds a list of lists.
    #[error("{0}")]
    Invalid(String),
    /// 415 Unsupported Media Type: the patch type is not served (server-side apply).
    #[error("{0}")]
    Unsupported(String),
}

/// The media types accepted while server-side apply is not served.
const ACCEPTED_TYPES: &str = "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json";

/// Applies a `PATCH` body of `patch_type` to `original` (the object as the client sees it).
///
/// The body must be JSON (else 400 `invalid JSON patch`). A merge patch must be a JSON
/// object (Kubernetes fails other values with `Invalid JSON Patch`); a strategic merge
/// patch merges by the patch metadata of `kind`.
pub fn apply_patch(
    original: &Value,
    patch_type: PatchType,
    patch: &[u8],
    kind: &ResourceInfo,
) -> Result<Value, PatchError> {
    let parse = || -> Result<Value, PatchError> {
        serde_json::from_slice(patch).map_err(|_| PatchError::BadRequest("invalid JSON patch".to_string()))
    };
    match patch_type {
        PatchType::Apply => Err(PatchError::Unsupported(ACCEPTED_TYPES.to_string())),
        PatchType::Json => json_patch(original, &parse()?),
        PatchType::Merge => {
            let mut patch = parse()?;
            if !patch.is_object() {
                // Kubernetes answers these with a bare 500.
                return Err(PatchError::BadRequest("Invalid JSON Patch".to_string()));
            }
            merge::prune_nulls_in_lists(&mut patch);
            Ok(merge_patch(original, &patch))
        }
        PatchType::StrategicMerge => strategic_merge_patch(original, &parse()?, schema_for(kind)),
    }
}

#[cfg(test)]
#[path = "kubectl_tests.rs"]
mod kubectl_tests;
