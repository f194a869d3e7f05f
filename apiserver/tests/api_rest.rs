//! API tests: the REST verbs, metadata rules, optimistic concurrency,
//! selectors, pagination, patches and subresources, through kube-rs and raw requests.

mod common;

use common::TestServer;
use http::Method;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn deployment(name: &str, app: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "ports": [{"containerPort": 80}]}]}}
        }
    })
}

#[tokio::test]
async fn create_get_update_delete_with_metadata() {
    let s = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    let mut cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}, "data": {"k": "v"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_deref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    let rv1: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();
    assert_eq!(meta.namespace.as_deref(), Some("default"));

    // Already exists.
    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );

    // Update bumps resourceVersion; a stale one conflicts.
    cm = created.clone();
    cm.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = cms.replace("a", &PostParams::default(), &cm).await.unwrap();
    let rv2: u64 = updated.metadata.resource_version.as_deref().unwrap().parse().unwrap();
    assert!(rv2 > rv1);
    let err = cms.replace("a", &PostParams::default(), &cm).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );
    assert_eq!(updated.metadata.uid, created.metadata.uid, "uid is immutable");

    // generateName.
    let gen: ConfigMap = serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let g = cms.create(&PostParams::default(), &gen).await.unwrap();
    let name = g.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    // Delete, then NotFound with Kubernetes' message.
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let err = cms.get("a").await.unwrap_err();
    match err {
        kube::Error::Api(st) => {
            assert_eq!(st.code, 404);
            assert_eq!(st.reason, "NotFound");
            assert_eq!(st.message, "configmaps \"a\" not found");
        }
        other => panic!("{other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn generation_tracks_spec_and_status_is_separate() {
    let s = TestServer::start_without_workload_controllers().await;
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let (code, d) = s.json(Method::POST, path, &deployment("web", "web")).await;
    assert_eq!(code, 201, "{d}");
    assert_eq!(d["metadata"]["generation"], 1);

    // Label change: no generation bump. Spec change: bump.
    let (_, d) = s
        .json(
            Method::PATCH,
            &format!("{path}/web"),
            &json!({"metadata": {"labels": {"x": "y"}}}),
        )
        .await;
    assert_eq!(d["metadata"]["generation"], 1);
    let (_, d) = s
        .json(Method::PATCH, &format!("{path}/web"), &json!({"spec": {"replicas": 3}}))
        .await;
    assert_eq!(d["metadata"]["generation"], 2);

    // Status written through the main resource is ignored…
    let (_, d) = s
        .json(
            Method::PATCH,
            &format!("{path}/web"),
            &json!({"status": {"replicas": 7}}),
        )
        .await;
    assert!(d["status"]["replicas"].is_null(), "{d}");
    // …and spec written through status is ignored.
    let (code, d) = s
        .json(
            Method::PATCH,
            &format!("{path}/web/status"),
            &json!({"status": {"replicas": 7}, "spec": {"replicas": 9}}),
        )
        .await;
    assert_eq!(code, 200, "{d}");
    assert_eq!(d["status"]["replicas"], 7);
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["generation"], 2);
    s.stop().await;
}

#[tokio::test]
async fn scale_subresource() {
    let s = TestServer::start().await;
    let deploys: Api<Deployment> = Api::namespaced(s.client.clone(), "default");
    let d: Deployment = serde_json::from_value(deployment("web", "web")).unwrap();
    deploys.create(&PostParams::default(), &d).await.unwrap();
    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
    assert_eq!(scale.status.map(|s| s.selector), Some(Some("app=web".to_string())));
    deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(deploys.get("web").await.unwrap().spec.unwrap().replicas, Some(4));
    let (code, body) = s
        .json(
            Method::PATCH,
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
            &json!({"spec": {"replicas": -1}}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    s.stop().await;
}

#[tokio::test]
async fn patches_of_every_type() {
    let s = TestServer::start().await;
    let deploys: Api<Deployment> = Api::namespaced(s.client.clone(), "default");
    let d: Deployment = serde_json::from_value(deployment("web", "web")).unwrap();
    deploys.create(&PostParams::default(), &d).await.unwrap();

    // Strategic merge: containers merge by name, ports kept.
    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}});
    let out = deploys
        .patch("web", &PatchParams::default(), &Patch::Strategic(smp))
        .await
        .unwrap();
    let c = &out.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0];
    assert_eq!(c.image.as_deref(), Some("busybox:1.37"));
    assert_eq!(c.ports.as_ref().map(|p| p.len()), Some(1));

    // Merge patch replaces the whole list.
    let mp = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.38"}]}}}});
    let out = deploys
        .patch("web", &PatchParams::default(), &Patch::Merge(mp))
        .await
        .unwrap();
    let c = &out.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0];
    assert!(c.ports.is_none());

    // JSON patch, including a failing test op.
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 2}])).unwrap();
    let out = deploys
        .patch("web", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(out.spec.unwrap().replicas, Some(2));
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 5}])).unwrap();
    let err = deploys
        .patch("web", &PatchParams::default(), &Patch::<()>::Json(bad))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(st) if st.code == 422 || st.code == 400),
        "{err:?}"
    );

    // Unsupported patch content type.
    let (code, _) = s
        .raw(
            Method::PATCH,
            "/apis/apps/v1/namespaces/default/deployments/web",
            Some(b"{}".to_vec()),
            "text/plain",
        )
        .await;
    assert_eq!(code, 415);
    s.stop().await;
}

