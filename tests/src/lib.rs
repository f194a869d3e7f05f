//! Helpers for the end-to-end tests: start a real `k1s server` on a temporary
//! data dir and a free port, and drive it with the real `kubectl`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub mod images;
pub mod registry;

/// `k1s server --controllers` for tests that write workload statuses and
/// events by hand: the controllers that would rewrite them stay off.
pub const NO_WORKLOAD_CONTROLLERS: &str =
    "--controllers=*,-replicaset-controller,-deployment-controller,-statefulset-controller,-daemonset-controller,-job-controller,-cronjob-controller,-ttl-after-finished-controller,-disruption-controller";

/// The `k1s` binary: `$K1S_BIN`, or the one cargo built next to the test binary.
pub fn k1s_binary() -> PathBuf {
    if let Ok(p) = std::env::var("K1S_BIN") {
        return PathBuf::from(p);
    }
    // Test executables live in <target>/<profile>/deps/.
    let exe = std::env::current_exe().unwrap_or_default();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    profile_dir.join("k1s")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The network slot of a test server that runs pods: its own pod range
/// (`10.42.<n>.0/24`), bridge (`k1se<n>`), service range (`10.43.<n>.0/24`, cluster
/// DNS at `.10`) and iptables chain prefix (`K1S<n>`), held by a lock file so
/// parallel test processes never share one.
struct NodeSlot {
    n: u8,
    _lock: nix::fcntl::Flock<std::fs::File>,
    kubelet_port: u16,
    pod_log_dir: PathBuf,
    resolv_conf: PathBuf,
}

impl NodeSlot {
    fn take(dir: &Path) -> Result<NodeSlot> {
        let locks = std::env::temp_dir().join("k1s-e2e-net");
        std::fs::create_dir_all(&locks)?;
        for n in 100..=250u8 {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(locks.join(format!("{n}.lock")))?;
            if let Ok(lock) = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                // The cluster DNS forwards only to a loopback address of this slot
                // (a test may run its own upstream there), never to the host's resolvers.
                let resolv_conf = dir.join("resolv.conf");
                std::fs::write(&resolv_conf, format!("nameserver {}\n", upstream_dns_ip(n)))?;
                return Ok(NodeSlot {
                    resolv_conf,
                    n,
                    _lock: lock,
                    kubelet_port: free_port(),
                    pod_log_dir: dir.join("pod-logs"),
                });
            }
        }
        bail!("no free e2e network slot in {}", locks.display())
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--kubelet-port".into(),
            self.kubelet_port.to_string(),
            "--pod-log-dir".into(),
            self.pod_log_dir.display().to_string(),
            "--pod-cidr".into(),
            format!("10.42.{}.0/24", self.n),
            "--cni-bridge".into(),
            format!("k1se{}", self.n),
            "--resolv-conf".into(),
            self.resolv_conf.display().to_string(),
            "--service-cidr".into(),
            self.service_cidr(),
            "--proxy-chain-prefix".into(),
            format!("K1S{}", self.n),
        ]
    }

    fn service_cidr(&self) -> String {
        format!("10.43.{}.0/24", self.n)
    }
}

/// The upstream resolver address of slot `n`'s cluster DNS: `127.0.<n>.53`.
fn upstream_dns_ip(n: u8) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 0, n, 53)
}

/// The service range of servers without a node (k1s's default).
const DEFAULT_SERVICE_CIDR: &str = "10.43.0.0/16";

/// A running `k1s server` (killed on drop).
pub struct Server {
    child: Option<Child>,
    node: Option<NodeSlot>,
    /// The data dir (kept across restarts of the same `Server`).
    pub data_dir: PathBuf,
    /// The HTTPS port.
    pub port: u16,
    /// The admin kubeconfig the server wrote.
    pub kubeconfig: PathBuf,
    log: Arc<Mutex<String>>,
    /// Extra `k1s server` flags.
    extra_args: Vec<String>,
    _temp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server (API and controllers, no node agent) on a fresh
    /// temporary data dir and a free port.
    pub fn start() -> Result<Server> {
        Server::start_with(false, &[])
    }

    /// Starts a server with its node agent: its own containerd, kubelet port,
    /// pod log dir, pod range and bridge; everything is cleaned up on drop.
    pub fn start_node() -> Result<Server> {
        Server::start_with(true, &[])
    }

    /// Starts a server with its node agent (as [`Server::start_node`]) and extra
    /// `k1s server` flags (e.g. `--iptables-backend legacy`).
    pub fn start_node_with_args(args: &[&str]) -> Result<Server> {
        Server::start_with(true, args)
    }

    /// Starts a server without a node, with extra `k1s server` flags (e.g.
    /// `--controllers=*,-replicaset-controller` for objects no controller may touch).
    pub fn start_with_args(args: &[&str]) -> Result<Server> {
        Server::start_with(false, args)
    }

