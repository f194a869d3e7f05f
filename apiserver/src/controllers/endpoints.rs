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
use k1s_proto::status::NAMESPACE_TERMINATING_CAUSE;
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use super::endpointutil::{
    find_port, is_service_ip_set, pod_ip_for_service, selected_pods, services_to_update, should_pod_be_in_endpoints,
    should_set_hostname, TriggerTimes, WrittenVersions, HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME,
};
use super::podutil;
use super::resource;
use super::runtime::{
    cache_key, wait_shutdown, Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue,
};
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
    let endpoints = Informer::new(client.clone(), resource("", "endpoints")).on_change(move |change| {
        // A deleted Endpoints object of a live Service is put back.
        if let Change::Deleted(ep) = change {
            if let Some(name) = ep.name() {
                q.add(cache_key(ep.namespace(), name));
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
        written: WrittenVersions::default(),
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
        if ep.annotations().is_some_and(|a| a.contains_key("control-plane.alpha.kubernetes.io/leader")) {
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
    written: WrittenVersions,
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
            Err(e) if current.is_none() && e.has_cause(NAMESPACE_TERMINATING_CAUSE) => Ok(Action::Done),
            Err(e) => {
                let msg = if current.is_none() {
                    ("FailedToCreateEndpoint", format!("Failed to create endpoint for service {key}: {e}"))
                } else {
                    ("FailedToUpdateEndpoint", format!("Failed to update endpoint {key}: {e}"))
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
    let capacity_ok = count <= MAX_CAPACITY
        && !current
            .annotations()
            .is_some_and(|a| a.contains_key(OVER_CAPACITY));
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
        let list = if truncate_ready { "addresses" } else { "notReadyAddresses" };
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
