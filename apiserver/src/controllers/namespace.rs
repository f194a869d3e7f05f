//! The namespace controller: empties a namespace marked for deletion, as
//! Kubernetes' namespace controller does.
//!
//! For a Namespace with `deletionTimestamp`: make sure its phase is
//! `Terminating`; delete every object of every namespaced resource in it (with
//! background propagation); report progress in the `NamespaceContentRemaining`
//! / `NamespaceFinalizersRemaining` (and related) status conditions; look again
//! while anything remains; then remove the `kubernetes` finalizer through
//! `PUT /api/v1/namespaces/{name}/finalize`, after which the API removes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::{now_rfc3339, parse_time, ObjectMeta};
use k1s_proto::resources::RESOURCES;
use k1s_proto::{ApiError, ResourceInfo};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::resource;
use super::runtime::{Action, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;

/// The controller's name (its client identity and log name).
pub const NAME: &str = "namespace-controller";
/// The finalizer this controller owns in `spec.finalizers`.
pub const FINALIZER: &str = "kubernetes";
/// How long Kubernetes assumes remaining finalizers take to finish.
const FINALIZER_ESTIMATE_SECONDS: i64 = 15;

/// Settings of the namespace controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// Namespaces emptied at once.
    pub workers: usize,
    /// Longest wait before looking again at a namespace whose content is going away.
    pub max_recheck: Duration,
    /// How often every terminating namespace is looked at regardless.
    pub resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 2,
            max_recheck: Duration::from_secs(60),
            resync: Duration::from_secs(300),
        }
    }
}

/// Starts the namespace controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let q = queue.clone();
    let informer = Informer::new(client.clone(), resource("", "namespaces")).on_change(move |change| {
        if let Change::Applied { new, .. } = change {
            if let (Some(name), Some(_)) = (new.name(), new.deletion_timestamp()) {
                q.add(name.to_string());
            }
        }
    });
    let cache = informer.cache();
    let workers = config.workers;
    let resync = config.resync;
    let reconciler = Arc::new(NamespaceReconciler { client, config });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![informer])
        .workers(workers)
        .resync(resync, move || {
            cache
                .list()
                .iter()
                .filter(|ns| ns.deletion_timestamp().is_some())
                .filter_map(|ns| ns.name().map(String::from))
                .collect()
        });
    tokio::spawn(controller.run(shutdown))
}

struct NamespaceReconciler {
    client: Client,
    config: Config,
}

/// What deleting one resource's objects in a namespace left behind.
#[derive(Debug, Default)]
struct Remaining {
    /// Seconds until what remains is expected to be gone (0: nothing expected).
    estimate: i64,
    /// Remaining objects per resource, as `pods.` / `deployments.apps`.
    resources: BTreeMap<String, usize>,
    /// Remaining objects per finalizer they carry.
    finalizers: BTreeMap<String, usize>,
    /// Failures, as messages.
    errors: Vec<String>,
}

impl Reconciler for NamespaceReconciler {
    type Key = String;

    async fn reconcile(&self, name: &String) -> anyhow::Result<Action> {
        let namespaces = resource("", "namespaces");
        let ns = match self.client.get(namespaces, None, name).await {
            Ok(ns) => ns,
            Err(e) if e.is_not_found() => return Ok(Action::Done),
            Err(e) => return Err(e).context("reading the namespace"),
        };
        let Some(deleted_at) = ns.deletion_timestamp().map(String::from) else {
            return Ok(Action::Done);
        };
        let ns = self.ensure_terminating(ns).await?;
        if spec_finalizers(&ns).is_empty() {
            return Ok(Action::Done);
        }
        let deleted_at = parse_time(&deleted_at).unwrap_or_else(jiff::Timestamp::now);
        let remaining = self.delete_all_content(name, deleted_at).await;
        let ns = self.update_conditions(ns, &remaining).await;
        if !remaining.errors.is_empty() {
            let mut errors = remaining.errors;
            errors.sort();
            anyhow::bail!("deleting the content of namespace {name}: {}", errors.join("; "));
        }
        if remaining.estimate > 0 {
            let wait = Duration::from_secs((remaining.estimate / 2 + 1) as u64).min(self.config.max_recheck);
            return Ok(Action::RequeueAfter(wait));
        }
        self.finalize(ns).await?;
        Ok(Action::Done)
    }
}

impl NamespaceReconciler {
    /// Sets `status.phase: Terminating` if the delete did not.
    async fn ensure_terminating(&self, ns: Value) -> anyhow::Result<Value> {
        if ns["status"]["phase"] == "Terminating" {
            return Ok(ns);
        }
        let mut updated = ns.clone();
        updated["status"]["phase"] = json!("Terminating");
        self.client
            .update_status(resource("", "namespaces"), None, &updated)
            .await
            .context("marking the namespace Terminating")
    }

