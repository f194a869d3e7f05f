//! The Endpoints controller (kube-controller-manager's `endpoint-controller`):
//! every Service with a selector gets an Endpoints object of the same name
//! listing the selected pods — ready ones under `addresses`, the others under
//! `notReadyAddresses` (all under `addresses` with `publishNotReadyAddresses`)
//! — with each Service port resolved against the pod (named target ports per
//! pod). A Service without selector (or of type ExternalName) is left alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use super::endpointutil::{
    find_port, is_service_ip_set, pod_ip_for_service, selected_pods, services_to_update, should_pod_be_in_endpoints,
    should_set_hostname, TriggerTimes, HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME,
};
use super::pod_control::is_namespace_terminating;
use super::podutil;
use super::resource;
use super::runtime::{
    cache_key, wait_shutdown, Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue,
};
use super::written_versions::WrittenVersions;
use crate::api::Api;
use crate::client::Client;
use crate::events::{self, EventRecorder, EventSource};

/// The controller's name (its client identity, event source and log name).
pub const NAME: &str = "endpoint-controller";
/// The most addresses one Endpoints object holds (`maxCapacity`).
pub const MAX_CAPACITY: usize = 1000;
/// The annotation marking an Endpoints object cut down to [`MAX_CAPACITY`].
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// Settings of the Endpoints controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// Services synced at once.
    pub workers: usize,
    /// How often every Service is looked at regardless.
    pub resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 2,
            resync: Duration::from_secs(300),
        }
    }
}

/// Starts the Endpoints controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let services = service_informer(client.clone(), queue.clone());
    let pods = pod_informer(client.clone(), services.cache(), queue.clone());
    let q = queue.clone();
    let written = Arc::new(WrittenVersions::default());
    let w = written.clone();
    let endpoints = Informer::new(client.clone(), resource("", "endpoints")).on_change(move |change| {
        // A deleted Endpoints object of a live Service is put back.
        if let Change::Deleted(ep) = change {
            if let Some(name) = ep.name() {
                let key = cache_key(ep.namespace(), name);
                w.forget(&key);
                q.add(key);
            }
        }
    });
    let reconciler = Arc::new(EndpointsController {
        client: client.clone(),
        services: services.cache(),
        pods: pods.cache(),
        endpoints: endpoints.cache(),
        events: EventRecorder::spawn(client, EventSource::controller(NAME)),
        triggers: TriggerTimes::default(),
        written,
    });
    let leftovers = check_leftovers(endpoints.cache(), queue.clone(), shutdown.clone());
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![services.informer, pods, endpoints])
        .workers(config.workers)
        .resync(config.resync, services.keys);
    tokio::spawn(async move {
        tokio::join!(controller.run(shutdown), leftovers);
    })
}

/// A Service informer that enqueues every changed or deleted Service, and the
/// resync keys of all Services (shared with the EndpointSlice controller).
pub struct ServiceInformer {
    /// The informer.
    pub informer: Informer,
    /// Every cached Service's key.
    pub keys: Box<dyn Fn() -> Vec<String> + Send + Sync>,
}

impl ServiceInformer {
    /// The informer's cache.
    pub fn cache(&self) -> Cache {
        self.informer.cache()
    }
}

/// See [`ServiceInformer`].
pub fn service_informer(client: Client, queue: WorkQueue<String>) -> ServiceInformer {
    let informer = Informer::new(client, resource("", "services")).on_change(move |change| {
        let svc = match change {
            Change::Applied { new, .. } => new,
            Change::Deleted(old) => old,
        };
        if let Some(name) = svc.name() {
            queue.add(cache_key(svc.namespace(), name));
        }
    });
    let cache = informer.cache();
    let keys = Box::new(move || {
        cache
            .list()
            .iter()
            .filter_map(|s| s.name().map(|n| cache_key(s.namespace(), n)))
            .collect()
    });
    ServiceInformer { informer, keys }
}

/// A pod informer that enqueues the Services a pod change touches.
pub fn pod_informer(client: Client, services: Cache, queue: WorkQueue<String>) -> Informer {
    Informer::new(client, resource("", "pods")).on_change(move |change| {
        let keys = match change {
            Change::Applied { old, new } => services_to_update(&services, old.as_deref(), new),
            Change::Deleted(pod) => services_to_update(&services, None, pod),
        };
        for k in keys {
            queue.add(k);
        }
    })
}

