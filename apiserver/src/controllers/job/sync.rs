//! One sync of one Job (`syncJob`, `manageJob`,
//! `trackJobStatusAndRemoveFinalizers` of kube-controller-manager v1.33),
//! given the pods it controls and the time: creates or deletes pods toward
//! `parallelism`/`completions`, counts finished pods exactly once through
//! `status.uncountedTerminatedPods` and the `batch.kubernetes.io/job-tracking`
//! finalizer, and sets the Job's conditions. Writes go through [`JobControl`],
//! so the logic runs against a fake in unit tests.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::ApiError;
use k8s_openapi::api::batch::v1::{
    Job, JobCondition, JobStatus, PodFailurePolicy, SuccessPolicy, UncountedTerminatedPods,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{json, Value};

use super::backoff::{finished_time, remaining_for_failures, BackoffRecord, BackoffStore};
use super::conditions::{self as cond, new_condition};
use super::failure_policy::{match_policy, Action};
use super::indexed::{self, completion_index, Intervals};
use super::{success_policy, INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT, TRACKING_FINALIZER};
use crate::controllers::expectations::{Expectations, UidExpectations};
use crate::controllers::pod_control::is_namespace_terminating;
use crate::controllers::podutil::{self, compare_active_pods, is_active, is_ready, pod_from_template};
use crate::controllers::slow_start::{slow_start_batch, INITIAL_BATCH_SIZE};
use crate::events::{EventRecorder, NORMAL, WARNING};

/// Most uids kept in `status.uncountedTerminatedPods` at once (`MaxUncountedPods`).
pub const MAX_UNCOUNTED_PODS: usize = 500;
/// Most pods created or deleted in one sync (`MaxPodCreateDeletePerSync`).
pub const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// The least delay of a sync put off by back-off (`syncJobBatchPeriod`).
pub const SYNC_BATCH_PERIOD: Duration = Duration::from_secs(1);

/// The writes a Job sync makes.
pub trait JobControl: Send + Sync {
    /// Creates a pod for the Job `parent` (with the `SuccessfulCreate`/`FailedCreate` events).
    fn create_pod(&self, pod: &Value, parent: &Value) -> impl Future<Output = Result<Value, ApiError>> + Send;
    /// Deletes a pod of the Job `parent` (with the `SuccessfulDelete`/`FailedDelete`
    /// events); its finalizers keep it until removed.
    fn delete_pod(&self, name: &str, parent: &Value) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Removes the job-tracking finalizer from a pod.
    fn remove_tracking_finalizer(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Replaces the Job's status; returns the Job as stored.
    fn update_status(&self, job: &Job) -> impl Future<Output = Result<Job, ApiError>> + Send;
}

/// What a Job sync shares across syncs: the writer, the event recorder, the
/// expectations and the back-off records.
pub struct Syncer<C> {
    /// Where writes go.
    pub control: C,
    /// Events about Jobs.
    pub recorder: EventRecorder,
    /// Pod creations and deletions not yet seen, per Job key.
    pub expectations: Expectations,
    /// Finalizer removals not yet seen, per Job key.
    pub finalizers: UidExpectations,
    /// Pod-failure back-off per Job key.
    pub backoff: BackoffStore,
}

/// The spec values a sync reads.
struct Params {
    completions: Option<i32>,
    parallelism: i32,
    backoff_limit: i32,
    indexed: bool,
    backoff_limit_per_index: Option<i32>,
    max_failed_indexes: Option<i32>,
    suspended: bool,
    only_replace_failed: bool,
    restart_on_failure: bool,
    active_deadline: Option<i64>,
    failure_policy: Option<PodFailurePolicy>,
    success_policy: Option<SuccessPolicy>,
}

impl Params {
    fn of(job: &Job) -> Params {
        let spec = job.spec.clone().unwrap_or_default();
        Params {
            completions: spec.completions,
            parallelism: spec.parallelism.unwrap_or(1).max(0),
            backoff_limit: spec.backoff_limit.unwrap_or(6),
            indexed: spec.completion_mode.as_deref() == Some("Indexed"),
            backoff_limit_per_index: spec.backoff_limit_per_index,
            max_failed_indexes: spec.max_failed_indexes,
            suspended: spec.suspend == Some(true),
            only_replace_failed: spec.pod_replacement_policy.as_deref() == Some("Failed")
                || spec.pod_failure_policy.is_some(),
            restart_on_failure: spec.template.spec.as_ref().and_then(|s| s.restart_policy.as_deref())
                == Some("OnFailure"),
            active_deadline: spec.active_deadline_seconds,
            failure_policy: spec.pod_failure_policy,
            success_policy: spec.success_policy,
        }
    }

    /// `completions` as an index bound (Indexed Jobs always have it).
    fn completions_usize(&self) -> usize {
        self.completions.unwrap_or(0).max(0) as usize
    }

    fn valid_index(&self, pod: &Value) -> Option<usize> {
        completion_index(pod).filter(|ix| *ix < self.completions_usize())
    }
}

/// The state of one sync (`syncJobCtx`).
struct Ctx {
    key: String,
    job: Job,
    raw: Arc<Value>,
    job_ref: Value,
    p: Params,
    now: Timestamp,
    pods: Vec<Arc<Value>>,
    active_pods: Vec<Arc<Value>>,
    finished: Option<JobCondition>,
    succeeded: i32,
    failed: i32,
    prev_succeeded_ix: Intervals,
    succeeded_ix: Intervals,
    failed_ix: Option<Intervals>,
    new_backoff: BackoffRecord,
    expected_rm: HashSet<String>,
    uncounted_succeeded: HashSet<String>,
    uncounted_failed: HashSet<String>,
    delayed: HashMap<usize, Arc<Value>>,
    terminating: i32,
    ready: i32,
    requeue: Option<Duration>,
}

impl Ctx {
    fn status(&mut self) -> &mut JobStatus {
        self.job.status.get_or_insert_with(Default::default)
    }

    fn requeue_after(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }
}

fn uid(pod: &Value) -> &str {
    pod.uid().unwrap_or("")
}

/// A pod's `namespace/name`, as deletion expectations name children.
pub fn pod_key(pod: &Value) -> String {
    format!("{}/{}", pod.namespace().unwrap_or(""), pod.name().unwrap_or(""))
}

/// Whether the pod still carries the job-tracking finalizer.
pub fn has_tracking_finalizer(pod: &Value) -> bool {
    pod["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

/// Failed, or (unless only failed pods are replaced) being deleted without having succeeded.
fn is_pod_failed(pod: &Value, p: &Params) -> bool {
    match podutil::phase(pod) {
        "Failed" => true,
        _ if p.only_replace_failed => false,
        "Succeeded" => false,
        _ => pod.deletion_timestamp().is_some(),
    }
}

/// The reference events and owner references name.
fn job_reference(job: &Job) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job.metadata.name,
            "namespace": job.metadata.namespace,
            "uid": job.metadata.uid,
            "resourceVersion": job.metadata.resource_version,
        },
    })
}

