//! `k1s bench …`: the measurements recorded in BENCHMARKS.md. Each starts its
//! own `k1s server` on a temporary data dir and a free loopback port, drives
//! it over HTTPS and prints the numbers; nothing here asserts a timing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Subcommand;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use k1s_apiserver::tls;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

mod deployment;
mod dns;
mod pods;
mod proxy;

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum Bench {
    /// Start to /readyz, and idle RSS.
    Startup {
        /// How many starts to time.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Concurrent creates, gets and watch latency over HTTPS, with raw sled as the floor.
    Api {
        /// Concurrent clients for creates and gets.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Seconds each phase runs.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Watchers for the watch-latency phase.
        #[arg(long, default_value_t = 100)]
        watchers: usize,
    },
    /// `list pods` as plain JSON against the same list as a Table (what kubectl asks for).
    Tables {
        /// Pods to create (each with a running status, as a node reports it).
        #[arg(long, default_value_t = 1000)]
        pods: usize,
        /// List requests per representation, interleaved.
        #[arg(long, default_value_t = 200)]
        iterations: usize,
    },
    /// The OpenAPI documents: first (building) request, then cached serving latency.
    Openapi {
        /// Requests per document for the cached-serving latency.
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
    /// Pod start latency (create → Ready) against `ctr run`, 100 pods at once, RSS with pods running.
    Pods {
        /// Pods to start.
        #[arg(long, default_value_t = 100)]
        pods: usize,
        /// A `docker save` archive of busybox:1.36 to import (the e2e tests build one
        /// under /var/tmp/k1s-test-images/).
        #[arg(long)]
        image_archive: PathBuf,
    },
    /// A Deployment scaled 0 → 100 (time to Ready, control-plane CPU) and a
    /// rolling update of 50 (time, the controllers' API writes).
    Deployment {
        /// A `docker save` archive of busybox:1.36 to import (the e2e tests build one
        /// under /var/tmp/k1s-test-images/).
        #[arg(long)]
        image_archive: PathBuf,
    },
    /// Cluster DNS from a pod's network namespace: A queries at a fixed rate,
    /// latency percentiles and losses.
    Dns {
        /// A `docker save` archive of busybox:1.36 to import (the e2e tests build one
        /// under /var/tmp/k1s-test-images/).
        #[arg(long)]
        image_archive: PathBuf,
        /// Services whose names are queried.
        #[arg(long, default_value_t = 100)]
        services: usize,
        /// Queries per second offered.
        #[arg(long, default_value_t = 10_000)]
        rate: usize,
        /// Seconds the load runs.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The iptables Service proxy: endpoint change → rules applied (50 endpoints),
    /// a full sync of 500 Services, throughput through a ClusterIP against the pod IP.
    Proxy {
        /// Endpoint changes to time.
        #[arg(long, default_value_t = 100)]
        changes: usize,
        /// A `docker save` archive of busybox:1.36 to import (the e2e tests build one
        /// under /var/tmp/k1s-test-images/).
        #[arg(long)]
        image_archive: PathBuf,
    },
    /// Store growth and disk writes with one Lease renewed every 10 s.
    Churn {
        /// Minutes to run.
        #[arg(long, default_value_t = 60)]
        minutes: u64,
        /// Seconds between renewals.
        #[arg(long, default_value_t = 10)]
        interval: u64,
    },
}

/// Runs one benchmark.
pub fn run(bench: Bench) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        match bench {
            Bench::Startup { runs } => startup(runs).await,
            Bench::Api {
                clients,
                seconds,
                watchers,
            } => api(clients, Duration::from_secs(seconds), watchers).await,
            Bench::Tables { pods, iterations } => tables(pods, iterations).await,
            Bench::Openapi { requests } => openapi(requests).await,
            Bench::Churn { minutes, interval } => churn(minutes, Duration::from_secs(interval)).await,
            Bench::Pods { pods, image_archive } => pods::pods(pods, image_archive).await,
            Bench::Deployment { image_archive } => deployment::deployment_bench(image_archive).await,
            Bench::Dns {
                image_archive,
                services,
                rate,
                seconds,
            } => dns::dns_bench(image_archive, services, rate, seconds).await,
            Bench::Proxy { changes, image_archive } => proxy::proxy_bench(changes, image_archive).await,
        }
    })
}

