//! Warnings for Services (Kubernetes' `pkg/api/service/warnings.go`) and
//! NetworkPolicies, and the address checks they share: IPs and CIDRs that
//! Kubernetes accepts today but writes in a non-standard form.

use std::net::IpAddr;

use k1s_proto::validation::parse_ip_sloppy;
use serde_json::Value;

use super::{index, items, str_of};

const DEPRECATED_TOPOLOGY_HINTS: &str = "service.kubernetes.io/topology-aware-hints";
const TOPOLOGY_MODE: &str = "service.kubernetes.io/topology-mode";

/// Kubernetes' `GetWarningsForIP`: leading zeros, IPv4-mapped IPv6, IPv6 not in RFC 5952 form.
pub fn ip_warnings(path: &str, value: &str) -> Vec<String> {
    let Some(ip) = parse_ip_sloppy(value) else {
        return Vec::new();
    };
    let strict = value.parse::<IpAddr>().ok();
    let mapped = match strict {
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped(),
        _ => None,
    };
    if strict.is_none() || mapped.is_some() {
        let preferred = mapped.map(IpAddr::V4).unwrap_or(ip);
        return vec![format!(
            "{path}: non-standard IP address {value:?} will be considered invalid in a future Kubernetes release: use {:?}",
            preferred.to_string()
        )];
    }
    if let Some(IpAddr::V6(v6)) = strict {
        let canonical = v6.to_string();
        if canonical != value {
            return vec![format!(
                "{path}: IPv6 address {value:?} should be in RFC 5952 canonical format ({canonical:?})"
            )];
        }
    }
    Vec::new()
}

/// The network of `ip` with `bits` prefix bits.
fn masked(ip: IpAddr, bits: u32) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits.min(32)) };
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits.min(128))
            };
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// Kubernetes' `GetWarningsForCIDR`: host bits set, leading zeros,
/// IPv4-mapped IPv6, IPv6 not in RFC 5952 form.
pub fn cidr_warnings(path: &str, value: &str) -> Vec<String> {
    let Some((addr, bits_text)) = value.split_once('/') else {
        return Vec::new();
    };
    let (Some(ip), Ok(bits)) = (parse_ip_sloppy(addr), bits_text.parse::<u32>()) else {
        return Vec::new();
    };
    let addr_len = if ip.is_ipv4() { 32 } else { 128 };
    if bits > addr_len {
        return Vec::new();
    }
    let network = format!("{}/{bits}", masked(ip, bits));
    let mut w = Vec::new();
    if masked(ip, bits) != ip {
        w.push(format!(
            "{path}: CIDR value {value:?} is ambiguous in this context (should be {network:?} or {:?}?)",
            format!("{ip}/{addr_len}")
        ));
    }
    let strict = addr.parse::<IpAddr>().ok();
    let bits_canonical = bits.to_string() == bits_text;
    let mapped = matches!(strict, Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some());
    if strict.is_none() || !bits_canonical || mapped {
        w.push(format!(
            "{path}: non-standard CIDR value {value:?} will be considered invalid in a future Kubernetes release: use {network:?}"
        ));
    }
    if w.is_empty() {
        if let Some(IpAddr::V6(v6)) = strict {
            let canonical = format!("{v6}/{bits}");
            if canonical != value {
                w.push(format!(
                    "{path}: IPv6 CIDR value {value:?} should be in RFC 5952 canonical format ({canonical:?})"
                ));
            }
        }
    }
    w
}

