//! One sync of one CronJob (`sync`, `syncCronJob`, `cleanupFinishedJobs` of
//! kube-controller-manager v1.33's `cronjob_controllerv2.go`): prune finished
//! Jobs beyond the history limits, keep `status.active` in step with the
//! Jobs, start the activation that is due (by the concurrency policy), and
//! say when to look again. Writes go through [`CronJobControl`], so the logic
//! runs against a fake on a fake clock in unit tests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::ApiError;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{json, Value};

use super::schedule::{next_due, requeue_after, CronSchedule, Times};
use crate::controllers::controller_ref::owner_reference;
use crate::events::{EventRecorder, NORMAL, WARNING};

/// The annotation with the activation a Job was created for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The reads and writes of a CronJob sync.
pub trait CronJobControl: Send + Sync {
    /// Reads a Job from the API (not the cache).
    fn get_job(&self, namespace: &str, name: &str) -> impl Future<Output = Result<Value, ApiError>> + Send;
    /// Creates a Job.
    fn create_job(&self, namespace: &str, job: &Value) -> impl Future<Output = Result<Value, ApiError>> + Send;
    /// Deletes a Job and (in the background) its pods.
    fn delete_job(&self, namespace: &str, name: &str) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Reads the CronJob from the API.
    fn get_cronjob(&self, namespace: &str, name: &str) -> impl Future<Output = Result<CronJob, ApiError>> + Send;
    /// Replaces the CronJob's status.
    fn update_status(&self, cronjob: &CronJob) -> impl Future<Output = Result<CronJob, ApiError>> + Send;
}

/// The CronJob controller's writer and event recorder.
pub struct Syncer<C> {
    /// Where writes go.
    pub control: C,
    /// Events about CronJobs.
    pub recorder: EventRecorder,
}

/// The terminal condition type of a Job (`Complete` or `Failed`), if finished.
pub fn finished_type(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

/// The reference events and owner references name.
fn cronjob_reference(cj: &CronJob) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": cj.metadata.name,
            "namespace": cj.metadata.namespace,
            "uid": cj.metadata.uid,
            "resourceVersion": cj.metadata.resource_version,
        },
    })
}

fn uid(job: &Job) -> &str {
    job.metadata.uid.as_deref().unwrap_or("")
}

fn active(cj: &CronJob) -> &[ObjectReference] {
    cj.status.as_ref().and_then(|s| s.active.as_deref()).unwrap_or(&[])
}

fn in_active_list(cj: &CronJob, uid: &str) -> bool {
    active(cj).iter().any(|r| r.uid.as_deref() == Some(uid))
}

fn delete_from_active_list(cj: &mut CronJob, uid: &str) {
    let status = cj.status.get_or_insert_with(Default::default);
    if let Some(list) = status.active.as_mut() {
        list.retain(|r| r.uid.as_deref() != Some(uid));
        if list.is_empty() {
            status.active = None;
        }
    }
}

/// The name of the Job for an activation: the minutes since the epoch (`getJobName`).
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// The Job a CronJob creates for an activation (`getJobFromTemplate2`).
pub fn job_from_template(raw: &Value, cj: &CronJob, scheduled: Timestamp, tz: &jiff::tz::TimeZone) -> Value {
    let template = &raw["spec"]["jobTemplate"];
    let mut annotations = template["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let local = scheduled.to_zoned(tz.clone());
    annotations.insert(
        SCHEDULED_TIMESTAMP.into(),
        json!(local
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
            .replace("+00:00", "Z")),
    );
    let mut metadata = json!({
        "name": job_name(cj.metadata.name.as_deref().unwrap_or(""), scheduled),
        "annotations": annotations,
        "ownerReferences": [owner_reference(&cronjob_reference(cj))],
    });
    if let Some(labels) = template["metadata"]["labels"].as_object() {
        metadata["labels"] = json!(labels);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": template["spec"],
    })
}

/// An `ObjectReference` to a created Job (`getRef`).
fn job_ref(job: &Value) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.name().map(String::from),
        namespace: job.namespace().map(String::from),
        uid: job.uid().map(String::from),
        resource_version: job.resource_version().map(String::from),
        ..Default::default()
    }
}

