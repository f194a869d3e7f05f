//! Pure logic of the service load balancer: which Services want one, which
//! node addresses they get, which node ports they take, and what else on the
//! node already holds one of those ports.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use k1s_proto::meta::ObjectMeta;
use serde_json::{json, Value};

use crate::controllers::runtime::cache_key;
use crate::controllers::scheduler::filters::host_ports;

/// The label that keeps a node out of every load balancer (`v1.LabelNodeExcludeBalancers`).
pub const EXCLUDE_BALANCERS_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// Whether this controller balances the Service: `type: LoadBalancer` with no
/// `loadBalancerClass` (a class belongs to another implementation), not being deleted.
pub fn wants_load_balancer(svc: &Value) -> bool {
    svc["spec"]["type"] == "LoadBalancer"
        && svc["spec"]["loadBalancerClass"].as_str().is_none()
        && svc.deletion_timestamp().is_none()
}

/// A port a load balancer takes on the node's addresses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LbPort {
    /// The Service `port`.
    pub port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

impl fmt::Display for LbPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

/// The ports a LoadBalancer Service answers on, sorted and without repeats.
pub fn lb_ports(svc: &Value) -> Vec<LbPort> {
    ports_of(svc, "port")
}

/// The nodePorts (and the healthCheckNodePort, TCP) a Service holds on every node.
fn node_ports(svc: &Value) -> Vec<LbPort> {
    let mut ports = ports_of(svc, "nodePort");
    if let Some(p) = svc["spec"]["healthCheckNodePort"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
    {
        if p != 0 {
            ports.push(LbPort {
                port: p,
                protocol: "TCP".into(),
            });
        }
    }
    ports
}

fn ports_of(svc: &Value, field: &str) -> Vec<LbPort> {
    let set: BTreeSet<LbPort> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let port = u16::try_from(p[field].as_u64()?).ok().filter(|p| *p != 0)?;
            Some(LbPort {
                port,
                protocol: p["protocol"].as_str().unwrap_or("TCP").to_string(),
            })
        })
        .collect();
    set.into_iter().collect()
}

/// The nodes a load balancer may use: all but those labelled out of balancers.
pub fn eligible_nodes<'a>(nodes: impl IntoIterator<Item = &'a Value>) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = nodes
        .into_iter()
        .filter(|n| n.label(EXCLUDE_BALANCERS_LABEL).is_none())
        .collect();
    out.sort_by_key(|n| n.name().unwrap_or_default().to_string());
    out
}

/// The ingress addresses for a Service, as k3s's service load balancer picks
/// them: the nodes' ExternalIPs if any node has one, else their InternalIPs,
/// of the Service's IP families (in their order), sorted, without repeats.
pub fn ingress_addresses(nodes: &[&Value], svc: &Value) -> Vec<IpAddr> {
    let of_type = |t: &str| -> BTreeSet<IpAddr> {
        nodes
            .iter()
            .flat_map(|n| n["status"]["addresses"].as_array().into_iter().flatten())
            .filter(|a| a["type"] == t)
            .filter_map(|a| a["address"].as_str()?.parse().ok())
            .collect()
    };
    let external = of_type("ExternalIP");
    let ips = if external.is_empty() {
        of_type("InternalIP")
    } else {
        external
    };
    let families: Vec<&str> = match svc["spec"]["ipFamilies"].as_array() {
        Some(f) if !f.is_empty() => f.iter().filter_map(Value::as_str).collect(),
        _ => vec!["IPv4"],
    };
    let mut out = Vec::new();
    for family in families {
        out.extend(ips.iter().filter(|ip| match family {
            "IPv4" => ip.is_ipv4(),
            "IPv6" => ip.is_ipv6(),
            _ => false,
        }));
    }
    out
}

/// `status.loadBalancer` for these addresses (`ipMode: VIP`: the node's proxy
/// answers for the address itself).
pub fn load_balancer_status(ips: &[IpAddr]) -> Value {
    if ips.is_empty() {
        return json!({});
    }
    let ingress: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"ip": ip.to_string(), "ipMode": "VIP"}))
        .collect();
    json!({ "ingress": ingress })
}

/// Whether the Service's `status.loadBalancer` already is `desired` (an empty
/// status and one without ingress are the same).
pub fn status_matches(svc: &Value, desired: &Value) -> bool {
    let ingress = |lb: &Value| lb["ingress"].as_array().cloned().unwrap_or_default();
    ingress(&svc["status"]["loadBalancer"]) == ingress(desired)
}

/// The addresses (or hostnames) of a load balancer status, as k3s prints them in events.
pub fn ingress_strings(lb: &Value) -> Vec<String> {
    lb["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["ip"].as_str().or_else(|| i["hostname"].as_str()))
        .map(String::from)
        .collect()
}

/// Something on the node that already holds a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Another LoadBalancer Service (`namespace/name`) answers on it.
    LoadBalancer(String),
    /// It is a nodePort of this Service (`namespace/name`).
    NodePort(String),
    /// A pod (`namespace/name`) on the node has it as a hostPort.
    HostPort(String),
    /// A process on the node listens on it (the bind error).
    Host(String),
}

