//! The scheduler's filters (kube-scheduler's Filter plugins, in their default
//! order): pure predicates over a pod and one node's snapshot, each saying why
//! the node does not fit in kube-scheduler's words.

use k1s_proto::selector::{Operator, Requirement};
use serde_json::{Map, Value};

use super::resources::{pod_requests, Allocatable, Resources};

/// NodeUnschedulable's reason.
pub const UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// NodeAffinity's reason.
pub const AFFINITY_MISMATCH: &str = "node(s) didn't match Pod's node affinity/selector";
/// NodePorts' reason.
pub const PORTS_IN_USE: &str = "node(s) didn't have free ports for the requested pod ports";
/// VolumeBinding's reason for a bound PV whose node affinity excludes the node.
pub const VOLUME_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// VolumeBinding's reason for a claim bound to a PV that does not exist.
pub const PV_NOT_EXIST: &str = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";

/// Why a node does not fit: the reasons, and whether preempting pods could
/// help (`Unschedulable`) or not (`UnschedulableAndUnresolvable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// One reason per failed check, as kube-scheduler words them.
    pub reasons: Vec<String>,
    /// Whether freeing resources on the node could make room.
    pub resolvable: bool,
}

impl Rejection {
    fn unresolvable(reason: impl Into<String>) -> Rejection {
        Rejection {
            reasons: vec![reason.into()],
            resolvable: false,
        }
    }
}

/// A host port a container holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// `hostIP`, `0.0.0.0` when unset.
    pub ip: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The port.
    pub port: i64,
}

impl HostPort {
    /// Two host ports collide: same protocol and port, and one binds all addresses or both the same.
    fn conflicts(&self, other: &HostPort) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// The host ports a pod's containers (and sidecars) ask for.
pub fn host_ports(pod: &Value) -> Vec<HostPort> {
    let spec = &pod["spec"];
    let sidecars = spec["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["restartPolicy"] == "Always");
    let containers = spec["containers"].as_array().into_iter().flatten();
    containers
        .chain(sidecars)
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .filter_map(|p| {
            let port = p["hostPort"].as_i64().filter(|p| *p > 0)?;
            Some(HostPort {
                ip: p["hostIP"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("0.0.0.0")
                    .to_string(),
                protocol: p["protocol"].as_str().unwrap_or("TCP").to_string(),
                port,
            })
        })
        .collect()
}

/// One node as the filters see it: the Node and what its pods already hold.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// The Node object.
    pub node: Value,
    /// What it can give pods.
    pub allocatable: Allocatable,
    /// What its non-terminal pods request.
    pub requested: Resources,
    /// How many non-terminal pods it runs.
    pub pods: i64,
    /// The host ports they hold.
    pub used_ports: Vec<HostPort>,
}

impl NodeInfo {
    /// A node with no pods yet.
    pub fn new(node: Value) -> NodeInfo {
        NodeInfo {
            allocatable: super::resources::node_allocatable(&node),
            node,
            ..NodeInfo::default()
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        self.node["metadata"]["name"].as_str().unwrap_or("")
    }

    /// Accounts for a pod placed on the node.
    pub fn add_pod(&mut self, pod: &Value) {
        self.requested.add(&pod_requests(pod));
        self.pods += 1;
        self.used_ports.extend(host_ports(pod));
    }
}

/// Whether a toleration tolerates a taint (`Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let field = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let effect = field(toleration, "effect");
    if !effect.is_empty() && effect != field(taint, "effect") {
        return false;
    }
    let key = field(toleration, "key");
    if !key.is_empty() && key != field(taint, "key") {
        return false;
    }
    match toleration["operator"].as_str().unwrap_or("") {
        "" | "Equal" => field(toleration, "value") == field(taint, "value"),
        "Exists" => true,
        _ => false,
    }
}

/// Whether any of a pod's tolerations tolerates `taint`.
pub fn pod_tolerates(pod: &Value, taint: &Value) -> bool {
    pod["spec"]["tolerations"]
        .as_array()
        .is_some_and(|ts| ts.iter().any(|t| tolerates(t, taint)))
}

/// NodeUnschedulable: a cordoned node takes only pods tolerating `node.kubernetes.io/unschedulable`.
pub fn node_unschedulable(pod: &Value, node: &Value) -> Result<(), Rejection> {
    let cordoned = node["spec"]["unschedulable"].as_bool().unwrap_or(false);
    let taint = serde_json::json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
    if cordoned && !pod_tolerates(pod, &taint) {
        return Err(Rejection::unresolvable(UNSCHEDULABLE));
    }
    Ok(())
}

/// TaintToleration: every NoSchedule and NoExecute taint must be tolerated;
/// the first one that is not is named.
pub fn taint_toleration(pod: &Value, node: &Value) -> Result<(), Rejection> {
    let untolerated = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| matches!(t["effect"].as_str(), Some("NoSchedule" | "NoExecute")) && !pod_tolerates(pod, t));
    match untolerated {
        Some(t) => Err(Rejection::unresolvable(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            t["key"].as_str().unwrap_or(""),
            t["value"].as_str().unwrap_or("")
        ))),
        None => Ok(()),
    }
}

