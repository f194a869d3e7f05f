//! The Job controller through the API: pods are created with the tracking
//! finalizer, the test plays the kubelet by writing pod status, and the Job
//! completes; orphaned pods lose the finalizer.

use serde_json::json;

use super::*;
use crate::controllers::testing::{eventually, TestEnv};

fn start(env: &TestEnv) {
    env.keep(spawn(
        env.api.clone(),
        Config {
            workers: 2,
            resync: Duration::from_secs(60),
        },
        env.shutdown(),
    ));
}

async fn pods_of(c: &Client, job: &str) -> Vec<Value> {
    let list = c
        .list(
            resource("", "pods"),
            Some("default"),
            &format!("labelSelector=batch.kubernetes.io%2Fjob-name%3D{job}"),
        )
        .await
        .unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Plays the kubelet: the pod's container exited with `code`.
async fn finish(c: &Client, pod: &Value, code: i64) {
    let mut pod = pod.clone();
    let now = k1s_proto::meta::now_rfc3339();
    pod["status"] = json!({
        "phase": if code == 0 { "Succeeded" } else { "Failed" },
        "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}],
        "containerStatuses": [{"name": "c", "image": "busybox:1.36", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "finishedAt": now, "reason": "Completed"}}}],
    });
    c.update_status(resource("", "pods"), Some("default"), &pod)
        .await
        .unwrap();
}

/// Waits until the Job has exactly one pod that has not finished, and returns it.
async fn one_active_pod(c: &Client, job: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let active: Vec<Value> = pods_of(c, job)
            .await
            .into_iter()
            .filter(|p| p["status"]["phase"] != "Succeeded")
            .collect();
        if active.len() == 1 {
            return active[0].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no single active pod: {active:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn job(name: &str, spec: Value) -> Value {
    let mut j = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}});
    for (k, v) in spec.as_object().into_iter().flatten() {
        j["spec"][k] = v.clone();
    }
    j
}

fn condition<'a>(job: &'a Value, type_: &str) -> Option<&'a Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

#[tokio::test]
async fn a_job_runs_its_pods_to_completion() {
    let env = TestEnv::new().await;
    let c = env.client();
    let jobs = resource("batch", "jobs");
    start(&env);
    c.create(jobs, Some("default"), &job("two", json!({"completions": 2})))
        .await
        .unwrap();
    for round in 1..=2 {
        let pod = one_active_pod(&c, "two").await;
        assert_eq!(pod["metadata"]["finalizers"], json!([TRACKING_FINALIZER]));
        finish(&c, &pod, 0).await;
        eventually("the pod counted", || async {
            let j = c.get(jobs, Some("default"), "two").await.unwrap();
            j["status"]["succeeded"] == round
        })
        .await;
    }
    eventually("Complete", || async {
        let j = c.get(jobs, Some("default"), "two").await.unwrap();
        condition(&j, "Complete").is_some_and(|c| c["status"] == "True")
    })
    .await;
    let j = c.get(jobs, Some("default"), "two").await.unwrap();
    assert_eq!(j["status"]["succeeded"], 2);
    assert!(j["status"]["completionTime"].is_string());
    assert_eq!(
        condition(&j, "SuccessCriteriaMet").unwrap()["reason"],
        "CompletionsReached"
    );
    for p in pods_of(&c, "two").await {
        assert!(p["metadata"].get("finalizers").is_none_or(|f| f == &json!([])), "{p}");
    }
    let reasons = || async {
        let events = c.list(resource("", "events"), Some("default"), "").await.unwrap();
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["involvedObject"]["name"] == "two" && e["source"]["component"] == NAME)
            .map(|e| e["reason"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    eventually("events", || async {
        reasons().await.contains(&"Completed".to_string())
    })
    .await;
    assert_eq!(reasons().await.iter().filter(|r| *r == "SuccessfulCreate").count(), 2);
}

#[tokio::test]
async fn pods_of_a_deleted_job_lose_the_finalizer() {
    let env = TestEnv::new().await;
    let c = env.client();
    let jobs = resource("batch", "jobs");
    start(&env);
    c.create(
        jobs,
        Some("default"),
        &job("gone", json!({"parallelism": 2, "completions": 2})),
    )
    .await
    .unwrap();
    eventually("two pods", || async { pods_of(&c, "gone").await.len() == 2 }).await;
    // Orphan the pods (no garbage collector runs here), then delete the Job.
    c.delete(jobs, Some("default"), "gone", &json!({"propagationPolicy": "Orphan"}))
        .await
        .unwrap();
    eventually("finalizers removed", || async {
        let pods = pods_of(&c, "gone").await;
        pods.len() == 2
            && pods.iter().all(|p| {
                !p["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
            })
    })
    .await;
}

#[tokio::test]
async fn matching_orphans_are_adopted_with_the_finalizer() {
    let env = TestEnv::new().await;
    let c = env.client();
    let jobs = resource("batch", "jobs");
    let created = c
        .create(jobs, Some("default"), &job("adopt", json!({"suspend": true})))
        .await
        .unwrap();
    let labels = created["spec"]["template"]["metadata"]["labels"].clone();
    let orphan = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "labels": labels},
        "spec": {"nodeName": "n1", "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}});
    c.create(resource("", "pods"), Some("default"), &orphan).await.unwrap();
    // Resumed: the stray pod is adopted and counts as the Job's one pod.
    let mut resumed = c.get(jobs, Some("default"), "adopt").await.unwrap();
    resumed["spec"]["suspend"] = json!(false);
    c.update(jobs, Some("default"), &resumed).await.unwrap();
    start(&env);
    eventually("adopted", || async {
        let p = c.get(resource("", "pods"), Some("default"), "stray").await;
        p.is_ok_and(|p| {
            p["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
                && p["metadata"]["finalizers"] == json!([TRACKING_FINALIZER])
        })
    })
    .await;
    let stray = c.get(resource("", "pods"), Some("default"), "stray").await.unwrap();
    finish(&c, &stray, 0).await;
    eventually("Complete", || async {
        let j = c.get(jobs, Some("default"), "adopt").await.unwrap();
        condition(&j, "Complete").is_some()
    })
    .await;
    assert_eq!(pods_of(&c, "adopt").await.len(), 1, "no pod besides the adopted one");
}