fn count(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// `Some(n)` unless 0, as Go's `omitempty` writes int32 counters.
fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

impl<C: JobControl> Syncer<C> {
    /// A syncer over `control`.
    pub fn new(control: C, recorder: EventRecorder) -> Syncer<C> {
        Syncer {
            control,
            recorder,
            expectations: Expectations::default(),
            finalizers: UidExpectations::default(),
            backoff: BackoffStore::default(),
        }
    }

    /// Syncs the Job `raw` (key `ns/name`) with the pods it controls at `now`;
    /// returns when to look again.
    pub async fn sync(
        &self,
        key: &str,
        raw: Arc<Value>,
        pods: Vec<Arc<Value>>,
        now: Timestamp,
    ) -> anyhow::Result<Option<Duration>> {
        let job: Job = serde_json::from_value((*raw).clone()).context("decoding the Job")?;
        if cond::finished(&job).is_some() {
            self.backoff.remove(key);
            return Ok(None);
        }
        let job_ref = job_reference(&job);
        let mode = job.spec.as_ref().and_then(|s| s.completion_mode.as_deref());
        if !matches!(mode, None | Some("NonIndexed") | Some("Indexed")) {
            self.recorder.event(
                &job_ref,
                WARNING,
                "UnknownCompletionMode",
                "Skipped Job sync because completion mode is unknown",
            );
            return Ok(None);
        }
        let p = Params::of(&job);
        let uncounted = job
            .status
            .as_ref()
            .and_then(|s| s.uncounted_terminated_pods.clone())
            .unwrap_or_default();
        let satisfied = self.expectations.satisfied(key);
        let active_pods: Vec<Arc<Value>> = pods.iter().filter(|p| is_active(p)).cloned().collect();
        let mut ctx = Ctx {
            key: key.to_string(),
            ready: active_pods.iter().filter(|p| is_ready(p)).count() as i32,
            terminating: pods.iter().filter(|p| podutil::is_terminating_not_terminal(p)).count() as i32,
            expected_rm: self.finalizers.expected(key),
            uncounted_succeeded: uncounted.succeeded.clone().unwrap_or_default().into_iter().collect(),
            uncounted_failed: uncounted.failed.clone().unwrap_or_default().into_iter().collect(),
            job,
            raw,
            job_ref,
            p,
            now,
            pods,
            active_pods,
            finished: None,
            succeeded: 0,
            failed: 0,
            prev_succeeded_ix: Intervals::default(),
            succeeded_ix: Intervals::default(),
            failed_ix: None,
            new_backoff: BackoffRecord::default(),
            delayed: HashMap::new(),
            requeue: None,
        };
        ctx.status().uncounted_terminated_pods = Some(uncounted);
        let mut active = ctx.active_pods.len() as i32;
        let (new_succeeded, new_failed) = new_finished_pods(&ctx);
        let status = ctx.job.status.clone().unwrap_or_default();
        ctx.succeeded = count(status.succeeded) + new_succeeded.len() as i32 + ctx.uncounted_succeeded.len() as i32;
        let non_ignored = new_failed
            .iter()
            .filter(|p| match_policy(ctx.p.failure_policy.as_ref(), p).count_failed)
            .count();
        ctx.failed = count(status.failed) + non_ignored as i32 + ctx.uncounted_failed.len() as i32;

        // Set on first start, unless created suspended.
        if status.start_time.is_none() && !ctx.p.suspended {
            ctx.status().start_time = Some(Time(now));
        }
        let succeeded_refs: Vec<&Value> = new_succeeded.iter().map(|p| p.as_ref()).collect();
        let failed_refs: Vec<&Value> = new_failed.iter().map(|p| p.as_ref()).collect();
        ctx.new_backoff = self.backoff.get(key).next(&succeeded_refs, &failed_refs);

        self.decide_finished(&mut ctx);

        let mut suspend_changed = false;
        let mut manage_err = None;
        if ctx.finished.is_some() {
            let active_pods = ctx.active_pods.clone();
            let (deleted_ready, deleted, err) = self.delete_active_pods(&ctx, &active_pods).await;
            if deleted != active || !satisfied {
                // Pods or finalizers not yet seen may remain: not finished yet.
                ctx.finished = None;
            }
            active -= deleted;
            ctx.terminating += deleted;
            ctx.ready -= deleted_ready;
            manage_err = err;
        } else {
            let mut managed = false;
            if satisfied && ctx.job.metadata.deletion_timestamp.is_none() {
                let (a, err) = self.manage_job(&mut ctx).await;
                active = a;
                manage_err = err;
                managed = true;
            }
            let complete = match ctx.p.completions {
                None => ctx.succeeded > 0 && active == 0,
                Some(c) => ctx.succeeded >= c && active == 0,
            };
            if complete {
                ctx.finished = Some(new_condition(
                    cond::SUCCESS_CRITERIA_MET,
                    "True",
                    cond::COMPLETIONS_REACHED,
                    cond::COMPLETIONS_MESSAGE,
                    now,
                ));
            } else if managed {
                suspend_changed = self.update_suspended(&mut ctx);
            }
        }

        let status = ctx.job.status.clone().unwrap_or_default();
        let needs_update = suspend_changed
            || active != count(status.active)
            || Some(ctx.ready) != status.ready
            || Some(ctx.terminating) != status.terminating;
        let (ready, terminating) = (ctx.ready, ctx.terminating);
        let s = ctx.status();
        s.active = nonzero(active);
        s.ready = Some(ready);
        s.terminating = Some(terminating);
        self.track_status_and_remove_finalizers(&mut ctx, needs_update)
            .await
            .context("tracking status")?;
        if let Some(e) = manage_err {
            return Err(e);
        }
        Ok(ctx.requeue)
    }

    /// Whether (and how) the Job has reached its end: success criteria,
    /// failure policy, back-off limit, deadline, failed indexes, success policy.
    fn decide_finished(&self, ctx: &mut Ctx) {
        let now = ctx.now;
        ctx.finished = cond::find(&ctx.job, cond::SUCCESS_CRITERIA_MET)
            .filter(|c| c.status == "True")
            .cloned();
        if ctx.finished.is_none() {
            let target = cond::find(&ctx.job, cond::FAILURE_TARGET).filter(|c| c.status == "True");
            if let Some(target) = target {
                ctx.finished = Some(failed_from_target(target, now));
            } else if let Some(msg) = fail_job_message(&ctx.p, &ctx.pods) {
                ctx.finished = Some(new_condition(
                    cond::FAILURE_TARGET,
                    "True",
                    cond::POD_FAILURE_POLICY,
                    &msg,
                    now,
                ));
            }
        }
        if ctx.finished.is_none() {
            let start = ctx.job.status.as_ref().and_then(|s| s.start_time.clone());
            if ctx.failed > ctx.p.backoff_limit || past_backoff_limit_on_failure(&ctx.p, &ctx.pods) {
                ctx.finished = Some(failure_target(
                    cond::BACKOFF_LIMIT_EXCEEDED,
                    cond::BACKOFF_LIMIT_MESSAGE,
                    now,
                ));
            } else if past_active_deadline(&ctx.p, start.as_ref().map(|t| t.0), now) {
                ctx.finished = Some(failure_target(cond::DEADLINE_EXCEEDED, cond::DEADLINE_MESSAGE, now));
            } else if let (Some(ads), Some(start), false) = (ctx.p.active_deadline, start, ctx.p.suspended) {
                let elapsed = now.duration_since(start.0).as_secs_f64().max(0.0);
                let left = (ads as f64 - elapsed).max(0.0);
                ctx.requeue_after(Duration::from_secs_f64(left));
            }
        }
        if ctx.p.indexed {
            let completions = ctx.p.completions_usize();
            let completed = ctx
                .job
                .status
                .as_ref()
                .and_then(|s| s.completed_indexes.clone())
                .unwrap_or_default();
            ctx.prev_succeeded_ix = Intervals::parse(&completed, completions);
            let newly = ctx.pods.iter().filter_map(|pod| {
                (podutil::phase(pod) == "Succeeded" && has_tracking_finalizer(pod))
                    .then(|| ctx.p.valid_index(pod))
                    .flatten()
            });
            ctx.succeeded_ix = ctx.prev_succeeded_ix.with_indexes(newly.collect::<Vec<_>>());
            ctx.succeeded = ctx.succeeded_ix.total() as i32;
            if let Some(limit) = ctx.p.backoff_limit_per_index {
                let failed_ix = calculate_failed_indexes(ctx, limit);
                if ctx.finished.is_none() {
                    let total = failed_ix.total();
                    if ctx.p.max_failed_indexes.is_some_and(|m| total > m.max(0) as usize) {
                        ctx.finished = Some(failure_target(
                            cond::MAX_FAILED_INDEXES_EXCEEDED,
                            "Job has exceeded the specified maximal number of failed indexes",
                            now,
                        ));
                    } else if total > 0 && total + ctx.succeeded_ix.total() >= completions {
                        ctx.finished = Some(failure_target(cond::FAILED_INDEXES, "Job has failed indexes", now));
                    }
                }
                ctx.failed_ix = Some(failed_ix);
                ctx.delayed = pods_with_delayed_deletion_per_index(ctx);
            }
            if ctx.finished.is_none() {
                let matched = success_policy::matched(ctx.p.success_policy.as_ref(), completions, &ctx.succeeded_ix);
                if let Some(msg) = matched {
                    ctx.finished = Some(new_condition(
                        cond::SUCCESS_CRITERIA_MET,
                        "True",
                        cond::SUCCESS_POLICY,
                        &msg,
                        now,
                    ));
                }
            }
        }
    }

    /// The `Suspended` condition and its events; a resumed Job starts its clock again.
    fn update_suspended(&self, ctx: &mut Ctx) -> bool {
        let now = ctx.now;
        let suspended = ctx.p.suspended;
        let conditions = ctx.status().conditions.get_or_insert_with(Vec::new);
        let changed = if suspended {
            cond::ensure(
                conditions,
                cond::SUSPENDED,
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            )
        } else {
            cond::ensure(conditions, cond::SUSPENDED, "False", "JobResumed", "Job resumed", now)
        };
        if changed {
            if suspended {
                self.recorder.event(&ctx.job_ref, NORMAL, "Suspended", "Job suspended");
            } else {
                self.recorder.event(&ctx.job_ref, NORMAL, "Resumed", "Job resumed");
                ctx.status().start_time = Some(Time(now));
            }
        }
        if ctx.status().conditions.as_ref().is_some_and(Vec::is_empty) {
            ctx.status().conditions = None;
        }
        changed
    }

    /// Creates or deletes pods toward what the Job wants running; returns the
    /// active count afterwards and the first error (`manageJob`).
    async fn manage_job(&self, ctx: &mut Ctx) -> (i32, Option<anyhow::Error>) {
        let mut active = ctx.active_pods.len() as i32;
        if ctx.p.suspended {
            let to_delete = active_pods_for_removal(&ctx.p, &ctx.active_pods, ctx.active_pods.len());
            self.expectations
                .expect_deletions(&ctx.key, to_delete.iter().map(|p| pod_key(p)));
            let (removed_ready, removed, err) = self.delete_job_pods(ctx, &to_delete).await;
            ctx.terminating += removed;
            ctx.ready -= removed_ready;
            return (active - removed, err);
        }
        let want_active = match ctx.p.completions {
            None if ctx.succeeded > 0 => active,
            None => ctx.p.parallelism,
            Some(c) => (c - ctx.succeeded).min(ctx.p.parallelism).max(0),
        };
        let rm_at_least = (active - want_active).max(0) as usize;
        let mut to_delete = active_pods_for_removal(&ctx.p, &ctx.active_pods, rm_at_least);
        to_delete.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
        if !to_delete.is_empty() {
            self.expectations
                .expect_deletions(&ctx.key, to_delete.iter().map(|p| pod_key(p)));
            let (removed_ready, removed, err) = self.delete_job_pods(ctx, &to_delete).await;
            ctx.terminating += removed;
            ctx.ready -= removed_ready;
            // Deletion and creation never happen in the same sync.
            return (active - removed, err);
        }
        let terminating = if ctx.p.only_replace_failed { ctx.terminating } else { 0 };
        let diff = want_active - terminating - active;
        if diff <= 0 {
            return (active, None);
        }
        if ctx.p.backoff_limit_per_index.is_none() {
            let remaining = ctx.new_backoff.remaining(ctx.now);
            if !remaining.is_zero() {
                ctx.requeue_after(remaining.max(SYNC_BATCH_PERIOD));
                return (active, None);
            }
        }
        let mut diff = (diff as usize).min(MAX_POD_CREATE_DELETE_PER_SYNC);
        let mut indexes: Vec<Option<usize>> = vec![None; diff];
        if ctx.p.indexed {
            let mut pending = first_pending_indexes(ctx, diff);
            if ctx.p.backoff_limit_per_index.is_some() {
                let (now_ixs, wait) = creatable_indexes(ctx, pending);
                if !wait.is_zero() {
                    ctx.requeue_after(wait.max(SYNC_BATCH_PERIOD));
                    return (active, None);
                }
                pending = now_ixs;
            }
            diff = pending.len();
            indexes = pending.into_iter().map(Some).collect();
        }
        if diff == 0 {
            return (active, None);
        }
        self.expectations.expect_creations(&ctx.key, diff);
        active += diff as i32;
        let mut template = ctx.raw["spec"]["template"].clone();
        if ctx.p.indexed {
            indexed::add_completion_index_env(&mut template);
        }
        add_tracking_finalizer(&mut template);

        let mut queue = indexes.into_iter();
        let (created, err) = slow_start_batch(diff, INITIAL_BATCH_SIZE, || {
            let ix = queue.next().flatten();
            self.create_one(ctx, &template, ix)
        })
        .await;
        // Failed and skipped creates will never be seen: stop expecting them.
        for _ in created..diff {
            self.expectations.creation_observed(&ctx.key);
        }
        active -= (diff - created) as i32;
        (active, err)
    }

    /// Creates one pod (of index `ix`, if any).
    async fn create_one(&self, ctx: &Ctx, template: &Value, ix: Option<usize>) -> anyhow::Result<()> {
        let name = ctx.job.metadata.name.clone().unwrap_or_default();
        let mut template = template.clone();
        let prefix = match ix {
            Some(ix) => {
                indexed::index_template(&mut template, &name, ix);
                if ctx.p.backoff_limit_per_index.is_some() {
                    add_index_failure_counts(&mut template, &ctx.p, ctx.delayed.get(&ix).map(|p| p.as_ref()));
                }
                indexed::generate_name_with_index(&name, ix)
            }
            None => format!("{name}-"),
        };
        let pod = pod_from_template(&template, &ctx.job_ref, &prefix);
        match self.control.create_pod(&pod, &ctx.job_ref).await {
            Ok(_) => Ok(()),
            // The namespace is going away: the create is pointless, not an error.
            Err(e) if is_namespace_terminating(&e) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context(format!("creating a pod for Job {}", ctx.key))),
        }
    }

    /// Deletes one pod; a pod already gone is a `NotFound` error the callers ignore.
    async fn delete_one(&self, ctx: &Ctx, pod: &Value) -> Result<(), ApiError> {
        self.control.delete_pod(pod.name().unwrap_or(""), &ctx.job_ref).await
    }

    /// Deletes the active pods of a finished Job, keeping their finalizers
    /// (they are counted before they go); returns (ready deleted, deleted, error).
    async fn delete_active_pods(&self, ctx: &Ctx, pods: &[Arc<Value>]) -> (i32, i32, Option<anyhow::Error>) {
        let results = futures::future::join_all(pods.iter().map(|p| self.delete_one(ctx, p))).await;
        let mut deleted = 0;
        let mut deleted_ready = 0;
        let mut err = None;
        for (pod, r) in pods.iter().zip(results) {
            match r {
                Err(e) if !e.is_not_found() => {
                    err.get_or_insert_with(|| anyhow::Error::new(e).context("deleting an active pod"));
                }
                _ => {
                    deleted += 1;
                    if is_ready(pod) {
                        deleted_ready += 1;
                    }
                }
            }
        }
        (deleted_ready, deleted, err)
    }

    /// Deletes surplus pods of a running Job, finalizer first (they are not
    /// counted); returns (ready deleted, deleted, error) (`deleteJobPods`).
    async fn delete_job_pods(&self, ctx: &Ctx, pods: &[Arc<Value>]) -> (i32, i32, Option<anyhow::Error>) {
        let one = |pod: Arc<Value>| async move {
            if has_tracking_finalizer(&pod) {
                let (ns, name) = (pod.namespace().unwrap_or(""), pod.name().unwrap_or(""));
                self.control.remove_tracking_finalizer(ns, name).await?;
            }
            self.delete_one(ctx, &pod).await
        };
        let results = futures::future::join_all(pods.iter().cloned().map(one)).await;
        let mut deleted = 0;
        let mut deleted_ready = 0;
        let mut err = None;
        for (pod, r) in pods.iter().zip(results) {
            match r {
                Ok(()) => {
                    deleted += 1;
                    if is_ready(pod) {
                        deleted_ready += 1;
                    }
                }
                Err(e) => {
                    self.expectations.deletion_observed(&ctx.key, &pod_key(pod));
                    if e.is_not_found() {
                        deleted += 1;
                    } else {
                        err.get_or_insert_with(|| anyhow::Error::new(e).context("deleting a pod"));
                    }
                }
            }
        }
        (deleted_ready, deleted, err)
    }

    /// Counts finished pods into `status.uncountedTerminatedPods`, writes it,
    /// removes their finalizers, moves them into `succeeded`/`failed`, and
    /// sets the terminal condition once nothing is left to count or stop
    /// (`trackJobStatusAndRemoveFinalizers`).
    async fn track_status_and_remove_finalizers(&self, ctx: &mut Ctx, mut needs_flush: bool) -> anyhow::Result<()> {
        if ctx.p.indexed {
            ctx.pods.sort_by(|a, b| indexed::by_completion_index(a, b));
        }
        let mut with_finalizer: HashSet<String> = ctx
            .pods
            .iter()
            .filter(|p| has_tracking_finalizer(p) && !ctx.expected_rm.contains(uid(p)))
            .map(|p| uid(p).to_string())
            .collect();
        if clean_uncounted(ctx.status(), &with_finalizer) {
            needs_flush = true;
        }
        let mut to_remove: Vec<Arc<Value>> = Vec::new();
        let mut new_succeeded_ix: Vec<usize> = Vec::new();
        let mut reached_max = false;
        let finished_is_failure = ctx
            .finished
            .as_ref()
            .is_some_and(|c| !(c.type_ == cond::SUCCESS_CRITERIA_MET && c.status == "True"));
        let pods = ctx.pods.clone();
        for pod in &pods {
            let pod_uid = uid(pod).to_string();
            if !has_tracking_finalizer(pod) || ctx.expected_rm.contains(&pod_uid) {
                continue;
            }
            let considered_failed = is_pod_failed(pod, &ctx.p);
            if !can_remove_finalizer(ctx, pod, considered_failed) {
                continue;
            }
            to_remove.push(pod.clone());
            if podutil::phase(pod) == "Succeeded" && !ctx.uncounted_failed.contains(&pod_uid) {
                if ctx.p.indexed {
                    if let Some(ix) = ctx.p.valid_index(pod).filter(|ix| !ctx.prev_succeeded_ix.has(*ix)) {
                        new_succeeded_ix.push(ix);
                        needs_flush = true;
                    }
                } else if !ctx.uncounted_succeeded.contains(&pod_uid) {
                    needs_flush = true;
                    uncounted_list(ctx.status(), true).push(pod_uid.clone());
                }
            } else if considered_failed || finished_is_failure {
                // Once the Job has failed, every pod that did not succeed counts as failed.
                let countable = !ctx.p.indexed || ctx.p.valid_index(pod).is_some();
                if !ctx.uncounted_failed.contains(&pod_uid)
                    && countable
                    && match_policy(ctx.p.failure_policy.as_ref(), pod).count_failed
                {
                    needs_flush = true;
                    uncounted_list(ctx.status(), false).push(pod_uid.clone());
                }
            }
            let uncounted = ctx
                .job
                .status
                .as_ref()
                .and_then(|s| s.uncounted_terminated_pods.as_ref())
                .map_or(0, |u| {
                    u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len)
                });
            if new_succeeded_ix.len() + uncounted >= MAX_UNCOUNTED_PODS {
                // Bound the status size; the status update brings the Job back.
                reached_max = true;
                break;
            }
        }
        if ctx.p.indexed {
            ctx.succeeded_ix = ctx.succeeded_ix.with_indexes(new_succeeded_ix);
            let completed = ctx.succeeded_ix.to_string();
            let total = ctx.succeeded_ix.total() as i32;
            let failed_ix = ctx.failed_ix.as_ref().map(ToString::to_string);
            let s = ctx.status();
            if completed != s.completed_indexes.clone().unwrap_or_default() {
                needs_flush = true;
            }
            s.succeeded = nonzero(total);
            s.completed_indexes = (!completed.is_empty()).then_some(completed);
            if s.failed_indexes != failed_ix {
                s.failed_indexes = failed_ix;
                needs_flush = true;
            }
        }
        if let Some(target) = ctx.finished.clone().filter(|c| c.type_ == cond::FAILURE_TARGET) {
            // Record why the Job fails before its pods are released.
            ctx.status()
                .conditions
                .get_or_insert_with(Vec::new)
                .push(target.clone());
            needs_flush = true;
            ctx.finished = Some(failed_from_target(&target, ctx.now));
        }
        if let Some(met) = ctx
            .finished
            .clone()
            .filter(|c| c.type_ == cond::SUCCESS_CRITERIA_MET && c.status == "True")
        {
            if !cond::is_true(&ctx.job, cond::SUCCESS_CRITERIA_MET) {
                ctx.status().conditions.get_or_insert_with(Vec::new).push(met.clone());
                needs_flush = true;
            }
            ctx.finished = Some(new_condition(
                cond::COMPLETE,
                "True",
                met.reason.as_deref().unwrap_or(""),
                met.message.as_deref().unwrap_or(""),
                ctx.now,
            ));
        }
        needs_flush = self
            .flush_and_remove_finalizers(ctx, &to_remove, &mut with_finalizer, needs_flush)
            .await?;
        let finished = !reached_max && enact_finished(ctx);
        if finished || needs_flush {
            ctx.job = self
                .control
                .update_status(&ctx.job)
                .await
                .context("removing uncounted pods from status")?;
            if finished {
                self.record_finished(ctx);
            }
        }
        Ok(())
    }

    /// Writes newly uncounted pods, strips finalizers, and moves the pods
    /// whose finalizer is gone into the counters; returns whether the status
    /// still has unwritten changes (`flushUncountedAndRemoveFinalizers`).
    async fn flush_and_remove_finalizers(
        &self,
        ctx: &mut Ctx,
        to_remove: &[Arc<Value>],
        with_finalizer: &mut HashSet<String>,
        mut needs_flush: bool,
    ) -> anyhow::Result<bool> {
        if needs_flush {
            ctx.job = self
                .control
                .update_status(&ctx.job)
                .await
                .context("adding uncounted pods to status")?;
            self.backoff.set(&ctx.key, ctx.new_backoff);
            needs_flush = false;
        }
        let mut rm_err: Option<anyhow::Error> = None;
        if !to_remove.is_empty() {
            self.finalizers
                .expect_removed(&ctx.key, to_remove.iter().map(|p| uid(p)));
            let removals = to_remove.iter().map(|pod| async move {
                let r = self
                    .control
                    .remove_tracking_finalizer(pod.namespace().unwrap_or(""), pod.name().unwrap_or(""))
                    .await;
                (pod, r)
            });
            for (pod, r) in futures::future::join_all(removals).await {
                match r {
                    Ok(()) => {
                        with_finalizer.remove(uid(pod));
                    }
                    Err(e) => {
                        // No update for this pod will come: stop waiting for one.
                        self.finalizers.observed(&ctx.key, uid(pod));
                        if e.is_not_found() {
                            with_finalizer.remove(uid(pod));
                        } else {
                            rm_err.get_or_insert_with(|| anyhow::Error::new(e).context("removing tracking finalizer"));
                        }
                    }
                }
            }
        }
        if clean_uncounted(ctx.status(), with_finalizer) {
            needs_flush = true;
        }
        if let Some(e) = rm_err {
            if needs_flush {
                ctx.job = self
                    .control
                    .update_status(&ctx.job)
                    .await
                    .context("removing uncounted pods from status")?;
            }
            return Err(e);
        }
        Ok(needs_flush)
    }

    /// The events of a finished Job (`recordJobFinished`).
    fn record_finished(&self, ctx: &Ctx) {
        let Some(finished) = &ctx.finished else {
            return;
        };
        let job_ref = job_reference(&ctx.job);
        if finished.type_ == cond::COMPLETE {
            let succeeded = ctx.job.status.as_ref().map_or(0, |s| count(s.succeeded));
            if ctx.p.completions.is_some_and(|c| succeeded > c) {
                self.recorder.event(
                    &job_ref,
                    WARNING,
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                );
            }
            self.recorder.event(&job_ref, NORMAL, "Completed", "Job completed");
        } else {
            self.recorder.event(
                &job_ref,
                WARNING,
                finished.reason.as_deref().unwrap_or(""),
                finished.message.clone().unwrap_or_default(),
            );
        }
    }
}

