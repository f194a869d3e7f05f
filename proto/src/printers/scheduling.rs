//! `scheduling.k8s.io/v1` printers: priorityclasses (`printPriorityClass`).

use serde_json::{json, Value};

use super::group_cells::{age, at, int_at, name, string_at};
use super::{Column, PrintContext, Printer};

/// The printer of a `scheduling.k8s.io` resource, if Kubernetes has one.
pub fn printer(plural: &str) -> Option<Printer> {
    match plural {
        "priorityclasses" => Some(Printer {
            columns: PRIORITYCLASS_COLUMNS,
            row: priorityclass_row,
        }),
        _ => None,
    }
}

/// PreemptionPolicy is a default column (priority 0) in Kubernetes, after Age.
const PRIORITYCLASS_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Value",
        "integer",
        "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.",
    ),
    Column::new(
        "Global-Default",
        "boolean",
        "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.",
    ),
    Column::age(),
    Column::new(
        "PreemptionPolicy",
        "string",
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
    ),
];

fn priorityclass_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    vec![
        name(obj),
        json!(int_at(obj, &["value"])),
        json!(at(obj, &["globalDefault"]).and_then(Value::as_bool).unwrap_or(false)),
        age(obj, ctx),
        json!(string_at(obj, &["preemptionPolicy"])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorityclass_cells() {
        let ctx = PrintContext {
            now: "2025-01-11T00:00:00Z".parse().unwrap(),
        };
        let p = printer("priorityclasses").unwrap();
        let cols: Vec<(&str, i32)> = p.columns.iter().map(|c| (c.name, c.priority)).collect();
        assert_eq!(
            cols,
            [
                ("Name", 0),
                ("Value", 0),
                ("Global-Default", 0),
                ("Age", 0),
                ("PreemptionPolicy", 0)
            ]
        );
        let pc = json!({"metadata": {"name": "system-cluster-critical", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "value": 2000000000, "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority"});
        assert_eq!(
            (p.row)(&pc, &ctx),
            [
                json!("system-cluster-critical"),
                json!(2000000000),
                json!(false),
                json!("10d"),
                json!("PreemptLowerPriority")
            ]
        );
        let bare = json!({"metadata": {"name": "low"}, "value": -5, "globalDefault": true});
        assert_eq!(
            (p.row)(&bare, &ctx)[1..],
            [json!(-5), json!(true), json!("<unknown>"), json!("")]
        );
    }
}
