//! `/openapi/v3`: the root index and one document per group/version, built
//! once from the resource table and cached.
//!
//! The documents carry the paths and operations with their
//! `x-kubernetes-group-version-kind` and query parameters, which is what
//! kubectl reads to learn that the server validates fields itself
//! (`fieldValidation`). Object schemas are added by the OpenAPI issue.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use k1s_proto::resources::{self, ResourceInfo};
use k1s_proto::ApiError;
use serde_json::{json, Map, Value};

use super::{full, Body};

/// A version tag for the cached documents' URLs.
const HASH: &str = concat!("k1s-", env!("CARGO_PKG_VERSION"));

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn root() -> Value {
    let mut paths = Map::new();
    for (group, versions) in resources::group_versions() {
        for v in versions {
            let p = gv_path(group, v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={HASH}")}),
            );
        }
    }
    json!({"paths": paths})
}

fn param(name: &str, kind: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": kind, "uniqueItems": true}})
}

fn operation(r: &ResourceInfo, action: &str, params: &[(&str, &str)]) -> Value {
    let parameters: Vec<Value> = params.iter().map(|(n, k)| param(n, k)).collect();
    json!({
        "operationId": format!("{action}{}", r.kind),
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
    })
}

const WRITE_PARAMS: &[(&str, &str)] = &[
    ("dryRun", "string"),
    ("fieldManager", "string"),
    ("fieldValidation", "string"),
];
const PATCH_PARAMS: &[(&str, &str)] = &[
    ("dryRun", "string"),
    ("fieldManager", "string"),
    ("fieldValidation", "string"),
    ("force", "boolean"),
];
const LIST_PARAMS: &[(&str, &str)] = &[
    ("allowWatchBookmarks", "boolean"),
    ("continue", "string"),
    ("fieldSelector", "string"),
    ("labelSelector", "string"),
    ("limit", "integer"),
    ("resourceVersion", "string"),
    ("resourceVersionMatch", "string"),
    ("sendInitialEvents", "boolean"),
    ("timeoutSeconds", "integer"),
    ("watch", "boolean"),
];

fn gv_document(group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let prefix = format!("/{}", gv_path(group, version));
    for r in resources::resources_in(group, version) {
        let collection = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/{}", r.plural)
        };
        paths.insert(
            collection.clone(),
            json!({"get": operation(r, "list", LIST_PARAMS), "post": operation(r, "post", WRITE_PARAMS)}),
        );
        let item = format!("{collection}/{{name}}");
        paths.insert(
            item.clone(),
            json!({
                "get": operation(r, "get", &[]),
                "put": operation(r, "put", WRITE_PARAMS),
                "patch": operation(r, "patch", PATCH_PARAMS),
                "delete": operation(r, "delete", &[("dryRun", "string"), ("gracePeriodSeconds", "integer"), ("propagationPolicy", "string")]),
            }),
        );
        if r.has_status {
            paths.insert(
                format!("{item}/status"),
                json!({"get": operation(r, "get", &[]), "put": operation(r, "put", WRITE_PARAMS), "patch": operation(r, "patch", PATCH_PARAMS)}),
            );
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": super::discovery::KUBE_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

fn cached() -> &'static Vec<(String, Bytes)> {
    static DOCS: OnceLock<Vec<(String, Bytes)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut docs = vec![(String::new(), Bytes::from(root().to_string()))];
        for (group, versions) in resources::group_versions() {
            for v in versions {
                docs.push((gv_path(group, v), Bytes::from(gv_document(group, v).to_string())));
            }
        }
        docs
    })
}

/// Serves `/openapi/v3` (the index) and `/openapi/v3/{api/v1|apis/g/v}`.
pub fn serve_v3(rest: &str) -> Result<Response<Body>, ApiError> {
    let want = rest.trim_matches('/');
    let (_, bytes) = cached()
        .iter()
        .find(|(p, _)| p == want)
        .ok_or_else(ApiError::no_route)?;
    let mut resp = Response::new(full(bytes.clone()));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_name_their_kind_and_field_validation() {
        let doc = gv_document("apps", "v1");
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        let root = root();
        assert!(root["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/api/v1"));
        assert!(serve_v3("apis/batch/v1").is_ok());
        assert!(serve_v3("apis/nope/v1").is_err());
    }
}
