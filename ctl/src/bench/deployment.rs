//! `k1s bench deployment`: the workload controllers at work.
//!
//! 1. A Deployment scaled from 0 to 100 replicas: time until every pod is
//!    Running and Ready, and the CPU time the control plane spent meanwhile
//!    (the `k1s server` process: API, controllers, scheduler; the node agent
//!    runs as its own `k1s agent` process so that its work is counted apart).
//! 2. A rolling update of 50 replicas with `maxSurge: 25%`: time to complete,
//!    and every write the controllers sent to the API (from the server's
//!    request log), against the fewest writes such a rollout can take.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http::Method;
use serde_json::{json, Value};

use super::pods::{is_ready, k1s, node_args, wait_node_ready, IMAGE, NODE};
use super::{Conn, ServerProcess};

const NS: &str = "default";
/// Controllers' requests are made as `system:serviceaccount:kube-system:<name>`.
const CONTROLLER_USER: &str = "system:serviceaccount:kube-system:";
/// The scheduler's user.
const SCHEDULER_USER: &str = "system:kube-scheduler";

fn deployment(name: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"bench": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"bench": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}],
                },
            },
        },
    })
}

/// User plus system CPU time of a process so far (`/proc/<pid>/stat`).
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("odd /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("short /proc stat")?
            .parse()
            .context("bad /proc stat")
    };
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    // rest[0] is field 3 (state): utime is field 14 → index 11.
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_millis(total * 1000 / hz))
}

/// The `k1s agent` of the bench node, in its own process.
struct AgentProcess {
    child: Child,
}

