//! The EndpointSlice mirroring controller (kube-controller-manager's
//! `endpointslice-mirroring-controller`): the Endpoints of a Service without
//! a selector (written by hand, or by the node agent for `kube-dns`) are
//! mirrored into EndpointSlices labelled
//! `endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io`,
//! so that everything reading slices (the service proxy, cluster DNS) sees
//! them. Endpoints labelled `endpointslice.kubernetes.io/skip-mirror: "true"`
//! (the `kubernetes` Service's, which kube-apiserver slices itself) and those
//! holding a leader-election record are left alone.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use k1s_proto::meta::ObjectMeta;
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use super::controller_ref::owner_reference;
use super::endpointslice::reconciler::{MANAGED_BY_LABEL, MAX_ENDPOINTS_PER_SLICE, SERVICE_NAME_LABEL};
use super::endpointslice::SliceTracker;
use super::endpointutil::LAST_CHANGE_TRIGGER_TIME;
use super::resource;
use super::runtime::{cache_key, Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;
use crate::events::{self, EventRecorder, EventSource};

/// The controller's name (its client identity and log name).
pub const NAME: &str = "endpointslice-mirroring-controller";
/// The `managed-by` label value of mirrored slices.
pub const MANAGED_BY: &str = "endpointslicemirroring-controller.k8s.io";
/// Endpoints with this label set to `"true"` are not mirrored.
pub const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Endpoints used as a leader-election lock carry this annotation (never mirrored).
const LEADER_ELECTION_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";
/// The kubectl annotation not copied to slices.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The most addresses of one Endpoints subset mirrored (`maxEndpointsPerSubset`).
const MAX_ENDPOINTS_PER_SUBSET: usize = 1000;

/// Settings of the mirroring controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// Endpoints synced at once.
    pub workers: usize,
    /// How often every Endpoints is looked at regardless.
    pub resync: Duration,
    /// Endpoints per slice (`mirroringMaxEndpointsPerSubset` caps subsets; 100 per slice).
    pub max_endpoints_per_slice: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 2,
            resync: Duration::from_secs(300),
            max_endpoints_per_slice: MAX_ENDPOINTS_PER_SLICE,
        }
    }
}

fn slices() -> &'static k1s_proto::ResourceInfo {
    resource("discovery.k8s.io", "endpointslices")
}

/// The Endpoints key of a slice this controller manages.
fn endpoints_key_of(slice: &Value) -> Option<String> {
    if slice.label(MANAGED_BY_LABEL) != Some(MANAGED_BY) {
        return None;
    }
    let name = slice.label(SERVICE_NAME_LABEL).filter(|s| !s.is_empty())?;
    Some(cache_key(slice.namespace(), name))
}

/// What to write for one Endpoints.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Slices to create (with `generateName`).
    pub create: Vec<Value>,
    /// Existing slices with new content.
    pub update: Vec<Value>,
    /// Slices to delete.
    pub delete: Vec<Value>,
}

/// Endpoints' labels and annotations as the mirrored slice carries them.
fn slice_meta(endpoints: &Value) -> (Map<String, Value>, Map<String, Value>) {
    let mut labels = endpoints.labels().cloned().unwrap_or_default();
    let name = endpoints.name().unwrap_or("");
    labels.insert(SERVICE_NAME_LABEL.into(), json!(name));
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
    let mut annotations = endpoints.annotations().cloned().unwrap_or_default();
    annotations.remove(LAST_CHANGE_TRIGGER_TIME);
    annotations.remove(LAST_APPLIED);
    (labels, annotations)
}

/// An Endpoints port as a slice port.
fn slice_port(p: &Value) -> Value {
    let mut port = json!({
        "name": p["name"].as_str().unwrap_or(""),
        "port": p["port"],
        "protocol": p["protocol"].as_str().unwrap_or("TCP"),
    });
    if let Some(app) = p.get("appProtocol").filter(|v| !v.is_null()) {
        port["appProtocol"] = app.clone();
    }
    port
}

/// An Endpoints address as a slice endpoint and its address type.
fn slice_endpoint(address: &Value, ready: bool) -> Option<(&'static str, Value)> {
    let ip: IpAddr = address["ip"].as_str()?.parse().ok()?;
    let address_type = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let mut ep = json!({"addresses": [ip.to_string()], "conditions": {"ready": ready}});
    for field in ["hostname", "nodeName"] {
        if let Some(v) = address[field].as_str().filter(|v| !v.is_empty()) {
            ep[field] = json!(v);
        }
    }
    if let Some(t) = address.get("targetRef").filter(|v| v.is_object()) {
        ep["targetRef"] = t.clone();
    }
    Some((address_type, ep))
}

