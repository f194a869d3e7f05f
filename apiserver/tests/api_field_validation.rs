//! API tests: `fieldValidation` (Strict, Warn, Ignore) on create, update,
//! status, scale and patch with JSON and YAML bodies; `Warning` headers from
//! strategies; `dryRun=All` on every write leaving the store untouched.

mod common;

use bytes::Bytes;
use common::TestServer;
use http::{Method, Request};
use serde_json::{json, Value};

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

/// A response: status code, `Warning` header values, body as JSON.
struct Resp {
    code: u16,
    warnings: Vec<String>,
    body: Value,
}

async fn send(s: &TestServer, method: Method, path: &str, body: &[u8], content_type: &str) -> Resp {
    let mut b = Request::builder().method(method).uri(path);
    if !content_type.is_empty() {
        b = b.header("content-type", content_type);
    }
    let req = b.body(kube::client::Body::from(body.to_vec())).expect("request");
    let resp = s.client.send(req).await.expect("send");
    let code = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let bytes: Bytes = resp.into_body().collect_bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Resp { code, warnings, body }
}

async fn send_json(s: &TestServer, method: Method, path: &str, body: &Value) -> Resp {
    let ct = if method == Method::PATCH {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    send(s, method, path, body.to_string().as_bytes(), ct).await
}

fn deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
        }
    })
}

/// A Deployment body with an unknown container field and, after it, `spec.replica` misspelled.
fn misspelled(name: &str) -> Value {
    let mut d = deployment(name);
    d["spec"]["replica"] = json!(3);
    d["spec"]["template"]["spec"]["containers"][0]["imagee"] = json!("x");
    d
}

