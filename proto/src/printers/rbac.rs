//! `rbac.authorization.k8s.io/v1` printers: rolebindings and clusterrolebindings
//! (`printRoleBinding`, `printClusterRoleBinding`). Roles and cluster roles have no
//! printer in Kubernetes and keep the default `Name`, `Created At` columns.

use serde_json::{json, Value};

use super::group_cells::{age, list_at, name, str_at};
use super::{Column, PrintContext, Printer};

/// The printer of an `rbac.authorization.k8s.io` resource, if Kubernetes has one.
pub fn printer(plural: &str) -> Option<Printer> {
    match plural {
        "rolebindings" => Some(Printer {
            columns: ROLEBINDING_COLUMNS,
            row: binding_row,
        }),
        "clusterrolebindings" => Some(Printer {
            columns: CLUSTERROLEBINDING_COLUMNS,
            row: binding_row,
        }),
        _ => None,
    }
}

const ROLEBINDING_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Role",
        "string",
        "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.",
    ),
    Column::age(),
    Column::new("Users", "string", "Users in the roleBinding").wide(),
    Column::new("Groups", "string", "Groups in the roleBinding").wide(),
    Column::new("ServiceAccounts", "string", "ServiceAccounts in the roleBinding").wide(),
];

const CLUSTERROLEBINDING_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Role",
        "string",
        "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.",
    ),
    Column::age(),
    Column::new("Users", "string", "Users in the clusterRoleBinding").wide(),
    Column::new("Groups", "string", "Groups in the clusterRoleBinding").wide(),
    Column::new("ServiceAccounts", "string", "ServiceAccounts in the clusterRoleBinding").wide(),
];

/// `rbac.SubjectsStrings`: users, groups and `namespace/name` service accounts, each joined by `, `.
fn subjects(obj: &Value) -> (String, String, String) {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in list_at(obj, &["subjects"]) {
        let subject_name = str_at(s, &["name"]).unwrap_or_default();
        match str_at(s, &["kind"]).unwrap_or_default() {
            "ServiceAccount" => sas.push(format!(
                "{}/{subject_name}",
                str_at(s, &["namespace"]).unwrap_or_default()
            )),
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            _ => {}
        }
    }
    (users.join(", "), groups.join(", "), sas.join(", "))
}

fn binding_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(obj, &["roleRef", "kind"]).unwrap_or_default(),
        str_at(obj, &["roleRef", "name"]).unwrap_or_default()
    );
    let (users, groups, sas) = subjects(obj);
    vec![
        name(obj),
        json!(role),
        age(obj, ctx),
        json!(users),
        json!(groups),
        json!(sas),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_cells() {
        let ctx = PrintContext {
            now: "2025-01-01T00:00:30Z".parse().unwrap(),
        };
        for plural in ["rolebindings", "clusterrolebindings"] {
            let p = printer(plural).unwrap();
            let cols: Vec<(&str, i32)> = p.columns.iter().map(|c| (c.name, c.priority)).collect();
            assert_eq!(
                cols,
                [
                    ("Name", 0),
                    ("Role", 0),
                    ("Age", 0),
                    ("Users", 1),
                    ("Groups", 1),
                    ("ServiceAccounts", 1)
                ]
            );
        }
        let rb = json!({"metadata": {"name": "read", "namespace": "dev", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "dev"},
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"},
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"},
                {"kind": "ServiceAccount", "name": "nons"}]});
        let p = printer("rolebindings").unwrap();
        assert_eq!(
            (p.row)(&rb, &ctx),
            [
                json!("read"),
                json!("ClusterRole/view"),
                json!("30s"),
                json!("alice, bob"),
                json!("devs"),
                json!("dev/ci, /nons")
            ]
        );
        let empty = json!({"metadata": {"name": "e"}, "roleRef": {"kind": "Role", "name": "r"}});
        assert_eq!(
            (p.row)(&empty, &ctx)[1..],
            [json!("Role/r"), json!("<unknown>"), json!(""), json!(""), json!("")]
        );
        assert!(printer("roles").is_none());
        assert!(printer("clusterroles").is_none());
    }
}
