//! The proxier's model: one [`ServicePort`] per port of every Service with a
//! ClusterIP, with its endpoints from the Service's EndpointSlices. Pure: built
//! from the informers' objects, no I/O.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::Value;

/// One endpoint of a service port (`ip:port` from an EndpointSlice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The address.
    pub ip: Ipv4Addr,
    /// The target port.
    pub port: u16,
    /// `conditions.ready` (unset counts as ready).
    pub ready: bool,
    /// `conditions.serving` (unset: as ready).
    pub serving: bool,
    /// `conditions.terminating` (unset: false).
    pub terminating: bool,
    /// Whether the endpoint runs on this node (`nodeName`).
    pub local: bool,
}

impl Endpoint {
    /// `ip:port`, as kube-proxy names endpoints in comments and chain hashes.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// One port of a Service, with everything the rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `namespace/name` or `namespace/name:port-name` (kube-proxy's ServicePortName).
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The ClusterIP.
    pub cluster_ip: Ipv4Addr,
    /// The service port.
    pub port: u16,
    /// The node port (NodePort and LoadBalancer Services).
    pub node_port: Option<u16>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `externalTrafficPolicy: Local` (for a Service reachable from outside).
    pub external_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// `sessionAffinity: ClientIP` with its timeout in seconds.
    pub affinity_seconds: Option<u32>,
    /// Endpoints, sorted by address, without duplicates.
    pub endpoints: Vec<Endpoint>,
}

impl ServicePort {
    /// Whether traffic can come from outside the cluster (node port, external or LB IPs).
    pub fn external(&self) -> bool {
        self.node_port.is_some() || !self.external_ips.is_empty() || !self.load_balancer_ips.is_empty()
    }

    /// Endpoints for traffic to the ClusterIP (kube-proxy's CategorizeEndpoints).
    pub fn cluster_endpoints(&self) -> Vec<&Endpoint> {
        if self.internal_local {
            self.local_endpoints()
        } else {
            self.usable_endpoints()
        }
    }

    /// Endpoints for traffic from outside (node port, external and LB IPs).
    pub fn external_endpoints(&self) -> Vec<&Endpoint> {
        if self.external_local {
            self.local_endpoints()
        } else {
            self.usable_endpoints()
        }
    }

    /// Every endpoint that can take traffic (ready; else serving while terminating).
    pub fn usable_endpoints(&self) -> Vec<&Endpoint> {
        usable(self.endpoints.iter())
    }

    /// This node's endpoints that can take traffic.
    pub fn local_endpoints(&self) -> Vec<&Endpoint> {
        usable(self.endpoints.iter().filter(|e| e.local))
    }

    /// Whether any endpoint could take traffic at all.
    pub fn has_endpoints(&self) -> bool {
        !self.usable_endpoints().is_empty()
    }
}

/// The ready endpoints; when there are none, those still serving while terminating.
fn usable<'a>(eps: impl Iterator<Item = &'a Endpoint> + Clone) -> Vec<&'a Endpoint> {
    let ready: Vec<&Endpoint> = eps.clone().filter(|e| e.ready).collect();
    if !ready.is_empty() {
        return ready;
    }
    eps.filter(|e| e.serving && e.terminating).collect()
}

