//! The scheduler end to end (issue 5): a pod too big for what is left of the
//! node stays Pending with kube-scheduler's `FailedScheduling` event and
//! `PodScheduled=False`, and is placed once the pod holding the room is
//! deleted; a pod whose nodeSelector no node matches stays Pending saying so;
//! a Binding made with kubectl places a pod another scheduler was meant to.

use std::time::Duration;

use k1s_e2e::{wait_for, Server};

/// A pod that asks for `cpu` millicores and exits promptly on SIGTERM.
fn pod(name: &str, cpu: i64, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
{extra_spec}
  containers:
  - name: app
    image: busybox:1.36
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    resources:
      requests: {{cpu: {cpu}m, memory: 16Mi}}
"#
    )
}

/// The rows of the `Events:` table of `kubectl describe`.
fn event_rows(describe: &str) -> Vec<String> {
    describe
        .lines()
        .skip_while(|l| !l.starts_with("Events:"))
        .skip(3)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The describe output once it shows a `FailedScheduling` warning from the scheduler ending in `message`.
fn wait_failed_scheduling(server: &Server, name: &str, message: &str) -> String {
    wait_for(&format!("FailedScheduling for {name}"), Duration::from_secs(30), || {
        let d = server.kubectl_ok(&["describe", "pod", name]);
        event_rows(&d)
            .iter()
            .any(|r| {
                let cols: Vec<&str> = r.split_whitespace().collect();
                cols.first() == Some(&"Warning")
                    && cols.get(1) == Some(&"FailedScheduling")
                    && cols.contains(&"default-scheduler")
                    && r.ends_with(message)
            })
            .then_some(d)
    })
}

/// `kubectl get pod -o wide` columns: READY, STATUS, NODE.
fn wide_columns(server: &Server, name: &str) -> (String, String, String) {
    let out = server.kubectl_ok(&["get", "pod", name, "-o", "wide", "--no-headers"]);
    let cols: Vec<&str> = out.split_whitespace().collect();
    (cols[1].to_string(), cols[2].to_string(), cols[6].to_string())
}

#[test]
fn scheduler_places_pods_that_fit_and_explains_those_that_do_not() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    let alloc = server.kubectl_ok(&["get", "node", "e2e-node", "-o", "jsonpath={.status.allocatable.cpu}"]);
    let cores: i64 = alloc.trim().parse().expect("whole cores");
    // The holder takes 3/4 of the node; the big pod wants half: it fits only once the holder is gone.
    let (holder_cpu, big_cpu) = (cores * 750, cores * 500);

    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&pod("holder", holder_cpu, "")));
    server.wait_pod("default", "holder", "1/1", "Running", Duration::from_secs(30));
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&pod("big", big_cpu, "")));
    server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        Some(&pod("picky", 10, "  nodeSelector: {disktype: ssd}")),
    );

    let big = wait_failed_scheduling(
        &server,
        "big",
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    );
    assert!(
        big.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols == ["PodScheduled", "False"]
        }),
        "describe shows PodScheduled False:\n{big}"
    );
    assert!(
        big.lines().any(|l| l.starts_with("Node:") && l.ends_with("<none>")),
        "{big}"
    );
    assert_eq!(
        wide_columns(&server, "big"),
        ("0/1".into(), "Pending".into(), "<none>".into())
    );
    let reason = server.kubectl_ok(&[
        "get",
        "pod",
        "big",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}",
    ]);
    assert_eq!(reason, "Unschedulable");

    wait_failed_scheduling(
        &server,
        "picky",
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
    );
    assert_eq!(
        wide_columns(&server, "picky"),
        ("0/1".into(), "Pending".into(), "<none>".into())
    );

    // Deleting the holder makes room: the big pod is placed and runs.
    server.kubectl_ok(&["delete", "pod", "holder", "--timeout=60s"]);
    server.wait_pod("default", "big", "1/1", "Running", Duration::from_secs(30));
    let d = server.kubectl_ok(&["describe", "pod", "big"]);
    assert!(
        event_rows(&d)
            .iter()
            .any(|r| r.starts_with("Normal") && r.ends_with("Successfully assigned default/big to e2e-node")),
        "{d}"
    );
    assert_eq!(wide_columns(&server, "big").2, "e2e-node");
    // The picky pod still waits.
    assert_eq!(wide_columns(&server, "picky").1, "Pending");

    // A pod for a scheduler that does not exist waits; a Binding places it.
    server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        Some(&pod("manual", 10, "  schedulerName: my-scheduler")),
    );
    let binding = r#"
apiVersion: v1
kind: Binding
metadata: {name: manual}
target: {apiVersion: v1, kind: Node, name: e2e-node}
"#;
    // kubectl's client-side validation of a kind without a PATCH path lists CRDs, which k1s does not serve.
    server.kubectl_stdin_ok(&["create", "-f", "-", "--validate=false"], Some(binding));
    server.wait_pod("default", "manual", "1/1", "Running", Duration::from_secs(30));
    // Binding twice is refused, in Kubernetes' words.
    let again = server.kubectl_with_stdin(&["create", "-f", "-", "--validate=false"], Some(binding));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(
        stderr.contains(r#"Operation cannot be fulfilled on pods/binding "manual": pod manual is already assigned to node "e2e-node""#),
        "{stderr}"
    );
}
