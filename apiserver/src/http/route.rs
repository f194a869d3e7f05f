//! Turns a request path into what it addresses.

use k1s_proto::{resources, ApiError, ResourceInfo};

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/healthz`, `/livez`, `/readyz` (and their sub-checks).
    Health,
    /// `/version`.
    Version,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/{group}`.
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`.
    ResourceList { group: String, version: String },
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3` and the per-group-version documents under it.
    OpenApiV3(String),
    /// A resource collection or object, possibly a subresource.
    Resource(ResourcePath),
}

/// A path to a collection, an object or a subresource of a served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// The resource served at the path.
    pub info: &'static ResourceInfo,
    /// The namespace from the path (`None` for cluster-scoped or all-namespaces).
    pub namespace: Option<String>,
    /// The object name (`None` for a collection).
    pub name: Option<String>,
    /// The subresource (`status`, `scale`, `finalize`).
    pub subresource: Option<String>,
    /// Whether the path used the legacy `/watch/` prefix.
    pub legacy_watch: bool,
}

/// Parses a request path.
pub fn parse(path: &str) -> Result<Route, ApiError> {
    let path = path.trim_end_matches('/');
    match path {
        "/healthz" | "/livez" | "/readyz" => return Ok(Route::Health),
        "/version" => return Ok(Route::Version),
        "/api" => return Ok(Route::CoreVersions),
        "/apis" => return Ok(Route::Groups),
        "/openapi/v2" => return Ok(Route::OpenApiV2),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/openapi/v3") {
        if rest.is_empty() || rest.starts_with('/') {
            return Ok(Route::OpenApiV3(rest.to_string()));
        }
    }
    if path.starts_with("/healthz/") || path.starts_with("/livez/") || path.starts_with("/readyz/") {
        return Ok(Route::Health);
    }
    let segments: Vec<String> = path
        .split('/')
        .skip(1)
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let (group, version, rest) = match segments.first().map(String::as_str) {
        Some("api") if segments.len() >= 2 => (String::new(), segments[1].clone(), &segments[2..]),
        Some("apis") if segments.len() == 2 => return Ok(Route::Group(segments[1].clone())),
        Some("apis") if segments.len() >= 3 => (segments[1].clone(), segments[2].clone(), &segments[3..]),
        _ => return Err(ApiError::no_route()),
    };
    if rest.is_empty() {
        let known = resources::group_versions()
            .iter()
            .any(|(g, vs)| *g == group && vs.contains(&version.as_str()));
        return if known {
            Ok(Route::ResourceList { group, version })
        } else {
            Err(ApiError::no_route())
        };
    }
    let (legacy_watch, rest) = match rest.first().map(String::as_str) {
        Some("watch") => (true, &rest[1..]),
        _ => (false, rest),
    };
    resource_path(&group, &version, rest, legacy_watch).map(Route::Resource)
}

fn resource_path(group: &str, version: &str, s: &[String], legacy_watch: bool) -> Result<ResourcePath, ApiError> {
    let find = |plural: &str| resources::find(group, version, plural).ok_or_else(ApiError::no_route);
    let make = |info, namespace: Option<&String>, name: Option<&String>, sub: Option<&String>| ResourcePath {
        info,
        namespace: namespace.cloned(),
        name: name.cloned(),
        subresource: sub.cloned(),
        legacy_watch,
    };
    // `namespaces/{ns}/{plural}/...` addresses a namespaced resource; `namespaces`,
    // `namespaces/{name}` and `namespaces/{name}/{status|finalize}` the Namespace itself.
    let namespace_subresource = group.is_empty() && s.len() == 3 && matches!(s[2].as_str(), "status" | "finalize");
    // `namespaces/{ns}/bindings` (create only) binds the pod the Binding names: pods' `binding`.
    if group.is_empty() && s.len() == 3 && s[0] == "namespaces" && s[2] == "bindings" {
        let binding = String::from("binding");
        return Ok(make(find("pods")?, Some(&s[1]), None, Some(&binding)));
    }
    if s.len() >= 3 && s[0] == "namespaces" && !namespace_subresource {
        let info = find(&s[2])?;
        if !info.namespaced {
            return Err(ApiError::no_route());
        }
        if s.len() > 5 {
            return Err(ApiError::no_route());
        }
        return Ok(make(info, Some(&s[1]), s.get(3), s.get(4)));
    }
    let info = find(&s[0])?;
    if s.len() > 3 {
        return Err(ApiError::no_route());
    }
    Ok(make(info, None, s.get(1), s.get(2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path).unwrap() {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        assert_eq!(parse("/healthz").unwrap(), Route::Health);
        assert_eq!(parse("/readyz/ping").unwrap(), Route::Health);
        assert_eq!(parse("/api").unwrap(), Route::CoreVersions);
        assert_eq!(
            parse("/apis/apps/v1").unwrap(),
            Route::ResourceList {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert!(parse("/apis/apps/v9").is_err());
        let p = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(p.info.plural, "pods");
        assert_eq!(p.namespace.as_deref(), Some("default"));
        assert_eq!(p.name.as_deref(), Some("web"));
        assert_eq!(p.subresource.as_deref(), Some("status"));
        let ns = res("/api/v1/namespaces/dev/finalize");
        assert_eq!(ns.info.plural, "namespaces");
        assert_eq!(ns.name.as_deref(), Some("dev"));
        assert_eq!(ns.subresource.as_deref(), Some("finalize"));
        let all = res("/apis/apps/v1/deployments");
        assert!(all.namespace.is_none() && all.name.is_none());
        let w = res("/api/v1/watch/namespaces/default/configmaps");
        assert!(w.legacy_watch);
        assert_eq!(w.info.plural, "configmaps");
        let node = res("/api/v1/nodes/n1");
        assert_eq!(node.name.as_deref(), Some("n1"));
        assert!(parse("/api/v1/namespaces/default/nodes").is_err());
        assert!(parse("/api/v1/widgets").is_err());
        assert!(parse("/nope").is_err());
        assert_eq!(parse("/openapi/v2").unwrap(), Route::OpenApiV2);
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1").unwrap(),
            Route::OpenApiV3("/apis/apps/v1".into())
        );
        assert!(parse("/openapi/v3x").is_err());
        let b = res("/api/v1/namespaces/dev/bindings");
        assert_eq!(b.info.plural, "pods");
        assert_eq!((b.namespace.as_deref(), b.name.as_deref()), (Some("dev"), None));
        assert_eq!(b.subresource.as_deref(), Some("binding"));
    }
}
