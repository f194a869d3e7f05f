//! The EndpointSlice reconciler's pure part (`k8s.io/endpointslice`'s
//! `Reconciler`): from a Service, its pods and its existing slices, the
//! slices to create, update and delete — endpoints grouped by the ports they
//! resolve to, at most [`MAX_ENDPOINTS_PER_SLICE`] per slice, existing slices
//! kept and filled before new ones are made, a placeholder slice when there
//! is nothing to list, and deletions recycled into updates.

use std::collections::BTreeMap;
use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use serde_json::{json, Map, Value};

use super::super::controller_ref::{controller_uid, owner_reference};
use super::super::endpointutil::{
    find_port, is_service_ip_set, pod_ip_for_service, should_pod_be_in_endpoints, should_set_hostname, HEADLESS_LABEL,
    LAST_CHANGE_TRIGGER_TIME,
};
use super::super::podutil;
use crate::controllers::history::canonical_json;

/// The most endpoints one slice holds (kube-controller-manager's default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming who manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's `managed-by` value.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// The label of a slice's zone.
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// What a sync writes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    /// New slices (with `generateName`).
    pub create: Vec<Value>,
    /// Changed slices (existing names).
    pub update: Vec<Value>,
    /// Slices to delete.
    pub delete: Vec<Arc<Value>>,
    /// Pods left out, and why (the sync is retried).
    pub errors: Vec<String>,
}

/// The address type of a Service's slices (`getAddressTypesForService`, single stack).
pub fn address_type(service: &Value) -> &'static str {
    let v6 = match service["spec"]["ipFamilies"].as_array().and_then(|f| f.first()) {
        Some(f) => f == "IPv6",
        None => is_service_ip_set(service) && service["spec"]["clusterIP"].as_str().is_some_and(|ip| ip.contains(':')),
    };
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// `getEndpointPorts`: the Service's ports resolved against the pod (ports a
/// pod does not have are left out; a headless Service may have none).
pub fn endpoint_ports(service: &Value, pod: &Value) -> Vec<Value> {
    let ports = service["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for sp in &ports {
        let Some(port) = find_port(pod, sp) else {
            continue;
        };
        let mut p = json!({
            "name": sp["name"].as_str().unwrap_or(""),
            "port": port,
            "protocol": sp["protocol"].as_str().unwrap_or("TCP"),
        });
        if let Some(ap) = sp["appProtocol"].as_str() {
            p["appProtocol"] = json!(ap);
        }
        out.push(p);
    }
    out
}

/// `NewPortMapKey`: the ports as an order-independent key.
fn port_map_key(ports: &[Value]) -> String {
    let mut keys: Vec<String> = ports.iter().map(canonical_json).collect();
    keys.sort();
    keys.join(",")
}

/// `podToEndpoint`: the pod as a slice endpoint — ready (not terminating, or
/// everything published), serving (ready), terminating (being deleted).
pub fn pod_to_endpoint(pod: &Value, node: Option<&Value>, service: &Value) -> Value {
    let serving = podutil::is_ready(pod);
    let terminating = pod.deletion_timestamp().is_some();
    let publish = service["spec"]["publishNotReadyAddresses"].as_bool() == Some(true);
    let ready = publish || (serving && !terminating);
    let mut ep = Map::new();
    let addresses: Vec<String> = pod_ip_for_service(service, pod).into_iter().collect();
    ep.insert("addresses".into(), json!(addresses));
    ep.insert(
        "conditions".into(),
        json!({"ready": ready, "serving": serving, "terminating": terminating}),
    );
    if should_set_hostname(pod, service) {
        ep.insert("hostname".into(), pod["spec"]["hostname"].clone());
    }
    ep.insert(
        "targetRef".into(),
        json!({"kind": "Pod", "namespace": pod.namespace(), "name": pod.name(), "uid": pod.uid()}),
    );
    if let Some(n) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        ep.insert("nodeName".into(), json!(n));
    }
    if let Some(zone) = node.and_then(|n| n.label(ZONE_LABEL)).filter(|z| !z.is_empty()) {
        ep.insert("zone".into(), json!(zone));
    }
    Value::Object(ep)
}

