//! The schema definitions of every served kind, generated from the k8s-openapi
//! types with a schemars generator and shaped as Kubernetes publishes them:
//! Kubernetes' names (`io.k8s.api.core.v1.Pod`), `$ref`s into `#/definitions/`,
//! `x-kubernetes-group-version-kind` on top-level kinds, list kinds
//! (`PodList`), and the patch extensions of [`super::extensions`].
//!
//! The result is version neutral (OpenAPI v2 refs and types); [`super::v3`]
//! rewrites it for OpenAPI v3.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k1s_proto::resources::{self, ResourceInfo};
use k8s_openapi::api::{
    apps, autoscaling, batch, coordination, core, discovery, events, networking, policy, rbac, scheduling, storage,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use k8s_openapi::Resource;
use serde_json::{json, Value};

/// Where definitions live in an OpenAPI v2 document (refs are `#/definitions/{name}`).
pub const V2_REF_PREFIX: &str = "#/definitions/";

/// A top-level kind: its definition name and group/version/kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindSchema {
    /// The definition name, e.g. `io.k8s.api.core.v1.Pod`.
    pub name: Cow<'static, str>,
    /// API group (empty for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
}

impl KindSchema {
    /// The definition name of this kind's list (`io.k8s.api.core.v1.PodList`).
    pub fn list_name(&self) -> String {
        format!("{}List", self.name)
    }

    /// Whether this is the schema of a served resource.
    fn serves(&self, r: &ResourceInfo) -> bool {
        self.group == r.group && self.version == r.version && self.kind == r.kind
    }
}

/// Adds `T`'s schema (and everything it refers to) to the generator.
fn add<T: JsonSchema + Resource>(gen: &mut SchemaGenerator) -> KindSchema {
    gen.subschema_for::<T>();
    KindSchema {
        name: T::schema_name(),
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
    }
}

type AddKind = fn(&mut SchemaGenerator) -> KindSchema;

/// The Rust type of every served kind (and of the kinds of subresources:
/// `autoscaling/v1` `Scale`, `Binding`, `policy/v1` `Eviction`). A test checks
/// this covers the resource table.
const KINDS: &[AddKind] = &[
    add::<core::v1::Namespace>,
    add::<core::v1::Pod>,
    add::<core::v1::Service>,
    add::<core::v1::Endpoints>,
    add::<core::v1::ConfigMap>,
    add::<core::v1::Secret>,
    add::<core::v1::ServiceAccount>,
    add::<core::v1::Node>,
    add::<core::v1::Event>,
    add::<core::v1::PersistentVolume>,
    add::<core::v1::PersistentVolumeClaim>,
    add::<core::v1::ResourceQuota>,
    add::<core::v1::LimitRange>,
    add::<apps::v1::Deployment>,
    add::<apps::v1::ReplicaSet>,
    add::<apps::v1::StatefulSet>,
    add::<apps::v1::DaemonSet>,
    add::<apps::v1::ControllerRevision>,
    add::<batch::v1::Job>,
    add::<batch::v1::CronJob>,
    add::<autoscaling::v2::HorizontalPodAutoscaler>,
    add::<autoscaling::v1::HorizontalPodAutoscaler>,
    add::<autoscaling::v1::Scale>,
    add::<core::v1::Binding>,
    add::<policy::v1::Eviction>,
    add::<networking::v1::Ingress>,
    add::<networking::v1::IngressClass>,
    add::<networking::v1::NetworkPolicy>,
    add::<storage::v1::StorageClass>,
    add::<rbac::v1::Role>,
    add::<rbac::v1::ClusterRole>,
    add::<rbac::v1::RoleBinding>,
    add::<rbac::v1::ClusterRoleBinding>,
    add::<discovery::v1::EndpointSlice>,
    add::<coordination::v1::Lease>,
    add::<events::v1::Event>,
    add::<policy::v1::PodDisruptionBudget>,
    add::<scheduling::v1::PriorityClass>,
];

