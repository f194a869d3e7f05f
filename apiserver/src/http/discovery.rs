//! Discovery: `/version`, `/api`, `/apis`, per-group and per-version resource
//! lists, and aggregated discovery (`apidiscovery.k8s.io/v2`) when asked for.

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use k1s_proto::resources::{self, ResourceInfo};
use k1s_proto::ApiError;
use serde_json::{json, Value};

use super::route::Route;
use super::{json_response, Body};

/// The Kubernetes version k1s reports (the API types are v1.33's).
pub const KUBE_VERSION: &str = "v1.33.0+k1s";

/// `GET /version`.
pub fn version() -> Response<Body> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    };
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1",
            "minor": "33",
            "gitVersion": KUBE_VERSION,
            "gitCommit": env!("CARGO_PKG_VERSION"),
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "rust",
            "compiler": "rustc",
            "platform": format!("linux/{arch}"),
        }),
    )
}

/// Serves a discovery route, honouring an aggregated-discovery `Accept`.
pub fn serve(route: &Route, headers: &HeaderMap) -> Result<Response<Body>, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let aggregated = aggregated_version(accept);
    match route {
        Route::CoreVersions => Ok(match aggregated {
            Some(v) => aggregated_response(v, &[""]),
            None => json_response(
                StatusCode::OK,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
            ),
        }),
        Route::Groups => Ok(match aggregated {
            Some(v) => {
                let groups: Vec<&str> = resources::group_versions()
                    .into_iter()
                    .map(|(g, _)| g)
                    .filter(|g| !g.is_empty())
                    .collect();
                aggregated_response(v, &groups)
            }
            None => {
                let groups: Vec<Value> = resources::group_versions()
                    .into_iter()
                    .filter(|(g, _)| !g.is_empty())
                    .map(|(g, vs)| api_group(g, &vs))
                    .collect();
                json_response(
                    StatusCode::OK,
                    &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
                )
            }
        }),
        Route::Group(name) => {
            let (g, vs) = resources::group_versions()
                .into_iter()
                .find(|(g, _)| !g.is_empty() && g == name)
                .ok_or_else(ApiError::no_route)?;
            let mut group = api_group(g, &vs);
            group["kind"] = json!("APIGroup");
            group["apiVersion"] = json!("v1");
            Ok(json_response(StatusCode::OK, &group))
        }
        Route::ResourceList { group, version } => Ok(json_response(StatusCode::OK, &resource_list(group, version))),
        _ => Err(ApiError::no_route()),
    }
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn api_group(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0].clone()})
}

/// A subresource as discovery lists it.
struct Subresource {
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
}

/// The subresources served for a resource.
fn subresources(r: &ResourceInfo) -> Vec<Subresource> {
    let own = |name, verbs| Subresource {
        name,
        group: r.group,
        version: r.version,
        kind: r.kind,
        verbs,
    };
    let mut out = Vec::new();
    if r.plural == "namespaces" {
        out.push(own("finalize", &["update"][..]));
    }
    if r.plural == "serviceaccounts" {
        out.push(Subresource {
            name: "token",
            group: "authentication.k8s.io",
            version: "v1",
            kind: "TokenRequest",
            verbs: &["create"],
        });
    }
    if r.has_scale {
        out.push(Subresource {
            name: "scale",
            group: "autoscaling",
            version: "v1",
            kind: "Scale",
            verbs: &["get", "patch", "update"],
        });
    }
    if r.group.is_empty() && r.plural == "pods" {
        let core = |name, kind, verbs| Subresource {
            name,
            group: "",
            version: "v1",
            kind,
            verbs,
        };
        out.push(core("attach", "PodAttachOptions", &["create", "get"][..]));
        out.push(core("binding", "Binding", &["create"][..]));
        out.push(Subresource {
            name: "eviction",
            group: "policy",
            version: "v1",
            kind: "Eviction",
            verbs: &["create"],
        });
        out.push(core("exec", "PodExecOptions", &["create", "get"][..]));
        out.push(core("log", "Pod", &["get"][..]));
        out.push(core("portforward", "PodPortForwardOptions", &["create", "get"][..]));
    }
    if r.has_status {
        out.push(own("status", &["get", "patch", "update"][..]));
    }
    out
}

/// `bindings`: create-only, served by pods' `binding` (kubectl finds kind Binding through it).
fn bindings_entry() -> Value {
    json!({"name": "bindings", "singularName": "binding", "namespaced": true, "kind": "Binding", "verbs": ["create"]})
}

/// `APIResourceList` for one group/version.
pub fn resource_list(group: &str, version: &str) -> Value {
    let mut list = Vec::new();
    if group.is_empty() && version == "v1" {
        list.push(bindings_entry());
    }
    for r in resources::resources_in(group, version) {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs(),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        list.push(entry);
        for sub in subresources(r) {
            let mut e = json!({
                "name": format!("{}/{}", r.plural, sub.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            if sub.group != r.group || sub.version != r.version {
                e["group"] = json!(sub.group);
                e["version"] = json!(sub.version);
            }
            list.push(e);
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version), "resources": list})
}

/// Which aggregated discovery version the client accepts, preferring v2.
fn aggregated_version(accept: &str) -> Option<&'static str> {
    let mut best = None;
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        if !params.contains(&"as=APIGroupDiscoveryList") || !params.contains(&"g=apidiscovery.k8s.io") {
            continue;
        }
        if params.contains(&"v=v2") {
            return Some("v2");
        }
        if params.contains(&"v=v2beta1") {
            best = Some("v2beta1");
        }
    }
    best
}

fn aggregated_response(version: &'static str, groups: &[&str]) -> Response<Body> {
    let items: Vec<Value> = resources::group_versions()
        .into_iter()
        .filter(|(g, _)| groups.contains(g))
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let mut res: Vec<Value> = Vec::new();
                    if g.is_empty() && *v == "v1" {
                        res.push(json!({
                            "resource": "bindings",
                            "responseKind": {"group": "", "version": "v1", "kind": "Binding"},
                            "scope": "Namespaced",
                            "singularResource": "binding",
                            "verbs": ["create"],
                        }));
                    }
                    res.extend(resources::resources_in(g, v).map(aggregated_resource));
                    json!({"version": v, "resources": res, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    });
    let mut resp = json_response(StatusCode::OK, &body);
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(v) = HeaderValue::from_str(&ct) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let mut e = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs(),
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    let subs: Vec<Value> = subresources(r)
        .into_iter()
        .map(|s| {
            json!({"subresource": s.name, "responseKind": {"group": s.group, "version": s.version, "kind": s.kind}, "verbs": s.verbs})
        })
        .collect();
    if !subs.is_empty() {
        e["subresources"] = json!(subs);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_aggregated_version() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(kubectl), Some("v2"));
        assert_eq!(
            aggregated_version("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"),
            Some("v2beta1")
        );
        assert_eq!(aggregated_version("application/json"), None);
    }

    #[test]
    fn lists_subresources() {
        let apps = resource_list("apps", "v1");
        let names: Vec<&str> = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments/scale") && names.contains(&"deployments/status"));
        let core = resource_list("", "v1");
        let ns = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "namespaces")
            .unwrap();
        assert_eq!(ns["shortNames"], json!(["ns"]));
        assert!(!ns["verbs"].as_array().unwrap().contains(&json!("deletecollection")));
        let token = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "serviceaccounts/token")
            .unwrap();
        assert_eq!(token["kind"], "TokenRequest");
        assert_eq!(token["group"], "authentication.k8s.io");
        assert_eq!(token["verbs"], json!(["create"]));
    }
}
