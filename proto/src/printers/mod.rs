//! Server-side printing: the `meta.k8s.io` Table columns and cells of every served
//! kind, following the rules of Kubernetes' printers (`pkg/printers/internalversion`).
//!
//! A [`Printer`] names its columns and renders one row of cells per object. The
//! apiserver wraps the rows into a `Table` when the client asks for one
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`). Kinds without a printer of
//! their own get Kubernetes' default columns (`Name`, `Created At`).

//! Each API group has a module `printers/<group>.rs` (core kinds in `core.rs`, the pod
//! printer in `pod.rs`) exposing `pub fn printer(plural: &str) -> Option<Printer>`;
//! [`printer_for`] asks them in turn through [`GROUPS`].

pub mod apps;
pub mod autoscaling;
pub mod batch;
pub mod cells;
pub mod coordination;
pub mod core;
pub mod discovery;
pub mod event;
pub mod format;
pub mod group_cells;
pub mod networking;
pub mod pod;
pub mod policy;
pub mod rbac;
#[cfg(test)]
mod registry_tests;
pub mod scheduling;
pub mod storage;

use serde_json::Value;

use crate::ResourceInfo;

/// One Table column (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The header, as Kubernetes names it (`Name`, `Ready`, `Nominated Node`); kubectl upper-cases it.
    pub name: &'static str,
    /// The OpenAPI type of the cells: `string`, `integer`, `number`, `boolean` or `date`.
    pub kind: &'static str,
    /// The OpenAPI format: `name` for the name column, otherwise usually empty.
    pub format: &'static str,
    /// What the column shows (Kubernetes takes it from the field docs).
    pub description: &'static str,
    /// 0 for columns always shown, 1 for `-o wide` only.
    pub priority: i32,
}

impl Column {
    /// A column shown by default.
    pub const fn new(name: &'static str, kind: &'static str, description: &'static str) -> Column {
        Column {
            name,
            kind,
            format: "",
            description,
            priority: 0,
        }
    }

    /// The `Name` column every printer starts with.
    pub const fn name() -> Column {
        Column {
            name: "Name",
            kind: "string",
            format: "name",
            description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
            priority: 0,
        }
    }

    /// The `Age` column.
    pub const fn age() -> Column {
        Column::new(
            "Age",
            "string",
            "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        )
    }

    /// The same column, shown only with `-o wide`.
    pub const fn wide(self) -> Column {
        Column { priority: 1, ..self }
    }
}

/// What a row is rendered against: the clock (ages are computed on the server, as Kubernetes does).
#[derive(Debug, Clone, Copy)]
pub struct PrintContext {
    /// The time the table is rendered at.
    pub now: jiff::Timestamp,
}

impl PrintContext {
    /// A context at the current time.
    pub fn now() -> PrintContext {
        PrintContext {
            now: jiff::Timestamp::now(),
        }
    }
}

/// The columns of a kind and the function that renders an object's cells.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// Column definitions, in order.
    pub columns: &'static [Column],
    /// Renders one object (in the version the client asked for) into one cell per column.
    pub row: fn(&Value, &PrintContext) -> Vec<Value>,
}

/// Kubernetes' default columns for kinds without a printer of their own.
pub const DEFAULT_COLUMNS: &[Column] = &[
    Column::name(),
    Column {
        name: "Created At",
        kind: "date",
        format: "",
        description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        priority: 0,
    },
];

fn default_row(obj: &Value, _ctx: &PrintContext) -> Vec<Value> {
    let meta = obj.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).cloned().unwrap_or(Value::Null);
    vec![field("name"), field("creationTimestamp")]
}

/// The default printer (`Name`, `Created At`).
pub const DEFAULT: Printer = Printer {
    columns: DEFAULT_COLUMNS,
    row: default_row,
};

/// The printer lookup of one API group: `Some` for the plurals it has columns for.
pub type GroupPrinters = fn(&str) -> Option<Printer>;

/// Which module prints which API group. `events.k8s.io` events are core events in
/// another shape (one storage), printed with the core event columns as Kubernetes does.
pub const GROUPS: &[(&str, GroupPrinters)] = &[
    ("", core::printer),
    ("events.k8s.io", core::printer),
    ("apps", apps::printer),
    ("batch", batch::printer),
    ("autoscaling", autoscaling::printer),
    ("networking.k8s.io", networking::printer),
    ("storage.k8s.io", storage::printer),
    ("rbac.authorization.k8s.io", rbac::printer),
    ("discovery.k8s.io", discovery::printer),
    ("coordination.k8s.io", coordination::printer),
    ("policy", policy::printer),
    ("scheduling.k8s.io", scheduling::printer),
];

/// The printer of a served resource; [`DEFAULT`] when Kubernetes has none for it.
pub fn printer_for(info: &ResourceInfo) -> Printer {
    GROUPS
        .iter()
        .filter(|(group, _)| *group == info.group)
        .find_map(|(_, printer)| printer(info.plural))
        .unwrap_or(DEFAULT)
}

/// The row conditions Kubernetes attaches to a row (only pods that have finished
/// carry one: `Completed`).
pub fn row_conditions(info: &ResourceInfo, obj: &Value) -> Option<Value> {
    match (info.group, info.plural) {
        ("", "pods") => pod::row_conditions(obj),
        _ => None,
    }
}
