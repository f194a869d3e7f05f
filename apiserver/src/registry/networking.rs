//! Ingresses, IngressClasses and NetworkPolicies (pkg/registry/networking,
//! networking/v1 defaults and validation).

use k1s_proto::FieldError;
use k8s_openapi::api::networking::v1::{
    Ingress, IngressBackend, IngressClass, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

use super::names;
use super::util::{default_str, one_of, typed, validate_selector, with_typed};
use super::Strategy;

/// The Ingress strategy.
pub struct IngressStrategy;
/// The IngressClass strategy.
pub struct IngressClassStrategy;
/// The NetworkPolicy strategy.
pub struct NetworkPolicyStrategy;

fn validate_backend(b: &IngressBackend, path: &str, errs: &mut Vec<FieldError>) {
    match (&b.service, &b.resource) {
        (Some(_), Some(_)) => errs.push(FieldError::invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (None, None) => errs.push(FieldError::invalid(path, "", "resource or service backend is required")),
        (Some(s), None) => {
            if s.name.is_empty() {
                errs.push(FieldError::required(format!("{path}.service.name"), ""));
            } else {
                for m in names::is_dns1035_label(&s.name) {
                    errs.push(FieldError::invalid(format!("{path}.service.name"), s.name.as_str(), m));
                }
            }
            match &s.port {
                None => errs.push(FieldError::required(format!("{path}.service.port"), "")),
                Some(p) => match (&p.name, p.number) {
                    (Some(n), Some(_)) if !n.is_empty() => errs.push(FieldError::invalid(
                        format!("{path}.service.port"),
                        n.as_str(),
                        "cannot set both port name & port number",
                    )),
                    (Some(n), _) if !n.is_empty() => {
                        for m in names::is_valid_port_name(n) {
                            errs.push(FieldError::invalid(format!("{path}.service.port.name"), n.as_str(), m));
                        }
                    }
                    (_, Some(n)) => {
                        for m in names::is_valid_port_num(n.into()) {
                            errs.push(FieldError::invalid(format!("{path}.service.port.number"), n, m));
                        }
                    }
                    _ => errs.push(FieldError::required(
                        format!("{path}.service.port"),
                        "port name or number is required",
                    )),
                },
            }
        }
        (None, Some(r)) => {
            if r.kind.is_empty() {
                errs.push(FieldError::required(format!("{path}.resource.kind"), ""));
            }
            if r.name.is_empty() {
                errs.push(FieldError::required(format!("{path}.resource.name"), ""));
            }
        }
    }
}

impl Strategy for IngressStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<Ingress>(obj).and_then(|i| i.spec).unwrap_or_default();
        let mut errs = Vec::new();
        if spec.rules.as_ref().is_none_or(Vec::is_empty) && spec.default_backend.is_none() {
            errs.push(FieldError::invalid(
                "spec.rules",
                json!([]),
                "either `defaultBackend` or `rules` must be specified",
            ));
        }
        if let Some(b) = &spec.default_backend {
            validate_backend(b, "spec.defaultBackend", &mut errs);
        }
        if let Some(c) = spec.ingress_class_name.as_deref() {
            for m in names::is_dns1123_subdomain(c) {
                errs.push(FieldError::invalid("spec.ingressClassName", c, m));
            }
        }
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            let p = format!("spec.rules[{i}]");
            if let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) {
                if host.parse::<std::net::IpAddr>().is_ok() {
                    errs.push(FieldError::invalid(
                        format!("{p}.host"),
                        host,
                        "must be a DNS name, not an IP address",
                    ));
                } else {
                    let check = host.strip_prefix("*.").unwrap_or(host);
                    for m in names::is_dns1123_subdomain(check) {
                        errs.push(FieldError::invalid(format!("{p}.host"), host, m));
                    }
                }
            }
            let Some(http) = &rule.http else { continue };
            if http.paths.is_empty() {
                errs.push(FieldError::required(format!("{p}.http.paths"), ""));
            }
            for (j, path) in http.paths.iter().enumerate() {
                let pp = format!("{p}.http.paths[{j}]");
                match path.path_type.as_str() {
                    "" => errs.push(FieldError::required(
                        format!("{pp}.pathType"),
                        "pathType must be specified",
                    )),
                    "Exact" | "Prefix" => {
                        let v = path.path.as_deref().unwrap_or("");
                        if !v.starts_with('/') {
                            errs.push(FieldError::invalid(format!("{pp}.path"), v, "must be an absolute path"));
                        }
                    }
                    "ImplementationSpecific" => {
                        let v = path.path.as_deref().unwrap_or("");
                        if !v.is_empty() && !v.starts_with('/') {
                            errs.push(FieldError::invalid(format!("{pp}.path"), v, "must be an absolute path"));
                        }
                    }
                    other => errs.push(FieldError::not_supported(
                        format!("{pp}.pathType"),
                        other,
                        &["Exact", "ImplementationSpecific", "Prefix"],
                    )),
                }
                validate_backend(&path.backend, &format!("{pp}.backend"), &mut errs);
            }
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

impl Strategy for IngressClassStrategy {
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<IngressClass>(obj).and_then(|i| i.spec).unwrap_or_default();
        let mut errs = Vec::new();
        match spec.controller.as_deref() {
            None | Some("") => errs.push(FieldError::required("spec.controller", "")),
            Some(c) => {
                for m in names::is_qualified_name(c.split('/').take(2).collect::<Vec<_>>().join("/").as_str()) {
                    errs.push(FieldError::invalid("spec.controller", c, m));
                }
            }
        }
        if let Some(p) = &spec.parameters {
            if p.kind.is_empty() {
                errs.push(FieldError::required("spec.parameters.kind", ""));
            }
            if p.name.is_empty() {
                errs.push(FieldError::required("spec.parameters.name", ""));
            }
            errs.extend(one_of(
                p.scope.as_deref(),
                "spec.parameters.scope",
                &["Cluster", "Namespace"],
            ));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let c = |v: &Value| v["spec"]["controller"].clone();
        if c(new) != c(old) {
            errs.push(FieldError::invalid("spec.controller", c(new), "field is immutable"));
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

fn validate_np_ports(ports: Option<&Vec<NetworkPolicyPort>>, path: &str, errs: &mut Vec<FieldError>) {
    for (i, p) in ports.into_iter().flatten().enumerate() {
        let pp = format!("{path}[{i}]");
        errs.extend(one_of(
            p.protocol.as_deref(),
            &format!("{pp}.protocol"),
            &["SCTP", "TCP", "UDP"],
        ));
        match &p.port {
            Some(IntOrString::Int(n)) => {
                for m in names::is_valid_port_num((*n).into()) {
                    errs.push(FieldError::invalid(format!("{pp}.port"), *n, m));
                }
                if let Some(end) = p.end_port {
                    if end < *n {
                        errs.push(FieldError::invalid(
                            format!("{pp}.endPort"),
                            end,
                            "must be greater than or equal to `port`",
                        ));
                    }
                }
            }
            Some(IntOrString::String(s)) => {
                for m in names::is_valid_port_name(s) {
                    errs.push(FieldError::invalid(format!("{pp}.port"), s.as_str(), m));
                }
                if p.end_port.is_some() {
                    errs.push(FieldError::forbidden(
                        format!("{pp}.endPort"),
                        "may not be specified when `port` is non-numeric",
                    ));
                }
            }
            None => {
                if p.end_port.is_some() {
                    errs.push(FieldError::required(
                        format!("{pp}.port"),
                        "must be specified when `endPort` is specified",
                    ));
                }
            }
        }
    }
}

fn validate_peers(peers: Option<&Vec<NetworkPolicyPeer>>, path: &str, errs: &mut Vec<FieldError>) {
    for (i, peer) in peers.into_iter().flatten().enumerate() {
        let pp = format!("{path}[{i}]");
        let n = [
            peer.pod_selector.is_some(),
            peer.namespace_selector.is_some(),
            peer.ip_block.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n == 0 {
            errs.push(FieldError::required(pp.clone(), "must specify a peer"));
        } else if peer.ip_block.is_some() && n > 1 {
            errs.push(FieldError::forbidden(
                pp.clone(),
                "may not specify both ipBlock and another peer",
            ));
        }
        if let Some(s) = &peer.pod_selector {
            errs.extend(validate_selector(s, &format!("{pp}.podSelector")));
        }
        if let Some(s) = &peer.namespace_selector {
            errs.extend(validate_selector(s, &format!("{pp}.namespaceSelector")));
        }
        if let Some(b) = &peer.ip_block {
            if b.cidr.is_empty() {
                errs.push(FieldError::required(format!("{pp}.ipBlock.cidr"), ""));
            } else if !is_cidr(&b.cidr) {
                errs.push(FieldError::invalid(
                    format!("{pp}.ipBlock.cidr"),
                    b.cidr.as_str(),
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }
}

/// Whether `s` is an IPv4 or IPv6 CIDR.
pub fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
        (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
        (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
        _ => false,
    }
}

impl Strategy for NetworkPolicyStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<NetworkPolicy>(obj, |np| {
            let spec = np.spec.get_or_insert_with(Default::default);
            for p in spec
                .ingress
                .iter_mut()
                .flatten()
                .flat_map(|r| r.ports.iter_mut().flatten())
            {
                default_str(&mut p.protocol, "TCP");
            }
            for p in spec
                .egress
                .iter_mut()
                .flatten()
                .flat_map(|r| r.ports.iter_mut().flatten())
            {
                default_str(&mut p.protocol, "TCP");
            }
            if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
                let mut types = vec!["Ingress".to_string()];
                if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
                    types.push("Egress".to_string());
                }
                spec.policy_types = Some(types);
            }
            if spec.pod_selector.is_none() {
                spec.pod_selector = Some(Default::default());
            }
        });
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<NetworkPolicy>(obj).and_then(|n| n.spec).unwrap_or_default();
        let mut errs = Vec::new();
        if let Some(s) = &spec.pod_selector {
            errs.extend(validate_selector(s, "spec.podSelector"));
        }
        for (i, rule) in spec.ingress.iter().flatten().enumerate() {
            validate_np_ports(rule.ports.as_ref(), &format!("spec.ingress[{i}].ports"), &mut errs);
            validate_peers(rule.from.as_ref(), &format!("spec.ingress[{i}].from"), &mut errs);
        }
        for (i, rule) in spec.egress.iter().flatten().enumerate() {
            validate_np_ports(rule.ports.as_ref(), &format!("spec.egress[{i}].ports"), &mut errs);
            validate_peers(rule.to.as_ref(), &format!("spec.egress[{i}].to"), &mut errs);
        }
        let types = spec.policy_types.clone().unwrap_or_default();
        for (i, t) in types.iter().enumerate() {
            errs.extend(one_of(
                Some(t),
                &format!("spec.policyTypes[{i}]"),
                &["Egress", "Ingress"],
            ));
        }
        if types.len() > 2 {
            errs.push(FieldError::invalid(
                "spec.policyTypes",
                json!(types),
                "may not specify more than two policyTypes",
            ));
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn warnings_on_create(&self, obj: &Value) -> Vec<String> {
        super::warnings::net::network_policy_warnings(obj)
    }

    fn warnings_on_update(&self, new: &Value, _old: &Value) -> Vec<String> {
        super::warnings::net::network_policy_warnings(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_path_type_required() {
        let ing = json!({"metadata": {"name": "i"}, "spec": {"rules": [{"host": "example.com", "http": {"paths": [
            {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "api", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]}}]}});
        let ing = crate::registry::typed::normalize(
            k1s_proto::resources::find("networking.k8s.io", "v1", "ingresses").unwrap(),
            ing,
        )
        .unwrap();
        let errs: Vec<String> = IngressStrategy
            .validate_create(&ing)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified".to_string(),
                "spec.rules[0].http.paths[1].path: Invalid value: \"api\": must be an absolute path".to_string(),
            ]
        );
    }

    #[test]
    fn network_policy_types_from_egress() {
        let mut np =
            json!({"metadata": {"name": "n"}, "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}});
        NetworkPolicyStrategy.default(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
        assert!(NetworkPolicyStrategy.validate_create(&np).is_empty());
        let mut only_in = json!({"spec": {"podSelector": {"matchLabels": {"app": "db"}}}});
        NetworkPolicyStrategy.default(&mut only_in);
        assert_eq!(only_in["spec"]["policyTypes"], json!(["Ingress"]));
    }

    #[test]
    fn ingress_class_controller_immutable() {
        let old = json!({"spec": {"controller": "k8s.io/ingress-nginx"}});
        let new = json!({"spec": {"controller": "example.com/other"}});
        assert_eq!(IngressClassStrategy.validate_update(&new, &old).len(), 1);
        assert_eq!(IngressClassStrategy.validate_create(&json!({"spec": {}})).len(), 1);
    }
}
