//! The DaemonSet controller against the API, with a stand-in kubelet.

use k1s_proto::patch::PatchType;

use super::*;
use crate::controllers::testing::{eventually, TestEnv};

/// Plays scheduler and kubelet for daemon pods: they turn Running and Ready
/// (on the node their affinity names); pods being deleted go at once.
async fn kubelet(env: Arc<TestEnv>) {
    let c = env.client();
    loop {
        if let Ok(list) = c.list(pods(), Some("default"), "").await {
            for p in list["items"].as_array().into_iter().flatten() {
                let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
                if p["metadata"]["deletionTimestamp"].is_string() {
                    let _ = c
                        .delete(pods(), Some("default"), &name, &json!({"gracePeriodSeconds": 0}))
                        .await;
                } else if p["status"]["phase"] != "Running" {
                    env.set_pod_status(
                        "default",
                        &name,
                        "Running",
                        Some("10.42.0.5"),
                        true,
                        "2026-01-01T00:00:00Z",
                    )
                    .await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_pod_per_node_and_a_rolling_update() {
    let env = Arc::new(TestEnv::new().await);
    let c = env.client();
    let nodes = resource("", "nodes");
    c.create(nodes, None, &json!({"metadata": {"name": "n1"}}))
        .await
        .unwrap();
    c.create(nodes, None, &json!({"metadata": {"name": "n2"}, "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}))
        .await
        .unwrap();
    env.spawn(kubelet(env.clone()));
    env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
    c.create(daemonsets(), Some("default"), &json!({"metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}}))
        .await
        .unwrap();
    let status = || async { c.get(daemonsets(), Some("default"), "agent").await.unwrap()["status"].clone() };
    eventually("running on the untainted node", || async {
        let s = status().await;
        s["desiredNumberScheduled"] == 1
            && s["numberReady"] == 1
            && s["updatedNumberScheduled"] == 1
            && s["numberAvailable"] == 1
    })
    .await;
    let list = c.list(pods(), Some("default"), "").await.unwrap();
    let pods_now = list["items"].as_array().unwrap();
    assert_eq!(pods_now.len(), 1);
    let pod = &pods_now[0];
    assert!(pod["metadata"]["name"].as_str().unwrap().starts_with("agent-"));
    assert_eq!(util::target_node(pod).as_deref(), Some("n1"));
    assert_eq!(pod["metadata"]["labels"]["pod-template-generation"], "1");
    let tolerations: Vec<&str> = pod["spec"]["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["key"].as_str())
        .collect();
    assert!(
        tolerations.contains(&"node.kubernetes.io/unreachable"),
        "{tolerations:?}"
    );
    let rev1 = pod["metadata"]["labels"][HASH_LABEL].as_str().unwrap().to_string();
    let revision = c
        .get(history::revisions(), Some("default"), &format!("agent-{rev1}"))
        .await
        .unwrap();
    assert_eq!(revision["revision"], 1);
    assert_eq!(revision["metadata"]["labels"][HASH_LABEL], rev1.as_str());

    // The taint goes: the second node gets its pod.
    let mut n2 = c.get(nodes, None, "n2").await.unwrap();
    n2["spec"]["taints"] = json!([]);
    c.update(nodes, None, &n2).await.unwrap();
    eventually("on both nodes", || async {
        let s = status().await;
        s["desiredNumberScheduled"] == 2 && s["currentNumberScheduled"] == 2 && s["numberReady"] == 2
    })
    .await;

    // A new template replaces the pods, one node at a time.
    c.patch(
        daemonsets(),
        Some("default"),
        "agent",
        None,
        PatchType::StrategicMerge,
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}}),
    )
    .await
    .unwrap();
    eventually("rolled", || async {
        let s = status().await;
        let list = c.list(pods(), Some("default"), "").await.unwrap();
        let items = list["items"].as_array().cloned().unwrap_or_default();
        s["updatedNumberScheduled"] == 2
            && s["numberAvailable"] == 2
            && s["observedGeneration"] == 2
            && items.len() == 2
            && items.iter().all(|p| {
                p["spec"]["containers"][0]["image"] == "busybox:2"
                    && p["metadata"]["labels"]["pod-template-generation"] == "2"
            })
    })
    .await;
    let revisions = c.list(history::revisions(), Some("default"), "").await.unwrap();
    let mut numbers: Vec<i64> = revisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["revision"].as_i64())
        .collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2]);

    let events = c.list(resource("", "events"), Some("default"), "").await.unwrap();
    let created = events["items"].as_array().unwrap().iter().filter(|e| {
        e["reason"] == "SuccessfulCreate"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Created pod: agent-"))
    });
    assert!(created.count() >= 3);
}
