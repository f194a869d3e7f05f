//! The disruption controller: keeps each PodDisruptionBudget's status —
//! `expectedPods`, `currentHealthy`, `desiredHealthy`, `disruptionsAllowed`,
//! `disruptedPods`, `observedGeneration` and the `DisruptionAllowed` condition
//! (`SufficientPods`/`InsufficientPods`) — from the pods it selects and the
//! scale of their controllers. The `pods/eviction` subresource spends the
//! disruptions it allows.
//!
//! Pure parts: `status`.

pub mod status;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use k1s_proto::meta::{format_time, ObjectMeta};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::resource;
use super::runtime::{cache_key, Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;
use crate::events::{EventRecorder, EventSource, NORMAL, WARNING};
use crate::registry::pdb;

/// The controller's name (its client identity and event source).
pub const NAME: &str = "disruption-controller";

/// Settings of the disruption controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often every budget is looked at regardless.
    pub resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            resync: Duration::from_secs(300),
        }
    }
}

/// Queues the budgets of `namespace` that select `labels` (all of them when `labels` is `None`).
fn enqueue_budgets(queue: &WorkQueue<String>, budgets: &Cache, namespace: &str, labels: &[Option<&Value>]) {
    for b in budgets.list_in(namespace) {
        let sel = pdb::selector(&b);
        let hit = labels.is_empty() || labels.iter().any(|l| sel.matches(l.and_then(Value::as_object)));
        if hit {
            queue.add(cache_key(b.namespace(), b.name().unwrap_or("")));
        }
    }
}

/// Starts the disruption controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let q = queue.clone();
    let budgets = Informer::new(client.clone(), resource("policy", "poddisruptionbudgets")).on_change(move |c| {
        if let Change::Applied { new, .. } = c {
            q.add(cache_key(new.namespace(), new.name().unwrap_or("")));
        }
    });
    let budget_cache = budgets.cache();
    let (q, b) = (queue.clone(), budget_cache.clone());
    let pods = Informer::new(client.clone(), resource("", "pods")).on_change(move |c| {
        let (ns, labels) = match c {
            Change::Applied { old, new } => (
                new.namespace().unwrap_or(""),
                vec![
                    old.as_ref().map(|o| &o["metadata"]["labels"]),
                    Some(&new["metadata"]["labels"]),
                ],
            ),
            Change::Deleted(old) => (old.namespace().unwrap_or(""), vec![Some(&old["metadata"]["labels"])]),
        };
        enqueue_budgets(&q, &b, ns, &labels);
    });
    // A controller's scale changes what budgets by percent or maxUnavailable expect.
    let owner_informer = |group: &str, plural: &str| {
        let (q, b) = (queue.clone(), budget_cache.clone());
        Informer::new(client.clone(), resource(group, plural)).on_change(move |c| {
            let obj = match c {
                Change::Applied { new, .. } => new,
                Change::Deleted(old) => old,
            };
            enqueue_budgets(&q, &b, obj.namespace().unwrap_or(""), &[]);
        })
    };
    let replicasets = owner_informer("apps", "replicasets");
    let deployments = owner_informer("apps", "deployments");
    let statefulsets = owner_informer("apps", "statefulsets");
    let reconciler = Arc::new(Disruption {
        events: EventRecorder::spawn(client.clone(), EventSource::controller(NAME)),
        client,
        budgets: budget_cache.clone(),
        pods: pods.cache(),
        replicasets: replicasets.cache(),
        deployments: deployments.cache(),
        statefulsets: statefulsets.cache(),
    });
    let all = budget_cache.clone();
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![budgets, pods, replicasets, deployments, statefulsets])
        .resync(config.resync, move || {
            all.list()
                .iter()
                .map(|b| cache_key(b.namespace(), b.name().unwrap_or("")))
                .collect()
        });
    tokio::spawn(controller.run(shutdown))
}

struct Disruption {
    client: Client,
    events: EventRecorder,
    budgets: Cache,
    pods: Cache,
    replicasets: Cache,
    deployments: Cache,
    statefulsets: Cache,
}

/// `spec.replicas` (1 when unset, as the API defaults it).
fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// The controller reference of an object.
fn controller_ref(obj: &Value) -> Option<&Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
}