/// A `k1s server` child process on a temporary data dir.
struct ServerProcess {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl ServerProcess {
    fn spawn(dir: &Path) -> Result<ServerProcess> {
        // The API benchmarks measure the API alone (`bench pods` runs the node).
        ServerProcess::spawn_with(dir, &["--disable-agent".to_string()])
    }

    /// Spawns with extra flags.
    fn spawn_with(dir: &Path, extra: &[String]) -> Result<ServerProcess> {
        ServerProcess::spawn_logging(dir, extra, "warn", Stdio::inherit())
    }

    /// Spawns with extra flags, a `K1S_LOG` filter and where its log goes.
    fn spawn_logging(dir: &Path, extra: &[String], filter: &str, log: Stdio) -> Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(std::env::current_exe()?)
            .args([
                "server",
                "--bind-address",
                "127.0.0.1",
                "--https-port",
                &port.to_string(),
            ])
            .args(extra)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--write-kubeconfig")
            .arg(dir.join("k1s.yaml"))
            .env("K1S_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting k1s server")?;
        Ok(ServerProcess {
            child,
            dir: dir.to_path_buf(),
            port,
        })
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

    /// The TLS client settings (admin certificate) for this server.
    fn tls(&self) -> Result<Arc<rustls::ClientConfig>> {
        let pki = tls::load_or_create(&self.dir.join("data/tls"), &tls::SubjectNames::detect())?;
        let mut cfg = (*tls::client_config(&pki, true)).clone();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 connection over TLS.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(port: u16, tls: Arc<rustls::ClientConfig>) -> Result<Conn> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from("localhost")?;
        let stream = TlsConnector::from(tls).connect(name, tcp).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn { sender })
    }

    async fn send(&mut self, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, Bytes)> {
        self.send_as(method, path, body, "application/json", "application/json")
            .await
    }

    /// Sends with the given `Content-Type` and `Accept`.
    async fn send_as(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
        accept: &str,
    ) -> Result<(u16, Bytes)> {
        self.send_with(
            method,
            path,
            body,
            &[("content-type", content_type), ("accept", accept)],
        )
        .await
    }