/// Why a Service cannot have its load balancer: a port someone else holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The port.
    pub port: LbPort,
    /// The node it is taken on.
    pub node: String,
    /// Who holds it.
    pub holder: Holder,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (port, node) = (&self.port, &self.node);
        match &self.holder {
            Holder::LoadBalancer(s) => write!(
                f,
                "port {port} on node {node} is already used by the load balancer of Service {s}"
            ),
            Holder::NodePort(s) => write!(f, "port {port} on node {node} is already a nodePort of Service {s}"),
            Holder::HostPort(p) => write!(f, "port {port} on node {node} is already a hostPort of pod {p}"),
            Holder::Host(e) => write!(f, "port {port} on node {node} is already in use on the host: {e}"),
        }
    }
}

/// The first of `wanted` that another Service holds as a nodePort (or health
/// check port) or a pod on the node as a hostPort on one of `node_ips` (or all
/// addresses). `me` is the Service's own `namespace/name`.
pub fn cluster_holder<'a>(
    wanted: &[LbPort],
    me: &str,
    services: impl IntoIterator<Item = &'a Value>,
    pods: impl IntoIterator<Item = &'a Value>,
    node_ips: &[IpAddr],
) -> Option<(LbPort, Holder)> {
    let mut held: Vec<(LbPort, Holder)> = Vec::new();
    for svc in services {
        let Some(name) = svc.name() else { continue };
        let key = cache_key(svc.namespace(), name);
        if key == me || !matches!(svc["spec"]["type"].as_str(), Some("NodePort" | "LoadBalancer")) {
            continue;
        }
        held.extend(node_ports(svc).into_iter().map(|p| (p, Holder::NodePort(key.clone()))));
    }
    for pod in pods.into_iter().filter(|p| !is_finished(p)) {
        let Some(name) = pod.name() else { continue };
        let key = cache_key(pod.namespace(), name);
        for hp in host_ports(pod) {
            let on_node = hp.ip == "0.0.0.0" || hp.ip == "::" || node_ips.iter().any(|ip| ip.to_string() == hp.ip);
            if let (true, Ok(port)) = (on_node, u16::try_from(hp.port)) {
                held.push((
                    LbPort {
                        port,
                        protocol: hp.protocol,
                    },
                    Holder::HostPort(key.clone()),
                ));
            }
        }
    }
    wanted.iter().find_map(|w| held.iter().find(|(p, _)| p == w).cloned())
}

