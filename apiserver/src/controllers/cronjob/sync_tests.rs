//! CronJob sync on a fake clock against a fake API holding the CronJob and its Jobs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::events::Recorded;
use crate::registry::cronjob::CronJobStrategy;
use crate::registry::Strategy;

#[derive(Default)]
struct Fake {
    jobs: Mutex<BTreeMap<String, Value>>,
    cronjob: Mutex<Option<CronJob>>,
    counter: Mutex<u32>,
}

impl CronJobControl for &Fake {
    async fn get_job(&self, _ns: &str, name: &str) -> Result<Value, ApiError> {
        let info = k1s_proto::resources::find("batch", "v1", "jobs").unwrap();
        self.jobs
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(info, name))
    }

    async fn create_job(&self, ns: &str, job: &Value) -> Result<Value, ApiError> {
        let info = k1s_proto::resources::find("batch", "v1", "jobs").unwrap();
        let name = job["metadata"]["name"].as_str().unwrap().to_string();
        let mut jobs = self.jobs.lock().unwrap();
        if jobs.contains_key(&name) {
            return Err(ApiError::already_exists(info, &name));
        }
        let n = {
            let mut c = self.counter.lock().unwrap();
            *c += 1;
            *c
        };
        let mut job = job.clone();
        job["metadata"]["namespace"] = json!(ns);
        job["metadata"]["uid"] = json!(format!("job-uid-{n}"));
        job["metadata"]["resourceVersion"] = json!(n.to_string());
        jobs.insert(name, job.clone());
        Ok(job)
    }

    async fn delete_job(&self, _ns: &str, name: &str) -> Result<(), ApiError> {
        let info = k1s_proto::resources::find("batch", "v1", "jobs").unwrap();
        match self.jobs.lock().unwrap().remove(name) {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found(info, name)),
        }
    }

    async fn get_cronjob(&self, _ns: &str, _name: &str) -> Result<CronJob, ApiError> {
        Ok(self.cronjob.lock().unwrap().clone().unwrap())
    }

    async fn update_status(&self, cronjob: &CronJob) -> Result<CronJob, ApiError> {
        let mut cj = cronjob.clone();
        let rv: u64 = cj.metadata.resource_version.as_deref().unwrap_or("1").parse().unwrap();
        cj.metadata.resource_version = Some((rv + 1).to_string());
        *self.cronjob.lock().unwrap() = Some(cj.clone());
        Ok(cj)
    }
}

struct World {
    fake: &'static Fake,
    syncer: Syncer<&'static Fake>,
    now: Timestamp,
}

fn t(s: &str) -> Timestamp {
    format!("2026-03-01T{s}Z").parse().unwrap()
}

