//! The StatefulSet controller (kube-controller-manager's `statefulset`):
//! pods with stable names `<set>-<ordinal>`, `hostname`/`subdomain` and
//! per-ordinal PersistentVolumeClaims, created and removed in order
//! (`OrderedReady`) or all at once (`Parallel`), rolled to a new template
//! through ControllerRevisions (`RollingUpdate` with a partition, or
//! `OnDelete`), with the status `kubectl rollout status` reads.
//!
//! The decisions are in [`control::plan`] (pure); this file reads the caches,
//! keeps the revision history, runs the plan against the API with the events
//! Kubernetes records, and writes the status.

pub mod control;
pub mod utils;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::selector::LabelSelector;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::controller_ref::{self, controller_uid};
use super::history;
use super::pod_owner::{self, key_of};
use super::resource;
use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use super::slow_start::{slow_start_batch, INITIAL_BATCH_SIZE};
use crate::api::Api;
use crate::client::Client;
use crate::events::{self, EventRecorder, EventSource};
use control::{Revisions, Step};
use utils::{claim_owner_up_to_date, claims_for, identity_matches, ordinal, storage_matches};

/// The controller's name (its client identity, event source and log name).
pub const NAME: &str = "statefulset-controller";
/// The kind this controller owns pods as.
const KIND: &str = "StatefulSet";

/// Settings of the StatefulSet controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// StatefulSets synced at once (`--concurrent-statefulset-syncs`).
    pub workers: usize,
    /// How often every StatefulSet is looked at regardless.
    pub resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 5,
            resync: Duration::from_secs(300),
        }
    }
}

fn sets() -> &'static k1s_proto::ResourceInfo {
    resource("apps", "statefulsets")
}

fn pods() -> &'static k1s_proto::ResourceInfo {
    resource("", "pods")
}

fn claims() -> &'static k1s_proto::ResourceInfo {
    resource("", "persistentvolumeclaims")
}

/// Starts the StatefulSet controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let q = queue.clone();
    let set_informer = Informer::new(client.clone(), sets()).on_change(move |change| {
        let set = match change {
            Change::Applied { new, .. } => new,
            Change::Deleted(old) => old,
        };
        q.add(key_of(set));
    });
    let set_cache = set_informer.cache();
    let (q, owners) = (queue.clone(), set_cache.clone());
    let pod_informer = Informer::new(client.clone(), pods()).on_change(move |change| {
        for key in pod_owner::keys_for_change(&owners, KIND, change) {
            q.add(key);
        }
    });
    let (q, owners) = (queue.clone(), set_cache.clone());
    let claim_informer = Informer::new(client.clone(), claims()).on_change(move |change| {
        // A claim going away may unblock a pod waiting for a stale claim.
        if let Change::Deleted(pvc) = change {
            for set in owners.list_in(pvc.namespace().unwrap_or("")) {
                if claim_of_set(&set, pvc) {
                    q.add(key_of(&set));
                }
            }
        }
    });
    let revision_informer = Informer::new(client.clone(), history::revisions());
    let reconciler = Arc::new(StatefulSets {
        events: EventRecorder::spawn(client.clone(), EventSource::controller(NAME)),
        client,
        sets: set_cache.clone(),
        pods: pod_informer.cache(),
        claims: claim_informer.cache(),
        revisions: revision_informer.cache(),
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![set_informer, pod_informer, claim_informer, revision_informer])
        .workers(config.workers)
        .resync(config.resync, move || {
            set_cache.list().iter().map(|s| key_of(s)).collect()
        });
    tokio::spawn(controller.run(shutdown))
}

