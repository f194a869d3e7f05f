//! Lab L01 — a first pod: a python loop printing a timestamped line every 2 s,
//! with requests and limits; Running 1/1, logs (follow, tail, since,
//! timestamps), describe (Scheduled and kubelet events, QoS, limits, IP), delete within the grace
//! period with the container gone from containerd.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use k1s_e2e::{wait_for, Server};

// Without `-u`, `print(…, flush=True)` hands the whole line to one write:
// unbuffered (`-u`), print writes each argument and the newline separately,
// and the log writer may record them as partial entries, which `--tail`
// counts as lines (as the kubelet does).
const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: ticker
  labels: {app: ticker}
spec:
  containers:
  - name: ticker
    image: python:3.11-slim
    command: ["python", "-c"]
    args:
    - |
      import datetime, time
      n = 0
      while True:
          n += 1
          print(datetime.datetime.now().isoformat(), "tick", n, flush=True)
          time.sleep(2)
    resources:
      requests: {memory: 64Mi, cpu: 100m}
      limits: {memory: 128Mi, cpu: 200m}
"#;

fn ticks(s: &str) -> usize {
    s.lines().filter(|l| l.contains(" tick ")).count()
}

#[test]
fn lab_01_first_pod() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");

    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(POD));
    server.wait_pod("default", "ticker", "1/1", "Running", Duration::from_secs(10));

    // Logs: the lines come, and the options work.
    let logs = wait_for("two log lines", Duration::from_secs(10), || {
        let l = server.kubectl_ok(&["logs", "ticker"]);
        (ticks(&l) >= 2).then_some(l)
    });
    assert!(logs.lines().all(|l| l.contains(" tick ")), "{logs}");
    let tail = server.kubectl_ok(&["logs", "ticker", "--tail=1"]);
    assert_eq!(ticks(&tail), 1, "{tail}");
    let stamped = server.kubectl_ok(&["logs", "ticker", "--timestamps", "--tail=1"]);
    let first = stamped.split_whitespace().next().unwrap_or_default();
    assert!(
        jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.fZ", first).is_ok() || first.parse::<jiff::Timestamp>().is_ok(),
        "no RFC 3339 timestamp: {stamped}"
    );
    let recent = server.kubectl_ok(&["logs", "ticker", "--since=1s"]);
    let all = server.kubectl_ok(&["logs", "ticker", "--since=1h"]);
    assert!(
        ticks(&recent) <= 1 && ticks(&all) >= 2,
        "since=1s: {recent}\nsince=1h: {all}"
    );

    // `logs -f` streams lines printed after it started.
    let before = ticks(&server.kubectl_ok(&["logs", "ticker"]));
    let mut follow = Command::new("kubectl")
        .args(["logs", "-f", "ticker"])
        .env("KUBECONFIG", &server.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl logs -f");
    let stdout = follow.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = 0;
    let streamed = wait_for("logs -f to stream a new line", Duration::from_secs(10), || {
        while let Ok(line) = rx.try_recv() {
            if line.contains(" tick ") {
                seen += 1;
            }
        }
        (seen > before).then_some(seen)
    });
    assert!(streamed > before);
    let _ = follow.kill();
    let _ = follow.wait();

    // describe: events, QoS class, limits, pod IP.
    let describe = server.kubectl_ok(&["describe", "pod", "ticker"]);
    for want in ["Created", "Started", "Burstable", "128Mi", "200m", "64Mi", "100m"] {
        assert!(describe.contains(want), "describe lacks {want:?}:\n{describe}");
    }
    assert!(
        describe.contains("Pulled") || describe.contains("already present on machine"),
        "{describe}"
    );
    // The scheduler placed it: `Normal  Scheduled  <age>  default-scheduler  Successfully assigned …`.
    let scheduled = describe
        .lines()
        .find(|l| l.contains("Successfully assigned default/ticker to e2e-node"))
        .unwrap_or_else(|| panic!("no Scheduled event:\n{describe}"));
    let cols: Vec<&str> = scheduled.split_whitespace().collect();
    assert_eq!(
        (cols.first(), cols.get(1), cols.get(3)),
        (Some(&"Normal"), Some(&"Scheduled"), Some(&"default-scheduler")),
        "{scheduled}"
    );
    let node = server.kubectl_ok(&["get", "pod", "ticker", "-o", "jsonpath={.spec.nodeName}"]);
    assert_eq!(node, "e2e-node");
    let ip = server.kubectl_ok(&["get", "pod", "ticker", "-o", "jsonpath={.status.podIP}"]);
    assert!(ip.starts_with("10.42."), "pod IP {ip:?}\n{describe}");
    assert!(describe.contains(&ip), "{describe}");

    // Delete: returns within the grace period, and containerd forgets the container.
    assert!(!server.containerd_containers().expect("ctr").is_empty());
    // kubectl waits for the pod to be gone. Python as PID 1 has no SIGTERM
    // handler, so (as on any cluster) it is killed when the 30 s grace period ends.
    let started = std::time::Instant::now();
    server.kubectl_ok(&["delete", "pod", "ticker", "--timeout=60s"]);
    eprintln!("kubectl delete returned after {:?}", started.elapsed());
    wait_for("the container to leave containerd", Duration::from_secs(10), || {
        server.containerd_containers().ok().filter(|c| c.is_empty())
    });
}
