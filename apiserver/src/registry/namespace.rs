//! Namespaces (pkg/registry/core/namespace/strategy.go): the `kubernetes`
//! finalizer, phase `Active` on create, and the phase the status may hold.

use k1s_proto::FieldError;
use serde_json::{json, Value};

use super::names;
use super::util::one_of;
use super::Strategy;

/// The Namespace strategy.
pub struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn default(&self, obj: &mut Value) {
        let Some(map) = obj.as_object_mut() else { return };
        // Namespaces carry their name as a label (NamespaceDefaultLabelName, GA since 1.22).
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let (Some(name), Some(meta)) = (name, map.get_mut("metadata").and_then(Value::as_object_mut)) {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        let status = map.entry("status").or_insert_with(|| json!({}));
        if let Some(s) = status.as_object_mut() {
            s.entry("phase").or_insert_with(|| json!("Active"));
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let Some(map) = obj.as_object_mut() else { return };
        map.insert("status".into(), json!({"phase": "Active"}));
        let spec = map.entry("spec").or_insert_with(|| json!({}));
        if let Some(s) = spec.as_object_mut() {
            let fins = s.entry("finalizers").or_insert_with(|| json!([]));
            if let Some(list) = fins.as_array_mut() {
                if !list.iter().any(|f| f == "kubernetes") {
                    list.push(json!("kubernetes"));
                }
            }
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // spec.finalizers changes only through the `finalize` subresource.
        if let Some(map) = new.as_object_mut() {
            match old.get("spec") {
                Some(spec) => map.insert("spec".into(), spec.clone()),
                None => map.remove("spec"),
            };
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for (i, f) in obj["spec"]["finalizers"].as_array().into_iter().flatten().enumerate() {
            let f = f.as_str().unwrap_or("");
            if !f.contains('/') && f != "kubernetes" {
                errs.push(FieldError::invalid(
                    format!("spec.finalizers[{i}]"),
                    f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            } else {
                for m in names::is_qualified_name(f) {
                    errs.push(FieldError::invalid(format!("spec.finalizers[{i}]"), f, m));
                }
            }
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        one_of(
            new["status"]["phase"].as_str(),
            "status.phase",
            &["Active", "Terminating"],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_adds_finalizer_phase_and_label() {
        let mut ns = json!({"metadata": {"name": "team-a"}});
        NamespaceStrategy.default(&mut ns);
        NamespaceStrategy.prepare_for_create(&mut ns);
        assert_eq!(ns["spec"], json!({"finalizers": ["kubernetes"]}));
        assert_eq!(ns["status"], json!({"phase": "Active"}));
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team-a");
        assert!(NamespaceStrategy.validate_create(&ns).is_empty());
    }

    #[test]
    fn update_keeps_spec() {
        let old = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["kubernetes"]}});
        let mut new = json!({"metadata": {"name": "a"}, "spec": {"finalizers": []}});
        NamespaceStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["spec"], old["spec"]);
        let bad = json!({"status": {"phase": "Gone"}});
        assert_eq!(NamespaceStrategy.validate_status_update(&bad, &bad).len(), 1);
    }
}