/// The interim `FailureTarget` condition.
fn failure_target(reason: &str, message: &str, now: Timestamp) -> JobCondition {
    new_condition(cond::FAILURE_TARGET, "True", reason, message, now)
}

/// The terminal `Failed` condition carrying a `FailureTarget`'s reason and message.
fn failed_from_target(target: &JobCondition, now: Timestamp) -> JobCondition {
    new_condition(
        cond::FAILED,
        "True",
        target.reason.as_deref().unwrap_or(""),
        target.message.as_deref().unwrap_or(""),
        now,
    )
}

/// Adds the terminal condition (and `completionTime`) once no pod is left
/// uncounted or terminating; returns whether it did (`enactJobFinished`).
fn enact_finished(ctx: &mut Ctx) -> bool {
    let Some(finished) = ctx.finished.clone() else {
        return false;
    };
    let uncounted = ctx
        .job
        .status
        .as_ref()
        .and_then(|s| s.uncounted_terminated_pods.as_ref())
        .is_some_and(|u| {
            u.succeeded.as_ref().is_some_and(|v| !v.is_empty()) || u.failed.as_ref().is_some_and(|v| !v.is_empty())
        });
    if uncounted || ctx.terminating > 0 {
        return false;
    }
    let now = ctx.now;
    let s = ctx.status();
    cond::ensure(
        s.conditions.get_or_insert_with(Vec::new),
        &finished.type_,
        &finished.status,
        finished.reason.as_deref().unwrap_or(""),
        finished.message.as_deref().unwrap_or(""),
        now,
    );
    if finished.type_ == cond::COMPLETE {
        s.completion_time = finished.last_transition_time.clone();
    }
    true
}

