//! End-to-end: the real kubectl against a real `k1s server` — discovery,
//! namespaces, ConfigMaps, Secrets, apply, output formats, watch, label,
//! annotate, patch, scale, cascading deletes and a restart in between.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k1s_e2e::{wait_for, Server};
use serde_json::Value;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: lab
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "8080"]
        ports:
        - containerPort: 8080
        env:
        - name: MODE
          value: one
"#;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn discovery_and_cluster_info() {
    let server = Server::start().expect("server starts");
    let info = server.kubectl_ok(&["cluster-info"]);
    assert!(
        info.contains("Kubernetes control plane is running at https://127.0.0.1"),
        "{info}"
    );
    let resources = server.kubectl_ok(&["api-resources"]);
    for line in [
        "deployments",
        "deploy",
        "apps/v1",
        "horizontalpodautoscalers",
        "hpa",
        "cronjobs",
        "cj",
    ] {
        assert!(resources.contains(line), "api-resources lacks {line}:\n{resources}");
    }
    let versions = server.kubectl_ok(&["api-versions"]);
    for v in [
        "apps/v1",
        "autoscaling/v1",
        "autoscaling/v2",
        "batch/v1",
        "rbac.authorization.k8s.io/v1",
        "v1",
    ] {
        assert!(versions.lines().any(|l| l == v), "api-versions lacks {v}:\n{versions}");
    }
    let ns = server.kubectl_ok(&["get", "ns", "-o", "name"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(&format!("namespace/{n}")), "{ns}");
    }
    let svc = json(&server.kubectl_ok(&["get", "svc", "kubernetes", "-n", "default", "-o", "json"]));
    assert_eq!(svc["spec"]["clusterIP"], "10.43.0.1");
    let version = server.kubectl_ok(&["version", "-o", "json"]);
    assert!(json(&version)["serverVersion"]["gitVersion"]
        .as_str()
        .unwrap_or("")
        .starts_with("v1.33"));
}

