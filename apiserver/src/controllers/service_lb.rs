//! The service load balancer (the cloud `service-lb-controller` with a
//! provider like k3s's ServiceLB, but without pods: the proxy's rules forward
//! the traffic). A `type: LoadBalancer` Service with no `loadBalancerClass`
//! gets the `service.kubernetes.io/load-balancer-cleanup` finalizer and
//! `status.loadBalancer.ingress` = the node's address (`ipMode: VIP`), where
//! the proxy answers on each Service `port`.
//!
//! A port is the Service's only while nobody else holds it on the node:
//! another load balancer (first come, first served), another Service's
//! nodePort, a pod's hostPort, or a process on the host (see [`host`]). A
//! Service whose port is taken stays `<pending>` (no ingress) with a
//! `SyncLoadBalancerFailed` event saying who holds it, and is retried with
//! back-off, at once when another load balancer lets the port go.
//! When the Service stops wanting a load balancer (type change, deletion)
//! the ports are let go, the ingress cleared and the finalizer removed.

pub mod host;
pub mod ports;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::patch::PatchType;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use self::host::{BindProbe, HostPorts};
use self::ports::{
    cluster_holder, eligible_nodes, ingress_addresses, ingress_strings, lb_ports, load_balancer_status, status_matches,
    wants_load_balancer, Conflict, Holder, LbPort,
};
use super::resource;
use super::runtime::{cache_key, Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use super::scheduler::filters::host_ports;
use super::written_versions::WrittenVersions;
use crate::api::Api;
use crate::client::Client;
use crate::events::{self, EventRecorder, EventSource};

/// The controller's name (its client identity and log name), as kube-controller-manager calls it.
pub const NAME: &str = "service-lb-controller";
/// The event source of the cloud service controller.
pub const EVENT_COMPONENT: &str = "service-controller";
/// The finalizer that keeps a Service until its load balancer is gone.
pub const LB_FINALIZER: &str = "service.kubernetes.io/load-balancer-cleanup";

/// Settings of the service load balancer.
#[derive(Clone)]
pub struct Config {
    /// How often every Service is looked at regardless.
    pub resync: Duration,
    /// Retry back-off of a Service whose port is taken (the cloud controller's 5 s … 300 s, shorter).
    pub retry: QueueConfig,
    /// The check against the host's own listeners.
    pub host_ports: Arc<dyn HostPorts>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            resync: Duration::from_secs(300),
            retry: QueueConfig {
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(30),
                ..QueueConfig::default()
            },
            host_ports: Arc::new(BindProbe),
        }
    }
}

/// Starts the service load balancer.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let recorder = EventRecorder::spawn(client.clone(), EventSource::controller(EVENT_COMPONENT));
    let queue: WorkQueue<String> = WorkQueue::new(config.retry.clone());
    let (q, rec) = (queue.clone(), recorder.clone());
    let services = Informer::new(client.clone(), resource("", "services")).on_change(move |change| {
        let svc = match change {
            Change::Applied { old, new } => {
                if let Some(old) = old {
                    type_event(&rec, old, new);
                }
                new
            }
            Change::Deleted(old) => old,
        };
        if let Some(name) = svc.name() {
            q.add(cache_key(svc.namespace(), name));
        }
    });
    let (q, svc_cache) = (queue.clone(), services.cache());
    let nodes = Informer::new(client.clone(), resource("", "nodes")).on_change(move |change| {
        let relevant = match change {
            Change::Applied { old: Some(old), new } => {
                old["status"]["addresses"] != new["status"]["addresses"]
                    || old["metadata"]["labels"] != new["metadata"]["labels"]
            }
            _ => true,
        };
        if relevant {
            for key in load_balancer_keys(&svc_cache) {
                q.add(key);
            }
        }
    });
    // A pod that goes lets its hostPorts go: waiting load balancers look again.
    let (q, svc_cache) = (queue.clone(), services.cache());
    let pods = Informer::new(client.clone(), resource("", "pods")).on_change(move |change| {
        if let Change::Deleted(pod) = change {
            if !host_ports(pod).is_empty() {
                for key in load_balancer_keys(&svc_cache) {
                    q.add(key);
                }
            }
        }
    });
    let svc_cache = services.cache();
    let reconciler = Arc::new(ServiceLb {
        client,
        services: services.cache(),
        nodes: nodes.cache(),
        pods: pods.cache(),
        events: recorder,
        queue: queue.clone(),
        host_ports: config.host_ports,
        claims: Mutex::new(Claims::default()),
        written: WrittenVersions::default(),
    });
    // One worker: the port claims are handed out in order.
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![services, nodes, pods])
        .workers(1)
        .resync(config.resync, move || load_balancer_keys(&svc_cache));
    tokio::spawn(controller.run(shutdown))
}

