//! A pod's `hostPort`s as the `portMappings` capability argument of the portmap plugin.

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

/// One port mapping, in the portmap plugin's `runtimeConfig.portMappings` form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The node port.
    pub host_port: i32,
    /// The pod's port.
    pub container_port: i32,
    /// `tcp`, `udp` or `sctp` (lower case, as containerd's CRI passes it).
    pub protocol: String,
    /// The node address to bind, empty for all.
    #[serde(rename = "hostIP", default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// The mappings of the pod's app containers' ports that set `hostPort`, as the
/// kubelet hands them to the runtime (protocol defaults to TCP).
pub fn port_mappings(pod: &Pod) -> Vec<PortMapping> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<PortMapping> = Vec::new();
    for port in spec.containers.iter().flat_map(|c| c.ports.iter().flatten()) {
        let Some(host_port) = port.host_port.filter(|p| *p > 0) else {
            continue;
        };
        let m = PortMapping {
            host_port,
            container_port: port.container_port,
            protocol: port.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
            host_ip: port.host_ip.clone().unwrap_or_default(),
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_ports_become_mappings() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {}, "spec": {
            "initContainers": [{"name": "i", "ports": [{"containerPort": 1, "hostPort": 1}]}],
            "containers": [
                {"name": "a", "ports": [
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "127.0.0.1"},
                    {"containerPort": 9000}]},
                {"name": "b", "ports": [{"containerPort": 80, "hostPort": 8080}]},
                {"name": "c"}]}}))
        .unwrap();
        let m = port_mappings(&pod);
        assert_eq!(
            m,
            vec![
                PortMapping {
                    host_port: 8080,
                    container_port: 80,
                    protocol: "tcp".into(),
                    host_ip: String::new()
                },
                PortMapping {
                    host_port: 5353,
                    container_port: 53,
                    protocol: "udp".into(),
                    host_ip: "127.0.0.1".into()
                },
            ]
        );
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
                   {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"}])
        );
        let none: Pod = serde_json::from_value(json!({"metadata": {}})).unwrap();
        assert!(port_mappings(&none).is_empty());
    }
}