/// The list of newly finished uids (succeeded or failed) in the status.
fn uncounted_list(status: &mut JobStatus, succeeded: bool) -> &mut Vec<String> {
    let u = status.uncounted_terminated_pods.get_or_insert_with(Default::default);
    if succeeded {
        u.succeeded.get_or_insert_with(Vec::new)
    } else {
        u.failed.get_or_insert_with(Vec::new)
    }
}

/// Moves uncounted uids whose pods no longer carry the finalizer into the
/// counters; returns whether anything moved (`cleanUncountedPodsWithoutFinalizers`).
fn clean_uncounted(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let mut changed = false;
    let u: &mut UncountedTerminatedPods = status.uncounted_terminated_pods.get_or_insert_with(Default::default);
    let mut moved_succeeded = 0;
    let mut moved_failed = 0;
    for (list, moved) in [
        (&mut u.succeeded, &mut moved_succeeded),
        (&mut u.failed, &mut moved_failed),
    ] {
        if let Some(uids) = list.as_mut() {
            let before = uids.len();
            uids.retain(|uid| with_finalizer.contains(uid));
            *moved = (before - uids.len()) as i32;
            if uids.is_empty() {
                *list = None;
            }
        }
    }
    if moved_succeeded > 0 {
        status.succeeded = nonzero(count(status.succeeded) + moved_succeeded);
        changed = true;
    }
    if moved_failed > 0 {
        status.failed = nonzero(count(status.failed) + moved_failed);
        changed = true;
    }
    changed
}