fn header(text: &str) -> String {
    format!("299 - \"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[tokio::test]
async fn create_strict_warn_ignore_json_and_yaml() {
    let s = TestServer::start().await;

    // Strict: 400 with Kubernetes' message, nothing stored.
    let r = send_json(
        &s,
        Method::POST,
        &format!("{DEPLOYS}?fieldValidation=Strict"),
        &misspelled("a"),
    )
    .await;
    assert_eq!(r.code, 400, "{}", r.body);
    assert_eq!(r.body["reason"], "BadRequest");
    assert_eq!(
        r.body["message"],
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].imagee", unknown field "spec.replica""#
    );
    assert_eq!(send(&s, Method::GET, &format!("{DEPLOYS}/a"), b"", "").await.code, 404);

    // Duplicate fields in JSON.
    let dup = br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a","name":"a"},"spec":{"replicas":1,"replicas":2,"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#;
    let r = send(
        &s,
        Method::POST,
        &format!("{DEPLOYS}?fieldValidation=Strict"),
        dup,
        "application/json",
    )
    .await;
    assert_eq!(
        r.body["message"],
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: duplicate field "metadata.name", duplicate field "spec.replicas""#
    );

    // Warn (also the default): created, unknown fields dropped, one header each.
    for query in ["?fieldValidation=Warn", ""] {
        let name = if query.is_empty() { "default" } else { "warn" };
        let r = send_json(&s, Method::POST, &format!("{DEPLOYS}{query}"), &misspelled(name)).await;
        assert_eq!(r.code, 201, "{}", r.body);
        assert_eq!(
            r.warnings,
            vec![
                header(r#"unknown field "spec.template.spec.containers[0].imagee""#),
                header(r#"unknown field "spec.replica""#)
            ]
        );
        assert!(r.body["spec"].get("replica").is_none());
        assert_eq!(r.body["spec"]["replicas"], 1);
    }

    // Ignore: created silently.
    let r = send_json(
        &s,
        Method::POST,
        &format!("{DEPLOYS}?fieldValidation=Ignore"),
        &misspelled("ignore"),
    )
    .await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    // YAML: repeated keys are reported with their line, unknown fields in key order.
    let yaml = b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: y\nspec:\n  zzz: 1\n  replicas: 1\n  replicas: 2\n  selector:\n    matchLabels: {app: y}\n  template:\n    metadata:\n      labels: {app: y}\n    spec:\n      containers:\n      - name: c\n        image: i\n";
    let r = send(
        &s,
        Method::POST,
        &format!("{DEPLOYS}?fieldValidation=Strict"),
        yaml,
        "application/yaml",
    )
    .await;
    assert_eq!(r.code, 400);
    assert_eq!(
        r.body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: yaml: unmarshal errors:\n  line 8: key \"replicas\" already set in map, unknown field \"spec.zzz\""
    );
    let r = send(&s, Method::POST, DEPLOYS, yaml, "application/yaml").await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(
        r.warnings,
        vec![
            header(r#"line 8: key "replicas" already set in map"#),
            header(r#"unknown field "spec.zzz""#)
        ]
    );
    assert_eq!(r.body["spec"]["replicas"], 2, "the last of repeated keys wins");

    // A bad directive is a 422 on CreateOptions.
    let r = send_json(
        &s,
        Method::POST,
        &format!("{DEPLOYS}?fieldValidation=strict"),
        &deployment("z"),
    )
    .await;
    assert_eq!(r.code, 422);
    assert_eq!(
        r.body["message"],
        r#"CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#
    );
    assert_eq!(r.body["details"]["kind"], "CreateOptions");
    assert_eq!(r.body["details"]["group"], "meta.k8s.io");
    s.stop().await;
}

#[tokio::test]
async fn update_status_and_scale_are_checked() {
    let s = TestServer::start_without_workload_controllers().await;
    let r = send_json(&s, Method::POST, DEPLOYS, &deployment("web")).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let mut current = r.body;

    // PUT of the main resource.
    current["spec"]["replica"] = json!(5);
    let r = send_json(
        &s,
        Method::PUT,
        &format!("{DEPLOYS}/web?fieldValidation=Strict"),
        &current,
    )
    .await;
    assert_eq!(r.code, 400);
    assert_eq!(
        r.body["message"],
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica""#
    );
    let r = send_json(&s, Method::PUT, &format!("{DEPLOYS}/web"), &current).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.warnings, vec![header(r#"unknown field "spec.replica""#)]);

    // PUT of the status subresource.
    let mut status = r.body.clone();
    status["status"] = json!({"replicas": 1, "readyReplica": 1});
    let r = send_json(
        &s,
        Method::PUT,
        &format!("{DEPLOYS}/web/status?fieldValidation=Strict"),
        &status,
    )
    .await;
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .ends_with(r#"unknown field "status.readyReplica""#));

    // PUT of the scale subresource: the body is a Scale.
    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "replica": 2}});
    let r = send_json(
        &s,
        Method::PUT,
        &format!("{DEPLOYS}/web/scale?fieldValidation=Strict"),
        &scale,
    )
    .await;
    assert_eq!(r.code, 400, "{}", r.body);
    assert_eq!(
        r.body["message"],
        r#"Scale in version "v1" cannot be handled as a Scale: strict decoding error: unknown field "spec.replica""#
    );
    let r = send_json(
        &s,
        Method::PUT,
        &format!("{DEPLOYS}/web/scale?fieldValidation=Warn"),
        &scale,
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.warnings, vec![header(r#"unknown field "spec.replica""#)]);
    assert_eq!(r.body["spec"]["replicas"], 2);
    s.stop().await;
}

#[tokio::test]
async fn patches_are_checked() {
    let s = TestServer::start().await;
    assert_eq!(send_json(&s, Method::POST, DEPLOYS, &deployment("web")).await.code, 201);
    let url = format!("{DEPLOYS}/web?fieldValidation=Strict");

    // Merge patch: 422 on the patch field, value the patched object.
    let r = send(
        &s,
        Method::PATCH,
        &url,
        br#"{"spec":{"replica":3}}"#,
        "application/merge-patch+json",
    )
    .await;
    assert_eq!(r.code, 422, "{}", r.body);
    let msg = r.body["message"].as_str().unwrap();
    assert!(msg.starts_with(r#" "" is invalid: patch: Invalid value: "{"#), "{msg}");
    assert!(
        msg.ends_with(r#": strict decoding error: unknown field "spec.replica""#),
        "{msg}"
    );
    assert_eq!(r.body["details"]["causes"][0]["field"], "patch");

    // Strategic merge: the patch shown as Go prints its map; repeated keys first.
    let r = send(
        &s,
        Method::PATCH,
        &url,
        br#"{"spec":{"replica":3,"paused":true,"paused":false}}"#,
        "application/strategic-merge-patch+json",
    )
    .await;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(
        r.body["message"],
        r#" "" is invalid: patch: Invalid value: "map[spec:map[paused:false replica:3]]": strict decoding error: duplicate field "spec.paused", unknown field "spec.replica""#
    );

    // JSON patch, Warn: applied, warned.
    let r = send(
        &s,
        Method::PATCH,
        &format!("{DEPLOYS}/web"),
        br#"[{"op":"add","path":"/spec/replica","value":3,"valeu":1},{"op":"replace","path":"/spec/replicas","value":2}]"#,
        "application/json-patch+json",
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(
        r.warnings,
        vec![
            header(r#"json patch unknown field "[0].valeu""#),
            header(r#"unknown field "spec.replica""#)
        ]
    );
    assert_eq!(r.body["spec"]["replicas"], 2);
    assert!(r.body["spec"].get("replica").is_none());

    // Ignore: silent.
    let r = send(
        &s,
        Method::PATCH,
        &format!("{DEPLOYS}/web?fieldValidation=Ignore"),
        br#"{"spec":{"replica":3}}"#,
        "application/merge-patch+json",
    )
    .await;
    assert_eq!(r.code, 200);
    assert!(r.warnings.is_empty());

    // Scale patches check the Scale's fields.
    let r = send(
        &s,
        Method::PATCH,
        &format!("{DEPLOYS}/web/scale?fieldValidation=Strict"),
        br#"{"spec":{"replicas":3,"replica":3}}"#,
        "application/merge-patch+json",
    )
    .await;
    assert_eq!(r.code, 422, "{}", r.body);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .ends_with(r#"unknown field "spec.replica""#));
    s.stop().await;
}

#[tokio::test]
async fn strategies_add_warnings() {
    let s = TestServer::start().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"nodeSelector": {"beta.kubernetes.io/arch": "amd64"}, "containers": [{"name": "c", "image": "i"}]}});
    let r = send_json(&s, Method::POST, "/api/v1/namespaces/default/pods", &pod).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(
        r.warnings,
        vec![header(
            r#"spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "kubernetes.io/arch" instead"#
        )]
    );

    let mut d = deployment("web.v1");
    d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(-1);
    let r = send_json(&s, Method::POST, DEPLOYS, &d).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(
        r.warnings,
        vec![
            header("metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]"),
            header("spec.template.spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"),
        ]
    );
    // An update that leaves the spec alone does not warn again.
    let r = send(
        &s,
        Method::PATCH,
        &format!("{DEPLOYS}/web.v1"),
        br#"{"metadata":{"labels":{"a":"b"}}}"#,
        "application/merge-patch+json",
    )
    .await;
    assert_eq!(r.code, 200);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    // Warnings come with errors too: an invalid pod still gets its field warnings.
    let bad =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q"}, "spec": {"containers": [], "bogus": 1}});
    let r = send_json(&s, Method::POST, "/api/v1/namespaces/default/pods", &bad).await;
    assert_eq!(r.code, 422, "{}", r.body);
    assert_eq!(r.warnings, vec![header(r#"unknown field "spec.bogus""#)]);

    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80}], "externalName": "example.com"}});
    let r = send_json(&s, Method::POST, "/api/v1/namespaces/default/services", &svc).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert_eq!(
        r.warnings,
        vec![header(
            r#"spec.externalName is ignored when spec.type is not "ExternalName""#
        )]
    );
    s.stop().await;
}

#[tokio::test]
async fn dry_run_leaves_the_store_untouched() {
    let s = TestServer::start_without_workload_controllers().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});

    // Create.
    let r = send_json(&s, Method::POST, &format!("{cms}?dryRun=All"), &cm).await;
    assert_eq!(r.code, 201, "{}", r.body);
    assert!(r.body["metadata"]["uid"].is_string());
    assert!(r.body["metadata"].get("resourceVersion").is_none());
    assert_eq!(send(&s, Method::GET, &format!("{cms}/c"), b"", "").await.code, 404);
    let stored = send_json(&s, Method::POST, cms, &cm).await.body;
    let rv = stored["metadata"]["resourceVersion"].clone();
    // A dry-run create of an existing name conflicts as a real one would.
    assert_eq!(
        send_json(&s, Method::POST, &format!("{cms}?dryRun=All"), &cm)
            .await
            .code,
        409
    );

    // Update, patch: the answer shows the change, the store keeps the old object.
    let mut changed = stored.clone();
    changed["data"]["k"] = json!("w");
    let r = send_json(&s, Method::PUT, &format!("{cms}/c?dryRun=All"), &changed).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["data"]["k"], "w");
    let r = send_json(
        &s,
        Method::PATCH,
        &format!("{cms}/c?dryRun=All"),
        &json!({"data": {"k": "x"}}),
    )
    .await;
    assert_eq!(r.body["data"]["k"], "x");

    // Delete and delete-collection: answered, nothing removed.
    let r = send(&s, Method::DELETE, &format!("{cms}/c?dryRun=All"), b"", "").await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "Status");
    assert_eq!(r.body["status"], "Success");
    let r = send(
        &s,
        Method::DELETE,
        &format!("{cms}/c"),
        br#"{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}"#,
        "application/json",
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.body);
    let r = send(&s, Method::DELETE, &format!("{cms}?dryRun=All"), b"", "").await;
    assert_eq!(r.code, 200, "{}", r.body);
    // Every namespace also holds the `kube-root-ca.crt` ConfigMap, as on a real cluster.
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["metadata"]["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names.iter().filter(|n| **n != "kube-root-ca.crt").count(),
        1,
        "{names:?}"
    );
    let now = send(&s, Method::GET, &format!("{cms}/c"), b"", "").await;
    assert_eq!(now.code, 200);
    assert_eq!(now.body["data"]["k"], "v");
    assert_eq!(now.body["metadata"]["resourceVersion"], rv);

    // Status and scale subresources.
    let d = send_json(&s, Method::POST, DEPLOYS, &deployment("web")).await.body;
    let mut st = d.clone();
    st["status"] = json!({"replicas": 7});
    let r = send_json(&s, Method::PUT, &format!("{DEPLOYS}/web/status?dryRun=All"), &st).await;
    assert_eq!(r.body["status"]["replicas"], 7, "{}", r.body);
    let r = send_json(
        &s,
        Method::PATCH,
        &format!("{DEPLOYS}/web/scale?dryRun=All"),
        &json!({"spec": {"replicas": 9}}),
    )
    .await;
    assert_eq!(r.body["spec"]["replicas"], 9, "{}", r.body);
    let now = send(&s, Method::GET, &format!("{DEPLOYS}/web"), b"", "").await.body;
    assert_eq!(now["spec"]["replicas"], 1);
    assert!(now["status"].get("replicas").is_none());
    assert_eq!(now["metadata"]["resourceVersion"], d["metadata"]["resourceVersion"]);

    // Bad values are Kubernetes' 422.
    let r = send_json(&s, Method::POST, &format!("{cms}?dryRun=Yes"), &cm).await;
    assert_eq!(r.code, 422);
    assert_eq!(
        r.body["message"],
        r#"CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Yes"}: supported values: "All""#
    );
    let r = send(&s, Method::DELETE, &format!("{cms}/c?dryRun=Yes"), b"", "").await;
    assert_eq!(r.code, 422);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .starts_with("DeleteOptions.meta.k8s.io"));
    s.stop().await;
}

#[tokio::test]
async fn dry_run_services_claim_no_addresses() {
    let s = TestServer::start().await;
    let svcs = "/api/v1/namespaces/default/services";
    let svc = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}})
    };
    let r = send_json(&s, Method::POST, &format!("{svcs}?dryRun=All"), &svc("a")).await;
    assert_eq!(r.code, 201, "{}", r.body);
    let ip = r.body["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.43."), "{ip}");
    // The address and port the dry run showed are still free.
    let mut real = svc("b");
    real["spec"]["clusterIP"] = json!(ip);
    let r = send_json(&s, Method::POST, svcs, &real).await;
    assert_eq!(r.code, 201, "{}", r.body);
    // A dry run that asks for a taken port fails as a real create would.
    let r = send_json(&s, Method::POST, &format!("{svcs}?dryRun=All"), &svc("c")).await;
    assert_eq!(r.code, 422, "{}", r.body);
    // A dry-run update that changes the port keeps the old one claimed and the new one free.
    let mut moved = get_b(&s, svcs).await;
    moved["spec"]["ports"][0]["nodePort"] = json!(30081);
    let r = send_json(&s, Method::PUT, &format!("{svcs}/b?dryRun=All"), &moved).await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(
        send_json(&s, Method::POST, &format!("{svcs}?dryRun=All"), &svc("d"))
            .await
            .code,
        422
    );
    let mut other = svc("e");
    other["spec"]["ports"][0]["nodePort"] = json!(30081);
    assert_eq!(send_json(&s, Method::POST, svcs, &other).await.code, 201);
    s.stop().await;
}

async fn get_b(s: &TestServer, svcs: &str) -> Value {
    send(s, Method::GET, &format!("{svcs}/b"), b"", "").await.body
}

#[tokio::test]
async fn negative_grace_period_deletes_in_one_second() {
    let s = TestServer::start().await;
    let pods = "/api/v1/namespaces/default/pods";
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"nodeName": "test-node", "containers": [{"name": "c", "image": "i"}]}});
    assert_eq!(send_json(&s, Method::POST, pods, &pod).await.code, 201);
    let r = send(&s, Method::DELETE, &format!("{pods}/p?gracePeriodSeconds=-10"), b"", "").await;
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], 1);
    s.stop().await;
}
