//! `storage.k8s.io/v1` printers: storageclasses (`printStorageClass`).

use serde_json::{json, Value};

use super::group_cells::{age, at, str_at, string_at};
use super::{Column, PrintContext, Printer};

/// The printer of a `storage.k8s.io` resource, if Kubernetes has one.
pub fn printer(plural: &str) -> Option<Printer> {
    match plural {
        "storageclasses" => Some(Printer {
            columns: STORAGECLASS_COLUMNS,
            row: storageclass_row,
        }),
        _ => None,
    }
}

const STORAGECLASS_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Provisioner",
        "string",
        "provisioner indicates the type of the provisioner.",
    ),
    Column::new(
        "ReclaimPolicy",
        "string",
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.",
    ),
    Column::new(
        "VolumeBindingMode",
        "string",
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.",
    ),
    Column::new(
        "AllowVolumeExpansion",
        "string",
        "allowVolumeExpansion shows whether the storage class allow volume expand.",
    ),
    Column::age(),
];

/// `storageutil.IsDefaultAnnotation`: the GA or beta default-class annotation is `"true"`.
fn is_default_class(obj: &Value) -> bool {
    [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|key| str_at(obj, &["metadata", "annotations", key]) == Some("true"))
}

fn storageclass_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let mut class_name = string_at(obj, &["metadata", "name"]);
    if is_default_class(obj) {
        class_name.push_str(" (default)");
    }
    vec![
        json!(class_name),
        json!(string_at(obj, &["provisioner"])),
        json!(str_at(obj, &["reclaimPolicy"]).unwrap_or("Delete")),
        json!(str_at(obj, &["volumeBindingMode"]).unwrap_or("Immediate")),
        json!(at(obj, &["allowVolumeExpansion"])
            .and_then(Value::as_bool)
            .unwrap_or(false)),
        age(obj, ctx),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storageclass_cells() {
        let ctx = PrintContext {
            now: "2025-01-01T00:00:00Z".parse().unwrap(),
        };
        let p = printer("storageclasses").unwrap();
        let cols: Vec<&str> = p.columns.iter().map(|c| c.name).collect();
        assert_eq!(
            cols,
            [
                "Name",
                "Provisioner",
                "ReclaimPolicy",
                "VolumeBindingMode",
                "AllowVolumeExpansion",
                "Age"
            ]
        );
        let default = json!({"metadata": {"name": "local-path", "creationTimestamp": "2024-12-31T23:00:00Z",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": true});
        assert_eq!(
            (p.row)(&default, &ctx),
            [
                json!("local-path (default)"),
                json!("rancher.io/local-path"),
                json!("Retain"),
                json!("WaitForFirstConsumer"),
                json!(true),
                json!("60m")
            ]
        );
        let plain = json!({"metadata": {"name": "slow", "annotations": {"storageclass.kubernetes.io/is-default-class": "false"}},
            "provisioner": "example.com/nfs"});
        assert_eq!(
            (p.row)(&plain, &ctx),
            [
                json!("slow"),
                json!("example.com/nfs"),
                json!("Delete"),
                json!("Immediate"),
                json!(false),
                json!("<unknown>")
            ]
        );
        let beta = json!({"metadata": {"name": "old", "annotations": {"storageclass.beta.kubernetes.io/is-default-class": "true"}}, "provisioner": "p"});
        assert_eq!((p.row)(&beta, &ctx)[0], "old (default)");
    }
}
