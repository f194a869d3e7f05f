//! The Kubernetes extensions k8s-openapi's schemas lack:
//!
//! - `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key`, from the
//!   patch metadata the server itself merges with ([`k1s_proto::patch::schema_for`]),
//!   so that kubectl computes the same strategic merge patches from the document
//!   as the server applies;
//! - `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and
//!   `x-kubernetes-map-type`, from the generated schema table
//!   ([`k1s_proto::schema`]) that server-side apply merges by.

use std::collections::BTreeMap;

use k1s_proto::patch::{schema_for, SchemaRef, Strategy};
use k1s_proto::{resources, schema};
use serde_json::{json, Value};

use super::definitions::{KindSchema, V2_REF_PREFIX};

/// The extension naming a field's patch strategy.
pub const PATCH_STRATEGY: &str = "x-kubernetes-patch-strategy";
/// The extension naming the key list items merge by.
pub const PATCH_MERGE_KEY: &str = "x-kubernetes-patch-merge-key";

/// The extension naming how a list merges (`atomic`, `set`, `map`).
pub const LIST_TYPE: &str = "x-kubernetes-list-type";
/// The extension naming the key fields of a `map` list.
pub const LIST_MAP_KEYS: &str = "x-kubernetes-list-map-keys";
/// The extension naming how a map or struct merges (`atomic`, `granular`).
pub const MAP_TYPE: &str = "x-kubernetes-map-type";

/// Adds the list and map type extensions to every definition the schema table knows.
pub fn apply_list_types(schemas: &mut BTreeMap<String, Value>) {
    for (name, value) in schemas.iter_mut() {
        let (Some(def), Some(obj)) = (schema::definition(name), value.as_object_mut()) else {
            continue;
        };
        if let Some(t) = def.x_map_type() {
            obj.insert(MAP_TYPE.into(), json!(t));
        }
        let Some(Value::Object(props)) = obj.get_mut("properties") else {
            continue;
        };
        for (field_name, prop) in props.iter_mut() {
            let (Some(field), Some(prop)) = (def.field(field_name), prop.as_object_mut()) else {
                continue;
            };
            if let Some(t) = field.x_list_type() {
                prop.insert(LIST_TYPE.into(), json!(t));
            }
            let keys = field.x_list_map_keys();
            if !keys.is_empty() {
                prop.insert(LIST_MAP_KEYS.into(), json!(keys));
            }
            if let Some(t) = field.x_map_type() {
                prop.insert(MAP_TYPE.into(), json!(t));
            }
        }
    }
}

/// Adds the patch extensions to the definitions of every served kind.
pub fn apply(schemas: &mut BTreeMap<String, Value>, kinds: &[KindSchema]) -> Vec<String> {
    let mut conflicts = Vec::new();
    for r in resources::RESOURCES {
        let Some(kind) = kinds
            .iter()
            .find(|k| k.group == r.group && k.version == r.version && k.kind == r.kind)
        else {
            continue;
        };
        annotate(schemas, &kind.name, schema_for(r), &mut conflicts);
    }
    conflicts
}

/// The `x-kubernetes-patch-strategy` value of a field, if it has one.
fn strategy_value(strategy: Strategy, retain_keys: bool) -> Option<String> {
    let base = match strategy {
        Strategy::Default => None,
        Strategy::Replace => Some("replace"),
        Strategy::MergeSet | Strategy::MergeByKey(_) => Some("merge"),
    };
    match (base, retain_keys) {
        (Some(b), true) => Some(format!("{b},retainKeys")),
        (Some(b), false) => Some(b.to_string()),
        (None, true) => Some("retainKeys".to_string()),
        (None, false) => None,
    }
}

/// The definition a property refers to, directly or through its list items.
fn target_of(prop: &Value) -> Option<String> {
    let r = prop
        .get("$ref")
        .or_else(|| prop.get("items").and_then(|i| i.get("$ref")))?;
    r.as_str()?.strip_prefix(V2_REF_PREFIX).map(str::to_string)
}

