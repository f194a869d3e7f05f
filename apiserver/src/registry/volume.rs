//! PersistentVolumes and PersistentVolumeClaims (pkg/registry/core/
//! {persistentvolume,persistentvolumeclaim}/strategy.go, core/v1 defaults).

use k1s_proto::FieldError;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec};
use serde_json::{json, Value};

use super::pod_defaults::default_pvc_spec;
use super::util::{default_str, one_of, parse_quantity, typed, validate_selector, with_typed, QUANTITY_MSG};
use super::Strategy;

/// The PersistentVolume strategy.
pub struct PersistentVolumeStrategy;
/// The PersistentVolumeClaim strategy.
pub struct PersistentVolumeClaimStrategy;

const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];

/// The message for changing a claim's spec beyond what may change.
pub const PVC_UPDATE_MSG: &str =
    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims";

fn validate_access_modes(modes: Option<&Vec<String>>, path: &str, errs: &mut Vec<FieldError>) {
    match modes {
        None => errs.push(FieldError::required(path, "")),
        Some(m) if m.is_empty() => errs.push(FieldError::required(path, "")),
        Some(m) => {
            for mode in m {
                errs.extend(one_of(Some(mode), path, ACCESS_MODES));
            }
            if m.iter().any(|x| x == "ReadWriteOncePod") && m.len() > 1 {
                errs.push(FieldError::forbidden(
                    path,
                    "may not use ReadWriteOncePod with other access modes",
                ));
            }
        }
    }
}

fn set_pending(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), json!({"phase": "Pending"}));
    }
}