impl AgentProcess {
    fn spawn(kubeconfig: &Path, data_dir: &Path, node: &[String]) -> Result<AgentProcess> {
        let child = Command::new(std::env::current_exe()?)
            .arg("agent")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--data-dir")
            .arg(data_dir)
            .args(node)
            .env("K1S_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting k1s agent")?;
        Ok(AgentProcess { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) -> Result<()> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One write a controller sent, as the server logged it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Write {
    controller: String,
    verb: &'static str,
    /// `pods`, `replicasets/status`, `pods/binding`, `events`, …
    resource: String,
    /// Answered with a 409 (a stale copy).
    conflict: bool,
}

/// The resource (and subresource) a request path names.
fn resource_of(path: &str) -> String {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // api/v1/namespaces/ns/plural[/name[/sub]] or apis/group/version/namespaces/ns/plural[/name[/sub]]
    let start = match parts.first() {
        Some(&"api") => 2,
        _ => 3,
    };
    let rest = &parts[start.min(parts.len())..];
    let rest = if rest.first() == Some(&"namespaces") && rest.len() > 2 {
        &rest[2..]
    } else {
        rest
    };
    match rest {
        [plural] | [plural, _] => plural.to_string(),
        [plural, _, sub, ..] => format!("{plural}/{sub}"),
        [] => String::new(),
    }
}

/// The controllers' writes in a server log line (`request method=… path=… user=… status=…`).
fn parse_write(line: &str) -> Option<Write> {
    if !line.contains(" request ") {
        return None;
    }
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
    };
    let verb = match field("method")? {
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => return None,
    };
    let user = field("user")?;
    let controller = match user.strip_prefix(CONTROLLER_USER) {
        Some(name) => name.to_string(),
        None if user == SCHEDULER_USER => "kube-scheduler".to_string(),
        None => return None,
    };
    Some(Write {
        controller,
        verb,
        resource: resource_of(field("path")?.split('?').next().unwrap_or("")),
        conflict: field("status") == Some("409"),
    })
}

/// The controllers' writes logged after byte `from` of the log.
fn writes_since(log: &Path, from: u64) -> Result<Vec<Write>> {
    let text = std::fs::read(log).with_context(|| format!("reading {}", log.display()))?;
    let from = (from as usize).min(text.len());
    Ok(String::from_utf8_lossy(&text[from..])
        .lines()
        .filter_map(parse_write)
        .collect())
}

fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// Waits until no controller has written for `quiet` (the rollout's last status writes).
async fn settle(log: &Path, from: u64, quiet: Duration) -> Result<Vec<Write>> {
    let mut last = writes_since(log, from)?.len();
    let mut since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = writes_since(log, from)?;
        if now.len() != last {
            last = now.len();
            since = Instant::now();
        } else if since.elapsed() >= quiet || Instant::now() > deadline {
            return Ok(now);
        }
    }
}

async fn get(conn: &mut Conn, path: &str) -> Result<Value> {
    let (code, body) = conn.send(Method::GET, path, None).await?;
    if code != 200 {
        bail!("GET {path}: {code} {}", String::from_utf8_lossy(&body));
    }
    Ok(serde_json::from_slice(&body)?)
}

fn deployment_path(name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{NS}/deployments/{name}")
}

/// Waits until the Deployment's rollout is complete with `replicas` (as
/// `kubectl rollout status` decides); returns how long it took.
async fn wait_complete(conn: &mut Conn, name: &str, replicas: i64, limit: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let d = get(conn, &deployment_path(name)).await?;
        let s = &d["status"];
        let n = |k: &str| s[k].as_i64().unwrap_or(0);
        if d["metadata"]["generation"].as_i64().unwrap_or(0) <= n("observedGeneration")
            && n("updatedReplicas") == replicas
            && n("replicas") == replicas
            && n("availableReplicas") == replicas
            && n("readyReplicas") == replicas
        {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            bail!("deployment {name} not complete after {limit:?}: {s}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks the pods themselves: `n` pods of `name`, all Running and Ready.
async fn check_pods(conn: &mut Conn, name: &str, n: usize) -> Result<()> {
    let list = get(
        conn,
        &format!("/api/v1/namespaces/{NS}/pods?labelSelector=bench%3D{name}"),
    )
    .await?;
    let pods = list["items"].as_array().cloned().unwrap_or_default();
    let ready = pods
        .iter()
        .filter(|p| p["status"]["phase"] == "Running" && is_ready(p) && p["metadata"]["deletionTimestamp"].is_null())
        .count();
    if ready != n {
        bail!("{ready} of {} pods of {name} Running and Ready, want {n}", pods.len());
    }
    Ok(())
}

async fn patch(conn: &mut Conn, name: &str, body: &Value) -> Result<()> {
    let (code, resp) = conn
        .send_as(
            Method::PATCH,
            &deployment_path(name),
            Some(body),
            "application/merge-patch+json",
            "application/json",
        )
        .await?;
    if code != 200 {
        bail!("PATCH {name}: {code} {}", String::from_utf8_lossy(&resp));
    }
    Ok(())
}

async fn create(conn: &mut Conn, d: &Value) -> Result<()> {
    let (code, body) = conn
        .send(
            Method::POST,
            &format!("/apis/apps/v1/namespaces/{NS}/deployments"),
            Some(d),
        )
        .await?;
    if code != 201 {
        bail!("create deployment: {code} {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// Prints the writes per controller and kind of write.
fn print_writes(writes: &[Write]) {
    let mut tally: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for w in writes {
        let e = tally
            .entry((w.controller.clone(), format!("{} {}", w.verb, w.resource)))
            .or_default();
        e.0 += 1;
        if w.conflict {
            e.1 += 1;
        }
    }
    for ((controller, what), (n, conflicts)) in &tally {
        let c = if *conflicts > 0 {
            format!(" ({conflicts} answered 409)")
        } else {
            String::new()
        };
        println!("    {controller:<24} {what:<28} {n}{c}");
    }
}

/// The fewest writes of a rolling update of `replicas` pods with maxSurge and
/// maxUnavailable 25 %, were every pod available the moment it is created:
/// (object writes: each pod created and deleted once and each ReplicaSet
/// step written once, the create being the first; status writes: each step
/// reported once in the ReplicaSet's status and the Deployment's status
/// written when the rollout starts and when it completes). The scheduler's
/// bindings and the events are counted apart.
fn minimum_writes(replicas: u32) -> (u32, u32) {
    let d: k8s_openapi::api::apps::v1::Deployment =
        serde_json::from_value(deployment("min", replicas)).unwrap_or_default();
    let steps = k1s_apiserver::controllers::deployment::ideal_rollout_steps(&d);
    (2 * replicas + steps, steps + 2)
}

/// Whether a write reports status (rather than changing what should run).
fn is_status(w: &Write) -> bool {
    w.resource.ends_with("/status")
}

/// Runs the benchmark, importing the busybox `archive` first.
pub async fn deployment_bench(archive: PathBuf) -> Result<()> {
    let temp = tempfile::Builder::new().prefix("k1s-bench-deploy-").tempdir()?;
    let node = node_args(temp.path());
    let log = temp.path().join("server.log");
    let log_file = std::fs::File::create(&log)?;
    let server = ServerProcess::spawn_logging(
        temp.path(),
        &[
            "--disable-agent".to_string(),
            "--node-name".to_string(),
            NODE.to_string(),
        ],
        "warn,k1s_apiserver::api=debug",
        Stdio::from(log_file),
    )?;
    let agent_dir = temp.path().join("agent");
    let mut agent: Option<AgentProcess> = None;
    let result = async {
        super::wait_ready(server.port, Instant::now()).await?;
        let mut conn = Conn::open(server.port, server.tls()?).await?;
        agent = Some(AgentProcess::spawn(&temp.path().join("k1s.yaml"), &agent_dir, &node)?);
        wait_node_ready(&mut conn).await?;
        k1s(&["image", "import"], &agent_dir, &[archive.display().to_string()])?;
        let agent_pid = agent.as_ref().map(AgentProcess::pid).unwrap_or(0);

        // 1. Scale 0 → 100.
        create(&mut conn, &deployment("scale", 0)).await?;
        wait_complete(&mut conn, "scale", 0, Duration::from_secs(30)).await?;
        let (server_cpu0, agent_cpu0, mark) = (cpu_time(server.pid())?, cpu_time(agent_pid)?, log_len(&log));
        let started = Instant::now();
        patch(&mut conn, "scale", &json!({"spec": {"replicas": 100}})).await?;
        wait_complete(&mut conn, "scale", 100, Duration::from_secs(300)).await?;
        let all_ready = started.elapsed();
        let (server_cpu, agent_cpu) = (cpu_time(server.pid())? - server_cpu0, cpu_time(agent_pid)? - agent_cpu0);
        check_pods(&mut conn, "scale", 100).await?;
        let scale_writes = settle(&log, mark, Duration::from_secs(2)).await?;
        println!("Deployment scaled from 0 to 100 replicas ({IMAGE}, image present):");
        println!("  all 100 pods Running and Ready after {:.2} s", all_ready.as_secs_f64());
        println!(
            "  control-plane CPU (k1s server: API, controllers, scheduler): {:.2} s over the {:.2} s ({:.0} % of one core)",
            server_cpu.as_secs_f64(),
            all_ready.as_secs_f64(),
            100.0 * server_cpu.as_secs_f64() / all_ready.as_secs_f64()
        );
        println!(
            "  node agent CPU (k1s agent, its own process; containerd and shims not counted): {:.2} s",
            agent_cpu.as_secs_f64()
        );
        println!("  controller writes: {}", scale_writes.len());
        print_writes(&scale_writes);
        patch(&mut conn, "scale", &json!({"spec": {"replicas": 0}})).await?;
        wait_complete(&mut conn, "scale", 0, Duration::from_secs(300)).await?;

        // 2. A rolling update of 50 replicas.
        create(&mut conn, &deployment("roll", 50)).await?;
        wait_complete(&mut conn, "roll", 50, Duration::from_secs(300)).await?;
        settle(&log, log_len(&log), Duration::from_secs(2)).await?;
        let mark = log_len(&log);
        let server_cpu0 = cpu_time(server.pid())?;
        let started = Instant::now();
        patch(
            &mut conn,
            "roll",
            &json!({"spec": {"template": {"metadata": {"annotations": {"bench/revision": "2"}}}}}),
        )
        .await?;
        wait_complete(&mut conn, "roll", 50, Duration::from_secs(300)).await?;
        let took = started.elapsed();
        let server_cpu = cpu_time(server.pid())? - server_cpu0;
        check_pods(&mut conn, "roll", 50).await?;
        let writes = settle(&log, mark, Duration::from_secs(2)).await?;
        let (min_objects, min_status) = minimum_writes(50);
        let counted: Vec<&Write> = writes
            .iter()
            .filter(|w| w.resource != "events" && w.resource != "pods/binding")
            .collect();
        let bindings = writes.iter().filter(|w| w.resource == "pods/binding").count();
        let events = writes.iter().filter(|w| w.resource == "events").count();
        println!("rolling update of 50 replicas (maxSurge 25 %, maxUnavailable 25 %):");
        println!(
            "  complete after {:.2} s; control-plane CPU {:.2} s",
            took.as_secs_f64(),
            server_cpu.as_secs_f64()
        );
        println!("  controller writes: {} in all", writes.len());
        print_writes(&writes);
        let conflicts = counted.iter().filter(|w| w.conflict).count();
        let objects = counted.iter().filter(|w| !is_status(w)).count();
        let status = counted.len() - objects;
        println!(
            "  without the scheduler's bindings ({bindings}) and events ({events}): {} writes, {conflicts} of them \
             refused as stale (409)",
            counted.len()
        );
        let ratio = |a: usize, b: u32| a as f64 / f64::from(b);
        println!(
            "  the fewest possible, were every pod available the moment it is created: {} \
             = {min_objects} object writes (pod creates and deletes, ReplicaSet create and scales) \
             + {min_status} status writes",
            min_objects + min_status
        );
        println!(
            "  measured: {objects} object writes ({:.2}×), {status} status writes ({:.2}×), {} in all ({:.2}×)",
            ratio(objects, min_objects),
            ratio(status, min_status),
            counted.len(),
            ratio(counted.len(), min_objects + min_status)
        );
        patch(&mut conn, "roll", &json!({"spec": {"replicas": 0}})).await?;
        wait_complete(&mut conn, "roll", 0, Duration::from_secs(300)).await?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if let Some(a) = agent.take() {
        let _ = a.stop();
    }
    let _ = server.stop();
    let cleanup = k1s(&["server", "--cleanup"], &agent_dir, &node);
    result.and(cleanup.map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_log_lines_become_writes() {
        let line = "2026-12-06T07:30:00.123Z DEBUG request method=PUT \
                    path=/apis/apps/v1/namespaces/default/replicasets/web-5d4f/status \
                    user=system:serviceaccount:kube-system:replicaset-controller status=409";
        assert_eq!(
            parse_write(line),
            Some(Write {
                controller: "replicaset-controller".into(),
                verb: "update",
                resource: "replicasets/status".into(),
                conflict: true,
            })
        );
        let create = "x DEBUG request method=POST path=/api/v1/namespaces/default/pods user=system:serviceaccount:kube-system:replicaset-controller status=201";
        assert_eq!(parse_write(create).unwrap().resource, "pods");
        let bind = "x DEBUG request method=POST path=/api/v1/namespaces/default/pods/p/binding user=system:kube-scheduler status=201";
        let w = parse_write(bind).unwrap();
        assert_eq!(
            (w.controller.as_str(), w.resource.as_str()),
            ("kube-scheduler", "pods/binding")
        );
        let read = "x DEBUG request method=GET path=/api/v1/pods user=system:serviceaccount:kube-system:x status=200";
        assert_eq!(parse_write(read), None);
        let kubelet =
            "x DEBUG request method=PUT path=/api/v1/namespaces/default/pods/p/status user=system:node:n status=200";
        assert_eq!(parse_write(kubelet), None);
        assert_eq!(resource_of("/apis/apps/v1/namespaces/d/deployments"), "deployments");
        assert_eq!(resource_of("/api/v1/nodes/n/status"), "nodes/status");
    }

    #[test]
    fn the_fewest_writes_of_a_rollout_of_50() {
        // maxSurge 13, maxUnavailable 12: new 13 (create), old 25, new 38, old 0, new 50.
        assert_eq!(minimum_writes(50), (105, 7));
    }
}
