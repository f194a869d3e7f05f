//! Crash safety of the node agent (issue 4): `kill -9` of the whole server
//! with 10 running pods (one of them already restarted once) and a restart on
//! the same data dir keep every container — same container IDs, restart
//! counts and start times, logs from before the kill still there and growing;
//! a pod deleted after the restart leaves containerd. And containerd itself
//! dying is survived: the server restarts it and the pods keep running.

use std::collections::BTreeMap;
use std::time::Duration;

use k1s_e2e::{wait_for, Server};

const PODS: usize = 10;
/// The pod whose container exits 1 on its first run (restart count 1).
const RESTARTER: &str = "crash-9";

/// A busybox pod printing `<name> line <n>` every second; it exits on SIGTERM
/// so deletes do not wait for the grace period.
fn logger_pod(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: crash-safety}}}}
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo {name} line $i; sleep 1; done"]
"#
    )
}

/// Like [`logger_pod`], but the first run of the container exits 1 (a marker
/// in an emptyDir, which outlives container restarts, makes the second run loop).
fn restarter_pod(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: crash-safety}}}}
spec:
  containers:
  - name: app
    image: busybox:1.36
    command:
    - sh
    - -c
    - |
      if [ ! -f /state/ran-once ]; then touch /state/ran-once; echo {name} first run fails; exit 1; fi
      trap 'exit 0' TERM
      i=0
      while true; do i=$((i+1)); echo {name} line $i; sleep 1; done
    volumeMounts: [{{name: state, mountPath: /state}}]
  volumes: [{{name: state, emptyDir: {{}}}}]
"#
    )
}

/// What must not change across a restart of the server (or of containerd).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContainerFacts {
    container_id: String,
    restart_count: String,
    started_at: String,
}

fn facts(server: &Server, pod: &str) -> ContainerFacts {
    let out = server.kubectl_ok(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.running.startedAt}",
    ]);
    let parts: Vec<&str> = out.split_whitespace().collect();
    ContainerFacts {
        container_id: parts.first().unwrap_or(&"").to_string(),
        restart_count: parts.get(1).unwrap_or(&"").to_string(),
        started_at: parts.get(2).unwrap_or(&"").to_string(),
    }
}

fn all_facts(server: &Server, pods: &[String]) -> BTreeMap<String, ContainerFacts> {
    pods.iter().map(|p| (p.clone(), facts(server, p))).collect()
}

/// The highest `line N` counter in a pod's log (0 when there is none).
fn last_counter(logs: &str) -> u64 {
    logs.lines()
        .filter_map(|l| l.rsplit_once(" line ").and_then(|(_, n)| n.trim().parse::<u64>().ok()))
        .max()
        .unwrap_or(0)
}

fn logs(server: &Server, pod: &str) -> String {
    server.kubectl_ok(&["logs", pod])
}

/// `containerd://<id>` → `<id>`.
fn bare_id(container_id: &str) -> &str {
    container_id.split_once("://").map(|(_, id)| id).unwrap_or(container_id)
}

/// The containerd pid from `<data-dir>/containerd/containerd.pid`.
fn containerd_pid(server: &Server) -> Option<i32> {
    std::fs::read_to_string(server.data_dir.join("containerd").join("containerd.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn pid_alive(pid: i32) -> bool {
    // Signal 0 checks for existence; a zombie (not reaped yet) counts as dead.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() && !status.contains("State:\tZ")
}

fn node_ready(server: &Server) -> bool {
    let out = server.kubectl(&[
        "get",
        "node",
        "e2e-node",
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#,
    ]);
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "True"
}

/// Starts the 10 pods and waits until all run, the restarter with one restart,
/// and every pod has printed a few lines.
fn start_pods(server: &Server) -> Vec<String> {
    let names: Vec<String> = (0..PODS).map(|i| format!("crash-{i}")).collect();
    let manifests: Vec<String> = names
        .iter()
        .map(|n| {
            if n == RESTARTER {
                restarter_pod(n)
            } else {
                logger_pod(n)
            }
        })
        .collect();
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&manifests.join("---\n")));
    for n in &names {
        server.wait_pod("default", n, "1/1", "Running", Duration::from_secs(120));
    }
    wait_for("the restarter to have restarted once", Duration::from_secs(60), || {
        let f = facts(server, RESTARTER);
        (f.restart_count == "1" && !f.started_at.is_empty()).then_some(())
    });
    for n in &names {
        wait_for(&format!("{n} to print 3 lines"), Duration::from_secs(30), || {
            (last_counter(&logs(server, n)) >= 3).then_some(())
        });
    }
    names
}

