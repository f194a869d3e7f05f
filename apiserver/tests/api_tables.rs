//! API tests: server-side printing — `Accept: …;as=Table` for list, get and watch,
//! `includeObject`, `as=PartialObjectMetadata(List)`, and 406 for what cannot be served.

mod common;

use bytes::Bytes;
use common::TestServer;
use http::{Method, Request};
use serde_json::{json, Value};

const KUBECTL: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// Sends a request with an `Accept` header; the body as JSON, or as text when it is not one document.
async fn send(s: &TestServer, method: Method, path: &str, accept: &str, body: Option<&Value>) -> (u16, Value) {
    let mut b = Request::builder().method(method).uri(path).header("accept", accept);
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let bytes = body.map(|v| v.to_string().into_bytes()).unwrap_or_default();
    let req = b.body(kube::client::Body::from(bytes)).expect("request");
    let resp = s.client.send(req).await.expect("send");
    let code = resp.status().as_u16();
    let bytes: Bytes = resp.into_body().collect_bytes().await.expect("body");
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (code, value)
}

async fn create(s: &TestServer, path: &str, obj: Value) -> Value {
    let (code, body) = s.json(Method::POST, path, &obj).await;
    assert_eq!(code, 201, "{body}");
    body
}

/// A pod no scheduler takes (so its status is the test's alone to write).
async fn create_pod(s: &TestServer, name: &str) -> Value {
    create(
        s,
        "/api/v1/namespaces/default/pods",
        json!({"metadata": {"name": name}, "spec": {"schedulerName": "none",
            "containers": [{"name": "c", "image": "busybox"}]}}),
    )
    .await
}

