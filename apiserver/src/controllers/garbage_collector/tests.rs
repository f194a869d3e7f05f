use super::*;
use crate::controllers::resource;
use crate::controllers::testing::{eventually, TestEnv};
use k1s_proto::ApiError;

fn uids(states: &[(&str, OwnerState)]) -> Vec<(String, OwnerState)> {
    states.iter().map(|(u, s)| (u.to_string(), *s)).collect()
}

/// name, owners, has dependents, a dependent waits, finalizers, expected plan.
type Case = (&'static str, Vec<(String, OwnerState)>, bool, bool, Vec<String>, Plan);

#[test]
fn decisions_follow_kubernetes() {
    use OwnerState::*;
    let none: &[String] = &[];
    let cases: Vec<Case> = vec![
        (
            "solid owner keeps it",
            uids(&[("a", Solid)]),
            false,
            false,
            vec![],
            Plan::Nothing,
        ),
        (
            "solid owner, dangling and waiting references are dropped",
            uids(&[("a", Solid), ("b", Dangling), ("c", Waiting)]),
            false,
            false,
            vec![],
            Plan::RemoveOwnerRefs(vec!["b".into(), "c".into()]),
        ),
        (
            "all owners gone: background",
            uids(&[("a", Dangling), ("b", Dangling)]),
            true,
            false,
            vec![],
            Plan::Delete {
                policy: "Background",
                unblock: false,
            },
        ),
        (
            "waiting owner, own dependents: foreground",
            uids(&[("a", Waiting)]),
            true,
            false,
            vec![],
            Plan::Delete {
                policy: "Foreground",
                unblock: false,
            },
        ),
        (
            "waiting owner, a dependent waits too: unblock",
            uids(&[("a", Waiting), ("b", Dangling)]),
            true,
            true,
            vec![],
            Plan::Delete {
                policy: "Foreground",
                unblock: true,
            },
        ),
        (
            "waiting owner, no dependents: background",
            uids(&[("a", Waiting)]),
            false,
            false,
            vec![],
            Plan::Delete {
                policy: "Background",
                unblock: false,
            },
        ),
        (
            "own orphan finalizer is honoured",
            uids(&[("a", Dangling)]),
            false,
            false,
            vec!["orphan".into()],
            Plan::Delete {
                policy: "Orphan",
                unblock: false,
            },
        ),
        (
            "own foreground finalizer is honoured",
            uids(&[("a", Dangling)]),
            false,
            false,
            vec!["foregroundDeletion".into()],
            Plan::Delete {
                policy: "Foreground",
                unblock: false,
            },
        ),
    ];
    for (name, owners, has_deps, dep_waits, fins, want) in cases {
        assert_eq!(decide(&owners, has_deps, dep_waits, &fins), want, "{name}");
    }
    assert_eq!(
        decide(&[], false, false, none),
        Plan::Delete {
            policy: "Background",
            unblock: false
        }
    );
}

#[test]
fn owner_references_resolve_by_scope() {
    let resources = collected_resources();
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u"});
    match Graph::target(&resources, Some("a"), &rs) {
        OwnerTarget::Found { info, index, namespace } => {
            assert_eq!(info.plural, "replicasets");
            assert!(index.is_some());
            assert_eq!(
                namespace.as_deref(),
                Some("a"),
                "looked up in the dependent's namespace"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(Graph::target(&resources, None, &rs), OwnerTarget::InvalidNamespace);
    let node = json!({"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u"});
    assert!(matches!(
        Graph::target(&resources, Some("a"), &node),
        OwnerTarget::Found { namespace: None, .. }
    ));
    let hpa_v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "name": "h", "uid": "u"});
    assert!(matches!(
        Graph::target(&resources, Some("a"), &hpa_v1),
        OwnerTarget::Found { index: Some(_), .. }
    ));
    let unknown = json!({"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "u"});
    assert_eq!(Graph::target(&resources, Some("a"), &unknown), OwnerTarget::UnknownKind);
}

fn owner_ref(owner: &Value, kind: &str, api_version: &str, block: bool) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": block,
    })
}

fn pod(name: &str, refs: Vec<Value>, finalizers: &[&str]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "ownerReferences": refs, "finalizers": finalizers},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    })
}

async fn start(env: &TestEnv) {
    env.keep(spawn(
        env.api.clone(),
        Config {
            workers: 2,
            resync: Duration::from_secs(60),
        },
        env.shutdown(),
    ));
}

fn not_found(r: Result<Value, ApiError>) -> bool {
    r.is_err_and(|e| e.is_not_found())
}

