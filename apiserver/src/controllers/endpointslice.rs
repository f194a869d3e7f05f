//! The EndpointSlice controller (kube-controller-manager's
//! `endpointslice-controller`): every Service with a selector gets
//! EndpointSlices (`kubernetes.io/service-name`, managed by
//! `endpointslice-controller.k8s.io`) listing its pods with `ready`,
//! `serving` and `terminating` conditions, at most 100 per slice. What to
//! write is decided by the pure [`reconciler`]; this file runs it and keeps
//! track of its own writes so that a lagging cache is not mistaken for the world.

pub mod reconciler;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k1s_proto::meta::ObjectMeta;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use super::endpoints::{pod_informer, service_informer};
use super::endpointutil::{selected_pods, TriggerTimes};
use super::pod_control::is_namespace_terminating;
use super::resource;
use super::runtime::{cache_key, Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;
use crate::events::{self, EventRecorder, EventSource};
use reconciler::{plan, MANAGED_BY, MANAGED_BY_LABEL, MAX_ENDPOINTS_PER_SLICE, SERVICE_NAME_LABEL};

/// The controller's name (its client identity and log name).
pub const NAME: &str = "endpointslice-controller";
/// The component its events come from.
pub const EVENT_SOURCE: &str = "endpoint-slice-controller";

/// Settings of the EndpointSlice controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// Services synced at once.
    pub workers: usize,
    /// How often every Service is looked at regardless.
    pub resync: Duration,
    /// Endpoints per slice.
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

/// The slices' resource.
fn slices() -> &'static k1s_proto::ResourceInfo {
    resource("discovery.k8s.io", "endpointslices")
}

/// The key of the Service a slice we manage belongs to.
fn service_key_of(slice: &Value) -> Option<String> {
    if slice.label(MANAGED_BY_LABEL) != Some(MANAGED_BY) {
        return None;
    }
    let service = slice.label(SERVICE_NAME_LABEL).filter(|s| !s.is_empty())?;
    Some(cache_key(slice.namespace(), service))
}