/// Pods not yet counted that just succeeded and just failed (`getNewFinishedPods`).
fn new_finished_pods(ctx: &Ctx) -> (Vec<Arc<Value>>, Vec<Arc<Value>>) {
    let countable = |pod: &&Arc<Value>, uncounted: &HashSet<String>| {
        has_tracking_finalizer(pod)
            && !uncounted.contains(uid(pod))
            && !ctx.expected_rm.contains(uid(pod))
            && (!ctx.p.indexed || ctx.p.valid_index(pod).is_some())
    };
    let succeeded = ctx
        .pods
        .iter()
        .filter(|p| countable(p, &ctx.uncounted_succeeded) && podutil::phase(p) == "Succeeded")
        .cloned()
        .collect();
    let failed = ctx
        .pods
        .iter()
        .filter(|p| countable(p, &ctx.uncounted_failed) && is_pod_failed(p, &ctx.p))
        .cloned()
        .collect();
    (succeeded, failed)
}

/// Whether the finalizer of a pod may go now (`canRemoveFinalizer`).
fn can_remove_finalizer(ctx: &Ctx, pod: &Value, considered_failed: bool) -> bool {
    if ctx.job.metadata.deletion_timestamp.is_some() || ctx.finished.is_some() || podutil::phase(pod) == "Succeeded" {
        return true;
    }
    if !considered_failed {
        return false;
    }
    if ctx.p.backoff_limit_per_index.is_some() {
        if let Some(ix) = completion_index(pod) {
            // Kept until its replacement exists, which inherits its failure count.
            if ctx.delayed.get(&ix).is_some_and(|d| uid(d) == uid(pod)) {
                return false;
            }
        }
    }
    true
}

