//! `k1s bench proxy`: the iptables Service proxy. (1) A Service with 50
//! endpoints: time from an EndpointSlice change (PATCH sent) to the new endpoint
//! in the kernel's rules (polled with `iptables -S`). (2) A full sync of 500
//! Services (generation + `iptables-restore`), in-process. (3) Throughput of a
//! bulk HTTP download from a pod through its ClusterIP against the pod IP directly.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http::Method;
use k1s_agent::proxy::{iptables, model, names::Chains, rules, sync::Proxier};
use serde_json::{json, Value};

use super::pods::{k1s, node_args, wait_node_ready, wait_pod_ready};
use super::{ms, percentile, Conn, ServerProcess};

const PREFIX: &str = "K1SBNCH";
const SERVICE_CIDR: &str = "10.43.252.0/22";

fn slice(endpoints: &[Ipv4Addr]) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "fifty-1", "labels": {"kubernetes.io/service-name": "fifty"}},
        "addressType": "IPv4",
        "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints.iter().map(|ip| json!({"addresses": [ip.to_string()], "conditions": {"ready": true}})).collect::<Vec<_>>(),
    })
}

fn fake_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 42, 252 + (i / 250) as u8, (i % 250) as u8 + 2)
}

/// Runs the proxy benchmark; `archive` is a `docker save` of busybox:1.36.
pub async fn proxy_bench(changes: usize, archive: PathBuf) -> Result<()> {
    full_sync(500)?;
    let temp = tempfile::Builder::new().prefix("k1s-bench-proxy-").tempdir()?;
    let mut extra = node_args(temp.path());
    extra.extend(["--service-cidr", SERVICE_CIDR, "--proxy-chain-prefix", PREFIX].map(String::from));
    let server = ServerProcess::spawn_with(temp.path(), &extra)?;
    let data_dir = temp.path().join("data");
    let result = async {
        super::wait_ready(server.port, Instant::now()).await?;
        let mut conn = Conn::open(server.port, server.tls()?).await?;
        wait_node_ready(&mut conn).await?;
        endpoint_changes(&mut conn, changes).await?;
        k1s(&["image", "import"], &data_dir, &[archive.display().to_string()])?;
        throughput(&mut conn).await
    }
    .await;
    server.stop()?;
    k1s(&["server", "--cleanup"], &data_dir, &extra)?;
    result
}

