//! The node lifecycle controller against an in-memory API, with a short grace period.

use super::*;
use crate::controllers::testing::{eventually, TestEnv};
use k1s_proto::patch::PatchType;
use k1s_proto::resources::find;

fn fast() -> Config {
    Config {
        grace_period: Duration::from_millis(600),
        startup_grace_period: Duration::from_millis(600),
        monitor_period: Duration::from_millis(50),
    }
}

fn nodes() -> &'static k1s_proto::ResourceInfo {
    find("", "v1", "nodes").unwrap()
}

fn leases() -> &'static k1s_proto::ResourceInfo {
    find("coordination.k8s.io", "v1", "leases").unwrap()
}

fn pods() -> &'static k1s_proto::ResourceInfo {
    find("", "v1", "pods").unwrap()
}

/// Creates a Ready node (its status as a kubelet reports it) and its Lease.
async fn ready_node(env: &TestEnv, name: &str) {
    let c = env.client();
    let created = c
        .create(
            nodes(),
            None,
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}),
        )
        .await
        .unwrap();
    post_ready(env, &created, "2026-01-01T00:00:00Z").await;
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": k1s_proto::meta::now_micro()}});
    c.create(leases(), Some(LEASE_NAMESPACE), &lease).await.unwrap();
}

/// Posts `Ready=True` with a heartbeat, as the kubelet does.
async fn post_ready(env: &TestEnv, node: &Value, heartbeat: &str) {
    let mut n = node.clone();
    n["status"]["conditions"] = json!([
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
         "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
         "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-01-01T00:00:00Z"}]);
    env.client().update_status(nodes(), None, &n).await.unwrap();
}

/// Keeps a node's Lease renewed until the environment is dropped.
fn keep_renewing(env: &TestEnv, name: &'static str) {
    let c = env.client();
    env.spawn(async move {
        loop {
            if let Ok(mut lease) = c.get(leases(), Some(LEASE_NAMESPACE), name).await {
                lease["spec"]["renewTime"] = json!(k1s_proto::meta::now_micro());
                let _ = c.update(leases(), Some(LEASE_NAMESPACE), &lease).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

async fn node(env: &TestEnv, name: &str) -> Value {
    env.client().get(nodes(), None, name).await.unwrap()
}

fn taints(n: &Value) -> Vec<(String, String)> {
    n["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["key"].as_str().unwrap_or("").to_string(),
                t["effect"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn taint(key: &str, effect: &str) -> (String, String) {
    (key.to_string(), effect.to_string())
}

#[tokio::test]
async fn silent_nodes_go_unknown_get_tainted_and_recover() {
    let env = TestEnv::new().await;
    env.create_namespace(LEASE_NAMESPACE).await;
    let c = env.client();
    ready_node(&env, "n1").await;
    // A ready pod on n1.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox:1.36"}]}});
    let mut created = c.create(pods(), Some("default"), &pod).await.unwrap();
    created["status"]["phase"] = json!("Running");
    created["status"]["conditions"] =
        json!([{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]);
    c.update_status(pods(), Some("default"), &created).await.unwrap();

    env.keep(spawn(env.api.clone(), fast(), env.shutdown()));

    // Nobody renews n1's Lease: Unknown, NoSchedule unreachable taint; being
    // the only node, no NoExecute taint (every zone is down).
    eventually("n1 Unknown", || async {
        let n = node(&env, "n1").await;
        health::condition(&n, "Ready").is_some_and(|r| r["status"] == "Unknown")
    })
    .await;
    let n = node(&env, "n1").await;
    let ready = health::condition(&n, "Ready").unwrap();
    assert_eq!(ready["reason"], "NodeStatusUnknown");
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    let pid = health::condition(&n, "PIDPressure").unwrap();
    assert_eq!(pid["reason"], "NodeStatusNeverUpdated");
    eventually("unreachable NoSchedule taint", || async {
        taints(&node(&env, "n1").await) == vec![taint(UNREACHABLE, "NoSchedule")]
    })
    .await;
    eventually("pod marked not ready", || async {
        let p = c.get(pods(), Some("default"), "web").await.unwrap();
        health::condition(&p, "Ready").is_some_and(|r| r["status"] == "False")
    })
    .await;
    let events = c
        .list(find("", "v1", "events").unwrap(), Some("default"), "")
        .await
        .unwrap();
    let reasons: Vec<(&str, &str)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["reason"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or("")))
        .collect();
    for want in [
        ("RegisteredNode", "Node n1 event: Registered Node n1 in Controller"),
        ("NodeNotReady", "Node n1 status is now: NodeNotReady"),
        ("NodeNotReady", "Node is not ready"),
    ] {
        assert!(reasons.contains(&want), "{want:?} in {reasons:?}");
    }

    // A second, healthy node: the zone is no longer fully disrupted, so n1
    // gets the NoExecute taint too; n2, cordoned, gets `unschedulable`.
    ready_node(&env, "n2").await;
    keep_renewing(&env, "n2");
    eventually("unreachable NoExecute taint", || async {
        taints(&node(&env, "n1").await) == vec![taint(UNREACHABLE, "NoSchedule"), taint(UNREACHABLE, "NoExecute")]
    })
    .await;
    let n1 = node(&env, "n1").await;
    let no_execute = n1["spec"]["taints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["effect"] == "NoExecute");
    assert!(no_execute.is_some_and(|t| t["timeAdded"].is_string()));
    c.patch(
        nodes(),
        None,
        "n2",
        None,
        PatchType::Merge,
        &json!({"spec": {"unschedulable": true}}),
    )
    .await
    .unwrap();
    eventually("cordoned n2 tainted", || async {
        taints(&node(&env, "n2").await) == vec![taint(taints::UNSCHEDULABLE_TAINT, "NoSchedule")]
    })
    .await;

    // n1's kubelet reports again: Ready, taints gone.
    keep_renewing(&env, "n1");
    post_ready(&env, &node(&env, "n1").await, "2026-01-01T00:10:00Z").await;
    eventually("n1 untainted", || async {
        let n = node(&env, "n1").await;
        taints(&n).is_empty() && n["spec"]["taints"].is_null()
    })
    .await;
    assert_eq!(ready_status(&node(&env, "n1").await), Some("True"));
}

use crate::registry::default_tolerations::UNREACHABLE_TAINT as UNREACHABLE;
