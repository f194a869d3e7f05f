//! The CronJob controller through the API: Jobs appear on schedule and the
//! CronJob's status follows them.

use serde_json::json;

use super::*;
use crate::controllers::testing::{eventually, TestEnv};

#[tokio::test]
async fn jobs_are_created_on_schedule_and_tracked() {
    let env = TestEnv::new().await;
    let c = env.client();
    let (cronjobs, jobs) = (resource("batch", "cronjobs"), resource("batch", "jobs"));
    let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "every"},
        "spec": {"schedule": "@every 1s", "concurrencyPolicy": "Forbid", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}}});
    let created = c.create(cronjobs, Some("default"), &cj).await.unwrap();
    env.keep(spawn(env.api.clone(), env.shutdown()));
    eventually("a Job in status.active", || async {
        let cj = c.get(cronjobs, Some("default"), "every").await.unwrap();
        cj["status"]["active"].as_array().is_some_and(|a| a.len() == 1) && cj["status"]["lastScheduleTime"].is_string()
    })
    .await;
    let list = c.list(jobs, Some("default"), "").await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "Forbid: one at a time");
    let job = &items[0];
    assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], created["metadata"]["uid"]);
    assert!(job["metadata"]["annotations"][sync::SCHEDULED_TIMESTAMP].is_string());
    let name = job["metadata"]["name"].as_str().unwrap();
    let minutes: i64 = name.strip_prefix("every-").unwrap().parse().unwrap();
    assert!((minutes - Timestamp::now().as_second() / 60).abs() <= 1, "{name}");
    // The Job is deleted: the CronJob notices and starts another.
    c.delete(jobs, Some("default"), name, &Value::Null).await.unwrap();
    eventually("a new active Job", || async {
        let cj = c.get(cronjobs, Some("default"), "every").await.unwrap();
        let list = c.list(jobs, Some("default"), "").await.unwrap();
        let now: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["metadata"]["uid"].as_str().unwrap().to_string())
            .collect();
        cj["status"]["active"]
            .as_array()
            .is_some_and(|a| a.len() == 1 && now.contains(&a[0]["uid"].as_str().unwrap().to_string()))
    })
    .await;
}