/// The cloud controller's `Type` event when a Service starts or stops wanting a load balancer.
fn type_event(events: &EventRecorder, old: &Value, new: &Value) {
    if wants_load_balancer(old) != wants_load_balancer(new) && new.deletion_timestamp().is_none() {
        let t = |s: &Value| s["spec"]["type"].as_str().unwrap_or("").to_string();
        events.event(new, events::NORMAL, "Type", format!("{} -> {}", t(old), t(new)));
    }
}

/// The keys of the Services this controller looks after (or cleans up).
fn load_balancer_keys(services: &Cache) -> Vec<String> {
    services
        .list()
        .iter()
        .filter(|s| wants_load_balancer(s) || s.finalizers().iter().any(|f| f == LB_FINALIZER))
        .filter_map(|s| s.name().map(|n| cache_key(s.namespace(), n)))
        .collect()
}

/// Which Service holds which node ports; seeded from the Services that
/// already have an ingress when the controller starts.
#[derive(Default)]
struct Claims {
    seeded: bool,
    held: HashMap<String, Vec<LbPort>>,
}

impl Claims {
    /// The other Service holding `port`.
    fn holder(&self, port: &LbPort, me: &str) -> Option<&str> {
        self.held
            .iter()
            .find(|(k, ports)| k.as_str() != me && ports.contains(port))
            .map(|(k, _)| k.as_str())
    }

    /// Lets go of a Service's ports; whether it held any.
    fn release(&mut self, key: &str) -> bool {
        self.held.remove(key).is_some_and(|p| !p.is_empty())
    }
}

struct ServiceLb {
    client: Client,
    services: Cache,
    nodes: Cache,
    pods: Cache,
    events: EventRecorder,
    queue: WorkQueue<String>,
    host_ports: Arc<dyn HostPorts>,
    claims: Mutex<Claims>,
    written: WrittenVersions,
}

impl Reconciler for ServiceLb {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        self.seed_claims();
        let (namespace, name) = key.split_once('/').unwrap_or(("", key.as_str()));
        let Some(svc) = self.services.get(Some(namespace), name) else {
            self.written.forget(key);
            if self.claims().release(key) {
                self.wake_waiting();
            }
            return Ok(Action::Done);
        };
        if self.written.is_stale(key, Some(&svc)) {
            debug!(service = %key, "cache older than the last write; syncing again");
            return Ok(Action::RequeueAfter(Duration::from_millis(100)));
        }
        if wants_load_balancer(&svc) {
            self.ensure(key, &svc).await
        } else {
            self.clean_up(key, &svc).await
        }
    }
}

