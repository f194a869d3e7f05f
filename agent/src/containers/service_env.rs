//! The Service environment variables Kubernetes gives every container
//! (`<SVC>_SERVICE_HOST`, `<SVC>_SERVICE_PORT`, and the Docker-link family).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;

/// The Services whose variables a pod in `namespace` gets: those of its own
/// namespace when `enable_service_links`, and `kubernetes` of `default` always
/// (a same-named Service of the pod's namespace wins over it).
pub fn services_for_pod<'a>(
    namespace: &str,
    enable_service_links: bool,
    pod_namespace_services: &'a [Service],
    default_namespace_services: &'a [Service],
) -> Vec<&'a Service> {
    let mut by_name: BTreeMap<&str, &Service> = BTreeMap::new();
    if enable_service_links {
        for s in pod_namespace_services.iter().filter(|s| ip_set(s)) {
            if let Some(name) = s.metadata.name.as_deref() {
                by_name.insert(name, s);
            }
        }
    }
    for s in default_namespace_services.iter().filter(|s| ip_set(s)) {
        let name = s.metadata.name.as_deref().unwrap_or_default();
        let own_namespace = namespace == "default" && enable_service_links;
        if name == "kubernetes" && !own_namespace {
            by_name.entry(name).or_insert(s);
        }
    }
    by_name.into_values().collect()
}

fn ip_set(s: &Service) -> bool {
    let ip = s.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()).unwrap_or("");
    !ip.is_empty() && ip != "None"
}

/// A Service name as an environment variable prefix (upper case, `-` → `_`).
pub fn env_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// The variables of `services`, in Kubernetes' order per Service.
pub fn service_env(services: &[&Service]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = svc.spec.as_ref() else { continue };
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        let ports = spec.ports.as_deref().unwrap_or_default();
        let Some(first) = ports.first() else { continue };
        let prefix = env_name(svc.metadata.name.as_deref().unwrap_or_default());
        out.push((format!("{prefix}_SERVICE_HOST"), ip.clone()));
        let port_var = format!("{prefix}_SERVICE_PORT");
        out.push((port_var.clone(), first.port.to_string()));
        for p in ports {
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((format!("{port_var}_{}", env_name(name)), p.port.to_string()));
            }
        }
        // Docker link variables.
        let host_port = |port: i32| {
            if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            }
        };
        for (i, p) in ports.iter().enumerate() {
            let proto = p.protocol.as_deref().filter(|p| !p.is_empty()).unwrap_or("TCP");
            let lower = proto.to_lowercase();
            let url = format!("{lower}://{}", host_port(p.port));
            if i == 0 {
                out.push((format!("{prefix}_PORT"), url.clone()));
            }
            let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
            out.push((pp.clone(), url));
            out.push((format!("{pp}_PROTO"), lower));
            out.push((format!("{pp}_PORT"), p.port.to_string()));
            out.push((format!("{pp}_ADDR"), ip.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports}}))
        .unwrap()
    }

    #[test]
    fn variables_of_one_service() {
        let s = svc(
            "dev",
            "my-db",
            "10.43.0.20",
            json!([{"name": "sql", "port": 5432}, {"name": "metrics", "port": 9187, "protocol": "UDP"}]),
        );
        let env = service_env(&[&s]);
        let want = [
            ("MY_DB_SERVICE_HOST", "10.43.0.20"),
            ("MY_DB_SERVICE_PORT", "5432"),
            ("MY_DB_SERVICE_PORT_SQL", "5432"),
            ("MY_DB_SERVICE_PORT_METRICS", "9187"),
            ("MY_DB_PORT", "tcp://10.43.0.20:5432"),
            ("MY_DB_PORT_5432_TCP", "tcp://10.43.0.20:5432"),
            ("MY_DB_PORT_5432_TCP_PROTO", "tcp"),
            ("MY_DB_PORT_5432_TCP_PORT", "5432"),
            ("MY_DB_PORT_5432_TCP_ADDR", "10.43.0.20"),
            ("MY_DB_PORT_9187_UDP", "udp://10.43.0.20:9187"),
            ("MY_DB_PORT_9187_UDP_PROTO", "udp"),
            ("MY_DB_PORT_9187_UDP_PORT", "9187"),
            ("MY_DB_PORT_9187_UDP_ADDR", "10.43.0.20"),
        ];
        let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn which_services_a_pod_sees() {
        let kube = svc(
            "default",
            "kubernetes",
            "10.43.0.1",
            json!([{"name": "https", "port": 443}]),
        );
        let other_default = svc("default", "web", "10.43.0.5", json!([{"port": 80}]));
        let headless = svc("dev", "hl", "None", json!([{"port": 80}]));
        let db = svc("dev", "db", "10.43.0.9", json!([{"port": 5432}]));
        let defaults = [kube, other_default];
        let dev = [headless, db];
        let names = |v: Vec<&Service>| -> Vec<String> { v.iter().map(|s| s.metadata.name.clone().unwrap()).collect() };
        assert_eq!(
            names(services_for_pod("dev", true, &dev, &defaults)),
            ["db", "kubernetes"]
        );
        assert_eq!(names(services_for_pod("dev", false, &dev, &defaults)), ["kubernetes"]);
        assert_eq!(
            names(services_for_pod("default", true, &defaults, &defaults)),
            ["kubernetes", "web"]
        );
        assert_eq!(
            names(services_for_pod("default", false, &defaults, &defaults)),
            ["kubernetes"]
        );
    }
}
