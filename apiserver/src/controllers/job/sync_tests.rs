//! Job sync on a fake clock against a fake API: pods are created, run,
//! finish and disappear as the test says; the fake applies the controller's
//! writes the way the API server would (finalizers hold deleted pods).

use std::sync::Mutex;

use k8s_openapi::api::batch::v1::Job;
use serde_json::json;

use super::super::COMPLETION_INDEX;
use super::*;
use crate::events::Recorded;
use crate::registry::job::JobStrategy;
use crate::registry::Strategy;

const KEY: &str = "ns/pi";

#[derive(Debug, Clone)]
enum Effect {
    Created(Value),
    Deleted(String),
    Unfinalized(String),
    Status(Box<Job>),
}

#[derive(Default)]
struct Fake {
    effects: Mutex<Vec<Effect>>,
    counter: Mutex<u32>,
    /// Finalizer removals fail (an API outage) while set.
    fail_unfinalize: Mutex<bool>,
}

impl JobControl for &Fake {
    async fn create_pod(&self, pod: &Value, _parent: &Value) -> Result<Value, ApiError> {
        let n = {
            let mut c = self.counter.lock().unwrap();
            *c += 1;
            *c
        };
        let mut pod = pod.clone();
        let name = format!("{}{n:05}", pod["metadata"]["generateName"].as_str().unwrap());
        pod["metadata"]["name"] = json!(name);
        pod["metadata"]["uid"] = json!(format!("uid-{name}"));
        pod["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        pod["spec"]["nodeName"] = json!("node");
        pod["status"] = json!({"phase": "Pending"});
        self.effects.lock().unwrap().push(Effect::Created(pod.clone()));
        Ok(pod)
    }

    async fn delete_pod(&self, name: &str, _parent: &Value) -> Result<(), ApiError> {
        self.effects.lock().unwrap().push(Effect::Deleted(name.to_string()));
        Ok(())
    }

    async fn remove_tracking_finalizer(&self, _ns: &str, name: &str) -> Result<(), ApiError> {
        if *self.fail_unfinalize.lock().unwrap() {
            return Err(ApiError::unavailable("the API is down".to_string()));
        }
        self.effects.lock().unwrap().push(Effect::Unfinalized(name.to_string()));
        Ok(())
    }

    async fn update_status(&self, job: &Job) -> Result<Job, ApiError> {
        let mut job = job.clone();
        let rv: u64 = job.metadata.resource_version.as_deref().unwrap_or("1").parse().unwrap();
        job.metadata.resource_version = Some((rv + 1).to_string());
        self.effects.lock().unwrap().push(Effect::Status(Box::new(job.clone())));
        Ok(job)
    }
}

/// A Job, its pods and a syncer, with the time.
struct World {
    fake: &'static Fake,
    syncer: Syncer<&'static Fake>,
    job: Value,
    pods: Vec<Value>,
    now: Timestamp,
    /// Status writes so far.
    writes: usize,
    /// Pods created and deleted so far.
    created: usize,
    deleted: usize,
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + secs).unwrap()
}

/// A Job as the API stores it: defaulted, with the generated selector and labels.
fn job(spec: Value) -> Value {
    let mut j = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": "ns", "uid": "job-uid", "resourceVersion": "1", "generation": 1},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox:1.36"}]}}}});
    for (k, v) in spec.as_object().unwrap() {
        j["spec"][k] = v.clone();
    }
    JobStrategy.default(&mut j);
    JobStrategy.prepare_for_create(&mut j);
    j
}

impl World {
    fn new(spec: Value) -> World {
        let fake: &'static Fake = Box::leak(Box::default());
        World {
            fake,
            syncer: Syncer::new(fake, EventRecorder::memory()),
            job: job(spec),
            pods: Vec::new(),
            now: t(0),
            writes: 0,
            created: 0,
            deleted: 0,
        }
    }

    /// A controller restart: fresh expectations and back-off, same API state.
    fn restart(&mut self) {
        self.syncer = Syncer::new(self.fake, EventRecorder::memory());
    }

