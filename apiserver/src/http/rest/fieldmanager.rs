//! Field management on every write: the manager name (the `fieldManager` query
//! parameter, else derived from the User-Agent), its validation, and recording
//! `metadata.managedFields` through `k1s_proto::apply`.

use k1s_proto::apply::{self, path::Path, Request, Tracked};
use k1s_proto::meta::now_rfc3339;
use k1s_proto::schema::{self, Definition};
use k1s_proto::{ApiError, FieldError, ResourceInfo};
use serde_json::Value;

use super::to_response;
use crate::http::query::Query;

/// The field manager of a request: `fieldManager`, else the User-Agent's product name.
pub fn manager(query: &Query) -> String {
    match query.field_manager.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => apply::manager_from_user_agent(query.user_agent.as_deref().unwrap_or("")),
    }
}

/// Validates `fieldManager` for a write whose options are `options`
/// (`CreateOptions`, `UpdateOptions`, `PatchOptions`), as Kubernetes does (422).
pub fn validate(options: &'static str, query: &Query, apply_patch: bool) -> Result<(), ApiError> {
    let manager = query.field_manager.as_deref().unwrap_or("");
    let mut errors = Vec::new();
    if apply_patch && manager.is_empty() {
        errors.push(FieldError::required("fieldManager", "is required for apply patch"));
    }
    for (kind, value, detail) in apply::validate_field_manager(manager) {
        errors.push(match kind.as_str() {
            "TooLong" => FieldError::too_long("fieldManager", apply::FIELD_MANAGER_MAX_LENGTH),
            _ => FieldError::invalid("fieldManager", value, detail),
        });
    }
    if errors.is_empty() {
        return Ok(());
    }
    let info = ResourceInfo {
        group: "meta.k8s.io",
        kind: options,
        ..*k1s_proto::resources::find("", "v1", "pods").ok_or_else(ApiError::no_route)?
    };
    Err(ApiError::invalid(&info, "", &errors))
}

/// The schema of the objects a resource serves (None for kinds the table lacks).
pub fn definition(info: &ResourceInfo) -> Option<&'static Definition> {
    schema::for_kind(info.group, info.version, info.kind)
}

/// The fields a write to `subresource` may own.
pub fn tracked(info: &ResourceInfo, subresource: &str) -> Tracked {
    match subresource {
        "" if info.has_status => Tracked::Except(vec![Path::fields(&["status"])]),
        "" => Tracked::All,
        "status" => Tracked::Only(vec![Path::fields(&["status"])]),
        _ => Tracked::All,
    }
}

/// Records a create, update or patch by the request's manager in `new`'s
/// managedFields (both objects in storage form; the field sets are computed in
/// the request's version). Apply requests record their own and are skipped.
pub fn track(info: &ResourceInfo, subresource: &str, query: &Query, old: Option<&Value>, new: &mut Value) {
    if query.applying {
        return;
    }
    let Some(def) = definition(info) else { return };
    let manager = manager(query);
    let now = now_rfc3339();
    let api_version = info.api_version();
    let req = Request {
        def,
        api_version: &api_version,
        subresource,
        manager: &manager,
        tracked: tracked(info, subresource),
        now: &now,
    };
    let old = old.map(|o| to_response(info, o.clone()));
    let mut versioned = to_response(info, new.clone());
    apply::track_update(&req, old.as_ref(), &mut versioned);
    let managed = versioned["metadata"].get("managedFields").cloned();
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        match managed {
            Some(m) => {
                meta.insert("managedFields".into(), m);
            }
            None => {
                meta.remove("managedFields");
            }
        }
    }
}