/// `checkLeftoverEndpoints`: once synced, every Endpoints object is looked at,
/// so one whose Service was deleted while the controller was down goes away.
async fn check_leftovers(endpoints: Cache, queue: WorkQueue<String>, mut shutdown: watch::Receiver<bool>) {
    tokio::select! {
        _ = endpoints.wait_synced() => {}
        _ = wait_shutdown(&mut shutdown) => return,
    }
    for ep in endpoints.list() {
        // Leader-election records live in Endpoints without a Service.
        if ep
            .annotations()
            .is_some_and(|a| a.contains_key("control-plane.alpha.kubernetes.io/leader"))
        {
            continue;
        }
        if let Some(name) = ep.name() {
            queue.add(cache_key(ep.namespace(), name));
        }
    }
}

struct EndpointsController {
    client: Client,
    services: Cache,
    pods: Cache,
    endpoints: Cache,
    events: EventRecorder,
    triggers: TriggerTimes,
    written: Arc<WrittenVersions>,
}

impl Reconciler for EndpointsController {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key.as_str()));
        let Some(service) = self.services.get(Some(namespace), name) else {
            return self.service_gone(key, namespace, name).await;
        };
        if service["spec"]["type"] == "ExternalName" || !service["spec"]["selector"].is_object() {
            return Ok(Action::Done);
        }
        let pods = selected_pods(&service, &self.pods);
        // Computed on every sync so the tracker sees every state, written or not.
        let trigger = self.triggers.compute(&service, &pods);
        let subsets = desired_subsets(&service, &pods);

        let current = self.endpoints.get(Some(namespace), name);
        if self.written.is_stale(key, current.as_deref()) {
            debug!(endpoints = %key, "cache older than the last write; syncing again");
            return Ok(Action::RequeueAfter(Duration::from_millis(100)));
        }
        if let Some(current) = &current {
            if up_to_date(current, &service, &subsets) {
                return Ok(Action::Done);
            }
        }
        let desired = build(current.as_deref(), &service, subsets, trigger);
        let ep_info = resource("", "endpoints");
        let written = match &current {
            None => self.client.create(ep_info, Some(namespace), &desired).await,
            Some(_) => self.client.update(ep_info, Some(namespace), &desired).await,
        };
        match written {
            Ok(obj) => {
                self.written.record(key, Some(&obj));
                Ok(Action::Done)
            }
            // Nothing can be created in a namespace going away.
            Err(e) if current.is_none() && is_namespace_terminating(&e) => Ok(Action::Done),
            Err(e) => {
                let msg = if current.is_none() {
                    (
                        "FailedToCreateEndpoint",
                        format!("Failed to create endpoint for service {key}: {e}"),
                    )
                } else {
                    (
                        "FailedToUpdateEndpoint",
                        format!("Failed to update endpoint {key}: {e}"),
                    )
                };
                self.events.event(&desired, events::WARNING, msg.0, msg.1);
                Err(e).with_context(|| format!("writing Endpoints {key}"))
            }
        }
    }
}

impl EndpointsController {
    /// The Service is gone: so is its Endpoints object.
    async fn service_gone(&self, key: &str, namespace: &str, name: &str) -> anyhow::Result<Action> {
        match self
            .client
            .delete(resource("", "endpoints"), Some(namespace), name, &Value::Null)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e).with_context(|| format!("deleting Endpoints {key}")),
        }
        self.triggers.forget(namespace, name);
        self.written.forget(key);
        Ok(Action::Done)
    }
}

/// Whether `current` already lists `subsets` with the Service's labels and a
/// correct over-capacity annotation (no write needed).
fn up_to_date(current: &Value, service: &Value, subsets: &[Value]) -> bool {
    let mut labels = current.labels().cloned().unwrap_or_default();
    labels.remove(HEADLESS_LABEL);
    let service_labels = service.labels().cloned().unwrap_or_default();
    let current_subsets = strip_target_versions(current["subsets"].as_array().cloned().unwrap_or_default());
    let count: usize = subsets.iter().map(address_count).sum();
    let capacity_ok = count <= MAX_CAPACITY && !current.annotations().is_some_and(|a| a.contains_key(OVER_CAPACITY));
    current_subsets == subsets && labels == service_labels && capacity_ok
}