    /// One sync at the current time; the fake API applies its writes (and
    /// the informer reports them) before this returns.
    async fn sync(&mut self) -> Option<Duration> {
        let pods = self.pods.iter().cloned().map(Arc::new).collect();
        let result = self.syncer.sync(KEY, Arc::new(self.job.clone()), pods, self.now).await;
        let effects: Vec<Effect> = std::mem::take(&mut *self.fake.effects.lock().unwrap());
        for e in effects {
            match e {
                Effect::Created(p) => {
                    self.syncer.expectations.creation_observed(KEY);
                    self.created += 1;
                    self.pods.push(p);
                }
                Effect::Deleted(name) => {
                    // Graceful: the pod stays until its containers stopped and its finalizers are gone.
                    self.syncer.expectations.deletion_observed(KEY, &format!("ns/{name}"));
                    self.deleted += 1;
                    let i = self.index(&name);
                    self.pods[i]["metadata"]["deletionTimestamp"] = json!(k1s_proto::meta::format_time(self.now));
                }
                Effect::Unfinalized(name) => {
                    let i = self.index(&name);
                    let uid = self.pods[i]["metadata"]["uid"].as_str().unwrap().to_string();
                    self.pods[i]["metadata"]["finalizers"] = json!([]);
                    self.syncer.finalizers.observed(KEY, &uid);
                }
                Effect::Status(j) => {
                    self.writes += 1;
                    self.job = serde_json::to_value(*j).unwrap();
                }
            }
        }
        // Deleted pods that stopped and lost their finalizers are gone.
        self.pods.retain(|p| {
            let gone = p["metadata"]["deletionTimestamp"].is_string()
                && p["metadata"]["finalizers"] == json!([])
                && podutil::is_terminal(p);
            !gone
        });
        result.expect("sync")
    }

    fn index(&self, name: &str) -> usize {
        self.pods.iter().position(|p| p["metadata"]["name"] == name).unwrap()
    }

    fn names(&self) -> Vec<String> {
        self.pods
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn active(&self) -> Vec<String> {
        self.pods
            .iter()
            .filter(|p| is_active(p))
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// The kubelet runs a pod's containers to the end with `code`.
    fn finish(&mut self, name: &str, code: i64) {
        let i = self.index(name);
        let at = k1s_proto::meta::format_time(self.now);
        self.pods[i]["status"] = json!({
            "phase": if code == 0 { "Succeeded" } else { "Failed" },
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": at}],
            "containerStatuses": [{"name": "c", "restartCount": 0,
                "state": {"terminated": {"exitCode": code, "finishedAt": at}}}],
        });
    }

    fn run(&mut self, name: &str) {
        let i = self.index(name);
        self.pods[i]["status"] = json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "containerStatuses": [{"name": "c", "restartCount": 0, "state": {"running": {}}}]});
    }

    fn status(&self) -> &Value {
        &self.job["status"]
    }

    fn condition(&self, type_: &str) -> Option<&Value> {
        self.status()["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)
    }

    fn events(&self) -> Vec<Recorded> {
        self.syncer.recorder.recorded()
    }

    fn reasons(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.reason).collect()
    }
}

