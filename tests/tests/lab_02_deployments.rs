//! Lab L02 — Deployment lifecycle: a Deployment of 3 python http servers
//! with liveness and readiness probes and resources; `kubectl scale` up and
//! down; `kubectl set image` to a second tag followed by `kubectl rollout
//! status` while a pod watch checks that availability never drops below what
//! `maxUnavailable` allows; `rollout history` with the change cause; a tag
//! that cannot be pulled stalls the rollout while the old pods serve, and
//! `rollout undo` recovers; `rollout restart` replaces every pod; deleting
//! the Deployment removes its ReplicaSets and pods.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k1s_e2e::images::{self, PYTHON_SECOND_TAG};
use k1s_e2e::{wait_for, Server};
use serde_json::Value;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: python:3.11-slim
        command: ["python", "-m", "http.server", "8080"]
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 2
        livenessProbe:
          httpGet: {path: /, port: 8080}
          initialDelaySeconds: 5
          periodSeconds: 5
        resources:
          requests: {cpu: 50m, memory: 32Mi}
          limits: {cpu: 200m, memory: 128Mi}
"#;

/// A tag no registry serves (the pull fails at once, never leaving the machine).
const MISSING: &str = "127.0.0.1:1/none:1";

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The pods of the Deployment, by name.
fn pods(server: &Server) -> Vec<Value> {
    let list = json(&server.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "json"]));
    list["items"].as_array().cloned().unwrap_or_default()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn image(pod: &Value) -> &str {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or("")
}

/// Waits until exactly `n` pods of the Deployment exist, all Running and Ready with `image`.
fn wait_pods(server: &Server, n: usize, want_image: &str) -> Vec<Value> {
    wait_for(
        &format!("{n} ready pods of {want_image}"),
        Duration::from_secs(120),
        || {
            let p = pods(server);
            let ok = p.len() == n
                && p.iter()
                    .all(|p| is_ready(p) && image(p) == want_image && p["metadata"]["deletionTimestamp"].is_null());
            ok.then_some(p)
        },
    )
}

/// `kubectl get deploy web` READY column.
fn ready_column(server: &Server) -> String {
    let out = server.kubectl_ok(&["get", "deploy", "web", "--no-headers"]);
    out.split_whitespace().nth(1).unwrap_or("").to_string()
}

/// Watches the Deployment's pods with `kubectl get pods -w` and records the
/// fewest that were ready and not being deleted at any moment after the
/// `present` pods it first lists.
struct AvailabilityWatch {
    child: Child,
    min_ready: Arc<Mutex<Option<usize>>>,
}

impl AvailabilityWatch {
    fn start(server: &Server, present: usize) -> AvailabilityWatch {
        let mut child = Command::new("kubectl")
            .args([
                "get",
                "pods",
                "-w",
                "-l",
                "app=web",
                "-o",
                "jsonpath={.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status} {.metadata.deletionTimestamp}{\"\\n\"}",
            ])
            .env("KUBECONFIG", &server.kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl get pods -w");
        let stdout = child.stdout.take().expect("stdout");
        let min_ready: Arc<Mutex<Option<usize>>> = Arc::default();
        let min = min_ready.clone();
        std::thread::spawn(move || {
            let mut ready: HashMap<String, bool> = HashMap::new();
            let mut seen = 0;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let Some(name) = fields.first() else { continue };
                let serving = fields.get(1) == Some(&"True") && fields.len() == 2;
                ready.insert(name.to_string(), serving);
                let now = ready.values().filter(|r| **r).count();
                seen += 1;
                if seen >= present {
                    let mut m = min.lock().unwrap();
                    *m = Some(m.map_or(now, |m| m.min(now)));
                }
            }
        });
        AvailabilityWatch { child, min_ready }
    }

    /// Waits until the watch has listed the pods present when it started.
    fn wait_listed(&self) {
        wait_for("the watch lists the pods", Duration::from_secs(20), || {
            self.min_ready.lock().unwrap().map(|_| ())
        });
    }

    fn min_ready(&self) -> Option<usize> {
        *self.min_ready.lock().unwrap()
    }
}

impl Drop for AvailabilityWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rollout_status(server: &Server, timeout: &str) -> std::process::Output {
    server.kubectl(&["rollout", "status", "deployment/web", &format!("--timeout={timeout}")])
}