#[test]
fn objects_through_kubectl_survive_restart() {
    let mut server = Server::start().expect("server starts");
    let dir = tempfile::tempdir().expect("tempdir");

    server.kubectl_ok(&["create", "namespace", "lab"]);
    server.kubectl_ok(&[
        "create",
        "configmap",
        "plain",
        "-n",
        "lab",
        "--from-literal=a=1",
        "--from-literal=b=two",
    ]);
    let file = dir.path().join("app.properties");
    std::fs::write(&file, "color=blue\n").expect("write");
    let from_file = format!("--from-file={}", file.display());
    server.kubectl_ok(&["create", "configmap", "filed", "-n", "lab", &from_file]);
    server.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        "lab",
        "--from-literal=password=s3cret",
    ]);

    let cm = json(&server.kubectl_ok(&["get", "cm", "filed", "-n", "lab", "-o", "json"]));
    assert_eq!(cm["data"]["app.properties"], "color=blue\n");
    let secret = json(&server.kubectl_ok(&["get", "secret", "creds", "-n", "lab", "-o", "json"]));
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    assert_eq!(secret["type"], "Opaque");

    // apply: created, unchanged, configured.
    let manifest = dir.path().join("deploy.yaml");
    std::fs::write(&manifest, DEPLOYMENT).expect("write");
    let m = manifest.to_str().expect("utf-8 path");
    assert!(server
        .kubectl_ok(&["apply", "-f", m])
        .contains("deployment.apps/web created"));
    assert!(server
        .kubectl_ok(&["apply", "-f", m])
        .contains("deployment.apps/web unchanged"));
    std::fs::write(&manifest, DEPLOYMENT.replace("value: one", "value: two")).expect("write");
    assert!(server
        .kubectl_ok(&["apply", "-f", m])
        .contains("deployment.apps/web configured"));
    let d = json(&server.kubectl_ok(&["get", "deploy", "web", "-n", "lab", "-o", "json"]));
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "two");
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);

    // Output formats.
    let yaml = server.kubectl_ok(&["get", "deploy", "web", "-n", "lab", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: Deployment") && yaml.contains("name: web"),
        "{yaml}"
    );
    let jp = server.kubectl_ok(&["get", "deploy", "web", "-n", "lab", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(jp.trim(), "2");
    let wide = server.kubectl_ok(&["get", "deploy", "-n", "lab", "-o", "wide"]);
    // Kind-specific columns come with server-side tables (issue 3); here the row must be there.
    assert!(wide.lines().any(|l| l.starts_with("web ")), "{wide}");
    let names = server.kubectl_ok(&["get", "cm", "-n", "lab", "-o", "name"]);
    assert!(
        names.contains("configmap/plain") && names.contains("configmap/filed"),
        "{names}"
    );

    // label, annotate, the three patch types, scale.
    server.kubectl_ok(&["label", "cm", "plain", "-n", "lab", "tier=backend"]);
    server.kubectl_ok(&["annotate", "cm", "plain", "-n", "lab", "note=hello"]);
    server.kubectl_ok(&[
        "patch",
        "cm",
        "plain",
        "-n",
        "lab",
        "--type=merge",
        "-p",
        r#"{"data":{"c":"3"}}"#,
    ]);
    server.kubectl_ok(&[
        "patch",
        "cm",
        "plain",
        "-n",
        "lab",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/data/a"}]"#,
    ]);
    server.kubectl_ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "lab",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37"}]}}}}"#,
    ]);
    let cm = json(&server.kubectl_ok(&["get", "cm", "plain", "-n", "lab", "-o", "json"]));
    assert_eq!(cm["metadata"]["labels"]["tier"], "backend");
    assert_eq!(cm["metadata"]["annotations"]["note"], "hello");
    assert_eq!(cm["data"]["c"], "3");
    assert!(cm["data"].get("a").is_none());
    let selected = server.kubectl_ok(&["get", "cm", "-n", "lab", "-l", "tier=backend", "-o", "name"]);
    assert_eq!(selected.trim(), "configmap/plain");
    server.kubectl_ok(&["scale", "deployment", "web", "-n", "lab", "--replicas=5"]);
    let d = json(&server.kubectl_ok(&["get", "deploy", "web", "-n", "lab", "-o", "json"]));
    assert_eq!(d["spec"]["replicas"], 5);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "busybox:1.37");
    assert_eq!(c["ports"][0]["containerPort"], 8080, "strategic merge kept the port");
    let rv_before_restart: u64 = d["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("rv");

    // Restart: everything is still there, and a watch from an old revision replays.
    server.stop().expect("stop");
    server.launch().expect("restart");
    let cm = json(&server.kubectl_ok(&["get", "cm", "plain", "-n", "lab", "-o", "json"]));
    assert_eq!(cm["data"]["c"], "3");
    server.kubectl_ok(&["label", "cm", "filed", "-n", "lab", "after=restart"]);
    let replay = server.kubectl_ok(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/lab/configmaps?watch=1&resourceVersion={rv_before_restart}&timeoutSeconds=2"),
    ]);
    assert!(
        replay
            .lines()
            .any(|l| l.contains("\"MODIFIED\"") && l.contains("\"after\":\"restart\"")),
        "watch from {rv_before_restart} did not replay the change:\n{replay}"
    );
}