impl ServiceLb {
    fn claims(&self) -> MutexGuard<'_, Claims> {
        // Every critical section leaves the map consistent.
        self.claims.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a restart, the Services already balanced keep their ports (oldest first).
    fn seed_claims(&self) {
        let mut claims = self.claims();
        if claims.seeded {
            return;
        }
        claims.seeded = true;
        let mut balanced: Vec<Arc<Value>> = self
            .services
            .list()
            .into_iter()
            .filter(|s| wants_load_balancer(s) && !ingress_strings(&s["status"]["loadBalancer"]).is_empty())
            .collect();
        balanced.sort_by_key(|s| {
            (
                s["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_string(),
                s.name().unwrap_or("").to_string(),
            )
        });
        for svc in balanced {
            let Some(name) = svc.name() else { continue };
            let key = cache_key(svc.namespace(), name);
            let wanted = lb_ports(&svc);
            if wanted.iter().all(|p| claims.holder(p, &key).is_none()) {
                claims.held.insert(key, wanted);
            }
        }
    }

    /// Queues every Service still waiting for its load balancer.
    fn wake_waiting(&self) {
        let claims = self.claims();
        for svc in self.services.list() {
            let Some(name) = svc.name() else { continue };
            let key = cache_key(svc.namespace(), name);
            if wants_load_balancer(&svc) && claims.held.get(&key) != Some(&lb_ports(&svc)) {
                self.queue.add(key);
            }
        }
    }

    /// Gives the Service its ingress on the node, if its ports are free.
    async fn ensure(&self, key: &str, svc: &Value) -> anyhow::Result<Action> {
        let nodes = self.nodes.list();
        let nodes = eligible_nodes(nodes.iter().map(|n| n.as_ref()));
        let ips = ingress_addresses(&nodes, svc);
        let wanted = lb_ports(svc);
        let desired = load_balancer_status(&ips);
        let has_finalizer = svc.finalizers().iter().any(|f| f == LB_FINALIZER);
        let holds = self.claims().held.get(key) == Some(&wanted);
        if has_finalizer && status_matches(svc, &desired) && (holds || ips.is_empty()) {
            return Ok(Action::Done);
        }
        self.events
            .event(svc, events::NORMAL, "EnsuringLoadBalancer", "Ensuring load balancer");
        if !has_finalizer {
            self.set_finalizer(svc, true)
                .await
                .context("failed to add load balancer cleanup finalizer")
                .inspect_err(|e| self.sync_failed(svc, e))?;
        }
        if ips.is_empty() {
            self.events.event(
                svc,
                events::WARNING,
                "UnAvailableLoadBalancer",
                "There are no available nodes for LoadBalancer",
            );
            self.let_go(key);
            self.write_status(svc, &desired).await?;
            return Ok(Action::Done);
        }
        if let Some(conflict) = self.conflict(key, svc, &wanted, &nodes, &ips) {
            self.let_go(key);
            self.write_status(svc, &json!({})).await?;
            let err = anyhow::anyhow!("failed to ensure load balancer: {conflict}");
            self.sync_failed(svc, &err);
            // Retried with back-off, or at once when another load balancer lets go.
            return Err(err);
        }
        let released_some = {
            let mut claims = self.claims();
            let before = claims.held.insert(key.to_string(), wanted.clone());
            before.is_some_and(|b| b.iter().any(|p| !wanted.contains(p)))
        };
        if released_some {
            self.wake_waiting();
        }
        self.write_status(svc, &desired).await?;
        self.events
            .event(svc, events::NORMAL, "EnsuredLoadBalancer", "Ensured load balancer");
        Ok(Action::Done)
    }

    /// Who else holds one of the ports the Service does not hold yet.
    fn conflict(
        &self,
        key: &str,
        svc: &Value,
        wanted: &[LbPort],
        nodes: &[&Value],
        ips: &[std::net::IpAddr],
    ) -> Option<Conflict> {
        let node = nodes.iter().filter_map(|n| n.name()).collect::<Vec<_>>().join(",");
        let conflict = |port: LbPort, holder: Holder| Conflict {
            port,
            node: node.clone(),
            holder,
        };
        let new: Vec<LbPort> = {
            let claims = self.claims();
            if let Some((p, other)) = wanted
                .iter()
                .find_map(|p| claims.holder(p, key).map(|o| (p.clone(), o.to_string())))
            {
                return Some(conflict(p, Holder::LoadBalancer(other)));
            }
            let mine = claims.held.get(key).cloned().unwrap_or_default();
            wanted.iter().filter(|p| !mine.contains(p)).cloned().collect()
        };
        if new.is_empty() {
            return None;
        }
        let on_nodes: Vec<&str> = nodes.iter().filter_map(|n| n.name()).collect();
        let pods = self.pods.list();
        let pods_on_nodes = pods
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| p["spec"]["nodeName"].as_str().is_some_and(|n| on_nodes.contains(&n)));
        let services = self.services.list();
        if let Some((p, holder)) = cluster_holder(&new, key, services.iter().map(|s| s.as_ref()), pods_on_nodes, ips) {
            return Some(conflict(p, holder));
        }
        for p in &new {
            if let Some(why) = ips.iter().find_map(|ip| self.host_ports.in_use(*ip, p)) {
                return Some(conflict(p.clone(), Holder::Host(why)));
            }
        }
        debug!(service = %svc.name().unwrap_or_default(), "ports free");
        None
    }