/// A `NodeSelectorRequirement` as a label requirement (None when malformed).
fn requirement(expr: &Value) -> Option<Requirement> {
    let op = match expr["operator"].as_str()? {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::GreaterThan,
        "Lt" => Operator::LessThan,
        _ => return None,
    };
    let values = expr["values"]
        .as_array()
        .map(|vs| vs.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
    Requirement::new(expr["key"].as_str()?, op, values).ok()
}

/// Whether one `NodeSelectorTerm` matches the node: all its label expressions
/// and field expressions (only `metadata.name`); an empty term matches nothing.
fn term_matches(term: &Value, node: &Value) -> bool {
    let exprs = term["matchExpressions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let fields = term["matchFields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node["metadata"]["labels"].as_object();
    let labels_match = exprs.iter().all(|e| requirement(e).is_some_and(|r| r.matches(labels)));
    let mut name_only = Map::new();
    if let Some(name) = node["metadata"]["name"].as_str() {
        name_only.insert("metadata.name".into(), Value::from(name));
    }
    let fields_match = fields.iter().all(|f| {
        f["key"] == "metadata.name"
            && matches!(f["operator"].as_str(), Some("In" | "NotIn"))
            && requirement(f).is_some_and(|r| r.matches(Some(&name_only)))
    });
    labels_match && fields_match
}

/// Whether a `NodeSelector` (ORed terms) matches the node.
pub fn node_selector_matches(selector: &Value, node: &Value) -> bool {
    selector["nodeSelectorTerms"]
        .as_array()
        .is_some_and(|terms| terms.iter().any(|t| term_matches(t, node)))
}

/// NodeAffinity: `spec.nodeSelector` and the required node affinity must both match.
pub fn node_affinity(pod: &Value, node: &Value) -> Result<(), Rejection> {
    let labels = node["metadata"]["labels"].as_object();
    let selector_ok = pod["spec"]["nodeSelector"].as_object().is_none_or(|sel| {
        sel.iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)).is_some_and(|have| have == v))
    });
    let required = &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    let affinity_ok = required.is_null() || node_selector_matches(required, node);
    if selector_ok && affinity_ok {
        Ok(())
    } else {
        Err(Rejection::unresolvable(AFFINITY_MISMATCH))
    }
}

/// NodePorts: no host port of the pod may collide with one the node's pods hold.
pub fn node_ports(pod: &Value, info: &NodeInfo) -> Result<(), Rejection> {
    let wanted = host_ports(pod);
    if wanted.iter().any(|w| info.used_ports.iter().any(|u| u.conflicts(w))) {
        return Err(Rejection {
            reasons: vec![PORTS_IN_USE.into()],
            resolvable: true,
        });
    }
    Ok(())
}

/// NodeResourcesFit: one more pod must be allowed, and each requested
/// resource must fit in allocatable minus what is already requested.
pub fn resources_fit(requests: &Resources, info: &NodeInfo) -> Result<(), Rejection> {
    let mut reasons = Vec::new();
    if info.pods + 1 > info.allocatable.pods {
        reasons.push("Too many pods".to_string());
    }
    let (have, used) = (&info.allocatable.resources, &info.requested);
    let short = |want: i64, have: i64, used: i64| want > 0 && want > have - used;
    if short(requests.milli_cpu, have.milli_cpu, used.milli_cpu) {
        reasons.push("Insufficient cpu".into());
    }
    if short(requests.memory, have.memory, used.memory) {
        reasons.push("Insufficient memory".into());
    }
    if short(
        requests.ephemeral_storage,
        have.ephemeral_storage,
        used.ephemeral_storage,
    ) {
        reasons.push("Insufficient ephemeral-storage".into());
    }
    for (name, want) in &requests.scalar {
        let cap = have.scalar.get(name).copied().unwrap_or(0);
        let held = used.scalar.get(name).copied().unwrap_or(0);
        if short(*want, cap, held) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Rejection {
            reasons,
            resolvable: true,
        })
    }
}

/// What the volume filter needs to know about the PVs a pod's bound claims use.
#[derive(Debug, Clone, Default)]
pub struct BoundVolumes {
    /// The PVs of bound claims (`None` for a claim bound to a PV that does not exist).
    pub pvs: Vec<Option<Value>>,
}