/// Starts the EndpointSlice controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let services = service_informer(client.clone(), queue.clone());
    let pods = pod_informer(client.clone(), services.cache(), queue.clone());
    let nodes = Informer::new(client.clone(), resource("", "nodes"));
    let tracker = Arc::new(SliceTracker::default());
    let (q, t) = (queue.clone(), tracker.clone());
    let endpoint_slices = Informer::new(client.clone(), slices()).on_change(move |change| match change {
        Change::Applied { old, new } => {
            let old_key = old.as_deref().and_then(service_key_of);
            let new_key = service_key_of(new);
            if old_key != new_key {
                // Relabelled: both Services have work.
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
            if let Some(k) = service_key_of(slice) {
                if t.handle_deletion(&k, slice) {
                    q.add(k);
                }
            }
        }
    });
    let reconciler = Arc::new(EndpointSlices {
        client: client.clone(),
        services: services.cache(),
        pods: pods.cache(),
        slices: endpoint_slices.cache(),
        nodes: nodes.cache(),
        events: EventRecorder::spawn(client, EventSource::controller(EVENT_SOURCE)),
        triggers: TriggerTimes::default(),
        tracker,
        max_per_slice: config.max_endpoints_per_slice.max(1),
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![services.informer, pods, endpoint_slices, nodes])
        .workers(config.workers)
        .resync(config.resync, services.keys);
    tokio::spawn(controller.run(shutdown))
}

/// `EndpointSliceTracker`: the generation of every slice this controller
/// wrote (or `None` when it deleted one), per Service (per Endpoints for the
/// mirroring controller).
#[derive(Debug, Default)]
pub(crate) struct SliceTracker {
    services: Mutex<HashMap<String, HashMap<String, Option<i64>>>>,
}

impl SliceTracker {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, HashMap<String, Option<i64>>>) -> R) -> R {
        f(&mut self.services.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records a slice as written by us.
    pub(crate) fn update(&self, service: &str, slice: &Value) {
        let uid = slice.uid().unwrap_or("").to_string();
        self.with(|s| {
            s.entry(service.to_string())
                .or_default()
                .insert(uid, Some(slice.generation()));
        });
    }

    /// Records a slice as deleted by us.
    pub(crate) fn expect_deletion(&self, service: &str, slice: &Value) {
        let uid = slice.uid().unwrap_or("").to_string();
        self.with(|s| {
            s.entry(service.to_string()).or_default().insert(uid, None);
        });
    }

    /// Whether a change to `slice` is news (not our own write).
    pub(crate) fn should_sync(&self, service: &str, slice: &Value) -> bool {
        self.with(
            |s| match s.get(service).and_then(|m| m.get(slice.uid().unwrap_or(""))) {
                Some(Some(g)) => slice.generation() > *g,
                _ => true,
            },
        )
    }

    /// Forgets a deleted slice; true when the deletion was not ours.
    pub(crate) fn handle_deletion(&self, service: &str, slice: &Value) -> bool {
        self.with(|s| {
            let Some(m) = s.get_mut(service) else {
                return true;
            };
            !matches!(m.remove(slice.uid().unwrap_or("")), Some(None))
        })
    }

    /// `StaleSlices`: the cache shows a slice older than we wrote it, lacks
    /// one we wrote, or still has one we deleted.
    pub(crate) fn stale(&self, service: &str, cached: &[Arc<Value>]) -> bool {
        self.with(|s| {
            let Some(m) = s.get(service) else {
                return false;
            };
            let seen: HashMap<&str, i64> = cached.iter().map(|c| (c.uid().unwrap_or(""), c.generation())).collect();
            m.iter().any(|(uid, written)| match (written, seen.get(uid.as_str())) {
                (None, Some(_)) => true,
                (None, None) => false,
                (Some(_), None) => true,
                (Some(g), Some(c)) => g > c,
            })
        })
    }

    pub(crate) fn forget_service(&self, service: &str) {
        self.with(|s| {
            s.remove(service);
        });
    }
}

struct EndpointSlices {
    client: Client,
    services: Cache,
    pods: Cache,
    slices: Cache,
    nodes: Cache,
    events: EventRecorder,
    triggers: TriggerTimes,
    tracker: Arc<SliceTracker>,
    max_per_slice: usize,
}

impl Reconciler for EndpointSlices {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key.as_str()));
        let Some(service) = self.services.get(Some(namespace), name) else {
            // Its slices go with it (owner references).
            self.triggers.forget(namespace, name);
            self.tracker.forget_service(key);
            return Ok(Action::Done);
        };
        if service["spec"]["type"] == "ExternalName" || !service["spec"]["selector"].is_object() {
            return Ok(Action::Done);
        }
        let pods = selected_pods(&service, &self.pods);
        let existing: Vec<Arc<Value>> = self
            .slices
            .list_in(namespace)
            .into_iter()
            .filter(|s| service_key_of(s).as_deref() == Some(key.as_str()) && s.deletion_timestamp().is_none())
            .collect();
        if self.tracker.stale(key, &existing) {
            debug!(service = %key, "EndpointSlice cache older than the last write; syncing again");
            return Ok(Action::RequeueAfter(Duration::from_millis(100)));
        }
        let trigger = self.triggers.compute(&service, &pods);
        let nodes = &self.nodes;
        let plan = plan(
            &service,
            &pods,
            &existing,
            |n| nodes.get(None, n),
            self.max_per_slice,
            trigger,
        );
        let mut errors = plan.errors.clone();
        match self.finalize(key, &service, plan).await {
            Ok(true) => {}
            Ok(false) => return Ok(Action::Done),
            Err(e) => errors.push(e),
        }
        if errors.is_empty() {
            return Ok(Action::Done);
        }
        let message = errors.join("; ");
        self.events.event(
            &service,
            events::WARNING,
            "FailedToUpdateEndpointSlices",
            format!("Error updating Endpoint Slices for Service {key}: {message}"),
        );
        anyhow::bail!("syncing EndpointSlices of Service {key}: {message}")
    }
}