#[test]
fn lab_02_deployment_lifecycle() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    images::import_into(
        &server.data_dir,
        &[images::ensure_python_second_tag().expect("second tag")],
    )
    .expect("import the second tag");

    // Three replicas, Running and Ready: `kubectl get deploy` shows 3/3.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(DEPLOYMENT));
    let first = wait_pods(&server, 3, "python:3.11-slim");
    assert!(
        first.iter().all(|p| !p["spec"]["nodeName"].is_null()),
        "placed by the scheduler"
    );
    wait_for("READY 3/3", Duration::from_secs(30), || {
        (ready_column(&server) == "3/3").then_some(())
    });

    // Scale up and down.
    server.kubectl_ok(&["scale", "deployment", "web", "--replicas=5"]);
    let five = wait_pods(&server, 5, "python:3.11-slim");
    let names = |ps: &[Value]| -> BTreeSet<String> {
        ps.iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
            .collect()
    };
    assert!(
        names(&first).is_subset(&names(&five)),
        "scaling up keeps the running pods"
    );
    server.kubectl_ok(&["scale", "deployment", "web", "--replicas=2"]);
    let two = wait_pods(&server, 2, "python:3.11-slim");
    assert!(names(&two).is_subset(&names(&five)), "scaling down only removes pods");
    wait_for("READY 2/2", Duration::from_secs(30), || {
        (ready_column(&server) == "2/2").then_some(())
    });

    // A rolling update to the second tag, followed by `rollout status`, with
    // availability watched: 2 replicas and maxUnavailable 25 % (rounded down
    // to 0) must keep both serving throughout.
    let watch = AvailabilityWatch::start(&server, 2);
    watch.wait_listed();
    server.kubectl_ok(&["set", "image", "deployment/web", &format!("web={PYTHON_SECOND_TAG}")]);
    server.kubectl_ok(&[
        "annotate",
        "deployment",
        "web",
        &format!("kubernetes.io/change-cause=image updated to {PYTHON_SECOND_TAG}"),
    ]);
    let status = rollout_status(&server, "120s");
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.status.success(),
        "rollout status failed: {text}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(text.contains("deployment \"web\" successfully rolled out"), "{text}");
    assert!(text.contains("Waiting for deployment"), "followed the rollout: {text}");
    wait_pods(&server, 2, PYTHON_SECOND_TAG);
    let min = watch.min_ready().expect("the watch saw pods");
    assert!(min >= 2, "only {min} pods were serving at one point of the rollout");
    drop(watch);

    // History: both revisions, the second with its change cause.
    let history = server.kubectl_ok(&["rollout", "history", "deployment/web"]);
    let rows: Vec<Vec<&str>> = history
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert_eq!(rows[0], ["1", "<none>"], "{history}");
    assert_eq!(rows[1][0], "2", "{history}");
    assert_eq!(
        rows[1][1..].join(" "),
        format!("image updated to {PYTHON_SECOND_TAG}"),
        "{history}"
    );

    // A tag that does not exist: the new pod cannot pull, the rollout stalls
    // and the old pods keep serving; `rollout undo` goes back.
    server.kubectl_ok(&["set", "image", "deployment/web", &format!("web={MISSING}")]);
    let stuck = wait_for("the new pod fails to pull", Duration::from_secs(60), || {
        pods(&server).into_iter().find(|p| {
            image(p) == MISSING
                && p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                    .as_str()
                    .is_some_and(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
        })
    });
    assert!(!is_ready(&stuck));
    let stalled = rollout_status(&server, "5s");
    assert!(!stalled.status.success(), "the rollout does not complete");
    let serving: Vec<Value> = pods(&server)
        .into_iter()
        .filter(|p| image(p) == PYTHON_SECOND_TAG && is_ready(p))
        .collect();
    assert_eq!(serving.len(), 2, "the old pods keep serving");
    assert_eq!(ready_column(&server), "2/2");
    server.kubectl_ok(&["rollout", "undo", "deployment/web"]);
    let undone = rollout_status(&server, "120s");
    assert!(undone.status.success(), "{}", String::from_utf8_lossy(&undone.stderr));
    let back = wait_pods(&server, 2, PYTHON_SECOND_TAG);
    assert_eq!(names(&back), names(&serving), "the good pods were never replaced");
    let d = json(&server.kubectl_ok(&["get", "deployment", "web", "-o", "json"]));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        PYTHON_SECOND_TAG
    );

    // `rollout restart` replaces every pod.
    server.kubectl_ok(&["rollout", "restart", "deployment/web"]);
    let restarted = rollout_status(&server, "120s");
    assert!(
        restarted.status.success(),
        "{}",
        String::from_utf8_lossy(&restarted.stderr)
    );
    let fresh = wait_pods(&server, 2, PYTHON_SECOND_TAG);
    assert!(names(&fresh).is_disjoint(&names(&back)), "every pod was replaced");

    // Deleting the Deployment removes its ReplicaSets and pods.
    assert!(!server
        .kubectl_ok(&["get", "rs", "-l", "app=web", "-o", "name"])
        .trim()
        .is_empty());
    server.kubectl_ok(&["delete", "deployment", "web"]);
    wait_for("ReplicaSets and pods gone", Duration::from_secs(60), || {
        let left = server.kubectl_ok(&["get", "rs,pods", "-l", "app=web", "-o", "name"]);
        left.trim().is_empty().then_some(())
    });
}
