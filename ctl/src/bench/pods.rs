//! `k1s bench pods`: pod start latency (create → Ready) next to the floor of
//! `ctr run` of the same image on the same containerd, 100 pods at once, and
//! the server's RSS with the pods running.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http::Method;
use serde_json::{json, Value};

use super::{ms, percentile, rss_kib, Conn, ServerProcess};

/// The image the pods run (imported from `archive`).
pub(super) const IMAGE: &str = "busybox:1.36";
pub(super) const NODE: &str = "bench-node";

fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "pods"}},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}],
        },
    })
}

pub(super) fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// The flags that give the bench server its node (own ports, bridge and range).
pub(super) fn node_args(dir: &Path) -> Vec<String> {
    let kubelet = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(10250);
    vec![
        "--node-name".into(),
        NODE.into(),
        "--kubelet-port".into(),
        kubelet.to_string(),
        "--pod-log-dir".into(),
        dir.join("pod-logs").display().to_string(),
        "--pod-cidr".into(),
        "10.42.251.0/24".into(),
        "--cni-bridge".into(),
        "k1sbench".into(),
    ]
}

pub(super) fn k1s(args: &[&str], data_dir: &Path, extra: &[String]) -> Result<String> {
    let out = Command::new(std::env::current_exe()?)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .output()
        .with_context(|| format!("running k1s {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "k1s {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ctr run -d` of the image, `runs` times: the runtime's own start latency.
fn ctr_floor(socket: &Path, runs: usize) -> Result<Vec<Duration>> {
    let image = "docker.io/library/busybox:1.36";
    let ctr = |args: &[&str]| {
        Command::new("ctr")
            .arg("--address")
            .arg(socket)
            .args(["--namespace", "k8s.io"])
            .args(args)
            .output()
    };
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let id = format!("bench-floor-{i}");
        let started = Instant::now();
        let out = ctr(&["run", "-d", "--snapshotter", "overlayfs", image, &id, "sleep", "3600"])?;
        let took = started.elapsed();
        if !out.status.success() {
            bail!("ctr run failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        times.push(took);
        let _ = ctr(&["task", "kill", "-s", "SIGKILL", &id]);
        for _ in 0..50 {
            if ctr(&["task", "delete", &id])
                .map(|o| o.status.success())
                .unwrap_or(false)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = ctr(&["container", "delete", &id]);
    }
    Ok(times)
}

pub(super) async fn wait_node_ready(conn: &mut Conn) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = conn.send(Method::GET, &format!("/api/v1/nodes/{NODE}"), None).await?;
        if code == 200 {
            let node: Value = serde_json::from_slice(&body)?;
            if is_ready(&node) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("the node did not become Ready in 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(super) async fn wait_pod_ready(conn: &mut Conn, name: &str, deadline: Duration) -> Result<()> {
    let until = Instant::now() + deadline;
    loop {
        let (code, body) = conn
            .send(Method::GET, &format!("/api/v1/namespaces/default/pods/{name}"), None)
            .await?;
        if code == 200 && is_ready(&serde_json::from_slice(&body)?) {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("pod {name} not Ready after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn delete_all(conn: &mut Conn) -> Result<()> {
    conn.send(
        Method::DELETE,
        "/api/v1/namespaces/default/pods?labelSelector=bench%3Dpods&gracePeriodSeconds=0",
        None,
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, body) = conn
            .send(
                Method::GET,
                "/api/v1/namespaces/default/pods?labelSelector=bench%3Dpods",
                None,
            )
            .await?;
        let list: Value = serde_json::from_slice(&body)?;
        if list["items"].as_array().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("pods still present 120 s after delete");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sum of the RSS of the container log writers (`k1s container-logger`), KiB.
fn loggers_rss_kib() -> (usize, u64) {
    let mut count = 0;
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.windows(16).any(|w| w == b"container-logger") {
                count += 1;
                total += rss_kib(pid).unwrap_or(0);
            }
        }
    }
    (count, total)
}

/// Runs the pod benchmark with `pods` pods, importing `archive` first.
pub async fn pods(pods: usize, archive: PathBuf) -> Result<()> {
    let temp = tempfile::Builder::new().prefix("k1s-bench-pods-").tempdir()?;
    let extra = node_args(temp.path());
    let server = ServerProcess::spawn_with(temp.path(), &extra)?;
    let data_dir = temp.path().join("data");
    let result = async {
        super::wait_ready(server.port, Instant::now()).await?;
        let mut conn = Conn::open(server.port, server.tls()?).await?;
        wait_node_ready(&mut conn).await?;
        k1s(&["image", "import"], &data_dir, &[archive.display().to_string()])?;
        let idle_rss = rss_kib(server.pid())?;

        // Sequential: create → Ready, one pod at a time.
        let mut latencies = Vec::with_capacity(pods);
        for i in 0..pods {
            let name = format!("seq-{i}");
            let started = Instant::now();
            let (code, body) = conn
                .send(Method::POST, "/api/v1/namespaces/default/pods", Some(&pod(&name)))
                .await?;
            if code != 201 {
                bail!("create {name}: {code} {}", String::from_utf8_lossy(&body));
            }
            wait_pod_ready(&mut conn, &name, Duration::from_secs(60)).await?;
            latencies.push(started.elapsed());
        }
        latencies.sort();
        let running_rss = rss_kib(server.pid())?;
        let (loggers, loggers_rss) = loggers_rss_kib();
        delete_all(&mut conn).await?;

        let socket = data_dir.join("containerd").join("containerd.sock");
        let mut floor = ctr_floor(&socket, pods.min(50))?;
        floor.sort();

        // Burst: all pods at once, until every one is Running and Ready.
        let started = Instant::now();
        for i in 0..pods {
            let (code, body) = conn
                .send(
                    Method::POST,
                    "/api/v1/namespaces/default/pods",
                    Some(&pod(&format!("burst-{i}"))),
                )
                .await?;
            if code != 201 {
                bail!("create burst-{i}: {code} {}", String::from_utf8_lossy(&body));
            }
        }
        let created = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(180);
        let all_ready = loop {
            let (_, body) = conn
                .send(
                    Method::GET,
                    "/api/v1/namespaces/default/pods?labelSelector=bench%3Dpods",
                    None,
                )
                .await?;
            let list: Value = serde_json::from_slice(&body)?;
            let ready = list["items"]
                .as_array()
                .map(|i| i.iter().filter(|p| is_ready(p)).count())
                .unwrap_or(0);
            if ready >= pods {
                break started.elapsed();
            }
            if Instant::now() > deadline {
                bail!("only {ready}/{pods} pods Ready after 180 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let burst_rss = rss_kib(server.pid())?;
        delete_all(&mut conn).await?;

        println!("pod start latency, create → Ready, {pods} pods one at a time (image present, no probes):");
        println!(
            "  p50 {}  p90 {}  p99 {}  max {}",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.9)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies.last().copied().unwrap_or_default())
        );
        println!(
            "floor, `ctr run -d` of the same image on the same containerd, {} runs:",
            floor.len()
        );
        println!(
            "  p50 {}  p99 {}  (k1s p50 / floor p50 = {:.2})",
            ms(percentile(&floor, 0.5)),
            ms(percentile(&floor, 0.99)),
            percentile(&latencies, 0.5).as_secs_f64() / percentile(&floor, 0.5).as_secs_f64().max(1e-9)
        );
        println!(
            "{pods} pods created at once: all created in {}, all Ready in {}",
            ms(created),
            ms(all_ready)
        );
        println!(
            "server RSS: idle {} MiB, {pods} pods running {} MiB (+{} MiB), after the burst {} MiB",
            idle_rss / 1024,
            running_rss / 1024,
            running_rss.saturating_sub(idle_rss) / 1024,
            burst_rss / 1024
        );
        println!(
            "container log writers (outside the server, one per container): {loggers} processes, {} MiB RSS in all",
            loggers_rss / 1024
        );
        Ok(())
    }
    .await;
    let _ = server.stop();
    let cleanup = k1s(&["server", "--cleanup"], &data_dir, &extra);
    result.and(cleanup.map(|_| ()))
}
