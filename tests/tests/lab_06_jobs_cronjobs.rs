//! Lab L06 — Jobs and CronJobs, in one server with every scenario started at
//! once: completions with parallelism (watched: never more than 2 pods at
//! once), Indexed, a back-off limit, a deadline, a TTL, restarts in place,
//! and CronJobs on `*/1 * * * *` with Allow (history limit), Forbid, Replace,
//! suspend, and `kubectl create job --from=cronjob/…`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k1s_e2e::{wait_for, Server};
use serde_json::Value;

const JOBS: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: parallel}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: busybox:1.36
        command: ["sh", "-c", "echo done by $HOSTNAME; sleep 2"]
---
apiVersion: batch/v1
kind: Job
metadata: {name: indexed}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: busybox:1.36
        command: ["sh", "-c", "echo index=$JOB_COMPLETION_INDEX host=$(hostname)"]
---
apiVersion: batch/v1
kind: Job
metadata: {name: fails}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: busybox:1.36
        command: ["sh", "-c", "echo failing; exit 1"]
---
apiVersion: batch/v1
kind: Job
metadata: {name: deadline}
spec:
  activeDeadlineSeconds: 5
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: busybox:1.36
        command: ["sleep", "300"]
---
apiVersion: batch/v1
kind: Job
metadata: {name: short-lived}
spec:
  ttlSecondsAfterFinished: 3
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: busybox:1.36
        command: ["sh", "-c", "echo bye"]
---
apiVersion: batch/v1
kind: Job
metadata: {name: retry-in-place}
spec:
  template:
    spec:
      restartPolicy: OnFailure
      terminationGracePeriodSeconds: 1
      containers:
      - name: work
        image: busybox:1.36
        command: ["sh", "-c", "if [ -f /data/ran ]; then echo second run; exit 0; fi; touch /data/ran; echo first run; exit 1"]
        volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, emptyDir: {}}]
"#;

/// A CronJob on every minute running `command`.
fn cronjob(name: &str, policy: &str, extra: &str, command: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {{name: {name}}}
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: {policy}
{extra}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          terminationGracePeriodSeconds: 1
          containers:
          - name: tick
            image: busybox:1.36
            command: ["sh", "-c", "{command}"]
"#
    )
}

fn json(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&server.kubectl_ok(&all)).unwrap_or(Value::Null)
}

fn items(server: &Server, args: &[&str]) -> Vec<Value> {
    json(server, args)["items"].as_array().cloned().unwrap_or_default()
}