impl World {
    /// A CronJob created at 10:00:30 with `spec` over the defaults.
    fn new(spec: Value) -> World {
        let mut cj = json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "ns", "uid": "cj-uid", "resourceVersion": "1",
                "creationTimestamp": "2026-03-01T10:00:30Z"},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"metadata": {"labels": {"app": "tick"}},
                "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                    "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}}});
        for (k, v) in spec.as_object().unwrap() {
            cj["spec"][k] = v.clone();
        }
        CronJobStrategy.default(&mut cj);
        let fake: &'static Fake = Box::leak(Box::default());
        *fake.cronjob.lock().unwrap() = Some(serde_json::from_value(cj).unwrap());
        World {
            fake,
            syncer: Syncer {
                control: fake,
                recorder: EventRecorder::memory(),
            },
            now: t("10:00:30"),
        }
    }

    fn cronjob(&self) -> Value {
        serde_json::to_value(self.fake.cronjob.lock().unwrap().clone().unwrap()).unwrap()
    }

    /// Syncs at `at` (HH:MM:SS) with the Jobs the fake holds.
    async fn sync_at(&mut self, at: &str) -> Option<Duration> {
        self.now = t(at);
        let jobs = self.fake.jobs.lock().unwrap().values().cloned().map(Arc::new).collect();
        self.syncer.sync(&self.cronjob(), jobs, self.now).await.expect("sync")
    }

    fn job_names(&self) -> Vec<String> {
        self.fake.jobs.lock().unwrap().keys().cloned().collect()
    }

    fn active(&self) -> Vec<String> {
        self.cronjob()["status"]["active"]
            .as_array()
            .map(|a| a.iter().map(|r| r["name"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    /// The Job controller finished a Job (`Complete` or `Failed`) at `at`.
    fn finish(&self, name: &str, type_: &str, at: &str) {
        let at = format!("2026-03-01T{at}Z");
        let mut jobs = self.fake.jobs.lock().unwrap();
        let job = jobs.get_mut(name).unwrap();
        job["status"] = json!({"startTime": job["metadata"]["annotations"][SCHEDULED_TIMESTAMP],
            "conditions": [{"type": type_, "status": "True", "lastTransitionTime": at}]});
        if type_ == "Complete" {
            job["status"]["completionTime"] = json!(at);
        }
    }

    fn events(&self) -> Vec<Recorded> {
        self.syncer.recorder.recorded()
    }

    fn count(&self, reason: &str) -> usize {
        self.events().iter().filter(|e| e.reason == reason).count()
    }
}

/// The Job name for an activation at 2026-03-01T<at>Z.
fn name_at(at: &str) -> String {
    job_name("tick", t(at))
}

#[tokio::test]
async fn jobs_start_each_minute_and_history_is_pruned() {
    let mut w = World::new(json!({"successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 1}));
    let wait = w.sync_at("10:00:40").await;
    assert_eq!(wait, Some(Duration::from_millis(20_100)), "requeued for 10:01");
    assert!(w.job_names().is_empty());

    w.sync_at("10:01:00").await;
    let first = name_at("10:01:00");
    assert_eq!(first, format!("tick-{}", t("10:01:00").as_second() / 60));
    assert_eq!(w.job_names(), std::slice::from_ref(&first));
    let job = w.syncer.control.get_job("ns", &first).await.unwrap();
    assert_eq!(
        job["metadata"]["annotations"][SCHEDULED_TIMESTAMP],
        "2026-03-01T10:01:00Z"
    );
    assert_eq!(job["metadata"]["labels"], json!({"app": "tick"}));
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(job["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "OnFailure");
    let cj = w.cronjob();
    assert_eq!(w.active(), std::slice::from_ref(&first));
    assert_eq!(cj["status"]["active"][0]["kind"], "Job");
    assert_eq!(cj["status"]["lastScheduleTime"], "2026-03-01T10:01:00Z");
    let created = w.events().last().cloned().unwrap();
    assert_eq!(created.reason, "SuccessfulCreate");
    assert_eq!(created.message, format!("Created job {first}"));

    // Nothing new within the same minute.
    w.sync_at("10:01:20").await;
    assert_eq!(w.job_names().len(), 1);

    // Five activations: each Job completes before the next.
    for minute in 1..=5 {
        let at = format!("10:0{minute}:00");
        if minute > 1 {
            w.sync_at(&at).await;
        }
        w.finish(&name_at(&at), "Complete", &format!("10:0{minute}:30"));
        w.sync_at(&format!("10:0{minute}:40")).await;
        assert!(w.active().is_empty(), "{:?}", w.active());
    }
    // The last completion is recorded on the following sync, as Kubernetes does.
    w.sync_at("10:05:50").await;
    assert_eq!(w.cronjob()["status"]["lastSuccessfulTime"], "2026-03-01T10:05:30Z");
    assert_eq!(
        w.job_names(),
        [name_at("10:04:00"), name_at("10:05:00")],
        "only the newest two kept"
    );
    assert_eq!(w.count("SawCompletedJob"), 5);
    assert_eq!(w.count("SuccessfulDelete"), 3);
    let saw = w.events().into_iter().find(|e| e.reason == "SawCompletedJob").unwrap();
    assert_eq!(saw.message, format!("Saw completed job: {first}, status: Complete"));

    // Failed Jobs have their own limit.
    w.sync_at("10:06:00").await;
    w.finish(&name_at("10:06:00"), "Failed", "10:06:10");
    w.sync_at("10:06:20").await;
    w.sync_at("10:07:00").await;
    w.finish(&name_at("10:07:00"), "Failed", "10:07:10");
    w.sync_at("10:07:20").await;
    let names = w.job_names();
    assert!(
        !names.contains(&name_at("10:06:00")) && names.contains(&name_at("10:07:00")),
        "{names:?}"
    );
}

#[tokio::test]
async fn forbid_skips_while_a_job_runs() {
    let mut w = World::new(json!({"concurrencyPolicy": "Forbid"}));
    w.sync_at("10:01:00").await;
    w.sync_at("10:02:00").await;
    w.sync_at("10:03:00").await;
    assert_eq!(w.job_names(), [name_at("10:01:00")]);
    assert_eq!(w.count("JobAlreadyActive"), 2);
    let skipped = w.events().into_iter().find(|e| e.reason == "JobAlreadyActive").unwrap();
    assert_eq!(skipped.type_, "Normal");
    assert_eq!(
        skipped.message,
        "Not starting job because prior execution is running and concurrency policy is Forbid"
    );
    assert_eq!(w.cronjob()["status"]["lastScheduleTime"], "2026-03-01T10:01:00Z");
    // Once it finishes, the skipped 10:03 activation starts late (no startingDeadlineSeconds).
    w.finish(&name_at("10:01:00"), "Complete", "10:03:10");
    w.sync_at("10:03:20").await;
    assert_eq!(w.active(), [name_at("10:03:00")]);
}

#[tokio::test]
async fn replace_deletes_the_running_job() {
    let mut w = World::new(json!({"concurrencyPolicy": "Replace"}));
    w.sync_at("10:01:00").await;
    w.sync_at("10:02:00").await;
    assert_eq!(w.job_names(), [name_at("10:02:00")]);
    assert_eq!(w.active(), [name_at("10:02:00")]);
    let deleted = w.events().into_iter().find(|e| e.reason == "SuccessfulDelete").unwrap();
    assert_eq!(deleted.message, format!("Deleted job {}", name_at("10:01:00")));
}

#[tokio::test]
async fn allow_runs_jobs_side_by_side() {
    let mut w = World::new(json!({}));
    w.sync_at("10:01:00").await;
    w.sync_at("10:02:00").await;
    assert_eq!(w.active(), [name_at("10:01:00"), name_at("10:02:00")]);
}

#[tokio::test]
async fn suspended_cronjobs_start_nothing() {
    let mut w = World::new(json!({"suspend": true}));
    assert_eq!(w.sync_at("10:05:00").await, None, "no requeue while suspended");
    assert!(w.job_names().is_empty());
    // Resumed: only the latest missed activation runs.
    let mut cj = w.fake.cronjob.lock().unwrap().clone().unwrap();
    cj.spec.as_mut().unwrap().suspend = Some(false);
    *w.fake.cronjob.lock().unwrap() = Some(cj);
    w.sync_at("10:05:10").await;
    assert_eq!(w.job_names(), [name_at("10:05:00")]);
}

#[tokio::test]
async fn too_many_missed_activations_skip_to_the_latest() {
    let mut w = World::new(json!({}));
    w.sync_at("10:01:00").await;
    // The controller was away for three hours.
    w.finish(&name_at("10:01:00"), "Complete", "10:01:30");
    let wait = w.sync_at("13:01:30").await.unwrap();
    assert_eq!(w.count("TooManyMissedTimes"), 1);
    let e = w
        .events()
        .into_iter()
        .find(|e| e.reason == "TooManyMissedTimes")
        .unwrap();
    assert_eq!(e.type_, "Warning");
    assert_eq!(
        e.message,
        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
    );
    assert!(w.job_names().contains(&name_at("13:01:00")));
    assert_eq!(w.job_names().len(), 2, "one catch-up run, not 180");
    assert_eq!(wait, Duration::from_millis(30_100));
}

#[tokio::test]
async fn a_starting_deadline_bounds_the_catch_up() {
    let mut w = World::new(json!({"startingDeadlineSeconds": 10}));
    w.sync_at("10:01:00").await;
    // Down from 10:01:05 to 10:05:30: the 10:05 run is 30 s late, past the deadline.
    w.sync_at("10:05:30").await;
    assert_eq!(w.job_names(), [name_at("10:01:00")]);
    assert_eq!(w.count("TooManyMissedTimes"), 0);
    w.sync_at("10:06:05").await;
    assert_eq!(w.job_names().len(), 2);
}

#[tokio::test]
async fn missing_and_unexpected_jobs() {
    let mut w = World::new(json!({}));
    w.sync_at("10:01:00").await;
    // Someone deletes the active Job.
    w.fake.jobs.lock().unwrap().clear();
    w.sync_at("10:01:30").await;
    assert!(w.active().is_empty());
    let missing = w.events().into_iter().find(|e| e.reason == "MissingJob").unwrap();
    assert_eq!(
        missing.message,
        format!("Active job went missing: {}", name_at("10:01:00"))
    );
    // A running Job that names the CronJob as controller but is not in its active list.
    let stray = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "stray", "namespace": "ns",
        "uid": "stray-uid", "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
        "uid": "cj-uid", "controller": true}]}, "spec": {"template": {}}});
    w.fake.jobs.lock().unwrap().insert("stray".into(), stray);
    w.sync_at("10:01:40").await;
    let e = w.events().into_iter().find(|e| e.reason == "UnexpectedJob").unwrap();
    assert_eq!(
        e.message,
        "Saw a job that the controller did not create or forgot: stray"
    );
}

#[tokio::test]
async fn time_zones_pick_the_wall_clock_and_the_annotation_offset() {
    let mut w = World::new(json!({"schedule": "0 9 * * *", "timeZone": "Asia/Tokyo"}));
    // 09:00 in Tokyo is 00:00 UTC.
    let wait = w.sync_at("10:00:40").await.unwrap();
    let next: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
    assert_eq!(
        wait.as_millis() as i64,
        next.duration_since(t("10:00:40")).as_millis() as i64 + 100
    );
    w.now = next;
    let jobs = Vec::new();
    w.syncer.sync(&w.cronjob(), jobs, next).await.unwrap();
    let name = job_name("tick", next);
    let job = w.syncer.control.get_job("ns", &name).await.unwrap();
    assert_eq!(
        job["metadata"]["annotations"][SCHEDULED_TIMESTAMP],
        "2026-03-02T09:00:00+09:00"
    );
}

#[test]
fn job_names_count_minutes_since_the_epoch() {
    assert_eq!(
        job_name("hello", "2023-12-01T10:01:00Z".parse().unwrap()),
        "hello-28357081"
    );
    assert_eq!(
        rfc1123z("2026-03-01T10:01:00Z".parse().unwrap()),
        "Sun, 01 Mar 2026 10:01:00 +0000"
    );
}