/// Subsets with `targetRef.resourceVersion` removed (older writers set it; it is not compared).
fn strip_target_versions(mut subsets: Vec<Value>) -> Vec<Value> {
    for s in &mut subsets {
        for list in ["addresses", "notReadyAddresses"] {
            for a in s[list].as_array_mut().into_iter().flatten() {
                if let Some(t) = a["targetRef"].as_object_mut() {
                    t.remove("resourceVersion");
                }
            }
        }
    }
    subsets
}

fn address_count(subset: &Value) -> usize {
    ["addresses", "notReadyAddresses"]
        .iter()
        .map(|l| subset[*l].as_array().map_or(0, Vec::len))
        .sum()
}

/// The Endpoints object to write: `current` (or a new one) with `subsets`,
/// the Service's labels (plus the headless label), the trigger time, and the
/// over-capacity annotation when truncated.
fn build(current: Option<&Value>, service: &Value, mut subsets: Vec<Value>, trigger: Option<jiff::Timestamp>) -> Value {
    let mut ep = current.cloned().unwrap_or_else(|| {
        json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": service.name(), "namespace": service.namespace()}})
    });
    let mut labels = service.labels().cloned().unwrap_or_default();
    if is_service_ip_set(service) {
        labels.remove(HEADLESS_LABEL);
    } else {
        labels.insert(HEADLESS_LABEL.into(), json!(""));
    }
    let mut annotations = ep.annotations().cloned().unwrap_or_default();
    match trigger {
        Some(t) => annotations.insert(LAST_CHANGE_TRIGGER_TIME.into(), json!(t.to_string())),
        None => annotations.remove(LAST_CHANGE_TRIGGER_TIME),
    };
    if truncate(&mut subsets) {
        annotations.insert(OVER_CAPACITY.into(), json!("truncated"));
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    set_map(&mut ep, "labels", labels);
    set_map(&mut ep, "annotations", annotations);
    match ep.as_object_mut() {
        Some(o) if subsets.is_empty() => {
            o.remove("subsets");
        }
        Some(o) => {
            o.insert("subsets".into(), Value::Array(subsets));
        }
        None => {}
    }
    ep
}

fn set_map(obj: &mut Value, field: &str, map: Map<String, Value>) {
    if map.is_empty() {
        obj.remove_meta(field);
    } else {
        obj.set_meta(field, Value::Object(map));
    }
}

/// One address of the subsets being built, keyed as `RepackSubsets` keys them (IP and pod UID).
type AddressKey = (String, String);

/// `syncService` + `RepackSubsets`: the subsets listing `pods` for `service`,
/// one subset per distinct set of addresses (with readiness) sharing ports;
/// addresses sorted by IP, ports by name and number.
pub fn desired_subsets(service: &Value, pods: &[Arc<Value>]) -> Vec<Value> {
    let publish = service["spec"]["publishNotReadyAddresses"].as_bool() == Some(true);
    let ports = service["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let headless = service["spec"]["clusterIP"] == "None";
    // Port (as JSON, `null` for a headless Service without ports) → address → ready.
    let mut by_port: BTreeMap<String, BTreeMap<AddressKey, bool>> = BTreeMap::new();
    let mut addresses: BTreeMap<AddressKey, Value> = BTreeMap::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, publish) {
            continue;
        }
        let Some(ip) = pod_ip_for_service(service, pod) else {
            continue;
        };
        let key = (ip.clone(), pod.uid().unwrap_or("").to_string());
        let ready = publish || podutil::is_ready(pod);
        let mut served = Vec::new();
        if ports.is_empty() {
            // Headless Services may have no ports; other Services get no endpoints.
            if headless {
                served.push(Value::Null);
            }
        } else {
            for sp in &ports {
                if let Some(port) = find_port(pod, sp) {
                    served.push(endpoint_port(sp, port));
                }
            }
        }
        if served.is_empty() {
            continue;
        }
        addresses.insert(key.clone(), endpoint_address(service, pod, ip));
        for port in served {
            let entry = by_port.entry(port.to_string()).or_default();
            let was = entry.get(&key).copied().unwrap_or(false);
            entry.insert(key.clone(), was || ready);
        }
    }
    // Addresses with readiness → the ports they share.
    let mut groups: BTreeMap<Vec<(AddressKey, bool)>, Vec<Value>> = BTreeMap::new();
    for (port, addrs) in by_port {
        let port: Value = serde_json::from_str(&port).unwrap_or(Value::Null);
        let ports = groups.entry(addrs.into_iter().collect()).or_default();
        if !port.is_null() {
            ports.push(port);
        }
    }
    groups
        .into_iter()
        .map(|(addrs, mut ports)| {
            ports.sort_by(|a, b| {
                (a["name"].as_str(), a["port"].as_i64(), a["protocol"].as_str()).cmp(&(
                    b["name"].as_str(),
                    b["port"].as_i64(),
                    b["protocol"].as_str(),
                ))
            });
            let pick = |want: bool| -> Vec<Value> {
                addrs
                    .iter()
                    .filter(|(_, ready)| *ready == want)
                    .filter_map(|(k, _)| addresses.get(k).cloned())
                    .collect()
            };
            let mut subset = Map::new();
            let (ready, not_ready) = (pick(true), pick(false));
            if !ready.is_empty() {
                subset.insert("addresses".into(), Value::Array(ready));
            }
            if !not_ready.is_empty() {
                subset.insert("notReadyAddresses".into(), Value::Array(not_ready));
            }
            if !ports.is_empty() {
                subset.insert("ports".into(), Value::Array(ports));
            }
            Value::Object(subset)
        })
        .collect()
}

