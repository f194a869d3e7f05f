//! The OpenAPI v3 documents: one per group/version (`/openapi/v3/apis/apps/v1`)
//! with that group/version's paths and the schemas they reach, refs into
//! `#/components/schemas/`, and a `$ref` with sibling fields written as
//! `allOf: [{$ref}]` plus the siblings, as kube-apiserver does.

use serde_json::{json, Map, Value};

use super::definitions::{meta_names, Definitions, V2_REF_PREFIX};
use super::paths::{self, In, Operation, Param, RequestBody};
use super::special;
use super::v2::{render_paths, status_text, PATCH_TYPES};

/// Where schemas live in an OpenAPI v3 document.
pub const V3_REF_PREFIX: &str = "#/components/schemas/";

fn v3_ref(name: &str) -> String {
    format!("{V3_REF_PREFIX}{name}")
}

/// Rewrites a v2 schema for v3: refs into `#/components/schemas/`, and a ref
/// with siblings (a description) as `allOf: [{$ref}]` next to them.
pub fn convert_schema(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let reference = map
                .get("$ref")
                .and_then(Value::as_str)
                .map(|r| r.strip_prefix(V2_REF_PREFIX).map_or_else(|| r.to_string(), v3_ref));
            let mut out = Map::new();
            for (k, v) in map {
                if k != "$ref" {
                    out.insert(k, convert_schema(v));
                }
            }
            match reference {
                Some(r) if out.is_empty() => {
                    out.insert("$ref".into(), Value::String(r));
                }
                Some(r) => {
                    out.insert("allOf".into(), json!([{"$ref": r}]));
                }
                None => {}
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(convert_schema).collect()),
        other => other,
    }
}

fn param(p: &Param) -> Value {
    let mut v = json!({
        "description": p.description,
        "in": match p.location { In::Path => "path", In::Query => "query" },
        "name": p.name,
        "schema": {"type": p.kind, "uniqueItems": true},
    });
    if p.location == In::Path {
        v["required"] = json!(true);
    }
    v
}

fn schema_ref(name: &str) -> Value {
    json!({"schema": {"$ref": v3_ref(name)}})
}

fn operation(op: &Operation) -> Value {
    let mut v = json!({
        "description": op.description,
        "operationId": op.id,
        "tags": [op.tag],
    });
    if !op.params.is_empty() {
        v["parameters"] = Value::Array(op.params.iter().map(param).collect());
    }
    match &op.body {
        Some(RequestBody::Object(schema)) => {
            v["requestBody"] = json!({"content": {"*/*": schema_ref(schema)}, "required": true});
        }
        Some(RequestBody::Patch) => {
            let content: Map<String, Value> = PATCH_TYPES
                .iter()
                .map(|t| (t.to_string(), schema_ref(meta_names::PATCH)))
                .collect();
            v["requestBody"] = json!({"content": content, "required": true});
        }
        None => {}
    }
    let mut responses = Map::new();
    for r in &op.replies {
        let mut reply = json!({"description": status_text(r.code)});
        if let Some(s) = &r.schema {
            let mut content = Map::new();
            content.insert("application/json".into(), schema_ref(s));
            if r.stream {
                content.insert("application/json;stream=watch".into(), schema_ref(s));
            }
            reply["content"] = Value::Object(content);
        }
        responses.insert(r.code.to_string(), reply);
    }
    responses.insert("401".into(), json!({"description": status_text(401)}));
    v["responses"] = Value::Object(responses);
    if !op.action.is_empty() {
        v["x-kubernetes-action"] = json!(op.action);
    }
    if let Some((group, version, kind)) = op.gvk {
        v["x-kubernetes-group-version-kind"] = json!({"group": group, "kind": kind, "version": version});
    }
    v
}

/// The v3 document of one group/version.
pub fn document(defs: &Definitions, group: &str, version: &str) -> Value {
    let items = paths::group_version(defs, group, version);
    let paths = render_paths(&items, operation, param);
    let roots = paths::referenced_schemas(&items);
    let mut schemas = Map::new();
    for name in defs.closure(roots.iter().map(String::as_str)) {
        let Some(generated) = defs.schemas.get(&name) else {
            continue;
        };
        let schema = special::v3(&name, generated).unwrap_or_else(|| convert_schema(generated.clone()));
        schemas.insert(name, schema);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::http::discovery::KUBE_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"},
            },
        },
        "security": [{"BearerToken": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_with_siblings_become_all_of() {
        let v = convert_schema(json!({
            "properties": {
                "metadata": {"$ref": "#/definitions/io.k8s.X", "description": "d"},
                "items": {"type": "array", "items": {"$ref": "#/definitions/io.k8s.Y"}},
            }
        }));
        assert_eq!(
            v["properties"]["metadata"],
            json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.X"}], "description": "d"})
        );
        assert_eq!(
            v["properties"]["items"]["items"],
            json!({"$ref": "#/components/schemas/io.k8s.Y"})
        );
    }

    #[test]
    fn apps_document_has_operations_schemas_and_no_dangling_refs() {
        let defs = Definitions::generate();
        let doc = document(&defs, "apps", "v1");
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert!(patch["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_some());
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        let schemas = &doc["components"]["schemas"];
        let deploy = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deploy["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
        );
        assert_eq!(
            deploy["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        assert!(schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
            .get("oneOf")
            .is_some());
        assert!(schemas.get("io.k8s.api.batch.v1.Job").is_none());
        let mut refs = Vec::new();
        collect_v3_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            assert!(schemas.get(&r).is_some(), "{r}");
        }
    }

    fn collect_v3_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        let r = x.as_str().unwrap();
                        out.push(r.strip_prefix(V3_REF_PREFIX).expect(r).to_string());
                    } else {
                        collect_v3_refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| collect_v3_refs(x, out)),
            _ => {}
        }
    }
}
