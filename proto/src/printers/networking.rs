//! `networking.k8s.io/v1` printers: ingresses, ingressclasses and networkpolicies
//! (`printIngress`, `printIngressClass`, `printNetworkPolicy`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::group_cells::{age, at, format_label_selector, list_at, name, str_at, string_at};
use super::{Column, PrintContext, Printer};

/// The printer of a `networking.k8s.io` resource, if Kubernetes has one.
pub fn printer(plural: &str) -> Option<Printer> {
    let printer = match plural {
        "ingresses" => Printer {
            columns: INGRESS_COLUMNS,
            row: ingress_row,
        },
        "ingressclasses" => Printer {
            columns: INGRESSCLASS_COLUMNS,
            row: ingressclass_row,
        },
        "networkpolicies" => Printer {
            columns: NETWORKPOLICY_COLUMNS,
            row: networkpolicy_row,
        },
        _ => return None,
    };
    Some(printer)
}

const INGRESS_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    Column::new(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    Column::new(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    Column::new("Ports", "string", "Ports of TLS configurations that open"),
    Column::age(),
];

/// `formatHosts`: up to three rule hosts, then ` + N more...` (counting every rule); `*` without hosts.
fn format_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        match str_at(rule, &["host"]) {
            Some(host) if !more && !host.is_empty() => list.push(host),
            _ => {}
        }
    }
    if list.is_empty() {
        return "*".into();
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - MAX)
    } else {
        joined
    }
}

/// The load balancer's IPs (or hostnames), sorted and de-duplicated. The server renders
/// wide rows, so the address is never clipped.
fn load_balancer_addresses(obj: &Value) -> String {
    let mut set = BTreeSet::new();
    for ing in list_at(obj, &["status", "loadBalancer", "ingress"]) {
        let ip = str_at(ing, &["ip"]).unwrap_or_default();
        let hostname = str_at(ing, &["hostname"]).unwrap_or_default();
        if !ip.is_empty() {
            set.insert(ip);
        } else if !hostname.is_empty() {
            set.insert(hostname);
        }
    }
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn ingress_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let class = str_at(obj, &["spec", "ingressClassName"]).unwrap_or("<none>");
    let ports = if list_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(obj),
        json!(class),
        json!(format_hosts(list_at(obj, &["spec", "rules"]))),
        json!(load_balancer_addresses(obj)),
        json!(ports),
        age(obj, ctx),
    ]
}

const INGRESSCLASS_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    Column::new(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    Column::age(),
];

fn ingressclass_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    let parameters = match at(obj, &["spec", "parameters"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut s = string_at(p, &["kind"]);
            if let Some(group) = str_at(p, &["apiGroup"]) {
                s = format!("{s}.{group}");
            }
            format!("{s}/{}", string_at(p, &["name"]))
        }
    };
    vec![
        name(obj),
        json!(string_at(obj, &["spec", "controller"])),
        json!(parameters),
        age(obj, ctx),
    ]
}

const NETWORKPOLICY_COLUMNS: &[Column] = &[
    Column::name(),
    Column::new(
        "Pod-Selector",
        "string",
        "podSelector selects the pods to which this NetworkPolicy object applies. The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.",
    ),
    Column::age(),
];

fn networkpolicy_row(obj: &Value, ctx: &PrintContext) -> Vec<Value> {
    // podSelector is a struct, never nil: an absent one is the empty selector.
    let selector = at(obj, &["spec", "podSelector"]).cloned().unwrap_or_else(|| json!({}));
    vec![name(obj), json!(format_label_selector(Some(&selector))), age(obj, ctx)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PrintContext {
        PrintContext {
            now: "2025-01-03T05:00:00Z".parse().unwrap(),
        }
    }

    fn row(plural: &str, obj: &Value) -> Vec<Value> {
        let p = printer(plural).unwrap();
        let cells = (p.row)(obj, &ctx());
        assert_eq!(cells.len(), p.columns.len());
        cells
    }

    const CREATED: &str = "2025-01-01T00:00:00Z";

    #[test]
    fn ingress_cells() {
        let names: Vec<&str> = INGRESS_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Class", "Hosts", "Address", "Ports", "Age"]);
        let ing = json!({"metadata": {"name": "web", "creationTimestamp": CREATED},
            "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}, {"hostname": "lb.example.com"}, {"ip": "10.0.0.2"}]}}});
        assert_eq!(
            row("ingresses", &ing),
            [
                json!("web"),
                json!("nginx"),
                json!("a.example.com,b.example.com"),
                json!("10.0.0.2,10.0.0.9,lb.example.com"),
                json!("80, 443"),
                json!("2d5h")
            ]
        );
        let bare = json!({"metadata": {"name": "any"}, "spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}});
        assert_eq!(
            row("ingresses", &bare)[1..5],
            [json!("<none>"), json!("*"), json!(""), json!("80")]
        );
    }

    #[test]
    fn ingress_hosts_overflow() {
        let rules: Vec<Value> = ["a", "", "b", "c", "d", "e"]
            .iter()
            .map(|h| json!({"host": h}))
            .collect();
        // Three hosts shown; the rest counted by rules (including the one without a host).
        assert_eq!(format_hosts(&rules), "a,b,c + 3 more...");
        assert_eq!(format_hosts(&[json!({"http": {}})]), "*");
    }

    #[test]
    fn ingressclass_parameters() {
        let names: Vec<&str> = INGRESSCLASS_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Controller", "Parameters", "Age"]);
        let ic = json!({"metadata": {"name": "nginx", "creationTimestamp": CREATED},
            "spec": {"controller": "k8s.io/ingress-nginx",
                "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
        assert_eq!(
            row("ingressclasses", &ic),
            [
                json!("nginx"),
                json!("k8s.io/ingress-nginx"),
                json!("IngressParameters.k8s.example.com/external-lb"),
                json!("2d5h")
            ]
        );
        let core = json!({"metadata": {"name": "c"}, "spec": {"controller": "x", "parameters": {"kind": "ConfigMap", "name": "cfg"}}});
        assert_eq!(row("ingressclasses", &core)[2], "ConfigMap/cfg");
        let none = json!({"metadata": {"name": "n"}, "spec": {"controller": "x"}});
        assert_eq!(row("ingressclasses", &none)[2], "<none>");
    }

    #[test]
    fn networkpolicy_selector() {
        let names: Vec<&str> = NETWORKPOLICY_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Pod-Selector", "Age"]);
        let np = json!({"metadata": {"name": "db", "creationTimestamp": CREATED},
            "spec": {"podSelector": {"matchLabels": {"role": "db"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}}});
        assert_eq!(
            row("networkpolicies", &np),
            [json!("db"), json!("env in (prod),role=db"), json!("2d5h")]
        );
        let all = json!({"metadata": {"name": "deny", "creationTimestamp": CREATED}, "spec": {"podSelector": {}}});
        assert_eq!(row("networkpolicies", &all)[1], "<none>");
    }
}