/// Kubernetes' `GetWarningsForService` (on create and update).
pub fn service_warnings(svc: &Value) -> Vec<String> {
    let spec = &svc["spec"];
    let mut w = Vec::new();
    if svc["metadata"]["annotations"].get(DEPRECATED_TOPOLOGY_HINTS).is_some() {
        w.push(format!(
            "annotation {DEPRECATED_TOPOLOGY_HINTS} is deprecated, please use {TOPOLOGY_MODE} instead"
        ));
    }
    let cluster_ip = str_of(spec, "clusterIP");
    let svc_type = str_of(spec, "type");
    if !cluster_ip.is_empty() && cluster_ip != "None" {
        for (i, ip) in items(spec, "clusterIPs").iter().enumerate() {
            w.extend(ip_warnings(&index("spec.clusterIPs", i), ip.as_str().unwrap_or("")));
        }
    }
    let headless = svc_type == "ClusterIP" && cluster_ip == "None";
    if headless {
        if !str_of(spec, "loadBalancerIP").is_empty() {
            w.push("spec.loadBalancerIP is ignored for headless services".to_string());
        }
        if !items(spec, "externalIPs").is_empty() {
            w.push("spec.externalIPs is ignored for headless services".to_string());
        }
        if str_of(spec, "sessionAffinity") != "None" {
            w.push("spec.SessionAffinity is ignored for headless services".to_string());
        }
    }
    for (i, ip) in items(spec, "externalIPs").iter().enumerate() {
        w.extend(ip_warnings(&index("spec.externalIPs", i), ip.as_str().unwrap_or("")));
    }
    let lb_ip = str_of(spec, "loadBalancerIP");
    if !lb_ip.is_empty() {
        w.extend(ip_warnings("spec.loadBalancerIP", lb_ip));
    }
    for (i, cidr) in items(spec, "loadBalancerSourceRanges").iter().enumerate() {
        w.extend(cidr_warnings(
            &index("spec.loadBalancerSourceRanges", i),
            cidr.as_str().unwrap_or(""),
        ));
    }
    if svc_type == "ExternalName" && !items(spec, "externalIPs").is_empty() {
        w.push(r#"spec.externalIPs is ignored when spec.type is "ExternalName""#.to_string());
    }
    if svc_type != "ExternalName" && !str_of(spec, "externalName").is_empty() {
        w.push(r#"spec.externalName is ignored when spec.type is not "ExternalName""#.to_string());
    }
    w
}

/// Non-standard CIDRs in a NetworkPolicy's `ipBlock`s.
pub fn network_policy_warnings(np: &Value) -> Vec<String> {
    let mut w = Vec::new();
    for (rules, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in items(&np["spec"], rules).iter().enumerate() {
            for (j, peer) in items(rule, peers).iter().enumerate() {
                let block = &peer["ipBlock"];
                if block.is_null() {
                    continue;
                }
                let path = format!("spec.{rules}[{i}].{peers}[{j}].ipBlock");
                w.extend(cidr_warnings(&format!("{path}.cidr"), str_of(block, "cidr")));
                for (k, except) in items(block, "except").iter().enumerate() {
                    w.extend(cidr_warnings(
                        &format!("{path}.except[{k}]"),
                        except.as_str().unwrap_or(""),
                    ));
                }
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ip_forms() {
        assert!(ip_warnings("p", "10.0.0.1").is_empty());
        assert_eq!(
            ip_warnings("spec.externalIPs[0]", "010.000.000.001"),
            vec![
                r#"spec.externalIPs[0]: non-standard IP address "010.000.000.001" will be considered invalid in a future Kubernetes release: use "10.0.0.1""#
            ]
        );
        assert_eq!(
            ip_warnings("p", "::ffff:1.2.3.4"),
            vec![
                r#"p: non-standard IP address "::ffff:1.2.3.4" will be considered invalid in a future Kubernetes release: use "1.2.3.4""#
            ]
        );
        assert_eq!(
            ip_warnings("p", "2001:DB8::1"),
            vec![r#"p: IPv6 address "2001:DB8::1" should be in RFC 5952 canonical format ("2001:db8::1")"#]
        );
        assert!(ip_warnings("p", "2001:db8::1").is_empty());
    }

    #[test]
    fn cidr_forms() {
        assert!(cidr_warnings("p", "10.0.0.0/8").is_empty());
        assert_eq!(
            cidr_warnings("p", "10.0.0.1/8"),
            vec![
                r#"p: CIDR value "10.0.0.1/8" is ambiguous in this context (should be "10.0.0.0/8" or "10.0.0.1/32"?)"#
            ]
        );
        assert_eq!(
            cidr_warnings("p", "010.0.0.0/8"),
            vec![
                r#"p: non-standard CIDR value "010.0.0.0/8" will be considered invalid in a future Kubernetes release: use "10.0.0.0/8""#
            ]
        );
        assert_eq!(
            cidr_warnings("p", "2001:DB8::/32"),
            vec![r#"p: IPv6 CIDR value "2001:DB8::/32" should be in RFC 5952 canonical format ("2001:db8::/32")"#]
        );
    }

    #[test]
    fn service_warnings_match_kubernetes() {
        let svc = json!({"metadata": {"annotations": {"service.kubernetes.io/topology-aware-hints": "auto"}},
            "spec": {"type": "ClusterIP", "clusterIP": "None", "sessionAffinity": "ClientIP",
                "externalIPs": ["1.2.3.4"], "externalName": "x.example.com"}});
        assert_eq!(
            service_warnings(&svc),
            vec![
                "annotation service.kubernetes.io/topology-aware-hints is deprecated, please use service.kubernetes.io/topology-mode instead",
                "spec.externalIPs is ignored for headless services",
                "spec.SessionAffinity is ignored for headless services",
                r#"spec.externalName is ignored when spec.type is not "ExternalName""#,
            ]
        );
        let plain = json!({"spec": {"type": "NodePort", "clusterIP": "10.43.0.5", "clusterIPs": ["10.43.0.5"], "sessionAffinity": "None"}});
        assert!(service_warnings(&plain).is_empty());
    }

    #[test]
    fn network_policy_blocks() {
        let np = json!({"spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.1/24", "except": ["10.0.0.0/28"]}}]}],
            "egress": [{"to": [{"podSelector": {}}, {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["192.168.1.1/16"]}}]}]}});
        assert_eq!(
            network_policy_warnings(&np),
            vec![
                r#"spec.ingress[0].from[0].ipBlock.cidr: CIDR value "10.0.0.1/24" is ambiguous in this context (should be "10.0.0.0/24" or "10.0.0.1/32"?)"#,
                r#"spec.egress[0].to[1].ipBlock.except[0]: CIDR value "192.168.1.1/16" is ambiguous in this context (should be "192.168.0.0/16" or "192.168.1.1/32"?)"#,
            ]
        );
    }
}
