//! ServiceAccount tokens: the TokenRequest subresource, bearer-token
//! authentication, the token volume the ServiceAccount admission adds to pods,
//! and the `kube-root-ca.crt` ConfigMap.

mod common;

use std::time::Duration;

use common::{send, TestServer};
use http::{Method, Request};
use serde_json::{json, Value};

/// Sends a request with `Authorization: Bearer <token>` and no client certificate.
async fn as_bearer(s: &TestServer, token: &str, path: &str) -> u16 {
    let anon = s.anonymous();
    let req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(kube::client::Body::from(Vec::new()))
        .unwrap();
    let resp = anon.send(req).await.unwrap();
    resp.status().as_u16()
}

async fn eventually(s: &TestServer, path: &str) -> Value {
    for _ in 0..250 {
        let (code, v) = s.raw(Method::GET, path, None, "").await;
        if code == 200 {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never appeared");
}

fn token_of(v: &Value) -> String {
    v["status"]["token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn token_requests_and_bearer_authentication() {
    let s = TestServer::start().await;
    eventually(&s, "/api/v1/namespaces/default/serviceaccounts/default").await;
    let token_path = "/api/v1/namespaces/default/serviceaccounts/default/token";

    let (code, v) = s
        .json(
            Method::POST,
            token_path,
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["kind"], "TokenRequest");
    assert_eq!(
        v["spec"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    assert_eq!(v["spec"]["expirationSeconds"], 3600);
    let exp: jiff::Timestamp = v["status"]["expirationTimestamp"].as_str().unwrap().parse().unwrap();
    let left = exp.as_second() - jiff::Timestamp::now().as_second();
    assert!((3500..=3600).contains(&left), "{left}");
    let token = token_of(&v);
    // The claims say who it is.
    let claims: Value = {
        use base64::Engine;
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    assert_eq!(claims["sub"], "system:serviceaccount:default:default");
    assert_eq!(claims["iss"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(claims["kubernetes.io"]["namespace"], "default");

    assert_eq!(as_bearer(&s, &token, "/api/v1/namespaces/default/pods").await, 200);
    assert_eq!(
        as_bearer(&s, "not.a.token", "/api/v1/namespaces/default/pods").await,
        401
    );
    let (code, _) = send(&s.anonymous(), Method::GET, "/api/v1/namespaces/default/pods", None, "").await;
    assert_eq!(code, 401);

    // Bound to a pod: valid while the pod exists.
    let (code, pod) = s
        .json(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await;
    assert_eq!(code, 201, "{pod}");
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    let (code, v) = s
        .json(
            Method::POST,
            token_path,
            &json!({"spec": {"expirationSeconds": 3607, "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": uid}}}),
        )
        .await;
    assert_eq!(code, 201, "{v}");
    let bound = token_of(&v);
    assert_eq!(
        as_bearer(&s, &bound, "/api/v1/namespaces/default/configmaps").await,
        200
    );
    let (code, _) = s
        .json(
            Method::POST,
            token_path,
            &json!({"spec": {"boundObjectRef": {"kind": "Pod", "name": "p", "uid": "wrong"}}}),
        )
        .await;
    assert_eq!(code, 409);
    let (code, _) = s
        .raw(
            Method::DELETE,
            "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=0",
            None,
            "",
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        as_bearer(&s, &bound, "/api/v1/namespaces/default/configmaps").await,
        401
    );

    // Validation and missing accounts.
    let (code, v) = s
        .json(Method::POST, token_path, &json!({"spec": {"expirationSeconds": 60}}))
        .await;
    assert_eq!(code, 422);
    assert_eq!(
        v["message"],
        "TokenRequest.authentication.k8s.io \"default\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
    );
    let (code, v) = s
        .json(
            Method::POST,
            "/api/v1/namespaces/default/serviceaccounts/nope/token",
            &json!({}),
        )
        .await;
    assert_eq!(code, 404);
    assert_eq!(v["message"], "serviceaccounts \"nope\" not found");

    // A deleted ServiceAccount's tokens stop working.
    let (code, _) = s
        .json(
            Method::POST,
            "/api/v1/namespaces/default/serviceaccounts",
            &json!({"metadata": {"name": "robot"}}),
        )
        .await;
    assert_eq!(code, 201);
    let (_, v) = s
        .json(
            Method::POST,
            "/api/v1/namespaces/default/serviceaccounts/robot/token",
            &json!({}),
        )
        .await;
    let robot = token_of(&v);
    assert_eq!(as_bearer(&s, &robot, "/api/v1/namespaces/default/pods").await, 200);
    s.raw(
        Method::DELETE,
        "/api/v1/namespaces/default/serviceaccounts/robot",
        None,
        "",
    )
    .await;
    assert_eq!(as_bearer(&s, &robot, "/api/v1/namespaces/default/pods").await, 401);
    s.stop().await;
}

#[tokio::test]
async fn pods_get_the_token_volume_and_namespaces_the_ca() {
    let s = TestServer::start().await;
    let ca = eventually(&s, "/api/v1/namespaces/default/configmaps/kube-root-ca.crt").await;
    assert!(ca["data"]["ca.crt"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    let (code, pod) = s
        .json(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await;
    assert_eq!(code, 201, "{pod}");
    let vol = &pod["spec"]["volumes"][0];
    let name = vol["name"].as_str().unwrap();
    assert!(name.starts_with("kube-api-access-") && name.len() == 21, "{name}");
    assert_eq!(
        vol["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
        3607
    );
    assert_eq!(vol["projected"]["defaultMode"], 420);
    assert_eq!(
        pod["spec"]["containers"][0]["volumeMounts"][0],
        json!({"name": name, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
    );
    let (code, pod) = s
        .json(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            &json!({"metadata": {"name": "q"}, "spec": {"automountServiceAccountToken": false,
                "containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await;
    assert_eq!(code, 201, "{pod}");
    assert!(pod["spec"].get("volumes").is_none(), "{pod}");
    s.stop().await;
}