#[tokio::test]
async fn selectors_and_pagination() {
    let s = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    for (name, tier, env) in [
        ("a", "web", "prod"),
        ("b", "web", "dev"),
        ("c", "db", "prod"),
        ("d", "cache", ""),
    ] {
        let mut labels = serde_json::Map::new();
        labels.insert("tier".into(), json!(tier));
        if !env.is_empty() {
            labels.insert("env".into(), json!(env));
        }
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        // Every namespace also holds the root CA publisher's ConfigMap.
        l.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .filter(|n| n != "kube-root-ca.crt")
            .collect()
    };
    let cases = [
        ("tier=web", vec!["a", "b"]),
        ("tier==web", vec!["a", "b"]),
        ("tier!=web", vec!["c", "d"]),
        ("tier in (db,cache)", vec!["c", "d"]),
        ("tier notin (web)", vec!["c", "d"]),
        ("env", vec!["a", "b", "c"]),
        ("!env", vec!["d"]),
        ("tier=web,env=prod", vec!["a"]),
    ];
    for (sel, want) in cases {
        let got = names(cms.list(&ListParams::default().labels(sel)).await.unwrap());
        assert_eq!(got, want, "selector {sel}");
    }
    let got = names(
        cms.list(&ListParams::default().fields("metadata.name=c"))
            .await
            .unwrap(),
    );
    assert_eq!(got, vec!["c"]);
    let (code, body) = s
        .raw(
            Method::GET,
            "/api/v1/namespaces/default/configmaps?fieldSelector=spec.nope%3D1",
            None,
            "",
        )
        .await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = s
        .raw(
            Method::GET,
            "/api/v1/namespaces/default/configmaps?labelSelector=in%20in",
            None,
            "",
        )
        .await;
    assert_eq!(code, 400);

    // limit/continue.
    let page1 = cms.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(page1.items.len(), 3);
    let token = page1.metadata.continue_.clone().expect("continue token");
    // d and kube-root-ca.crt remain.
    assert_eq!(page1.metadata.remaining_item_count, Some(2));
    let page2 = cms
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(page2), vec!["d"]);
    s.stop().await;
}

#[tokio::test]
async fn pod_field_selectors_and_cluster_scope() {
    let s = TestServer::start().await;
    for (name, node) in [("p1", "n1"), ("p2", "n2")] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox:1.36"}]}});
        let (code, body) = s.json(Method::POST, "/api/v1/namespaces/default/pods", &pod).await;
        assert_eq!(code, 201, "{body}");
    }
    let (_, list) = s
        .raw(Method::GET, "/api/v1/pods?fieldSelector=spec.nodeName%3Dn2", None, "")
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"]["name"], "p2");
    let (_, list) = s
        .raw(
            Method::GET,
            "/api/v1/pods?fieldSelector=status.phase%3DPending",
            None,
            "",
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["kind"], "PodList");

    let (code, ns) = s
        .json(
            Method::POST,
            "/api/v1/namespaces",
            &json!({"metadata": {"name": "other"}}),
        )
        .await;
    assert_eq!(code, 201, "{ns}");
    assert_eq!(ns["status"]["phase"], "Active");
    let (code, _) = s
        .raw(Method::GET, "/api/v1/namespaces/default/namespaces", None, "")
        .await;
    assert_eq!(code, 404);
    s.stop().await;
}

#[tokio::test]
async fn delete_collection_and_preconditions() {
    let s = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    for name in ["x1", "x2", "y1"] {
        let app = if name.starts_with('x') { "x" } else { "y" };
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    cms.delete_collection(&DeleteParams::default(), &ListParams::default().labels("app=x"))
        .await
        .unwrap();
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n != "kube-root-ca.crt")
        .collect();
    assert_eq!(left, vec!["y1"]);

    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("wrong".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let err = cms.delete("y1", &dp).await.unwrap_err();
    assert!(matches!(&err, kube::Error::Api(st) if st.code == 409), "{err:?}");

    // Finalizers hold an object until removed.
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());
    s.stop().await;
}

#[tokio::test]
async fn list_resource_version_semantics() {
    let s = TestServer::start().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let (_, created) = s.json(Method::POST, path, &json!({"metadata": {"name": "a"}})).await;
    let rv: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    s.json(Method::POST, path, &json!({"metadata": {"name": "b"}})).await;
    let get = |q: String| {
        let s = &s;
        async move { s.raw(Method::GET, &format!("{path}?{q}"), None, "").await }
    };
    assert_eq!(get("resourceVersion=0".into()).await.0, 200);
    assert_eq!(
        get(format!("resourceVersion={rv}&resourceVersionMatch=NotOlderThan"))
            .await
            .0,
        200
    );
    let (code, st) = get(format!("resourceVersion={rv}&resourceVersionMatch=Exact")).await;
    assert_eq!(code, 410, "an older exact revision is not kept: {st}");
    assert_eq!(st["reason"], "Expired");
    assert_eq!(get("resourceVersionMatch=Exact".into()).await.0, 422);
    assert_eq!(
        get(format!("resourceVersion={rv}&resourceVersionMatch=Sometimes"))
            .await
            .0,
        422
    );
    assert_eq!(get("resourceVersion=abc".into()).await.0, 400);
    assert_eq!(get("resourceVersion=99999999".into()).await.0, 504);
    s.stop().await;
}
