//! The CronJob controller (kube-controller-manager's `cronjob-controller`,
//! the v2 controller): creates a Job named `<cronjob>-<minutes since the
//! epoch>` for each activation of `spec.schedule`, honours the concurrency
//! policy, suspension, starting deadline and history limits, and keeps
//! `status.active`, `lastScheduleTime` and `lastSuccessfulTime`. Each CronJob
//! is requeued for just after its next activation.

pub mod schedule;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use k1s_proto::meta::{parse_time, ObjectMeta};
use k1s_proto::ApiError;
use k8s_openapi::api::batch::v1::CronJob;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::controller_ref::controller_of;
use super::pod_owner;
use super::resource;
use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;
use crate::events::{EventRecorder, EventSource, WARNING};
use schedule::{requeue_after, CronSchedule, Times};
use sync::{CronJobControl, Syncer};

/// The controller's name (its client identity, event source and log name).
pub const NAME: &str = "cronjob-controller";

/// Starts the CronJob controller.
pub fn spawn(api: Arc<Api>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let recorder = EventRecorder::spawn(client.clone(), EventSource::controller(NAME));
    let cronjobs = Informer::new(client.clone(), resource("batch", "cronjobs"));
    let cronjob_cache = cronjobs.cache();
    let (q, r) = (queue.clone(), recorder.clone());
    let cronjobs = cronjobs.on_change(move |change| cronjob_changed(&q, &r, change));
    let (q, c) = (queue.clone(), cronjob_cache.clone());
    let jobs = Informer::new(client.clone(), resource("batch", "jobs")).on_change(move |change| {
        let (old, new) = match change {
            Change::Applied { old, new } => (old.as_deref(), new.as_ref()),
            Change::Deleted(job) => (None, job.as_ref()),
        };
        if old.is_some_and(|o| o.resource_version() == new.resource_version()) {
            return;
        }
        for job in old.into_iter().chain([new]) {
            if let Some(key) = owning_cronjob(&c, job) {
                q.add(key);
            }
        }
    });
    let reconciler = Arc::new(CronJobReconciler {
        syncer: Syncer {
            control: ApiControl { client },
            recorder,
        },
        cronjobs: cronjob_cache,
        jobs: jobs.cache(),
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![cronjobs, jobs])
        .workers(5);
    tokio::spawn(controller.run(shutdown))
}

fn key_of(obj: &Value) -> Option<String> {
    Some(format!("{}/{}", obj.namespace()?, obj.name()?))
}

/// The key of the CronJob controlling `job`, if it exists with that uid.
fn owning_cronjob(cronjobs: &Cache, job: &Value) -> Option<String> {
    let owner = controller_of(job)?;
    pod_owner::resolve(cronjobs, "CronJob", job.namespace(), &owner).and_then(|cj| key_of(&cj))
}

/// Queues a CronJob: now, or (its schedule changed) for its next activation (`updateCronJob`).
fn cronjob_changed(queue: &WorkQueue<String>, recorder: &EventRecorder, change: &Change) {
    let (old, new) = match change {
        Change::Applied { old, new } => (old.as_deref(), new.as_ref()),
        Change::Deleted(cj) => (None, cj.as_ref()),
    };
    let Some(key) = key_of(new) else {
        return;
    };
    let Some(old) = old else {
        queue.add(key);
        return;
    };
    let schedule_changed =
        old["spec"]["schedule"] != new["spec"]["schedule"] || old["spec"]["timeZone"] != new["spec"]["timeZone"];
    if !schedule_changed {
        queue.add(key);
        return;
    }
    let spec_schedule = new["spec"]["schedule"].as_str().unwrap_or("");
    let zone = new["spec"]["timeZone"]
        .as_str()
        .filter(|_| !spec_schedule.contains("TZ"));
    match CronSchedule::parse(spec_schedule, zone) {
        Err(_) => recorder.event(
            new,
            WARNING,
            "UnParseableCronJobSchedule",
            format!("unparseable schedule for cronjob: {spec_schedule}"),
        ),
        Ok(schedule) => {
            let times = times_of(new);
            queue.add_after(key, requeue_after(&times, Timestamp::now(), &schedule));
        }
    }
}

/// The schedule-relevant times of a CronJob.
fn times_of(cj: &Value) -> Times {
    Times {
        created: cj["metadata"]["creationTimestamp"]
            .as_str()
            .and_then(parse_time)
            .unwrap_or_else(Timestamp::now),
        last_scheduled: cj["status"]["lastScheduleTime"].as_str().and_then(parse_time),
        starting_deadline: cj["spec"]["startingDeadlineSeconds"].as_i64(),
    }
}

/// The CronJob controller's reads and writes, through the API.
struct ApiControl {
    client: Client,
}

impl CronJobControl for ApiControl {
    async fn get_job(&self, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.client.get(resource("batch", "jobs"), Some(namespace), name).await
    }

    async fn create_job(&self, namespace: &str, job: &Value) -> Result<Value, ApiError> {
        self.client
            .create(resource("batch", "jobs"), Some(namespace), job)
            .await
    }

    async fn delete_job(&self, namespace: &str, name: &str) -> Result<(), ApiError> {
        let options = json!({"propagationPolicy": "Background"});
        self.client
            .delete(resource("batch", "jobs"), Some(namespace), name, &options)
            .await
            .map(|_| ())
    }

    async fn get_cronjob(&self, namespace: &str, name: &str) -> Result<CronJob, ApiError> {
        let v = self
            .client
            .get(resource("batch", "cronjobs"), Some(namespace), name)
            .await?;
        serde_json::from_value(v).map_err(ApiError::internal)
    }

    async fn update_status(&self, cronjob: &CronJob) -> Result<CronJob, ApiError> {
        let body = serde_json::to_value(cronjob).map_err(ApiError::internal)?;
        let stored = self
            .client
            .update_status(
                resource("batch", "cronjobs"),
                cronjob.metadata.namespace.as_deref(),
                &body,
            )
            .await?;
        serde_json::from_value(stored).map_err(ApiError::internal)
    }
}

struct CronJobReconciler {
    syncer: Syncer<ApiControl>,
    cronjobs: Cache,
    jobs: Cache,
}

impl Reconciler for CronJobReconciler {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (ns, name) = key.split_once('/').context("a CronJob key is namespace/name")?;
        let Some(cj) = self.cronjobs.get(Some(ns), name) else {
            return Ok(Action::Done);
        };
        // Every Job whose controller reference names this CronJob (`getJobsToBeReconciled`).
        let jobs: Vec<Arc<Value>> = self
            .jobs
            .list_in(ns)
            .into_iter()
            .filter(|j| controller_of(j).is_some_and(|r| r["name"].as_str() == Some(name)))
            .collect();
        let requeue = self
            .syncer
            .sync(&cj, jobs, Timestamp::now())
            .await
            .with_context(|| format!("syncing CronJob {key}"))?;
        Ok(match requeue {
            Some(after) => Action::RequeueAfter(after.max(Duration::from_millis(1))),
            None => Action::Done,
        })
    }
}

#[cfg(test)]
mod tests;