/// Definition names of the meta types the operations refer to.
pub mod meta_names {
    /// `metav1.DeleteOptions`, the body of deletes.
    pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
    /// `metav1.Status`, what deletes may return.
    pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
    /// `metav1.WatchEvent`, one event of a watch stream.
    pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
    /// `metav1.Patch`, the body of patches.
    pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
    /// `metav1.APIResourceList`, what `/apis/{group}/{version}/` returns.
    pub const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
}

/// Every definition of the served API, version neutral.
#[derive(Debug, Clone)]
pub struct Definitions {
    /// Definitions by name, sorted.
    pub schemas: BTreeMap<String, Value>,
    /// The top-level kinds (served kinds and `Scale`), in table order.
    pub kinds: Vec<KindSchema>,
}

impl Definitions {
    /// Generates the definitions of every served kind and the meta types.
    pub fn generate() -> Definitions {
        let mut gen = SchemaSettings::draft07()
            .with(|s| {
                s.definitions_path = "/definitions".into();
                s.meta_schema = None;
                s.transforms.clear();
            })
            .into_generator();
        let kinds: Vec<KindSchema> = KINDS.iter().map(|add| add(&mut gen)).collect();
        gen.subschema_for::<meta::ListMeta>();
        gen.subschema_for::<meta::DeleteOptions>();
        gen.subschema_for::<meta::Status>();
        gen.subschema_for::<meta::WatchEvent<core::v1::Pod>>();
        gen.subschema_for::<meta::Patch>();
        gen.subschema_for::<meta::APIResourceList>();
        let mut schemas: BTreeMap<String, Value> = gen.take_definitions(false).into_iter().collect();
        for schema in schemas.values_mut() {
            drop_required_metadata(schema);
        }
        for kind in &kinds {
            set_gvk(&mut schemas, &kind.name, kind.group, kind.version, kind.kind);
            if resources::RESOURCES.iter().any(|r| kind.serves(r)) {
                let list = list_schema(kind, schemas.get(kind.name.as_ref()));
                schemas.insert(kind.list_name(), list);
                let list_kind = format!("{}List", kind.kind);
                set_gvk(&mut schemas, &kind.list_name(), kind.group, kind.version, &list_kind);
            }
        }
        set_meta_gvks(&mut schemas);
        super::extensions::apply_list_types(&mut schemas);
        for conflict in super::extensions::apply(&mut schemas, &kinds) {
            tracing::warn!(%conflict, "patch metadata does not fit the OpenAPI schemas");
        }
        Definitions { schemas, kinds }
    }

    /// The kind schema of a served resource.
    pub fn kind_of(&self, r: &ResourceInfo) -> Option<&KindSchema> {
        self.kinds.iter().find(|k| k.serves(r))
    }

    /// The kind schema of the scale subresource (`autoscaling/v1` `Scale`).
    pub fn scale(&self) -> Option<&KindSchema> {
        self.kinds
            .iter()
            .find(|k| k.group == "autoscaling" && k.version == "v1" && k.kind == "Scale")
    }

    /// The kind schema of a kind that is not a resource of its own (`Binding`, `Eviction`).
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<&KindSchema> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
    }

    /// The names of `roots` and of every definition they refer to, transitively.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut seen: BTreeMap<String, ()> = BTreeMap::new();
        let mut stack: Vec<String> = roots.into_iter().map(str::to_string).collect();
        while let Some(name) = stack.pop() {
            if seen.contains_key(&name) {
                continue;
            }
            if let Some(schema) = self.schemas.get(&name) {
                collect_refs(schema, &mut stack);
                seen.insert(name, ());
            }
        }
        seen.into_keys().collect()
    }
}

