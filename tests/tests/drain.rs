//! `kubectl drain` against a PodDisruptionBudget (issue 5): the node is
//! cordoned (and tainted `unschedulable`), one pod of a two-replica set is
//! evicted, the other is refused with the budget's 429 until drain gives up,
//! the replacement pod cannot be scheduled on the cordoned node, and after
//! `kubectl uncordon` it runs and the budget allows a disruption again.

use std::time::Duration;

use k1s_e2e::{wait_for, Server};

const APP: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: busybox:1.36
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
"#;

/// `kubectl get pods -l app=web`: (name, status) of each.
fn web_pods(server: &Server) -> Vec<(String, String)> {
    server
        .kubectl_ok(&["get", "pods", "-l", "app=web", "--no-headers"])
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            Some((cols.first()?.to_string(), cols.get(2)?.to_string()))
        })
        .collect()
}

/// `kubectl get pdb web`: its ALLOWED DISRUPTIONS column.
fn allowed_disruptions(server: &Server) -> String {
    let out = server.kubectl_ok(&["get", "pdb", "web", "--no-headers"]);
    out.split_whitespace().nth(3).unwrap_or("").to_string()
}

fn running(server: &Server, n: usize) -> bool {
    let pods = web_pods(server);
    pods.len() == n && pods.iter().all(|(_, s)| s == "Running")
}

#[test]
fn drain_respects_the_disruption_budget() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(APP));
    wait_for("two web pods running", Duration::from_secs(60), || {
        running(&server, 2).then_some(())
    });
    wait_for("one disruption allowed", Duration::from_secs(30), || {
        (allowed_disruptions(&server) == "1").then_some(())
    });

    let out = server.kubectl(&["drain", "e2e-node", "--ignore-daemonsets", "--timeout=12s"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!out.status.success(), "drain cannot finish:\n{stdout}\n{stderr}");
    assert!(stdout.contains("node/e2e-node cordoned"), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches(" evicted").count(), 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{stdout}\n{stderr}"
    );

    let node = server.kubectl_ok(&["get", "node", "e2e-node", "--no-headers"]);
    assert_eq!(
        node.split_whitespace().nth(1),
        Some("Ready,SchedulingDisabled"),
        "{node}"
    );
    let described = wait_for("the unschedulable taint", Duration::from_secs(30), || {
        let d = server.kubectl_ok(&["describe", "node", "e2e-node"]);
        d.lines()
            .any(|l| l.starts_with("Taints:") && l.ends_with("node.kubernetes.io/unschedulable:NoSchedule"))
            .then_some(d)
    });
    assert!(
        described
            .lines()
            .any(|l| l.starts_with("Unschedulable:") && l.ends_with("true")),
        "{described}"
    );

    // The ReplicaSet's replacement pod waits: the node is cordoned.
    let pending = wait_for("a pending replacement", Duration::from_secs(30), || {
        web_pods(&server)
            .into_iter()
            .find(|(_, s)| s == "Pending")
            .map(|(n, _)| n)
    });
    wait_for("FailedScheduling on the cordoned node", Duration::from_secs(30), || {
        server
            .kubectl_ok(&["describe", "pod", &pending])
            .contains("0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
            .then_some(())
    });

    server.kubectl_ok(&["uncordon", "e2e-node"]);
    wait_for("both pods running again", Duration::from_secs(60), || {
        running(&server, 2).then_some(())
    });
    wait_for("a disruption allowed again", Duration::from_secs(30), || {
        (allowed_disruptions(&server) == "1").then_some(())
    });
    wait_for("the taint removed", Duration::from_secs(30), || {
        server
            .kubectl_ok(&["describe", "node", "e2e-node"])
            .lines()
            .any(|l| l.starts_with("Taints:") && l.ends_with("<none>"))
            .then_some(())
    });
}
