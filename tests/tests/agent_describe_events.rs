//! The kubelet's events for a simple pod (issue 4): `kubectl describe pod`
//! lists `Pulled`, `Created`, `Started` in that order with the kubelet's texts
//! and `From kubelet`, and `Killing` once the pod is deleted; `kubectl get
//! events` shows the same events with the kubelet as their source.

use std::time::Duration;

use k1s_e2e::{wait_for, Server};

// `sleep` as PID 1 ignores SIGTERM: the pod stays Terminating for its grace
// period, long enough to describe it after the delete.
const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: eventful}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
"#;

/// The rows of the `Events:` table of `kubectl describe` (after its two header lines).
fn event_rows(describe: &str) -> Vec<String> {
    describe
        .lines()
        .skip_while(|l| !l.starts_with("Events:"))
        .skip(3)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The row index of the first event with this reason and message.
fn row_of(rows: &[String], reason: &str, message: &str) -> Option<usize> {
    rows.iter().position(|r| {
        let cols: Vec<&str> = r.split_whitespace().collect();
        cols.get(1) == Some(&reason) && cols.contains(&"kubelet") && r.ends_with(message)
    })
}

const PULLED: &str = r#"Container image "busybox:1.36" already present on machine"#;
const CREATED: &str = "Created container: app";
const STARTED: &str = "Started container app";
const KILLING: &str = "Stopping container app";

#[test]
fn describe_pod_shows_the_kubelet_events_in_order() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(POD));
    server.wait_pod("default", "eventful", "1/1", "Running", Duration::from_secs(60));

    let describe = wait_for("the Started event in describe", Duration::from_secs(30), || {
        let d = server.kubectl_ok(&["describe", "pod", "eventful"]);
        row_of(&event_rows(&d), "Started", STARTED).map(|_| d)
    });
    let header = describe
        .lines()
        .skip_while(|l| !l.starts_with("Events:"))
        .nth(1)
        .unwrap_or_default();
    let cols: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(cols, ["Type", "Reason", "Age", "From", "Message"], "{describe}");
    let rows = event_rows(&describe);
    let pulled = row_of(&rows, "Pulled", PULLED);
    let created = row_of(&rows, "Created", CREATED);
    let started = row_of(&rows, "Started", STARTED);
    match (pulled, created, started) {
        (Some(p), Some(c), Some(s)) => assert!(p < c && c < s, "events out of order:\n{describe}"),
        _ => panic!("missing Pulled/Created/Started events ({pulled:?} {created:?} {started:?}):\n{describe}"),
    }
    for r in &rows {
        assert!(r.starts_with("Normal "), "unexpected event {r:?}:\n{describe}");
    }
    assert!(
        !rows.iter().any(|r| r.contains("Pulling")),
        "the image was present, nothing to pull:\n{describe}"
    );

    // Delete: the kubelet says it stops the container, while the pod terminates.
    server.kubectl_ok(&["delete", "pod", "eventful", "--wait=false"]);
    let describe = wait_for("the Killing event in describe", Duration::from_secs(15), || {
        let d = server.kubectl_ok(&["describe", "pod", "eventful"]);
        row_of(&event_rows(&d), "Killing", KILLING).map(|_| d)
    });
    assert!(describe.contains("Terminating"), "{describe}");
    let rows = event_rows(&describe);
    match (row_of(&rows, "Started", STARTED), row_of(&rows, "Killing", KILLING)) {
        (Some(s), Some(k)) => assert!(s < k, "Killing before Started:\n{describe}"),
        other => panic!("Started/Killing missing ({other:?}):\n{describe}"),
    }

    // `kubectl get events`: the same events, reported by the kubelet of e2e-node.
    let out = server.kubectl_ok(&["get", "events", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("events json");
    let events: Vec<&serde_json::Value> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["involvedObject"]["name"] == "eventful")
        .collect();
    for (reason, message) in [
        ("Pulled", PULLED),
        ("Created", CREATED),
        ("Started", STARTED),
        ("Killing", KILLING),
    ] {
        let e = events
            .iter()
            .find(|e| e["reason"] == reason)
            .unwrap_or_else(|| panic!("no {reason} event in kubectl get events: {events:#?}"));
        assert_eq!(e["message"], message, "{e:#}");
        assert_eq!(e["type"], "Normal", "{e:#}");
        assert_eq!(e["source"]["component"], "kubelet", "{e:#}");
        assert_eq!(e["source"]["host"], "e2e-node", "{e:#}");
        assert_eq!(e["involvedObject"]["kind"], "Pod", "{e:#}");
        assert_eq!(e["involvedObject"]["fieldPath"], "spec.containers{app}", "{e:#}");
        assert_eq!(e["reportingComponent"], "kubelet", "{e:#}");
        assert_eq!(e["reportingInstance"], "e2e-node", "{e:#}");
        assert!(e["count"].as_i64().unwrap_or(0) >= 1, "{e:#}");
    }
    let wide = server.kubectl_ok(&[
        "get",
        "events",
        "-o",
        "wide",
        "--field-selector",
        "involvedObject.name=eventful",
    ]);
    let header: Vec<&str> = wide.lines().next().unwrap_or_default().split_whitespace().collect();
    assert!(header.contains(&"SOURCE"), "{wide}");
    for reason in ["Pulled", "Created", "Started", "Killing"] {
        assert!(
            wide.lines()
                .any(|l| l.split_whitespace().any(|c| c == reason) && l.contains("kubelet, e2e-node")),
            "kubectl get events -o wide lacks {reason} from kubelet, e2e-node:\n{wide}"
        );
    }

    // The pod goes away once its grace period is over and its container leaves containerd.
    wait_for("the pod to be gone", Duration::from_secs(60), || {
        (!server.kubectl(&["get", "pod", "eventful"]).status.success()).then_some(())
    });
    wait_for("the container to leave containerd", Duration::from_secs(30), || {
        server.containerd_containers().ok().filter(|c| c.is_empty())
    });
}