impl EndpointSlices {
    /// Writes a plan (`finalize`); `Ok(false)` when the namespace is going away.
    async fn finalize(&self, key: &str, service: &Value, plan: reconciler::Plan) -> Result<bool, String> {
        let ns = service.namespace();
        let (svc_ns, svc_name) = (ns.unwrap_or(""), service.name().unwrap_or(""));
        // No new slices for a Service being deleted: the garbage collector is at work.
        if service.deletion_timestamp().is_none() {
            for slice in &plan.create {
                match self.client.create(slices(), ns, slice).await {
                    Ok(created) => self.tracker.update(key, &created),
                    Err(e) if is_namespace_terminating(&e) => return Ok(false),
                    Err(e) => {
                        return Err(format!(
                            "failed to create EndpointSlice for Service {svc_ns}/{svc_name}: {e}"
                        ))
                    }
                }
            }
        }
        for slice in &plan.update {
            let slice_name = slice.name().unwrap_or("");
            match self.client.update(slices(), ns, slice).await {
                Ok(updated) => self.tracker.update(key, &updated),
                Err(e) => {
                    return Err(format!(
                        "failed to update {slice_name} EndpointSlice for Service {svc_ns}/{svc_name}: {e}"
                    ))
                }
            }
        }
        for slice in &plan.delete {
            let slice_name = slice.name().unwrap_or("");
            match self.client.delete(slices(), ns, slice_name, &Value::Null).await {
                Ok(_) => self.tracker.expect_deletion(key, slice),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(format!(
                        "failed to delete {slice_name} EndpointSlice for Service {svc_ns}/{svc_name}: {e}"
                    ))
                }
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::{eventually, TestEnv};
    use serde_json::json;

    #[test]
    fn the_tracker_tells_own_writes_from_news() {
        let t = SliceTracker::default();
        let s = |uid: &str, generation: i64| json!({"metadata": {"uid": uid, "generation": generation}});
        assert!(t.should_sync("d/web", &s("a", 1)));
        assert!(!t.stale("d/web", &[]));
        t.update("d/web", &s("a", 2));
        assert!(!t.should_sync("d/web", &s("a", 2)));
        assert!(t.should_sync("d/web", &s("a", 3)));
        assert!(t.stale("d/web", &[]), "written but not cached");
        assert!(t.stale("d/web", &[Arc::new(s("a", 1))]), "cached older than written");
        assert!(!t.stale("d/web", &[Arc::new(s("a", 2))]));
        t.expect_deletion("d/web", &s("a", 2));
        assert!(t.stale("d/web", &[Arc::new(s("a", 2))]), "deleted but cached");
        assert!(!t.stale("d/web", &[]));
        assert!(!t.handle_deletion("d/web", &s("a", 2)), "our own deletion");
        t.update("d/web", &s("b", 1));
        assert!(t.handle_deletion("d/web", &s("b", 1)), "someone else's deletion");
        t.forget_service("d/web");
        assert!(!t.stale("d/web", &[]));
    }

    #[tokio::test]
    async fn slices_follow_pods_readiness_and_termination() {
        let env = TestEnv::new().await;
        let c = env.client();
        let (svcs, pods, nodes) = (resource("", "services"), resource("", "pods"), resource("", "nodes"));
        c.create(nodes, None, &json!({"metadata": {"name": "test-node"}}))
            .await
            .unwrap();
        env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
        c.create(
            svcs,
            Some("default"),
            &json!({"metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
        )
        .await
        .unwrap();
        let list = || async {
            c.list(
                slices(),
                Some("default"),
                "labelSelector=kubernetes.io%2Fservice-name%3Dweb",
            )
            .await
            .map(|l| l["items"].as_array().cloned().unwrap_or_default())
            .unwrap_or_default()
        };
        eventually("a placeholder slice", || async {
            list().await.first().is_some_and(|s| s["endpoints"] == json!([]))
        })
        .await;
        let placeholder = list().await[0]["metadata"]["name"].clone();

        c.create(pods, Some("default"), &json!({"metadata": {"name": "p1", "labels": {"app": "web"}},
            "spec": {"nodeName": "test-node", "containers": [{"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": 8080}]}]}}))
            .await
            .unwrap();
        env.set_pod_status(
            "default",
            "p1",
            "Running",
            Some("10.42.0.21"),
            false,
            "2026-01-01T00:00:05Z",
        )
        .await;
        eventually("an unready endpoint in the reused slice", || async {
            let l = list().await;
            l.len() == 1
                && l[0]["metadata"]["name"] == placeholder
                && l[0]["endpoints"][0]["conditions"] == json!({"ready": false, "serving": false, "terminating": false})
        })
        .await;
        let slice = list().await.remove(0);
        assert_eq!(
            slice["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(slice["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(slice["endpoints"][0]["nodeName"], "test-node");

        env.set_pod_status(
            "default",
            "p1",
            "Running",
            Some("10.42.0.21"),
            true,
            "2026-01-01T00:00:09Z",
        )
        .await;
        eventually("ready", || async {
            list()
                .await
                .first()
                .is_some_and(|s| s["endpoints"][0]["conditions"]["ready"] == true)
        })
        .await;
        // Deleting a pod on a node leaves it terminating until the kubelet is done.
        c.delete(pods, Some("default"), "p1", &Value::Null).await.unwrap();
        eventually("serving and terminating", || async {
            list().await.first().is_some_and(|s| {
                s["endpoints"][0]["conditions"] == json!({"ready": false, "serving": true, "terminating": true})
            })
        })
        .await;
        c.delete(pods, Some("default"), "p1", &json!({"gracePeriodSeconds": 0}))
            .await
            .unwrap();
        eventually("empty again", || async {
            list()
                .await
                .first()
                .is_some_and(|s| s["endpoints"].as_array().is_none_or(Vec::is_empty))
        })
        .await;
        assert_eq!(list().await.len(), 1);
    }
}