    /// Sends with the given request headers.
    async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Bytes)> {
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let mut req = Request::builder().method(method).uri(path).header("host", "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(bytes))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// Waits until `/readyz` answers 200; returns how long that took since `since`.
async fn wait_ready(port: u16, since: Instant) -> Result<Duration> {
    // The CA may not be on disk yet: any certificate will do for polling.
    let mut cfg = k1s_apiserver::tls::insecure_client_config()?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let cfg = Arc::new(cfg);
    let deadline = since + Duration::from_secs(30);
    loop {
        if Instant::now() > deadline {
            bail!("server not ready after 30 s");
        }
        if let Ok(mut c) = Conn::open(port, cfg.clone()).await {
            if let Ok((200, _)) = c.send(Method::GET, "/readyz", None).await {
                return Ok(since.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

async fn startup(runs: usize) -> Result<()> {
    let mut first = Vec::new();
    let mut again = Vec::new();
    let mut rss = 0;
    for i in 0..runs {
        let dir = tempfile::tempdir()?;
        let t = Instant::now();
        let s = ServerProcess::spawn(dir.path())?;
        first.push(wait_ready(s.port, t).await?);
        s.stop()?;
        let t = Instant::now();
        let s = ServerProcess::spawn(dir.path())?;
        again.push(wait_ready(s.port, t).await?);
        if i == 0 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            rss = rss_kib(s.pid())?;
        }
        s.stop()?;
    }
    first.sort();
    again.sort();
    println!(
        "start to /readyz, fresh data dir:    median {} max {} ({} runs)",
        ms(percentile(&first, 0.5)),
        ms(percentile(&first, 1.0)),
        runs
    );
    println!(
        "start to /readyz, existing data dir: median {} max {} ({} runs)",
        ms(percentile(&again, 0.5)),
        ms(percentile(&again, 1.0)),
        runs
    );
    println!(
        "idle RSS after 5 s with the built-in objects: {:.1} MB",
        rss as f64 / 1024.0
    );
    Ok(())
}

async fn api(clients: usize, phase: Duration, watchers: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::spawn(dir.path())?;
    wait_ready(server.port, Instant::now()).await?;
    let tls = server.tls()?;
    let payload = "x".repeat(1024);

    // Creates.
    let stop = Instant::now() + phase;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let tls = tls.clone();
        let payload = payload.clone();
        let port = server.port;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(port, tls).await?;
            let mut lat = Vec::new();
            let mut i = 0;
            while Instant::now() < stop {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{c}-{i}")}, "data": {"payload": payload}});
                let t = Instant::now();
                let (code, body) = conn.send(Method::POST, "/api/v1/namespaces/default/configmaps", Some(&cm)).await?;
                if code != 201 {
                    bail!("create answered {code}: {}", String::from_utf8_lossy(&body));
                }
                lat.push(t.elapsed());
                i += 1;
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut creates = Vec::new();
    for t in tasks {
        creates.extend(t.await??);
    }
    creates.sort();
    let create_rate = creates.len() as f64 / phase.as_secs_f64();
    println!(
        "creates: {clients} clients, 1 KiB ConfigMaps, durable: {:.0}/s, p50 {} p99 {} ({} total)",
        create_rate,
        ms(percentile(&creates, 0.5)),
        ms(percentile(&creates, 0.99)),
        creates.len()
    );

    // Gets of existing objects.
    let made = creates.len();
    let stop = Instant::now() + phase;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let tls = tls.clone();
        let port = server.port;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(port, tls).await?;
            let mut lat = Vec::new();
            let mut i = 0usize;
            while Instant::now() < stop {
                let t = Instant::now();
                let (code, _) = conn
                    .send(
                        Method::GET,
                        &format!("/api/v1/namespaces/default/configmaps/c{c}-{}", i % 8),
                        None,
                    )
                    .await?;
                if code != 200 {
                    bail!("get answered {code}");
                }
                lat.push(t.elapsed());
                i += 1;
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut gets = Vec::new();
    for t in tasks {
        gets.extend(t.await??);
    }
    gets.sort();
    println!(
        "gets: {clients} clients: {:.0}/s, p50 {} p99 {} (over {made} objects)",
        gets.len() as f64 / phase.as_secs_f64(),
        ms(percentile(&gets, 0.5)),
        ms(percentile(&gets, 0.99))
    );

    watch_latency(&server, tls.clone(), watchers).await?;
    server.stop()?;

    // The floor: the same writes straight into sled, flushed per batch.
    let sled_rate = sled_floor(clients, phase, payload.len()).await?;
    println!(
        "raw sled, {clients} writers, 1 KiB values, flush per batch: {:.0}/s; API/sled = {:.2}",
        sled_rate,
        create_rate / sled_rate
    );
    Ok(())
}

/// Times `requests` sequential GETs of `path` on one connection; returns the sorted latencies.
async fn time_gets(
    conn: &mut Conn,
    path: &str,
    headers: &[(&str, &str)],
    requests: usize,
    want: u16,
) -> Result<Vec<Duration>> {
    let mut lat = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        let (code, _) = conn.send_with(Method::GET, path, None, headers).await?;
        if code != want {
            bail!("GET {path} answered {code}, expected {want}");
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    Ok(lat)
}

async fn openapi(requests: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::spawn(dir.path())?;
    wait_ready(server.port, Instant::now()).await?;
    let mut conn = Conn::open(server.port, server.tls()?).await?;
    let rss_before = rss_kib(server.pid())?;

    let t = Instant::now();
    let (code, index) = conn.send(Method::GET, "/openapi/v3", None).await?;
    if code != 200 {
        bail!("/openapi/v3 answered {code}");
    }
    println!("first GET /openapi/v3 (builds every v3 document): {}", ms(t.elapsed()));
    let index: Value = serde_json::from_slice(&index)?;
    for key in ["api/v1", "apis/apps/v1"] {
        let url = index["paths"][key]["serverRelativeURL"]
            .as_str()
            .context("index has no serverRelativeURL")?
            .to_string();
        let (_, body) = conn.send(Method::GET, &url, None).await?;
        let lat = time_gets(&mut conn, &url, &[], requests, 200).await?;
        println!(
            "cached GET /openapi/v3/{key} ({} KiB): p50 {} p99 {} ({requests} requests)",
            body.len() / 1024,
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99))
        );
        let hash = url
            .rsplit_once("hash=")
            .map(|(_, h)| format!("\"{h}\""))
            .unwrap_or_default();
        let lat = time_gets(&mut conn, &url, &[("if-none-match", &hash)], requests, 304).await?;
        println!(
            "  same with If-None-Match (304): p50 {} p99 {}",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99))
        );
    }
    let lat = time_gets(&mut conn, "/openapi/v3", &[], requests, 200).await?;
    println!(
        "cached GET /openapi/v3 (index): p50 {} p99 {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    println!(
        "server RSS: {:.1} MB before, {:.1} MB with the v3 documents cached",
        rss_before as f64 / 1024.0,
        rss_kib(server.pid())? as f64 / 1024.0
    );
    let t = Instant::now();
    let (_, v2) = conn.send(Method::GET, "/openapi/v2", None).await?;
    println!(
        "first GET /openapi/v2 (builds it, {} KiB): {}",
        v2.len() / 1024,
        ms(t.elapsed())
    );
    let lat = time_gets(&mut conn, "/openapi/v2", &[], requests, 200).await?;
    println!(
        "cached GET /openapi/v2: p50 {} p99 {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    println!(
        "server RSS: {:.1} MB with the v2 document cached too",
        rss_kib(server.pid())? as f64 / 1024.0
    );
    server.stop()?;
    Ok(())
}

async fn watch_latency(server: &ServerProcess, tls: Arc<rustls::ClientConfig>, watchers: usize) -> Result<()> {
    use futures::StreamExt;
    let mut conn = Conn::open(server.port, tls.clone()).await?;
    conn.send(
        Method::POST,
        "/api/v1/namespaces",
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "watch"}})),
    )
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
    for w in 0..watchers {
        let tls = tls.clone();
        let port = server.port;
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut c = Conn::open(port, tls).await?;
            let req = Request::builder()
                .uri("/api/v1/namespaces/watch/configmaps?watch=1&resourceVersion=1")
                .header("host", "localhost")
                .body(Full::new(Bytes::new()))?;
            c.sender.ready().await?;
            let resp = c.sender.send_request(req).await?;
            let mut body = resp.into_body().into_data_stream();
            let mut buf = Vec::new();
            while let Some(chunk) = body.next().await {
                buf.extend_from_slice(&chunk?);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let v: Value = serde_json::from_slice(&line)?;
                    if let Some(name) = v["object"]["metadata"]["name"].as_str() {
                        let _ = tx.send((w, name.to_string(), Instant::now()));
                    }
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    drop(tx);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = 100;
    let mut acked = std::collections::HashMap::new();
    for i in 0..events {
        let name = format!("e{i}");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        let (code, _) = conn
            .send(Method::POST, "/api/v1/namespaces/watch/configmaps", Some(&cm))
            .await?;
        if code != 201 {
            bail!("create answered {code}");
        }
        acked.insert(name, Instant::now());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lat = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lat.len() < events * watchers && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            Ok(Some((_, name, at))) => {
                if let Some(sent) = acked.get(&name) {
                    lat.push(at.saturating_duration_since(*sent));
                }
            }
            _ => continue,
        }
    }
    lat.sort();
    println!(
        "watch: {watchers} watchers, {events} events: {} of {} deliveries seen; after the write's ack p50 {} p99 {}",
        lat.len(),
        events * watchers,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    Ok(())
}

async fn sled_floor(writers: usize, phase: Duration, size: usize) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new().path(dir.path()).cache_capacity(8 << 20).open()?;
    let stop = Instant::now() + phase;
    // Blocking threads with `flush()`: `flush_async` from many tasks can exhaust sled's own pool.
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || -> Result<u64> {
                let value = vec![b'x'; size];
                let mut n = 0u64;
                while Instant::now() < stop {
                    db.insert(format!("/registry/core/configmaps/default/w{w}-{n}"), value.clone())?;
                    db.flush()?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.join().map_err(|_| anyhow::anyhow!("sled writer panicked"))??;
    }
    Ok(total as f64 / phase.as_secs_f64())
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(p) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn write_bytes(pid: u32) -> Result<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no write_bytes")
}

async fn churn(minutes: u64, interval: Duration) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::spawn(dir.path())?;
    wait_ready(server.port, Instant::now()).await?;
    let mut conn = Conn::open(server.port, server.tls()?).await?;
    let lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "bench-node"},
        "spec": {"holderIdentity": "bench-node", "leaseDurationSeconds": 40, "renewTime": k1s_proto::meta::now_micro()}});
    conn.send(Method::POST, lease_path, Some(&lease)).await?;
    let db = dir.path().join("data/db");
    let start_bytes = write_bytes(server.pid())?;
    let started = Instant::now();
    println!("minute  data-dir-bytes  written-bytes-in-minute");
    let mut last_bytes = start_bytes;
    let mut next_report = started + Duration::from_secs(60);
    let end = started + Duration::from_secs(minutes * 60);
    while Instant::now() < end {
        let patch = json!({"spec": {"renewTime": k1s_proto::meta::now_micro()}});
        let req = Request::builder()
            .method(Method::PATCH)
            .uri(format!("{lease_path}/bench-node"))
            .header("host", "localhost")
            .header("content-type", "application/merge-patch+json")
            .body(Full::new(Bytes::from(patch.to_string())))?;
        conn.sender.ready().await?;
        let _ = conn.sender.send_request(req).await?.into_body().collect().await?;
        tokio::time::sleep(interval).await;
        if Instant::now() >= next_report {
            let now_bytes = write_bytes(server.pid())?;
            println!(
                "{:>6}  {:>14}  {:>23}",
                started.elapsed().as_secs() / 60,
                dir_size(&db),
                now_bytes - last_bytes
            );
            last_bytes = now_bytes;
            next_report += Duration::from_secs(60);
        }
    }
    let total = write_bytes(server.pid())? - start_bytes;
    println!(
        "total written {} bytes in {} min = {:.1} KB/min; data dir {} bytes",
        total,
        minutes,
        total as f64 / 1024.0 / minutes as f64,
        dir_size(&db)
    );
    server.stop()?;
    Ok(())
}