/// `EndpointAddress` of a pod: IP, hostname (when the pod names this Service
/// as its subdomain), node and a reference to the pod.
fn endpoint_address(service: &Value, pod: &Value, ip: String) -> Value {
    let mut a = json!({"ip": ip});
    if should_set_hostname(pod, service) {
        a["hostname"] = pod["spec"]["hostname"].clone();
    }
    if let Some(node) = pod["spec"]["nodeName"].as_str() {
        a["nodeName"] = json!(node);
    }
    a["targetRef"] = json!({"kind": "Pod", "namespace": pod.namespace(), "name": pod.name(), "uid": pod.uid()});
    a
}

/// `endpointPortFromServicePort`: the Service port's name, protocol and app
/// protocol with the pod's port number.
fn endpoint_port(service_port: &Value, port: i64) -> Value {
    let mut p = Map::new();
    if let Some(name) = service_port["name"].as_str().filter(|n| !n.is_empty()) {
        p.insert("name".into(), json!(name));
    }
    p.insert("port".into(), json!(port));
    p.insert(
        "protocol".into(),
        json!(service_port["protocol"].as_str().unwrap_or("TCP")),
    );
    if let Some(ap) = service_port["appProtocol"].as_str() {
        p.insert("appProtocol".into(), json!(ap));
    }
    Value::Object(p)
}

