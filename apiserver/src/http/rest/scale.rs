//! The `scale` subresource (`autoscaling/v1` Scale) of Deployments,
//! ReplicaSets and StatefulSets.

use k1s_proto::meta::ObjectMeta;
use k1s_proto::selector::LabelSelector;
use k1s_proto::{ApiError, FieldError, ResourceInfo};
use serde_json::{json, Value};

use super::fieldvalidation::{check_patch, Directive};
use super::patch::{apply, patch_type};
use super::update::{guaranteed_update, UpdateMode};
use super::{get_stored, name_of};
use crate::api::Api;
use crate::http::query::Query;
use crate::http::route::ResourcePath;

/// `autoscaling/v1` Scale, for patching (it has no lists, so every patch type merges plainly).
pub(super) static SCALE: ResourceInfo = ResourceInfo {
    group: "autoscaling",
    version: "v1",
    kind: "Scale",
    plural: "scale",
    singular: "scale",
    namespaced: true,
    short_names: &[],
    categories: &[],
    has_status: false,
    has_scale: false,
    delete_collection: false,
    storage_group: "autoscaling",
    storage_resource: "scale",
    storage_version: "v1",
};

/// The Scale view of a stored object.
fn scale_of(obj: &Value) -> Value {
    let selector = LabelSelector::from_json(&obj["spec"]["selector"])
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut meta = serde_json::Map::new();
    for f in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = obj.metadata().and_then(|m| m.get(f)) {
            meta.insert(f.into(), v.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector,
        },
    })
}

/// `GET …/scale`.
pub fn get(api: &Api, path: &ResourcePath) -> Result<Value, ApiError> {
    Ok(scale_of(&get_stored(api, path)?))
}

/// Writes the replicas of a Scale into the object (with the Scale's resourceVersion as precondition).
async fn write_scale<F>(api: &Api, path: &ResourcePath, query: &Query, mut new_scale: F) -> Result<Value, ApiError>
where
    F: FnMut(&Value) -> Result<Value, ApiError>,
{
    let name = name_of(path)?.to_string();
    let updated = guaranteed_update(api, path, UpdateMode::Main, query, |current| {
        let scale = new_scale(&scale_of(current))?;
        let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
        if replicas < 0 {
            let err = FieldError::invalid("spec.replicas", replicas, "must be greater than or equal to 0");
            return Err(ApiError::new(
                422,
                "Invalid",
                format!("Scale.autoscaling \"{name}\" is invalid: {err}"),
            ));
        }
        let mut obj = current.clone();
        obj["spec"]["replicas"] = json!(replicas);
        match scale.resource_version() {
            Some(rv) if !rv.is_empty() => obj.set_meta("resourceVersion", json!(rv)),
            _ => {
                obj.remove_meta("resourceVersion");
            }
        }
        Ok(obj)
    })
    .await?;
    Ok(scale_of(&updated))
}

/// `PUT …/scale`.
pub async fn replace(api: &Api, path: &ResourcePath, body: Value, query: &Query) -> Result<Value, ApiError> {
    write_scale(api, path, query, |_| Ok(body.clone())).await
}

/// `PATCH …/scale`.
pub async fn patch(
    api: &Api,
    path: &ResourcePath,
    content_type: Option<&str>,
    body: &[u8],
    query: &Query,
) -> Result<Value, ApiError> {
    let pt = patch_type(content_type)?;
    let directive = Directive::of(query);
    write_scale(api, path, query, |current| {
        let patched = apply(&SCALE, current, pt, body)?;
        check_patch(&SCALE, pt, body, &patched, directive)?;
        Ok(patched)
    })
    .await
}