impl Disruption {
    /// The cached object a controller reference names (same UID), in `namespace`.
    fn owner(&self, cache: &Cache, namespace: &str, r: &Value) -> Option<Arc<Value>> {
        cache
            .get(Some(namespace), r["name"].as_str()?)
            .filter(|o| o.uid() == r["uid"].as_str())
    }

    /// The finders of the disruption controller: Deployment (through its
    /// ReplicaSet), ReplicaSet, StatefulSet.
    fn scale_of(&self, pod: &Value) -> Result<Option<(String, i64)>, String> {
        let namespace = pod.namespace().unwrap_or("");
        let Some(r) = controller_ref(pod) else { return Ok(None) };
        let found = match r["kind"].as_str() {
            Some("ReplicaSet") => self.owner(&self.replicasets, namespace, r).map(|rs| {
                let deployment = controller_ref(&rs)
                    .filter(|d| d["kind"] == "Deployment")
                    .and_then(|d| self.owner(&self.deployments, namespace, d));
                match deployment {
                    Some(d) => (d.uid().unwrap_or("").to_string(), replicas(&d)),
                    None => (rs.uid().unwrap_or("").to_string(), replicas(&rs)),
                }
            }),
            Some("StatefulSet") => self
                .owner(&self.statefulsets, namespace, r)
                .map(|s| (s.uid().unwrap_or("").to_string(), replicas(&s))),
            _ => None,
        };
        Ok(found)
    }

    async fn write_status(&self, budget: &Value, status: Value) -> anyhow::Result<()> {
        if budget["status"] == status {
            return Ok(());
        }
        let mut updated = budget.clone();
        updated["status"] = status;
        match self
            .client
            .update_status(resource("policy", "poddisruptionbudgets"), budget.namespace(), &updated)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e).with_context(|| format!("updating the status of budget {}", budget.name().unwrap_or(""))),
        }
    }
}

impl Reconciler for Disruption {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let Some(budget) = self.budgets.get(Some(namespace), name) else {
            return Ok(Action::Done);
        };
        let sel = pdb::selector(&budget);
        let pods: Vec<Arc<Value>> = self
            .pods
            .list_in(namespace)
            .into_iter()
            .filter(|p| sel.matches(p["metadata"]["labels"].as_object()))
            .collect();
        let refs: Vec<&Value> = pods.iter().map(|p| p.as_ref()).collect();
        if refs.is_empty() {
            self.events.event(&budget, NORMAL, "NoPods", "No matching pods found");
        }
        let now = Timestamp::now();
        let now_str = format_time(now);
        let lookup = |p: &Value| self.scale_of(p);
        let expected = match status::expected(&budget, &refs, &lookup) {
            Ok(e) => e,
            Err(why) => {
                self.events.event(
                    &budget,
                    WARNING,
                    "CalculateExpectedPodCountFailed",
                    format!("Failed to calculate the number of expected pods: {why}"),
                );
                // Fail safe: no disruption is allowed while the count is unknown.
                let mut failed = budget["status"].clone();
                pdb::sync_failed(&mut failed, &why, &now_str);
                self.write_status(&budget, failed).await?;
                anyhow::bail!("budget {key}: {why}");
            }
        };
        if !expected.unmanaged.is_empty() {
            self.events.event(
                &budget,
                WARNING,
                "UnmanagedPods",
                format!(
                    "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
                    status::go_selector(&budget["spec"]["selector"])
                ),
            );
        }
        let disrupted = status::disrupted(&budget["status"], &refs, now);
        for pod in refs
            .iter()
            .filter(|p| disrupted.not_deleted.iter().any(|n| Some(n.as_str()) == p.name()))
        {
            // Kubernetes prints the namespace twice here.
            self.events.event(
                pod,
                WARNING,
                "NotDeleted",
                format!("Pod was expected by PDB {namespace}/{namespace} to be deleted but it wasn't"),
            );
        }
        let healthy = status::current_healthy(&refs, &disrupted.pods);
        let new = status::new_status(&budget, &expected, healthy, &disrupted.pods, &now_str);
        self.write_status(&budget, new).await?;
        Ok(match disrupted.recheck {
            Some(at) => {
                let wait = (at.as_millisecond() - now.as_millisecond()).max(0) as u64;
                Action::RequeueAfter(Duration::from_millis(wait))
            }
            None => Action::Done,
        })
    }
}

#[cfg(test)]
mod tests;