/// What `kubectl get` sends in `Accept`.
const KUBECTL_TABLE_ACCEPT: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// A pod as a node reports it once running: two containers, one restarted.
fn bench_pod(i: usize) -> (Value, Value) {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i}"), "labels": {"app": "bench", "shard": (i % 10).to_string()}},
        "spec": {"nodeName": "bench-node", "containers": [
            {"name": "app", "image": "registry.example/app:1.0", "ports": [{"containerPort": 8080}],
             "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
            {"name": "sidecar", "image": "registry.example/proxy:2.3"}
        ]}
    });
    let running = |name: &str, restarts: i64| {
        json!({"name": name, "image": "registry.example/app:1.0", "imageID": "sha256:0123", "ready": true,
               "started": true, "restartCount": restarts, "containerID": "containerd://abc",
               "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
               "lastState": if restarts > 0 {
                   json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2025-12-31T23:59:00Z"}})
               } else { json!({}) }})
    };
    let ip = format!("10.42.{}.{}", i / 250, i % 250 + 2);
    let status = json!({"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "192.168.1.10",
        "startTime": "2026-01-01T00:00:00Z",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"},
                       {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [running("app", (i % 3) as i64), running("sidecar", 0)]
    }});
    (pod, status)
}

async fn tables(pods: usize, iterations: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::spawn(dir.path())?;
    wait_ready(server.port, Instant::now()).await?;
    let tls = server.tls()?;

    // Create the pods and give them a running status, 16 clients at a time.
    const WRITERS: usize = 16;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let tls = tls.clone();
        let port = server.port;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(port, tls).await?;
            for i in (w..pods).step_by(WRITERS) {
                let (pod, status) = bench_pod(i);
                let (code, body) = conn
                    .send(Method::POST, "/api/v1/namespaces/default/pods", Some(&pod))
                    .await?;
                if code != 201 {
                    bail!("create answered {code}: {}", String::from_utf8_lossy(&body));
                }
                let path = format!("/api/v1/namespaces/default/pods/pod-{i}/status");
                let (code, body) = conn
                    .send_as(
                        Method::PATCH,
                        &path,
                        Some(&status),
                        "application/merge-patch+json",
                        "application/json",
                    )
                    .await?;
                if code != 200 {
                    bail!("status patch answered {code}: {}", String::from_utf8_lossy(&body));
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }

    // Interleave the two representations so drift in the machine's load hits both alike.
    let mut conn = Conn::open(server.port, tls).await?;
    let path = "/api/v1/namespaces/default/pods";
    let mut plain = Vec::with_capacity(iterations);
    let mut table = Vec::with_capacity(iterations);
    let (mut plain_bytes, mut table_bytes) = (0, 0);
    for i in 0..iterations + 5 {
        let mut order = [
            ("application/json", &mut plain, &mut plain_bytes),
            (KUBECTL_TABLE_ACCEPT, &mut table, &mut table_bytes),
        ];
        // Alternate which goes first, so neither always follows the other.
        if i % 2 == 1 {
            order.reverse();
        }
        for (accept, lat, size) in order {
            let t = Instant::now();
            let (code, body) = conn
                .send_as(Method::GET, path, None, "application/json", accept)
                .await?;
            let took = t.elapsed();
            if code != 200 {
                bail!("list answered {code}");
            }
            // The first few rounds warm caches and connections.
            if i >= 5 {
                lat.push(took);
            }
            *size = body.len();
        }
    }
    let check: Value =
        serde_json::from_slice(&conn.send_as(Method::GET, path, None, "", KUBECTL_TABLE_ACCEPT).await?.1)?;
    let rows = check["rows"].as_array().map(Vec::len).unwrap_or(0);
    if check["kind"] != "Table" || rows != pods {
        bail!(
            "expected a Table of {pods} rows, got kind {} with {rows} rows",
            check["kind"]
        );
    }
    plain.sort();
    table.sort();
    let (p50, t50) = (percentile(&plain, 0.5), percentile(&table, 0.5));
    println!(
        "list {pods} pods as JSON:  median {} p99 {} ({} bytes, {iterations} lists)",
        ms(p50),
        ms(percentile(&plain, 0.99)),
        plain_bytes
    );
    println!(
        "list {pods} pods as Table: median {} p99 {} ({} bytes, {iterations} lists)",
        ms(t50),
        ms(percentile(&table, 0.99)),
        table_bytes
    );
    println!(
        "Table/JSON: median {:+.1} %, p99 {:+.1} %",
        (t50.as_secs_f64() / p50.as_secs_f64() - 1.0) * 100.0,
        (percentile(&table, 0.99).as_secs_f64() / percentile(&plain, 0.99).as_secs_f64() - 1.0) * 100.0
    );
    server.stop()
}
