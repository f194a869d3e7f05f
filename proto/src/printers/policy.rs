//! `policy/v1` printers: poddisruptionbudgets (`printPodDisruptionBudget`).

use serde_json::{json, Value};

use super::group_cells::{age, at, int_at, int_or_string, name};
use super::{Column, PrintContext, Printer};

/// The printer of a `policy` resource, if Kubernetes has one.
pub fn printer(plural: &str) -> Option<Printer> {
    match plural {
        "poddisruptionbudgets" => Some(Printer {
            columns: PDB_COLUMNS,
            row: pdb_row,
        }),
        _ => None,
    }
}

const PDB_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    Column::new(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    Column::new(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    Column::age(),
];

/// An int-or-string field, `N/A` when unset.
fn int_or_na(obj: &Value, field: &str) -> String {
    at(obj, &["spec", field]).map_or_else(|| "N/A".to_string(), int_or_string)
}

fn pdb_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    vec![
        name(obj),
        json!(int_or_na(obj, "minAvailable")),
        json!(int_or_na(obj, "maxUnavailable")),
        json!(int_at(obj, &["status", "disruptionsAllowed"])),
        age(obj, ctx),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdb_cells() {
        let ctx = PrintContext {
            now: "2025-01-01T09:00:00Z".parse().unwrap(),
        };
        let p = printer("poddisruptionbudgets").unwrap();
        assert_eq!(
            p.columns.iter().map(|c| c.name).collect::<Vec<_>>(),
            ["Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"]
        );
        let min = json!({"metadata": {"name": "web", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}});
        assert_eq!(
            (p.row)(&min, &ctx),
            [json!("web"), json!("2"), json!("N/A"), json!(1), json!("9h")]
        );
        let max = json!({"metadata": {"name": "db", "creationTimestamp": "2025-01-01T00:00:00Z"}, "spec": {"maxUnavailable": "25%"}});
        assert_eq!(
            (p.row)(&max, &ctx),
            [json!("db"), json!("N/A"), json!("25%"), json!(0), json!("9h")]
        );
    }
}
