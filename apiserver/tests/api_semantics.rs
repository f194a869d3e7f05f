//! API tests: defaulting, validation, immutability, Service allocation,
//! Secret stringData, namespaces, discovery, authentication, limits,
//! garbage collection and namespace deletion.

mod common;

use std::time::Duration;

use common::{send, TestServer};
use http::Method;
use serde_json::{json, Value};

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const SERVICES: &str = "/api/v1/namespaces/default/services";

fn deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
        }
    })
}

async fn poll<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn deployment_defaults_and_validation() {
    let s = TestServer::start().await;
    let (code, d) = s.json(Method::POST, DEPLOYS, &deployment("web")).await;
    assert_eq!(code, 201, "{d}");
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    let c = &pod["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");

    // Selector must match the template; the error names the field.
    let mut bad = deployment("bad");
    bad["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
    let (code, st) = s.json(Method::POST, DEPLOYS, &bad).await;
    assert_eq!(code, 422, "{st}");
    assert_eq!(st["reason"], "Invalid");
    assert_eq!(st["details"]["kind"], "Deployment");
    assert!(
        st["details"]["causes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "spec.template.metadata.labels"),
        "{st}"
    );

    // Bad names.
    let (code, st) = s.json(Method::POST, DEPLOYS, &deployment("Not_Valid")).await;
    assert_eq!(code, 422, "{st}");
    assert!(st["message"].as_str().unwrap().contains("metadata.name"), "{st}");

    // The selector is immutable.
    let (code, st) = s
        .json(Method::PATCH, &format!("{DEPLOYS}/web"), &json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}}}}))
        .await;
    assert_eq!(code, 422, "{st}");
    assert!(st["message"].as_str().unwrap().contains("field is immutable"), "{st}");

    // Wrong types are a 400 naming the problem.
    let mut wrong = deployment("wrong");
    wrong["spec"]["replicas"] = json!("three");
    let (code, st) = s.json(Method::POST, DEPLOYS, &wrong).await;
    assert_eq!(code, 400, "{st}");
    s.stop().await;
}

#[tokio::test]
async fn services_get_cluster_ips_and_node_ports() {
    let s = TestServer::start().await;
    let svc = |name: &str, ty: &str, node_port: Option<u16>| {
        let mut port = json!({"port": 80, "targetPort": 8080});
        if let Some(np) = node_port {
            port["nodePort"] = json!(np);
        }
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": ty, "selector": {"app": name}, "ports": [port]}})
    };
    let (code, a) = s.json(Method::POST, SERVICES, &svc("a", "ClusterIP", None)).await;
    assert_eq!(code, 201, "{a}");
    let ip = a["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.43.") && ip != "10.43.0.1", "{ip}");
    assert_eq!(a["spec"]["sessionAffinity"], "None");
    assert_eq!(a["spec"]["ports"][0]["protocol"], "TCP");

    let (code, b) = s.json(Method::POST, SERVICES, &svc("b", "NodePort", Some(30080))).await;
    assert_eq!(code, 201, "{b}");
    assert_eq!(b["spec"]["ports"][0]["nodePort"], 30080);
    let (code, st) = s.json(Method::POST, SERVICES, &svc("c", "NodePort", Some(30080))).await;
    assert_eq!(code, 422, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("provided port is already allocated"),
        "{st}"
    );
    let (code, st) = s.json(Method::POST, SERVICES, &svc("d", "NodePort", Some(8080))).await;
    assert_eq!(code, 422, "{st}");

    let mut taken = svc("e", "ClusterIP", None);
    taken["spec"]["clusterIP"] = json!(ip);
    let (code, st) = s.json(Method::POST, SERVICES, &taken).await;
    assert_eq!(code, 422, "{st}");

    // Released on delete, so the port can be used again.
    s.raw(Method::DELETE, &format!("{SERVICES}/b"), None, "").await;
    let (code, st) = s.json(Method::POST, SERVICES, &svc("c", "NodePort", Some(30080))).await;
    assert_eq!(code, 201, "{st}");

    // A dry-run update claims nothing: its port and the stored one stay as they were.
    let patch = json!({"spec": {"ports": [{"port": 80, "nodePort": 30090}]}});
    let (code, st) = s
        .raw(
            Method::PATCH,
            &format!("{SERVICES}/c?dryRun=All"),
            Some(patch.to_string().into_bytes()),
            "application/merge-patch+json",
        )
        .await;
    assert_eq!(code, 200, "{st}");
    assert_eq!(st["spec"]["ports"][0]["nodePort"], 30090);
    let (code, st) = s.json(Method::POST, SERVICES, &svc("f", "NodePort", Some(30090))).await;
    assert_eq!(code, 201, "dry run leaked port 30090: {st}");
    let (code, st) = s.json(Method::POST, SERVICES, &svc("g", "NodePort", Some(30080))).await;
    assert_eq!(code, 422, "30080 must still belong to c: {st}");
    s.stop().await;
}

