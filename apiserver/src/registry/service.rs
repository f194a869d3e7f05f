//! Services (pkg/registry/core/service: strategy.go and the REST layer's
//! allocation rules; core/v1 defaults; core validation).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use k1s_proto::meta::ObjectMeta;
use k1s_proto::{resources, ApiError, FieldError};
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

use super::allocator::{service_ips, service_node_ports, AllocError, Allocators};
use super::names;
use super::util::{default_str, default_to, one_of, typed, validate_labels, with_typed};
use super::Strategy;

/// The Service strategy.
pub struct ServiceStrategy;

fn svc_type(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or("ClusterIP")
}

fn needs_node_ports(spec: &ServiceSpec) -> bool {
    match svc_type(spec) {
        "NodePort" => true,
        "LoadBalancer" => spec.allocate_load_balancer_node_ports != Some(false),
        _ => false,
    }
}

fn externally_accessible(spec: &ServiceSpec) -> bool {
    matches!(svc_type(spec), "NodePort" | "LoadBalancer")
        || (svc_type(spec) == "ClusterIP" && spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()))
}

fn is_headless(spec: &ServiceSpec) -> bool {
    spec.cluster_ip.as_deref() == Some("None")
}

/// `SetDefaults_Service`, plus the IP family fields the REST layer fills in.
pub fn default_service(svc: &mut Service) {
    let spec = svc.spec.get_or_insert_with(Default::default);
    default_str(&mut spec.session_affinity, "None");
    if spec.session_affinity.as_deref() == Some("None") {
        spec.session_affinity_config = None;
    }
    if spec.session_affinity.as_deref() == Some("ClientIP") {
        let cfg = spec.session_affinity_config.get_or_insert_with(Default::default);
        let cip = cfg.client_ip.get_or_insert_with(Default::default);
        default_to(&mut cip.timeout_seconds, 10800);
    }
    default_str(&mut spec.type_, "ClusterIP");
    for p in spec.ports.iter_mut().flatten() {
        default_str(&mut p.protocol, "TCP");
        let unset = match &p.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
    if externally_accessible(spec) {
        default_str(&mut spec.external_traffic_policy, "Cluster");
    }
    if matches!(svc_type(spec), "ClusterIP" | "NodePort" | "LoadBalancer") {
        default_str(&mut spec.internal_traffic_policy, "Cluster");
    }
    if svc_type(spec) == "LoadBalancer" {
        default_to(&mut spec.allocate_load_balancer_node_ports, true);
    }
    if svc_type(spec) != "ExternalName" {
        if spec.cluster_ip.as_deref().is_none_or(str::is_empty) {
            if let Some(first) = spec.cluster_ips.as_ref().and_then(|l| l.first()) {
                spec.cluster_ip = Some(first.clone());
            }
        }
        if spec.cluster_ips.as_ref().is_none_or(Vec::is_empty) {
            if let Some(ip) = spec.cluster_ip.as_ref().filter(|ip| !ip.is_empty()) {
                spec.cluster_ips = Some(vec![ip.clone()]);
            }
        }
        default_str(&mut spec.ip_family_policy, "SingleStack");
        if spec.ip_families.as_ref().is_none_or(Vec::is_empty) {
            spec.ip_families = Some(vec!["IPv4".to_string()]);
        }
    }
}

impl Strategy for ServiceStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<Service>(obj, default_service);
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let Some(old_svc) = typed::<Service>(old) else { return };
        let old_spec = old_svc.spec.unwrap_or_default();
        with_typed::<Service>(new, |svc| {
            let spec = svc.spec.get_or_insert_with(Default::default);
            patch_allocated_values(spec, &old_spec);
            drop_type_dependent_fields(spec, &old_spec);
        });
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match typed::<Service>(obj).and_then(|s| s.spec) {
            Some(spec) => validate_spec(&spec),
            None => Vec::new(),
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let spec = |v: &Value| typed::<Service>(v).and_then(|s| s.spec).unwrap_or_default();
        let (n, o) = (spec(new), spec(old));
        let becomes_external_name = svc_type(&n) == "ExternalName" || svc_type(&o) == "ExternalName";
        let old_ips = o.cluster_ips.clone().unwrap_or_default();
        let new_ips = n.cluster_ips.clone().unwrap_or_default();
        if !becomes_external_name && !old_ips.is_empty() {
            if new_ips.is_empty() {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    json!(new_ips),
                    "primary clusterIP can not be unset",
                ));
            } else if new_ips[0] != old_ips[0] {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    json!(new_ips),
                    "may not change once set",
                ));
            }
        }
        errs
    }

    fn allocate(&self, alloc: &Allocators, new: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
        allocate(alloc, new, old)
    }

    fn release(&self, alloc: &Allocators, obj: &Value) {
        for ip in service_ips(obj) {
            alloc.release_ip(ip);
        }
        for p in service_node_ports(obj) {
            alloc.release_port(p);
        }
    }

    fn warnings_on_create(&self, obj: &Value) -> Vec<String> {
        super::warnings::net::service_warnings(obj)
    }

    fn warnings_on_update(&self, new: &Value, _old: &Value) -> Vec<String> {
        super::warnings::net::service_warnings(new)
    }
}