/// Go's `time.RFC1123Z` in UTC: `Mon, 02 Jan 2006 15:04:05 +0000`.
fn rfc1123z(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

impl<C: CronJobControl> Syncer<C> {
    /// Syncs the CronJob `raw` with the Jobs it controls at `now`; returns
    /// when to look again (`None`: only when something changes).
    pub async fn sync(&self, raw: &Value, jobs: Vec<Arc<Value>>, now: Timestamp) -> anyhow::Result<Option<Duration>> {
        let mut cj: CronJob = serde_json::from_value(raw.clone()).context("decoding the CronJob")?;
        let jobs: Vec<Job> = jobs
            .iter()
            .filter_map(|j| serde_json::from_value((**j).clone()).ok())
            .collect();
        let cleaned = self.cleanup_finished_jobs(&mut cj, &jobs).await;
        let (requeue, updated, result) = self.sync_cronjob(&mut cj, raw, &jobs, now).await;
        if cleaned || updated {
            self.control
                .update_status(&cj)
                .await
                .context("updating the CronJob status")?;
        }
        match requeue {
            Some(r) => Ok(Some(r)),
            None => result.map(|_| None),
        }
    }

    /// Keeps `status.active` in step with the Jobs and starts the due
    /// activation; returns (requeue, whether the status changed, outcome).
    async fn sync_cronjob(
        &self,
        cj: &mut CronJob,
        raw: &Value,
        jobs: &[Job],
        now: Timestamp,
    ) -> (Option<Duration>, bool, anyhow::Result<()>) {
        let mut update = false;
        let ns = cj.metadata.namespace.clone().unwrap_or_default();
        let name = cj.metadata.name.clone().unwrap_or_default();
        for j in jobs {
            let found = in_active_list(cj, uid(j));
            let finished = finished_type(j);
            if !found && finished.is_none() {
                // Maybe our own status write has not reached the cache: ask the API.
                let fresh = match self.control.get_cronjob(&ns, &name).await {
                    Ok(f) => f,
                    Err(e) => return (None, update, Err(anyhow::Error::new(e).context("reading the CronJob"))),
                };
                if in_active_list(&fresh, uid(j)) {
                    *cj = fresh;
                    continue;
                }
                let msg = format!(
                    "Saw a job that the controller did not create or forgot: {}",
                    j.metadata.name.as_deref().unwrap_or("")
                );
                self.recorder
                    .event(&cronjob_reference(cj), WARNING, "UnexpectedJob", msg);
            } else if let (true, Some(status)) = (found, finished) {
                delete_from_active_list(cj, uid(j));
                let msg = format!(
                    "Saw completed job: {}, status: {status}",
                    j.metadata.name.as_deref().unwrap_or("")
                );
                self.recorder
                    .event(&cronjob_reference(cj), NORMAL, "SawCompletedJob", msg);
                update = true;
            } else if finished == Some("Complete") {
                // A Job need not be active for its success to count.
                let completed = j.status.as_ref().and_then(|s| s.completion_time.clone());
                let status = cj.status.get_or_insert_with(Default::default);
                if let Some(done) = completed {
                    if status.last_successful_time.as_ref().is_none_or(|last| done.0 > last.0) {
                        status.last_successful_time = Some(done);
                        update = true;
                    }
                }
            }
        }

        // Drop active references to Jobs that no longer exist.
        let children: Vec<&str> = jobs.iter().map(uid).collect();
        for r in active(cj).to_vec() {
            let r_uid = r.uid.as_deref().unwrap_or("");
            if children.contains(&r_uid) {
                continue;
            }
            let r_name = r.name.as_deref().unwrap_or("");
            match self
                .control
                .get_job(r.namespace.as_deref().unwrap_or(&ns), r_name)
                .await
            {
                Err(e) if e.is_not_found() => {
                    let msg = format!("Active job went missing: {r_name}");
                    self.recorder.event(&cronjob_reference(cj), NORMAL, "MissingJob", msg);
                    delete_from_active_list(cj, r_uid);
                    update = true;
                }
                Err(e) => {
                    return (
                        None,
                        update,
                        Err(anyhow::Error::new(e).context("reading an active Job")),
                    )
                }
                Ok(_) => {}
            }
        }

        if cj.metadata.deletion_timestamp.is_some() {
            return (None, update, Ok(()));
        }
        let spec = cj.spec.clone().unwrap_or_default();
        let me = cronjob_reference(cj);
        if let Some(tz) = spec.time_zone.as_deref() {
            if let Err(e) = jiff::tz::TimeZone::get(tz) {
                let msg = format!("invalid timeZone: {tz:?}: {e}");
                self.recorder.event(&me, WARNING, "UnknownTimeZone", msg);
                return (None, update, Ok(()));
            }
        }
        if spec.suspend == Some(true) {
            return (None, update, Ok(()));
        }
        if spec.schedule.contains("TZ") {
            let msg = format!(
                "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                spec.schedule
            );
            self.recorder.event(&me, WARNING, "UnsupportedSchedule", msg);
        }
        let zone = if spec.schedule.contains("TZ") {
            None
        } else {
            spec.time_zone.as_deref()
        };
        let schedule = match CronSchedule::parse(&spec.schedule, zone) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("unparseable schedule: {:?} : {e}", spec.schedule);
                self.recorder.event(&me, WARNING, "UnparseableSchedule", msg);
                return (None, update, Ok(()));
            }
        };
        let times = Times {
            created: cj.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(now),
            last_scheduled: cj
                .status
                .as_ref()
                .and_then(|s| s.last_schedule_time.as_ref())
                .map(|t| t.0),
            starting_deadline: spec.starting_deadline_seconds,
        };
        let (scheduled, too_many) = match next_due(&times, now, &schedule) {
            Ok(due) => due,
            Err(e) => {
                let msg = format!("invalid schedule: {} : {e}", spec.schedule);
                self.recorder.event(&me, WARNING, "InvalidSchedule", msg);
                return (None, update, Ok(()));
            }
        };
        if too_many {
            self.recorder.event(
                &me,
                WARNING,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            );
        }
        let requeue = Some(requeue_after(&times, now, &schedule));
        let Some(scheduled) = scheduled else {
            // Nothing due: sync at the next activation.
            return (requeue, update, Ok(()));
        };
        let deadline = spec.starting_deadline_seconds;
        if deadline.is_some_and(|d| scheduled + jiff::SignedDuration::from_secs(d) < now) {
            let msg = format!("Missed scheduled time to start a job: {}", rfc1123z(scheduled));
            self.recorder.event(&me, WARNING, "MissSchedule", msg);
            return (requeue, update, Ok(()));
        }
        let wanted = job_name(&name, scheduled);
        let already = active(cj).iter().any(|r| r.name.as_deref() == Some(wanted.as_str()))
            || cj
                .status
                .as_ref()
                .and_then(|s| s.last_schedule_time.as_ref())
                .map(|t| t.0)
                == Some(scheduled);
        if already {
            return (requeue, update, Ok(()));
        }
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        if policy == "Forbid" && !active(cj).is_empty() {
            self.recorder.event(
                &me,
                NORMAL,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            );
            return (requeue, update, Ok(()));
        }
        if policy == "Replace" {
            for r in active(cj).to_vec() {
                let r_name = r.name.clone().unwrap_or_default();
                let r_ns = r.namespace.clone().unwrap_or_else(|| ns.clone());
                let job = match self.control.get_job(&r_ns, &r_name).await {
                    Ok(j) => j,
                    Err(e) => {
                        self.recorder
                            .event(&me, WARNING, "FailedGet", format!("Get job: {}", e.message));
                        return (
                            None,
                            update,
                            Err(anyhow::Error::new(e).context("reading the Job to replace")),
                        );
                    }
                };
                if !self.delete_job(cj, &job).await {
                    return (
                        None,
                        update,
                        Err(anyhow::anyhow!("could not replace job {r_ns}/{r_name}")),
                    );
                }
                update = true;
            }
        }

        // The annotation is in `timeZone`, or UTC (Go's `time.LoadLocation("")`).
        let zone = spec
            .time_zone
            .as_deref()
            .and_then(|z| jiff::tz::TimeZone::get(z).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let request = job_from_template(raw, cj, scheduled, &zone);
        let created = match self.control.create_job(&ns, &request).await {
            Ok(job) => {
                let msg = format!("Created job {}", job.name().unwrap_or(""));
                self.recorder.event(&me, NORMAL, "SuccessfulCreate", msg);
                job
            }
            Err(e) if e.causes.iter().any(|c| c.reason == "NamespaceTerminating") => {
                return (None, update, Err(anyhow::Error::new(e).context("creating the Job")));
            }
            Err(e) if e.is_already_exists() => {
                // Created before, but the status write was lost? Then record it now.
                let job = match self.control.get_job(&ns, &wanted).await {
                    Ok(j) => j,
                    Err(e) => {
                        return (
                            None,
                            update,
                            Err(anyhow::Error::new(e).context("reading the existing Job")),
                        )
                    }
                };
                let ours =
                    crate::controllers::controller_ref::controller_uid(&job).as_deref() == cj.metadata.uid.as_deref();
                if !ours || in_active_list(cj, job.uid().unwrap_or("")) {
                    return (None, update, Ok(()));
                }
                job
            }
            Err(e) => {
                let msg = format!("Error creating job: {}", e.message);
                self.recorder.event(&me, WARNING, "FailedCreate", msg);
                return (None, update, Err(anyhow::Error::new(e).context("creating the Job")));
            }
        };
        let status = cj.status.get_or_insert_with(Default::default);
        status.active.get_or_insert_with(Vec::new).push(job_ref(&created));
        status.last_schedule_time = Some(Time(scheduled));
        (requeue, true, Ok(()))
    }

    /// Deletes finished Jobs beyond the history limits, oldest first; returns
    /// whether the status changed (`cleanupFinishedJobs`).
    async fn cleanup_finished_jobs(&self, cj: &mut CronJob, jobs: &[Job]) -> bool {
        let spec = cj.spec.clone().unwrap_or_default();
        if spec.successful_jobs_history_limit.is_none() && spec.failed_jobs_history_limit.is_none() {
            return false;
        }
        let mut succeeded: Vec<&Job> = jobs.iter().filter(|j| finished_type(j) == Some("Complete")).collect();
        let mut failed: Vec<&Job> = jobs.iter().filter(|j| finished_type(j) == Some("Failed")).collect();
        let mut update = false;
        if let Some(limit) = spec.successful_jobs_history_limit {
            update |= self.remove_oldest(cj, &mut succeeded, limit).await;
        }
        if let Some(limit) = spec.failed_jobs_history_limit {
            update |= self.remove_oldest(cj, &mut failed, limit).await;
        }
        update
    }

    async fn remove_oldest(&self, cj: &mut CronJob, jobs: &mut [&Job], limit: i32) -> bool {
        let excess = jobs.len() as i64 - i64::from(limit);
        if excess <= 0 {
            return false;
        }
        jobs.sort_by(|a, b| by_start_time(a, b));
        let mut update = false;
        for job in jobs.iter().take(excess as usize) {
            let value = json!({"metadata": {"name": job.metadata.name, "namespace": job.metadata.namespace, "uid": job.metadata.uid}});
            if self.delete_job(cj, &value).await {
                update = true;
            }
        }
        update
    }

    /// Deletes a Job and drops it from `status.active` (`deleteJob`).
    async fn delete_job(&self, cj: &mut CronJob, job: &Value) -> bool {
        let me = cronjob_reference(cj);
        let name = job.name().unwrap_or("");
        match self.control.delete_job(job.namespace().unwrap_or(""), name).await {
            Ok(()) => {
                delete_from_active_list(cj, job.uid().unwrap_or(""));
                self.recorder
                    .event(&me, NORMAL, "SuccessfulDelete", format!("Deleted job {name}"));
                true
            }
            Err(e) => {
                self.recorder
                    .event(&me, WARNING, "FailedDelete", format!("Deleted job: {}", e.message));
                false
            }
        }
    }
}

/// Jobs by start time (unstarted last), then name (`byJobStartTime`).
fn by_start_time(a: &Job, b: &Job) -> std::cmp::Ordering {
    let start = |j: &Job| j.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
    match (start(a), start(b)) {
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (sa, sb) if sa == sb => a.metadata.name.cmp(&b.metadata.name),
        (sa, sb) => sa.cmp(&sb),
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