#[test]
fn get_watch_sees_changes() {
    let server = Server::start().expect("server starts");
    server.kubectl_ok(&["create", "configmap", "watched", "--from-literal=k=v"]);
    let mut child = Command::new("kubectl")
        .args(["get", "configmaps", "-w", "--output-watch-events"])
        .env("KUBECONFIG", &server.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let out = child.stdout.take().expect("stdout");
    let sink = seen.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(mut s) = sink.lock() {
                s.push(line);
            }
        }
    });
    let has = |needle: &str| {
        seen.lock()
            .map(|s| s.iter().any(|l| l.contains(needle)))
            .unwrap_or(false)
    };
    wait_for("initial ADDED", Duration::from_secs(10), || has("ADDED").then_some(()));
    server.kubectl_ok(&["label", "configmap", "watched", "seen=yes"]);
    wait_for("MODIFIED from the watch", Duration::from_secs(10), || {
        has("MODIFIED").then_some(())
    });
    server.kubectl_ok(&["delete", "configmap", "watched"]);
    wait_for("DELETED from the watch", Duration::from_secs(10), || {
        has("DELETED").then_some(())
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// Creates a Deployment and a ReplicaSet it owns, as the Deployment controller would.
fn deployment_with_replicaset(server: &Server, ns: &str, name: &str) {
    let manifest = DEPLOYMENT
        .replace("namespace: lab", &format!("namespace: {ns}"))
        .replace("name: web\n  namespace", &format!("name: {name}\n  namespace"));
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&manifest));
    let uid = server.kubectl_ok(&["get", "deploy", name, "-n", ns, "-o", "jsonpath={.metadata.uid}"]);
    let rs = format!(
        r#"{{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{{"name":"{name}-rs","namespace":"{ns}","labels":{{"app":"web"}},
        "ownerReferences":[{{"apiVersion":"apps/v1","kind":"Deployment","name":"{name}","uid":"{uid}","controller":true,"blockOwnerDeletion":true}}]}},
        "spec":{{"replicas":0,"selector":{{"matchLabels":{{"app":"web"}}}},"template":{{"metadata":{{"labels":{{"app":"web"}}}},
        "spec":{{"containers":[{{"name":"web","image":"busybox:1.36"}}]}}}}}}}}"#
    );
    server.kubectl_stdin_ok(&["create", "-f", "-"], Some(&rs));
}

#[test]
fn cascading_deletes_and_namespace_deletion() {
    let server = Server::start().expect("server starts");
    server.kubectl_ok(&["create", "namespace", "cascade"]);

    deployment_with_replicaset(&server, "cascade", "bg");
    server.kubectl_ok(&["delete", "deploy", "bg", "-n", "cascade", "--cascade=background"]);
    wait_for("background GC of the ReplicaSet", Duration::from_secs(20), || {
        let out = server.kubectl(&["get", "rs", "bg-rs", "-n", "cascade"]);
        (!out.status.success()).then_some(())
    });

    deployment_with_replicaset(&server, "cascade", "fg");
    server.kubectl_ok(&[
        "delete",
        "deploy",
        "fg",
        "-n",
        "cascade",
        "--cascade=foreground",
        "--timeout=30s",
    ]);
    let gone = server.kubectl(&["get", "rs", "fg-rs", "-n", "cascade"]);
    assert!(
        !gone.status.success(),
        "foreground delete returned before the ReplicaSet was gone"
    );

    deployment_with_replicaset(&server, "cascade", "or");
    server.kubectl_ok(&[
        "delete",
        "deploy",
        "or",
        "-n",
        "cascade",
        "--cascade=orphan",
        "--timeout=30s",
    ]);
    let rs = json(&server.kubectl_ok(&["get", "rs", "or-rs", "-n", "cascade", "-o", "json"]));
    assert!(
        rs["metadata"]
            .get("ownerReferences")
            .is_none_or(|r| r.as_array().is_some_and(|a| a.is_empty())),
        "{rs}"
    );

    server.kubectl_ok(&["create", "configmap", "inside", "-n", "cascade", "--from-literal=a=b"]);
    server.kubectl_ok(&["delete", "namespace", "cascade", "--timeout=60s"]);
    let ns = server.kubectl(&["get", "namespace", "cascade"]);
    assert!(!ns.status.success());
    let err = server.kubectl_err(&["create", "configmap", "late", "-n", "cascade", "--from-literal=a=b"]);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn errors_are_kubernetes_statuses() {
    let server = Server::start().expect("server starts");
    let err = server.kubectl_err(&["get", "cm", "missing"]);
    assert!(err.contains("configmaps \"missing\" not found"), "{err}");
    server.kubectl_ok(&["create", "configmap", "dup"]);
    let err = server.kubectl_err(&["create", "configmap", "dup"]);
    assert!(err.contains("configmaps \"dup\" already exists"), "{err}");
    let err = server.kubectl_err(&["create", "configmap", "Bad_Name"]);
    assert!(err.contains("is invalid") && err.contains("RFC 1123"), "{err}");
    let err = server.kubectl_err(&["create", "configmap", "x", "-n", "nowhere"]);
    assert!(err.contains("namespaces \"nowhere\" not found"), "{err}");
    let raw = server.kubectl(&["get", "--raw", "/api/v1/widgets"]);
    assert!(!raw.status.success());
}
