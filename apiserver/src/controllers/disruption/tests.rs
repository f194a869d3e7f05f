//! The disruption controller and the eviction subresource against an in-memory API.

use super::*;
use crate::controllers::testing::{eventually, TestEnv};
use k1s_proto::resources::find;
use serde_json::json;

fn pods() -> &'static k1s_proto::ResourceInfo {
    find("", "v1", "pods").unwrap()
}

fn budgets() -> &'static k1s_proto::ResourceInfo {
    find("policy", "v1", "poddisruptionbudgets").unwrap()
}

/// A pod on node `n1` in `phase`, Ready or not, optionally owned by `owner` (a ReplicaSet).
async fn pod(env: &TestEnv, name: &str, phase: &str, ready: bool, owner: Option<&Value>) {
    let c = env.client();
    let mut p = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox:1.36"}]}});
    if let Some(rs) = owner {
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"], "controller": true}]);
    }
    let mut created = c.create(pods(), Some("default"), &p).await.unwrap();
    created["status"]["phase"] = json!(phase);
    created["status"]["conditions"] = json!([{"type": "Ready", "status": if ready { "True" } else { "False" }}]);
    c.update_status(pods(), Some("default"), &created).await.unwrap();
}

async fn budget(env: &TestEnv, name: &str) -> Value {
    env.client().get(budgets(), Some("default"), name).await.unwrap()
}

fn counts(b: &Value) -> (i64, i64, i64, i64) {
    let s = &b["status"];
    let n = |f: &str| s[f].as_i64().unwrap_or(-1);
    (
        n("expectedPods"),
        n("currentHealthy"),
        n("desiredHealthy"),
        n("disruptionsAllowed"),
    )
}

fn evict(name: &str, grace: Option<i64>) -> Value {
    let mut e =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}});
    if let Some(g) = grace {
        e["deleteOptions"] = json!({"gracePeriodSeconds": g});
    }
    e
}

#[tokio::test]
async fn budgets_count_pods_and_evictions_respect_them() {
    let env = TestEnv::new().await;
    let c = env.client();
    for name in ["p1", "p2", "p3"] {
        pod(&env, name, "Running", true, None).await;
    }
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}});
    c.create(budgets(), Some("default"), &pdb).await.unwrap();
    env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
    eventually("budget status", || async {
        counts(&budget(&env, "web").await) == (3, 3, 2, 1)
    })
    .await;
    let b = budget(&env, "web").await;
    assert_eq!(b["status"]["observedGeneration"], 1);
    let cond = &b["status"]["conditions"][0];
    assert_eq!(
        (cond["type"].as_str(), cond["status"].as_str(), cond["reason"].as_str()),
        (Some("DisruptionAllowed"), Some("True"), Some("SufficientPods"))
    );

    // One disruption allowed: p1 goes.
    let ok = c
        .create_subresource(pods(), Some("default"), "p1", "eviction", &evict("p1", Some(0)))
        .await
        .unwrap();
    assert_eq!(
        (ok["status"].as_str(), ok["code"].as_i64()),
        (Some("Success"), Some(201))
    );
    assert!(c.get(pods(), Some("default"), "p1").await.unwrap_err().is_not_found());
    eventually("budget exhausted", || async {
        counts(&budget(&env, "web").await) == (2, 2, 2, 0)
    })
    .await;
    let b = budget(&env, "web").await;
    assert_eq!(b["status"]["conditions"][0]["reason"], "InsufficientPods");
    assert!(
        b["status"].get("disruptedPods").is_none(),
        "the evicted pod is gone: {b}"
    );

    // None left: 429 with the budget's cause.
    let refused = c
        .create_subresource(pods(), Some("default"), "p2", "eviction", &evict("p2", None))
        .await
        .unwrap_err();
    assert_eq!((refused.code, refused.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(
        refused.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(refused.causes[0].reason, "DisruptionBudget");
    assert_eq!(
        refused.causes[0].message,
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
    assert!(c.get(pods(), Some("default"), "p2").await.is_ok());

    // A pending pod needs no budget: it is marked and deleted (gracefully, being on a node).
    pod(&env, "pending", "Pending", false, None).await;
    c.create_subresource(pods(), Some("default"), "pending", "eviction", &evict("pending", None))
        .await
        .unwrap();
    let p = c.get(pods(), Some("default"), "pending").await.unwrap();
    assert!(p["metadata"]["deletionTimestamp"].is_string(), "{p}");
    let target = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "DisruptionTarget")
        .cloned()
        .unwrap();
    assert_eq!(
        (
            target["status"].as_str(),
            target["reason"].as_str(),
            target["message"].as_str()
        ),
        (
            Some("True"),
            Some("EvictionByEvictionAPI"),
            Some("Eviction API: evicting")
        )
    );

    // An unready pod of a budget that is not disrupted goes without spending a disruption.
    pod(&env, "sick", "Running", false, None).await;
    c.create_subresource(pods(), Some("default"), "sick", "eviction", &evict("sick", Some(0)))
        .await
        .unwrap();
    assert!(c.get(pods(), Some("default"), "sick").await.unwrap_err().is_not_found());
    assert_eq!(counts(&budget(&env, "web").await).3, 0);

    // Wrong name, missing pod.
    let wrong = c
        .create_subresource(pods(), Some("default"), "p2", "eviction", &evict("p3", None))
        .await
        .unwrap_err();
    assert_eq!(
        (wrong.code, wrong.message.as_str()),
        (400, "name in URL does not match name in Eviction object")
    );
    let missing = c
        .create_subresource(pods(), Some("default"), "nope", "eviction", &evict("nope", None))
        .await
        .unwrap_err();
    assert_eq!(missing.code, 404);
}

#[tokio::test]
async fn max_unavailable_counts_the_controllers_scale() {
    let env = TestEnv::new().await;
    let c = env.client();
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}});
    let rs = c
        .create(find("apps", "v1", "replicasets").unwrap(), Some("default"), &rs)
        .await
        .unwrap();
    for name in ["a", "b", "c"] {
        pod(&env, name, "Running", true, Some(&rs)).await;
    }
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "web"}}}});
    c.create(budgets(), Some("default"), &pdb).await.unwrap();
    env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
    // 4 expected (the ReplicaSet's replicas), 2 may be unavailable: 2 desired, 3 healthy.
    eventually("budget by scale", || async {
        counts(&budget(&env, "web").await) == (4, 3, 2, 1)
    })
    .await;

    // A bare pod joins: a budget by scale cannot count it, and says so.
    let bare = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "bare", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}});
    c.create(pods(), Some("default"), &bare).await.unwrap();
    let events = find("", "v1", "events").unwrap();
    eventually("UnmanagedPods event", || async {
        let list = c.list(events, Some("default"), "").await.unwrap();
        list["items"].as_array().unwrap().iter().any(|e| {
            e["reason"] == "UnmanagedPods"
                && e["message"].as_str().is_some_and(|m| {
                    m.starts_with("Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:map[string]string{app: web,},")
                })
        })
    })
    .await;
}
