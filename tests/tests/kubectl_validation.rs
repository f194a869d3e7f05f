//! End-to-end: field validation, warnings and server-side dry run with the
//! real kubectl — a misspelled field fails `kubectl apply` with Kubernetes'
//! strict-decoding message, `--validate=false` and `--validate=warn` let it
//! through, deprecated things print `Warning:` lines, and `--dry-run=server`
//! and `kubectl diff` never change what is stored.

use std::path::PathBuf;

use k1s_e2e::Server;

const MISSPELLED: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replica: 3
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
"#;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: site
spec:
  replicas: 2
  selector:
    matchLabels:
      app: site
  template:
    metadata:
      labels:
        app: site
    spec:
      containers:
      - name: web
        image: busybox:1.36
"#;

/// Writes `content` to `name` in a fresh temporary directory (kept alive by the returned guard).
fn manifest(name: &str, content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write manifest");
    (dir, path)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn misspelled_fields_fail_strict_and_pass_otherwise() {
    let server = Server::start().expect("server starts");
    let (_dir, path) = manifest("web.yaml", MISSPELLED);
    let file = path.to_str().expect("utf-8 path");

    // kubectl validates strictly by default: the server's message, nothing created.
    let err = server.kubectl_err(&["apply", "-f", file]);
    assert_eq!(
        err.trim(),
        format!(
            r#"Error from server (BadRequest): error when creating "{file}": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica""#
        )
    );
    let missing = server.kubectl_err(&["get", "deployment", "web"]);
    assert!(missing.contains(r#"deployments.apps "web" not found"#), "{missing}");

    // --validate=warn: created, with kubectl's warning line.
    let out = server.kubectl(&["apply", "--validate=warn", "-f", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "deployment.apps/web created");
    assert_eq!(text(&out.stderr).trim(), r#"Warning: unknown field "spec.replica""#);
    server.kubectl_ok(&["delete", "deployment", "web"]);

    // --validate=false: created silently, the field dropped.
    let out = server.kubectl(&["apply", "--validate=false", "-f", file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "deployment.apps/web created");
    assert_eq!(text(&out.stderr).trim(), "");
    let spec = server.kubectl_ok(&["get", "deployment", "web", "-o", "jsonpath={.spec}"]);
    assert!(!spec.contains("replica\""), "{spec}");
    assert!(spec.contains(r#""replicas":1"#), "{spec}");

    // Applying the misspelled manifest again patches: the 422 names the patch,
    // shown as Kubernetes prints the strategic merge patch it decoded.
    let err = server.kubectl_err(&["apply", "-f", file]);
    assert_eq!(
        err.trim(),
        r#"The request is invalid: patch: Invalid value: "map[spec:map[replica:3]]": strict decoding error: unknown field "spec.replica""#
    );
}

#[test]
fn deprecated_things_print_warnings() {
    let server = Server::start().expect("server starts");
    let pod = r#"apiVersion: v1
kind: Pod
metadata:
  name: old-labels
spec:
  nodeSelector:
    beta.kubernetes.io/arch: amd64
  containers:
  - name: c
    image: busybox:1.36
"#;
    let out = server.kubectl_with_stdin(&["apply", "-f", "-"], Some(pod));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "pod/old-labels created");
    assert_eq!(
        text(&out.stderr).trim(),
        r#"Warning: spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "kubernetes.io/arch" instead"#
    );
}

#[test]
fn server_dry_run_create_apply_delete() {
    let server = Server::start().expect("server starts");

    // create … --dry-run=server -o yaml shows the defaulted object and stores nothing.
    let yaml = server.kubectl_ok(&[
        "create",
        "deployment",
        "x",
        "--image=busybox",
        "--dry-run=server",
        "-o",
        "yaml",
    ]);
    for want in [
        "kind: Deployment",
        "name: x",
        "uid: ",
        "progressDeadlineSeconds: 600",
        "revisionHistoryLimit: 10",
        "imagePullPolicy: Always",
        "terminationMessagePath: /dev/termination-log",
    ] {
        assert!(yaml.contains(want), "missing {want:?} in:\n{yaml}");
    }
    assert!(!yaml.contains("resourceVersion"), "{yaml}");
    let err = server.kubectl_err(&["get", "deployment", "x"]);
    assert!(err.contains("not found"), "{err}");

    // apply --dry-run=server: a create, then an update of the stored object.
    let (_dir, path) = manifest("site.yaml", DEPLOYMENT);
    let file = path.to_str().expect("utf-8 path");
    let out = server.kubectl_ok(&["apply", "--dry-run=server", "-f", file]);
    assert_eq!(out.trim(), "deployment.apps/site created (server dry run)");
    assert!(server.kubectl_err(&["get", "deployment", "site"]).contains("not found"));
    server.kubectl_ok(&["apply", "-f", file]);
    let before = server.kubectl_ok(&[
        "get",
        "deployment",
        "site",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    std::fs::write(&path, DEPLOYMENT.replace("replicas: 2", "replicas: 5")).expect("rewrite");
    let out = server.kubectl_ok(&["apply", "--dry-run=server", "-f", file]);
    assert_eq!(out.trim(), "deployment.apps/site configured (server dry run)");
    let shown = server.kubectl_ok(&[
        "apply",
        "--dry-run=server",
        "-f",
        file,
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(shown, "5");
    let after = server.kubectl_ok(&[
        "get",
        "deployment",
        "site",
        "-o",
        "jsonpath={.metadata.resourceVersion} {.spec.replicas}",
    ]);
    assert_eq!(after, format!("{before} 2"));

    // delete --dry-run=server: reported, kept.
    server.kubectl_ok(&["create", "configmap", "keep", "--from-literal=k=v"]);
    let out = server.kubectl_ok(&["delete", "configmap", "keep", "--dry-run=server"]);
    assert_eq!(out.trim(), r#"configmap "keep" deleted (server dry run)"#);
    server.kubectl_ok(&["get", "configmap", "keep"]);
    let out = server.kubectl_ok(&["delete", "deployment", "--all", "--dry-run=server"]);
    assert_eq!(out.trim(), r#"deployment.apps "site" deleted (server dry run)"#);
    server.kubectl_ok(&["get", "deployment", "site"]);
}

#[test]
fn diff_shows_changes_and_exits_one() {
    let server = Server::start().expect("server starts");
    let (_dir, path) = manifest("site.yaml", DEPLOYMENT);
    let file = path.to_str().expect("utf-8 path");

    // Not there yet: the whole object is new.
    let out = server.kubectl(&["diff", "-f", file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("+  name: site"), "{}", text(&out.stdout));

    server.kubectl_ok(&["apply", "-f", file]);
    let out = server.kubectl(&["diff", "-f", file]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");

    std::fs::write(&path, DEPLOYMENT.replace("replicas: 2", "replicas: 3")).expect("rewrite");
    let out = server.kubectl(&["diff", "-f", file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let diff = text(&out.stdout);
    assert!(diff.contains("-  replicas: 2"), "{diff}");
    assert!(diff.contains("+  replicas: 3"), "{diff}");
    // The stored object is unchanged.
    let replicas = server.kubectl_ok(&["get", "deployment", "site", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas, "2");
}