/// The `FailJob` message of the first failed pod a rule fails the Job for.
fn fail_job_message(p: &Params, pods: &[Arc<Value>]) -> Option<String> {
    let policy = p.failure_policy.as_ref()?;
    pods.iter()
        .filter(|pod| is_pod_failed(pod, p))
        .find_map(|pod| match_policy(Some(policy), pod).fail_job_message)
}

/// With `restartPolicy: OnFailure`, whether container restarts of running
/// or pending pods reached `backoffLimit` (`pastBackoffLimitOnFailure`).
fn past_backoff_limit_on_failure(p: &Params, pods: &[Arc<Value>]) -> bool {
    if !p.restart_on_failure {
        return false;
    }
    let restarts: i64 = pods
        .iter()
        .filter(|pod| matches!(podutil::phase(pod), "Running" | "Pending"))
        .flat_map(|pod| {
            ["initContainerStatuses", "containerStatuses"]
                .into_iter()
                .flat_map(move |l| pod["status"][l].as_array().cloned().unwrap_or_default())
        })
        .filter_map(|s| s["restartCount"].as_i64())
        .sum();
    if p.backoff_limit == 0 {
        restarts > 0
    } else {
        restarts >= i64::from(p.backoff_limit)
    }
}

/// Whether the Job has run (unsuspended) for `activeDeadlineSeconds`.
fn past_active_deadline(p: &Params, start: Option<Timestamp>, now: Timestamp) -> bool {
    match (p.active_deadline, start) {
        (Some(ads), Some(start)) if !p.suspended => now.duration_since(start).as_secs() >= ads,
        _ => false,
    }
}

