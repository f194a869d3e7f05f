//! End-to-end: `kubectl apply --server-side` against a real `k1s server` —
//! repeat applies, conflicts with a second manager, `--force-conflicts`, removal
//! of dropped fields, `--show-managed-fields`, server dry run, `kubectl diff
//! --server-side`, and the client-side ⇄ server-side apply upgrade.

use k1s_e2e::Server;
use serde_json::Value;

fn deployment(name: &str, replicas: u32, extra_label: bool) -> String {
    let label = if extra_label { "\n    tier: web" } else { "" };
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
  labels:
    app: {name}{label}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        ports:
        - containerPort: 8080
"#
    )
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn get(server: &Server, name: &str) -> Value {
    json(&server.kubectl_ok(&["get", "deployment", name, "-o", "json", "--show-managed-fields"]))
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or("").to_string(),
                        e["operation"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn server_side_apply_with_kubectl() {
    let server = Server::start().expect("server starts");
    let apply = |manifest: &str, extra: &[&str]| {
        let mut args = vec!["apply", "--server-side", "-f", "-"];
        args.extend_from_slice(extra);
        server.kubectl_with_stdin(&args, Some(manifest))
    };

    // Twice in a row: the second apply is a no-op and succeeds.
    for _ in 0..2 {
        let out = apply(&deployment("web", 2, true), &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "deployment.apps/web serverside-applied\n"
        );
    }
    let rv = get(&server, "web")["metadata"]["resourceVersion"].clone();
    let _ = apply(&deployment("web", 2, true), &[]);
    assert_eq!(
        get(&server, "web")["metadata"]["resourceVersion"],
        rv,
        "no-op apply wrote nothing"
    );

    // managedFields are shown with --show-managed-fields (and hidden without).
    let yaml = server.kubectl_ok(&["get", "deployment", "web", "-o", "yaml", "--show-managed-fields"]);
    for line in [
        "managedFields:",
        "manager: kubectl",
        "operation: Apply",
        "fieldsType: FieldsV1",
        "f:replicas: {}",
    ] {
        assert!(yaml.contains(line), "missing {line:?} in:\n{yaml}");
    }
    let plain = server.kubectl_ok(&["get", "deployment", "web", "-o", "yaml"]);
    assert!(!plain.contains("managedFields"), "{plain}");

    // A second manager changing spec.replicas gets kubectl's conflict error.
    let replicas_only =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 5\n";
    let out = apply(replicas_only, &["--field-manager=other"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(
            "error: Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas\n\
             Please review the fields above--they currently have other managers."
        ),
        "{err}"
    );
    assert!(err.contains("--force-conflicts"), "{err}");
    assert_eq!(get(&server, "web")["spec"]["replicas"], 2);

    // --force-conflicts wins and moves ownership.
    let out = apply(replicas_only, &["--field-manager=other", "--force-conflicts"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let obj = get(&server, "web");
    assert_eq!(obj["spec"]["replicas"], 5);
    assert!(managers(&obj).contains(&("other".to_string(), "Apply".to_string())));

    // Removing a field from the manifest and re-applying removes it from the object.
    let out = apply(&deployment("web", 5, false), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let labels = get(&server, "web")["metadata"]["labels"].clone();
    assert!(labels.get("tier").is_none(), "{labels}");
    assert_eq!(labels["app"], "web");

    // Server dry run reports and stores nothing.
    let out = apply(&deployment("web", 5, true), &["--dry-run=server"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "deployment.apps/web serverside-applied (server dry run)\n"
    );
    assert!(get(&server, "web")["metadata"]["labels"].get("tier").is_none());

    // kubectl diff --server-side shows the change and exits 1.
    let out = server.kubectl_with_stdin(&["diff", "--server-side", "-f", "-"], Some(&deployment("web", 5, true)));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("+    tier: web"), "{diff}");
    assert!(!diff.contains("managedFields"), "{diff}");
    // A change to a field another manager owns is a conflict for diff too.
    let out = server.kubectl_with_stdin(
        &["diff", "--server-side", "-f", "-"],
        Some(&deployment("web", 7, false)),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflict with \"other\""));
    let out = server.kubectl_with_stdin(
        &["diff", "--server-side", "-f", "-"],
        Some(&deployment("web", 5, false)),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "no difference: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn client_side_and_server_side_apply_hand_over() {
    let server = Server::start().expect("server starts");

    // Client-side apply first, then server-side with a changed value: no conflict.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&deployment("csa", 2, false)));
    let obj = get(&server, "csa");
    assert!(managers(&obj).contains(&("kubectl-client-side-apply".to_string(), "Update".to_string())));
    let out = server.kubectl_stdin_ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&deployment("csa", 3, false)),
    );
    assert_eq!(out, "deployment.apps/csa serverside-applied\n");
    let obj = get(&server, "csa");
    assert_eq!(obj["spec"]["replicas"], 3);
    assert!(
        managers(&obj).contains(&("kubectl".to_string(), "Apply".to_string())),
        "{:?}",
        managers(&obj)
    );
    let last: Value = json(
        obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .expect("annotation kept"),
    );
    assert_eq!(
        last["spec"]["replicas"], 3,
        "the annotation follows server-side applies"
    );

    // And back: client-side apply after server-side apply.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&deployment("csa", 4, false)));
    assert_eq!(get(&server, "csa")["spec"]["replicas"], 4);

    // Server-side first, then client-side.
    server.kubectl_stdin_ok(
        &["apply", "--server-side", "-f", "-"],
        Some(&deployment("ssa", 1, true)),
    );
    let out = server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&deployment("ssa", 2, true)));
    assert!(out.starts_with("deployment.apps/ssa "), "{out}");
    assert_eq!(get(&server, "ssa")["spec"]["replicas"], 2);
}
