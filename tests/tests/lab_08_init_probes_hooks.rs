//! Lab L08 — init containers, probes, hooks, limits.

use std::time::Duration;

use k1s_e2e::{wait_for, Server};

fn pod_json(server: &Server, name: &str, path: &str) -> String {
    server.kubectl_ok(&["get", "pod", name, "-o", &format!("jsonpath={path}")])
}

const INIT: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: with-init}
spec:
  initContainers:
  - name: prepare
    image: busybox:1.36
    command: ["sh", "-c", "sleep 4; echo prepared > /work/ready.txt"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: busybox:1.36
    command: ["sh", "-c", "cat /work/ready.txt; sleep 3600"]
    volumeMounts: [{name: work, mountPath: /work}]
  volumes: [{name: work, emptyDir: {}}]
"#;

const FAILING_INIT: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: bad-init}
spec:
  initContainers:
  - name: fail
    image: busybox:1.36
    command: ["sh", "-c", "echo nope; exit 1"]
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
"#;

const LIVENESS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: liveness}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: busybox:1.36
    command: ["sh", "-c", "echo run started; touch /tmp/healthy; sleep 4; rm /tmp/healthy; sleep 3600"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
"#;

const CRASHER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sh", "-c", "echo crashing; exit 3"]
"#;

const READINESS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: readiness}
spec:
  # `sleep` as PID 1 ignores SIGTERM: a liveness kill waits out the grace period.
  terminationGracePeriodSeconds: 2
  containers:
  - name: exec-gated
    image: busybox:1.36
    command: ["sleep", "3600"]
    readinessProbe:
      exec: {command: ["test", "-f", "/tmp/ready"]}
      periodSeconds: 1
  - name: tcp-gated
    image: python:3.11-slim
    command: ["sh", "-c", "sleep 3; exec python -m http.server 8080"]
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
  - name: startup-gated
    image: busybox:1.36
    command: ["sleep", "3600"]
    startupProbe:
      exec: {command: ["test", "-f", "/tmp/started"]}
      periodSeconds: 1
      failureThreshold: 600
    livenessProbe:
      exec: {command: ["test", "-f", "/tmp/alive"]}
      periodSeconds: 1
      failureThreshold: 1
"#;

fn hooks_pod(dir: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: hooks}}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: app
    image: busybox:1.36
    command: ["sh", "-c", "trap 'echo got TERM >> /shared/log' TERM; while true; do sleep 1; done"]
    lifecycle:
      postStart:
        exec: {{command: ["sh", "-c", "echo post-start > /tmp/poststart"]}}
      preStop:
        exec: {{command: ["sh", "-c", "echo pre-stop >> /shared/log"]}}
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  volumes:
  - name: shared
    hostPath: {{path: {dir}, type: DirectoryOrCreate}}
"#
    )
}

const OOM: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  containers:
  - name: hog
    image: python:3.11-slim
    command: ["python", "-c", "import time; print('allocating', flush=True); x = b'x' * (256 * 1024 * 1024); time.sleep(3600)"]
    resources:
      limits: {memory: 64Mi}
"#;

#[test]
fn lab_08_init_containers_probes_hooks_limits() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");

    // Init container: Init:0/1 while it runs, then the app sees its file.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(INIT));
    server.wait_pod("default", "with-init", "0/1", "Init:0/1", Duration::from_secs(20));
    server.wait_pod("default", "with-init", "1/1", "Running", Duration::from_secs(30));
    let logs = wait_for("app output", Duration::from_secs(10), || {
        let l = server.kubectl_ok(&["logs", "with-init", "-c", "app"]);
        l.contains("prepared").then_some(l)
    });
    assert!(logs.contains("prepared"));

    // A failing init container: Init:Error, then Init:CrashLoopBackOff.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(FAILING_INIT));
    server.wait_pod(
        "default",
        "bad-init",
        "0/1",
        "Init:CrashLoopBackOff",
        Duration::from_secs(40),
    );

    // A crashing container: CrashLoopBackOff, restarts counting up, BackOff events.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(CRASHER));
    server.wait_pod("default", "crasher", "0/1", "CrashLoopBackOff", Duration::from_secs(40));
    let describe = server.kubectl_ok(&["describe", "pod", "crasher"]);
    assert!(
        describe.contains("Back-off restarting failed container app"),
        "{describe}"
    );
    assert!(describe.contains("Exit Code:    3"), "{describe}");

    // Liveness: a failing probe restarts the container; --previous shows the earlier run.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(LIVENESS));
    wait_for("a liveness restart", Duration::from_secs(60), || {
        let r = pod_json(&server, "liveness", "{.status.containerStatuses[0].restartCount}");
        (r.parse::<u32>().unwrap_or(0) >= 1).then_some(())
    });
    let previous = server.kubectl_ok(&["logs", "liveness", "--previous"]);
    assert!(previous.contains("run started"), "{previous}");
    let describe = server.kubectl_ok(&["describe", "pod", "liveness"]);
    assert!(describe.contains("Liveness probe failed"), "{describe}");
    assert!(
        describe.contains("failed liveness probe, will be restarted"),
        "{describe}"
    );

    // Readiness (exec and tcpSocket) gates READY; the startup probe holds liveness off.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(READINESS));
    server.wait_pod("default", "readiness", "1/3", "Running", Duration::from_secs(40));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        pod_json(
            &server,
            "readiness",
            "{.status.containerStatuses[?(@.name==\"startup-gated\")].restartCount}"
        ),
        "0",
        "liveness ran before the startup probe succeeded"
    );
    server.kubectl_ok(&["exec", "readiness", "-c", "exec-gated", "--", "touch", "/tmp/ready"]);
    server.wait_pod("default", "readiness", "2/3", "Running", Duration::from_secs(20));
    server.kubectl_ok(&[
        "exec",
        "readiness",
        "-c",
        "startup-gated",
        "--",
        "touch",
        "/tmp/started",
    ]);
    wait_for("liveness to run once started", Duration::from_secs(30), || {
        let r = pod_json(
            &server,
            "readiness",
            "{.status.containerStatuses[?(@.name==\"startup-gated\")].restartCount}",
        );
        (r.parse::<u32>().unwrap_or(0) >= 1).then_some(())
    });

    // Hooks and graceful termination: postStart ran; preStop and SIGTERM reached the container.
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = dir.path().join("shared");
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&hooks_pod(&shared.display().to_string())));
    server.wait_pod("default", "hooks", "1/1", "Running", Duration::from_secs(30));
    let post = server.kubectl_ok(&["exec", "hooks", "--", "cat", "/tmp/poststart"]);
    assert_eq!(post.trim(), "post-start");
    server.kubectl_ok(&["delete", "pod", "hooks", "--timeout=30s"]);
    let log = std::fs::read_to_string(shared.join("log")).unwrap_or_default();
    assert!(log.contains("pre-stop"), "preStop did not run: {log:?}");
    assert!(log.contains("got TERM"), "no SIGTERM after preStop: {log:?}");

    // Memory limit: OOMKilled shown as Last State, then restarted.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(OOM));
    wait_for("an OOM kill", Duration::from_secs(60), || {
        let reason = pod_json(
            &server,
            "hog",
            "{.status.containerStatuses[0].lastState.terminated.reason}",
        );
        (reason == "OOMKilled").then_some(())
    });
    let describe = server.kubectl_ok(&["describe", "pod", "hog"]);
    assert!(describe.contains("Last State:     Terminated"), "{describe}");
    assert!(describe.contains("Reason:       OOMKilled"), "{describe}");
    assert!(describe.contains("Exit Code:    137"), "{describe}");
}