/// Active pods to remove: invalid or duplicated indexes, then the least
/// advanced pods until `rm_at_least` (`activePodsForRemoval`).
fn active_pods_for_removal(p: &Params, pods: &[Arc<Value>], rm_at_least: usize) -> Vec<Arc<Value>> {
    let (mut rm, mut left) = if p.indexed {
        indexed::split_duplicated_indexes(pods, p.completions_usize())
    } else {
        (Vec::new(), pods.to_vec())
    };
    if rm.len() < rm_at_least {
        left.sort_by(|a, b| compare_active_pods(a, b));
        let more = rm_at_least - rm.len();
        rm.extend(left.into_iter().take(more));
    }
    rm
}

/// Indexes to create pods for: not succeeded, failed, running or (when only
/// failed pods are replaced) still terminating (`firstPendingIndexes`).
fn first_pending_indexes(ctx: &Ctx, count: usize) -> Vec<usize> {
    let mut non_pending = ctx.succeeded_ix.with_indexes(indexed::indexes_of(&ctx.active_pods));
    if ctx.p.only_replace_failed {
        let terminating = ctx.pods.iter().filter(|p| podutil::is_terminating_not_terminal(p));
        non_pending = non_pending.with_indexes(indexed::indexes_of(terminating));
    }
    if let Some(failed) = &ctx.failed_ix {
        non_pending = non_pending.merge(failed);
    }
    indexed::first_pending_indexes(&non_pending, count, ctx.p.completions_usize())
}