/// Pushes the definition names `value` refers to.
pub(super) fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix(V2_REF_PREFIX) {
                            out.push(name.to_string());
                        }
                    }
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// k8s-openapi makes `metadata` required on resources (its Rust field is not an
/// `Option`); Kubernetes does not, and `kubectl explain` would print `-required-`.
fn drop_required_metadata(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else { return };
    if let Some(Value::Array(required)) = obj.get_mut("required") {
        required.retain(|r| r != "metadata");
        if required.is_empty() {
            obj.remove("required");
        }
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

/// Sets (or extends) a definition's `x-kubernetes-group-version-kind` list.
fn set_gvk(schemas: &mut BTreeMap<String, Value>, name: &str, group: &str, version: &str, kind: &str) {
    let Some(Value::Object(obj)) = schemas.get_mut(name) else {
        return;
    };
    let entry = obj
        .entry("x-kubernetes-group-version-kind")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = entry {
        let g = gvk(group, version, kind);
        if !list.contains(&g) {
            list.push(g);
        }
    }
}

/// `DeleteOptions` and `WatchEvent` carry one GVK per served group/version, as in Kubernetes.
fn set_meta_gvks(schemas: &mut BTreeMap<String, Value>) {
    for (group, versions) in resources::group_versions() {
        for version in versions {
            for name in [meta_names::DELETE_OPTIONS, meta_names::WATCH_EVENT] {
                let kind = name.rsplit('.').next().unwrap_or(name);
                set_gvk(schemas, name, group, version, kind);
            }
        }
    }
    set_gvk(schemas, meta_names::STATUS, "", "v1", "Status");
}

/// The `{Kind}List` schema of a kind (k8s-openapi has one generic `List<T>`).
fn list_schema(kind: &KindSchema, item: Option<&Value>) -> Value {
    let prop = |name: &str| {
        item.and_then(|s| s.pointer(&format!("/properties/{name}")))
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"}))
    };
    let plural = resources::RESOURCES
        .iter()
        .find(|r| kind.serves(r))
        .map_or_else(|| kind.kind.to_lowercase(), |r| r.plural.to_string());
    json!({
        "description": format!("{}List is a list of {}.", kind.kind, kind.kind),
        "type": "object",
        "properties": {
            "apiVersion": prop("apiVersion"),
            "items": {
                "description": format!("List of {plural}."),
                "type": "array",
                "items": {"$ref": format!("{V2_REF_PREFIX}{}", kind.name)},
            },
            "kind": prop("kind"),
            "metadata": {
                "$ref": format!("{V2_REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Definitions {
        Definitions::generate()
    }

    #[test]
    fn every_served_resource_has_a_kind_schema() {
        let d = defs();
        for r in resources::RESOURCES {
            let k = d
                .kind_of(r)
                .unwrap_or_else(|| panic!("{} {}/{}", r.kind, r.group, r.version));
            assert!(d.schemas.contains_key(k.name.as_ref()), "{}", k.name);
            assert!(d.schemas.contains_key(&k.list_name()), "{}", k.list_name());
        }
        assert!(d.scale().is_some());
    }

    #[test]
    fn kubernetes_names_refs_and_gvks() {
        let d = defs();
        let pod = &d.schemas["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.PodSpec"
        );
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "Pod", "version": "v1"}])
        );
        assert!(pod.get("required").is_none(), "metadata is not required");
        let hpa1 = &d.schemas["io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler"];
        assert_eq!(hpa1["x-kubernetes-group-version-kind"][0]["version"], "v1");
        let hpa2 = &d.schemas["io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"];
        assert_eq!(hpa2["x-kubernetes-group-version-kind"][0]["version"], "v2");
        let ev = &d.schemas["io.k8s.api.events.v1.Event"];
        assert_eq!(ev["x-kubernetes-group-version-kind"][0]["group"], "events.k8s.io");
        let list = &d.schemas["io.k8s.api.apps.v1.DeploymentList"];
        assert_eq!(list["x-kubernetes-group-version-kind"][0]["kind"], "DeploymentList");
        assert_eq!(list["required"], json!(["items"]));
        assert_eq!(
            list["properties"]["items"]["items"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1.Deployment"
        );
        let container = &d.schemas["io.k8s.api.core.v1.Container"];
        assert_eq!(container["required"], json!(["name"]));
    }

    #[test]
    fn closure_follows_refs() {
        let d = defs();
        let names = d.closure(["io.k8s.api.apps.v1.Deployment"]);
        for n in [
            "io.k8s.api.core.v1.PodSpec",
            "io.k8s.api.core.v1.Probe",
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        ] {
            assert!(names.iter().any(|x| x == n), "{n}");
        }
        assert!(!names.iter().any(|x| x == "io.k8s.api.batch.v1.Job"));
    }
}