/// The identity of an endpoint within a port mapping (`hashEndpoint`):
/// addresses, hostname and the pod it stands for.
fn endpoint_key(ep: &Value) -> String {
    let mut addrs: Vec<&str> = ep["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    addrs.sort_unstable();
    format!(
        "{}|{}|{}/{}",
        addrs.join(","),
        ep["hostname"].as_str().unwrap_or(""),
        ep["targetRef"]["namespace"].as_str().unwrap_or(""),
        ep["targetRef"]["name"].as_str().unwrap_or("")
    )
}

fn is_reserved_label(key: &str) -> bool {
    matches!(key, SERVICE_NAME_LABEL | MANAGED_BY_LABEL | HEADLESS_LABEL)
}

/// `setEndpointSliceLabels`: a slice's labels are the Service's (reserved ones
/// aside) plus the headless label, the Service's name and the manager; true
/// when the slice's own (non-reserved) labels differ from the Service's.
pub fn slice_labels(slice: Option<&Value>, service: &Value) -> (Map<String, Value>, bool) {
    let keep = |labels: Option<&Map<String, Value>>| -> Map<String, Value> {
        labels
            .into_iter()
            .flatten()
            .filter(|(k, _)| !is_reserved_label(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let own = keep(slice.and_then(|s| s.labels()));
    let mut labels = keep(service.labels());
    let changed = own != labels;
    if !is_service_ip_set(service) {
        labels.insert(HEADLESS_LABEL.into(), json!(""));
    }
    labels.insert(SERVICE_NAME_LABEL.into(), json!(service.name().unwrap_or("")));
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
    (labels, changed)
}

/// `newEndpointSlice`: an empty slice of `service` for `ports`.
pub fn new_slice(service: &Value, ports: &[Value], address_type: &str) -> Value {
    let (labels, _) = slice_labels(None, service);
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": format!("{}-", service.name().unwrap_or("")),
            "namespace": service.namespace(),
            "labels": labels,
            "ownerReferences": [owner_reference(service)],
        },
        "addressType": address_type,
        "endpoints": [],
        "ports": ports,
    })
}

/// Whether a slice is this Service's (its controller reference names the Service's uid).
fn owned_by(slice: &Value, service: &Value) -> bool {
    controller_uid(slice).is_some_and(|uid| Some(uid.as_str()) == service.uid())
}

/// `placeholderSliceCompare`: the same namespace, labels, address type, and no endpoints or ports.
fn is_placeholder_like(slice: &Value, placeholder: &Value) -> bool {
    let empty = |v: &Value| v.as_array().is_none_or(Vec::is_empty);
    slice.namespace() == placeholder.namespace()
        && slice.labels().cloned().unwrap_or_default() == placeholder.labels().cloned().unwrap_or_default()
        && slice["addressType"] == placeholder["addressType"]
        && empty(&slice["endpoints"])
        && empty(&placeholder["endpoints"])
        && empty(&slice["ports"])
        && empty(&placeholder["ports"])
}

fn endpoints_of(slice: &Value) -> Vec<Value> {
    slice["endpoints"].as_array().cloned().unwrap_or_default()
}

/// `Reconcile` + `reconcileByAddressType`: the writes that bring `existing`
/// (the Service's managed slices, none being deleted) in line with `pods`.
/// `node` finds a pod's Node (its zone; pods on unknown nodes are skipped).
pub fn plan(
    service: &Value,
    pods: &[Arc<Value>],
    existing: &[Arc<Value>],
    node: impl Fn(&str) -> Option<Arc<Value>>,
    max_per_slice: usize,
    trigger: Option<jiff::Timestamp>,
) -> Plan {
    let address_type = address_type(service);
    let publish = service["spec"]["publishNotReadyAddresses"].as_bool() == Some(true);
    let mut out = Plan::default();

    let mut of_type = Vec::new();
    for slice in existing {
        if slice["addressType"] == address_type {
            of_type.push(slice.clone());
        } else {
            out.delete.push(slice.clone());
        }
    }
    let mut deletes = Vec::new();
    let mut existing_by_ports: BTreeMap<String, Vec<Arc<Value>>> = BTreeMap::new();
    for slice in &of_type {
        if owned_by(slice, service) {
            let ports = slice["ports"].as_array().cloned().unwrap_or_default();
            existing_by_ports
                .entry(port_map_key(&ports))
                .or_default()
                .push(slice.clone());
        } else {
            deletes.push(slice.clone());
        }
    }

    // Desired endpoints by port mapping (and the ports themselves).
    let mut desired: BTreeMap<String, (Vec<Value>, BTreeMap<String, Value>)> = BTreeMap::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(service, pod);
        let node_name = pod["spec"]["nodeName"].as_str().unwrap_or("");
        let node_obj = node(node_name);
        if node_obj.is_none() && !publish {
            out.errors.push(format!(
                "skipping Pod {} for Service {}/{}: node \"{node_name}\" not found",
                pod.name().unwrap_or(""),
                service.namespace().unwrap_or(""),
                service.name().unwrap_or("")
            ));
            continue;
        }
        let ep = pod_to_endpoint(pod, node_obj.as_deref(), service);
        if ep["addresses"].as_array().is_none_or(Vec::is_empty) {
            continue;
        }
        let entry = desired
            .entry(port_map_key(&ports))
            .or_insert_with(|| (ports, BTreeMap::new()));
        entry.1.insert(endpoint_key(&ep), ep);
    }

    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for (key, (ports, endpoints)) in desired.iter_mut() {
        let mine = existing_by_ports.get(key).cloned().unwrap_or_default();
        let (c, u, d) = by_port_mapping(service, &mine, endpoints, ports, address_type, max_per_slice);
        creates.extend(c);
        updates.extend(u);
        deletes.extend(d);
    }
    for (key, slices) in &existing_by_ports {
        if !desired.contains_key(key) {
            deletes.extend(slices.iter().cloned());
        }
    }
    // Nothing to list: a placeholder slice says so.
    if of_type.len() == deletes.len() && creates.is_empty() {
        let placeholder = new_slice(service, &[], address_type);
        if deletes.len() == 1 && is_placeholder_like(&deletes[0], &placeholder) {
            deletes.clear();
        } else {
            creates.push(placeholder);
        }
    }
    // `finalize`: a slice about to be deleted is reused for one about to be created.
    let mut i = 0;
    while i < deletes.len() && !creates.is_empty() {
        let reusable = deletes[i]["addressType"] == address_type && owned_by(&deletes[i], service);
        match (reusable, creates.pop()) {
            (true, Some(mut slice)) => {
                let old = deletes.remove(i);
                slice.set_meta("name", json!(old.name().unwrap_or("")));
                slice.remove_meta("generateName");
                if let Some(rv) = old.resource_version() {
                    slice.set_meta("resourceVersion", json!(rv));
                }
                updates.push(slice);
            }
            (_, popped) => {
                creates.extend(popped);
                i += 1;
            }
        }
    }
    for slice in creates.iter_mut().chain(updates.iter_mut()) {
        set_trigger_time(slice, trigger);
    }
    out.create = creates;
    out.update = updates;
    out.delete.extend(deletes);
    out
}

