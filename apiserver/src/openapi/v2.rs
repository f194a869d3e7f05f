//! The OpenAPI v2 (Swagger 2.0) document: every path of every served
//! group/version and every definition, as `/openapi/v2` serves it.

use serde_json::{json, Map, Value};

use super::definitions::{Definitions, V2_REF_PREFIX};
use super::paths::{self, In, Operation, Param, PathItem, RequestBody};
use super::special;
use k1s_proto::resources;

/// The patch formats a `PATCH` accepts, in kube-apiserver's order.
pub const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// The description of a response code.
pub fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        401 => "Unauthorized",
        _ => "",
    }
}

fn param(p: &Param) -> Value {
    let mut v = json!({
        "description": p.description,
        "in": match p.location { In::Path => "path", In::Query => "query" },
        "name": p.name,
        "type": p.kind,
        "uniqueItems": true,
    });
    if p.location == In::Path {
        v["required"] = json!(true);
    }
    v
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("{V2_REF_PREFIX}{name}")})
}

fn operation(op: &Operation) -> Value {
    let mut params: Vec<Value> = Vec::new();
    let consumes: Vec<&str> = match &op.body {
        Some(RequestBody::Object(schema)) => {
            params.push(json!({"in": "body", "name": "body", "required": true, "schema": reference(schema)}));
            vec!["*/*"]
        }
        Some(RequestBody::Patch) => {
            params.push(json!({"in": "body", "name": "body", "required": true, "schema": reference(super::definitions::meta_names::PATCH)}));
            PATCH_TYPES.to_vec()
        }
        None => vec!["*/*"],
    };
    params.extend(op.params.iter().map(param));
    let mut responses = Map::new();
    let mut produces = vec!["application/json"];
    for r in &op.replies {
        let mut v = json!({"description": status_text(r.code)});
        if let Some(s) = &r.schema {
            v["schema"] = reference(s);
        }
        if r.stream {
            produces = vec!["application/json", "application/json;stream=watch"];
        }
        responses.insert(r.code.to_string(), v);
    }
    responses.insert("401".into(), json!({"description": status_text(401)}));
    let mut v = json!({
        "consumes": consumes,
        "description": op.description,
        "operationId": op.id,
        "parameters": params,
        "produces": produces,
        "responses": responses,
        "schemes": ["https"],
        "tags": [op.tag],
    });
    if !op.action.is_empty() {
        v["x-kubernetes-action"] = json!(op.action);
    }
    if let Some((group, version, kind)) = op.gvk {
        v["x-kubernetes-group-version-kind"] = json!({"group": group, "kind": kind, "version": version});
    }
    v
}

/// Renders path items as a v2 `paths` object, with `operation` rendering each operation.
pub fn render_paths(
    items: &[PathItem],
    operation: impl Fn(&Operation) -> Value,
    param: impl Fn(&Param) -> Value,
) -> Map<String, Value> {
    let mut out = Map::new();
    for item in items {
        let mut v = Map::new();
        for op in &item.operations {
            v.insert(op.method.to_string(), operation(op));
        }
        if !item.params.is_empty() {
            v.insert(
                "parameters".into(),
                Value::Array(item.params.iter().map(&param).collect()),
            );
        }
        out.insert(item.path.clone(), Value::Object(v));
    }
    out
}

/// The whole v2 document.
pub fn document(defs: &Definitions) -> Value {
    let mut paths = Map::new();
    for (group, versions) in resources::group_versions() {
        for version in versions {
            let items = paths::group_version(defs, group, version);
            paths.extend(render_paths(&items, operation, param));
        }
    }
    let mut definitions = Map::new();
    for (name, schema) in &defs.schemas {
        definitions.insert(
            name.clone(),
            special::v2(name, schema).unwrap_or_else(|| schema.clone()),
        );
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": crate::http::discovery::KUBE_VERSION},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"},
        },
        "security": [{"BearerToken": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_document_has_paths_definitions_and_patch_types() {
        let defs = Definitions::generate();
        let doc = document(&defs);
        assert_eq!(doc["swagger"], "2.0");
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["consumes"][2], "application/strategic-merge-patch+json");
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert_eq!(
            doc["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"],
            "int-or-string"
        );
        assert_eq!(
            doc["definitions"]["io.k8s.api.core.v1.Pod"]["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        // Every $ref points at a definition of the document.
        let mut refs = Vec::new();
        super::super::definitions::collect_refs(&doc, &mut refs);
        for r in refs {
            assert!(doc["definitions"].get(&r).is_some(), "{r}");
        }
    }
}
