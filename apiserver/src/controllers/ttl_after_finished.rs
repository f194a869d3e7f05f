//! The TTL-after-finished controller (`ttl-after-finished-controller`):
//! deletes a finished Job (with its pods, in the foreground) once
//! `ttlSecondsAfterFinished` has passed since its `Complete` or `Failed`
//! condition turned true.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use k1s_proto::meta::{parse_time, ObjectMeta};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use super::resource;
use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;

/// The controller's name (its client identity and log name).
pub const NAME: &str = "ttl-after-finished-controller";

/// When the Job finished (its terminal condition's transition), if it has.
pub fn finish_time(job: &Value) -> Option<Timestamp> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(parse_time)
}

/// How long until a finished Job with a TTL expires at `now` (zero or less:
/// expired); `None` when it has no TTL or has not finished (`timeLeft`).
pub fn time_left(job: &Value, now: Timestamp) -> Option<jiff::SignedDuration> {
    let ttl = job["spec"]["ttlSecondsAfterFinished"].as_i64()?;
    let finished = finish_time(job)?;
    let expires = finished + jiff::SignedDuration::from_secs(ttl);
    Some(expires.duration_since(now))
}

/// Starts the controller.
pub fn spawn(api: Arc<Api>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let q = queue.clone();
    let jobs = Informer::new(client.clone(), resource("batch", "jobs")).on_change(move |change| {
        if let Change::Applied { new, .. } = change {
            if new.deletion_timestamp().is_none() && time_left(new, Timestamp::now()).is_some() {
                if let (Some(ns), Some(name)) = (new.namespace(), new.name()) {
                    q.add(format!("{ns}/{name}"));
                }
            }
        }
    });
    let reconciler = Arc::new(TtlAfterFinished {
        client,
        jobs: jobs.cache(),
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![jobs])
        .workers(1);
    tokio::spawn(controller.run(shutdown))
}

struct TtlAfterFinished {
    client: Client,
    jobs: Cache,
}

/// Whether a Job still waits for its TTL (`Some(wait)`) or has expired (`None`).
fn pending(job: &Value, now: Timestamp) -> Option<Option<Duration>> {
    if job.deletion_timestamp().is_some() {
        return None;
    }
    let left = time_left(job, now)?;
    if left.is_positive() {
        Some(Some(left.unsigned_abs()))
    } else {
        Some(None)
    }
}

impl Reconciler for TtlAfterFinished {
    type Key = String;

    async fn reconcile(&self, key: &String) -> anyhow::Result<Action> {
        let (ns, name) = key.split_once('/').context("a Job key is namespace/name")?;
        let Some(job) = self.jobs.get(Some(ns), name) else {
            return Ok(Action::Done);
        };
        match pending(&job, Timestamp::now()) {
            None => return Ok(Action::Done),
            Some(Some(wait)) => return Ok(Action::RequeueAfter(wait)),
            Some(None) => {}
        }
        // The cache may be stale (a changed TTL): look again at the Job as stored.
        let jobs = resource("batch", "jobs");
        let fresh = match self.client.get(jobs, Some(ns), name).await {
            Ok(j) => j,
            Err(e) if e.is_not_found() => return Ok(Action::Done),
            Err(e) => return Err(e).context("reading the Job"),
        };
        match pending(&fresh, Timestamp::now()) {
            None => return Ok(Action::Done),
            Some(Some(wait)) => return Ok(Action::RequeueAfter(wait)),
            Some(None) => {}
        }
        info!(job = %key, "cleaning up a Job whose TTL has expired");
        let options = json!({"propagationPolicy": "Foreground", "preconditions": {"uid": fresh.uid()}});
        match self.client.delete(jobs, Some(ns), name, &options).await {
            Ok(_) => Ok(Action::Done),
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(Action::Done),
            Err(e) => Err(e).context("deleting the expired Job"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::{eventually, TestEnv};

    fn finished_job(ttl: Option<i64>, at: &str, type_: &str) -> Value {
        let mut j = json!({"metadata": {"name": "j", "namespace": "default"}, "spec": {},
            "status": {"conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": type_, "status": "True", "lastTransitionTime": at}]}});
        if let Some(ttl) = ttl {
            j["spec"]["ttlSecondsAfterFinished"] = json!(ttl);
        }
        j
    }

    #[test]
    fn time_left_counts_from_the_terminal_condition() {
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let j = finished_job(Some(100), "2026-01-01T00:00:30Z", "Complete");
        assert_eq!(time_left(&j, now), Some(jiff::SignedDuration::from_secs(70)));
        assert_eq!(pending(&j, now), Some(Some(Duration::from_secs(70))));
        let failed = finished_job(Some(0), "2026-01-01T00:00:30Z", "Failed");
        assert_eq!(pending(&failed, now), Some(None), "expired");
        assert_eq!(
            time_left(&finished_job(None, "2026-01-01T00:00:30Z", "Complete"), now),
            None
        );
        let running = finished_job(Some(5), "2026-01-01T00:00:30Z", "FailureTarget");
        assert_eq!(time_left(&running, now), None, "not finished yet");
    }

    #[tokio::test]
    async fn expired_jobs_are_deleted_in_the_foreground() {
        let env = TestEnv::new().await;
        let c = env.client();
        let jobs = resource("batch", "jobs");
        let job = |name: &str, ttl: i64| {
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                "spec": {"ttlSecondsAfterFinished": ttl, "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
        };
        for (name, ttl) in [("short", 0), ("long", 3600)] {
            let mut created = c.create(jobs, Some("default"), &job(name, ttl)).await.unwrap();
            let now = k1s_proto::meta::now_rfc3339();
            created["status"] = json!({"startTime": now, "completionTime": now, "succeeded": 1, "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
                {"type": "Complete", "status": "True", "lastTransitionTime": now, "lastProbeTime": now}]});
            c.update_status(jobs, Some("default"), &created).await.unwrap();
        }
        env.keep(spawn(env.api.clone(), env.shutdown()));
        eventually("the expired Job deleted", || async {
            match c.get(jobs, Some("default"), "short").await {
                Ok(j) => j["metadata"]["finalizers"] == json!(["foregroundDeletion"]),
                Err(e) => e.is_not_found(),
            }
        })
        .await;
        let long = c.get(jobs, Some("default"), "long").await.unwrap();
        assert!(long["metadata"]["deletionTimestamp"].is_null());
    }
}