    /// Deletes everything in the namespace; reports what remains.
    async fn delete_all_content(&self, namespace: &str, deleted_at: jiff::Timestamp) -> Remaining {
        let mut total = Remaining::default();
        for info in RESOURCES.iter().filter(|r| r.namespaced && r.is_storage_version()) {
            match self.delete_resource_content(info, namespace, deleted_at).await {
                Ok(r) => {
                    total.estimate = total.estimate.max(r.estimate);
                    total.resources.extend(r.resources);
                    for (f, n) in r.finalizers {
                        *total.finalizers.entry(f).or_default() += n;
                    }
                    total.errors.extend(r.errors);
                }
                Err(e) => total.errors.push(e.message),
            }
        }
        total
    }

    /// Deletes the objects of one resource in the namespace.
    async fn delete_resource_content(
        &self,
        info: &'static ResourceInfo,
        namespace: &str,
        deleted_at: jiff::Timestamp,
    ) -> Result<Remaining, ApiError> {
        let mut out = Remaining::default();
        let listed = self.client.list(info, Some(namespace), "").await?;
        let items = listed["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            return Ok(out);
        }
        // The namespace controller deletes generically: dependents go in the background.
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
        for item in items.iter().filter(|i| i.deletion_timestamp().is_none()) {
            let Some(name) = item.name() else { continue };
            match self.client.delete(info, Some(namespace), name, &options).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => out.errors.push(e.message),
            }
        }
        let listed = self.client.list(info, Some(namespace), "").await?;
        let left = listed["items"].as_array().cloned().unwrap_or_default();
        if left.is_empty() {
            return Ok(out);
        }
        out.resources
            .insert(format!("{}.{}", info.plural, info.group), left.len());
        for item in &left {
            for f in item.finalizers() {
                *out.finalizers.entry(f).or_default() += 1;
            }
        }
        out.estimate = if info.plural == "pods" {
            grace_estimate(&left, deleted_at, jiff::Timestamp::now())
        } else {
            0
        };
        if out.estimate == 0 {
            if out.finalizers.is_empty() {
                out.errors.push(format!(
                    "unexpected items still remain in namespace: {namespace} for gvr: {}/{}, Resource={}",
                    info.group, info.version, info.plural
                ));
            } else {
                out.estimate = FINALIZER_ESTIMATE_SECONDS;
            }
        }
        Ok(out)
    }

    /// Writes the deletion conditions when they changed; returns the namespace as stored.
    async fn update_conditions(&self, ns: Value, remaining: &Remaining) -> Value {
        let mut updated = ns.clone();
        let now = now_rfc3339();
        if !merge_conditions(&mut updated, &deletion_conditions(remaining, &now), &now) {
            return ns;
        }
        match self
            .client
            .update_status(resource("", "namespaces"), None, &updated)
            .await
        {
            Ok(stored) => stored,
            Err(e) => {
                // The conditions are informational; the next pass writes them again.
                tracing::debug!(namespace = ns.name().unwrap_or(""), error = %e, "namespace conditions not updated");
                ns
            }
        }
    }

    /// Removes this controller's finalizer from `spec.finalizers`.
    async fn finalize(&self, ns: Value) -> anyhow::Result<()> {
        let finalizers = spec_finalizers(&ns);
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(());
        }
        let mut rest: Vec<String> = finalizers.into_iter().filter(|f| f != FINALIZER).collect();
        rest.sort();
        rest.dedup();
        let mut body = ns;
        body["spec"]["finalizers"] = json!(rest);
        match self
            .client
            .update_subresource(resource("", "namespaces"), None, &body, "finalize")
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e).context("finalizing the namespace"),
        }
    }
}

