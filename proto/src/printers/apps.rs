//! `apps/v1` printers: deployments, replicasets, statefulsets, daemonsets and
//! controllerrevisions (`printDeployment`, `printReplicaSet`, `printStatefulSet`,
//! `printDaemonSet`, `printControllerRevision`).

use serde_json::{json, Value};

use super::group_cells::{
    age, container_cells, format_label_selector, format_labels, int_at, list_at, name, selector_string, str_at,
};
use super::{Column, PrintContext, Printer};

const CONTAINERS: Column = Column::new("Containers", "string", "Names of each container in the template.").wide();
const IMAGES: Column = Column::new(
    "Images",
    "string",
    "Images referenced by each container in the template.",
)
.wide();

/// The printer of an `apps` resource, if Kubernetes has one.
pub fn printer(plural: &str) -> Option<Printer> {
    let printer = match plural {
        "deployments" => Printer {
            columns: DEPLOYMENT_COLUMNS,
            row: deployment_row,
        },
        "replicasets" => Printer {
            columns: REPLICASET_COLUMNS,
            row: replicaset_row,
        },
        "statefulsets" => Printer {
            columns: STATEFULSET_COLUMNS,
            row: statefulset_row,
        },
        "daemonsets" => Printer {
            columns: DAEMONSET_COLUMNS,
            row: daemonset_row,
        },
        "controllerrevisions" => Printer {
            columns: CONTROLLERREVISION_COLUMNS,
            row: controllerrevision_row,
        },
        _ => return None,
    };
    Some(printer)
}

const DEPLOYMENT_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new("Ready", "string", "Number of the pod with ready state"),
    Column::new(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    Column::new(
        "Available",
        "string",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    Column::age(),
    CONTAINERS,
    IMAGES,
    Column::new(
        "Selector",
        "string",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
    )
    .wide(),
];

fn template_spec(obj: &Value) -> Option<&Value> {
    obj.get("spec")?.get("template")?.get("spec")
}

fn deployment_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let ready = format!(
        "{}/{}",
        int_at(obj, &["status", "readyReplicas"]),
        int_at(obj, &["spec", "replicas"])
    );
    // printDeployment uses the selector's plain string: empty for none, `<invalid>` when it is broken.
    let selector =
        selector_string(obj.get("spec").and_then(|s| s.get("selector"))).unwrap_or_else(|_| "<invalid>".into());
    let (names, images) = container_cells(template_spec(obj));
    vec![
        name(obj),
        json!(ready),
        json!(int_at(obj, &["status", "updatedReplicas"])),
        json!(int_at(obj, &["status", "availableReplicas"])),
        age(obj, ctx),
        names,
        images,
        json!(selector),
    ]
}

const REPLICASET_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Desired",
        "integer",
        "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
    ),
    Column::new(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
    ),
    Column::new("Ready", "integer", "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition."),
    Column::age(),
    CONTAINERS,
    IMAGES,
    Column::new(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )
    .wide(),
];

fn replicaset_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let (names, images) = container_cells(template_spec(obj));
    vec![
        name(obj),
        json!(int_at(obj, &["spec", "replicas"])),
        json!(int_at(obj, &["status", "replicas"])),
        json!(int_at(obj, &["status", "readyReplicas"])),
        age(obj, ctx),
        names,
        images,
        json!(format_label_selector(obj.get("spec").and_then(|s| s.get("selector")))),
    ]
}

const STATEFULSET_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new("Ready", "string", "Number of the pod with ready state"),
    Column::age(),
    CONTAINERS,
    IMAGES,
];

fn statefulset_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let ready = format!(
        "{}/{}",
        int_at(obj, &["status", "readyReplicas"]),
        int_at(obj, &["spec", "replicas"])
    );
    let (names, images) = container_cells(template_spec(obj));
    vec![name(obj), json!(ready), age(obj, ctx), names, images]
}

const DAEMONSET_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    Column::new(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    Column::new(
        "Ready",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
    ),
    Column::new("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    Column::new(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    Column::new(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    ),
    Column::age(),
    CONTAINERS,
    IMAGES,
    Column::new(
        "Selector",
        "string",
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    )
    .wide(),
];

fn daemonset_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let status = |field: &str| json!(int_at(obj, &["status", field]));
    let spec = template_spec(obj);
    let (names, images) = container_cells(spec);
    vec![
        name(obj),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        json!(format_labels(spec.and_then(|s| s.get("nodeSelector")))),
        age(obj, ctx),
        names,
        images,
        json!(format_label_selector(obj.get("spec").and_then(|s| s.get("selector")))),
    ]
}

const CONTROLLERREVISION_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new("Controller", "string", "Controller of the object"),
    Column::new(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
    ),
    Column::age(),
];

/// The controlling owner as `kind.group/name` in lower case (`formatResourceName` with kind),
/// `<none>` without one.
fn controller_name(obj: &Value) -> String {
    let Some(owner) = list_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
    else {
        return "<none>".into();
    };
    let owner_name = str_at(owner, &["name"]).unwrap_or_default();
    let kind = str_at(owner, &["kind"]).unwrap_or_default();
    // schema.ParseGroupVersion: `group/version`, or a bare version in the core group.
    let group = match str_at(owner, &["apiVersion"]).unwrap_or_default().split_once('/') {
        Some((group, _)) => group,
        None => "",
    };
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    if group_kind.is_empty() {
        owner_name.to_string()
    } else {
        format!("{}/{owner_name}", group_kind.to_lowercase())
    }
}