#[tokio::test]
async fn completions_with_parallelism_count_every_pod_once() {
    let mut w = World::new(json!({"completions": 5, "parallelism": 2}));
    assert_eq!(w.sync().await, None);
    assert_eq!(w.active().len(), 2, "parallelism caps the first pods");
    assert_eq!(w.status()["active"], 2);
    assert_eq!(w.status()["startTime"], "2026-01-01T00:00:00Z");
    let pod = &w.pods[0];
    assert_eq!(pod["metadata"]["finalizers"], json!([TRACKING_FINALIZER]));
    assert_eq!(pod["metadata"]["generateName"], "pi-");
    assert_eq!(pod["metadata"]["labels"]["batch.kubernetes.io/job-name"], "pi");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Job");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "job-uid");
    assert_eq!(w.created, 2);

    let mut max_active = 0;
    for round in 0..10 {
        let active = w.active();
        max_active = max_active.max(active.len());
        if active.is_empty() {
            break;
        }
        w.now = t(10 * (round + 1));
        for name in &active {
            w.run(name);
        }
        let first = active[0].clone();
        w.finish(&first, 0);
        w.sync().await;
        // A sync never leaves a counted pod uncounted, nor counts one twice.
        let s = w.status();
        let uncounted = s["uncountedTerminatedPods"]["succeeded"].as_array().map_or(0, Vec::len);
        let finished = w.pods.iter().filter(|p| p["status"]["phase"] == "Succeeded").count();
        assert_eq!(s["succeeded"].as_i64().unwrap_or(0) as usize + uncounted, finished);
    }
    assert!(max_active <= 2, "never more than parallelism pods at once");
    let s = w.status();
    assert_eq!(s["succeeded"], 5);
    assert!(s.get("active").is_none(), "zero counters are omitted: {s}");
    assert_eq!(s["ready"], 0);
    assert_eq!(s["terminating"], 0);
    assert_eq!(s["uncountedTerminatedPods"], json!({}));
    let met = w.condition("SuccessCriteriaMet").expect("SuccessCriteriaMet");
    assert_eq!(met["reason"], "CompletionsReached");
    assert_eq!(met["message"], "Reached expected number of succeeded pods");
    let complete = w.condition("Complete").expect("Complete");
    assert_eq!(complete["status"], "True");
    assert_eq!(complete["reason"], "CompletionsReached");
    assert_eq!(s["completionTime"], complete["lastTransitionTime"]);
    assert!(
        w.pods.iter().all(|p| p["metadata"]["finalizers"] == json!([])),
        "finalizers released"
    );
    let reasons = w.reasons();
    assert_eq!(w.created, 5, "one pod per completion");
    assert_eq!(reasons.last().map(String::as_str), Some("Completed"));
    assert_eq!(w.events().last().unwrap().message, "Job completed");

    // A finished Job is left alone.
    let writes = w.writes;
    assert_eq!(w.sync().await, None);
    assert_eq!(w.writes, writes);
}

#[tokio::test]
async fn uncounted_pods_survive_a_failed_finalizer_removal_and_a_restart() {
    let mut w = World::new(json!({"completions": 2, "parallelism": 2}));
    w.sync().await;
    let names = w.names();
    w.finish(&names[0], 0);
    w.finish(&names[1], 0);
    *w.fake.fail_unfinalize.lock().unwrap() = true;
    let pods = w.pods.iter().cloned().map(Arc::new).collect();
    let err = w.syncer.sync(KEY, Arc::new(w.job.clone()), pods, w.now).await;
    assert!(err.is_err(), "the finalizer removal error is returned for a retry");
    // The uids were written as uncounted before the finalizers were touched.
    let effects: Vec<Effect> = std::mem::take(&mut *w.fake.effects.lock().unwrap());
    let Some(Effect::Status(job)) = effects.into_iter().next() else {
        panic!("status first")
    };
    w.job = serde_json::to_value(*job).unwrap();
    let uncounted = &w.status()["uncountedTerminatedPods"]["succeeded"];
    assert_eq!(uncounted.as_array().map(Vec::len), Some(2));
    assert!(w.status().get("succeeded").is_none());

    // The controller restarts; the API works again.
    w.restart();
    *w.fake.fail_unfinalize.lock().unwrap() = false;
    w.sync().await;
    assert_eq!(w.status()["succeeded"], 2, "counted once");
    assert_eq!(w.status()["uncountedTerminatedPods"], json!({}));
    assert!(w.condition("Complete").is_some());
    // And again: nothing changes.
    w.restart();
    w.sync().await;
    assert_eq!(w.status()["succeeded"], 2);
}