/// Whether `pvc` is named as a claim of one of the set's ordinals.
fn claim_of_set(set: &Value, pvc: &Value) -> bool {
    let name = pvc.name().unwrap_or("");
    utils::claim_templates(set).iter().any(|t| {
        let prefix = format!("{}-{}-", t.name().unwrap_or(""), set.name().unwrap_or(""));
        name.strip_prefix(&prefix)
            .is_some_and(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
    })
}

struct StatefulSets {
    client: Client,
    events: EventRecorder,
    sets: Cache,
    pods: Cache,
    claims: Cache,
    revisions: Cache,
}

/// How a plan's execution ended early.
enum Stop {
    /// A pod of that name exists already (the pod cache lags): look again shortly.
    AlreadyExists,
    /// A write failed.
    Failed(anyhow::Error),
}

impl Reconciler for StatefulSets {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let Some(set) = self.sets.get(Some(namespace), name) else {
            return Ok(Action::Done);
        };
        let Ok(selector) = LabelSelector::from_json(&set["spec"]["selector"]) else {
            // Not retried: the set must be fixed.
            return Ok(Action::Done);
        };
        let mut revisions = self.adopt_revisions(&set, &selector).await?;
        let pods = self.claim_pods(&set, &selector).await?;
        history::sort(&mut revisions);
        let (current, update, collision_count) = self.revisions(&set, &revisions).await?;

        let current_set = history::apply(&set, &current, sets())?;
        let update_set = history::apply(&set, &update, sets())?;
        let rev = Revisions {
            current_set: &current_set,
            update_set: &update_set,
            current: current.name().unwrap_or(""),
            update: update.name().unwrap_or(""),
            collision_count,
        };
        let claims = &self.claims;
        let lookup = |n: &str| claims.get(Some(namespace), n);
        let now = jiff::Timestamp::now();
        let plan = control::plan(&set, &rev, &pods, &lookup, now);
        let outcome = self.execute(&set, &update_set, &plan).await;

        let mut status = plan.status.clone();
        status.complete_rolling_update(&set);
        if status.differs_from(&set["status"]) {
            let mut updated = (*set).clone();
            updated["status"] = status.to_json(&set["status"]);
            match self.client.update_status(sets(), Some(namespace), &updated).await {
                Ok(_) => {}
                // Our cached copy is older than the set: look again once the cache caught up.
                Err(e) if e.is_conflict() => return Ok(Action::RequeueAfter(Duration::from_millis(100))),
                Err(e) => return Err(e).with_context(|| format!("updating the status of StatefulSet {key}")),
            }
        }
        self.truncate_history(&set, &pods, &revisions, &current, &update)
            .await?;

        match outcome {
            Err(Stop::Failed(e)) => return Err(e),
            Err(Stop::AlreadyExists) => return Ok(Action::RequeueAfter(Duration::from_millis(200))),
            Ok(()) => {}
        }
        let min_ready = utils::min_ready_seconds(&set);
        if min_ready > 0 && status.counts.available != utils::replicas(&set) {
            return Ok(Action::RequeueAfter(Duration::from_secs(min_ready as u64)));
        }
        Ok(Action::Done)
    }
}

impl StatefulSets {
    /// `ListRevisions` + `AdoptOrphanRevisions`: the set's revisions (by
    /// selector), orphans adopted.
    async fn adopt_revisions(&self, set: &Value, selector: &LabelSelector) -> anyhow::Result<Vec<Arc<Value>>> {
        let mut owned = Vec::new();
        for r in self.revisions.list_in(set.namespace().unwrap_or("")) {
            if !selector.matches(r.labels()) {
                continue;
            }
            match controller_uid(&r) {
                Some(uid) if Some(uid.as_str()) == set.uid() => owned.push(r),
                Some(_) => {}
                None if set.deletion_timestamp().is_none() => {
                    if let Some(adopted) = controller_ref::adopt(&self.client, history::revisions(), set, &r).await? {
                        owned.push(Arc::new(adopted));
                    }
                }
                None => {}
            }
        }
        Ok(owned)
    }

    /// `getPodsForStatefulSet`: the set's pods — its name scheme and selector —
    /// orphans adopted, pods that stopped matching released.
    async fn claim_pods(&self, set: &Value, selector: &LabelSelector) -> anyhow::Result<Vec<Arc<Value>>> {
        let (members, others): (Vec<_>, Vec<_>) = self
            .pods
            .list_in(set.namespace().unwrap_or(""))
            .into_iter()
            .partition(|p| utils::is_member_of(set, p));
        for p in others {
            if controller_uid(&p).as_deref() == set.uid() && set.uid().is_some() {
                controller_ref::release(&self.client, pods(), set, &p).await?;
            }
        }
        controller_ref::claim(&self.client, pods(), set, selector, members)
            .await
            .with_context(|| format!("claiming pods for StatefulSet {}", key_of(set)))
    }