/// Of `indexes`, those whose own back-off has passed, or (when none has) how
/// long until the first one's does (`getPodCreationInfoForIndependentIndexes`).
fn creatable_indexes(ctx: &Ctx, indexes: Vec<usize>) -> (Vec<usize>, Duration) {
    let mut now_ixs = Vec::new();
    let mut min_wait: Option<Duration> = None;
    for ix in indexes {
        let wait = match ctx.delayed.get(&ix) {
            None => Duration::ZERO,
            Some(last) => remaining_for_failures(
                indexed::index_absolute_failure_count(last).saturating_add(1),
                finished_time(last),
                ctx.now,
            ),
        };
        if wait.is_zero() {
            now_ixs.push(ix);
        } else {
            min_wait = Some(min_wait.map_or(wait, |m| m.min(wait)));
        }
    }
    if now_ixs.is_empty() {
        (now_ixs, min_wait.unwrap_or(Duration::ZERO))
    } else {
        (now_ixs, Duration::ZERO)
    }
}

/// Indexes that failed for good: from `status.failedIndexes` and from pods
/// whose index used up `backoffLimitPerIndex` or matched a `FailIndex` rule.
fn calculate_failed_indexes(ctx: &Ctx, limit: i32) -> Intervals {
    let completions = ctx.p.completions_usize();
    let prev = ctx
        .job
        .status
        .as_ref()
        .and_then(|s| s.failed_indexes.clone())
        .map(|s| Intervals::parse(&s, completions))
        .unwrap_or_default();
    let newly: Vec<usize> = ctx
        .pods
        .iter()
        .filter(|pod| has_tracking_finalizer(pod) && is_index_failed(&ctx.p, pod, limit))
        .filter_map(|pod| ctx.p.valid_index(pod))
        .collect();
    prev.with_indexes(newly)
}

/// Whether a failed pod fails its index (`isIndexFailed`).
fn is_index_failed(p: &Params, pod: &Value, limit: i32) -> bool {
    if !is_pod_failed(pod, p) {
        return false;
    }
    let m = match_policy(p.failure_policy.as_ref(), pod);
    if m.action == Some(Action::FailIndex) {
        return true;
    }
    m.count_failed && indexed::index_failure_count(pod) >= limit
}

/// Per index not succeeded, failed or running, the latest failed pod, kept
/// until its replacement carries its failure count (`getPodsWithDelayedDeletionPerIndex`).
fn pods_with_delayed_deletion_per_index(ctx: &Ctx) -> HashMap<usize, Arc<Value>> {
    let active = indexed::indexes_of(&ctx.active_pods);
    let failed_ix = ctx.failed_ix.clone().unwrap_or_default();
    let mut out: HashMap<usize, Arc<Value>> = HashMap::new();
    for pod in &ctx.pods {
        if !has_tracking_finalizer(pod) || ctx.expected_rm.contains(uid(pod)) || !is_pod_failed(pod, &ctx.p) {
            continue;
        }
        let Some(ix) = ctx.p.valid_index(pod) else {
            continue;
        };
        if ctx.succeeded_ix.has(ix) || failed_ix.has(ix) || active.contains(&ix) {
            continue;
        }
        match out.get(&ix) {
            Some(last)
                if !(indexed::index_absolute_failure_count(last) <= indexed::index_absolute_failure_count(pod)
                    && finished_time(pod) >= finished_time(last)) => {}
            _ => {
                out.insert(ix, pod.clone());
            }
        }
    }
    out
}

/// The failure-count annotations of a pod replacing `replaced` in its index.
fn add_index_failure_counts(template: &mut Value, p: &Params, replaced: Option<&Value>) {
    let (mut failures, mut ignored) = (0, 0);
    if let Some(old) = replaced {
        failures = indexed::index_failure_count(old);
        ignored = indexed::index_absolute_failure_count(old) - failures;
        if match_policy(p.failure_policy.as_ref(), old).count_failed {
            failures += 1;
        } else {
            ignored += 1;
        }
    }
    let meta = &mut template["metadata"];
    if !meta["annotations"].is_object() {
        meta["annotations"] = json!({});
    }
    meta["annotations"][INDEX_FAILURE_COUNT] = json!(failures.to_string());
    if ignored > 0 {
        meta["annotations"][INDEX_IGNORED_FAILURE_COUNT] = json!(ignored.to_string());
    }
}

/// Adds the job-tracking finalizer to a pod template.
fn add_tracking_finalizer(template: &mut Value) {
    let meta = &mut template["metadata"];
    if !meta["finalizers"].is_array() {
        meta["finalizers"] = json!([]);
    }
    if let Some(list) = meta["finalizers"].as_array_mut() {
        if !list.iter().any(|f| f == TRACKING_FINALIZER) {
            list.push(json!(TRACKING_FINALIZER));
        }
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
