//! API tests of the Deployment controller with the ReplicaSet controller and
//! a stand-in kubelet that reports every pod Running and Ready (except pods
//! of images named `bad`, which never start).

use std::collections::BTreeSet;

use super::*;
use crate::controllers::testing::{eventually, TestEnv};
use crate::controllers::{podutil, replicaset};
use k1s_proto::patch::PatchType;
use serde_json::json;

fn deployment(name: &str, replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    })
}

/// Reports pods Running and Ready as a kubelet would, until the test ends.
async fn kubelet(client: Client) {
    loop {
        if let Ok(list) = client.list(resource("", "pods"), Some("default"), "").await {
            for p in list["items"].as_array().into_iter().flatten() {
                let image = p["spec"]["containers"][0]["image"].as_str().unwrap_or("");
                if p.deletion_timestamp().is_some() || podutil::is_ready(p) || image.starts_with("bad") {
                    continue;
                }
                let mut p = p.clone();
                p["status"] = json!({
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": k1s_proto::meta::now_rfc3339()}],
                });
                let _ = client.update_status(resource("", "pods"), Some("default"), &p).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Fixture {
    _env: TestEnv,
    client: Client,
    recorder: EventRecorder,
}

impl Fixture {
    async fn new() -> Fixture {
        let env = TestEnv::new().await;
        let client = env.client();
        let recorder = EventRecorder::memory();
        env.keep(start(
            client.clone(),
            recorder.clone(),
            Config::default(),
            env.shutdown(),
        ));
        env.keep(replicaset::start(
            client.clone(),
            EventRecorder::memory(),
            replicaset::Config::default(),
            env.shutdown(),
        ));
        env.spawn(kubelet(client.clone()));
        Fixture {
            _env: env,
            client,
            recorder,
        }
    }

    async fn create(&self, d: &Value) {
        self.client
            .create(resource("apps", "deployments"), Some("default"), d)
            .await
            .unwrap();
    }

    async fn get(&self, name: &str) -> Value {
        self.client
            .get(resource("apps", "deployments"), Some("default"), name)
            .await
            .unwrap()
    }

    async fn patch(&self, name: &str, patch: Value) {
        self.client
            .patch(
                resource("apps", "deployments"),
                Some("default"),
                name,
                None,
                PatchType::Merge,
                &patch,
            )
            .await
            .unwrap();
    }

    /// The ReplicaSets of `app`, oldest first.
    async fn replica_sets(&self, app: &str) -> Vec<Value> {
        let list = self
            .client
            .list(
                resource("apps", "replicasets"),
                Some("default"),
                &format!("labelSelector=app%3D{app}"),
            )
            .await
            .unwrap();
        let mut items = list["items"].as_array().cloned().unwrap_or_default();
        items.sort_by_key(|rs| rs["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_string());
        items
    }

    /// The live (not terminating) pods of `app`.
    async fn pods(&self, app: &str) -> Vec<Value> {
        let list = self
            .client
            .list(
                resource("", "pods"),
                Some("default"),
                &format!("labelSelector=app%3D{app}"),
            )
            .await
            .unwrap();
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p.deletion_timestamp().is_none())
            .cloned()
            .collect()
    }

    fn scaling_events(&self) -> Vec<String> {
        self.recorder
            .recorded()
            .into_iter()
            .filter(|e| e.reason == "ScalingReplicaSet")
            .map(|e| e.message)
            .collect()
    }

    /// Waits until the rollout of `name` is complete (as `kubectl rollout status` decides).
    async fn rolled_out(&self, name: &str, replicas: i64) {
        eventually("rollout complete", || async {
            let d = self.get(name).await;
            let s = &d["status"];
            d.generation() <= s["observedGeneration"].as_i64().unwrap_or(0)
                && s["updatedReplicas"].as_i64().unwrap_or(0) == replicas
                && s["replicas"].as_i64().unwrap_or(0) == replicas
                && s["availableReplicas"].as_i64().unwrap_or(0) == replicas
        })
        .await;
    }
}

fn condition(d: &Value, type_: &str) -> (String, String, String) {
    let c = podutil::condition(d, type_).cloned().unwrap_or(Value::Null);
    let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
    (s("status"), s("reason"), s("message"))
}

fn annotation(obj: &Value, key: &str) -> Option<String> {
    obj.annotations()
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .map(String::from)
}

#[tokio::test]
async fn creates_a_replica_set_and_reports_a_complete_rollout() {
    let f = Fixture::new().await;
    f.create(&deployment("web", 3, "web:1")).await;
    f.rolled_out("web", 3).await;
    let rss = f.replica_sets("web").await;
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = rs.label(util::POD_TEMPLATE_HASH).unwrap().to_string();
    assert_eq!(rs.name().unwrap(), format!("web-{hash}"));
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"][util::POD_TEMPLATE_HASH],
        hash.as_str()
    );
    assert_eq!(annotation(rs, util::REVISION).as_deref(), Some("1"));
    assert_eq!(annotation(rs, util::DESIRED_REPLICAS).as_deref(), Some("3"));
    assert_eq!(annotation(rs, util::MAX_REPLICAS).as_deref(), Some("4"));
    let d = f.get("web").await;
    assert_eq!(controller_ref::controller_uid(rs).as_deref(), d.uid());
    assert_eq!(annotation(&d, util::REVISION).as_deref(), Some("1"));
    assert!(f
        .pods("web")
        .await
        .iter()
        .all(|p| p.label(util::POD_TEMPLATE_HASH) == Some(hash.as_str())));
    eventually("conditions settle", || async {
        let d = f.get("web").await;
        condition(&d, "Progressing").1 == "NewReplicaSetAvailable"
    })
    .await;
    let d = f.get("web").await;
    assert_eq!(
        condition(&d, "Available"),
        (
            "True".into(),
            "MinimumReplicasAvailable".into(),
            "Deployment has minimum availability.".into()
        )
    );
    assert_eq!(
        condition(&d, "Progressing"),
        (
            "True".into(),
            "NewReplicaSetAvailable".into(),
            format!("ReplicaSet \"web-{hash}\" has successfully progressed.")
        )
    );
    let types: Vec<&str> = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Available", "Progressing"], "the order kubectl describe shows");
    assert_eq!(
        f.scaling_events(),
        [format!("Scaled up replica set web-{hash} from 0 to 3")]
    );
}

#[tokio::test]
async fn rolls_to_a_new_template_and_back() {
    let f = Fixture::new().await;
    let mut d = deployment("web", 4, "web:1");
    d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    f.create(&d).await;
    f.rolled_out("web", 4).await;
    let first = f.replica_sets("web").await[0].name().unwrap().to_string();

    // `kubectl set image` with a change cause.
    f.patch(
        "web",
        json!({"metadata": {"annotations": {"kubernetes.io/change-cause": "image web:2"}},
               "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "web:2"}]}}}}),
    )
    .await;
    f.rolled_out("web", 4).await;
    let rss = f.replica_sets("web").await;
    assert_eq!(rss.len(), 2);
    let second = rss[1].name().unwrap().to_string();
    assert_eq!(rss[0]["spec"]["replicas"], 0);
    assert_eq!(rss[1]["spec"]["replicas"], 4);
    assert_eq!(annotation(&rss[1], util::REVISION).as_deref(), Some("2"));
    assert_eq!(
        annotation(&rss[1], "kubernetes.io/change-cause").as_deref(),
        Some("image web:2")
    );
    assert_eq!(annotation(&f.get("web").await, util::REVISION).as_deref(), Some("2"));
    let pods = f.pods("web").await;
    assert_eq!(pods.len(), 4);
    assert!(pods.iter().all(|p| p["spec"]["containers"][0]["image"] == "web:2"));
    // maxSurge 1, maxUnavailable 0: one up, one down, four times.
    let events = f.scaling_events();
    assert_eq!(events[0], format!("Scaled up replica set {first} from 0 to 4"));
    assert_eq!(events[1], format!("Scaled up replica set {second} from 0 to 1"));
    assert!(
        events.contains(&format!("Scaled down replica set {first} from 4 to 3")),
        "{events:?}"
    );
    assert_eq!(
        events.last().unwrap(),
        &format!("Scaled down replica set {first} from 1 to 0")
    );
    assert_eq!(events.len(), 1 + 8, "{events:?}");

    // Back to the first template (`kubectl rollout undo` patches it in): the
    // first ReplicaSet becomes revision 3 and remembers revision 1.
    f.patch(
        "web",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "web:1"}]}}}}),
    )
    .await;
    f.rolled_out("web", 4).await;
    eventually("the first ReplicaSet is the new one again", || async {
        let rss = f.replica_sets("web").await;
        rss.len() == 2 && rss[0]["spec"]["replicas"] == 4 && rss[1]["spec"]["replicas"] == 0
    })
    .await;
    let rss = f.replica_sets("web").await;
    assert_eq!(
        rss[0].name(),
        Some(first.as_str()),
        "no new ReplicaSet for an old template"
    );
    assert_eq!(annotation(&rss[0], util::REVISION).as_deref(), Some("3"));
    assert_eq!(annotation(&rss[0], util::REVISION_HISTORY).as_deref(), Some("1"));
    assert_eq!(annotation(&f.get("web").await, util::REVISION).as_deref(), Some("3"));
}