    /// `getStatefulSetRevisions`: the current and update revisions, the
    /// latter created (or an equal older one renumbered: a rollback) when the
    /// template changed; and the collision count used.
    async fn revisions(&self, set: &Value, sorted: &[Arc<Value>]) -> anyhow::Result<(Value, Value, i32)> {
        let mut collision_count = set["status"]["collisionCount"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(0);
        let mut wanted = history::new_revision(
            set,
            set["spec"]["template"]["metadata"]["labels"].as_object(),
            history::template_patch(set),
            history::next_number(sorted),
            Some(collision_count),
        );
        // The set's annotations travel with the revision (`kubernetes.io/change-cause`).
        let mut annotations = set.annotations().cloned().unwrap_or_default();
        annotations.extend(wanted.annotations().cloned().unwrap_or_default());
        if !annotations.is_empty() {
            wanted.set_meta("annotations", Value::Object(annotations));
        }
        let equal: Vec<&Arc<Value>> = sorted.iter().filter(|r| history::equal(r, &wanted)).collect();
        let update = match (equal.last(), sorted.last()) {
            (Some(eq), Some(last)) if history::equal(last, eq) => (**last).clone(),
            (Some(eq), _) => history::renumber(&self.client, eq, history::number(&wanted)).await?,
            (None, _) => history::create(&self.client, set, &wanted, &mut collision_count).await?,
        };
        let current_name = set["status"]["currentRevision"].as_str().unwrap_or("");
        let current = sorted
            .iter()
            .find(|r| !current_name.is_empty() && r.name() == Some(current_name))
            .map(|r| (**r).clone())
            .unwrap_or_else(|| update.clone());
        Ok((current, update, collision_count))
    }

    /// `truncateHistory`: deletes the oldest revisions no pod, nor the current
    /// or update revision, uses beyond `revisionHistoryLimit`.
    async fn truncate_history(
        &self,
        set: &Value,
        pods: &[Arc<Value>],
        sorted: &[Arc<Value>],
        current: &Value,
        update: &Value,
    ) -> anyhow::Result<()> {
        let mut live: std::collections::HashSet<&str> = pods.iter().map(|p| utils::pod_revision(p)).collect();
        live.extend(current.name());
        live.extend(update.name());
        let limit = set["spec"]["revisionHistoryLimit"].as_i64().unwrap_or(10);
        for r in history::to_truncate(sorted, &live, limit) {
            history::delete(&self.client, &r).await?;
        }
        Ok(())
    }

    /// Runs a plan: one step at a time for an ordered set, phases in
    /// slow-start batches for a parallel one; stops at the first failure.
    async fn execute(&self, set: &Value, update_set: &Value, plan: &control::Plan) -> Result<(), Stop> {
        for phase in &plan.phases {
            if plan.monotonic {
                for step in phase {
                    self.run(set, update_set, step).await?;
                }
                continue;
            }
            let next = std::sync::atomic::AtomicUsize::new(0);
            let (_, failed) = slow_start_batch(phase.len(), INITIAL_BATCH_SIZE, || {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    match phase.get(i) {
                        Some(step) => self.run(set, update_set, step).await,
                        None => Ok(()),
                    }
                }
            })
            .await;
            if let Some(stop) = failed {
                return Err(stop);
            }
        }
        Ok(())
    }

    async fn run(&self, set: &Value, update_set: &Value, step: &Step) -> Result<(), Stop> {
        match step {
            Step::CreatePod(pod) => self.create_pod(set, pod).await,
            Step::CreateMissingClaims(pod) => {
                self.create_claims(set, pod).await.map_err(Stop::Failed)?;
                self.claims_for_policy(set, pod)
                    .await
                    .map_err(|e| Stop::Failed(self.pod_failed("update", set, pod, &e)))
            }
            Step::UpdatePod(pod) => self.update_pod(update_set, pod).await.map_err(Stop::Failed),
            Step::FixClaims(pod) => self
                .claims_for_policy(update_set, pod)
                .await
                .map_err(|e| Stop::Failed(anyhow::anyhow!(e))),
            Step::DeletePod(pod) => self.delete_pod(set, pod).await.map_err(Stop::Failed),
        }
    }

    /// `recordPodEvent` for a success: `SuccessfulCreate` "create Pod web-0 in
    /// StatefulSet web successful" (and `SuccessfulUpdate`, `SuccessfulDelete`).
    fn pod_succeeded(&self, verb: &str, set: &Value, pod: &Value) {
        let (pod_name, set_name) = (pod.name().unwrap_or(""), set.name().unwrap_or(""));
        self.events.event(
            set,
            events::NORMAL,
            &format!("Successful{}", title_case(verb)),
            format!("{verb} Pod {pod_name} in StatefulSet {set_name} successful"),
        );
    }

    /// `recordPodEvent` for a failure: `FailedCreate` "create Pod web-0 in
    /// StatefulSet web failed error: …"; returns the error.
    fn pod_failed(&self, verb: &str, set: &Value, pod: &Value, err: &str) -> anyhow::Error {
        let (pod_name, set_name) = (pod.name().unwrap_or(""), set.name().unwrap_or(""));
        self.events.event(
            set,
            events::WARNING,
            &format!("Failed{}", title_case(verb)),
            format!("{verb} Pod {pod_name} in StatefulSet {set_name} failed error: {err}"),
        );
        anyhow::anyhow!("{verb} Pod {pod_name} in StatefulSet {set_name} failed: {err}")
    }