/// On update, an unset clusterIP or nodePort keeps the value already allocated.
fn patch_allocated_values(spec: &mut ServiceSpec, old: &ServiceSpec) {
    let needs_ip = |s: &ServiceSpec| svc_type(s) != "ExternalName";
    if needs_ip(old) && needs_ip(spec) {
        if spec.cluster_ip.as_deref().is_none_or(str::is_empty) {
            spec.cluster_ip = old.cluster_ip.clone();
        }
        if spec.cluster_ips.as_ref().is_none_or(Vec::is_empty) {
            spec.cluster_ips = old.cluster_ips.clone();
        }
    }
    if needs_node_ports(old) && needs_node_ports(spec) {
        for p in spec.ports.iter_mut().flatten() {
            if p.node_port.unwrap_or(0) != 0 {
                continue;
            }
            let same = old
                .ports
                .iter()
                .flatten()
                .find(|o| o.port == p.port && o.protocol == p.protocol);
            if let Some(o) = same {
                p.node_port = o.node_port;
            }
        }
    }
    if spec.health_check_node_port.unwrap_or(0) == 0 && svc_type(spec) == "LoadBalancer" {
        spec.health_check_node_port = old.health_check_node_port;
    }
}

/// When the type changes, fields the new type cannot have are dropped if the user left them as they were.
fn drop_type_dependent_fields(spec: &mut ServiceSpec, old: &ServiceSpec) {
    if svc_type(spec) == svc_type(old) {
        return;
    }
    if svc_type(spec) == "ExternalName" && spec.cluster_ip == old.cluster_ip {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
        spec.ip_families = None;
        spec.ip_family_policy = None;
        spec.internal_traffic_policy = None;
    }
    if !needs_node_ports(spec) {
        for p in spec.ports.iter_mut().flatten() {
            let unchanged = old
                .ports
                .iter()
                .flatten()
                .any(|o| o.port == p.port && o.node_port == p.node_port);
            if unchanged {
                p.node_port = None;
            }
        }
    }
    if svc_type(spec) != "LoadBalancer" {
        if spec.health_check_node_port == old.health_check_node_port {
            spec.health_check_node_port = None;
        }
        if spec.allocate_load_balancer_node_ports == old.allocate_load_balancer_node_ports {
            spec.allocate_load_balancer_node_ports = None;
        }
        if spec.load_balancer_class == old.load_balancer_class {
            spec.load_balancer_class = None;
        }
    }
    if !externally_accessible(spec) && spec.external_traffic_policy == old.external_traffic_policy {
        spec.external_traffic_policy = None;
    }
}

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn validate_spec(spec: &ServiceSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = svc_type(spec);
    errs.extend(one_of(Some(ty), "spec.type", SERVICE_TYPES));
    let ports = spec.ports.as_deref().unwrap_or(&[]);
    if ports.is_empty() && !is_headless(spec) && ty != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    if ty == "ExternalName" {
        match spec.external_name.as_deref() {
            None | Some("") => errs.push(FieldError::required("spec.externalName", "")),
            Some(n) => {
                for m in names::is_dns1123_subdomain(n.trim_end_matches('.')) {
                    errs.push(FieldError::invalid("spec.externalName", n, m));
                }
            }
        }
    }
    let mut port_names = HashSet::new();
    let mut seen = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        match p.name.as_deref().filter(|n| !n.is_empty()) {
            None if ports.len() > 1 => errs.push(FieldError::required(format!("{pp}.name"), "")),
            None => {}
            Some(n) => {
                for m in names::is_dns1123_label(n) {
                    errs.push(FieldError::invalid(format!("{pp}.name"), n, m));
                }
                if !port_names.insert(n.to_string()) {
                    errs.push(FieldError::duplicate(format!("{pp}.name"), n));
                }
            }
        }
        for m in names::is_valid_port_num(p.port.into()) {
            errs.push(FieldError::invalid(format!("{pp}.port"), p.port, m));
        }
        let proto = p.protocol.as_deref().unwrap_or("");
        if proto.is_empty() {
            errs.push(FieldError::required(format!("{pp}.protocol"), ""));
        } else {
            errs.extend(one_of(Some(proto), &format!("{pp}.protocol"), &["SCTP", "TCP", "UDP"]));
        }
        match &p.target_port {
            Some(IntOrString::Int(n)) => {
                for m in names::is_valid_port_num((*n).into()) {
                    errs.push(FieldError::invalid(format!("{pp}.targetPort"), *n, m));
                }
            }
            Some(IntOrString::String(s)) => {
                for m in names::is_valid_port_name(s) {
                    errs.push(FieldError::invalid(format!("{pp}.targetPort"), s.as_str(), m));
                }
            }
            None => {}
        }
        if let Some(np) = p.node_port.filter(|n| *n != 0) {
            if !needs_node_ports(spec) && ty != "LoadBalancer" {
                errs.push(FieldError::forbidden(
                    format!("{pp}.nodePort"),
                    format!("may not be used when `type` is '{ty}'"),
                ));
            } else {
                for m in names::is_valid_port_num(np.into()) {
                    errs.push(FieldError::invalid(format!("{pp}.nodePort"), np, m));
                }
            }
        }
        if !seen.insert((p.port, proto.to_string())) {
            errs.push(FieldError::duplicate(
                pp.clone(),
                json!({"port": p.port, "protocol": proto}),
            ));
        }
    }
    if ty != "ExternalName" {
        for (i, ip) in spec.cluster_ips.iter().flatten().enumerate() {
            let path = format!("spec.clusterIPs[{i}]");
            if ip == "None" {
                if i == 0 && matches!(ty, "NodePort" | "LoadBalancer") {
                    errs.push(FieldError::invalid(
                        path,
                        ip.as_str(),
                        format!("may not be set to 'None' for {ty} services"),
                    ));
                }
            } else if !ip.is_empty() {
                for m in names::is_valid_ip(ip) {
                    errs.push(FieldError::invalid(path.clone(), ip.as_str(), m));
                }
            }
        }
        if let Some(ip) = spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty() && *ip != "None") {
            let listed = spec.cluster_ips.as_ref().and_then(|l| l.first());
            if listed.is_some_and(|first| first != ip) {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs",
                    json!(spec.cluster_ips),
                    "element [0] must match clusterIP",
                ));
            }
            if spec.cluster_ips.is_none() {
                for m in names::is_valid_ip(ip) {
                    errs.push(FieldError::invalid("spec.clusterIPs[0]", ip, m));
                }
            }
        }
    }
    errs.extend(one_of(
        spec.session_affinity.as_deref(),
        "spec.sessionAffinity",
        &["ClientIP", "None"],
    ));
    if let Some(t) = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref())
        .and_then(|c| c.timeout_seconds)
    {
        if !(1..=86400).contains(&t) {
            errs.push(FieldError::invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                t,
                "must be greater than 0 and less than 86400",
            ));
        }
    }
    if let Some(p) = spec.external_traffic_policy.as_deref() {
        if !externally_accessible(spec) {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                p,
                "may only be set for externally-accessible services",
            ));
        } else {
            errs.extend(one_of(Some(p), "spec.externalTrafficPolicy", &["Cluster", "Local"]));
        }
    }
    errs.extend(one_of(
        spec.internal_traffic_policy.as_deref(),
        "spec.internalTrafficPolicy",
        &["Cluster", "Local"],
    ));
    errs.extend(one_of(
        spec.ip_family_policy.as_deref(),
        "spec.ipFamilyPolicy",
        &["PreferDualStack", "RequireDualStack", "SingleStack"],
    ));
    for (i, fam) in spec.ip_families.iter().flatten().enumerate() {
        errs.extend(one_of(Some(fam), &format!("spec.ipFamilies[{i}]"), &["IPv4", "IPv6"]));
    }
    errs.extend(validate_labels(spec.selector.as_ref(), "spec.selector"));
    errs
}

