//! Tests of the group lookup: every served kind outside the core group gets its printer.

use super::*;
use crate::resources::{find, RESOURCES};

#[test]
fn served_kinds_get_their_printers() {
    let columns = |group: &str, version: &str, plural: &str| -> Vec<&'static str> {
        let info = find(group, version, plural).expect("served");
        printer_for(info).columns.iter().map(|c| c.name).collect()
    };
    assert_eq!(columns("apps", "v1", "deployments")[1], "Ready");
    assert_eq!(columns("autoscaling", "v1", "horizontalpodautoscalers")[2], "Targets");
    assert_eq!(columns("autoscaling", "v2", "horizontalpodautoscalers")[2], "Targets");
    assert_eq!(
        columns("rbac.authorization.k8s.io", "v1", "roles"),
        ["Name", "Created At"]
    );
    assert_eq!(
        columns("rbac.authorization.k8s.io", "v1", "clusterrolebindings")[1],
        "Role"
    );
    assert_eq!(columns("storage.k8s.io", "v1", "storageclasses")[1], "Provisioner");
}

#[test]
fn group_printers_name_first_and_fill_every_column() {
    let groups = [
        "apps",
        "batch",
        "autoscaling",
        "networking.k8s.io",
        "storage.k8s.io",
        "rbac.authorization.k8s.io",
        "discovery.k8s.io",
        "coordination.k8s.io",
        "policy",
        "scheduling.k8s.io",
    ];
    for info in RESOURCES.iter().filter(|r| groups.contains(&r.group)) {
        let p = printer_for(info);
        assert_eq!(p.columns[0].name, "Name", "{}", info.plural);
        assert_eq!(p.columns[0].format, "name", "{}", info.plural);
        let cells = (p.row)(&serde_json::json!({"metadata": {"name": "x"}}), &PrintContext::now());
        assert_eq!(cells.len(), p.columns.len(), "{}: one cell per column", info.plural);
        assert_eq!(cells[0], "x", "{}", info.plural);
    }
}