/// `addTriggerTimeAnnotation`: sets (or, without a new trigger, clears) the annotation.
fn set_trigger_time(slice: &mut Value, trigger: Option<jiff::Timestamp>) {
    let mut annotations = slice.annotations().cloned().unwrap_or_default();
    match trigger {
        Some(t) => {
            annotations.insert(LAST_CHANGE_TRIGGER_TIME.into(), json!(t.to_string()));
        }
        None => {
            annotations.remove(LAST_CHANGE_TRIGGER_TIME);
        }
    }
    if annotations.is_empty() {
        slice.remove_meta("annotations");
    } else {
        slice.set_meta("annotations", Value::Object(annotations));
    }
}

/// `reconcileByPortMapping`: (creates, updates, deletes) for the slices of
/// one port mapping. Existing slices drop endpoints no longer wanted and
/// take changed ones; leftovers fill updated slices first, then one
/// unchanged slice with room for all of them, then new slices.
fn by_port_mapping(
    service: &Value,
    existing: &[Arc<Value>],
    desired: &mut BTreeMap<String, Value>,
    ports: &[Value],
    address_type: &str,
    max: usize,
) -> (Vec<Value>, Vec<Value>, Vec<Arc<Value>>) {
    // Slice name → (slice being built, state).
    let mut to_update: BTreeMap<String, Value> = BTreeMap::new();
    let mut unchanged: BTreeMap<String, Arc<Value>> = BTreeMap::new();
    let mut deletes = Vec::new();
    for slice in existing {
        let name = slice.name().unwrap_or("").to_string();
        let old = endpoints_of(slice);
        let mut kept = Vec::new();
        let mut changed = false;
        for ep in &old {
            if let Some(want) = desired.remove(&endpoint_key(ep)) {
                changed |= want != *ep;
                kept.push(want);
            }
        }
        let (labels, labels_changed) = slice_labels(Some(slice), service);
        if changed || kept.len() != old.len() {
            if kept.is_empty() {
                deletes.push(slice.clone());
            } else {
                let mut s = (**slice).clone();
                s["endpoints"] = Value::Array(kept);
                s.set_meta("labels", Value::Object(labels));
                to_update.insert(name, s);
            }
        } else if labels_changed {
            let mut s = (**slice).clone();
            s.set_meta("labels", Value::Object(labels));
            to_update.insert(name, s);
        } else {
            unchanged.insert(name, slice.clone());
        }
    }

    // Fill the slices being updated, fullest first.
    if !desired.is_empty() && !to_update.is_empty() {
        let mut names: Vec<String> = to_update.keys().cloned().collect();
        names.sort_by_key(|n| std::cmp::Reverse(to_update[n]["endpoints"].as_array().map_or(0, Vec::len)));
        for n in names {
            if let Some(slice) = to_update.get_mut(&n) {
                fill(slice, desired, max);
            }
        }
    }
    let mut creates = Vec::new();
    while !desired.is_empty() {
        let mut slice = None;
        if desired.len() < max && !unchanged.is_empty() {
            slice = slice_to_fill(&unchanged, desired.len(), max).map(|s| (*s).clone());
        }
        let mut slice = match slice {
            Some(s) => {
                unchanged.remove(s.name().unwrap_or(""));
                s
            }
            None => new_slice(service, ports, address_type),
        };
        fill(&mut slice, desired, max);
        match slice.name().map(String::from) {
            Some(name) => {
                to_update.insert(name, slice);
            }
            None => creates.push(slice),
        }
    }
    (creates, to_update.into_values().collect(), deletes)
}