fn column_names(table: &Value) -> Vec<(String, i64)> {
    table["columnDefinitions"]
        .as_array()
        .expect("column definitions")
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["priority"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn list_and_get_pods_as_tables() {
    let s = TestServer::start().await;
    create_pod(&s, "web").await;
    let mut done = create_pod(&s, "job").await;
    done["status"] = json!({"phase": "Succeeded", "containerStatuses": [{"name": "c", "image": "busybox", "imageID": "",
        "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]});
    let (code, body) = s
        .json(Method::PUT, "/api/v1/namespaces/default/pods/job/status", &done)
        .await;
    assert_eq!(code, 200, "{body}");

    let (code, t) = send(&s, Method::GET, "/api/v1/namespaces/default/pods", KUBECTL, None).await;
    assert_eq!(code, 200, "{t}");
    assert_eq!(
        (t["kind"].as_str(), t["apiVersion"].as_str()),
        (Some("Table"), Some("meta.k8s.io/v1"))
    );
    assert!(t["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|rv| !rv.is_empty()));
    let names: Vec<(&str, i64)> = vec![
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ];
    assert_eq!(
        column_names(&t),
        names.iter().map(|(n, p)| (n.to_string(), *p)).collect::<Vec<_>>()
    );
    let rows = t["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let job = rows.iter().find(|r| r["cells"][0] == "job").expect("job row");
    assert_eq!(
        &job["cells"].as_array().unwrap()[1..4],
        &[json!("0/1"), json!("Completed"), json!("0")]
    );
    assert_eq!(job["conditions"][0]["reason"], "Succeeded");
    assert_eq!(job["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(job["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(job["object"]["metadata"]["namespace"], "default");
    let web = rows.iter().find(|r| r["cells"][0] == "web").expect("web row");
    assert_eq!(
        &web["cells"].as_array().unwrap()[1..4],
        &[json!("0/1"), json!("Pending"), json!("0")]
    );
    assert_eq!(
        &web["cells"].as_array().unwrap()[5..],
        &[json!("<none>"), json!("<none>"), json!("<none>"), json!("<none>")]
    );

    // One object: a one-row Table at the object's resourceVersion.
    let (code, one) = send(&s, Method::GET, "/api/v1/namespaces/default/pods/job", KUBECTL, None).await;
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["kind"], "Table");
    assert_eq!(one["rows"].as_array().unwrap().len(), 1);
    assert_eq!(one["metadata"]["resourceVersion"], done_rv(&s, "job").await);

    // v1beta1 when only that is accepted.
    let (_, beta) = send(
        &s,
        Method::GET,
        "/api/v1/namespaces/default/pods",
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
        None,
    )
    .await;
    assert_eq!(beta["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(beta["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");

    // Plain JSON is unchanged.
    let (_, plain) = send(
        &s,
        Method::GET,
        "/api/v1/namespaces/default/pods",
        "application/json",
        None,
    )
    .await;
    assert_eq!(plain["kind"], "PodList");
    s.stop().await;
}

async fn done_rv(s: &TestServer, name: &str) -> Value {
    let (_, pod) = s
        .raw(
            Method::GET,
            &format!("/api/v1/namespaces/default/pods/{name}"),
            None,
            "",
        )
        .await;
    pod["metadata"]["resourceVersion"].clone()
}

#[tokio::test]
async fn include_object_variants() {
    let s = TestServer::start().await;
    create(
        &s,
        "/api/v1/namespaces/default/configmaps",
        json!({"metadata": {"name": "cfg"}, "data": {"a": "1"}}),
    )
    .await;
    let path = "/api/v1/namespaces/default/configmaps";

    let (_, t) = send(&s, Method::GET, &format!("{path}?includeObject=None"), KUBECTL, None).await;
    let row = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"][0] == "cfg")
        .unwrap()
        .clone();
    assert_eq!(row["cells"][1], 1);
    assert!(row.as_object().unwrap().contains_key("object"));
    assert_eq!(row["object"], Value::Null);

    let (_, t) = send(&s, Method::GET, &format!("{path}?includeObject=Object"), KUBECTL, None).await;
    let row = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"][0] == "cfg")
        .unwrap()
        .clone();
    assert_eq!(row["object"]["kind"], "ConfigMap");
    assert_eq!(row["object"]["apiVersion"], "v1");
    assert_eq!(row["object"]["data"], json!({"a": "1"}));

    let (_, t) = send(
        &s,
        Method::GET,
        &format!("{path}?includeObject=Metadata"),
        KUBECTL,
        None,
    )
    .await;
    let row = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"][0] == "cfg")
        .unwrap()
        .clone();
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert!(row["object"].get("data").is_none());

    let (code, err) = send(
        &s,
        Method::GET,
        &format!("{path}?includeObject=Everything"),
        KUBECTL,
        None,
    )
    .await;
    assert_eq!(code, 400, "{err}");
    assert_eq!(err["reason"], "BadRequest");
    assert_eq!(
        err["message"],
        "Unable to convert to Table as requested: includeObject: Invalid value: \"Everything\": must be 'Metadata', 'Object', 'None', or empty"
    );
    s.stop().await;
}

#[tokio::test]
async fn unsupported_transformations_are_not_acceptable() {
    let s = TestServer::start().await;
    for accept in [
        "application/json;as=Foo;v=v1;g=meta.k8s.io",
        "application/json;as=Table;v=v2;g=meta.k8s.io",
        "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
    ] {
        let (code, err) = send(&s, Method::GET, "/api/v1/namespaces/default/configmaps", accept, None).await;
        assert_eq!(code, 406, "{accept}: {err}");
        assert_eq!(err["kind"], "Status");
        assert_eq!(err["reason"], "NotAcceptable");
        assert_eq!(
            err["message"],
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
        );
    }
    // Nothing is created when the answer could not be written.
    let (code, _) = send(
        &s,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        "application/json;as=Foo;v=v1;g=meta.k8s.io",
        Some(&json!({"metadata": {"name": "never"}})),
    )
    .await;
    assert_eq!(code, 406);
    let (code, _) = s
        .raw(Method::GET, "/api/v1/namespaces/default/configmaps/never", None, "")
        .await;
    assert_eq!(code, 404);
    s.stop().await;
}

#[tokio::test]
async fn partial_object_metadata() {
    let s = TestServer::start().await;
    create(
        &s,
        "/api/v1/namespaces/default/configmaps",
        json!({"metadata": {"name": "cfg", "labels": {"a": "b"}}, "data": {"k": "v"}}),
    )
    .await;
    let one = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io";
    let many = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

    let (code, p) = send(&s, Method::GET, "/api/v1/namespaces/default/configmaps/cfg", one, None).await;
    assert_eq!(code, 200, "{p}");
    assert_eq!(p["kind"], "PartialObjectMetadata");
    assert_eq!(p["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(p["metadata"]["labels"], json!({"a": "b"}));
    assert!(p.get("data").is_none());

    let (code, l) = send(&s, Method::GET, "/api/v1/namespaces/default/configmaps", many, None).await;
    assert_eq!(code, 200, "{l}");
    assert_eq!(l["kind"], "PartialObjectMetadataList");
    assert!(l["metadata"]["resourceVersion"].is_string());
    let item = l["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "cfg")
        .unwrap()
        .clone();
    assert_eq!(item["kind"], "PartialObjectMetadata");
    assert!(item.get("data").is_none());

    let (code, err) = send(&s, Method::GET, "/api/v1/namespaces/default/configmaps", one, None).await;
    assert_eq!(code, 406, "{err}");
    assert_eq!(
        err["message"],
        "you requested PartialObjectMetadata, but the requested object is a list (*core.ConfigMapList)"
    );

    // kube-rs' metadata API uses these media types.
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(s.client.clone(), "default");
    let meta = api.get_metadata("cfg").await.expect("get_metadata");
    assert_eq!(meta.metadata.name.as_deref(), Some("cfg"));
    let metas = api.list_metadata(&Default::default()).await.expect("list_metadata");
    assert!(metas.items.iter().any(|m| m.metadata.name.as_deref() == Some("cfg")));
    s.stop().await;
}

#[tokio::test]
async fn watch_tables_send_columns_once() {
    let s = TestServer::start().await;
    for name in ["a", "b"] {
        create(
            &s,
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"name": name}}),
        )
        .await;
    }
    let (code, body) = send(
        &s,
        Method::GET,
        "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1",
        KUBECTL,
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let text = body.as_str().map(String::from).unwrap_or_else(|| body.to_string());
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line"))
        .collect();
    let ours: Vec<&Value> = events
        .iter()
        .filter(|e| e["object"]["rows"][0]["cells"][0] == "a" || e["object"]["rows"][0]["cells"][0] == "b")
        .collect();
    assert_eq!(ours.len(), 2, "{text}");
    for e in &events {
        assert_eq!(e["type"], "ADDED");
        assert_eq!(e["object"]["kind"], "Table");
        assert_eq!(e["object"]["rows"].as_array().unwrap().len(), 1);
        assert!(e["object"]["metadata"]["resourceVersion"].is_string());
    }
    // Column definitions come with the first event only.
    assert_eq!(
        column_names(&events[0]["object"]),
        vec![("Name".to_string(), 0), ("Data".to_string(), 0), ("Age".to_string(), 0)]
    );
    for e in &events[1..] {
        assert_eq!(e["object"]["columnDefinitions"], Value::Null);
    }
    s.stop().await;
}

#[tokio::test]
async fn kinds_without_printer_get_default_columns_and_events_share_columns() {
    let s = TestServer::start().await;
    create(
        &s,
        "/api/v1/namespaces/default/limitranges",
        json!({"metadata": {"name": "lr"}, "spec": {"limits": [{"type": "Container", "default": {"cpu": "100m"}}]}}),
    )
    .await;
    let (_, t) = send(&s, Method::GET, "/api/v1/namespaces/default/limitranges", KUBECTL, None).await;
    assert_eq!(
        column_names(&t),
        vec![("Name".to_string(), 0), ("Created At".to_string(), 0)]
    );
    assert_eq!(t["columnDefinitions"][1]["type"], "date");
    assert_eq!(t["rows"][0]["cells"][0], "lr");
    assert!(t["rows"][0]["cells"][1].as_str().is_some_and(|c| c.ends_with('Z')));

    create(
        &s,
        "/api/v1/namespaces/default/events",
        json!({"metadata": {"name": "ev1"}, "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
               "reason": "Started", "message": "Started container", "type": "Normal",
               "source": {"component": "kubelet"}, "count": 2,
               "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:00:00Z"}),
    )
    .await;
    for path in [
        "/api/v1/namespaces/default/events",
        "/apis/events.k8s.io/v1/namespaces/default/events",
    ] {
        let (code, t) = send(&s, Method::GET, path, KUBECTL, None).await;
        assert_eq!(code, 200, "{t}");
        assert_eq!(t["columnDefinitions"][0]["name"], "Last Seen", "{path}");
        let row = t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["cells"][9] == "ev1")
            .unwrap()
            .clone();
        let cells = row["cells"].as_array().unwrap();
        assert_eq!(
            &cells[1..7],
            &[
                json!("Normal"),
                json!("Started"),
                json!("pod/web"),
                json!(""),
                json!("kubelet"),
                json!("Started container")
            ],
            "{path}"
        );
        assert_eq!(cells[8], json!(2), "{path}");
    }
    s.stop().await;
}

#[tokio::test]
async fn writes_answer_tables_when_asked() {
    let s = TestServer::start().await;
    let (code, t) = send(
        &s,
        Method::POST,
        "/api/v1/namespaces/default/configmaps",
        KUBECTL,
        Some(&json!({"metadata": {"name": "new"}, "data": {"a": "1", "b": "2"}})),
    )
    .await;
    assert_eq!(code, 201, "{t}");
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["rows"][0]["cells"][0], "new");
    assert_eq!(t["rows"][0]["cells"][1], 2);
    // A delete answering with a Status passes it through.
    let (code, st) = send(
        &s,
        Method::DELETE,
        "/api/v1/namespaces/default/configmaps/new",
        KUBECTL,
        None,
    )
    .await;
    assert_eq!(code, 200, "{st}");
    assert!(st["kind"] == "Status" || st["kind"] == "Table", "{st}");
    s.stop().await;
}