#[tokio::test]
async fn failures_back_off_then_exceed_the_limit() {
    let mut w = World::new(json!({"backoffLimit": 2}));
    w.sync().await;
    let mut failed_pods = 0;
    let mut delays = Vec::new();
    loop {
        let active = w.active();
        assert!(active.len() <= 1);
        if w.condition("Failed").is_some() {
            break;
        }
        if let Some(pod) = active.first() {
            w.finish(&pod.clone(), 1);
            failed_pods += 1;
        }
        // Right after the failure the replacement waits.
        let wait = w.sync().await;
        if w.condition("FailureTarget").is_none() {
            let wait = wait.expect("requeued for the back-off");
            assert!(w.active().is_empty(), "no pod during back-off");
            delays.push(wait.as_secs());
            w.now += jiff::SignedDuration::from_secs(wait.as_secs() as i64);
            w.sync().await;
        }
        assert!(failed_pods < 10, "runaway");
    }
    assert_eq!(delays, [10, 20], "10 s doubling");
    assert_eq!(failed_pods, 3, "backoffLimit 2 means 3 pods");
    let s = w.status();
    assert_eq!(s["failed"], 3);
    let target = w.condition("FailureTarget").expect("FailureTarget first");
    assert_eq!(target["reason"], "BackoffLimitExceeded");
    let failed = w.condition("Failed").unwrap();
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(failed["message"], "Job has reached the specified backoff limit");
    assert!(s.get("completionTime").is_none());
    let last = w.events().last().cloned().unwrap();
    assert_eq!(
        (last.type_.as_str(), last.reason.as_str()),
        ("Warning", "BackoffLimitExceeded")
    );
}

#[tokio::test]
async fn deadline_fails_the_job_after_its_pods_stop() {
    let mut w = World::new(json!({"activeDeadlineSeconds": 30, "parallelism": 2, "completions": 4}));
    let requeue = w.sync().await;
    assert_eq!(requeue, Some(Duration::from_secs(30)), "woken at the deadline");
    let running = w.active();
    for p in &running {
        w.run(p);
    }
    w.now = t(30);
    w.sync().await;
    assert_eq!(w.condition("FailureTarget").unwrap()["reason"], "DeadlineExceeded");
    assert!(w.condition("Failed").is_none(), "pods are still terminating");
    assert_eq!(w.status()["terminating"], 2);
    assert_eq!(w.deleted, 2);
    // The kubelet stops them.
    for p in &running {
        w.finish(p, 137);
    }
    w.sync().await;
    let failed = w.condition("Failed").expect("Failed");
    assert_eq!(failed["reason"], "DeadlineExceeded");
    assert_eq!(failed["message"], "Job was active longer than specified deadline");
    assert_eq!(w.status()["failed"], 2);
    assert_eq!(w.status()["terminating"], 0);
}