/// VolumeBinding (bound claims): each PV must exist and its node affinity admit the node.
pub fn volume_binding(volumes: &BoundVolumes, node: &Value) -> Result<(), Rejection> {
    if volumes.pvs.iter().any(Option::is_none) {
        return Err(Rejection::unresolvable(PV_NOT_EXIST));
    }
    let conflict = volumes.pvs.iter().flatten().any(|pv| {
        let required = &pv["spec"]["nodeAffinity"]["required"];
        !required.is_null() && !node_selector_matches(required, node)
    });
    if conflict {
        return Err(Rejection::unresolvable(VOLUME_NODE_CONFLICT));
    }
    Ok(())
}

/// Runs every filter in kube-scheduler's default order, stopping at the first that rejects the node.
pub fn run_filters(
    pod: &Value,
    requests: &Resources,
    volumes: &BoundVolumes,
    info: &NodeInfo,
) -> Result<(), Rejection> {
    node_unschedulable(pod, &info.node)?;
    taint_toleration(pod, &info.node)?;
    node_affinity(pod, &info.node)?;
    node_ports(pod, info)?;
    resources_fit(requests, info)?;
    volume_binding(volumes, &info.node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: Value, spec: Value) -> Value {
        json!({"metadata": {"name": "n1", "labels": labels}, "spec": spec,
               "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "3", "ephemeral-storage": "10Gi"}}})
    }

    fn pod(spec: Value) -> Value {
        let mut p = json!({"metadata": {"name": "p", "namespace": "default"},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        if let (Some(dst), Some(src)) = (p["spec"].as_object_mut(), spec.as_object()) {
            for (k, v) in src {
                dst.insert(k.clone(), v.clone());
            }
        }
        p
    }

    fn reasons(r: Result<(), Rejection>) -> Vec<String> {
        r.err().map(|e| e.reasons).unwrap_or_default()
    }

    #[test]
    fn toleration_matching() {
        let taint = json!({"key": "k", "value": "v", "effect": "NoSchedule"});
        let cases = [
            (
                json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}),
                true,
            ),
            (json!({"key": "k", "value": "v"}), true),
            (json!({"key": "k", "value": "other"}), false),
            (json!({"key": "k", "operator": "Exists"}), true),
            (json!({"operator": "Exists"}), true),
            (json!({"key": "k", "operator": "Exists", "effect": "NoExecute"}), false),
            (json!({"key": "other", "operator": "Exists"}), false),
            (json!({"key": "k", "operator": "Bogus"}), false),
        ];
        for (toleration, want) in cases {
            assert_eq!(tolerates(&toleration, &taint), want, "{toleration}");
        }
    }

    #[test]
    fn taints_and_cordons() {
        let tainted = node(
            json!({}),
            json!({"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
                              {"key": "dedicated", "value": "gpu", "effect": "PreferNoSchedule"}]}),
        );
        assert_eq!(
            reasons(taint_toleration(&pod(json!({})), &tainted)),
            vec!["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
        );
        let tolerant = pod(json!({"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]}));
        assert!(
            taint_toleration(&tolerant, &tainted).is_ok(),
            "PreferNoSchedule does not filter"
        );
        let valued = node(
            json!({}),
            json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]}),
        );
        assert_eq!(
            reasons(taint_toleration(&pod(json!({})), &valued)),
            vec!["node(s) had untolerated taint {dedicated: gpu}"]
        );

        let cordoned = node(json!({}), json!({"unschedulable": true}));
        let r = node_unschedulable(&pod(json!({})), &cordoned).unwrap_err();
        assert_eq!((r.reasons[0].as_str(), r.resolvable), (UNSCHEDULABLE, false));
        let daemon = pod(
            json!({"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
        );
        assert!(node_unschedulable(&daemon, &cordoned).is_ok());
    }

    #[test]
    fn node_selectors_and_affinity() {
        let n = node(json!({"disktype": "ssd", "zone": "a", "cores": "8"}), json!({}));
        let term = |exprs: Value| json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [exprs]}}}});
        let cases = [
            (json!({}), true),
            (json!({"nodeSelector": {"disktype": "ssd"}}), true),
            (json!({"nodeSelector": {"disktype": "hdd"}}), false),
            (json!({"nodeSelector": {"gpu": "yes"}}), false),
            (
                term(json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]})),
                true,
            ),
            (
                term(json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]})),
                false,
            ),
            (
                term(json!({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]})),
                true,
            ),
            (
                term(json!({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]})),
                false,
            ),
            (
                term(json!({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]})),
                true,
            ),
            (
                term(json!({"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]})),
                false,
            ),
            (
                term(json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]})),
                true,
            ),
            (
                term(json!({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]})),
                false,
            ),
            (
                term(json!({"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["n1"]}]})),
                false,
            ),
            (term(json!({})), false),
            // Terms are ORed, expressions within one ANDed.
            (
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]},
                                          {"key": "disktype", "operator": "In", "values": ["ssd"]}]}]}}}}),
                true,
            ),
            // Both nodeSelector and affinity must hold.
            (
                json!({"nodeSelector": {"disktype": "hdd"},
                       "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                           {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}),
                false,
            ),
        ];
        for (spec, want) in cases {
            let got = node_affinity(&pod(spec.clone()), &n);
            assert_eq!(got.is_ok(), want, "{spec}");
            if let Err(r) = got {
                assert_eq!((r.reasons, r.resolvable), (vec![AFFINITY_MISMATCH.to_string()], false));
            }
        }
    }

    #[test]
    fn host_port_conflicts() {
        let with_port = |ip: &str, proto: &str, port: i64| {
            pod(
                json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": port, "hostIP": ip, "protocol": proto}]}]}),
            )
        };
        let mut info = NodeInfo::new(node(json!({}), json!({})));
        info.add_pod(&with_port("10.0.0.1", "TCP", 8080));
        let cases = [
            (with_port("", "TCP", 8080), false),
            (with_port("10.0.0.1", "TCP", 8080), false),
            (with_port("10.0.0.2", "TCP", 8080), true),
            (with_port("", "UDP", 8080), true),
            (with_port("", "TCP", 8081), true),
            (pod(json!({})), true),
        ];
        for (p, fits) in cases {
            let got = node_ports(&p, &info);
            assert_eq!(got.is_ok(), fits, "{}", p["spec"]);
            if let Err(r) = got {
                assert_eq!((r.reasons[0].as_str(), r.resolvable), (PORTS_IN_USE, true));
            }
        }
    }

    #[test]
    fn resources_against_allocatable_minus_requested() {
        let mut info = NodeInfo::new(node(json!({}), json!({})));
        let requesting = |cpu: &str, mem: &str| {
            pod(json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}))
        };
        info.add_pod(&requesting("1500m", "1Gi"));
        let fit = |p: &Value, info: &NodeInfo| reasons(resources_fit(&pod_requests(p), info));
        assert!(fit(&requesting("500m", "3Gi"), &info).is_empty());
        assert_eq!(fit(&requesting("501m", "1Gi"), &info), vec!["Insufficient cpu"]);
        assert_eq!(
            fit(&requesting("3", "4Gi"), &info),
            vec!["Insufficient cpu", "Insufficient memory"]
        );
        let gpu = pod(json!({"containers": [{"name": "c", "resources": {"requests": {"example.com/gpu": "1"}}}]}));
        assert_eq!(fit(&gpu, &info), vec!["Insufficient example.com/gpu"]);
        // The pod count is checked even for pods without requests.
        info.add_pod(&pod(json!({})));
        info.add_pod(&pod(json!({})));
        let r = resources_fit(&pod_requests(&pod(json!({}))), &info).unwrap_err();
        assert_eq!((r.reasons, r.resolvable), (vec!["Too many pods".to_string()], true));
    }

    #[test]
    fn bound_volume_node_affinity() {
        let n = node(json!({"kubernetes.io/hostname": "n1"}), json!({}));
        let pv = |host: &str| {
            json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [host]}]}]}}}})
        };
        let ok = BoundVolumes {
            pvs: vec![Some(pv("n1")), Some(json!({"spec": {}}))],
        };
        assert!(volume_binding(&ok, &n).is_ok());
        let elsewhere = BoundVolumes {
            pvs: vec![Some(pv("n2"))],
        };
        assert_eq!(reasons(volume_binding(&elsewhere, &n)), vec![VOLUME_NODE_CONFLICT]);
        let missing = BoundVolumes { pvs: vec![None] };
        assert_eq!(reasons(volume_binding(&missing, &n)), vec![PV_NOT_EXIST]);
    }

    #[test]
    fn filters_stop_at_the_first_rejection() {
        let n = node(
            json!({}),
            json!({"unschedulable": true, "taints": [{"key": "a", "effect": "NoSchedule"}]}),
        );
        let info = NodeInfo::new(n);
        let p = pod(json!({"nodeSelector": {"x": "y"}}));
        let r = run_filters(&p, &pod_requests(&p), &BoundVolumes::default(), &info).unwrap_err();
        assert_eq!(r.reasons, vec![UNSCHEDULABLE]);
    }
}
