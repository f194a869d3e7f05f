//! End-to-end: `kubectl explain` (which reads `/openapi/v3`) on ten field paths,
//! and kubectl's other OpenAPI users (`apply` computing its strategic merge
//! patch from the v3 document, `diff`, `edit`) against a real `k1s server`.
//!
//! The expected outputs in `testdata/explain/` follow kubectl 1.33's plaintext
//! explain format (`GROUP:`/`KIND:`/`VERSION:` header, `FIELD: name <type>`,
//! `DESCRIPTION:` with the field's and its type's descriptions, `FIELDS:` with
//! `<[]Container>`, `<Object>`, `<map[string]string>`, `<IntOrString>`,
//! `-required-`), with Kubernetes' descriptions as k8s-openapi carries them.
//! `--output plaintext-openapiv2` exercises the protobuf `/openapi/v2`.
//! One known difference from a real cluster: k8s-openapi drops the `enum`
//! lists (and the "Possible enum values" paragraphs) of enum-typed strings, so
//! fields such as `protocol` and `pathType` print without their `enum:` line.

use std::path::PathBuf;

use k1s_e2e::Server;

fn golden(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/explain")
        .join(format!("{name}.txt"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first line where two texts differ, for a readable failure.
fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    for i in 0..w.len().max(g.len()) {
        if w.get(i) != g.get(i) {
            return format!(
                "line {}:\n  want: {:?}\n  got:  {:?}",
                i + 1,
                w.get(i).unwrap_or(&"<end>"),
                g.get(i).unwrap_or(&"<end>")
            );
        }
    }
    "only trailing newlines differ".to_string()
}

#[test]
fn kubectl_explain_prints_what_kubernetes_prints() {
    let server = Server::start().expect("server starts");
    let cases: &[(&[&str], &str)] = &[
        (
            &["explain", "pod.spec.containers.livenessProbe"],
            "pod.spec.containers.livenessProbe",
        ),
        (&["explain", "deployment", "--recursive"], "deployment--recursive"),
        (&["explain", "pods"], "pods"),
        (&["explain", "svc.spec.ports"], "svc.spec.ports"),
        (
            &["explain", "deployment.spec.strategy.rollingUpdate.maxSurge"],
            "deployment.spec.strategy.rollingUpdate.maxSurge",
        ),
        (&["explain", "cronjob.spec.jobTemplate"], "cronjob.spec.jobTemplate"),
        (
            &["explain", "hpa", "--api-version=autoscaling/v2"],
            "hpa--api-version=autoscaling-v2",
        ),
        (&["explain", "configmap.data"], "configmap.data"),
        (
            &["explain", "pod.metadata.creationTimestamp"],
            "pod.metadata.creationTimestamp",
        ),
        (
            &["explain", "ingress.spec.rules.http.paths"],
            "ingress.spec.rules.http.paths",
        ),
    ];
    let mut failures = Vec::new();
    for (args, name) in cases {
        let got = server.kubectl_ok(args);
        let want = golden(name);
        if got != want {
            failures.push(format!("kubectl {}: {}", args.join(" "), first_difference(&want, &got)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The autoscaling/v1 HorizontalPodAutoscaler is a different schema.
    let v1 = server.kubectl_ok(&["explain", "hpa.spec", "--api-version=autoscaling/v1"]);
    assert!(v1.contains("VERSION:    v1"), "{v1}");
    assert!(v1.contains("targetCPUUtilizationPercentage\t<integer>"), "{v1}");
    // events.k8s.io Events have their own schema (`note`, not `message`).
    let ev = server.kubectl_ok(&["explain", "events", "--api-version=events.k8s.io/v1"]);
    assert!(
        ev.starts_with("GROUP:      events.k8s.io\nKIND:       Event\nVERSION:    v1\n"),
        "{ev}"
    );
    assert!(ev.contains("\n  note\t<string>\n"), "{ev}");
    // The v2 document (protobuf, the only form kubectl asks for) drives the old explain.
    let v2 = server.kubectl_ok(&["explain", "deployment.spec.strategy", "--output", "plaintext-openapiv2"]);
    assert!(
        v2.starts_with("KIND:     Deployment\nVERSION:  apps/v1\n\nRESOURCE: strategy <Object>\n"),
        "{v2}"
    );
    assert!(v2.contains("   rollingUpdate\t<Object>\n"), "{v2}");
    let missing = server.kubectl_err(&["explain", "pod.spec.nope"]);
    assert!(missing.contains(r#"field "nope" does not exist"#), "{missing}");
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        env:
        - {name: MODE, value: one}
"#;

#[test]
fn apply_diff_and_edit_use_the_openapi_documents() {
    let server = Server::start().expect("server starts");
    let out = server.kubectl_with_stdin(&["apply", "-f", "-"], Some(DEPLOYMENT));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A second container added out of band survives the next apply: kubectl's
    // patch (computed from the v3 document's patch merge keys) merges
    // containers by name instead of replacing the list.
    server.kubectl_ok(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.36"}]}}}}"#,
    ]);
    let changed = DEPLOYMENT.replace("value: one", "value: two");
    let diff = server.kubectl_with_stdin(&["diff", "-f", "-"], Some(&changed));
    let diff_out = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "kubectl diff exits 1 on changes: {diff_out}"
    );
    assert!(diff_out.contains("+          value: two"), "{diff_out}");
    let out = server.kubectl_with_stdin(&["apply", "-f", "-"], Some(&changed));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "apply warned: {stderr}");
    let containers = server.kubectl_ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={range .spec.template.spec.containers[*]}{.name}={.env[0].value};{end}",
    ]);
    let mut containers: Vec<&str> = containers.split_terminator(';').collect();
    containers.sort();
    assert_eq!(containers, ["side=", "web=two"]);

    // kubectl edit computes its patch the same way.
    let editor = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(editor.path(), "#!/bin/sh\nsed -i 's/value: two/value: three/' \"$1\"\n").expect("write editor");
    let script = editor.into_temp_path();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let mut cmd = std::process::Command::new("kubectl");
    cmd.args(["edit", "deployment", "web"])
        .env("KUBECONFIG", &server.kubeconfig)
        .env("EDITOR", &*script);
    let out = cmd.output().expect("kubectl edit runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value = server.kubectl_ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[?(@.name==\"web\")].env[0].value}",
    ]);
    assert_eq!(value, "three");
}