#[tokio::test]
async fn scales_paused_deployments_and_keeps_revision_history() {
    let f = Fixture::new().await;
    let mut d = deployment("web", 2, "web:1");
    d["spec"]["revisionHistoryLimit"] = json!(1);
    f.create(&d).await;
    f.rolled_out("web", 2).await;
    for image in ["web:2", "web:3"] {
        f.patch(
            "web",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}),
        )
        .await;
        f.rolled_out("web", 2).await;
    }
    eventually("only one old revision kept", || async {
        f.replica_sets("web").await.len() == 2
    })
    .await;
    let revisions: BTreeSet<String> = f
        .replica_sets("web")
        .await
        .iter()
        .filter_map(|rs| annotation(rs, util::REVISION))
        .collect();
    assert_eq!(revisions, BTreeSet::from(["2".to_string(), "3".to_string()]));

    // Paused: a template change rolls nothing, a scale does.
    f.patch("web", json!({"spec": {"paused": true}})).await;
    eventually("paused condition", || async {
        condition(&f.get("web").await, "Progressing")
            == (
                "Unknown".into(),
                "DeploymentPaused".into(),
                "Deployment is paused".into(),
            )
    })
    .await;
    f.patch(
        "web",
        json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "c", "image": "web:4"}]}}}}),
    )
    .await;
    eventually("scaled while paused", || async { f.pods("web").await.len() == 5 }).await;
    let images: Vec<Value> = f
        .replica_sets("web")
        .await
        .iter()
        .map(|rs| rs["spec"]["template"]["spec"]["containers"][0]["image"].clone())
        .collect();
    assert!(!images.contains(&json!("web:4")), "no rollout while paused: {images:?}");
    assert!(f
        .pods("web")
        .await
        .iter()
        .all(|p| p["spec"]["containers"][0]["image"] == "web:3"));
    f.patch("web", json!({"spec": {"paused": false}})).await;
    f.rolled_out("web", 5).await;
    assert!(f
        .pods("web")
        .await
        .iter()
        .all(|p| p["spec"]["containers"][0]["image"] == "web:4"));
}

