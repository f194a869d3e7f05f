//! `coordination.k8s.io/v1` printers: leases (`printLease`).

use serde_json::{json, Value};

use super::group_cells::{age, name, string_at};
use super::{Column, PrintContext, Printer};

/// The printer of a `coordination.k8s.io` resource, if Kubernetes has one.
pub fn printer(plural: &str) -> Option<Printer> {
    match plural {
        "leases" => Some(Printer {
            columns: LEASE_COLUMNS,
            row: lease_row,
        }),
        _ => None,
    }
}

const LEASE_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
    ),
    Column::age(),
];

fn lease_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    vec![
        name(obj),
        json!(string_at(obj, &["spec", "holderIdentity"])),
        age(obj, ctx),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_cells() {
        let ctx = PrintContext {
            now: "2025-01-01T00:05:00Z".parse().unwrap(),
        };
        let p = printer("leases").unwrap();
        assert_eq!(
            p.columns.iter().map(|c| c.name).collect::<Vec<_>>(),
            ["Name", "Holder", "Age"]
        );
        let held = json!({"metadata": {"name": "k1s", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"holderIdentity": "k1s-node", "leaseDurationSeconds": 40}});
        assert_eq!((p.row)(&held, &ctx), [json!("k1s"), json!("k1s-node"), json!("5m")]);
        let free = json!({"metadata": {"name": "free", "creationTimestamp": "2025-01-01T00:04:00Z"}, "spec": {}});
        assert_eq!((p.row)(&free, &ctx), [json!("free"), json!(""), json!("60s")]);
    }
}
