//! API tests: server-side apply and managedFields on every write.

mod common;

use common::TestServer;
use http::Method;
use serde_json::{json, Value};

const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments/web";
const APPLY: &str = "application/apply-patch+yaml";

fn manifest(replicas: i64, paused: bool) -> String {
    let paused = if paused { "\n  paused: true" } else { "" };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}{paused}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: nginx\n        image: nginx:1.25\n        ports:\n        - containerPort: 80\n"
    )
}

async fn apply(s: &TestServer, query: &str, body: &str) -> (u16, Value) {
    s.raw(
        Method::PATCH,
        &format!("{DEPLOY}?{query}"),
        Some(body.as_bytes().to_vec()),
        APPLY,
    )
    .await
}

fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

#[tokio::test]
async fn apply_creates_updates_conflicts_and_forces() {
    // The Deployment controller would write the Deployment (status, revision
    // annotation) between the applies that must leave it unchanged.
    let s = TestServer::start_without_workload_controllers().await;

    // fieldManager is required.
    let (code, body) = apply(&s, "", &manifest(2, false)).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );

    // Creates the object (201), then a second identical apply is a no-op.
    let (code, created) = apply(&s, "fieldManager=kubectl", &manifest(2, false)).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["spec"]["replicas"], 2);
    assert_eq!(created["spec"]["strategy"]["type"], "RollingUpdate", "defaulted");
    let e = entry(&created, "kubectl").expect("kubectl entry");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert!(e["time"].is_string());
    let fields = &e["fieldsV1"]["f:spec"];
    assert_eq!(fields["f:selector"], json!({}));
    assert!(
        fields["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]["f:ports"]
            ["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]
            .is_object()
    );
    assert!(
        fields.get("f:strategy").is_none(),
        "defaults are not owned by the applier"
    );
    let (code, again) = apply(&s, "fieldManager=kubectl", &manifest(2, false)).await;
    assert_eq!(code, 200);
    assert_eq!(
        again["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"],
        "no-op apply writes nothing"
    );

    // A second manager changing replicas conflicts.
    let other = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n";
    let (code, status) = apply(&s, "fieldManager=other", other).await;
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
    );
    assert_eq!(
        status["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"kubectl\"", "field": ".spec.replicas"}])
    );

    // force=true takes ownership.
    let (code, forced) = apply(&s, "fieldManager=other&force=true", other).await;
    assert_eq!(code, 200, "{forced}");
    assert_eq!(forced["spec"]["replicas"], 5);
    assert!(entry(&forced, "other").expect("other")["fieldsV1"]["f:spec"]["f:replicas"].is_object());
    assert!(entry(&forced, "kubectl").expect("kubectl")["fieldsV1"]["f:spec"]
        .get("f:replicas")
        .is_none());

    // Dropping a field from the manifest removes it; dry run stores nothing.
    let (code, paused) = apply(&s, "fieldManager=kubectl", &manifest(5, true)).await;
    assert_eq!(code, 200, "{paused}");
    assert_eq!(paused["spec"]["paused"], true);
    let (code, dry) = apply(&s, "fieldManager=kubectl&dryRun=All", &manifest(5, false)).await;
    assert_eq!(code, 200);
    assert!(dry["spec"].get("paused").is_none());
    let (_, live) = s.raw(Method::GET, DEPLOY, None, "").await;
    assert_eq!(live["spec"]["paused"], true, "dry run stored nothing");
    let (code, unpaused) = apply(&s, "fieldManager=kubectl", &manifest(5, false)).await;
    assert_eq!(code, 200);
    assert!(unpaused["spec"].get("paused").is_none(), "{}", unpaused["spec"]);

    // Wrong kind, managedFields in the body, bad YAML.
    let (code, body) = apply(
        &s,
        "fieldManager=kubectl",
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web\n",
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(body["message"], "invalid object type: apps/v1, Kind=ReplicaSet");
    let (code, body) = apply(
        &s,
        "fieldManager=kubectl",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  managedFields: []\n",
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(body["message"], "metadata.managedFields must be nil");
    let (code, _) = apply(&s, "fieldManager=kubectl", "a: [").await;
    assert_eq!(code, 400);
    s.stop().await;
}

#[tokio::test]
async fn every_write_tracks_managed_fields() {
    let s = TestServer::start().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, cm) = s
        .raw(
            Method::POST,
            &format!("{path}?fieldManager=creator"),
            Some(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})
                    .to_string()
                    .into_bytes(),
            ),
            "application/json",
        )
        .await;
    assert_eq!(code, 201, "{cm}");
    let e = entry(&cm, "creator").expect("creator");
    assert_eq!(e["operation"], "Update");
    assert_eq!(e["apiVersion"], "v1");
    assert_eq!(e["fieldsV1"], json!({"f:data": {".": {}, "f:a": {}}}));

    // A merge patch by another manager takes the field it changes.
    let (code, patched) = s
        .raw(
            Method::PATCH,
            &format!("{path}/c?fieldManager=patcher"),
            Some(json!({"data": {"a": "2", "b": "3"}}).to_string().into_bytes()),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        entry(&patched, "patcher").expect("patcher")["fieldsV1"],
        json!({"f:data": {"f:a": {}, "f:b": {}}})
    );
    assert_eq!(
        entry(&patched, "creator").expect("creator")["fieldsV1"],
        json!({"f:data": {}})
    );

    // The default manager comes from the User-Agent (kube-rs here).
    let (code, by_agent) = s
        .raw(
            Method::PATCH,
            &format!("{path}/c"),
            Some(json!({"data": {"c": "4"}}).to_string().into_bytes()),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!(code, 200);
    let managers: Vec<&str> = by_agent["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers.len(), 3, "{managers:?}");
    assert!(!managers.iter().any(|m| m.contains('/')), "{managers:?}");

    // An empty list resets managedFields; later updates stay untracked.
    let (code, reset) = s
        .raw(
            Method::PATCH,
            &format!("{path}/c?fieldManager=resetter"),
            Some(json!({"metadata": {"managedFields": []}}).to_string().into_bytes()),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!(code, 200);
    assert!(reset["metadata"].get("managedFields").is_none(), "{reset}");

    // fieldManager validation.
    let long = "x".repeat(129);
    let (code, body) = s
        .raw(
            Method::POST,
            &format!("{path}?fieldManager={long}"),
            Some(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}})
                    .to_string()
                    .into_bytes(),
            ),
            "application/json",
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("CreateOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long"));
    s.stop().await;
}

#[tokio::test]
async fn status_subresource_apply_and_update() {
    let s = TestServer::start_without_workload_controllers().await;
    let (code, _) = apply(&s, "fieldManager=kubectl", &manifest(1, false)).await;
    assert_eq!(code, 201);
    let status = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nstatus:\n  replicas: 1\n  observedGeneration: 1\n";
    let (code, obj) = s
        .raw(
            Method::PATCH,
            &format!("{DEPLOY}/status?fieldManager=ctrl"),
            Some(status.as_bytes().to_vec()),
            APPLY,
        )
        .await;
    assert_eq!(code, 200, "{obj}");
    assert_eq!(obj["status"]["replicas"], 1);
    let e = entry(&obj, "ctrl").expect("ctrl");
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {"f:observedGeneration": {}, "f:replicas": {}}})
    );
    assert!(entry(&obj, "kubectl").is_some());

    // Apply to the status of a missing object is 404.
    let (code, _) = s
        .raw(
            Method::PATCH,
            "/apis/apps/v1/namespaces/default/deployments/nope/status?fieldManager=ctrl",
            Some(status.replace("name: web", "name: nope").into_bytes()),
            APPLY,
        )
        .await;
    assert_eq!(code, 404);
    s.stop().await;
}
