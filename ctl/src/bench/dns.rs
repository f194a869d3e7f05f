//! `k1s bench dns`: cluster DNS load from inside a pod's network namespace —
//! A queries for Service names at a fixed rate (open loop) to the `kube-dns`
//! ClusterIP (through the service proxy's rules) or, when that does not
//! answer, to the DNS server on the pod gateway; answer latency percentiles,
//! losses, and the server's CPU.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use http::Method;
use serde_json::{json, Value};
use tokio::net::UdpSocket;

use super::pods::{is_ready, k1s, node_args, wait_node_ready, IMAGE};
use super::{ms, percentile, Conn, ServerProcess};

/// This bench's pod range and bridge (not `bench pods`'s, so both can run at once).
const POD_CIDR: &str = "10.42.252.0/24";
const BRIDGE: &str = "k1sbdns";
/// The pod gateway, where the DNS server listens.
const GATEWAY: &str = "10.42.252.1";
/// UDP sockets the load is spread over (as many pods' resolvers would).
const SOCKETS: usize = 8;

/// The server's CPU time (user + system), from /proc.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based, whole line).
    let ticks: u64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Ok(Duration::from_millis(ticks * 1000 / hz.max(1)))
}

fn query(name: &str, id: u16) -> Result<Vec<u8>> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name)?, RecordType::A));
    Ok(m.to_vec()?)
}

/// One query and its answer's rcode, or `None` on a timeout.
async fn ask_once(socket: &UdpSocket, server: SocketAddr, name: &str, id: u16) -> Result<Option<u8>> {
    socket.send_to(&query(name, id)?, server).await?;
    let mut buf = [0u8; 1500];
    match tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) if n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id => Ok(Some(buf[3] & 0x0f)),
        Ok(Ok(_)) | Err(_) => Ok(None),
        Ok(Err(e)) => Err(e.into()),
    }
}

