//! The REST paths of one group/version and their operations, in a version-neutral
//! form that [`super::v2`] and [`super::v3`] render. Operation IDs, actions and
//! descriptions follow kube-apiserver's (`listCoreV1NamespacedPod`,
//! `x-kubernetes-action: list`).

use k1s_proto::resources::{self, ResourceInfo};

use super::definitions::{meta_names, Definitions, KindSchema};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    /// A path segment (`{name}`, `{namespace}`).
    Path,
    /// A query parameter.
    Query,
}

/// One request parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Parameter name.
    pub name: &'static str,
    /// Where it goes.
    pub location: In,
    /// `string`, `integer` or `boolean`.
    pub kind: &'static str,
    /// What it does.
    pub description: String,
}

impl Param {
    fn query(name: &'static str) -> Param {
        let (kind, description) = query_param(name);
        Param {
            name,
            location: In::Query,
            kind,
            description: description.to_string(),
        }
    }

    fn path(name: &'static str, description: String) -> Param {
        Param {
            name,
            location: In::Path,
            kind: "string",
            description,
        }
    }
}

/// The type and description of the query parameters operations take.
fn query_param(name: &str) -> (&'static str, &'static str) {
    match name {
        "allowWatchBookmarks" => ("boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored."),
        "continue" => ("string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize."),
        "dryRun" => ("string", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed"),
        "fieldManager" => ("string", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."),
        "fieldSelector" => ("string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
        "fieldValidation" => ("string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered."),
        "force" => ("boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."),
        "gracePeriodSeconds" => ("integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately."),
        "labelSelector" => ("string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
        "limit" => ("integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results."),
        "orphanDependents" => ("boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."),
        "pretty" => ("string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."),
        "propagationPolicy" => ("string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."),
        "resourceVersion" => ("string", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
        "resourceVersionMatch" => ("string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
        "sendInitialEvents" => ("boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event  will be sent."),
        "timeoutSeconds" => ("integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."),
        "watch" => ("boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
        _ => ("string", ""),
    }
}

const LIST_PARAMS: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
const WRITE_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
const PATCH_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "force"];
const DELETE_PARAMS: &[&str] = &["dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy"];
const DELETE_COLLECTION_PARAMS: &[&str] = &[
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
];

/// What an operation's request body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// An object of the named definition (`*/*`).
    Object(String),
    /// A patch in one of the four patch formats.
    Patch,
}

/// What a response holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub code: u16,
    /// The definition of the body (none for 401).
    pub schema: Option<String>,
    /// Whether the body may be a watch stream.
    pub stream: bool,
}

/// One operation on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `get`, `post`, `put`, `patch` or `delete`.
    pub method: &'static str,
    /// E.g. `listCoreV1NamespacedPod`.
    pub id: String,
    /// What the operation does.
    pub description: String,
    /// `x-kubernetes-action`.
    pub action: &'static str,
    /// `x-kubernetes-group-version-kind` (none for discovery).
    pub gvk: Option<(&'static str, &'static str, &'static str)>,
    /// Query parameters.
    pub params: Vec<Param>,
    /// Request body.
    pub body: Option<RequestBody>,
    /// Responses.
    pub replies: Vec<Reply>,
    /// The tag, e.g. `core_v1`.
    pub tag: String,
}

/// One path and its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathItem {
    /// The path template.
    pub path: String,
    /// Parameters shared by the operations (path segments, `pretty`).
    pub params: Vec<Param>,
    /// The operations.
    pub operations: Vec<Operation>,
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The group as in operation IDs: `Core`, `Apps`, `RbacAuthorization`, `Networking`.
fn group_label(group: &str) -> String {
    if group.is_empty() {
        return "Core".to_string();
    }
    group.trim_end_matches(".k8s.io").split('.').map(upper_first).collect()
}

/// The tag of a group/version: `core_v1`, `rbacAuthorization_v1`.
fn tag(group: &str, version: &str) -> String {
    let label = group_label(group);
    let mut c = label.chars();
    let lower: String = c
        .next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default();
    format!("{lower}_{version}")
}

/// `/api/v1` or `/apis/{group}/{version}`.
pub fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

fn pretty() -> Param {
    Param::query("pretty")
}

fn params(names: &[&'static str]) -> Vec<Param> {
    names.iter().map(|n| Param::query(n)).collect()
}

/// Builds the operations of one resource.
struct Builder<'a> {
    r: &'static ResourceInfo,
    kind: &'a KindSchema,
    scale: Option<&'a KindSchema>,
    /// `Binding`, for pods' `binding`.
    binding: Option<&'a KindSchema>,
    /// `policy/v1` `Eviction`, for pods' `eviction`.
    eviction: Option<&'a KindSchema>,
    /// `CoreV1`, `AppsV1`.
    gv: String,
    tag: String,
}

impl Builder<'_> {
    fn op(&self, method: &'static str, id: String, description: String, action: &'static str) -> Operation {
        Operation {
            method,
            id,
            description,
            action,
            gvk: Some((self.r.group, self.r.version, self.r.kind)),
            params: Vec::new(),
            body: None,
            replies: Vec::new(),
            tag: self.tag.clone(),
        }
    }

    fn reply(code: u16, schema: &str) -> Reply {
        Reply {
            code,
            schema: Some(schema.to_string()),
            stream: false,
        }
    }

    /// `Namespaced` for namespaced resources, empty otherwise.
    fn scope(&self) -> &'static str {
        if self.r.namespaced {
            "Namespaced"
        } else {
            ""
        }
    }

    fn collection(&self) -> String {
        let prefix = gv_prefix(self.r.group, self.r.version);
        if self.r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", self.r.plural)
        } else {
            format!("{prefix}/{}", self.r.plural)
        }
    }

    fn scope_params(&self) -> Vec<Param> {
        let mut out = Vec::new();
        if self.r.namespaced {
            out.push(Param::path(
                "namespace",
                "object name and auth scope, such as for teams and projects".to_string(),
            ));
        }
        out
    }

    fn name_param(&self, what: &str) -> Param {
        Param::path("name", format!("name of the {what}"))
    }

    fn paths(&self) -> Vec<PathItem> {
        let (k, gv, scope) = (self.r.kind, &self.gv, self.scope());
        let object = self.kind.name.to_string();
        let list = self.kind.list_name();
        let mut out = Vec::new();

        let mut list_op = self.op(
            "get",
            format!("list{gv}{scope}{k}"),
            format!("list or watch objects of kind {k}"),
            "list",
        );
        list_op.params = params(LIST_PARAMS);
        list_op.replies = vec![Reply {
            code: 200,
            schema: Some(list.clone()),
            stream: true,
        }];
        let mut create = self.op("post", format!("create{gv}{scope}{k}"), format!("create a {k}"), "post");
        create.params = params(WRITE_PARAMS);
        create.body = Some(RequestBody::Object(object.clone()));
        create.replies = vec![
            Self::reply(200, &object),
            Self::reply(201, &object),
            Self::reply(202, &object),
        ];
        let mut ops = vec![list_op, create];
        if self.r.delete_collection {
            let mut dc = self.op(
                "delete",
                format!("delete{gv}Collection{scope}{k}"),
                format!("delete collection of {k}"),
                "deletecollection",
            );
            dc.params = params(DELETE_COLLECTION_PARAMS);
            dc.body = Some(RequestBody::Object(meta_names::DELETE_OPTIONS.to_string()));
            dc.replies = vec![Self::reply(200, meta_names::STATUS)];
            ops.push(dc);
        }
        let mut shared = self.scope_params();
        shared.push(pretty());
        out.push(PathItem {
            path: self.collection(),
            params: shared,
            operations: ops,
        });

        // One object.
        let mut read = self.op(
            "get",
            format!("read{gv}{scope}{k}"),
            format!("read the specified {k}"),
            "get",
        );
        read.replies = vec![Self::reply(200, &object)];
        let mut replace = self.op(
            "put",
            format!("replace{gv}{scope}{k}"),
            format!("replace the specified {k}"),
            "put",
        );
        replace.params = params(WRITE_PARAMS);
        replace.body = Some(RequestBody::Object(object.clone()));
        replace.replies = vec![Self::reply(200, &object), Self::reply(201, &object)];
        let mut delete = self.op(
            "delete",
            format!("delete{gv}{scope}{k}"),
            format!("delete a {k}"),
            "delete",
        );
        delete.params = params(DELETE_PARAMS);
        delete.body = Some(RequestBody::Object(meta_names::DELETE_OPTIONS.to_string()));
        delete.replies = vec![
            Self::reply(200, meta_names::STATUS),
            Self::reply(202, meta_names::STATUS),
        ];
        let mut patch = self.op(
            "patch",
            format!("patch{gv}{scope}{k}"),
            format!("partially update the specified {k}"),
            "patch",
        );
        patch.params = params(PATCH_PARAMS);
        patch.body = Some(RequestBody::Patch);
        patch.replies = vec![Self::reply(200, &object), Self::reply(201, &object)];
        let item_params = || {
            let mut p = vec![self.name_param(k)];
            p.extend(self.scope_params());
            p.push(pretty());
            p
        };
        let item = format!("{}/{{name}}", self.collection());
        out.push(PathItem {
            path: item.clone(),
            params: item_params(),
            operations: vec![read, replace, delete, patch],
        });

        if self.r.has_status {
            out.push(self.subresource(
                &item,
                "status",
                "Status",
                &object,
                (self.r.group, self.r.version, k),
                item_params(),
            ));
        }
        if let (true, Some(scale)) = (self.r.has_scale, self.scale) {
            let mut p = vec![self.name_param("Scale")];
            p.extend(self.scope_params());
            p.push(pretty());
            out.push(self.subresource(
                &item,
                "scale",
                "Scale",
                &scale.name,
                (scale.group, scale.version, scale.kind),
                p,
            ));
        }
        if self.r.group.is_empty() && self.r.plural == "pods" {
            for (sub, kind) in [("binding", self.binding), ("eviction", self.eviction)] {
                if let Some(kind) = kind {
                    out.push(self.create_subresource(&item, sub, kind));
                }
            }
        }
        if self.r.group.is_empty() && self.r.plural == "namespaces" {
            let mut fin = self.op(
                "put",
                format!("replace{gv}NamespaceFinalize"),
                "replace finalize of the specified Namespace".to_string(),
                "put",
            );
            fin.params = params(&["dryRun", "fieldManager", "fieldValidation"]);
            fin.body = Some(RequestBody::Object(object.clone()));
            fin.replies = vec![Self::reply(200, &object), Self::reply(201, &object)];
            let mut p = vec![self.name_param(k)];
            p.push(pretty());
            out.push(PathItem {
                path: format!("{item}/finalize"),
                params: p,
                operations: vec![fin],
            });
        }

        let prefix = gv_prefix(self.r.group, self.r.version);
        if self.r.namespaced {
            let mut all = self.op(
                "get",
                format!("list{gv}{k}ForAllNamespaces"),
                format!("list or watch objects of kind {k}"),
                "list",
            );
            all.params = params(LIST_PARAMS);
            all.params.push(pretty());
            all.replies = vec![Reply {
                code: 200,
                schema: Some(list.clone()),
                stream: true,
            }];
            out.push(PathItem {
                path: format!("{prefix}/{}", self.r.plural),
                params: Vec::new(),
                operations: vec![all],
            });
        }

        // The deprecated watch paths.
        let watch_reply = || {
            vec![Reply {
                code: 200,
                schema: Some(meta_names::WATCH_EVENT.to_string()),
                stream: true,
            }]
        };
        let ns_watch = if self.r.namespaced {
            format!("{prefix}/watch/namespaces/{{namespace}}/{}", self.r.plural)
        } else {
            format!("{prefix}/watch/{}", self.r.plural)
        };
        let mut watch_list = self.op(
            "get",
            format!("watch{gv}{scope}{k}List"),
            format!("watch individual changes to a list of {k}. deprecated: use the 'watch' parameter with a list operation instead."),
            "watchlist",
        );
        watch_list.params = params(LIST_PARAMS);
        watch_list.params.push(pretty());
        watch_list.replies = watch_reply();
        out.push(PathItem {
            path: ns_watch.clone(),
            params: self.scope_params(),
            operations: vec![watch_list],
        });
        let mut watch = self.op(
            "get",
            format!("watch{gv}{scope}{k}"),
            format!("watch changes to an object of kind {k}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."),
            "watch",
        );
        watch.params = params(LIST_PARAMS);
        watch.params.push(pretty());
        watch.replies = watch_reply();
        let mut p = vec![self.name_param(k)];
        p.extend(self.scope_params());
        out.push(PathItem {
            path: format!("{ns_watch}/{{name}}"),
            params: p,
            operations: vec![watch],
        });
        if self.r.namespaced {
            let mut all = self.op(
                "get",
                format!("watch{gv}{k}ListForAllNamespaces"),
                format!("watch individual changes to a list of {k}. deprecated: use the 'watch' parameter with a list operation instead."),
                "watchlist",
            );
            all.params = params(LIST_PARAMS);
            all.params.push(pretty());
            all.replies = watch_reply();
            out.push(PathItem {
                path: format!("{prefix}/watch/{}", self.r.plural),
                params: Vec::new(),
                operations: vec![all],
            });
        }
        out
    }

    /// A create-only subresource of a pod (`binding`, `eviction`) whose body and reply are `kind`.
    fn create_subresource(&self, item: &str, sub: &str, kind: &KindSchema) -> PathItem {
        let (k, gv, scope) = (self.r.kind, &self.gv, self.scope());
        let mut create = self.op(
            "post",
            format!("create{gv}{scope}{k}{}", kind.kind),
            format!("create {sub} of a {k}"),
            "post",
        );
        create.gvk = Some((kind.group, kind.version, kind.kind));
        create.params = params(WRITE_PARAMS);
        create.body = Some(RequestBody::Object(kind.name.to_string()));
        create.replies = vec![
            Self::reply(200, &kind.name),
            Self::reply(201, &kind.name),
            Self::reply(202, &kind.name),
        ];
        let mut shared = vec![self.name_param(kind.kind)];
        shared.extend(self.scope_params());
        shared.push(pretty());
        PathItem {
            path: format!("{item}/{sub}"),
            params: shared,
            operations: vec![create],
        }
    }

    /// `status` or `scale`: get, put and patch.
    fn subresource(
        &self,
        item: &str,
        sub: &str,
        label: &str,
        schema: &str,
        gvk: (&'static str, &'static str, &'static str),
        shared: Vec<Param>,
    ) -> PathItem {
        let (k, gv, scope) = (self.r.kind, &self.gv, self.scope());
        let mut read = self.op(
            "get",
            format!("read{gv}{scope}{k}{label}"),
            format!("read {sub} of the specified {k}"),
            "get",
        );
        read.replies = vec![Self::reply(200, schema)];
        let mut replace = self.op(
            "put",
            format!("replace{gv}{scope}{k}{label}"),
            format!("replace {sub} of the specified {k}"),
            "put",
        );
        replace.params = params(WRITE_PARAMS);
        replace.body = Some(RequestBody::Object(schema.to_string()));
        replace.replies = vec![Self::reply(200, schema), Self::reply(201, schema)];
        let mut patch = self.op(
            "patch",
            format!("patch{gv}{scope}{k}{label}"),
            format!("partially update {sub} of the specified {k}"),
            "patch",
        );
        patch.params = params(PATCH_PARAMS);
        patch.body = Some(RequestBody::Patch);
        patch.replies = vec![Self::reply(200, schema), Self::reply(201, schema)];
        let mut operations = vec![read, replace, patch];
        for op in &mut operations {
            op.gvk = Some(gvk);
        }
        PathItem {
            path: format!("{item}/{sub}"),
            params: shared,
            operations,
        }
    }
}

/// The paths of one group/version, with `/{prefix}/` (the resource list) first.
pub fn group_version(defs: &Definitions, group: &str, version: &str) -> Vec<PathItem> {
    let gv = format!("{}{}", group_label(group), upper_first(version));
    let tag = tag(group, version);
    let discovery = Operation {
        method: "get",
        id: format!("get{gv}APIResources"),
        description: "get available resources".to_string(),
        action: "",
        gvk: None,
        params: Vec::new(),
        body: None,
        replies: vec![Reply {
            code: 200,
            schema: Some(meta_names::API_RESOURCE_LIST.to_string()),
            stream: false,
        }],
        tag: tag.clone(),
    };
    let mut out = vec![PathItem {
        path: format!("{}/", gv_prefix(group, version)),
        params: Vec::new(),
        operations: vec![discovery],
    }];
    let binding = defs.kind("", "v1", "Binding");
    if let (true, Some(kind)) = (group.is_empty() && version == "v1", binding) {
        out.push(bindings_path(kind, &gv, &tag));
    }
    for r in resources::resources_in(group, version) {
        let Some(kind) = defs.kind_of(r) else { continue };
        let b = Builder {
            r,
            kind,
            scale: defs.scale(),
            binding,
            eviction: defs.kind("policy", "v1", "Eviction"),
            gv: gv.clone(),
            tag: tag.clone(),
        };
        out.extend(b.paths());
    }
    out
}

/// `POST /api/v1/namespaces/{namespace}/bindings` (create only).
fn bindings_path(kind: &KindSchema, gv: &str, tag: &str) -> PathItem {
    let mut create = Operation {
        method: "post",
        id: format!("create{gv}NamespacedBinding"),
        description: "create a Binding".to_string(),
        action: "post",
        gvk: Some((kind.group, kind.version, kind.kind)),
        params: params(WRITE_PARAMS),
        body: Some(RequestBody::Object(kind.name.to_string())),
        replies: Vec::new(),
        tag: tag.to_string(),
    };
    create.replies = [200, 201, 202]
        .into_iter()
        .map(|c| Builder::reply(c, &kind.name))
        .collect();
    PathItem {
        path: format!("{}/namespaces/{{namespace}}/bindings", gv_prefix("", "v1")),
        params: vec![
            Param::path(
                "namespace",
                "object name and auth scope, such as for teams and projects".to_string(),
            ),
            pretty(),
        ],
        operations: vec![create],
    }
}

/// The definitions the operations of `paths` refer to.
pub fn referenced_schemas(paths: &[PathItem]) -> Vec<String> {
    let mut out = vec![meta_names::PATCH.to_string()];
    for item in paths {
        for op in &item.operations {
            if let Some(RequestBody::Object(s)) = &op.body {
                out.push(s.clone());
            }
            out.extend(op.replies.iter().filter_map(|r| r.schema.clone()));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kube_apiserver() {
        assert_eq!(group_label(""), "Core");
        assert_eq!(group_label("rbac.authorization.k8s.io"), "RbacAuthorization");
        assert_eq!(group_label("networking.k8s.io"), "Networking");
        assert_eq!(tag("rbac.authorization.k8s.io", "v1"), "rbacAuthorization_v1");
        assert_eq!(tag("", "v1"), "core_v1");
    }

    #[test]
    fn pod_paths_and_operations() {
        let defs = Definitions::generate();
        let paths = group_version(&defs, "", "v1");
        let find = |p: &str| paths.iter().find(|i| i.path == p).unwrap_or_else(|| panic!("{p}"));
        let item = find("/api/v1/namespaces/{namespace}/pods/{name}");
        let ids: Vec<&str> = item.operations.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "readCoreV1NamespacedPod",
                "replaceCoreV1NamespacedPod",
                "deleteCoreV1NamespacedPod",
                "patchCoreV1NamespacedPod"
            ]
        );
        let all = find("/api/v1/pods");
        assert_eq!(all.operations[0].id, "listCoreV1PodForAllNamespaces");
        assert_eq!(all.operations[0].gvk, Some(("", "v1", "Pod")));
        let ns = find("/api/v1/namespaces/{name}/finalize");
        assert_eq!(ns.operations[0].id, "replaceCoreV1NamespaceFinalize");
        assert!(find("/api/v1/watch/namespaces/{namespace}/pods/{name}").operations[0].action == "watch");
        let bindings = &find("/api/v1/namespaces/{namespace}/bindings").operations[0];
        assert_eq!(
            (bindings.id.as_str(), bindings.method, bindings.gvk),
            ("createCoreV1NamespacedBinding", "post", Some(("", "v1", "Binding")))
        );
        let binding = &find("/api/v1/namespaces/{namespace}/pods/{name}/binding").operations[0];
        assert_eq!(binding.id, "createCoreV1NamespacedPodBinding");
        assert_eq!(
            binding.body,
            Some(RequestBody::Object("io.k8s.api.core.v1.Binding".into()))
        );
        let eviction = &find("/api/v1/namespaces/{namespace}/pods/{name}/eviction").operations[0];
        assert_eq!(eviction.id, "createCoreV1NamespacedPodEviction");
        assert_eq!(eviction.gvk, Some(("policy", "v1", "Eviction")));
        let apps = group_version(&defs, "apps", "v1");
        let scale = apps
            .iter()
            .find(|i| i.path == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale")
            .expect("scale path");
        assert_eq!(scale.operations[2].id, "patchAppsV1NamespacedDeploymentScale");
        assert_eq!(scale.operations[2].gvk, Some(("autoscaling", "v1", "Scale")));
        let refs = referenced_schemas(&apps);
        assert!(refs.iter().any(|r| r == "io.k8s.api.apps.v1.DeploymentList"));
        assert!(refs.iter().any(|r| r == "io.k8s.api.autoscaling.v1.Scale"));
    }
}
