//! Kinds with small rules: Leases, PodDisruptionBudgets, Endpoints,
//! EndpointSlices, Nodes, Events and ServiceAccounts.

use k1s_proto::meta::ObjectMeta;
use k1s_proto::FieldError;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Node};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{json, Value};

use super::names;
use super::util::{default_str, non_negative, one_of, typed, validate_selector, with_typed};
use super::workload::{show_int_or_string, validate_int_or_percent};
use super::Strategy;

/// The Lease strategy.
pub struct LeaseStrategy;
/// The PodDisruptionBudget strategy.
pub struct PdbStrategy;
/// The Endpoints strategy.
pub struct EndpointsStrategy;
/// The EndpointSlice strategy.
pub struct EndpointSliceStrategy;
/// The Node strategy.
pub struct NodeStrategy;
/// The (core/v1) Event strategy.
pub struct EventStrategy;
/// The ServiceAccount strategy.
pub struct ServiceAccountStrategy;

impl Strategy for LeaseStrategy {
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<Lease>(obj).and_then(|l| l.spec).unwrap_or_default();
        let mut errs = Vec::new();
        if let Some(d) = spec.lease_duration_seconds {
            if d <= 0 {
                errs.push(FieldError::invalid(
                    "spec.leaseDurationSeconds",
                    d,
                    "must be greater than 0",
                ));
            }
        }
        errs.extend(non_negative(
            spec.lease_transitions.map(i64::from),
            "spec.leaseTransitions",
        ));
        errs
    }
}