impl Strategy for PersistentVolumeStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<PersistentVolume>(obj, |pv| {
            let spec = pv.spec.get_or_insert_with(Default::default);
            default_str(&mut spec.persistent_volume_reclaim_policy, "Retain");
            default_str(&mut spec.volume_mode, "Filesystem");
            default_str(&mut pv.status.get_or_insert_with(Default::default).phase, "Pending");
        });
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        set_pending(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let Some(spec) = typed::<PersistentVolume>(obj).and_then(|p| p.spec) else {
            return vec![FieldError::required("spec", "must specify a volume type")];
        };
        let mut errs = Vec::new();
        validate_access_modes(spec.access_modes.as_ref(), "spec.accessModes", &mut errs);
        match spec.capacity.as_ref().and_then(|c| c.get("storage")) {
            None => errs.push(FieldError::required("spec.capacity", "")),
            Some(q) => match parse_quantity(&q.0) {
                None => errs.push(FieldError::invalid(
                    "spec.capacity[storage]",
                    q.0.as_str(),
                    QUANTITY_MSG,
                )),
                Some(v) if v <= 0.0 => errs.push(FieldError::invalid(
                    "spec.capacity[storage]",
                    q.0.as_str(),
                    "must be greater than zero",
                )),
                _ => {}
            },
        }
        errs.extend(one_of(
            spec.persistent_volume_reclaim_policy.as_deref(),
            "spec.persistentVolumeReclaimPolicy",
            &["Delete", "Recycle", "Retain"],
        ));
        errs.extend(one_of(spec.volume_mode.as_deref(), "spec.volumeMode", VOLUME_MODES));
        let sources = serde_json::to_value(&spec)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .map(|m| {
                m.keys()
                    .filter(|k| {
                        !matches!(
                            k.as_str(),
                            "accessModes"
                                | "capacity"
                                | "claimRef"
                                | "mountOptions"
                                | "nodeAffinity"
                                | "persistentVolumeReclaimPolicy"
                                | "storageClassName"
                                | "volumeAttributesClassName"
                                | "volumeMode"
                        )
                    })
                    .count()
            })
            .unwrap_or(0);
        if sources == 0 {
            errs.push(FieldError::required("spec", "must specify a volume type"));
        } else if sources > 1 {
            errs.push(FieldError::forbidden("spec", "may not specify more than 1 volume type"));
        }
        if let Some(h) = &spec.host_path {
            if h.path.is_empty() {
                errs.push(FieldError::required("spec.hostPath.path", ""));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let mode = |v: &Value| v["spec"]["volumeMode"].clone();
        if mode(new) != mode(old) {
            errs.push(FieldError::invalid("spec.volumeMode", mode(new), "field is immutable"));
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        one_of(
            new["status"]["phase"].as_str(),
            "status.phase",
            &["Available", "Bound", "Failed", "Pending", "Released"],
        )
    }
}

fn claim_spec(v: &Value) -> PersistentVolumeClaimSpec {
    typed::<PersistentVolumeClaim>(v)
        .and_then(|p| p.spec)
        .unwrap_or_default()
}

fn requested_storage(spec: &PersistentVolumeClaimSpec) -> Option<String> {
    spec.resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")
        .map(|q| q.0.clone())
}

impl Strategy for PersistentVolumeClaimStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<PersistentVolumeClaim>(obj, |pvc| {
            default_pvc_spec(pvc.spec.get_or_insert_with(Default::default));
            default_str(&mut pvc.status.get_or_insert_with(Default::default).phase, "Pending");
        });
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        set_pending(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = claim_spec(obj);
        let mut errs = Vec::new();
        match spec.access_modes.as_ref() {
            Some(m) if !m.is_empty() => validate_access_modes(Some(m), "spec.accessModes", &mut errs),
            _ => errs.push(FieldError::required(
                "spec.accessModes",
                "at least 1 access mode is required",
            )),
        }
        if let Some(sel) = &spec.selector {
            errs.extend(validate_selector(sel, "spec.selector"));
        }
        match requested_storage(&spec) {
            None => errs.push(FieldError::required("spec.resources[storage]", "")),
            Some(q) => match parse_quantity(&q) {
                None => errs.push(FieldError::invalid(
                    "spec.resources.requests[storage]",
                    q.as_str(),
                    QUANTITY_MSG,
                )),
                Some(v) if v <= 0.0 => errs.push(FieldError::invalid(
                    "spec.resources.requests[storage]",
                    q.as_str(),
                    "must be greater than zero",
                )),
                _ => {}
            },
        }
        errs.extend(one_of(spec.volume_mode.as_deref(), "spec.volumeMode", VOLUME_MODES));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let (n, o) = (claim_spec(new), claim_spec(old));
        let bound = old["status"]["phase"] == "Bound";
        let mut folded = n.clone();
        // The binder sets volumeName once.
        if o.volume_name.as_deref().is_none_or(str::is_empty) {
            folded.volume_name = o.volume_name.clone();
        }
        if bound {
            folded.resources = o.resources.clone();
            folded.volume_attributes_class_name = o.volume_attributes_class_name.clone();
        }
        if folded != o {
            errs.push(FieldError::forbidden("spec", PVC_UPDATE_MSG));
        } else if bound {
            let size = |s: &PersistentVolumeClaimSpec| requested_storage(s).and_then(|q| parse_quantity(&q));
            if let (Some(new_size), Some(old_size)) = (size(&n), size(&o)) {
                if new_size < old_size {
                    errs.push(FieldError::forbidden(
                        "spec.resources.requests.storage",
                        "field can not be less than status.capacity",
                    ));
                }
            }
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        one_of(
            new["status"]["phase"].as_str(),
            "status.phase",
            &["Bound", "Lost", "Pending"],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_defaults_and_validation() {
        let mut pv = json!({"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/data"}}});
        PersistentVolumeStrategy.default(&mut pv);
        PersistentVolumeStrategy.prepare_for_create(&mut pv);
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pv["status"], json!({"phase": "Pending"}));
        assert!(
            PersistentVolumeStrategy.validate_create(&pv).is_empty(),
            "{:?}",
            PersistentVolumeStrategy.validate_create(&pv)
        );
        let bare = json!({"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}});
        let errs: Vec<String> = PersistentVolumeStrategy
            .validate_create(&bare)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec: Required value: must specify a volume type".to_string()]
        );
    }

    #[test]
    fn pvc_rules() {
        let mut pvc = json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        PersistentVolumeClaimStrategy.default(&mut pvc);
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert!(PersistentVolumeClaimStrategy.validate_create(&pvc).is_empty());
        let missing = json!({"spec": {}});
        let errs: Vec<String> = PersistentVolumeClaimStrategy
            .validate_create(&missing)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required".to_string(),
                "spec.resources[storage]: Required value".to_string()
            ]
        );
        // Binding sets volumeName; unbound claims cannot grow.
        let mut bound = pvc.clone();
        bound["spec"]["volumeName"] = json!("pv1");
        assert!(PersistentVolumeClaimStrategy.validate_update(&bound, &pvc).is_empty());
        let mut grow = bound.clone();
        grow["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert_eq!(
            PersistentVolumeClaimStrategy.validate_update(&grow, &bound),
            vec![FieldError::forbidden("spec", PVC_UPDATE_MSG)]
        );
        bound["status"]["phase"] = json!("Bound");
        assert!(PersistentVolumeClaimStrategy.validate_update(&grow, &bound).is_empty());
        let mut shrink = bound.clone();
        shrink["spec"]["resources"]["requests"]["storage"] = json!("500Mi");
        assert_eq!(PersistentVolumeClaimStrategy.validate_update(&shrink, &bound).len(), 1);
    }
}