async fn replica_set(env: &TestEnv, ns: &str, name: &str) -> Value {
    let rs = resource("apps", "replicasets");
    let obj = json!({"metadata": {"name": name}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    env.client().create(rs, Some(ns), &obj).await.unwrap()
}

#[tokio::test]
async fn background_deletes_dependents_of_gone_owners_by_uid_and_namespace() {
    let env = TestEnv::new().await;
    let c = env.client();
    let (pods, rss, cms, crs) = (
        resource("", "pods"),
        resource("apps", "replicasets"),
        resource("", "configmaps"),
        resource("rbac.authorization.k8s.io", "clusterroles"),
    );
    env.create_namespace("other").await;
    let web = replica_set(&env, "default", "web").await;
    let web_ref = owner_ref(&web, "ReplicaSet", "apps/v1", true);
    for name in ["p1", "p2"] {
        c.create(pods, Some("default"), &pod(name, vec![web_ref.clone()], &[]))
            .await
            .unwrap();
    }
    c.create(pods, Some("default"), &pod("loner", vec![], &[]))
        .await
        .unwrap();
    let mut stale = web_ref.clone();
    stale["uid"] = json!("not-the-replicaset");
    c.create(pods, Some("default"), &pod("stale-uid", vec![stale], &[]))
        .await
        .unwrap();
    // Owners are looked up in the dependent's namespace: `web` is not in `other`.
    c.create(pods, Some("other"), &pod("cross-ns", vec![web_ref.clone()], &[]))
        .await
        .unwrap();
    // A cluster-scoped owner of a namespaced dependent is fine.
    let cr = c
        .create(crs, None, &json!({"metadata": {"name": "owner-cr"}}))
        .await
        .unwrap();
    let cm = json!({"metadata": {"name": "by-cr", "ownerReferences": [owner_ref(&cr, "ClusterRole", "rbac.authorization.k8s.io/v1", false)]}});
    c.create(cms, Some("default"), &cm).await.unwrap();
    // A cluster-scoped dependent of a namespaced owner is invalid and left alone.
    let invalid = json!({"metadata": {"name": "invalid-dep", "ownerReferences": [stale_ref("default-ns-owner")]}});
    c.create(crs, None, &invalid).await.unwrap();

    start(&env).await;
    eventually("dangling dependents deleted", || async {
        not_found(c.get(pods, Some("default"), "stale-uid").await)
            && not_found(c.get(pods, Some("other"), "cross-ns").await)
    })
    .await;
    for name in ["p1", "p2", "loner"] {
        assert!(
            c.get(pods, Some("default"), name).await.is_ok(),
            "{name} has a live owner"
        );
    }
    assert!(c.get(cms, Some("default"), "by-cr").await.is_ok());

    c.delete(rss, Some("default"), "web", &Value::Null).await.unwrap();
    c.delete(crs, None, "owner-cr", &Value::Null).await.unwrap();
    eventually("pods of the deleted ReplicaSet collected", || async {
        not_found(c.get(pods, Some("default"), "p1").await)
            && not_found(c.get(pods, Some("default"), "p2").await)
            && not_found(c.get(cms, Some("default"), "by-cr").await)
    })
    .await;
    assert!(c.get(pods, Some("default"), "loner").await.is_ok());
    assert!(c.get(crs, None, "invalid-dep").await.is_ok());
}

fn stale_ref(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": "gone"})
}

#[tokio::test]
async fn foreground_waits_for_blocking_dependents() {
    let env = TestEnv::new().await;
    let c = env.client();
    let (pods, rss) = (resource("", "pods"), resource("apps", "replicasets"));
    let web = replica_set(&env, "default", "web").await;
    let blocking = owner_ref(&web, "ReplicaSet", "apps/v1", true);
    c.create(
        pods,
        Some("default"),
        &pod("held", vec![blocking.clone()], &["example.com/hold"]),
    )
    .await
    .unwrap();
    c.create(pods, Some("default"), &pod("quick", vec![blocking], &[]))
        .await
        .unwrap();
    start(&env).await;

    let foreground = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"});
    c.delete(rss, Some("default"), "web", &foreground).await.unwrap();
    eventually("dependents deleted", || async {
        let held = c.get(pods, Some("default"), "held").await;
        not_found(c.get(pods, Some("default"), "quick").await) && held.is_ok_and(|p| p.deletion_timestamp().is_some())
    })
    .await;
    let owner = c
        .get(rss, Some("default"), "web")
        .await
        .expect("owner waits for the held pod");
    assert_eq!(owner.finalizers(), vec![FOREGROUND.to_string()]);

    let release = json!({"metadata": {"finalizers": null}});
    c.patch(pods, Some("default"), "held", None, PatchType::Merge, &release)
        .await
        .unwrap();
    eventually("owner removed after its dependents", || async {
        not_found(c.get(rss, Some("default"), "web").await)
    })
    .await;
}

#[tokio::test]
async fn orphan_leaves_dependents_without_the_reference() {
    let env = TestEnv::new().await;
    let c = env.client();
    let (pods, rss, cms) = (
        resource("", "pods"),
        resource("apps", "replicasets"),
        resource("", "configmaps"),
    );
    let web = replica_set(&env, "default", "web").await;
    let keeper = c
        .create(cms, Some("default"), &json!({"metadata": {"name": "keeper"}}))
        .await
        .unwrap();
    let web_ref = owner_ref(&web, "ReplicaSet", "apps/v1", true);
    let mut keeper_ref = owner_ref(&keeper, "ConfigMap", "v1", false);
    keeper_ref["controller"] = json!(false);
    c.create(pods, Some("default"), &pod("only-rs", vec![web_ref.clone()], &[]))
        .await
        .unwrap();
    c.create(
        pods,
        Some("default"),
        &pod("two-owners", vec![web_ref, keeper_ref.clone()], &[]),
    )
    .await
    .unwrap();
    start(&env).await;

    let orphan = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"});
    c.delete(rss, Some("default"), "web", &orphan).await.unwrap();
    eventually("owner removed", || async {
        not_found(c.get(rss, Some("default"), "web").await)
    })
    .await;
    let only = c
        .get(pods, Some("default"), "only-rs")
        .await
        .expect("orphaned, not deleted");
    assert!(only.owner_references().is_empty());
    let two = c.get(pods, Some("default"), "two-owners").await.expect("kept");
    assert_eq!(two.owner_references(), vec![keeper_ref]);
    // Orphans stay orphans: nothing collects them later.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(c.get(pods, Some("default"), "only-rs").await.is_ok());
}