impl Strategy for PdbStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert(
                "status".into(),
                json!({"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}),
            );
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<PodDisruptionBudget>(obj)
            .and_then(|p| p.spec)
            .unwrap_or_default();
        let mut errs = Vec::new();
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            errs.push(FieldError::invalid_shown(
                "spec",
                "policy.PodDisruptionBudgetSpec{...}",
                "minAvailable and maxUnavailable cannot be both set",
            ));
        }
        for (v, f) in [
            (&spec.min_available, "minAvailable"),
            (&spec.max_unavailable, "maxUnavailable"),
        ] {
            let path = format!("spec.{f}");
            errs.extend(validate_int_or_percent(v.as_ref(), &path));
            if let Some(v) = v {
                if super::workload::int_or_percent_value(v).is_some_and(|n| n > 100)
                    && matches!(v, k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(_))
                {
                    errs.push(FieldError::invalid_shown(
                        path,
                        show_int_or_string(v),
                        "must not be greater than 100%",
                    ));
                }
            }
        }
        if let Some(s) = &spec.selector {
            errs.extend(validate_selector(s, "spec.selector"));
        }
        errs.extend(one_of(
            spec.unhealthy_pod_eviction_policy.as_deref(),
            "spec.unhealthyPodEvictionPolicy",
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        let s = &new["status"];
        let mut errs = Vec::new();
        for f in [
            "disruptionsAllowed",
            "currentHealthy",
            "desiredHealthy",
            "expectedPods",
            "observedGeneration",
        ] {
            errs.extend(non_negative(s.get(f).and_then(Value::as_i64), &format!("status.{f}")));
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

fn validate_port(port: i64, name: Option<&str>, protocol: Option<&str>, path: &str, errs: &mut Vec<FieldError>) {
    for m in names::is_valid_port_num(port) {
        errs.push(FieldError::invalid(format!("{path}.port"), port, m));
    }
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        for m in names::is_dns1123_label(n) {
            errs.push(FieldError::invalid(format!("{path}.name"), n, m));
        }
    }
    errs.extend(one_of(protocol, &format!("{path}.protocol"), &["SCTP", "TCP", "UDP"]));
}

impl Strategy for EndpointsStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<Endpoints>(obj, |ep| {
            for p in ep
                .subsets
                .iter_mut()
                .flatten()
                .flat_map(|s| s.ports.iter_mut().flatten())
            {
                default_str(&mut p.protocol, "TCP");
            }
        });
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let ep = typed::<Endpoints>(obj).unwrap_or_default();
        let mut errs = Vec::new();
        for (i, s) in ep.subsets.iter().flatten().enumerate() {
            let sp = format!("subsets[{i}]");
            let addrs = s.addresses.iter().flatten().map(|a| ("addresses", a));
            let not_ready = s.not_ready_addresses.iter().flatten().map(|a| ("notReadyAddresses", a));
            let mut counts = std::collections::HashMap::new();
            for (list, a) in addrs.chain(not_ready) {
                let idx = counts.entry(list).or_insert(0usize);
                for m in names::is_valid_ip(&a.ip) {
                    errs.push(FieldError::invalid(format!("{sp}.{list}[{idx}].ip"), a.ip.as_str(), m));
                }
                *idx += 1;
            }
            for (j, p) in s.ports.iter().flatten().enumerate() {
                validate_port(
                    p.port.into(),
                    p.name.as_deref(),
                    p.protocol.as_deref(),
                    &format!("{sp}.ports[{j}]"),
                    &mut errs,
                );
            }
        }
        errs
    }
}

impl Strategy for EndpointSliceStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<EndpointSlice>(obj, |es| {
            for p in es.ports.iter_mut().flatten() {
                default_str(&mut p.protocol, "TCP");
                if p.name.is_none() {
                    p.name = Some(String::new());
                }
            }
        });
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let Some(es) = typed::<EndpointSlice>(obj) else {
            return Vec::new();
        };
        let mut errs = Vec::new();
        match es.address_type.as_str() {
            "" => errs.push(FieldError::required("addressType", "")),
            t => errs.extend(one_of(Some(t), "addressType", &["FQDN", "IPv4", "IPv6"])),
        }
        if es.endpoints.len() > 1000 {
            errs.push(FieldError::too_many("endpoints", es.endpoints.len(), 1000));
        }
        for (i, e) in es.endpoints.iter().enumerate() {
            let p = format!("endpoints[{i}].addresses");
            if e.addresses.is_empty() || e.addresses.len() > 100 {
                errs.push(FieldError::invalid(
                    p.clone(),
                    e.addresses.len(),
                    "must contain at least 1 and at most 100 addresses",
                ));
            }
            for (j, a) in e.addresses.iter().enumerate() {
                let bad = match es.address_type.as_str() {
                    "IPv4" => a.parse::<std::net::Ipv4Addr>().is_err(),
                    "IPv6" => a.parse::<std::net::Ipv6Addr>().is_err(),
                    "FQDN" => !names::is_dns1123_subdomain(a).is_empty(),
                    _ => false,
                };
                if bad {
                    errs.push(FieldError::invalid(
                        format!("{p}[{j}]"),
                        a.as_str(),
                        format!("must be a valid {} address", es.address_type),
                    ));
                }
            }
        }
        for (i, p) in es.ports.iter().flatten().enumerate() {
            if let Some(port) = p.port {
                validate_port(
                    port.into(),
                    p.name.as_deref(),
                    p.protocol.as_deref(),
                    &format!("ports[{i}]"),
                    &mut errs,
                );
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        if new["addressType"] != old["addressType"] {
            errs.push(FieldError::invalid(
                "addressType",
                new["addressType"].clone(),
                "field is immutable",
            ));
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

impl Strategy for NodeStrategy {
    fn default(&self, obj: &mut Value) {
        // SetDefaults_NodeStatus: allocatable defaults to capacity.
        let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) else {
            return;
        };
        if status.get("allocatable").is_none_or(Value::is_null) {
            if let Some(cap) = status.get("capacity").filter(|c| c.is_object()).cloned() {
                status.insert("allocatable".into(), cap);
            }
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<Node>(obj).and_then(|n| n.spec).unwrap_or_default();
        let mut errs = Vec::new();
        for (i, c) in spec.pod_cidrs.iter().flatten().enumerate() {
            if !super::networking::is_cidr(c) {
                errs.push(FieldError::invalid(
                    format!("spec.podCIDRs[{i}]"),
                    c.as_str(),
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, t) in spec.taints.iter().flatten().enumerate() {
            let p = format!("spec.taints[{i}]");
            for m in names::is_qualified_name(&t.key) {
                errs.push(FieldError::invalid(format!("{p}.key"), t.key.as_str(), m));
            }
            if let Some(v) = t.value.as_deref() {
                for m in names::is_valid_label_value(v) {
                    errs.push(FieldError::invalid(format!("{p}.value"), v, m));
                }
            }
            match t.effect.as_str() {
                "" => errs.push(FieldError::required(format!("{p}.effect"), "")),
                e => errs.extend(one_of(
                    Some(e),
                    &format!("{p}.effect"),
                    &["NoExecute", "NoSchedule", "PreferNoSchedule"],
                )),
            }
            if !seen.insert((t.key.clone(), t.effect.clone())) {
                errs.push(FieldError::duplicate(p, json!({"key": t.key, "effect": t.effect})));
            }
        }
        errs
    }
}

impl Strategy for EventStrategy {
    fn default(&self, obj: &mut Value) {
        let Some(m) = obj.as_object_mut() else { return };
        // Fields core/v1 always writes (Go strings without omitempty, a nullable time).
        m.entry("reportingComponent").or_insert_with(|| json!(""));
        m.entry("reportingInstance").or_insert_with(|| json!(""));
        m.entry("eventTime").or_insert(Value::Null);
        if m.get("involvedObject").is_none() {
            m.insert("involvedObject".into(), json!({}));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let ns = obj.namespace().unwrap_or("");
        if let Some(ino) = obj["involvedObject"]["namespace"].as_str().filter(|n| !n.is_empty()) {
            if ino != ns {
                errs.push(FieldError::invalid(
                    "involvedObject.namespace",
                    ino,
                    "does not match event.namespace",
                ));
            }
        }
        if let Some(t) = obj["type"].as_str().filter(|t| !t.is_empty()) {
            errs.extend(one_of(Some(t), "type", &["Normal", "Warning"]));
        }
        if let Some(c) = obj["reportingComponent"].as_str().filter(|c| !c.is_empty()) {
            for m in names::is_qualified_name(c) {
                errs.push(FieldError::invalid("reportingController", c, m));
            }
        }
        if obj["message"]
            .as_str()
            .is_some_and(|m| m.len() > 1024 && !obj["eventTime"].is_null())
        {
            errs.push(FieldError::too_long("note", 1024));
        }
        errs
    }
}

impl Strategy for ServiceAccountStrategy {
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for (i, s) in obj["secrets"].as_array().into_iter().flatten().enumerate() {
            if let Some(n) = s["name"].as_str().filter(|n| !n.is_empty()) {
                for m in names::is_dns1123_subdomain(n) {
                    errs.push(FieldError::invalid(format!("secrets[{i}].name"), n, m));
                }
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdb_rules() {
        let both = json!({"spec": {"minAvailable": 1, "maxUnavailable": "50%"}});
        let errs: Vec<String> = PdbStrategy
            .validate_create(&both)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec!["spec: Invalid value: policy.PodDisruptionBudgetSpec{...}: minAvailable and maxUnavailable cannot be both set".to_string()]);
        let mut ok = json!({"spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "x"}}}});
        PdbStrategy.prepare_for_create(&mut ok);
        assert_eq!(ok["status"]["disruptionsAllowed"], 0);
        assert!(PdbStrategy.validate_create(&ok).is_empty());
    }

    #[test]
    fn endpoints_and_slices() {
        let mut ep = json!({"subsets": [{"addresses": [{"ip": "10.42.0.5"}], "ports": [{"port": 80}]}]});
        EndpointsStrategy.default(&mut ep);
        assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
        assert!(EndpointsStrategy.validate_create(&ep).is_empty());
        let mut es =
            json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.42.0.5"]}], "ports": [{"port": 80}]});
        EndpointSliceStrategy.default(&mut es);
        assert_eq!(es["ports"][0], json!({"name": "", "port": 80, "protocol": "TCP"}));
        assert!(EndpointSliceStrategy.validate_create(&es).is_empty());
        let mut v6 = es.clone();
        v6["addressType"] = json!("IPv6");
        assert_eq!(EndpointSliceStrategy.validate_update(&v6, &es).len(), 2);
    }

    #[test]
    fn node_taints_and_events() {
        let node = json!({"spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}});
        let errs: Vec<String> = NodeStrategy
            .validate_create(&node)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\"".to_string()]
        );
        let mut ev = json!({"metadata": {"name": "e", "namespace": "a"}, "involvedObject": {"namespace": "b"}, "type": "Normal"});
        EventStrategy.default(&mut ev);
        assert_eq!(ev["reportingComponent"], "");
        let errs: Vec<String> = EventStrategy
            .validate_create(&ev)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["involvedObject.namespace: Invalid value: \"b\": does not match event.namespace".to_string()]
        );
    }
}