/// Builds the service ports of `services` with endpoints from `slices`; `node` is this node's name.
pub fn build<'a>(
    services: impl IntoIterator<Item = &'a Value>,
    slices: impl IntoIterator<Item = &'a Value>,
    node: &str,
) -> Vec<ServicePort> {
    // (namespace, service) → slices
    let mut by_service: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for s in slices {
        if s["addressType"] != "IPv4" {
            continue;
        }
        let (Some(ns), Some(svc)) = (
            s["metadata"]["namespace"].as_str(),
            s["metadata"]["labels"]["kubernetes.io/service-name"].as_str(),
        ) else {
            continue;
        };
        by_service.entry((ns.to_string(), svc.to_string())).or_default().push(s);
    }
    let mut out = Vec::new();
    for svc in services {
        let spec = &svc["spec"];
        if spec["type"] == "ExternalName" {
            continue;
        }
        let Some(cluster_ip) = spec["clusterIP"].as_str().and_then(|ip| ip.parse::<Ipv4Addr>().ok()) else {
            continue; // headless, unset or IPv6
        };
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = svc["metadata"]["name"].as_str().unwrap_or_default();
        let slices = by_service
            .get(&(ns.to_string(), name.to_string()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let node_port_type = matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"));
        let external_ips = ips(spec["externalIPs"].as_array().into_iter().flatten());
        let load_balancer_ips = if spec["type"] == "LoadBalancer" {
            ips(svc["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| &i["ip"]))
        } else {
            Vec::new()
        };
        let affinity_seconds = (spec["sessionAffinity"] == "ClientIP").then(|| {
            spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"]
                .as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .unwrap_or(10800)
        });
        for p in spec["ports"].as_array().into_iter().flatten() {
            let Some(port) = p["port"].as_u64().and_then(|p| u16::try_from(p).ok()) else {
                continue;
            };
            let port_name = p["name"].as_str().unwrap_or_default();
            let protocol = p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase();
            let mut sp = ServicePort {
                name: if port_name.is_empty() {
                    format!("{ns}/{name}")
                } else {
                    format!("{ns}/{name}:{port_name}")
                },
                protocol,
                cluster_ip,
                port,
                node_port: p["nodePort"]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| node_port_type && *p != 0),
                external_ips: external_ips.clone(),
                load_balancer_ips: load_balancer_ips.clone(),
                external_local: false,
                internal_local: spec["internalTrafficPolicy"] == "Local",
                affinity_seconds,
                endpoints: endpoints_for(slices, port_name, &p["protocol"], node),
            };
            sp.external_local = sp.external() && spec["externalTrafficPolicy"] == "Local";
            out.push(sp);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.protocol.cmp(&b.protocol)));
    out
}

fn ips<'a>(values: impl Iterator<Item = &'a Value>) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = values.filter_map(|v| v.as_str()?.parse().ok()).collect();
    out.sort();
    out.dedup();
    out
}

/// The endpoints of the slices' port named `port_name` (and of the same protocol).
fn endpoints_for(slices: &[&Value], port_name: &str, protocol: &Value, node: &str) -> Vec<Endpoint> {
    let protocol = protocol.as_str().unwrap_or("TCP");
    let mut by_addr: BTreeMap<(Ipv4Addr, u16), Endpoint> = BTreeMap::new();
    for slice in slices {
        let Some(port) = slice["ports"].as_array().into_iter().flatten().find_map(|p| {
            let same_name = p["name"].as_str().unwrap_or_default() == port_name;
            let same_proto = p["protocol"].as_str().unwrap_or("TCP") == protocol;
            (same_name && same_proto)
                .then(|| p["port"].as_u64().and_then(|p| u16::try_from(p).ok()))
                .flatten()
        }) else {
            continue;
        };
        for ep in slice["endpoints"].as_array().into_iter().flatten() {
            let c = &ep["conditions"];
            let ready = c["ready"].as_bool().unwrap_or(true);
            let endpoint = |ip| Endpoint {
                ip,
                port,
                ready,
                serving: c["serving"].as_bool().unwrap_or(ready),
                terminating: c["terminating"].as_bool().unwrap_or(false),
                local: ep["nodeName"].as_str() == Some(node),
            };
            // One address per endpoint is all kube-proxy uses.
            let Some(ip) = ep["addresses"][0].as_str().and_then(|a| a.parse::<Ipv4Addr>().ok()) else {
                continue;
            };
            let e = endpoint(ip);
            by_addr
                .entry((ip, port))
                .and_modify(|old| {
                    if e.ready && !old.ready {
                        *old = e.clone();
                    }
                })
                .or_insert(e);
        }
    }
    by_addr.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"namespace": "shop", "name": "web"}, "spec": spec})
    }

    fn slice(name: &str, eps: Value) -> Value {
        json!({"metadata": {"namespace": "shop", "name": name, "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}], "endpoints": eps})
    }

    #[test]
    fn builds_ports_and_endpoints() {
        let s = svc(
            json!({"type": "NodePort", "clusterIP": "10.43.0.5", "externalTrafficPolicy": "Local",
            "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}),
        );
        let slices = [
            slice(
                "web-a",
                json!([
                    {"addresses": ["10.42.0.7"], "conditions": {"ready": true}, "nodeName": "n1"},
                    {"addresses": ["10.42.0.6"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "n2"},
                ]),
            ),
            // The same endpoint in a second slice (during a move) counts once.
            slice(
                "web-b",
                json!([{"addresses": ["10.42.0.7"], "conditions": {"ready": true}, "nodeName": "n1"}]),
            ),
        ];
        let ports = build([&s], slices.iter(), "n1");
        assert_eq!(ports.len(), 1);
        let p = &ports[0];
        assert_eq!(p.name, "shop/web:http");
        assert_eq!((p.protocol.as_str(), p.port, p.node_port), ("tcp", 80, Some(30080)));
        assert!(p.external_local);
        assert_eq!(p.affinity_seconds, Some(60));
        let addrs: Vec<String> = p.endpoints.iter().map(Endpoint::addr).collect();
        assert_eq!(addrs, ["10.42.0.6:8080", "10.42.0.7:8080"]);
        assert!(p.endpoints[1].local && !p.endpoints[0].local);
        assert_eq!(p.cluster_endpoints().len(), 1, "only the ready one");
    }

    #[test]
    fn terminating_endpoints_are_a_fallback() {
        let s = svc(json!({"clusterIP": "10.43.0.5", "ports": [{"name": "http", "port": 80}]}));
        let slices = [slice(
            "web-a",
            json!([
                {"addresses": ["10.42.0.6"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["10.42.0.8"], "conditions": {"ready": false, "serving": false, "terminating": true}},
                {"addresses": ["10.42.0.9"], "conditions": {"ready": false}},
            ]),
        )];
        let p = &build([&s], slices.iter(), "n1")[0];
        let eps: Vec<String> = p.cluster_endpoints().iter().map(|e| e.addr()).collect();
        assert_eq!(eps, ["10.42.0.6:8080"]);
        assert!(p.has_endpoints());
        assert!(!p.external(), "a ClusterIP Service is not reachable from outside");
    }

    #[test]
    fn skips_headless_external_name_and_other_ports() {
        let headless = svc(json!({"clusterIP": "None", "ports": [{"port": 80}]}));
        let ext = svc(json!({"type": "ExternalName", "externalName": "x.example"}));
        assert!(build([&headless, &ext], [], "n1").is_empty());
        // An unnamed service port takes the slice port with no name.
        let s = svc(json!({"clusterIP": "10.43.0.5", "ports": [{"port": 80, "protocol": "UDP"}]}));
        let p = &build([&s], [&slice("web-a", json!([{"addresses": ["10.42.0.6"]}]))], "n1")[0];
        assert_eq!(p.name, "shop/web");
        assert!(p.endpoints.is_empty(), "the slice's port is named http");
    }

    #[test]
    fn load_balancer_ingress_ips() {
        let s = json!({"metadata": {"namespace": "shop", "name": "web"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.43.0.5", "externalIPs": ["192.0.2.9"],
                "ports": [{"port": 80, "nodePort": 31000}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}, {"hostname": "lb.example"}]}}});
        let p = &build([&s], [], "n1")[0];
        assert_eq!(p.load_balancer_ips, [Ipv4Addr::new(192, 0, 2, 2)]);
        assert_eq!(p.external_ips, [Ipv4Addr::new(192, 0, 2, 9)]);
        assert!(!p.external_local);
    }
}