/// Checks the facts of every pod are unchanged and its container is still in
/// containerd, and that each log still holds what it held before and grows.
fn check_survived(
    server: &Server,
    pods: &[String],
    before: &BTreeMap<String, ContainerFacts>,
    logs_before: &BTreeMap<String, String>,
    what: &str,
) {
    let in_containerd = server.containerd_containers().expect("ctr containers ls");
    for p in pods {
        let was = &before[p];
        wait_for(
            &format!("{p} Running 1/1 after {what}"),
            Duration::from_secs(60),
            || {
                server
                    .pod_columns("default", p)
                    .filter(|(ready, status, _)| ready == "1/1" && status == "Running")
            },
        );
        let now = facts(server, p);
        assert_eq!(&now, was, "pod {p}: container changed across {what}");
        assert!(
            in_containerd.iter().any(|c| c == bare_id(&was.container_id)),
            "pod {p}: container {} no longer in containerd after {what}: {in_containerd:?}",
            was.container_id
        );
        let earlier = &logs_before[p];
        let last_line = earlier.lines().last().unwrap_or_default().to_string();
        let earlier_max = last_counter(earlier);
        let grown = wait_for(
            &format!("{p}'s log to grow after {what}"),
            Duration::from_secs(30),
            || {
                let l = logs(server, p);
                (last_counter(&l) > earlier_max + 1).then_some(l)
            },
        );
        assert!(
            grown.lines().any(|l| l == last_line),
            "pod {p}: the line {last_line:?} printed before {what} is gone from kubectl logs:\n{grown}"
        );
        // The counter never went back to 1: the same process kept running.
        let ones = grown.lines().filter(|l| l.ends_with(" line 1")).count();
        assert_eq!(ones, 1, "pod {p}: the container started over across {what}:\n{grown}");
    }
}

/// Deletes a pod and checks its container leaves containerd.
fn delete_and_check_gone(server: &Server, pod: &str, container_id: &str) {
    server.kubectl_ok(&["delete", "pod", pod, "--timeout=60s"]);
    let id = bare_id(container_id).to_string();
    wait_for(
        &format!("{pod}'s container {id} to leave containerd"),
        Duration::from_secs(30),
        || server.containerd_containers().ok().filter(|c| !c.contains(&id)),
    );
}

#[test]
fn ten_pods_survive_kill_9_of_the_server() {
    let mut server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    let pods = start_pods(&server);

    let before = all_facts(&server, &pods);
    for (p, f) in &before {
        assert!(f.container_id.starts_with("containerd://"), "pod {p}: {f:?}");
        let want = if p == RESTARTER { "1" } else { "0" };
        assert_eq!(f.restart_count, want, "pod {p}: {f:?}");
    }
    let logs_before: BTreeMap<String, String> = pods.iter().map(|p| (p.clone(), logs(&server, p))).collect();

    server.kill().expect("kill -9 the server");
    // The containers do not depend on the server: they keep running meanwhile.
    std::thread::sleep(Duration::from_secs(3));
    server.launch().expect("restart after kill -9");
    wait_for("the node to be Ready again", Duration::from_secs(60), || {
        node_ready(&server).then_some(())
    });

    // The restarted agent must work (a new pod starts) before we judge adoption,
    // so the checks below see what it did, not what the API kept from before.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&logger_pod("after-restart")));
    server.wait_pod("default", "after-restart", "1/1", "Running", Duration::from_secs(60));
    check_survived(&server, &pods, &before, &logs_before, "kill -9 of the server");

    // A pod deleted after the restart: its container (adopted, not started by
    // this process) is stopped and removed.
    delete_and_check_gone(&server, "crash-0", &before["crash-0"].container_id);
    let rest: Vec<String> = pods[1..].to_vec();
    let after = all_facts(&server, &rest);
    for p in &rest {
        assert_eq!(after[p], before[p], "pod {p} changed when crash-0 was deleted");
    }
}

#[test]
fn pods_survive_a_containerd_restart() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    let pods: Vec<String> = vec!["ctd-a".into(), "ctd-b".into()];
    let manifests: Vec<String> = pods.iter().map(|n| logger_pod(n)).collect();
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&manifests.join("---\n")));
    for p in &pods {
        server.wait_pod("default", p, "1/1", "Running", Duration::from_secs(120));
        wait_for(&format!("{p} to print 3 lines"), Duration::from_secs(30), || {
            (last_counter(&logs(&server, p)) >= 3).then_some(())
        });
    }
    let before = all_facts(&server, &pods);
    let logs_before: BTreeMap<String, String> = pods.iter().map(|p| (p.clone(), logs(&server, p))).collect();

    let old = containerd_pid(&server).expect("containerd.pid written by the server");
    assert!(pid_alive(old), "containerd pid {old} from the pid file is not running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old), nix::sys::signal::Signal::SIGKILL)
        .expect("kill -9 containerd");
    let new = wait_for("the server to restart containerd", Duration::from_secs(60), || {
        containerd_pid(&server).filter(|p| *p != old && pid_alive(*p))
    });
    wait_for("the new containerd to answer", Duration::from_secs(30), || {
        server.containerd_containers().ok()
    });
    assert!(
        !pid_alive(old),
        "the old containerd {old} is still running next to {new}"
    );

    check_survived(&server, &pods, &before, &logs_before, "containerd's restart");

    // The agent still drives the new containerd: a new pod starts and a
    // deleted pod's container goes away.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&logger_pod("ctd-after")));
    server.wait_pod("default", "ctd-after", "1/1", "Running", Duration::from_secs(60));
    delete_and_check_gone(&server, "ctd-a", &before["ctd-a"].container_id);
    assert_eq!(facts(&server, "ctd-b"), before["ctd-b"], "ctd-b changed");
}
