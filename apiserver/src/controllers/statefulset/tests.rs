//! The StatefulSet controller against the API, with a stand-in kubelet.

use std::sync::atomic::{AtomicBool, Ordering};

use k1s_proto::patch::PatchType;
use serde_json::json;

use super::*;
use crate::controllers::testing::{eventually, TestEnv};

/// Plays the kubelet: pods being deleted go at once; with `auto`, new pods
/// turn Running and Ready.
async fn kubelet(
    c: Client,
    auto: Arc<AtomicBool>,
    set_status: impl Fn(String) -> futures::future::BoxFuture<'static, ()>,
) {
    loop {
        if let Ok(list) = c.list(pods(), Some("default"), "").await {
            for p in list["items"].as_array().into_iter().flatten() {
                let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
                if p["metadata"]["deletionTimestamp"].is_string() {
                    let _ = c
                        .delete(pods(), Some("default"), &name, &json!({"gracePeriodSeconds": 0}))
                        .await;
                } else if auto.load(Ordering::SeqCst) && p["status"]["phase"] != "Running" {
                    set_status(name).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn web(replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "annotations": {"kubernetes.io/change-cause": "first"}},
        "spec": {"replicas": replicas, "serviceName": "nginx", "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
}

#[tokio::test]
async fn ordered_pods_claims_scaling_and_rolling_updates() {
    let env = Arc::new(TestEnv::new().await);
    let c = env.client();
    let auto = Arc::new(AtomicBool::new(false));
    let e = env.clone();
    let set_ready = move |name: String| -> futures::future::BoxFuture<'static, ()> {
        let e = e.clone();
        Box::pin(async move {
            e.set_pod_status(
                "default",
                &name,
                "Running",
                Some("10.42.0.9"),
                true,
                "2026-01-01T00:00:00Z",
            )
            .await;
        })
    };
    env.spawn(kubelet(c.clone(), auto.clone(), set_ready));
    env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
    c.create(sets(), Some("default"), &web(3)).await.unwrap();

    let exists = |name: &'static str| {
        let c = c.clone();
        async move { c.get(pods(), Some("default"), name).await.is_ok() }
    };
    // OrderedReady: web-1 only once web-0 is Running and Ready.
    eventually("web-0", || exists("web-0")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!exists("web-1").await, "web-1 waits for web-0");
    let web0 = c.get(pods(), Some("default"), "web-0").await.unwrap();
    assert_eq!(web0["spec"]["hostname"], "web-0");
    assert_eq!(web0["spec"]["subdomain"], "nginx");
    assert_eq!(
        web0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
        "web-0"
    );
    assert_eq!(web0["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "0");
    assert_eq!(
        web0["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "www-web-0"
    );
    let claim = c.get(claims(), Some("default"), "www-web-0").await.unwrap();
    assert_eq!(claim["metadata"]["labels"], json!({"app": "web"}));
    assert!(
        claim["metadata"].get("ownerReferences").is_none(),
        "Retain/Retain: no owners"
    );

    auto.store(true, Ordering::SeqCst);
    let status = || async { c.get(sets(), Some("default"), "web").await.unwrap()["status"].clone() };
    eventually("3 ready", || async {
        let s = status().await;
        s["readyReplicas"] == 3 && s["currentReplicas"] == 3 && s["updatedReplicas"] == 3
    })
    .await;
    let s = status().await;
    let rev1 = s["currentRevision"].as_str().unwrap().to_string();
    assert_eq!(s["updateRevision"], rev1.as_str());
    assert_eq!(s["availableReplicas"], 3);
    assert_eq!(s["observedGeneration"], 1);
    let revision = c.get(history::revisions(), Some("default"), &rev1).await.unwrap();
    assert_eq!(revision["revision"], 1);
    assert_eq!(
        revision["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "first"
    );
    assert_eq!(web0["metadata"]["labels"]["controller-revision-hash"], rev1.as_str());

    // A deleted pod comes back under its name, with its claim.
    let old_uid = c.get(pods(), Some("default"), "web-1").await.unwrap()["metadata"]["uid"].clone();
    c.delete(pods(), Some("default"), "web-1", &json!({"gracePeriodSeconds": 0}))
        .await
        .unwrap();
    eventually("web-1 back", || async {
        c.get(pods(), Some("default"), "web-1").await.is_ok_and(|p| {
            p["metadata"]["uid"] != old_uid
                && p["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "www-web-1"
        })
    })
    .await;

    // Scaling down removes the highest ordinals; claims stay.
    c.patch(
        sets(),
        Some("default"),
        "web",
        None,
        PatchType::Merge,
        &json!({"spec": {"replicas": 1}}),
    )
    .await
    .unwrap();
    eventually("scaled to 1", || async {
        !exists("web-2").await && !exists("web-1").await && status().await["replicas"] == 1
    })
    .await;
    for n in ["www-web-0", "www-web-1", "www-web-2"] {
        assert!(c.get(claims(), Some("default"), n).await.is_ok(), "{n} kept");
    }

    // A new template rolls web-0 to a second revision; undoing renumbers the first.
    c.patch(
        sets(),
        Some("default"),
        "web",
        None,
        PatchType::StrategicMerge,
        &json!({"metadata": {"annotations": {"kubernetes.io/change-cause": "second"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}}),
    )
    .await
    .unwrap();
    eventually("rolled", || async {
        let s = status().await;
        s["updateRevision"] != rev1.as_str()
            && s["currentRevision"] == s["updateRevision"]
            && s["readyReplicas"] == 1
            && c.get(pods(), Some("default"), "web-0")
                .await
                .is_ok_and(|p| p["spec"]["containers"][0]["image"] == "busybox:2")
    })
    .await;
    let rev2 = status().await["updateRevision"].as_str().unwrap().to_string();
    assert_eq!(
        c.get(history::revisions(), Some("default"), &rev2).await.unwrap()["revision"],
        2
    );
    let first = c.get(history::revisions(), Some("default"), &rev1).await.unwrap();
    c.patch(
        sets(),
        Some("default"),
        "web",
        None,
        PatchType::StrategicMerge,
        &first["data"],
    )
    .await
    .unwrap();
    eventually("undone", || async {
        status().await["currentRevision"] == rev1.as_str()
            && c.get(history::revisions(), Some("default"), &rev1)
                .await
                .is_ok_and(|r| r["revision"] == 3)
            && c.get(pods(), Some("default"), "web-0")
                .await
                .is_ok_and(|p| p["spec"]["containers"][0]["image"] == "busybox:1")
    })
    .await;

    let events = c.list(resource("", "events"), Some("default"), "").await.unwrap();
    let messages: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    for want in [
        "create Claim www-web-0 Pod web-0 in StatefulSet web success",
        "create Pod web-0 in StatefulSet web successful",
        "delete Pod web-2 in StatefulSet web successful",
    ] {
        assert!(messages.contains(&want), "{want} in {messages:?}");
    }
}

#[tokio::test]
async fn retention_policy_deletes_claims_with_the_scaled_down_pod() {
    let env = Arc::new(TestEnv::new().await);
    let c = env.client();
    let e = env.clone();
    let set_ready = move |name: String| -> futures::future::BoxFuture<'static, ()> {
        let e = e.clone();
        Box::pin(async move {
            e.set_pod_status(
                "default",
                &name,
                "Running",
                Some("10.42.0.9"),
                true,
                "2026-01-01T00:00:00Z",
            )
            .await;
        })
    };
    env.spawn(kubelet(c.clone(), Arc::new(AtomicBool::new(true)), set_ready));
    env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
    let mut set = web(2);
    set["spec"]["podManagementPolicy"] = json!("Parallel");
    set["spec"]["persistentVolumeClaimRetentionPolicy"] = json!({"whenDeleted": "Delete", "whenScaled": "Delete"});
    let created = c.create(sets(), Some("default"), &set).await.unwrap();
    let owned_by_set = |name: &'static str| {
        let (c, uid) = (c.clone(), created["metadata"]["uid"].clone());
        async move {
            c.get(claims(), Some("default"), name)
                .await
                .is_ok_and(|pvc| pvc["metadata"]["ownerReferences"][0]["uid"] == uid)
        }
    };
    eventually("claims owned by the set", || async {
        owned_by_set("www-web-0").await && owned_by_set("www-web-1").await
    })
    .await;
    let web1 = c.get(pods(), Some("default"), "web-1").await.unwrap();
    c.patch(
        sets(),
        Some("default"),
        "web",
        None,
        PatchType::Merge,
        &json!({"spec": {"replicas": 1}}),
    )
    .await
    .unwrap();
    // Scaled away: the claim's owner becomes the pod (the garbage collector then deletes it).
    eventually("claim owned by the condemned pod", || async {
        c.get(claims(), Some("default"), "www-web-1").await.is_ok_and(|pvc| {
            pvc["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|r| r.len() == 1 && r[0]["uid"] == web1["metadata"]["uid"])
        })
    })
    .await;
    let web0_claim = c.get(claims(), Some("default"), "www-web-0").await.unwrap();
    assert_eq!(web0_claim["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
}
