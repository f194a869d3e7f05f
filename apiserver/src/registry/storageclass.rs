//! StorageClasses (pkg/registry/storage/storageclass/strategy.go, storage/v1 defaults).

use k1s_proto::FieldError;
use serde_json::{json, Value};

use super::names;
use super::util::one_of;
use super::Strategy;

/// The StorageClass strategy.
pub struct StorageClassStrategy;

impl Strategy for StorageClassStrategy {
    fn default(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else { return };
        m.entry("reclaimPolicy").or_insert_with(|| json!("Delete"));
        m.entry("volumeBindingMode").or_insert_with(|| json!("Immediate"));
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        match obj["provisioner"].as_str() {
            None | Some("") => errs.push(FieldError::required("provisioner", "")),
            Some(p) => {
                if p.len() > 63 {
                    errs.push(FieldError::too_long("provisioner", 63));
                }
                for m in names::is_qualified_name(&p.to_lowercase()) {
                    errs.push(FieldError::invalid("provisioner", p, m));
                }
            }
        }
        errs.extend(one_of(
            obj["reclaimPolicy"].as_str(),
            "reclaimPolicy",
            &["Delete", "Retain"],
        ));
        errs.extend(one_of(
            obj["volumeBindingMode"].as_str(),
            "volumeBindingMode",
            &["Immediate", "WaitForFirstConsumer"],
        ));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        for f in ["parameters", "provisioner", "reclaimPolicy"] {
            if new.get(f) != old.get(f) {
                errs.push(FieldError::forbidden(f, format!("updates to {f} are forbidden.")));
            }
        }
        if new.get("volumeBindingMode") != old.get("volumeBindingMode") {
            errs.push(FieldError::invalid(
                "volumeBindingMode",
                new["volumeBindingMode"].clone(),
                "field is immutable",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_immutability() {
        let mut sc = json!({"metadata": {"name": "local-path"}, "provisioner": "rancher.io/local-path"});
        StorageClassStrategy.default(&mut sc);
        assert_eq!(sc["reclaimPolicy"], "Delete");
        assert_eq!(sc["volumeBindingMode"], "Immediate");
        assert!(StorageClassStrategy.validate_create(&sc).is_empty());
        let mut changed = sc.clone();
        changed["parameters"] = json!({"a": "b"});
        let errs: Vec<String> = StorageClassStrategy
            .validate_update(&changed, &sc)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["parameters: Forbidden: updates to parameters are forbidden.".to_string()]
        );
    }
}