    /// `CreateStatefulPod`: claims first, then the pod, then the claims' owners.
    async fn create_pod(&self, set: &Value, pod: &Value) -> Result<(), Stop> {
        if let Err(e) = self.create_claims(set, pod).await {
            return Err(Stop::Failed(self.pod_failed("create", set, pod, &format!("{e:#}"))));
        }
        let created = match self.client.create(pods(), pod.namespace(), pod).await {
            Ok(created) => created,
            Err(e) if e.is_already_exists() => return Err(Stop::AlreadyExists),
            Err(e) => return Err(Stop::Failed(self.pod_failed("create", set, pod, &e.message))),
        };
        if let Err(e) = self.claims_for_policy(set, &created).await {
            return Err(Stop::Failed(self.pod_failed("update", set, pod, &e)));
        }
        self.pod_succeeded("create", set, pod);
        Ok(())
    }

    /// `createPersistentVolumeClaims`: creates the pod's missing claims
    /// ("create Claim www-web-0 Pod web-0 in StatefulSet web success").
    async fn create_claims(&self, set: &Value, pod: &Value) -> anyhow::Result<()> {
        let (pod_name, set_name) = (pod.name().unwrap_or(""), set.name().unwrap_or(""));
        let mut errors = Vec::new();
        for (_, claim) in claims_for(set, ordinal(pod)) {
            let claim_name = claim.name().unwrap_or("").to_string();
            match self.claims.get(set.namespace(), &claim_name) {
                Some(existing) => {
                    if existing.deletion_timestamp().is_some() {
                        errors.push(format!("pvc {claim_name} is being deleted"));
                    }
                }
                None => match self.client.create(claims(), set.namespace(), &claim).await {
                    Ok(_) => self.events.event(
                        set,
                        events::NORMAL,
                        "SuccessfulCreate",
                        format!("create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"),
                    ),
                    // Created already: the claim cache lags.
                    Err(e) if e.is_already_exists() => {}
                    Err(e) => {
                        self.events.event(
                            set,
                            events::WARNING,
                            "FailedCreate",
                            format!(
                                "create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {}",
                                e.message
                            ),
                        );
                        errors.push(format!("failed to create PVC {claim_name}: {}", e.message));
                    }
                },
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("{}", errors.join(", "))
        }
    }

    /// `UpdatePodClaimForRetentionPolicy`: gives the pod's existing claims the
    /// owner references the retention policy wants.
    async fn claims_for_policy(&self, set: &Value, pod: &Value) -> Result<(), String> {
        for (_, claim) in claims_for(set, ordinal(pod)) {
            let claim_name = claim.name().unwrap_or("");
            let Some(existing) = self.claims.get(set.namespace(), claim_name) else {
                continue;
            };
            if claim_owner_up_to_date(&existing, set, pod) {
                continue;
            }
            let updated = utils::update_claim_owner_refs(&existing, set, pod);
            if let Err(e) = self.client.update(claims(), set.namespace(), &updated).await {
                return Err(format!(
                    "could not update claim {claim_name} for delete policy ownerRefs: {}",
                    e.message
                ));
            }
        }
        Ok(())
    }

    /// `UpdateStatefulPod`: fixes identity, storage and claim owners; the
    /// update is an event ("update Pod web-0 in StatefulSet web successful").
    async fn update_pod(&self, set: &Value, pod: &Value) -> anyhow::Result<()> {
        let mut fixed = pod.clone();
        let mut consistent = true;
        if !identity_matches(set, &fixed) {
            utils::update_identity(set, &mut fixed);
            consistent = false;
        }
        if !storage_matches(set, &fixed) {
            utils::update_storage(set, &mut fixed);
            consistent = false;
        }
        let claims = &self.claims;
        let lookup = |n: &str| claims.get(set.namespace(), n);
        if !utils::claims_match_retention(set, &fixed, &lookup) {
            if let Err(e) = self.claims_for_policy(set, &fixed).await {
                return Err(self.pod_failed("update", set, &fixed, &e));
            }
            consistent = false;
        }
        if consistent {
            return Ok(());
        }
        match self.client.update(pods(), set.namespace(), &fixed).await {
            Ok(_) => {
                self.pod_succeeded("update", set, &fixed);
                Ok(())
            }
            Err(e) => Err(self.pod_failed("update", set, &fixed, &e.message)),
        }
    }

    /// `DeleteStatefulPod` ("delete Pod web-2 in StatefulSet web successful");
    /// a pod already gone is fine.
    async fn delete_pod(&self, set: &Value, pod: &Value) -> anyhow::Result<()> {
        match self
            .client
            .delete(pods(), set.namespace(), pod.name().unwrap_or(""), &Value::Null)
            .await
        {
            Ok(_) => {
                self.pod_succeeded("delete", set, pod);
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(self.pod_failed("delete", set, pod, &e.message)),
        }
    }
}

/// `strings.Title` of a one-word verb.
fn title_case(verb: &str) -> String {
    let mut c = verb.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