#[tokio::test]
async fn indexed_jobs_run_each_index_once() {
    let mut w = World::new(json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
        "template": {"spec": {"restartPolicy": "Never", "subdomain": "svc",
            "containers": [{"name": "c", "image": "busybox:1.36"}]}}}));
    w.sync().await;
    let mut seen: Vec<(String, String, String)> = w
        .pods
        .iter()
        .map(|p| {
            (
                p["metadata"]["annotations"][COMPLETION_INDEX]
                    .as_str()
                    .unwrap()
                    .to_string(),
                p["metadata"]["labels"][COMPLETION_INDEX].as_str().unwrap().to_string(),
                p["spec"]["hostname"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [("0", "0", "pi-0"), ("1", "1", "pi-1"), ("2", "2", "pi-2")].map(|(a, b, c)| (a.into(), b.into(), c.into()))
    );
    let p1 = w.pods.iter().find(|p| p["spec"]["hostname"] == "pi-1").unwrap().clone();
    assert_eq!(p1["spec"]["subdomain"], "svc");
    assert!(p1["metadata"]["generateName"].as_str().unwrap().starts_with("pi-1-"));
    assert_eq!(
        p1["spec"]["containers"][0]["env"][0],
        json!({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']"}}})
    );
    let name1 = p1["metadata"]["name"].as_str().unwrap().to_string();
    w.finish(&name1, 0);
    w.sync().await;
    assert_eq!(w.status()["completedIndexes"], "1");
    assert_eq!(w.status()["succeeded"], 1);
    // Index 0 fails; it is recreated for the same index after the back-off.
    let name0 = w.pods.iter().find(|p| p["spec"]["hostname"] == "pi-0").unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    w.finish(&name0, 1);
    w.sync().await;
    w.now = t(10);
    w.sync().await;
    let replacement = w
        .pods
        .iter()
        .filter(|p| p["spec"]["hostname"] == "pi-0" && is_active(p))
        .count();
    assert_eq!(replacement, 1);
    for name in w.active() {
        w.finish(&name, 0);
    }
    w.sync().await;
    assert_eq!(w.status()["completedIndexes"], "0-2");
    assert_eq!(w.status()["succeeded"], 3);
    assert_eq!(w.status()["failed"], 1);
    assert!(w.condition("Complete").is_some());
}

#[tokio::test]
async fn pod_failure_policy_fails_ignores_or_counts() {
    let policy = json!({"rules": [
        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [42]}},
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [7]}},
    ]});
    let mut w = World::new(
        json!({"completions": 2, "parallelism": 2, "backoffLimit": 0, "podFailurePolicy": policy,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}),
    );
    w.sync().await;
    let names = w.active();
    // Exit 7 is ignored: not counted even with backoffLimit 0, and replaced.
    w.finish(&names[0], 7);
    w.sync().await;
    assert!(w.condition("FailureTarget").is_none());
    assert!(w.status().get("failed").is_none(), "{}", w.status());
    w.now = t(10);
    w.sync().await;
    assert_eq!(w.active().len(), 2);
    // Exit 42 fails the Job at once, naming the rule.
    let running = w.active();
    w.run(&running[0]);
    w.finish(&running[1], 42);
    w.sync().await;
    let target = w.condition("FailureTarget").expect("FailureTarget").clone();
    assert_eq!(target["reason"], "PodFailurePolicy");
    let msg = target["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Container c for pod ns/pi-")
            && msg.ends_with("failed with exit code 42 matching FailJob rule at index 0"),
        "{msg}"
    );
    // With a failure policy only failed pods are replaced; the running one is deleted.
    let other = running[0].clone();
    w.finish(&other, 143);
    w.sync().await;
    let failed = w.condition("Failed").expect("Failed");
    assert_eq!(failed["reason"], "PodFailurePolicy");
    assert_eq!(failed["message"], target["message"]);
    assert_eq!(w.status()["failed"], 2);
}