/// A pod that no longer holds its ports.
fn is_finished(pod: &Value) -> bool {
    matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec})
    }

    fn p(port: u16, protocol: &str) -> LbPort {
        LbPort {
            port,
            protocol: protocol.into(),
        }
    }

    #[test]
    fn which_services_want_a_load_balancer() {
        for (spec, meta, wants) in [
            (json!({"type": "LoadBalancer"}), json!({}), true),
            (json!({"type": "NodePort"}), json!({}), false),
            (json!({"type": "ClusterIP"}), json!({}), false),
            (
                json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/lb"}),
                json!({}),
                false,
            ),
            (
                json!({"type": "LoadBalancer"}),
                json!({"deletionTimestamp": "2026-01-01T00:00:00Z"}),
                false,
            ),
        ] {
            let mut s = svc("s", spec.clone());
            if let Some(ts) = meta.get("deletionTimestamp") {
                s["metadata"]["deletionTimestamp"] = ts.clone();
            }
            assert_eq!(wants_load_balancer(&s), wants, "{spec} {meta}");
        }
    }

    #[test]
    fn ports_are_the_service_ports_by_protocol() {
        let s = svc(
            "s",
            json!({"ports": [
                {"port": 80, "protocol": "TCP", "nodePort": 30001},
                {"port": 53, "protocol": "UDP", "nodePort": 30002},
                {"port": 53, "protocol": "TCP"},
                {"port": 80},
            ], "healthCheckNodePort": 30003}),
        );
        assert_eq!(lb_ports(&s), vec![p(53, "TCP"), p(53, "UDP"), p(80, "TCP")]);
        assert_eq!(node_ports(&s), vec![p(30001, "TCP"), p(30002, "UDP"), p(30003, "TCP")]);
        assert!(lb_ports(&svc("none", json!({}))).is_empty());
    }

    #[test]
    fn ingress_prefers_external_addresses_and_follows_ip_families() {
        let node = |name: &str, addrs: Value| json!({"metadata": {"name": name}, "status": {"addresses": addrs}});
        let internal = node(
            "a",
            json!([{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "a"},
                {"type": "InternalIP", "address": "fd00::2"}]),
        );
        let external = node(
            "b",
            json!([{"type": "InternalIP", "address": "10.0.0.3"}, {"type": "ExternalIP", "address": "203.0.113.3"}]),
        );
        let mut excluded = node("c", json!([{"type": "InternalIP", "address": "10.0.0.4"}]));
        excluded["metadata"]["labels"] = json!({EXCLUDE_BALANCERS_LABEL: ""});
        let v4 = svc("s", json!({"ipFamilies": ["IPv4"]}));
        let dual = svc("s", json!({"ipFamilies": ["IPv6", "IPv4"]}));
        let ips = |nodes: &[&Value], s: &Value| -> Vec<String> {
            ingress_addresses(&eligible_nodes(nodes.iter().copied()), s)
                .iter()
                .map(|i| i.to_string())
                .collect()
        };
        assert_eq!(ips(&[&internal], &v4), ["10.0.0.2"]);
        assert_eq!(ips(&[&internal], &dual), ["fd00::2", "10.0.0.2"]);
        assert_eq!(ips(&[&internal, &external], &v4), ["203.0.113.3"]);
        assert_eq!(ips(&[&excluded], &v4), Vec::<String>::new());
        assert_eq!(ips(&[], &svc("s", json!({}))), Vec::<String>::new());
    }

    #[test]
    fn status_of_addresses() {
        let ips: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap()];
        let st = load_balancer_status(&ips);
        assert_eq!(st, json!({"ingress": [{"ip": "10.0.0.2", "ipMode": "VIP"}]}));
        assert_eq!(load_balancer_status(&[]), json!({}));
        let mut s = svc("s", json!({}));
        assert!(status_matches(&s, &json!({})));
        assert!(!status_matches(&s, &st));
        s["status"] = json!({"loadBalancer": st.clone()});
        assert!(status_matches(&s, &st));
        assert_eq!(ingress_strings(&st), ["10.0.0.2"]);
    }

    #[test]
    fn node_ports_and_host_ports_hold_ports() {
        let node_ips: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap()];
        let np = svc(
            "np",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
        );
        let me = svc(
            "me",
            json!({"type": "LoadBalancer", "ports": [{"port": 30090, "nodePort": 30090, "protocol": "TCP"}]}),
        );
        let cluster_ip = svc(
            "cip",
            json!({"type": "ClusterIP", "ports": [{"port": 8080, "protocol": "TCP"}]}),
        );
        let pod = |name: &str, port: Value, phase: &str| {
            json!({"metadata": {"name": name, "namespace": "ns"}, "status": {"phase": phase},
                "spec": {"containers": [{"name": "c", "ports": [port]}]}})
        };
        let pods = [
            pod("all", json!({"containerPort": 80, "hostPort": 8080}), "Running"),
            pod(
                "other-ip",
                json!({"containerPort": 80, "hostPort": 8081, "hostIP": "127.0.0.1"}),
                "Running",
            ),
            pod(
                "node-ip",
                json!({"containerPort": 80, "hostPort": 8082, "hostIP": "10.0.0.2"}),
                "Pending",
            ),
            pod(
                "udp",
                json!({"containerPort": 53, "hostPort": 5353, "protocol": "UDP"}),
                "Running",
            ),
            pod("done", json!({"containerPort": 80, "hostPort": 8083}), "Succeeded"),
        ];
        let services = [np.clone(), me.clone(), cluster_ip];
        let check = |port: LbPort| {
            cluster_holder(&[port], "default/me", services.iter(), pods.iter(), &node_ips).map(|(_, h)| h)
        };
        assert_eq!(check(p(30080, "TCP")), Some(Holder::NodePort("default/np".into())));
        assert_eq!(check(p(30080, "UDP")), None);
        assert_eq!(check(p(30090, "TCP")), None, "its own nodePort");
        assert_eq!(check(p(8080, "TCP")), Some(Holder::HostPort("ns/all".into())));
        assert_eq!(check(p(8081, "TCP")), None, "a hostPort on another address");
        assert_eq!(check(p(8082, "TCP")), Some(Holder::HostPort("ns/node-ip".into())));
        assert_eq!(check(p(5353, "UDP")), Some(Holder::HostPort("ns/udp".into())));
        assert_eq!(check(p(5353, "TCP")), None);
        assert_eq!(check(p(8083, "TCP")), None, "a finished pod");
        assert_eq!(check(p(8080 + 100, "TCP")), None, "a ClusterIP port is no node port");
    }

    #[test]
    fn conflict_messages() {
        let c = |holder| Conflict {
            port: p(8080, "TCP"),
            node: "n1".into(),
            holder,
        };
        assert_eq!(
            c(Holder::LoadBalancer("default/a".into())).to_string(),
            "port 8080/TCP on node n1 is already used by the load balancer of Service default/a"
        );
        assert_eq!(
            c(Holder::NodePort("default/b".into())).to_string(),
            "port 8080/TCP on node n1 is already a nodePort of Service default/b"
        );
        assert_eq!(
            c(Holder::HostPort("ns/p".into())).to_string(),
            "port 8080/TCP on node n1 is already a hostPort of pod ns/p"
        );
        assert_eq!(
            c(Holder::Host("address in use (10.0.0.2:8080)".into())).to_string(),
            "port 8080/TCP on node n1 is already in use on the host: address in use (10.0.0.2:8080)"
        );
    }
}