/// `truncateEndpoints`: cuts subsets down to [`MAX_CAPACITY`] addresses —
/// not-ready ones first, then ready ones, each subset keeping its share
/// (rounded up); true when anything was cut.
pub fn truncate(subsets: &mut [Value]) -> bool {
    let count = |s: &Value, l: &str| s[l].as_array().map_or(0, Vec::len);
    let total_ready: usize = subsets.iter().map(|s| count(s, "addresses")).sum();
    let total_not_ready: usize = subsets.iter().map(|s| count(s, "notReadyAddresses")).sum();
    if total_ready + total_not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = total_ready > MAX_CAPACITY;
    let (max, total) = if truncate_ready {
        (MAX_CAPACITY, total_ready)
    } else {
        (MAX_CAPACITY - total_ready, total_not_ready)
    };
    let mut can_add = max;
    for s in subsets.iter_mut() {
        let list = if truncate_ready {
            "addresses"
        } else {
            "notReadyAddresses"
        };
        let in_subset = count(s, list);
        let share = (in_subset * max).div_ceil(total.max(1)).min(can_add);
        if let Some(a) = s[list].as_array_mut() {
            a.truncate(share);
            can_add -= a.len();
        }
        if truncate_ready {
            if let Some(o) = s.as_object_mut() {
                o.remove("notReadyAddresses");
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::{eventually, TestEnv};

    fn pod(name: &str, ip: &str, ready: bool, http_port: i64) -> Arc<Value> {
        Arc::new(json!({
            "metadata": {"name": name, "namespace": "d", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": http_port, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
    }

    fn service(spec: Value) -> Value {
        let mut s = json!({"metadata": {"name": "web", "namespace": "d"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.43.0.9",
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}});
        for (k, v) in spec.as_object().unwrap() {
            s["spec"][k] = v.clone();
        }
        s
    }

    fn address(name: &str, ip: &str) -> Value {
        json!({"ip": ip, "nodeName": "n1", "targetRef": {"kind": "Pod", "namespace": "d", "name": name, "uid": format!("uid-{name}")}})
    }

    #[test]
    fn subsets_split_ready_and_named_ports() {
        let mut terminating = (*pod("c", "10.42.0.3", true, 8080)).clone();
        terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let pods = vec![
            pod("b", "10.42.0.2", false, 8080),
            pod("a", "10.42.0.1", true, 8080),
            Arc::new(terminating),
            pod("d", "10.42.0.4", true, 9090),
        ];
        let http = |port: i64| json!([{"name": "http", "port": port, "protocol": "TCP"}]);
        assert_eq!(
            desired_subsets(&service(json!({})), &pods),
            vec![
                json!({"addresses": [address("a", "10.42.0.1")], "notReadyAddresses": [address("b", "10.42.0.2")], "ports": http(8080)}),
                json!({"addresses": [address("d", "10.42.0.4")], "ports": http(9090)}),
            ]
        );
        // Everything published: not-ready and terminating pods count as addresses.
        assert_eq!(
            desired_subsets(&service(json!({"publishNotReadyAddresses": true})), &pods),
            vec![
                json!({"addresses": [address("a", "10.42.0.1"), address("b", "10.42.0.2"), address("c", "10.42.0.3")], "ports": http(8080)}),
                json!({"addresses": [address("d", "10.42.0.4")], "ports": http(9090)}),
            ]
        );
    }

    #[test]
    fn headless_services_and_hostnames() {
        let mut web0 = (*pod("web-0", "10.42.0.7", true, 80)).clone();
        web0["spec"]["hostname"] = json!("web-0");
        web0["spec"]["subdomain"] = json!("web");
        let pods = vec![Arc::new(web0)];
        let mut with_host = address("web-0", "10.42.0.7");
        with_host["hostname"] = json!("web-0");
        let headless = service(json!({"clusterIP": "None", "ports": []}));
        assert_eq!(
            desired_subsets(&headless, &pods),
            vec![json!({"addresses": [with_host.clone()]})]
        );
        // A Service with a cluster IP and no ports has no endpoints.
        assert!(desired_subsets(&service(json!({"ports": []})), &pods).is_empty());
        // Numbers as target ports; several ports share one subset.
        let two = service(json!({"ports": [
            {"name": "b", "port": 81, "targetPort": 8081, "protocol": "TCP"},
            {"name": "a", "port": 80, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"}]}));
        assert_eq!(
            desired_subsets(&two, &pods),
            vec![json!({"addresses": [with_host], "ports": [
                {"name": "a", "port": 8080, "protocol": "TCP", "appProtocol": "http"},
                {"name": "b", "port": 8081, "protocol": "TCP"}]})]
        );
    }

    #[test]
    fn truncation_keeps_proportions() {
        let addrs = |n: usize| {
            Value::Array(
                (0..n)
                    .map(|i| json!({"ip": format!("10.0.{}.{}", i / 250, i % 250)}))
                    .collect(),
            )
        };
        let count = |s: &[Value], l: &str| {
            s.iter()
                .map(|x| x[l].as_array().map_or(0, Vec::len))
                .collect::<Vec<_>>()
        };
        // (ready per subset, not ready per subset) → (ready kept, not ready kept)
        type Counts = (Vec<usize>, Vec<usize>);
        let cases: Vec<(Counts, Option<Counts>)> = vec![
            ((vec![500], vec![500]), None),
            ((vec![1200], vec![10]), Some((vec![1000], vec![0]))),
            ((vec![300, 300], vec![300, 300]), Some((vec![300, 300], vec![200, 200]))),
            ((vec![900, 300], vec![0, 0]), Some((vec![750, 250], vec![0, 0]))),
            (
                (vec![100, 100, 100], vec![1, 999, 0]),
                Some((vec![100, 100, 100], vec![1, 699, 0])),
            ),
        ];
        for ((ready, not_ready), want) in cases {
            let mut subsets: Vec<Value> = ready
                .iter()
                .zip(&not_ready)
                .map(|(r, n)| json!({"addresses": addrs(*r), "notReadyAddresses": addrs(*n)}))
                .collect();
            let cut = truncate(&mut subsets);
            match want {
                None => assert!(!cut),
                Some((r, n)) => {
                    assert!(cut);
                    assert_eq!(count(&subsets, "addresses"), r, "{ready:?} {not_ready:?}");
                    assert_eq!(count(&subsets, "notReadyAddresses"), n, "{ready:?} {not_ready:?}");
                }
            }
        }
    }

    #[tokio::test]
    async fn endpoints_follow_services_and_pods() {
        let env = TestEnv::new().await;
        let c = env.client();
        let (svcs, pods, eps) = (
            resource("", "services"),
            resource("", "pods"),
            resource("", "endpoints"),
        );
        // Left over from a Service deleted while the controller was down.
        c.create(eps, Some("default"), &json!({"metadata": {"name": "ghost"}}))
            .await
            .unwrap();
        // A Service without selector keeps its hand-made Endpoints.
        c.create(
            svcs,
            Some("default"),
            &json!({"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 80}]}}),
        )
        .await
        .unwrap();
        let manual = json!({"metadata": {"name": "manual"}, "subsets": [{"addresses": [{"ip": "192.168.1.1"}], "ports": [{"port": 80, "protocol": "TCP"}]}]});
        c.create(eps, Some("default"), &manual).await.unwrap();

        env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
        eventually("leftover deleted", || async {
            c.get(eps, Some("default"), "ghost")
                .await
                .is_err_and(|e| e.is_not_found())
        })
        .await;

        c.create(
            svcs,
            Some("default"),
            &json!({"metadata": {"name": "web", "labels": {"tier": "fe"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
        )
        .await
        .unwrap();
        for (name, port) in [("p1", 8080), ("p2", 9090)] {
            c.create(pods, Some("default"), &json!({"metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"nodeName": "test-node", "containers": [{"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": port}]}]}}))
                .await
                .unwrap();
        }
        env.set_pod_status(
            "default",
            "p1",
            "Running",
            Some("10.42.0.11"),
            true,
            "2026-01-01T00:00:05Z",
        )
        .await;
        env.set_pod_status(
            "default",
            "p2",
            "Running",
            Some("10.42.0.12"),
            false,
            "2026-01-01T00:00:06Z",
        )
        .await;
        let get = || async { c.get(eps, Some("default"), "web").await.ok() };
        eventually("ready and not-ready addresses", || async {
            get().await.is_some_and(|ep| {
                ep["subsets"].as_array().map_or(0, Vec::len) == 2
                    && ep["subsets"][0]["addresses"][0]["ip"] == "10.42.0.11"
                    && ep["subsets"][0]["ports"][0]["port"] == 8080
                    && ep["subsets"][1]["notReadyAddresses"][0]["ip"] == "10.42.0.12"
                    && ep["subsets"][1]["ports"][0]["port"] == 9090
            })
        })
        .await;
        let ep = get().await.unwrap();
        assert_eq!(ep["metadata"]["labels"], json!({"tier": "fe"}));
        assert!(ep["metadata"]["annotations"][LAST_CHANGE_TRIGGER_TIME].is_string());
        assert_eq!(ep["subsets"][0]["addresses"][0]["targetRef"]["name"], "p1");
        assert_eq!(ep["subsets"][0]["addresses"][0]["nodeName"], "test-node");

        // p2 turns ready: both are addresses; p1 is deleted: only p2 remains.
        env.set_pod_status(
            "default",
            "p2",
            "Running",
            Some("10.42.0.12"),
            true,
            "2026-01-01T00:00:09Z",
        )
        .await;
        eventually("p2 ready", || async {
            get()
                .await
                .is_some_and(|ep| ep["subsets"][1]["addresses"][0]["ip"] == "10.42.0.12")
        })
        .await;
        let ep = get().await.unwrap();
        assert_eq!(
            ep["metadata"]["annotations"][LAST_CHANGE_TRIGGER_TIME],
            "2026-01-01T00:00:09Z"
        );
        c.delete(pods, Some("default"), "p1", &json!({"gracePeriodSeconds": 0}))
            .await
            .unwrap();
        eventually("p1 gone", || async {
            get().await.is_some_and(|ep| {
                ep["subsets"].as_array().map_or(0, Vec::len) == 1
                    && ep["subsets"][0]["addresses"][0]["ip"] == "10.42.0.12"
            })
        })
        .await;

        // Deleted Endpoints come back; a deleted Service takes them along.
        c.delete(eps, Some("default"), "web", &Value::Null).await.unwrap();
        eventually("recreated", || async { get().await.is_some() }).await;
        c.delete(svcs, Some("default"), "web", &Value::Null).await.unwrap();
        eventually("deleted with the Service", || async { get().await.is_none() }).await;
        assert_eq!(
            c.get(eps, Some("default"), "manual").await.unwrap()["subsets"],
            manual["subsets"]
        );
    }
}
