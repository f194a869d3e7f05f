//! API tests of the ReplicaSet controller: pods created and deleted through
//! the real request pipeline, with pod status written as a kubelet would.

use super::*;
use crate::controllers::testing::{eventually, TestEnv};
use crate::store::Store;
use serde_json::json;

fn replicaset(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
            },
        },
    })
}

struct Fixture {
    env: TestEnv,
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
        Fixture { env, client, recorder }
    }

    /// The pods of `app` that are not terminating.
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
            .unwrap()
            .iter()
            .filter(|p| p.deletion_timestamp().is_none())
            .cloned()
            .collect()
    }

    async fn rs(&self, name: &str) -> Value {
        self.client
            .get(resource("apps", "replicasets"), Some("default"), name)
            .await
            .unwrap()
    }

    async fn scale(&self, name: &str, replicas: i64) {
        let patch = json!({"spec": {"replicas": replicas}});
        self.client
            .patch(
                resource("apps", "replicasets"),
                Some("default"),
                name,
                None,
                k1s_proto::patch::PatchType::Merge,
                &patch,
            )
            .await
            .unwrap();
    }

    /// Reports `pod` Running, ready since `since` (or not ready), with `restarts`.
    async fn report(&self, pod: &Value, ready_since: Option<&str>, restarts: i64) {
        let mut p = pod.clone();
        let (ready, since) = match ready_since {
            Some(t) => ("True", t),
            None => ("False", "2026-01-01T00:00:00Z"),
        };
        p["status"] = json!({
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": since}],
            "containerStatuses": [{"name": "c", "image": "busybox:1.36", "imageID": "", "ready": ready == "True",
                                   "restartCount": restarts, "started": true, "state": {"running": {}}}],
        });
        self.client
            .update_status(resource("", "pods"), Some("default"), &p)
            .await
            .unwrap();
    }

    fn events(&self, reason: &str) -> Vec<String> {
        self.recorder
            .recorded()
            .into_iter()
            .filter(|e| e.reason == reason)
            .map(|e| e.message)
            .collect()
    }
}

#[tokio::test]
async fn creates_pods_from_the_template_and_reports_status() {
    let f = Fixture::new().await;
    let created = f
        .client
        .create(resource("apps", "replicasets"), Some("default"), &replicaset("web", 3))
        .await
        .unwrap();
    eventually("3 pods", || async { f.pods("web").await.len() == 3 }).await;
    let pods = f.pods("web").await;
    for p in &pods {
        assert!(p.name().unwrap().starts_with("web-"), "{p}");
        assert_eq!(p["metadata"]["generateName"], "web-");
        assert_eq!(controller_uid(p).as_deref(), created.uid());
        assert_eq!(p["spec"]["containers"][0]["image"], "busybox:1.36");
    }
    let mut messages = f.events("SuccessfulCreate");
    messages.sort();
    let mut want: Vec<String> = pods
        .iter()
        .map(|p| format!("Created pod: {}", p.name().unwrap()))
        .collect();
    want.sort();
    assert_eq!(messages, want);

    eventually("status counts the pods", || async {
        let s = &f.rs("web").await["status"];
        s["replicas"] == 3 && s["fullyLabeledReplicas"] == 3 && s["observedGeneration"] == 1
    })
    .await;
    f.report(&pods[0], Some("2026-01-01T00:00:00Z"), 0).await;
    f.report(&pods[1], None, 0).await;
    eventually("one ready and available", || async {
        let s = &f.rs("web").await["status"];
        s["readyReplicas"] == 1 && s["availableReplicas"] == 1
    })
    .await;
    assert_eq!(f.pods("web").await.len(), 3, "no pod created twice");
}