/// (2) A full sync of `n` Services with 2 endpoints each, through the real back end.
fn full_sync(n: usize) -> Result<()> {
    let rt = tokio::runtime::Handle::current();
    let services: Vec<Value> = (0..n)
        .map(|i| json!({"metadata": {"namespace": "bench", "name": format!("svc-{i}")},
            "spec": {"clusterIP": format!("10.43.{}.{}", 252 + i / 250, i % 250 + 2), "ports": [{"name": "http", "port": 80}]}}))
        .collect();
    let slices: Vec<Value> = (0..n)
        .map(|i| json!({"metadata": {"namespace": "bench", "name": format!("svc-{i}-x"), "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [fake_ip(2 * i).to_string()]}, {"addresses": [fake_ip(2 * i + 1).to_string()]}]}))
        .collect();
    let ctx = rules::RuleContext {
        chains: Chains::new(PREFIX),
        cluster_cidr: "10.42.252.0/22".into(),
        pod_cidr: "10.42.252.0/24".into(),
        bridge: "k1sbench".into(),
    };
    tokio::task::block_in_place(|| {
        rt.block_on(async {
            let ipt = iptables::Iptables::detect().await;
            let mut proxier = Proxier::new(ipt, ctx.clone());
            let mut gen = Vec::new();
            let mut syncs = Vec::new();
            for _ in 0..5 {
                let started = Instant::now();
                let ports = model::build(services.iter(), slices.iter(), "bench-node");
                let rules = rules::generate(&ctx, &ports);
                gen.push(started.elapsed());
                drop(rules);
                let started = Instant::now();
                proxier.sync(&ports, true).await?;
                syncs.push(started.elapsed());
            }
            let lines = rules::generate(&ctx, &model::build(services.iter(), slices.iter(), "n")).nat.len();
            proxier.cleanup().await?;
            gen.sort();
            syncs.sort();
            println!(
                "full sync, {n} Services × 2 endpoints ({lines} nat rules, {:?} back end): model+generate p50 {}, build+restore (full, chains re-read) p50 {} max {}",
                ipt.backend,
                ms(percentile(&gen, 0.5)),
                ms(percentile(&syncs, 0.5)),
                ms(percentile(&syncs, 1.0))
            );
            anyhow::Ok(())
        })
    })
}

/// (1) Endpoint change → rules applied for a Service with 50 endpoints.
async fn endpoint_changes(conn: &mut Conn, changes: usize) -> Result<()> {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fifty"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
    let (code, body) = conn
        .send(Method::POST, "/api/v1/namespaces/default/services", Some(&svc))
        .await?;
    if code != 201 {
        bail!("create service: {code} {}", String::from_utf8_lossy(&body));
    }
    let mut eps: Vec<Ipv4Addr> = (0..50).map(fake_ip).collect();
    let (code, body) = conn
        .send(
            Method::POST,
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
            Some(&slice(&eps)),
        )
        .await?;
    if code != 201 {
        bail!("create slice: {code} {}", String::from_utf8_lossy(&body));
    }
    let chain = Chains::new(PREFIX).svc("default/fifty", "tcp");
    wait_rule(&chain, &format!("{}:8080", eps[49]), Duration::from_secs(30))?;
    let mut lat = Vec::new();
    for i in 0..changes {
        let fresh = fake_ip(100 + i);
        eps[i % 50] = fresh;
        let patch = json!({"endpoints": slice(&eps)["endpoints"]});
        let started = Instant::now();
        let (code, body) = conn
            .send_with(
                Method::PATCH,
                "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/fifty-1",
                Some(&patch),
                &[("content-type", "application/merge-patch+json")],
            )
            .await?;
        if code != 200 {
            bail!("patch slice: {code} {}", String::from_utf8_lossy(&body));
        }
        wait_rule(&chain, &format!("{fresh}:8080"), Duration::from_secs(10))?;
        lat.push(started.elapsed());
    }
    lat.sort();
    println!(
        "endpoint change → rules applied (50 endpoints, {changes} changes, polled with iptables -S): p50 {} p99 {} max {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0))
    );
    Ok(())
}

/// Polls the chain until a rule names `endpoint`.
fn wait_rule(chain: &str, endpoint: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    let needle = format!("-> {endpoint}");
    loop {
        let out = Command::new("iptables").args(["-t", "nat", "-S", chain]).output()?;
        if String::from_utf8_lossy(&out.stdout).contains(&needle) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{endpoint} not in {chain} after {limit:?}");
        }
    }
}

/// (3) Bulk download from a busybox httpd pod: ClusterIP against the pod IP, alternating.
async fn throughput(conn: &mut Conn) -> Result<()> {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bulk", "labels": {"app": "bulk"}},
        "spec": {"nodeName": super::pods::NODE, "terminationGracePeriodSeconds": 0, "containers": [{"name": "c", "image": super::pods::IMAGE,
            "command": ["sh", "-c", "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count=256 2>/dev/null && exec httpd -f -p 8080 -h /www"],
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}});
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bulk"},
        "spec": {"selector": {"app": "bulk"}, "ports": [{"port": 80, "targetPort": 8080}]}});
    for (path, obj) in [
        ("/api/v1/namespaces/default/pods", &pod),
        ("/api/v1/namespaces/default/services", &svc),
    ] {
        let (code, body) = conn.send(Method::POST, path, Some(obj)).await?;
        if code != 201 {
            bail!("create {path}: {code} {}", String::from_utf8_lossy(&body));
        }
    }
    wait_pod_ready(conn, "bulk", Duration::from_secs(120)).await?;
    let (_, body) = conn
        .send(Method::GET, "/api/v1/namespaces/default/pods/bulk", None)
        .await?;
    let pod_ip = serde_json::from_slice::<Value>(&body)?["status"]["podIP"]
        .as_str()
        .context("no pod IP")?
        .to_string();
    let (_, body) = conn
        .send(Method::GET, "/api/v1/namespaces/default/services/bulk", None)
        .await?;
    let cluster_ip = serde_json::from_slice::<Value>(&body)?["spec"]["clusterIP"]
        .as_str()
        .context("no cluster IP")?
        .to_string();
    let chain = Chains::new(PREFIX).svc("default/bulk", "tcp");
    wait_rule(&chain, &format!("{pod_ip}:8080"), Duration::from_secs(30))?;
    let (mut direct, mut via) = (Vec::new(), Vec::new());
    for _ in 0..TRANSFERS {
        direct.push(download(&format!("http://{pod_ip}:8080/big"))?);
        via.push(download(&format!("http://{cluster_ip}/big"))?);
    }
    direct.sort_by(f64::total_cmp);
    via.sort_by(f64::total_cmp);
    let mib = |b: f64| b / 1048576.0;
    let (d, v) = (direct[TRANSFERS / 2], via[TRANSFERS / 2]);
    let (d_best, v_best) = (direct[TRANSFERS - 1], via[TRANSFERS - 1]);
    println!(
        "throughput, 256 MiB over HTTP from the host, {TRANSFERS} alternating transfers each: \
         median pod IP {:.0} MiB/s, ClusterIP {:.0} MiB/s ({:+.1} %); \
         best pod IP {:.0} MiB/s, ClusterIP {:.0} MiB/s ({:+.1} %)",
        mib(d),
        mib(v),
        (v - d) / d * 100.0,
        mib(d_best),
        mib(v_best),
        (v_best - d_best) / d_best * 100.0
    );
    Ok(())
}

/// Transfers per path: each is ~0.1 s, so a few outliers from other work on
/// the machine move the median little; the best of each path shows what the
/// path itself allows.
const TRANSFERS: usize = 15;

/// Bytes per second of one `curl` download.
fn download(url: &str) -> Result<f64> {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{speed_download}", url])
        .output()?;
    if !out.status.success() {
        bail!("curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .context("curl speed")
}
