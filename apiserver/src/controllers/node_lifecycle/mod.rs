//! The node lifecycle controller (kube-controller-manager's `nodelifecycle`,
//! acting as `node-controller`): a node whose Lease in `kube-node-lease` is not
//! renewed and whose `Ready` heartbeat does not move for the grace period
//! (40 s) gets its conditions set to `Unknown` ("Kubelet stopped posting node
//! status."), a `NodeNotReady` event, and its pods' `Ready` condition turned
//! `False`. Node conditions and cordoning are mirrored as NoSchedule taints
//! (`not-ready`, `unreachable`, pressure, `unschedulable`), and readiness as
//! the NoExecute `not-ready`/`unreachable` taints, which are withheld while no
//! node anywhere is Ready, as Kubernetes does. Taints go when the node is back.
//!
//! Pure parts: `health` (liveness and Unknown conditions), `taints`.

pub mod health;
pub mod taints;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use k1s_proto::meta::{format_time, ObjectMeta};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::pod_control::patch_pod_condition;
use super::resource;
use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;
use crate::events::{EventRecorder, EventSource, NORMAL, WARNING};
use health::{is_silent, observe, ready_status, unknown_conditions, Health};

/// The controller's name (its client identity and event source).
pub const NAME: &str = "node-controller";
/// Where nodes keep their heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Settings of the node lifecycle controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a node may stay silent before it is `Unknown` (`--node-monitor-grace-period`).
    pub grace_period: Duration,
    /// The same for a node that never reported `Ready` (`--node-startup-grace-period`).
    pub startup_grace_period: Duration,
    /// How often each node is looked at (`--node-monitor-period`).
    pub monitor_period: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grace_period: Duration::from_secs(40),
            startup_grace_period: Duration::from_secs(60),
            monitor_period: Duration::from_secs(5),
        }
    }
}

/// What the controller remembers of one node.
#[derive(Debug, Clone)]
struct NodeRecord {
    health: Health,
    /// Its pods still have to be marked not ready (a previous attempt failed).
    mark_pods: bool,
}

#[derive(Default)]
struct State {
    nodes: HashMap<String, NodeRecord>,
    /// Whether every zone was fully disrupted at the last look.
    all_disrupted: bool,
}

/// Starts the node lifecycle controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let q = queue.clone();
    let nodes = Informer::new(client.clone(), resource("", "nodes")).on_change(move |c| match c {
        Change::Applied { new, .. } => {
            if let Some(n) = new.name() {
                q.add(n.to_string());
            }
        }
        Change::Deleted(old) => {
            if let Some(n) = old.name() {
                q.add(n.to_string());
            }
        }
    });
    let q = queue.clone();
    let leases = Informer::new(client.clone(), resource("coordination.k8s.io", "leases")).on_change(move |c| {
        if let Change::Applied { new, .. } = c {
            if let (Some(LEASE_NAMESPACE), Some(n)) = (new.namespace(), new.name()) {
                q.add(n.to_string());
            }
        }
    });
    let pods = Informer::new(client.clone(), resource("", "pods"));
    let reconciler = Arc::new(NodeLifecycle {
        events: EventRecorder::spawn(client.clone(), EventSource::controller(NAME)),
        client,
        config,
        nodes: nodes.cache(),
        leases: leases.cache(),
        pods: pods.cache(),
        state: Mutex::default(),
    });
    let controller = Controller::new(NAME, reconciler, queue).informers(vec![nodes, leases, pods]);
    tokio::spawn(controller.run(shutdown))
}

struct NodeLifecycle {
    client: Client,
    events: EventRecorder,
    config: Config,
    nodes: Cache,
    leases: Cache,
    pods: Cache,
    state: Mutex<State>,
}

impl NodeLifecycle {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the map consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Reconciler for NodeLifecycle {
    type Key = String;