/// `spec.finalizers` of a namespace.
fn spec_finalizers(ns: &Value) -> Vec<String> {
    ns["spec"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Seconds until the remaining pods should have terminated, counted from
/// when the namespace was deleted (0 once that time has passed).
fn grace_estimate(pods: &[Value], deleted_at: jiff::Timestamp, now: jiff::Timestamp) -> i64 {
    let estimate = pods
        .iter()
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded") | Some("Failed")))
        .map(|p| {
            p["metadata"]["deletionGracePeriodSeconds"]
                .as_i64()
                .or_else(|| p["spec"]["terminationGracePeriodSeconds"].as_i64())
                .unwrap_or(30)
        })
        .max()
        .unwrap_or(0);
    let elapsed = now.duration_since(deleted_at).as_secs();
    if elapsed >= estimate {
        0
    } else {
        estimate
    }
}

/// The condition types the namespace controller maintains, in Kubernetes' order,
/// with the reason and message of their "all is well" state.
const CONDITION_TYPES: &[(&str, &str, &str)] = &[
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
];

fn condition(kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": status, "lastTransitionTime": now, "reason": reason, "message": message})
}

/// The conditions a deletion pass leads to (failures and remainders as `True`).
fn deletion_conditions(remaining: &Remaining, now: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (kind, ok_reason, ok_message) in CONDITION_TYPES {
        let c = match *kind {
            "NamespaceDeletionContentFailure" if !remaining.errors.is_empty() => {
                let mut msgs = remaining.errors.clone();
                msgs.sort();
                let message = format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    msgs.len(),
                    msgs.join(", ")
                );
                condition(kind, "True", "ContentDeletionFailed", &message, now)
            }
            "NamespaceContentRemaining" if !remaining.resources.is_empty() => {
                let mut parts: Vec<String> = remaining
                    .resources
                    .iter()
                    .map(|(r, n)| format!("{r} has {n} resource instances"))
                    .collect();
                parts.sort();
                let message = format!("Some resources are remaining: {}", parts.join(", "));
                condition(kind, "True", "SomeResourcesRemain", &message, now)
            }
            "NamespaceFinalizersRemaining" if !remaining.finalizers.is_empty() => {
                let mut parts: Vec<String> = remaining
                    .finalizers
                    .iter()
                    .map(|(f, n)| format!("{f} in {n} resource instances"))
                    .collect();
                parts.sort();
                let message = format!("Some finalizers are remaining: {}", parts.join(", "));
                condition(kind, "True", "SomeFinalizerRemain", &message, now)
            }
            _ => condition(kind, "False", ok_reason, ok_message, now),
        };
        out.push(c);
    }
    out
}

/// Merges new conditions into `status.conditions`; `lastTransitionTime` moves
/// only when a condition's status flips. Returns whether anything changed.
fn merge_conditions(ns: &mut Value, new: &[Value], now: &str) -> bool {
    let mut conditions = ns["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let mut changed = false;
    for c in new {
        match conditions.iter_mut().find(|old| old["type"] == c["type"]) {
            None => {
                conditions.push(c.clone());
                changed = true;
            }
            Some(old) => {
                let differs = ["status", "reason", "message"].iter().any(|f| old[*f] != c[*f]);
                if differs {
                    if old["status"] != c["status"] {
                        old["lastTransitionTime"] = json!(now);
                    }
                    for f in ["status", "reason", "message"] {
                        old[f] = c[f].clone();
                    }
                    changed = true;
                }
            }
        }
    }
    if changed {
        ns["status"]["conditions"] = Value::Array(conditions);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::{eventually, TestEnv};
    use k1s_proto::resources::find;

    fn remaining(resources: &[(&str, usize)], finalizers: &[(&str, usize)]) -> Remaining {
        Remaining {
            estimate: 0,
            resources: resources.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            finalizers: finalizers.iter().map(|(f, n)| (f.to_string(), *n)).collect(),
            errors: Vec::new(),
        }
    }

    fn find_condition<'a>(conditions: &'a [Value], kind: &str) -> &'a Value {
        conditions
            .iter()
            .find(|c| c["type"] == kind)
            .expect("condition present")
    }

    #[test]
    fn conditions_describe_what_remains() {
        let r = remaining(&[("pods.", 2), ("deployments.apps", 1)], &[("example.com/hold", 1)]);
        let cs = deletion_conditions(&r, "t0");
        assert_eq!(cs.len(), 5);
        let content = find_condition(&cs, "NamespaceContentRemaining");
        assert_eq!(content["status"], "True");
        assert_eq!(content["reason"], "SomeResourcesRemain");
        assert_eq!(
            content["message"],
            "Some resources are remaining: deployments.apps has 1 resource instances, pods. has 2 resource instances"
        );
        let fins = find_condition(&cs, "NamespaceFinalizersRemaining");
        assert_eq!(fins["reason"], "SomeFinalizerRemain");
        assert_eq!(
            fins["message"],
            "Some finalizers are remaining: example.com/hold in 1 resource instances"
        );
        let discovery = find_condition(&cs, "NamespaceDeletionDiscoveryFailure");
        assert_eq!(
            (discovery["status"].as_str(), discovery["reason"].as_str()),
            (Some("False"), Some("ResourcesDiscovered"))
        );

        let mut failed = remaining(&[], &[]);
        failed.errors = vec!["b failed".into(), "a failed".into()];
        let cs = deletion_conditions(&failed, "t0");
        assert_eq!(
            find_condition(&cs, "NamespaceDeletionContentFailure")["message"],
            "Failed to delete all resource types, 2 remaining: a failed, b failed"
        );
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut ns = json!({"status": {"phase": "Terminating"}});
        let busy = deletion_conditions(&remaining(&[("pods.", 1)], &[]), "t0");
        assert!(merge_conditions(&mut ns, &busy, "t0"));
        assert!(!merge_conditions(
            &mut ns,
            &deletion_conditions(&remaining(&[("pods.", 1)], &[]), "t1"),
            "t1"
        ));
        let fewer = deletion_conditions(&remaining(&[("pods.", 2)], &[]), "t2");
        assert!(merge_conditions(&mut ns, &fewer, "t2"));
        let cs = ns["status"]["conditions"].as_array().unwrap().clone();
        assert_eq!(
            find_condition(&cs, "NamespaceContentRemaining")["lastTransitionTime"],
            "t0"
        );
        let done = deletion_conditions(&remaining(&[], &[]), "t3");
        assert!(merge_conditions(&mut ns, &done, "t3"));
        let cs = ns["status"]["conditions"].as_array().unwrap().clone();
        let c = find_condition(&cs, "NamespaceContentRemaining");
        assert_eq!(
            (c["status"].as_str(), c["lastTransitionTime"].as_str()),
            (Some("False"), Some("t3"))
        );
        assert_eq!(c["message"], "All content successfully removed");
    }

    #[test]
    fn pod_grace_estimate_counts_from_the_namespace_deletion() {
        let t0: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let pods = vec![
            json!({"metadata": {"deletionGracePeriodSeconds": 20}, "spec": {}}),
            json!({"metadata": {}, "spec": {"terminationGracePeriodSeconds": 45}}),
            json!({"metadata": {}, "spec": {"terminationGracePeriodSeconds": 90}, "status": {"phase": "Succeeded"}}),
        ];
        let at = |secs: i64| t0 + jiff::SignedDuration::from_secs(secs);
        assert_eq!(grace_estimate(&pods, t0, at(10)), 45);
        assert_eq!(grace_estimate(&pods, t0, at(45)), 0);
        assert_eq!(grace_estimate(&[], t0, at(0)), 0);
    }

    #[tokio::test]
    async fn a_deleted_namespace_is_emptied_then_removed() {
        let env = TestEnv::new().await;
        let c = env.client();
        let (namespaces, cms) = (resource("", "namespaces"), resource("", "configmaps"));
        let deploys = find("apps", "v1", "deployments").unwrap();
        env.create_namespace("team").await;
        for n in ["a", "b"] {
            c.create(cms, Some("team"), &json!({"metadata": {"name": n}}))
                .await
                .unwrap();
        }
        let held = json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}});
        c.create(cms, Some("team"), &held).await.unwrap();
        let web = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
        c.create(deploys, Some("team"), &web).await.unwrap();
        c.create(cms, Some("default"), &json!({"metadata": {"name": "elsewhere"}}))
            .await
            .unwrap();
        let config = Config {
            workers: 1,
            max_recheck: Duration::from_millis(50),
            resync: Duration::from_secs(60),
        };
        env.keep(spawn(env.api.clone(), config, env.shutdown()));

        c.delete(namespaces, None, "team", &Value::Null).await.unwrap();
        let gone = |info: &'static ResourceInfo, name: &'static str| {
            let c = c.clone();
            async move { c.get(info, Some("team"), name).await.is_err_and(|e| e.is_not_found()) }
        };
        eventually("content deleted", || async {
            gone(cms, "a").await && gone(cms, "b").await && gone(deploys, "web").await
        })
        .await;
        eventually("conditions name what remains", || async {
            let ns = c.get(namespaces, None, "team").await.unwrap();
            let conditions = ns["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let message = |t: &str| conditions.iter().find(|c| c["type"] == t).map(|c| c["message"].clone());
            message("NamespaceContentRemaining")
                == Some(json!(
                    "Some resources are remaining: configmaps. has 1 resource instances"
                ))
                && message("NamespaceFinalizersRemaining")
                    == Some(json!(
                        "Some finalizers are remaining: example.com/hold in 1 resource instances"
                    ))
        })
        .await;
        let ns = c.get(namespaces, None, "team").await.unwrap();
        assert_eq!(ns["status"]["phase"], "Terminating");
        assert_eq!(
            ns["spec"]["finalizers"],
            json!(["kubernetes"]),
            "not finalized while content remains"
        );

        let release = json!({"metadata": {"finalizers": null}});
        c.patch(
            cms,
            Some("team"),
            "held",
            None,
            k1s_proto::patch::PatchType::Merge,
            &release,
        )
        .await
        .unwrap();
        eventually("namespace removed", || async {
            c.get(namespaces, None, "team").await.is_err_and(|e| e.is_not_found())
        })
        .await;
        assert!(c.get(cms, Some("default"), "elsewhere").await.is_ok());
    }
}