/// Moves desired endpoints into `slice` until it holds `max`.
fn fill(slice: &mut Value, desired: &mut BTreeMap<String, Value>, max: usize) {
    if !slice["endpoints"].is_array() {
        slice["endpoints"] = json!([]);
    }
    if let Some(eps) = slice["endpoints"].as_array_mut() {
        while eps.len() < max {
            match desired.pop_first() {
                Some((_, ep)) => eps.push(ep),
                None => break,
            }
        }
    }
}

/// `getSliceToFill`: the fullest unchanged slice that still has room for `count` endpoints.
fn slice_to_fill(unchanged: &BTreeMap<String, Arc<Value>>, count: usize, max: usize) -> Option<Arc<Value>> {
    unchanged
        .values()
        .filter(|s| endpoints_of(s).len() + count <= max)
        .max_by_key(|s| endpoints_of(s).len())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "d", "uid": "svc-uid", "labels": {"tier": "fe"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.43.0.9", "ipFamilies": ["IPv4"],
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}})
    }

    fn pod(name: &str, ip: &str, ready: bool, port: i64) -> Arc<Value> {
        Arc::new(json!({
            "metadata": {"name": name, "namespace": "d", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
    }

    fn node(name: &str) -> Option<Arc<Value>> {
        (name == "n1").then(|| Arc::new(json!({"metadata": {"name": "n1", "labels": {ZONE_LABEL: "z1"}}})))
    }

    fn run(pods: &[Arc<Value>], existing: &[Arc<Value>]) -> Plan {
        plan(&service(), pods, existing, node, 100, None)
    }

    /// A slice as stored: named, with a uid and resourceVersion.
    fn stored(mut slice: Value, name: &str) -> Arc<Value> {
        slice.set_meta("name", json!(name));
        slice.remove_meta("generateName");
        slice.set_meta("uid", json!(format!("uid-{name}")));
        slice.set_meta("resourceVersion", json!("7"));
        Arc::new(slice)
    }

    fn ips(slice: &Value) -> Vec<&str> {
        slice["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["addresses"][0].as_str())
            .collect()
    }

    #[test]
    fn a_first_sync_creates_one_slice_with_conditions() {
        let mut terminating = (*pod("c", "10.42.0.3", true, 8080)).clone();
        terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let pods = [
            pod("a", "10.42.0.1", true, 8080),
            pod("b", "10.42.0.2", false, 8080),
            Arc::new(terminating),
        ];
        let t: jiff::Timestamp = "2026-01-01T00:00:05Z".parse().unwrap();
        let p = plan(&service(), &pods, &[], node, 100, Some(t));
        assert!(p.update.is_empty() && p.delete.is_empty() && p.errors.is_empty());
        let [slice] = p.create.as_slice() else {
            panic!("one slice: {p:?}")
        };
        assert_eq!(slice["metadata"]["generateName"], "web-");
        assert_eq!(
            slice["metadata"]["labels"],
            json!({"tier": "fe", SERVICE_NAME_LABEL: "web", MANAGED_BY_LABEL: MANAGED_BY})
        );
        assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
        assert_eq!(slice["metadata"]["ownerReferences"][0]["uid"], "svc-uid");
        assert_eq!(
            slice["metadata"]["annotations"][LAST_CHANGE_TRIGGER_TIME],
            "2026-01-01T00:00:05Z"
        );
        assert_eq!(slice["addressType"], "IPv4");
        assert_eq!(
            slice["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        let by_ip = |ip: &str| {
            slice["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["addresses"][0] == ip)
                .unwrap()
                .clone()
        };
        assert_eq!(
            by_ip("10.42.0.1"),
            json!({"addresses": ["10.42.0.1"], "conditions": {"ready": true, "serving": true, "terminating": false},
                "targetRef": {"kind": "Pod", "namespace": "d", "name": "a", "uid": "uid-a"}, "nodeName": "n1", "zone": "z1"})
        );
        assert_eq!(
            by_ip("10.42.0.2")["conditions"],
            json!({"ready": false, "serving": false, "terminating": false})
        );
        assert_eq!(
            by_ip("10.42.0.3")["conditions"],
            json!({"ready": false, "serving": true, "terminating": true})
        );

        // Published not-ready addresses are ready, even terminating ones.
        let mut svc = service();
        svc["spec"]["publishNotReadyAddresses"] = json!(true);
        let p = plan(&svc, &pods, &[], node, 100, None);
        assert!(p.create[0]["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["conditions"]["ready"] == true));
        assert!(p.create[0]["metadata"].get("annotations").is_none());
    }

    #[test]
    fn placeholders_for_nothing_and_recycled_for_something() {
        let p = run(&[], &[]);
        assert_eq!(p.create.len(), 1);
        assert_eq!(p.create[0]["endpoints"], json!([]));
        assert_eq!(p.create[0]["ports"], json!([]));
        let placeholder = stored(p.create[0].clone(), "web-ph");
        // The placeholder stays while there is nothing.
        assert_eq!(run(&[], std::slice::from_ref(&placeholder)), Plan::default());
        // Pods arrive: the placeholder is reused rather than deleted and recreated.
        let p = run(&[pod("a", "10.42.0.1", true, 8080)], &[placeholder]);
        assert!(p.create.is_empty() && p.delete.is_empty(), "{p:?}");
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0]["metadata"]["name"], "web-ph");
        assert_eq!(p.update[0]["metadata"]["resourceVersion"], "7");
        assert_eq!(ips(&p.update[0]), ["10.42.0.1"]);
        assert_eq!(p.update[0]["ports"][0]["port"], 8080);
    }

    #[test]
    fn at_most_max_endpoints_per_slice() {
        let pods: Vec<Arc<Value>> = (0..250)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    &format!("10.42.{}.{}", i / 200, i % 200 + 1),
                    true,
                    8080,
                )
            })
            .collect();
        let p = run(&pods, &[]);
        let mut sizes: Vec<usize> = p.create.iter().map(|s| ips(s).len()).collect();
        sizes.sort();
        assert_eq!(sizes, [50, 100, 100]);
    }

    #[test]
    fn changes_update_existing_slices_in_place() {
        let first = run(
            &[pod("a", "10.42.0.1", true, 8080), pod("b", "10.42.0.2", true, 8080)],
            &[],
        );
        let slice = stored(first.create[0].clone(), "web-1");
        // Nothing changed: nothing to write.
        assert_eq!(
            run(
                &[pod("a", "10.42.0.1", true, 8080), pod("b", "10.42.0.2", true, 8080)],
                std::slice::from_ref(&slice)
            ),
            Plan::default()
        );
        // b goes, c comes, a turns unready: one update of the same slice.
        let p = run(
            &[pod("a", "10.42.0.1", false, 8080), pod("c", "10.42.0.3", true, 8080)],
            std::slice::from_ref(&slice),
        );
        assert!(p.create.is_empty() && p.delete.is_empty());
        assert_eq!(p.update.len(), 1);
        let mut got = ips(&p.update[0]);
        got.sort();
        assert_eq!(got, ["10.42.0.1", "10.42.0.3"]);
        assert_eq!(p.update[0]["endpoints"][0]["conditions"]["ready"], false);
        // Only a new pod: it joins the unchanged slice that has room.
        let p = run(
            &[
                pod("a", "10.42.0.1", true, 8080),
                pod("b", "10.42.0.2", true, 8080),
                pod("d", "10.42.0.4", true, 8080),
            ],
            std::slice::from_ref(&slice),
        );
        assert!(p.create.is_empty() && p.delete.is_empty());
        assert_eq!(ips(&p.update[0]).len(), 3);
        // Service labels changed: the slice follows.
        let mut svc = service();
        svc["metadata"]["labels"] = json!({"tier": "be"});
        let p = plan(
            &svc,
            &[pod("a", "10.42.0.1", true, 8080), pod("b", "10.42.0.2", true, 8080)],
            &[slice],
            node,
            100,
            None,
        );
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0]["metadata"]["labels"]["tier"], "be");
    }

    #[test]
    fn ports_split_slices_and_odd_slices_go() {
        let p = run(
            &[pod("a", "10.42.0.1", true, 8080), pod("b", "10.42.0.2", true, 9090)],
            &[],
        );
        let mut ports: Vec<i64> = p
            .create
            .iter()
            .map(|s| s["ports"][0]["port"].as_i64().unwrap())
            .collect();
        ports.sort();
        assert_eq!(ports, [8080, 9090]);

        let first = run(&[pod("a", "10.42.0.1", true, 8080)], &[]);
        let mine = stored(first.create[0].clone(), "web-1");
        let mut v6 = (*mine).clone();
        v6["addressType"] = json!("IPv6");
        v6.set_meta("name", json!("web-v6"));
        let mut foreign = (*mine).clone();
        foreign.set_meta("name", json!("web-old"));
        foreign["metadata"]["ownerReferences"][0]["uid"] = json!("old-service");
        let p = run(
            &[pod("a", "10.42.0.1", true, 8080)],
            &[mine, Arc::new(v6), Arc::new(foreign)],
        );
        let mut deleted: Vec<&str> = p.delete.iter().filter_map(|s| s.name()).collect();
        deleted.sort();
        assert_eq!(deleted, ["web-old", "web-v6"]);
        assert!(p.create.is_empty() && p.update.is_empty());
    }

    #[test]
    fn pods_on_unknown_nodes_are_skipped_unless_published() {
        let mut lost = (*pod("a", "10.42.0.1", true, 8080)).clone();
        lost["spec"]["nodeName"] = json!("gone");
        let lost = [Arc::new(lost)];
        let p = run(&lost, &[]);
        assert_eq!(p.errors, ["skipping Pod a for Service d/web: node \"gone\" not found"]);
        assert!(ips(&p.create[0]).is_empty(), "a placeholder");
        let mut svc = service();
        svc["spec"]["publishNotReadyAddresses"] = json!(true);
        let p = plan(&svc, &lost, &[], node, 100, None);
        assert!(p.errors.is_empty());
        assert_eq!(ips(&p.create[0]), ["10.42.0.1"]);
        assert!(p.create[0]["endpoints"][0].get("zone").is_none());
    }

    #[test]
    fn headless_services_carry_hostnames_and_the_headless_label() {
        let mut svc = service();
        svc["spec"]["clusterIP"] = json!("None");
        svc["spec"]["ports"] = json!([]);
        let mut web0 = (*pod("web-0", "10.42.0.7", true, 80)).clone();
        web0["spec"]["hostname"] = json!("web-0");
        web0["spec"]["subdomain"] = json!("web");
        let p = plan(&svc, &[Arc::new(web0)], &[], node, 100, None);
        assert_eq!(p.create[0]["metadata"]["labels"][HEADLESS_LABEL], "");
        assert_eq!(p.create[0]["ports"], json!([]));
        assert_eq!(p.create[0]["endpoints"][0]["hostname"], "web-0");
    }
}