    async fn reconcile(&self, name: &String) -> anyhow::Result<Action> {
        let Some(cached) = self.nodes.get(None, name) else {
            self.state().nodes.remove(name);
            return Ok(Action::Done);
        };
        let mut node = (*cached).clone();
        let now = Timestamp::now();
        let lease = self.leases.get(Some(LEASE_NAMESPACE), name);
        let (record, first_look) = {
            let mut s = self.state();
            let prev = s.nodes.get(name).cloned();
            let record = NodeRecord {
                health: observe(prev.as_ref().map(|p| &p.health), &node, lease.as_deref(), now),
                mark_pods: prev.as_ref().is_some_and(|p| p.mark_pods),
            };
            s.nodes.insert(name.clone(), record.clone());
            (record, prev.is_none())
        };
        if first_look {
            self.events.event(
                &node,
                NORMAL,
                "RegisteredNode",
                format!("Node {name} event: Registered Node {name} in Controller"),
            );
        }

        // Silent for too long: conditions go Unknown.
        let grace = if ready_status(&node).is_some() {
            self.config.grace_period
        } else {
            self.config.startup_grace_period
        };
        let was_ready = ready_status(&node) == Some("True");
        if is_silent(&record.health, now, grace) {
            let conditions = unknown_conditions(&node, &format_time(now));
            if node["status"]["conditions"] != json!(conditions) {
                let mut updated = node.clone();
                updated["status"]["conditions"] = json!(conditions);
                node = self
                    .client
                    .update_status(resource("", "nodes"), None, &updated)
                    .await
                    .with_context(|| format!("marking node {name} Unknown"))?;
                info!(node = %name, "node stopped posting status; conditions are Unknown");
            }
        }
        if was_ready && ready_status(&node) != Some("True") {
            self.events.event(
                &node,
                NORMAL,
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            );
            self.set_mark_pods(name, true);
        }
        if self.state().nodes.get(name).is_some_and(|r| r.mark_pods) && ready_status(&node) != Some("True") {
            self.mark_pods_not_ready(name).await?;
            self.set_mark_pods(name, false);
        }

        self.update_taints(&node, now).await?;
        Ok(Action::RequeueAfter(self.config.monitor_period))
    }
}

impl NodeLifecycle {
    fn set_mark_pods(&self, name: &str, on: bool) {
        if let Some(r) = self.state().nodes.get_mut(name) {
            r.mark_pods = on;
        }
    }

    /// `MarkPodsNotReady`: each pod on the node gets `Ready=False` and a `NodeNotReady` event.
    async fn mark_pods_not_ready(&self, node: &str) -> anyhow::Result<()> {
        let pods = self.pods.list().into_iter().filter(|p| p["spec"]["nodeName"] == node);
        for pod in pods {
            let Some(ready) = health::condition(&pod, "Ready").cloned() else {
                continue;
            };
            let mut not_ready = ready;
            not_ready["status"] = json!("False");
            match patch_pod_condition(&self.client, &pod, not_ready).await {
                Ok(true) => self.events.event(&pod, WARNING, "NodeNotReady", "Node is not ready"),
                Ok(false) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    let (ns, name) = (pod.namespace().unwrap_or("default"), pod.name().unwrap_or(""));
                    return Err(e).with_context(|| format!("marking pod {ns}/{name} not ready"));
                }
            }
        }
        Ok(())
    }

    /// Brings the node's managed taints in line with its conditions and the cluster's disruption.
    async fn update_taints(&self, node: &Value, now: Timestamp) -> anyhow::Result<()> {
        let name = node.name().unwrap_or("");
        let all: Vec<Arc<Value>> = self.nodes.list();
        // The cache may lag behind the status just written: use this node as it is now.
        let view: Vec<&Value> = all
            .iter()
            .map(|n| if n.name() == Some(name) { node } else { n.as_ref() })
            .collect();
        let allowed = taints::no_execute_allowed(&view);
        let all_disrupted = !allowed.is_empty() && allowed.values().all(|a| !a);
        {
            let mut s = self.state();
            if all_disrupted != s.all_disrupted {
                if all_disrupted {
                    info!("Controller detected that all Nodes are not-Ready. Entering master disruption mode");
                } else {
                    info!("Controller detected that some Nodes are Ready. Exiting master disruption mode");
                }
                s.all_disrupted = all_disrupted;
            }
        }
        let no_execute = taints::no_execute_taint(node).filter(|_| taints::allowed_for(&allowed, node));
        let current = node["spec"]["taints"].as_array().cloned().unwrap_or_default();
        let want = taints::desired_taints(&current, &taints::condition_taints(node), no_execute, &format_time(now));
        if want == current {
            return Ok(());
        }
        let mut updated = node.clone();
        if want.is_empty() {
            if let Some(spec) = updated["spec"].as_object_mut() {
                spec.remove("taints");
            }
        } else {
            updated["spec"]["taints"] = json!(want);
        }
        match self.client.update(resource("", "nodes"), None, &updated).await {
            Ok(_) => Ok(()),
            // Changed meanwhile: the change brings the node back to the queue.
            Err(e) if e.is_conflict() => {
                warn!(node = %name, "node changed while updating its taints; retrying");
                Err(e).context("node changed meanwhile")
            }
            Err(e) => Err(e).with_context(|| format!("updating the taints of node {name}")),
        }
    }
}

#[cfg(test)]
mod tests;