    fn start_with(node: bool, args: &[&str]) -> Result<Server> {
        let temp = tempfile::Builder::new().prefix("k1s-e2e-").tempdir()?;
        let data_dir = temp.path().join("data");
        let kubeconfig = temp.path().join("k1s.yaml");
        let node = if node { Some(NodeSlot::take(temp.path())?) } else { None };
        let mut s = Server {
            child: None,
            node,
            data_dir,
            port: free_port(),
            kubeconfig,
            log: Arc::new(Mutex::new(String::new())),
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            _temp: Some(temp),
        };
        s.launch()?;
        if s.node.is_some() {
            s.wait_node_ready(Duration::from_secs(60))?;
        }
        Ok(s)
    }

    /// Waits until the node reports Ready (containerd up, agent running).
    pub fn wait_node_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.kubectl(&[
                "get",
                "node",
                "e2e-node",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ]);
            if String::from_utf8_lossy(&out.stdout).trim() == "True" {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("node not Ready after {timeout:?}:\n{}", tail(&self.log(), 40));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Starts (again) on the same data dir and port.
    pub fn launch(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("server already running");
        }
        let mut child = Command::new(k1s_binary())
            .arg("server")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--bind-address")
            .arg("127.0.0.1")
            .arg("--https-port")
            .arg(self.port.to_string())
            .arg("--write-kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--node-name")
            .arg("e2e-node")
            .args(self.node_args())
            .args(&self.extra_args)
            .env("K1S_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", k1s_binary().display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let log = self.log.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("k1s server ready") {
                    let _ = ready_tx.send(());
                }
                if let Ok(mut l) = log.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ready_rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    bail!("k1s server exited with {status} before it was ready:\n{}", self.log());
                }
            }
            if Instant::now() > deadline {
                bail!("k1s server not ready after 30 s:\n{}", self.log());
            }
        }
    }

    /// The flags that give this server its node agent (or none).
    fn node_args(&self) -> Vec<String> {
        match &self.node {
            Some(slot) => slot.args(),
            None => vec!["--disable-agent".into()],
        }
    }

    /// Replaces the extra `k1s server` flags for the next [`Server::launch`] / [`Server::restart`].
    pub fn set_extra_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|a| a.to_string()).collect();
    }

    /// The network slot n of a server with a node (pod range `10.42.<n>.0/24`):
    /// derive per-test host ports from it so parallel servers do not clash.
    pub fn node_slot(&self) -> Option<u8> {
        self.node.as_ref().map(|n| n.n)
    }

    /// Stops the server (SIGTERM; pods keep running) and starts it again on the
    /// same data dir, waiting for its node to be Ready.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.launch()?;
        if self.node.is_some() {
            self.wait_node_ready(Duration::from_secs(60))?;
        }
        Ok(())
    }

    /// The loopback address (port 53) the cluster DNS of a server with a node
    /// forwards outside names to; nothing answers there unless the test runs a resolver.
    pub fn upstream_dns(&self) -> Option<std::net::Ipv4Addr> {
        self.node.as_ref().map(|n| upstream_dns_ip(n.n))
    }

    /// The pod gateway address of a server with a node, where its cluster DNS listens.
    pub fn pod_gateway(&self) -> Option<std::net::Ipv4Addr> {
        self.node.as_ref().map(|n| std::net::Ipv4Addr::new(10, 42, n.n, 1))
    }

    /// The service range this server's ClusterIPs come from (`10.43.<n>.0/24` with a node).
    pub fn service_cidr(&self) -> String {
        self.node
            .as_ref()
            .map(NodeSlot::service_cidr)
            .unwrap_or_else(|| DEFAULT_SERVICE_CIDR.to_string())
    }

    /// The `kubernetes` Service's ClusterIP (the first address of the service range).
    pub fn kubernetes_service_ip(&self) -> String {
        self.service_ip(1)
    }

    /// The cluster DNS address pods are given (the tenth address of the service range).
    pub fn cluster_dns_ip(&self) -> String {
        self.service_ip(10)
    }

    /// The address `offset` places into the service range (ranges here start at `.0`).
    fn service_ip(&self, offset: u8) -> String {
        let cidr = self.service_cidr();
        let net = cidr.split('/').next().unwrap_or_default();
        let head = net.rsplit_once('.').map(|(h, _)| h).unwrap_or_default();
        format!("{head}.{offset}")
    }

    /// The prefix of this server's iptables chains (`K1S<n>`; `None` without a node).
    pub fn chain_prefix(&self) -> Option<String> {
        self.node.as_ref().map(|n| format!("K1S{}", n.n))
    }

    /// The network slot n (100–250) of a server with a node.
    pub fn net_slot(&self) -> Option<u8> {
        self.node.as_ref().map(|n| n.n)
    }

    /// The node's pod range (`10.42.<n>.0/24`; `None` without a node).
    pub fn pod_cidr(&self) -> Option<String> {
        self.node.as_ref().map(|n| format!("10.42.{}.0/24", n.n))
    }

    /// The directory container logs are written to (servers with a node).
    pub fn pod_log_dir(&self) -> Option<&Path> {
        self.node.as_ref().map(|n| n.pod_log_dir.as_path())
    }

    /// Removes what the node agent left on the machine: containers and their
    /// shims, pod sandboxes, the bridge, containerd (`k1s server --cleanup`).
    pub fn cleanup_node(&self) -> Result<()> {
        if self.node.is_none() {
            return Ok(());
        }
        let out = Command::new(k1s_binary())
            .arg("server")
            .arg("--cleanup")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(self.node_args())
            .stdin(Stdio::null())
            .output()
            .context("running k1s server --cleanup")?;
        if !out.status.success() {
            bail!("k1s server --cleanup failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Imports the test images (busybox, python) into this server's containerd.
    pub fn import_test_images(&self) -> Result<String> {
        images::import_test_images(&self.data_dir)
    }

    /// The IDs of the containers this server's containerd holds (`ctr containers ls -q`).
    pub fn containerd_containers(&self) -> Result<Vec<String>> {
        let socket = self.data_dir.join("containerd").join("containerd.sock");
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&socket)
            .args(["--namespace", "k8s.io", "containers", "ls", "-q"])
            .output()
            .context("running ctr")?;
        if !out.status.success() {
            bail!("ctr containers ls failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// `kubectl get pod NAME` as (READY, STATUS, RESTARTS), once the pod exists.
    pub fn pod_columns(&self, namespace: &str, name: &str) -> Option<(String, String, String)> {
        let out = self.kubectl(&["get", "pod", name, "-n", namespace, "--no-headers"]);
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let cols: Vec<&str> = text.split_whitespace().collect();
        if cols.len() < 4 {
            return None;
        }
        Some((cols[1].to_string(), cols[2].to_string(), cols[3].to_string()))
    }

    /// Waits until `kubectl get pod` shows the pod with this READY and STATUS.
    pub fn wait_pod(&self, namespace: &str, name: &str, ready: &str, status: &str, timeout: Duration) {
        let mut last = None;
        let deadline = Instant::now() + timeout;
        loop {
            let cols = self.pod_columns(namespace, name);
            if let Some((r, s, _)) = &cols {
                if r == ready && s == status {
                    return;
                }
            }
            last = cols.or(last);
            if Instant::now() > deadline {
                panic!(
                    "pod {namespace}/{name} not {ready} {status} after {timeout:?} (last seen {last:?})\n{}\nserver log tail:\n{}",
                    String::from_utf8_lossy(&self.kubectl(&["describe", "pod", name, "-n", namespace]).stdout),
                    tail(&self.log(), 60)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(&mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("server not running")?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        Ok(child.wait()?)
    }

    /// Kills the server with SIGKILL (a crash).
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Runs kubectl with this server's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_stdin(args, None)
    }

    /// Runs kubectl with the given standard input.
    pub fn kubectl_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("cannot run kubectl: {e}"),
        };
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let _ = pipe.write_all(input.as_bytes());
        }
        match child.wait_with_output() {
            Ok(o) => o,
            Err(e) => panic!("kubectl failed to run: {e}"),
        }
    }

    /// Runs kubectl and returns its stdout, failing the test (with stderr and the server log) on error.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        self.kubectl_stdin_ok(args, None)
    }

    /// Like [`Server::kubectl_ok`], with standard input.
    pub fn kubectl_stdin_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_with_stdin(args, stdin);
        if !out.status.success() {
            panic!(
                "kubectl {} failed ({}):\nstdout: {}\nstderr: {}\nserver log tail:\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                tail(&self.log(), 40)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns its stderr.
    pub fn kubectl_err(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        if out.status.success() {
            panic!(
                "kubectl {} unexpectedly succeeded:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.kill();
        if let Err(e) = self.cleanup_node() {
            eprintln!("{e:#}");
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A reply to [`http_get`]: the status line and the body (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// `HTTP/1.0 200 OK` and the like.
    pub status_line: String,
    /// The body, whitespace trimmed.
    pub body: String,
}

impl HttpReply {
    /// Whether the status is 200.
    pub fn is_ok(&self) -> bool {
        self.status_line.starts_with("HTTP/1.0 200") || self.status_line.starts_with("HTTP/1.1 200")
    }
}

/// One HTTP/1.0 GET of `/` at `addr` (`ip:port`) from the host, with plain
/// `std::net` (no curl needed): the reply, or the kind of the connection
/// error (`ConnectionRefused` when a Service rejects), `InvalidData` for an
/// answer that is not HTTP.
pub fn http_get(addr: &str, connect: Duration, read: Duration) -> std::result::Result<HttpReply, std::io::ErrorKind> {
    use std::io::{ErrorKind, Read};
    let addr: std::net::SocketAddr = addr.parse().map_err(|_| ErrorKind::InvalidInput)?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, connect).map_err(|e| e.kind())?;
    s.set_read_timeout(Some(read)).map_err(|e| e.kind())?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .map_err(|e| e.kind())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.kind())?;
    let (head, body) = reply.split_once("\r\n\r\n").ok_or(ErrorKind::InvalidData)?;
    Ok(HttpReply {
        status_line: head.lines().next().unwrap_or("").to_string(),
        body: body.trim().to_string(),
    })
}

/// Polls `f` until it returns `Some`, or fails after `timeout` (an upper bound, not a benchmark).
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