/// The Jobs a CronJob controls.
fn jobs_of(server: &Server, cronjob: &str) -> Vec<Value> {
    items(server, &["get", "jobs"])
        .into_iter()
        .filter(|j| {
            j["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["kind"] == "CronJob" && r["name"] == cronjob))
        })
        .collect()
}

/// Events about an object with this reason.
fn events(server: &Server, name: &str, reason: &str) -> Vec<Value> {
    items(
        server,
        &[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={name}"),
        ],
    )
    .into_iter()
    .filter(|e| e["reason"] == reason)
    .collect()
}

fn condition(job: &Value, type_: &str) -> Option<Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Watches the pods of a Job with `kubectl get pods -w` and records the
/// most that were active (not finished, not being deleted) at once.
struct PodWatch {
    child: Child,
    max_active: Arc<Mutex<usize>>,
    seen: Arc<Mutex<HashMap<String, bool>>>,
}

impl PodWatch {
    fn start(server: &Server, job: &str) -> PodWatch {
        let mut child = Command::new("kubectl")
            .args([
                "get",
                "pods",
                "-w",
                "-l",
                &format!("batch.kubernetes.io/job-name={job}"),
                "-o",
                "jsonpath={.metadata.name} {.status.phase} {.metadata.deletionTimestamp}{\"\\n\"}",
            ])
            .env("KUBECONFIG", &server.kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl get pods -w");
        let stdout = child.stdout.take().expect("stdout");
        let max_active = Arc::new(Mutex::new(0));
        let seen: Arc<Mutex<HashMap<String, bool>>> = Arc::default();
        let (max, state) = (max_active.clone(), seen.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let Some(name) = fields.first() else { continue };
                let phase = fields.get(1).copied().unwrap_or("");
                let deleting = fields.len() > 2;
                let active = !matches!(phase, "Succeeded" | "Failed") && !deleting;
                let mut s = state.lock().unwrap();
                s.insert(name.to_string(), active);
                let now = s.values().filter(|a| **a).count();
                let mut m = max.lock().unwrap();
                *m = (*m).max(now);
            }
        });
        PodWatch {
            child,
            max_active,
            seen,
        }
    }

    fn max_active(&self) -> usize {
        *self.max_active.lock().unwrap()
    }

    fn pods_seen(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn lab_06_jobs_and_cronjobs() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");

    let watch = PodWatch::start(&server, "parallel");
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(JOBS));
    let cronjobs = [
        cronjob(
            "every-minute",
            "Allow",
            "  successfulJobsHistoryLimit: 1",
            "echo tick at $(date)",
        ),
        cronjob("forbid", "Forbid", "", "sleep 600"),
        cronjob("replace", "Replace", "", "sleep 600"),
        cronjob("pausable", "Allow", "", "echo tick"),
    ]
    .join("---\n");
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&cronjobs));

    // CronJobs: each creates its first Job for the first minute after it was made.
    let first_minute = |cj: &str| {
        let created = json(&server, &["get", "cronjob", cj])["metadata"]["creationTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .expect("creationTimestamp");
        (created.as_second() / 60 + 1) * 60
    };
    for cj in ["pausable", "every-minute", "forbid", "replace"] {
        let job = wait_for(&format!("the first Job of {cj}"), Duration::from_secs(70), || {
            jobs_of(&server, cj)
                .into_iter()
                .min_by_key(|j| j["metadata"]["name"].as_str().map(String::from))
        });
        let name = job["metadata"]["name"].as_str().unwrap().to_string();
        assert_eq!(
            name,
            format!("{cj}-{}", first_minute(cj) / 60),
            "named by the scheduled minute"
        );
        let scheduled = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        assert_eq!(scheduled.map(|t| t.as_second()), Some(first_minute(cj)));
        if cj == "pausable" {
            // Suspended right after its first run: no Job for the next activation.
            server.kubectl_ok(&["patch", "cronjob", "pausable", "-p", r#"{"spec":{"suspend":true}}"#]);
        }
    }
    let suspended_after = first_minute("pausable");

    // completions 5 / parallelism 2: Complete with 5 succeeded pods, never more than 2 at once.
    server.kubectl_ok(&["wait", "--for=condition=complete", "job/parallel", "--timeout=180s"]);
    let parallel = json(&server, &["get", "job", "parallel"]);
    assert_eq!(parallel["status"]["succeeded"], 5, "{parallel}");
    let pods = items(&server, &["get", "pods", "-l", "batch.kubernetes.io/job-name=parallel"]);
    assert_eq!(pods.len(), 5);
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Succeeded"));
    assert!(
        pods.iter().all(|p| p["spec"]["nodeName"] == "e2e-node"),
        "placed by the scheduler"
    );
    assert!(watch.pods_seen() >= 5, "the watch saw the pods");
    assert!(
        watch.max_active() <= 2,
        "{} pods were active at once",
        watch.max_active()
    );
    assert_eq!(watch.max_active(), 2, "parallelism was used");
    let logs = server.kubectl_ok(&["logs", "job/parallel"]);
    assert!(logs.contains("done by parallel-"), "kubectl logs job/parallel: {logs}");
    let describe = server.kubectl_ok(&["describe", "job", "parallel"]);
    for want in ["SuccessfulCreate", "Completed", "5 Succeeded"] {
        assert!(describe.contains(want), "describe lacks {want}:\n{describe}");
    }

    // Indexed: each index once, with its own JOB_COMPLETION_INDEX and hostname.
    server.kubectl_ok(&["wait", "--for=condition=complete", "job/indexed", "--timeout=120s"]);
    let indexed = json(&server, &["get", "job", "indexed"]);
    assert_eq!(indexed["status"]["completedIndexes"], "0-2");
    let mut lines: Vec<String> = items(&server, &["get", "pods", "-l", "batch.kubernetes.io/job-name=indexed"])
        .iter()
        .map(|p| {
            server
                .kubectl_ok(&["logs", p["metadata"]["name"].as_str().unwrap()])
                .trim()
                .to_string()
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "index=0 host=indexed-0",
            "index=1 host=indexed-1",
            "index=2 host=indexed-2"
        ]
    );

    // restartPolicy OnFailure: the container restarts in place, in the same pod.
    server.kubectl_ok(&[
        "wait",
        "--for=condition=complete",
        "job/retry-in-place",
        "--timeout=120s",
    ]);
    let retried = items(
        &server,
        &["get", "pods", "-l", "batch.kubernetes.io/job-name=retry-in-place"],
    );
    assert_eq!(retried.len(), 1, "one pod");
    assert!(retried[0]["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(1));
    assert!(server
        .kubectl_ok(&["logs", "job/retry-in-place"])
        .contains("second run"));

    // activeDeadlineSeconds: DeadlineExceeded.
    server.kubectl_ok(&["wait", "--for=condition=failed", "job/deadline", "--timeout=120s"]);
    let deadline = json(&server, &["get", "job", "deadline"]);
    assert_eq!(condition(&deadline, "Failed").unwrap()["reason"], "DeadlineExceeded");
    assert!(!events(&server, "deadline", "DeadlineExceeded").is_empty());

    // ttlSecondsAfterFinished: the finished Job and its pod are deleted.
    wait_for("the Job past its TTL to be deleted", Duration::from_secs(90), || {
        let out = server.kubectl(&["get", "job", "short-lived"]);
        (!out.status.success()).then_some(())
    });
    wait_for("its pod to be deleted", Duration::from_secs(60), || {
        items(
            &server,
            &["get", "pods", "-l", "batch.kubernetes.io/job-name=short-lived"],
        )
        .is_empty()
        .then_some(())
    });

    // backoffLimit 2: Failed with BackoffLimitExceeded after 3 pods (10 s, then 20 s back-off).
    server.kubectl_ok(&["wait", "--for=condition=failed", "job/fails", "--timeout=180s"]);
    let fails = json(&server, &["get", "job", "fails"]);
    let failed = condition(&fails, "Failed").expect("Failed");
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(failed["message"], "Job has reached the specified backoff limit");
    assert_eq!(fails["status"]["failed"], 3);
    let fail_pods = items(&server, &["get", "pods", "-l", "batch.kubernetes.io/job-name=fails"]);
    assert_eq!(fail_pods.len(), 3);
    assert!(fail_pods.iter().all(|p| p["status"]["phase"] == "Failed"));
    let warning = events(&server, "fails", "BackoffLimitExceeded");
    assert_eq!(warning.first().map(|e| e["type"].clone()), Some("Warning".into()));

    // `kubectl create job --from=cronjob/…` runs one now.
    server.kubectl_ok(&["create", "job", "manual", "--from=cronjob/pausable"]);
    server.kubectl_ok(&["wait", "--for=condition=complete", "job/manual", "--timeout=120s"]);
    let manual = json(&server, &["get", "job", "manual"]);
    assert_eq!(
        manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    assert!(server.kubectl_ok(&["logs", "job/manual"]).contains("tick"));

    // Allow with successfulJobsHistoryLimit 1: the second run prunes the first.
    wait_for("the history limit to prune a Job", Duration::from_secs(150), || {
        let done: Vec<Value> = jobs_of(&server, "every-minute")
            .into_iter()
            .filter(|j| j["metadata"]["name"] != "manual")
            .collect();
        let deleted = events(&server, "every-minute", "SuccessfulDelete");
        (!deleted.is_empty() && done.len() == 1).then_some(())
    });
    let cj = json(&server, &["get", "cronjob", "every-minute"]);
    assert!(cj["status"]["lastSuccessfulTime"].is_string() || cj["status"]["lastScheduleTime"].is_string());

    // Forbid: the second activation is skipped while the first Job runs.
    wait_for("Forbid to skip a run", Duration::from_secs(150), || {
        (!events(&server, "forbid", "JobAlreadyActive").is_empty()).then_some(())
    });
    assert_eq!(jobs_of(&server, "forbid").len(), 1);

    // Replace: the second activation replaces the running Job.
    let first_replace = format!("replace-{}", first_minute("replace") / 60);
    wait_for("Replace to replace the running Job", Duration::from_secs(150), || {
        let jobs = jobs_of(&server, "replace");
        let names: Vec<&str> = jobs.iter().filter_map(|j| j["metadata"]["name"].as_str()).collect();
        (!names.contains(&first_replace.as_str()) && !names.is_empty()).then_some(())
    });
    let replace = json(&server, &["get", "cronjob", "replace"]);
    assert_eq!(replace["status"]["active"].as_array().map(Vec::len), Some(1));

    // The suspended CronJob made nothing after its first run.
    wait_for("the next activation to pass", Duration::from_secs(150), || {
        (jiff::Timestamp::now().as_second() > suspended_after + 70).then_some(())
    });
    let pausable: Vec<Value> = jobs_of(&server, "pausable")
        .into_iter()
        .filter(|j| j["metadata"]["name"] != "manual")
        .collect();
    assert_eq!(pausable.len(), 1, "suspended");
    let describe = server.kubectl_ok(&["describe", "cronjob", "replace"]);
    for want in ["SuccessfulCreate", "SuccessfulDelete"] {
        assert!(describe.contains(want), "describe cronjob lacks {want}:\n{describe}");
    }
}