fn annotate(schemas: &mut BTreeMap<String, Value>, name: &str, meta: SchemaRef, conflicts: &mut Vec<String>) {
    for field in meta.fields() {
        let Some(prop) = schemas
            .get_mut(name)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(field.name))
            .and_then(Value::as_object_mut)
        else {
            conflicts.push(format!("{name}.{}: no such property", field.name));
            continue;
        };
        let mut set = |key: &str, value: String| match prop.get(key) {
            Some(existing) if existing != value.as_str() => {
                conflicts.push(format!("{name}.{}: {key} {existing} and {value}", field.name))
            }
            _ => {
                prop.insert(key.to_string(), Value::String(value));
            }
        };
        if let Some(strategy) = strategy_value(field.strategy, field.retain_keys) {
            set(PATCH_STRATEGY, strategy);
        }
        let key = field.strategy.merge_key();
        if !key.is_empty() {
            set(PATCH_MERGE_KEY, key.to_string());
        }
        let target = target_of(&Value::Object(prop.clone()));
        if let (Some(target), false) = (target, field.schema.fields().is_empty()) {
            annotate(schemas, &target, field.schema, conflicts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::definitions::Definitions;
    use super::*;

    #[test]
    fn extensions_match_kubernetes_tags() {
        let d = Definitions::generate();
        let prop = |def: &str, field: &str| d.schemas[def]["properties"][field].clone();
        let containers = prop("io.k8s.api.core.v1.PodSpec", "containers");
        assert_eq!(containers[PATCH_STRATEGY], "merge");
        assert_eq!(containers[PATCH_MERGE_KEY], "name");
        let volumes = prop("io.k8s.api.core.v1.PodSpec", "volumes");
        assert_eq!(volumes[PATCH_STRATEGY], "merge,retainKeys");
        let strategy = prop("io.k8s.api.apps.v1.DeploymentSpec", "strategy");
        assert_eq!(strategy[PATCH_STRATEGY], "retainKeys");
        assert!(strategy.get(PATCH_MERGE_KEY).is_none());
        let finalizers = prop("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers");
        assert_eq!(finalizers[PATCH_STRATEGY], "merge");
        assert!(finalizers.get(PATCH_MERGE_KEY).is_none());
        let ports = prop("io.k8s.api.core.v1.Container", "ports");
        assert_eq!(ports[PATCH_MERGE_KEY], "containerPort");
        let svc_ports = prop("io.k8s.api.core.v1.ServiceSpec", "ports");
        assert_eq!(svc_ports[PATCH_MERGE_KEY], "port");
        let selector = prop("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", "selector");
        assert_eq!(selector[PATCH_STRATEGY], "replace");
        let tolerations = prop("io.k8s.api.core.v1.PodSpec", "tolerations");
        assert!(tolerations.get(PATCH_STRATEGY).is_none());
    }

    #[test]
    fn list_and_map_types_come_from_the_schema_table() {
        let d = Definitions::generate();
        let prop = |def: &str, field: &str| d.schemas[def]["properties"][field].clone();
        let ports = prop("io.k8s.api.core.v1.Container", "ports");
        assert_eq!(ports[LIST_TYPE], "map");
        assert_eq!(ports[LIST_MAP_KEYS], json!(["containerPort", "protocol"]));
        assert_eq!(
            prop("io.k8s.api.core.v1.PodSpec", "containers")[LIST_MAP_KEYS],
            json!(["name"])
        );
        assert_eq!(
            prop("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers")[LIST_TYPE],
            "set"
        );
        assert_eq!(prop("io.k8s.api.core.v1.PodSpec", "nodeSelector")[MAP_TYPE], "atomic");
        assert!(prop("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "labels")
            .get(MAP_TYPE)
            .is_none());
        assert_eq!(
            d.schemas["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"][MAP_TYPE],
            "atomic"
        );
    }

    #[test]
    fn every_table_entry_lands_on_one_property_without_conflict() {
        let mut d = Definitions::generate();
        // Applying again finds every property and agrees with what is already there.
        let conflicts = apply(&mut d.schemas, &d.kinds);
        assert!(conflicts.is_empty(), "{conflicts:#?}");
    }
}