    /// The Service no longer wants a load balancer: let its ports go, clear
    /// its ingress, remove the finalizer.
    async fn clean_up(&self, key: &str, svc: &Value) -> anyhow::Result<Action> {
        let has_finalizer = svc.finalizers().iter().any(|f| f == LB_FINALIZER);
        let released = self.claims().release(key);
        if !has_finalizer && !released {
            // Not balanced by this controller (another class, or never).
            return Ok(Action::Done);
        }
        let had_ingress = !ingress_strings(&svc["status"]["loadBalancer"]).is_empty();
        if released || had_ingress {
            self.events
                .event(svc, events::NORMAL, "DeletingLoadBalancer", "Deleting load balancer");
        }
        if released {
            self.wake_waiting();
        }
        if had_ingress && svc.deletion_timestamp().is_none() {
            self.write_status(svc, &json!({})).await?;
        }
        if has_finalizer {
            self.set_finalizer(svc, false)
                .await
                .context("failed to remove load balancer cleanup finalizer")
                .inspect_err(|e| self.sync_failed(svc, e))?;
        }
        self.events
            .event(svc, events::NORMAL, "DeletedLoadBalancer", "Deleted load balancer");
        Ok(Action::Done)
    }

    /// Lets go of the Service's ports, waking those that wait for them.
    fn let_go(&self, key: &str) {
        if self.claims().release(key) {
            self.wake_waiting();
        }
    }

    fn sync_failed(&self, svc: &Value, err: &anyhow::Error) {
        self.events.event(
            svc,
            events::WARNING,
            "SyncLoadBalancerFailed",
            format!("Error syncing load balancer: {err:#}"),
        );
    }

    /// Writes `status.loadBalancer` when it differs (k3s's `UpdatedLoadBalancer` event on a change of addresses).
    async fn write_status(&self, svc: &Value, desired: &Value) -> anyhow::Result<()> {
        if status_matches(svc, desired) {
            return Ok(());
        }
        let (ns, name) = (svc.namespace(), svc.name().unwrap_or_default());
        // `ingress: null` removes the old list under a merge patch.
        let lb = if desired["ingress"].is_array() {
            desired.clone()
        } else {
            json!({"ingress": null})
        };
        let patch = json!({"status": {"loadBalancer": lb}});
        match self
            .client
            .patch(
                resource("", "services"),
                ns,
                name,
                Some("status"),
                PatchType::Merge,
                &patch,
            )
            .await
        {
            Ok(written) => self.written.record(&cache_key(ns, name), Some(&written)),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e).context("failed to update load balancer status"),
        }
        let (old, new) = (
            ingress_strings(&svc["status"]["loadBalancer"]),
            ingress_strings(desired),
        );
        if !new.is_empty() {
            self.events.event(
                svc,
                events::NORMAL,
                "UpdatedLoadBalancer",
                format!(
                    "Updated LoadBalancer with new IPs: [{}] -> [{}]",
                    old.join(" "),
                    new.join(" ")
                ),
            );
        }
        Ok(())
    }

    /// Adds or removes the cleanup finalizer (guarded by the resourceVersion read).
    async fn set_finalizer(&self, svc: &Value, present: bool) -> anyhow::Result<()> {
        let mut finalizers: Vec<String> = svc.finalizers().into_iter().filter(|f| f != LB_FINALIZER).collect();
        if present {
            finalizers.push(LB_FINALIZER.to_string());
        }
        // An empty list is no list (as Kubernetes omits it).
        let finalizers = if finalizers.is_empty() {
            Value::Null
        } else {
            json!(finalizers)
        };
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": svc.resource_version(),
        }});
        let (ns, name) = (svc.namespace(), svc.name().unwrap_or_default());
        match self
            .client
            .patch(resource("", "services"), ns, name, None, PatchType::Merge, &patch)
            .await
        {
            Ok(written) => {
                self.written.record(&cache_key(ns, name), Some(&written));
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests;