/// The desired endpoints grouped by (address type, ports), in subset order,
/// each address once per group.
fn desired_groups(endpoints: &Value) -> BTreeMap<(String, String), (Value, Vec<Value>)> {
    let mut groups: BTreeMap<(String, String), (Value, Vec<Value>)> = BTreeMap::new();
    let mut seen: HashSet<(String, String, String)> = HashSet::new();
    for subset in endpoints["subsets"].as_array().into_iter().flatten() {
        let ports: Vec<Value> = subset["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(slice_port)
            .collect();
        let ports = Value::Array(ports);
        let ports_key = ports.to_string();
        let ready = subset["addresses"].as_array().into_iter().flatten().map(|a| (a, true));
        let not_ready = subset["notReadyAddresses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| (a, false));
        for (address, ready) in ready.chain(not_ready).take(MAX_ENDPOINTS_PER_SUBSET) {
            let Some((address_type, ep)) = slice_endpoint(address, ready) else {
                continue;
            };
            let ip = ep["addresses"][0].as_str().unwrap_or("").to_string();
            if !seen.insert((address_type.to_string(), ports_key.clone(), ip)) {
                continue;
            }
            groups
                .entry((address_type.to_string(), ports_key.clone()))
                .or_insert_with(|| (ports.clone(), Vec::new()))
                .1
                .push(ep);
        }
    }
    groups
}

/// The slices that mirror `endpoints`, given the ones that exist (`reconcile`).
pub fn plan(endpoints: &Value, existing: &[Arc<Value>], max_per_slice: usize) -> Plan {
    let max_per_slice = max_per_slice.max(1);
    let (labels, annotations) = slice_meta(endpoints);
    let owner = owner_reference(endpoints);
    let mut by_group: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    let mut existing_sorted: Vec<&Value> = existing.iter().map(|s| s.as_ref()).collect();
    existing_sorted.sort_by(|a, b| a.name().cmp(&b.name()));
    for slice in existing_sorted {
        let key = (
            slice["addressType"].as_str().unwrap_or("").to_string(),
            slice["ports"]
                .as_array()
                .cloned()
                .map(Value::Array)
                .unwrap_or(json!([]))
                .to_string(),
        );
        by_group.entry(key).or_default().push(slice);
    }
    let mut plan = Plan::default();
    for (key, (ports, eps)) in desired_groups(endpoints) {
        let mut olds = by_group.remove(&key).unwrap_or_default().into_iter();
        for chunk in eps.chunks(max_per_slice) {
            let desired_eps = Value::Array(chunk.to_vec());
            match olds.next() {
                Some(old) => {
                    let same = old["endpoints"] == desired_eps
                        && old.labels() == Some(&labels)
                        && old.annotations().cloned().unwrap_or_default() == annotations;
                    if !same {
                        let mut updated = old.clone();
                        updated["endpoints"] = desired_eps;
                        updated["metadata"]["labels"] = Value::Object(labels.clone());
                        updated["metadata"]["annotations"] = Value::Object(annotations.clone());
                        plan.update.push(updated);
                    }
                }
                None => plan.create.push(json!({
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "generateName": format!("{}-", endpoints.name().unwrap_or("")),
                        "namespace": endpoints.namespace(),
                        "labels": labels,
                        "annotations": annotations,
                        "ownerReferences": [owner],
                    },
                    "addressType": key.0,
                    "ports": ports,
                    "endpoints": desired_eps,
                })),
            }
        }
        plan.delete.extend(olds.cloned());
    }
    plan.delete.extend(by_group.into_values().flatten().cloned());
    plan
}

/// Starts the mirroring controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let key_of = |obj: &Value| obj.name().map(|n| cache_key(obj.namespace(), n));
    let q = queue.clone();
    let services = Informer::new(client.clone(), resource("", "services")).on_change(move |change| {
        let (Change::Applied { new: obj, .. } | Change::Deleted(obj)) = change;
        if let Some(k) = key_of(obj) {
            q.add(k);
        }
    });
    let q = queue.clone();
    let endpoints = Informer::new(client.clone(), resource("", "endpoints")).on_change(move |change| {
        let (Change::Applied { new: obj, .. } | Change::Deleted(obj)) = change;
        if let Some(k) = key_of(obj) {
            q.add(k);
        }
    });
    let tracker = Arc::new(SliceTracker::default());
    let (q, t) = (queue.clone(), tracker.clone());
    let mirrored = Informer::new(client.clone(), slices()).on_change(move |change| match change {
        Change::Applied { old, new } => {
            let old_key = old.as_deref().and_then(endpoints_key_of);
            let new_key = endpoints_key_of(new);
            if old_key != new_key {
                old_key.into_iter().chain(new_key).for_each(|k| {
                    q.add(k);
                });
            } else if let Some(k) = new_key {
                if t.should_sync(&k, new) {
                    q.add(k);
                }
            }
        }
        Change::Deleted(slice) => {
            if let Some(k) = endpoints_key_of(slice) {
                if t.handle_deletion(&k, slice) {
                    q.add(k);
                }
            }
        }
    });
    let endpoints_cache = endpoints.cache();
    let keys = move || {
        endpoints_cache
            .list()
            .iter()
            .filter_map(|e| e.name().map(|n| cache_key(e.namespace(), n)))
            .collect()
    };
    let reconciler = Arc::new(Mirroring {
        client: client.clone(),
        services: services.cache(),
        endpoints: endpoints.cache(),
        slices: mirrored.cache(),
        tracker,
        events: EventRecorder::spawn(client, EventSource::controller("endpointslice-mirroring-controller")),
        max_per_slice: config.max_endpoints_per_slice,
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![services, endpoints, mirrored])
        .workers(config.workers)
        .resync(config.resync, keys);
    tokio::spawn(controller.run(shutdown))
}

struct Mirroring {
    client: Client,
    services: Cache,
    endpoints: Cache,
    slices: Cache,
    tracker: Arc<SliceTracker>,
    events: EventRecorder,
    max_per_slice: usize,
}

impl Reconciler for Mirroring {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key.as_str()));
        let existing: Vec<Arc<Value>> = self
            .slices
            .list_in(namespace)
            .into_iter()
            .filter(|s| endpoints_key_of(s).as_deref() == Some(key.as_str()) && s.deletion_timestamp().is_none())
            .collect();
        if self.tracker.stale(key, &existing) {
            debug!(endpoints = %key, "mirrored EndpointSlice cache older than the last write; syncing again");
            return Ok(Action::RequeueAfter(Duration::from_millis(100)));
        }
        let endpoints = self.endpoints.get(Some(namespace), name);
        let service = self.services.get(Some(namespace), name);
        let mirror = match (&endpoints, &service) {
            (Some(e), Some(s)) => {
                !s["spec"]["selector"].is_object()
                    && e.label(SKIP_MIRROR_LABEL) != Some("true")
                    && e.annotations()
                        .is_none_or(|a| !a.contains_key(LEADER_ELECTION_ANNOTATION))
            }
            _ => false,
        };
        let plan = match (&endpoints, mirror) {
            (Some(e), true) => plan(e, &existing, self.max_per_slice),
            _ => Plan {
                delete: existing.iter().map(|s| s.as_ref().clone()).collect(),
                ..Plan::default()
            },
        };
        if endpoints.is_none() && existing.is_empty() {
            self.tracker.forget_service(key);
        }
        if let Err(message) = self.write(key, namespace, plan).await {
            if let Some(e) = &endpoints {
                self.events.event(
                    e.as_ref(),
                    events::WARNING,
                    "FailedToUpdateEndpointSlices",
                    format!("Error updating EndpointSlices for Endpoints {key}: {message}"),
                );
            }
            anyhow::bail!("mirroring Endpoints {key}: {message}");
        }
        Ok(Action::Done)
    }
}

impl Mirroring {
    async fn write(&self, key: &str, namespace: &str, plan: Plan) -> Result<(), String> {
        let ns = Some(namespace);
        for slice in &plan.create {
            match self.client.create(slices(), ns, slice).await {
                Ok(created) => self.tracker.update(key, &created),
                Err(e) => return Err(format!("failed to create EndpointSlice: {e}")),
            }
        }
        for slice in &plan.update {
            match self.client.update(slices(), ns, slice).await {
                Ok(updated) => self.tracker.update(key, &updated),
                Err(e) => {
                    return Err(format!(
                        "failed to update {} EndpointSlice: {e}",
                        slice.name().unwrap_or("")
                    ))
                }
            }
        }
        for slice in &plan.delete {
            let slice_name = slice.name().unwrap_or("");
            match self.client.delete(slices(), ns, slice_name, &Value::Null).await {
                Ok(_) => self.tracker.expect_deletion(key, slice),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(format!("failed to delete {slice_name} EndpointSlice: {e}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