fn invalid(svc: &Value, errs: Vec<FieldError>) -> ApiError {
    let info = resources::find("", "v1", "services");
    match info {
        Some(info) => ApiError::invalid(info, svc.name().unwrap_or(""), &errs),
        None => ApiError::internal("services are not served"),
    }
}

/// Claims cluster IPs and node ports for a Service being created or updated.
fn allocate(alloc: &Allocators, new: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    let Some(spec_typed) = typed::<Service>(new).and_then(|s| s.spec) else {
        return Ok(());
    };
    let ty = svc_type(&spec_typed).to_string();
    let old_ips = old.map(service_ips).unwrap_or_default();
    let old_ports = old.map(service_node_ports).unwrap_or_default();
    let mut claimed_ips: Vec<Ipv4Addr> = Vec::new();
    let mut claimed_ports: Vec<u16> = Vec::new();
    let rollback = |ips: &[Ipv4Addr], ports: &[u16]| {
        for ip in ips {
            alloc.release_ip(*ip);
        }
        for p in ports {
            alloc.release_port(*p);
        }
    };

    // Cluster IP.
    if ty != "ExternalName" && !is_headless(&spec_typed) {
        let requested = spec_typed.cluster_ip.clone().filter(|ip| !ip.is_empty());
        let ip = match requested {
            Some(s) => {
                let parsed: Ipv4Addr = s.parse().map_err(|_| {
                    invalid(
                        new,
                        vec![FieldError::invalid(
                            "spec.clusterIPs[0]",
                            s.as_str(),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        )],
                    )
                })?;
                if !old_ips.contains(&parsed) {
                    alloc.allocate_ip(Some(parsed)).map_err(|e| {
                        invalid(
                            new,
                            vec![FieldError::invalid(
                                "spec.clusterIPs",
                                json!([s]),
                                format!("failed to allocate IP {s}: {e}"),
                            )],
                        )
                    })?;
                    claimed_ips.push(parsed);
                }
                parsed
            }
            None => match alloc.allocate_ip(None) {
                Ok(ip) => {
                    claimed_ips.push(ip);
                    ip
                }
                Err(e) => return Err(ApiError::internal(format!("failed to allocate a serviceIP: {e}"))),
            },
        };
        new["spec"]["clusterIP"] = json!(ip.to_string());
        new["spec"]["clusterIPs"] = json!([ip.to_string()]);
    } else if is_headless(&spec_typed) {
        new["spec"]["clusterIPs"] = json!(["None"]);
    }

    // Node ports.
    if needs_node_ports(&spec_typed) {
        let ports = new["spec"]["ports"].as_array().cloned().unwrap_or_default();
        let mut taken_here: Vec<u16> = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let requested = p["nodePort"].as_u64().filter(|n| *n != 0);
            let port = match requested {
                Some(n) => {
                    let n16 = u16::try_from(n).unwrap_or(0);
                    if !old_ports.contains(&n16) && !taken_here.contains(&n16) {
                        if let Err(e) = alloc.allocate_port(Some(n16)) {
                            rollback(&claimed_ips, &claimed_ports);
                            return Err(invalid(
                                new,
                                vec![FieldError::invalid(
                                    format!("spec.ports[{i}].nodePort"),
                                    n,
                                    e.to_string(),
                                )],
                            ));
                        }
                        claimed_ports.push(n16);
                    }
                    n16
                }
                None => match alloc.allocate_port(None) {
                    Ok(n) => {
                        claimed_ports.push(n);
                        n
                    }
                    Err(e) => {
                        rollback(&claimed_ips, &claimed_ports);
                        return Err(ApiError::internal(format!("failed to allocate a nodePort: {e}")));
                    }
                },
            };
            taken_here.push(port);
            new["spec"]["ports"][i]["nodePort"] = json!(port);
        }
    }
    let wants_health = ty == "LoadBalancer" && spec_typed.external_traffic_policy.as_deref() == Some("Local");
    if wants_health {
        let requested = spec_typed
            .health_check_node_port
            .filter(|n| *n != 0)
            .and_then(|n| u16::try_from(n).ok());
        let port = match requested {
            Some(n) if old_ports.contains(&n) => n,
            other => match alloc.allocate_port(other) {
                Ok(n) => {
                    claimed_ports.push(n);
                    n
                }
                Err(e) => {
                    rollback(&claimed_ips, &claimed_ports);
                    return Err(match (other, e) {
                        (Some(n), e @ (AllocError::Allocated(_) | AllocError::OutOfRange(_))) => invalid(
                            new,
                            vec![FieldError::invalid("spec.healthCheckNodePort", n, e.to_string())],
                        ),
                        (_, e) => ApiError::internal(format!("failed to allocate a nodePort: {e}")),
                    });
                }
            },
        };
        new["spec"]["healthCheckNodePort"] = json!(port);
    }

    // What the old object held and the new one does not is freed.
    let (now_ips, now_ports) = (service_ips(new), service_node_ports(new));
    for ip in old_ips.iter().filter(|ip| !now_ips.contains(ip)) {
        alloc.release_ip(*ip);
    }
    for p in old_ports.iter().filter(|p| !now_ports.contains(p)) {
        alloc.release_port(*p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(spec: Value) -> Value {
        let mut s = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        ServiceStrategy.default(&mut s);
        s
    }

    #[test]
    fn defaults() {
        let s = svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        assert_eq!(
            s["spec"],
            json!({"internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "selector": {"app": "web"},
                "sessionAffinity": "None", "type": "ClusterIP"})
        );
        let lb = svc(json!({"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": "http"}]}));
        assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(lb["spec"]["ports"][0]["targetPort"], "http");
    }

    #[test]
    fn validation_messages() {
        let cases = [
            (json!({"ports": []}), "spec.ports: Required value"),
            (json!({"type": "Foo", "ports": [{"port": 80}]}), "spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""),
            (json!({"ports": [{"port": 80}, {"port": 81}]}), "spec.ports[0].name: Required value"),
            (json!({"ports": [{"port": 70000}]}), "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
            (json!({"ports": [{"port": 80, "nodePort": 30001}]}), "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
            (json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]}), "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"),
            (json!({"type": "ExternalName"}), "spec.externalName: Required value"),
        ];
        for (spec, want) in cases {
            let s = svc(spec.clone());
            let errs: Vec<String> = ServiceStrategy
                .validate_create(&s)
                .iter()
                .map(ToString::to_string)
                .collect();
            assert!(errs.contains(&want.to_string()), "{spec}: {errs:?}");
        }
    }

    #[test]
    fn allocation_and_conflicts() {
        let a = Allocators::default();
        let mut s1 =
            svc(json!({"clusterIP": "10.43.0.5", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}));
        ServiceStrategy.allocate(&a, &mut s1, None).unwrap();
        assert_eq!(s1["spec"]["clusterIPs"], json!(["10.43.0.5"]));
        let mut s2 = svc(json!({"clusterIP": "10.43.0.5", "ports": [{"port": 80}]}));
        let e = ServiceStrategy.allocate(&a, &mut s2, None).unwrap_err();
        assert_eq!(
            e.message,
            "Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.43.0.5\"}: failed to allocate IP 10.43.0.5: provided IP is already allocated"
        );
        let mut s3 = svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}));
        let e = ServiceStrategy.allocate(&a, &mut s3, None).unwrap_err();
        assert_eq!(e.message, "Service \"web\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated");
        // The failed attempt gave back the IP it took.
        assert!(!a.ip_in_use(Ipv4Addr::new(10, 43, 0, 2)));
        let mut headless = svc(json!({"clusterIP": "None", "ports": [{"port": 80}]}));
        ServiceStrategy.allocate(&a, &mut headless, None).unwrap();
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
    }

    #[test]
    fn exhausted_ranges_are_internal_errors() {
        let a = Allocators::new(Ipv4Addr::new(10, 99, 0, 0), 30, 30000..=30000); // .1 reserved, .2 usable
        let mut first = svc(json!({"type": "NodePort", "ports": [{"port": 80}]}));
        ServiceStrategy.allocate(&a, &mut first, None).unwrap();
        assert_eq!(first["spec"]["clusterIP"], "10.99.0.2");
        assert_eq!(first["spec"]["ports"][0]["nodePort"], 30000);
        let mut second = svc(json!({"ports": [{"port": 80}]}));
        let e = ServiceStrategy.allocate(&a, &mut second, None).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                500,
                "Internal error occurred: failed to allocate a serviceIP: range is full"
            )
        );
        ServiceStrategy.release(&a, &first);
        let mut third = svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}));
        let e = ServiceStrategy.allocate(&a, &mut third, None).unwrap_err();
        assert_eq!(
            e.message,
            "Service \"web\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-30000"
        );
        assert!(
            !a.ip_in_use(Ipv4Addr::new(10, 99, 0, 2)),
            "the failed attempt gave its IP back"
        );
    }

    #[test]
    fn type_changes_allocate_and_release() {
        let a = Allocators::default();
        let mut old = svc(json!({"ports": [{"port": 80}]}));
        ServiceStrategy.allocate(&a, &mut old, None).unwrap();
        let ip = old["spec"]["clusterIP"].clone();
        // ClusterIP -> NodePort: a PUT without clusterIP keeps it and gains a node port.
        let mut np = svc(json!({"type": "NodePort", "ports": [{"port": 80}]}));
        ServiceStrategy.prepare_for_update(&mut np, &old);
        ServiceStrategy.default(&mut np);
        assert!(
            ServiceStrategy.validate_update(&np, &old).is_empty(),
            "{:?}",
            ServiceStrategy.validate_update(&np, &old)
        );
        ServiceStrategy.allocate(&a, &mut np, Some(&old)).unwrap();
        assert_eq!(np["spec"]["clusterIP"], ip);
        let port = np["spec"]["ports"][0]["nodePort"].as_u64().unwrap() as u16;
        assert!(a.port_in_use(port));
        // NodePort -> ClusterIP: the unchanged node port is dropped and released.
        let mut back = np.clone();
        back["spec"]["type"] = json!("ClusterIP");
        back["spec"].as_object_mut().unwrap().remove("externalTrafficPolicy");
        ServiceStrategy.prepare_for_update(&mut back, &np);
        assert!(back["spec"]["ports"][0].get("nodePort").is_none());
        assert!(ServiceStrategy.validate_update(&back, &np).is_empty());
        ServiceStrategy.allocate(&a, &mut back, Some(&np)).unwrap();
        assert!(!a.port_in_use(port));
        // Changing the clusterIP is refused.
        let mut moved = back.clone();
        moved["spec"]["clusterIP"] = json!("10.43.9.9");
        moved["spec"]["clusterIPs"] = json!(["10.43.9.9"]);
        let errs: Vec<String> = ServiceStrategy
            .validate_update(&moved, &back)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.clusterIPs[0]: Invalid value: []string{\"10.43.9.9\"}: may not change once set".to_string()]
        );
        ServiceStrategy.release(&a, &back);
        assert!(!a.ip_in_use(ip.as_str().unwrap().parse().unwrap()));
    }
}