#[tokio::test]
async fn scales_down_by_kubernetes_ranking() {
    let f = Fixture::new().await;
    f.client
        .create(resource("apps", "replicasets"), Some("default"), &replicaset("web", 4))
        .await
        .unwrap();
    eventually("4 pods", || async { f.pods("web").await.len() == 4 }).await;
    let pods = f.pods("web").await;
    // One stays Pending, one runs not ready, two are ready (one of them restarted).
    f.report(&pods[1], None, 0).await;
    f.report(&pods[2], Some("2026-01-01T00:00:00Z"), 2).await;
    f.report(&pods[3], Some("2026-01-01T00:00:00Z"), 0).await;
    eventually("2 ready", || async {
        f.rs("web").await["status"]["readyReplicas"] == 2
    })
    .await;

    f.scale("web", 1).await;
    eventually("1 pod left", || async { f.pods("web").await.len() == 1 }).await;
    let left = f.pods("web").await;
    assert_eq!(left[0].name(), pods[3].name(), "the ready pod without restarts stays");
    let mut deleted = f.events("SuccessfulDelete");
    deleted.sort();
    let mut want: Vec<String> = pods[..3]
        .iter()
        .map(|p| format!("Deleted pod: {}", p.name().unwrap()))
        .collect();
    want.sort();
    assert_eq!(deleted, want);
    eventually("status follows", || async {
        let s = &f.rs("web").await["status"];
        s["replicas"] == 1 && s["readyReplicas"] == 1 && s["observedGeneration"] == 2
    })
    .await;
}

#[tokio::test]
async fn adopts_orphans_and_releases_pods_that_stop_matching() {
    let f = Fixture::new().await;
    let orphan = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "orphan", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}});
    f.client
        .create(resource("", "pods"), Some("default"), &orphan)
        .await
        .unwrap();
    let rs = f
        .client
        .create(resource("apps", "replicasets"), Some("default"), &replicaset("web", 2))
        .await
        .unwrap();
    eventually("orphan adopted and one pod added", || async {
        let pods = f.pods("web").await;
        pods.len() == 2 && pods.iter().all(|p| controller_uid(p).as_deref() == rs.uid())
    })
    .await;
    assert_eq!(f.events("SuccessfulCreate").len(), 1, "the orphan counts");

    // Relabel the orphan: it is released and replaced.
    let patch = json!({"metadata": {"labels": {"app": "other"}}});
    f.client
        .patch(
            resource("", "pods"),
            Some("default"),
            "orphan",
            None,
            k1s_proto::patch::PatchType::Merge,
            &patch,
        )
        .await
        .unwrap();
    eventually("released and replaced", || async {
        let released = f
            .client
            .get(resource("", "pods"), Some("default"), "orphan")
            .await
            .unwrap();
        controller_uid(&released).is_none() && f.pods("web").await.len() == 2
    })
    .await;
}

#[tokio::test]
async fn failed_creates_set_replica_failure() {
    let f = Fixture::new().await;
    f.env.create_namespace("gone").await;
    let mut rs = replicaset("web", 3);
    rs["metadata"]["namespace"] = json!("gone");
    f.client
        .create(resource("apps", "replicasets"), Some("gone"), &rs)
        .await
        .unwrap();
    // The namespace vanishes under the ReplicaSet (as if deleted without its
    // controller finishing): every pod create is refused.
    let namespaces = resource("", "namespaces");
    f.env
        .store
        .delete(&namespaces.storage_key(None, "gone"), None)
        .await
        .unwrap();
    eventually("ReplicaFailure", || async {
        let got = f
            .client
            .get(resource("apps", "replicasets"), Some("gone"), "web")
            .await
            .unwrap();
        let failure = status::condition(&status::current(&got), status::REPLICA_FAILURE).cloned();
        failure.is_some_and(|c| {
            c.status == "True"
                && c.reason.as_deref() == Some("FailedCreate")
                && c.message.as_deref() == Some("namespaces \"gone\" not found")
        })
    })
    .await;
    let failed = f.events("FailedCreate");
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|m| m == "Error creating: namespaces \"gone\" not found"),
        "{failed:?}"
    );
    assert!(f.events("SuccessfulCreate").is_empty());
}
