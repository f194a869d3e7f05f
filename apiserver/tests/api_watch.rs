//! API tests: watches — from a revision, from now, with selectors (objects
//! leaving the selection are DELETED), bookmarks, timeouts, 410 Expired —
//! and kube-runtime's watcher working unchanged.

mod common;

use std::time::Duration;

use common::TestServer;
use futures::{StreamExt, TryStreamExt};
use http::Method;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;

async fn create_cm(s: &TestServer, name: &str, labels: serde_json::Value) -> String {
    let (code, body) = s
        .json(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            &json!({"metadata": {"name": name, "labels": labels}}),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    body["metadata"]["resourceVersion"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn watch_from_revision_replays_then_streams() {
    let s = TestServer::start().await;
    let rv = create_cm(&s, "first", json!({})).await;
    create_cm(&s, "second", json!({})).await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    // Replayed: only what came after `rv`.
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Added(cm)) => assert_eq!(cm.metadata.name.as_deref(), Some("second")),
        other => panic!("{other:?}"),
    }
    create_cm(&s, "third", json!({})).await;
    match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Added(cm)) => assert_eq!(cm.metadata.name.as_deref(), Some("third")),
        other => panic!("{other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn watch_with_selector_sees_objects_leave() {
    let s = TestServer::start().await;
    let rv = create_cm(&s, "w", json!({"app": "web"})).await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    let mut stream = cms
        .watch(&WatchParams::default().labels("app=web").timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    s.json(
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/w",
        &json!({"metadata": {"labels": {"app": "db"}}}),
    )
    .await;
    match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Deleted(cm)) => assert_eq!(cm.metadata.labels.unwrap()["app"], "db"),
        other => panic!("expected DELETED, got {other:?}"),
    }
    s.json(
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/w",
        &json!({"metadata": {"labels": {"app": "web"}}}),
    )
    .await;
    match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Added(_)) => {}
        other => panic!("expected ADDED, got {other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn watch_from_now_sends_initial_state_and_times_out() {
    let s = TestServer::start().await;
    create_cm(&s, "existing", json!({})).await;
    let (code, body) = s
        .raw(
            Method::GET,
            "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1",
            None,
            "",
        )
        .await;
    assert_eq!(code, 200);
    // The whole (finished) stream came back as text: one ADDED line for the existing object.
    let text = body.as_str().map(String::from).unwrap_or_else(|| body.to_string());
    assert!(text.contains("\"ADDED\"") && text.contains("existing"), "{text}");
    s.stop().await;
}

#[tokio::test]
async fn watch_bookmarks_and_legacy_path() {
    let s = TestServer::start().await;
    let rv = create_cm(&s, "b", json!({})).await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    let mut stream = cms
        .watch(&WatchParams::default().timeout(20), &rv)
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(Duration::from_secs(15), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ev, Some(WatchEvent::Bookmark(_))), "{ev:?}");
    let (code, body) = s
        .raw(
            Method::GET,
            &format!("/api/v1/watch/namespaces/default/configmaps?resourceVersion={rv}&timeoutSeconds=1"),
            None,
            "",
        )
        .await;
    assert_eq!(code, 200, "{body}");
    s.stop().await;
}

#[tokio::test]
async fn kube_runtime_watcher_works() {
    let s = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    let mut stream = watcher(cms.clone(), watcher::Config::default()).boxed();
    let mut saw_init_done = false;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
    {
        if matches!(ev.unwrap(), watcher::Event::InitDone) {
            saw_init_done = true;
            break;
        }
    }
    assert!(saw_init_done);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "rt"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let watcher::Event::Apply(cm) = ev {
            assert_eq!(cm.metadata.name.as_deref(), Some("rt"));
            break;
        }
    }
    s.stop().await;
}