#[tokio::test]
async fn secrets_fold_string_data() {
    let s = TestServer::start().await;
    let secret =
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"user": "admin"}});
    let (code, out) = s
        .json(Method::POST, "/api/v1/namespaces/default/secrets", &secret)
        .await;
    assert_eq!(code, 201, "{out}");
    assert_eq!(out["data"]["user"], "YWRtaW4=");
    assert!(out.get("stringData").is_none());
    assert_eq!(out["type"], "Opaque");
    s.stop().await;
}

#[tokio::test]
async fn namespaces_missing_and_terminating() {
    let s = TestServer::start().await;
    let cm = json!({"metadata": {"name": "x"}});
    let (code, st) = s.json(Method::POST, "/api/v1/namespaces/nowhere/configmaps", &cm).await;
    assert_eq!(code, 404, "{st}");
    assert_eq!(st["message"], "namespaces \"nowhere\" not found");

    s.json(
        Method::POST,
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "doomed"}}),
    )
    .await;
    let (code, _) = s.json(Method::POST, "/api/v1/namespaces/doomed/configmaps", &cm).await;
    assert_eq!(code, 201);
    let (code, ns) = s.raw(Method::DELETE, "/api/v1/namespaces/doomed", None, "").await;
    assert_eq!(code, 200, "{ns}");
    assert_eq!(ns["status"]["phase"], "Terminating");
    let (code, st) = s
        .json(
            Method::POST,
            "/api/v1/namespaces/doomed/configmaps",
            &json!({"metadata": {"name": "y"}}),
        )
        .await;
    if code != 404 {
        // Still terminating: creation is forbidden with Kubernetes' message.
        assert_eq!(code, 403, "{st}");
        assert!(
            st["message"]
                .as_str()
                .unwrap()
                .contains("because it is being terminated"),
            "{st}"
        );
    }
    // The namespace controller empties and removes it.
    poll("namespace removal", || async {
        s.raw(Method::GET, "/api/v1/namespaces/doomed", None, "").await.0 == 404
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn default_service_account_and_garbage_collection() {
    let s = TestServer::start().await;
    s.json(Method::POST, "/api/v1/namespaces", &json!({"metadata": {"name": "gc"}}))
        .await;
    poll("default ServiceAccount", || async {
        s.raw(Method::GET, "/api/v1/namespaces/gc/serviceaccounts/default", None, "")
            .await
            .0
            == 200
    })
    .await;

    let (_, owner) = s
        .json(
            Method::POST,
            "/api/v1/namespaces/gc/configmaps",
            &json!({"metadata": {"name": "owner"}}),
        )
        .await;
    let uid = owner["metadata"]["uid"].as_str().unwrap().to_string();
    for name in ["dep1", "dep2"] {
        let dep = json!({"metadata": {"name": name, "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}});
        let (code, body) = s.json(Method::POST, "/api/v1/namespaces/gc/configmaps", &dep).await;
        assert_eq!(code, 201, "{body}");
    }
    s.raw(Method::DELETE, "/api/v1/namespaces/gc/configmaps/owner", None, "")
        .await;
    poll("dependents collected", || async {
        s.raw(Method::GET, "/api/v1/namespaces/gc/configmaps/dep1", None, "")
            .await
            .0
            == 404
            && s.raw(Method::GET, "/api/v1/namespaces/gc/configmaps/dep2", None, "")
                .await
                .0
                == 404
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn discovery_version_and_authentication() {
    let s = TestServer::start().await;
    let (code, v) = s.raw(Method::GET, "/version", None, "").await;
    assert_eq!(code, 200);
    assert_eq!(v["major"], "1");
    let (_, apis) = s.raw(Method::GET, "/apis", None, "").await;
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for g in [
        "apps",
        "batch",
        "autoscaling",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "policy",
        "events.k8s.io",
    ] {
        assert!(groups.contains(&g), "{g} missing from {groups:?}");
    }
    let discovery = kube::discovery::Discovery::new(s.client.clone()).run().await.unwrap();
    assert!(discovery.groups().any(|g| g.name() == "apps"));

    let anon = s.anonymous();
    assert_eq!(send(&anon, Method::GET, "/api/v1/namespaces", None, "").await.0, 401);
    assert_eq!(send(&anon, Method::GET, "/healthz", None, "").await.0, 200);
    assert_eq!(send(&anon, Method::GET, "/readyz", None, "").await.0, 200);
    assert_eq!(send(&anon, Method::GET, "/livez", None, "").await.0, 200);
    assert_eq!(send(&anon, Method::GET, "/version", None, "").await.0, 200);
    s.stop().await;
}

#[tokio::test]
async fn limits_and_malformed_input() {
    let s = TestServer::start().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, st) = s
        .raw(Method::POST, path, Some(b"{not json".to_vec()), "application/json")
        .await;
    assert_eq!(code, 400, "{st}");
    assert_eq!(st["kind"], "Status");
    let (code, _) = s
        .raw(
            Method::POST,
            path,
            Some(b"metadata:\n  name: from-yaml\n".to_vec()),
            "application/yaml",
        )
        .await;
    assert_eq!(code, 201);
    let (code, _) = s
        .raw(
            Method::POST,
            path,
            Some(b"\x08\x01".to_vec()),
            "application/vnd.kubernetes.protobuf",
        )
        .await;
    assert_eq!(code, 400, "protobuf without the k8s magic is malformed");
    let (code, _) = s.raw(Method::POST, path, Some(b"a".to_vec()), "application/cbor").await;
    assert_eq!(code, 415);

    let big = "x".repeat(3 * 1024 * 1024 + 10);
    let body = json!({"metadata": {"name": "huge"}, "data": {"k": big}})
        .to_string()
        .into_bytes();
    let (code, _) = s.raw(Method::POST, path, Some(body), "application/json").await;
    assert_eq!(code, 413);
    let large = "x".repeat(2 * 1024 * 1024);
    let body = json!({"metadata": {"name": "large"}, "data": {"k": large}})
        .to_string()
        .into_bytes();
    let (code, _) = s.raw(Method::POST, path, Some(body), "application/json").await;
    assert!(code == 413 || code == 422, "{code}");

    assert_eq!(s.raw(Method::GET, "/api/v1/widgets", None, "").await.0, 404);
    assert_eq!(s.raw(Method::GET, "/apis/nope.io/v1", None, "").await.0, 404);
    assert_eq!(
        s.raw(Method::PUT, path, Some(b"{}".to_vec()), "application/json")
            .await
            .0,
        405
    );
    assert_eq!(s.raw(Method::DELETE, "/api/v1/namespaces", None, "").await.0, 405);
    let (code, _) = s
        .raw(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            Some(br#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"p"}}"#.to_vec()),
            "application/json",
        )
        .await;
    assert_eq!(code, 400);
    s.stop().await;
}