#[tokio::test]
async fn fail_index_and_backoff_limit_per_index() {
    let policy = json!({"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [3]}}]});
    let mut w = World::new(json!({"completions": 2, "parallelism": 2, "completionMode": "Indexed",
        "backoffLimitPerIndex": 1, "podFailurePolicy": policy}));
    assert_eq!(w.job["spec"]["backoffLimit"], i32::MAX);
    w.sync().await;
    let by_ix = |w: &World, ix: &str| {
        w.pods
            .iter()
            .find(|p| p["metadata"]["annotations"][COMPLETION_INDEX] == ix && is_active(p))
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
    };
    assert_eq!(w.pods[0]["metadata"]["annotations"][INDEX_FAILURE_COUNT], "0");
    // Index 0 fails with a plain error: one retry allowed, with its failure count.
    let p0 = by_ix(&w, "0").unwrap();
    w.finish(&p0, 1);
    w.sync().await;
    w.now = t(10);
    w.sync().await;
    let retry = by_ix(&w, "0").expect("index 0 retried");
    let retry_pod = &w.pods[w.index(&retry)];
    assert_eq!(retry_pod["metadata"]["annotations"][INDEX_FAILURE_COUNT], "1");
    // Index 1 hits the FailIndex rule: failed at once, not retried.
    let p1 = by_ix(&w, "1").unwrap();
    w.finish(&p1, 3);
    w.sync().await;
    assert_eq!(w.status()["failedIndexes"], "1");
    assert!(by_ix(&w, "1").is_none());
    // Index 0 succeeds: every index is done, one failed, so the Job fails.
    w.finish(&retry, 0);
    w.sync().await;
    w.sync().await;
    assert_eq!(w.status()["completedIndexes"], "0");
    let failed = w.condition("Failed").expect("Failed");
    assert_eq!(failed["reason"], "FailedIndexes");
    assert_eq!(failed["message"], "Job has failed indexes");
}

#[tokio::test]
async fn suspend_deletes_pods_and_resume_restarts_the_clock() {
    let mut w = World::new(json!({"suspend": true, "parallelism": 2, "completions": 2}));
    w.sync().await;
    assert!(w.pods.is_empty());
    assert!(
        w.status().get("startTime").is_none(),
        "a Job created suspended has not started"
    );
    let s = w.condition("Suspended").expect("Suspended");
    assert_eq!(
        (s["status"].as_str(), s["reason"].as_str()),
        (Some("True"), Some("JobSuspended"))
    );
    w.job["spec"]["suspend"] = json!(false);
    w.now = t(100);
    w.sync().await;
    let s = w.condition("Suspended").unwrap();
    assert_eq!(
        (s["status"].as_str(), s["reason"].as_str()),
        (Some("False"), Some("JobResumed"))
    );
    assert_eq!(w.status()["startTime"], k1s_proto::meta::format_time(t(100)));
    assert_eq!(w.active().len(), 2);
    // Suspending again deletes the running pods without counting them.
    for p in w.active() {
        w.run(&p);
    }
    w.job["spec"]["suspend"] = json!(true);
    w.sync().await;
    assert!(w.active().is_empty());
    assert!(
        w.pods.iter().all(|p| p["metadata"]["finalizers"] == json!([])),
        "finalizers stripped first: not counted"
    );
    assert_eq!(w.status()["terminating"], 2);
    for p in w.names() {
        w.finish(&p, 143);
    }
    w.sync().await;
    assert!(w.pods.is_empty(), "{:?}", w.names());
    assert!(w.status().get("failed").is_none());
    assert_eq!(w.status()["terminating"], 0);
    assert_eq!(w.condition("Suspended").unwrap()["status"], "True");
    assert_eq!(
        w.reasons()
            .iter()
            .filter(|r| ["Suspended", "Resumed"].contains(&r.as_str()))
            .count(),
        3
    );
}

#[tokio::test]
async fn restarts_in_place_count_toward_the_limit_with_on_failure() {
    let mut w = World::new(json!({"backoffLimit": 2,
        "template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}));
    w.sync().await;
    let name = w.active()[0].clone();
    w.run(&name);
    let i = w.index(&name);
    w.pods[i]["status"]["containerStatuses"][0]["restartCount"] = json!(1);
    w.sync().await;
    assert!(w.condition("FailureTarget").is_none());
    w.pods[i]["status"]["containerStatuses"][0]["restartCount"] = json!(2);
    w.sync().await;
    assert_eq!(w.condition("FailureTarget").unwrap()["reason"], "BackoffLimitExceeded");
    w.finish(&name, 137);
    w.sync().await;
    assert_eq!(w.condition("Failed").unwrap()["reason"], "BackoffLimitExceeded");
}

#[tokio::test]
async fn lagging_cache_never_creates_twice() {
    let w = World::new(json!({"completions": 3, "parallelism": 3}));
    let pods = Vec::new();
    w.syncer.sync(KEY, Arc::new(w.job.clone()), pods, w.now).await.unwrap();
    let created = w
        .fake
        .effects
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Effect::Created(_)))
        .count();
    assert_eq!(created, 3);
    // The informer has not seen the pods yet: no second round of creates.
    w.syncer
        .sync(KEY, Arc::new(w.job.clone()), Vec::new(), w.now)
        .await
        .unwrap();
    let created = w
        .fake
        .effects
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Effect::Created(_)))
        .count();
    assert_eq!(created, 3);
}
