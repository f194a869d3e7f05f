//! The manager against the in-process API server (fake runtime): the informer
//! scoped to the node, status patches, events and the final deletion.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k1s_apiserver::client::Client;
use k1s_apiserver::store::MemoryStore;
use k1s_apiserver::{Api, ApiConfig};
use k1s_proto::resources::find;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::pods::api::ClientApi;
use crate::pods::events::EventRecorder;
use crate::pods::fakes::Env;
use crate::pods::manager::PodManager;
use crate::pods::worker::NodeFacts;
use crate::runtime::ContainerRunState;

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pod(name: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 3,
            "containers": [{"name": "app", "image": "busybox:1.36", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}}],
        },
    })
}

#[tokio::test]
async fn runs_a_pod_bound_to_the_node_and_deletes_it_gracefully() {
    let api = Api::new(
        MemoryStore::new(),
        ApiConfig {
            node_name: "node1".into(),
            service_account_keys: None,
            root_ca_pem: None,
        },
    )
    .expect("api");
    let admin = Client::for_controller(api.clone(), "test");
    let ns = find("", "v1", "namespaces").unwrap();
    let pods = find("", "v1", "pods").unwrap();
    let events = find("", "v1", "events").unwrap();
    admin
        .create(
            ns,
            None,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        )
        .await
        .unwrap();

    let env = Env::new();
    let node_client = Client::for_node(api.clone(), "node1");
    let mut deps = env.deps.clone();
    deps.api = Arc::new(ClientApi::new(node_client.clone()).unwrap());
    deps.events = Arc::new(EventRecorder::spawn(node_client.clone(), "node1".into()));
    let manager = PodManager::new(
        deps,
        NodeFacts {
            name: "node1".into(),
            ips: vec!["192.168.1.10".parse().unwrap()],
        },
    );
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(manager.run(
        node_client,
        futures::stream::pending().boxed(),
        futures::stream::pending().boxed(),
        stop_rx,
    ));

    admin.create(pods, Some("default"), &pod("web", "node1")).await.unwrap();
    admin
        .create(pods, Some("default"), &pod("elsewhere", "node2"))
        .await
        .unwrap();

    eventually("the pod runs and its status says so", || async {
        let p = admin.get(pods, Some("default"), "web").await.unwrap();
        p["status"]["phase"] == "Running" && p["status"]["containerStatuses"][0]["ready"] == true
    })
    .await;
    let p = admin.get(pods, Some("default"), "web").await.unwrap();
    assert_eq!(p["status"]["qosClass"], "Burstable");
    assert_eq!(p["status"]["podIP"], "10.42.0.7");
    assert_eq!(p["status"]["hostIP"], "192.168.1.10");
    let ready = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .unwrap();
    assert_eq!(ready["status"], "True");
    assert!(
        env.runtime
            .containers
            .lock()
            .unwrap()
            .iter()
            .all(|c| c.pod_name == "web"),
        "pods of other nodes are not run"
    );

    eventually("kubelet events", || async {
        let list = admin.list(events, Some("default"), "").await.unwrap();
        let reasons: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["reason"].as_str().unwrap_or("").to_string())
            .collect();
        reasons.contains(&"Started".to_string())
    })
    .await;
    let list = admin.list(events, Some("default"), "").await.unwrap();
    let started = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "Started")
        .cloned()
        .unwrap();
    assert_eq!(started["message"], "Started container app");
    assert_eq!(started["source"]["component"], "kubelet");
    assert_eq!(started["involvedObject"]["fieldPath"], "spec.containers{app}");

    // A graceful delete: the agent stops the container and removes the pod for good.
    admin.delete(pods, Some("default"), "web", &Value::Null).await.unwrap();
    eventually("the pod is gone", || async {
        admin
            .get(pods, Some("default"), "web")
            .await
            .is_err_and(|e| e.code == 404)
    })
    .await;
    assert!(env.runtime.containers.lock().unwrap().is_empty());
    let stops = env.runtime.stops.lock().unwrap().clone();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].1, Duration::from_secs(3));
    assert!(!env
        .runtime
        .containers
        .lock()
        .unwrap()
        .iter()
        .any(|c| matches!(c.state, ContainerRunState::Running { .. })));

    stop.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