fn controllerrevision_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    vec![
        name(obj),
        json!(controller_name(obj)),
        json!(int_at(obj, &["revision"])),
        age(obj, ctx),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PrintContext {
        PrintContext {
            now: "2025-01-01T01:00:00Z".parse().unwrap(),
        }
    }

    fn row(plural: &str, obj: &Value) -> Vec<Value> {
        let p = printer(plural).unwrap();
        let cells = (p.row)(obj, &ctx());
        assert_eq!(cells.len(), p.columns.len(), "{plural}: one cell per column");
        cells
    }

    fn headers(plural: &str) -> Vec<(&'static str, i32)> {
        printer(plural)
            .unwrap()
            .columns
            .iter()
            .map(|c| (c.name, c.priority))
            .collect()
    }

    const CREATED: &str = "2025-01-01T00:00:00Z";

    #[test]
    fn deployment_columns_and_ready_counts() {
        assert_eq!(
            headers("deployments"),
            [
                ("Name", 0),
                ("Ready", 0),
                ("Up-to-date", 0),
                ("Available", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
        );
        let d = json!({"metadata": {"name": "web", "creationTimestamp": CREATED},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"}},
                "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "side", "image": "busybox"}]}}},
            "status": {"replicas": 3, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1}});
        assert_eq!(
            row("deployments", &d),
            [
                json!("web"),
                json!("1/3"),
                json!(2),
                json!(1),
                json!("60m"),
                json!("nginx,side"),
                json!("nginx:1.27,busybox"),
                json!("app=web,tier=fe")
            ]
        );
        // No status yet: 0/N and zero counts; an empty selector prints as an empty string, not <none>.
        let fresh = json!({"metadata": {"name": "new", "creationTimestamp": CREATED},
            "spec": {"replicas": 2, "selector": {}, "template": {"spec": {"containers": []}}}});
        let cells = row("deployments", &fresh);
        assert_eq!(cells[1], "0/2");
        assert_eq!(cells[2], 0);
        assert_eq!(cells[7], "");
        let broken = json!({"metadata": {"name": "b"}, "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Nope"}]}}});
        let cells = row("deployments", &broken);
        assert_eq!(cells[7], "<invalid>");
        assert_eq!(cells[4], "<unknown>");
    }

    #[test]
    fn replicaset_and_statefulset() {
        assert_eq!(
            headers("replicasets"),
            [
                ("Name", 0),
                ("Desired", 0),
                ("Current", 0),
                ("Ready", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
        );
        let rs = json!({"metadata": {"name": "web-5d8f", "creationTimestamp": CREATED},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d8f"}},
                "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
            "status": {"replicas": 3, "readyReplicas": 2}});
        assert_eq!(
            row("replicasets", &rs),
            [
                json!("web-5d8f"),
                json!(3),
                json!(3),
                json!(2),
                json!("60m"),
                json!("nginx"),
                json!("nginx"),
                json!("app=web,pod-template-hash=5d8f")
            ]
        );
        assert_eq!(
            headers("statefulsets"),
            [("Name", 0), ("Ready", 0), ("Age", 0), ("Containers", 1), ("Images", 1)]
        );
        let sts = json!({"metadata": {"name": "db", "creationTimestamp": CREATED},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "pg", "image": "postgres:16"}]}}},
            "status": {"replicas": 2}});
        assert_eq!(
            row("statefulsets", &sts),
            [
                json!("db"),
                json!("0/2"),
                json!("60m"),
                json!("pg"),
                json!("postgres:16")
            ]
        );
    }

    #[test]
    fn daemonset_node_selector_and_counts() {
        assert_eq!(
            headers("daemonsets"),
            [
                ("Name", 0),
                ("Desired", 0),
                ("Current", 0),
                ("Ready", 0),
                ("Up-to-date", 0),
                ("Available", 0),
                ("Node Selector", 0),
                ("Age", 0),
                ("Containers", 1),
                ("Images", 1),
                ("Selector", 1)
            ]
        );
        let ds = json!({"metadata": {"name": "agent", "creationTimestamp": CREATED},
            "spec": {"selector": {"matchLabels": {"name": "agent"}},
                "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux", "disk": "ssd"},
                    "containers": [{"name": "a", "image": "agent:1"}]}}},
            "status": {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 1,
                "updatedNumberScheduled": 1, "numberAvailable": 0}});
        assert_eq!(
            row("daemonsets", &ds),
            [
                json!("agent"),
                json!(1),
                json!(1),
                json!(1),
                json!(1),
                json!(0),
                json!("disk=ssd,kubernetes.io/os=linux"),
                json!("60m"),
                json!("a"),
                json!("agent:1"),
                json!("name=agent")
            ]
        );
        let bare = json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {}}}});
        assert_eq!(row("daemonsets", &bare)[6], "<none>");
        assert_eq!(row("daemonsets", &bare)[10], "<none>");
    }

    #[test]
    fn controllerrevision_controller() {
        assert_eq!(
            headers("controllerrevisions"),
            [("Name", 0), ("Controller", 0), ("Revision", 0), ("Age", 0)]
        );
        let cr = json!({"metadata": {"name": "db-7f9", "creationTimestamp": CREATED, "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": "other"},
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true}]},
            "revision": 2});
        assert_eq!(
            row("controllerrevisions", &cr),
            [json!("db-7f9"), json!("statefulset.apps/db"), json!(2), json!("60m")]
        );
        let core_owner = json!({"metadata": {"name": "r", "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": true}]}, "revision": 1});
        assert_eq!(row("controllerrevisions", &core_owner)[1], "pod/p");
        let orphan = json!({"metadata": {"name": "r"}, "revision": 1});
        assert_eq!(row("controllerrevisions", &orphan)[1], "<none>");
        assert!(printer("scales").is_none());
    }
}