/// What one load run measured.
struct Run {
    sent: usize,
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

/// Sends `rate` queries/s for `duration` over `sockets`, cycling over `names`.
async fn load(
    sockets: Vec<Arc<UdpSocket>>,
    server: SocketAddr,
    names: &[String],
    rate: usize,
    duration: Duration,
) -> Result<Run> {
    let per_tick = (rate / 1000).max(1);
    let mut pending: Vec<Arc<Mutex<HashMap<u16, Instant>>>> = Vec::new();
    let mut receivers = Vec::new();
    for s in &sockets {
        let inflight: Arc<Mutex<HashMap<u16, Instant>>> = Arc::default();
        pending.push(inflight.clone());
        let s = s.clone();
        receivers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut buf = [0u8; 1500];
            while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf)).await {
                if n < 12 {
                    continue;
                }
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                let sent = inflight.lock().map(|mut m| m.remove(&id)).unwrap_or(None);
                if let Some(t) = sent {
                    latencies.push(t.elapsed());
                    if buf[3] & 0x0f != 0 {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0usize;
    let total = rate * duration.as_secs() as usize;
    let mut ids = vec![0u16; sockets.len()];
    while sent < total {
        tick.tick().await;
        for _ in 0..per_tick.min(total - sent) {
            let k = sent % sockets.len();
            ids[k] = ids[k].wrapping_add(1);
            let id = ids[k];
            let bytes = query(&names[sent % names.len()], id)?;
            if let Ok(mut m) = pending[k].lock() {
                m.insert(id, Instant::now());
            }
            sockets[k].send_to(&bytes, server).await?;
            sent += 1;
        }
    }
    let elapsed = started.elapsed();
    let mut latencies = Vec::with_capacity(sent);
    let mut errors = 0;
    for r in receivers {
        let (l, e) = r.await?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    Ok(Run {
        sent,
        latencies,
        errors,
        elapsed,
    })
}

/// Runs the DNS benchmark: `services` Services, `rate` queries/s for `seconds`.
pub async fn dns_bench(archive: PathBuf, services: usize, rate: usize, seconds: u64) -> Result<()> {
    let temp = tempfile::Builder::new().prefix("k1s-bench-dns-").tempdir()?;
    // Outside names are not queried; the upstream is a loopback address nothing answers on.
    let resolv = temp.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.251.53\n")?;
    let mut extra = node_args(temp.path());
    for (flag, value) in [("--pod-cidr", POD_CIDR), ("--cni-bridge", BRIDGE)] {
        if let Some(i) = extra.iter().position(|a| a == flag) {
            extra[i + 1] = value.to_string();
        }
    }
    extra.extend(["--resolv-conf".into(), resolv.display().to_string()]);
    extra.extend(["--proxy-chain-prefix".into(), "K1SB".into()]);
    let server = ServerProcess::spawn_with(temp.path(), &extra)?;
    let data_dir = temp.path().join("data");
    let result = async {
        super::wait_ready(server.port, Instant::now()).await?;
        let mut conn = Conn::open(server.port, server.tls()?).await?;
        wait_node_ready(&mut conn).await?;
        k1s(&["image", "import"], &data_dir, &[archive.display().to_string()])?;
        for i in 0..services {
            let svc = json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("svc-{i}")},
                "spec": {"ports": [{"name": "http", "port": 80}]}});
            let (code, body) = conn.send(Method::POST, "/api/v1/namespaces/default/services", Some(&svc)).await?;
            if code != 201 {
                bail!("create svc-{i}: {code} {}", String::from_utf8_lossy(&body));
            }
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dns-client"},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}]}});
        conn.send(Method::POST, "/api/v1/namespaces/default/pods", Some(&pod)).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let uid = loop {
            let (_, body) = conn.send(Method::GET, "/api/v1/namespaces/default/pods/dns-client", None).await?;
            let p: Value = serde_json::from_slice(&body)?;
            if is_ready(&p) {
                break p["metadata"]["uid"].as_str().unwrap_or("").to_string();
            }
            if Instant::now() > deadline {
                bail!("the client pod is not Ready after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let netns = data_dir.join("run").join("netns").join(&uid);
        let deadline = Instant::now() + Duration::from_secs(30);
        let cluster_dns: IpAddr = loop {
            let (_, body) = conn.send(Method::GET, "/api/v1/namespaces/kube-system/services/kube-dns", None).await?;
            let ip = serde_json::from_slice::<Value>(&body)?["spec"]["clusterIP"].as_str().map(str::parse);
            if let Some(Ok(ip)) = ip {
                break ip;
            }
            if Instant::now() > deadline {
                bail!("no kube-dns Service after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };

        let mut sockets = Vec::new();
        for _ in 0..SOCKETS {
            let s = k1s_agent::netns::bind_udp(&netns, "0.0.0.0:0".parse()?)?;
            s.set_nonblocking(true)?;
            sockets.push(Arc::new(UdpSocket::from_std(s)?));
        }
        let names: Vec<String> = (0..services).map(|i| format!("svc-{i}.default.svc.cluster.local.")).collect();
        let last = names.last().cloned().unwrap_or_default();
        // The path pods use: the kube-dns ClusterIP through the proxy; else the gateway itself.
        let mut target = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut id = 0u16;
        while target.is_none() && Instant::now() < deadline {
            for candidate in [SocketAddr::new(cluster_dns, 53), SocketAddr::new(GATEWAY.parse()?, 53)] {
                id = id.wrapping_add(1);
                if ask_once(&sockets[0], candidate, &last, id).await? == Some(0) {
                    target = Some(candidate);
                    break;
                }
            }
        }
        let Some(target) = target else {
            bail!("neither {cluster_dns} nor {GATEWAY} answers {last} from the pod");
        };
        let via = if target.ip() == cluster_dns {
            "the kube-dns ClusterIP (service proxy rules)"
        } else {
            "the pod gateway (no service proxy rules for the ClusterIP)"
        };
        // Warm-up, then the measured run.
        load(sockets.clone(), target, &names, rate.min(2000), Duration::from_secs(1)).await?;
        let cpu_before = cpu_time(server.pid())?;
        let run = load(sockets, target, &names, rate, Duration::from_secs(seconds)).await?;
        let cpu = cpu_time(server.pid())?.saturating_sub(cpu_before);
        let answered = run.latencies.len();
        println!(
            "cluster DNS from a pod's network namespace to {target} via {via}: {services} Services, A queries for their names"
        );
        println!(
            "  offered {rate}/s for {seconds} s: sent {}, answered {answered} ({} lost, {} errors), {:.0} answers/s",
            run.sent,
            run.sent - answered,
            run.errors,
            answered as f64 / run.elapsed.as_secs_f64()
        );
        println!(
            "  latency p50 {}  p90 {}  p99 {}  max {}",
            ms(percentile(&run.latencies, 0.5)),
            ms(percentile(&run.latencies, 0.9)),
            ms(percentile(&run.latencies, 0.99)),
            ms(run.latencies.last().copied().unwrap_or_default())
        );
        println!(
            "  server CPU during the run: {} ({:.0} % of one core)",
            ms(cpu),
            cpu.as_secs_f64() * 100.0 / run.elapsed.as_secs_f64()
        );
        Ok(())
    }
    .await;
    let _ = server.stop();
    let cleanup = k1s(&["server", "--cleanup"], &data_dir, &extra);
    result.and(cleanup.map(|_| ()))
}