#[tokio::test]
async fn recreate_stops_old_pods_before_starting_new_ones() {
    let f = Fixture::new().await;
    let mut d = deployment("db", 2, "db:1");
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    f.create(&d).await;
    f.rolled_out("db", 2).await;
    f.patch(
        "db",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "db:2"}]}}}}),
    )
    .await;
    f.rolled_out("db", 2).await;
    let events = f.scaling_events();
    let down = events.iter().position(|e| e.starts_with("Scaled down")).unwrap();
    let up = events.iter().rposition(|e| e.contains("from 0 to 2")).unwrap();
    assert!(down < up, "old scaled down before the new one scaled up: {events:?}");
    assert_eq!(events.len(), 3, "{events:?}");
}

#[tokio::test]
async fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let f = Fixture::new().await;
    let mut d = deployment("web", 2, "web:1");
    d["spec"]["progressDeadlineSeconds"] = json!(1);
    f.create(&d).await;
    f.rolled_out("web", 2).await;
    f.patch(
        "web",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "bad:1"}]}}}}),
    )
    .await;
    eventually("ProgressDeadlineExceeded", || async {
        condition(&f.get("web").await, "Progressing").1 == "ProgressDeadlineExceeded"
    })
    .await;
    let d = f.get("web").await;
    let new = f.replica_sets("web").await[1].name().unwrap().to_string();
    assert_eq!(
        condition(&d, "Progressing"),
        (
            "False".into(),
            "ProgressDeadlineExceeded".into(),
            format!("ReplicaSet \"{new}\" has timed out progressing.")
        )
    );
    // The old pods keep serving: 25 % of 2 rounds down to 0 unavailable, so both stay.
    let running: Vec<Value> = f
        .pods("web")
        .await
        .into_iter()
        .filter(|p| p["spec"]["containers"][0]["image"] == "web:1")
        .collect();
    assert_eq!(running.len(), 2);
    assert_eq!(condition(&d, "Available").0, "True");
}
