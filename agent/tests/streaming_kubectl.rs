//! The real kubectl against an in-process API server and the kubelet endpoint
//! with fake pods: `kubectl logs` (options, follow, previous, errors),
//! `kubectl exec` (exit codes, stdin), `kubectl attach` and
//! `kubectl port-forward` — all through the API server's proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k1s_agent::server::{KubeletServer, PodLookup};
use k1s_agent::streaming::portforward::PortDialer;
use k1s_agent::streaming::{AttachSession, ExecBackend, ExecRequest, ExecSession};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KUBECTL: &str = "/usr/bin/kubectl";

/// Pods `web` (running `app` = c1, previous instance c0) and `pending` (waiting).
struct FakePods {
    dir: PathBuf,
    running: Arc<AtomicBool>,
}

impl PodLookup for FakePods {
    fn pod(&self, namespace: &str, name: &str) -> BoxFuture<'_, Option<Pod>> {
        let pod = match (namespace, name) {
            ("default", "web") => Some(json!({
                "metadata": {"name": "web", "namespace": "default", "uid": "uid-web"},
                "status": {"containerStatuses": [{
                    "name": "app", "image": "busybox", "imageID": "", "ready": true, "restartCount": 1,
                    "containerID": "containerd://c1", "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 1, "containerID": "containerd://c0"}}
                }]}
            })),
            ("default", "pending") => Some(json!({
                "metadata": {"name": "pending", "namespace": "default", "uid": "uid-pending"},
                "status": {"containerStatuses": [{
                    "name": "app", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}}
                }]}
            })),
            _ => None,
        };
        Box::pin(async move { pod.map(|p| serde_json::from_value(p).unwrap()) })
    }

    fn log_path(&self, container_id: &str) -> BoxFuture<'_, Option<PathBuf>> {
        let path = self.dir.join(format!("{container_id}.log"));
        Box::pin(async move { Some(path) })
    }

    fn is_running(&self, container_id: &str) -> BoxFuture<'_, bool> {
        let running = container_id == "c1" && self.running.load(Ordering::SeqCst);
        Box::pin(async move { running })
    }

    fn netns(&self, _pod_uid: &str) -> BoxFuture<'_, Option<PathBuf>> {
        Box::pin(async { Some(PathBuf::from("/run/netns/fake")) })
    }
}

/// exec runs the command as a local process; attach gives no stdin.
struct LocalExec;

impl ExecBackend for LocalExec {
    fn exec(&self, container_id: &str, req: ExecRequest) -> BoxFuture<'_, anyhow::Result<ExecSession>> {
        assert_eq!(container_id, "c1");
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new(&req.command[0]);
            cmd.args(&req.command[1..])
                .stdin(if req.stdin { Stdio::piped() } else { Stdio::null() })
                .stdout(if req.stdout { Stdio::piped() } else { Stdio::null() })
                .stderr(if req.stderr { Stdio::piped() } else { Stdio::null() })
                .kill_on_drop(true);
            let mut child = cmd.spawn()?;
            let stdin = child.stdin.take().map(|s| Box::pin(s) as _);
            let stdout = child.stdout.take().map(|s| Box::pin(s) as _);
            let stderr = child.stderr.take().map(|s| Box::pin(s) as _);
            Ok(ExecSession {
                stdin,
                stdout,
                stderr,
                resize: None,
                exit: Box::pin(async move { Ok(child.wait().await?.code().unwrap_or(-1)) }),
            })
        })
    }

    fn attach(&self, _container_id: &str, _stdin: bool, _tty: bool) -> BoxFuture<'_, anyhow::Result<AttachSession>> {
        Box::pin(async {
            Ok(AttachSession {
                stdin: None,
                resize: None,
            })
        })
    }
}

/// Dials the test's echo server whatever the namespace; port 81 is closed.
struct EchoDialer(SocketAddr);

impl PortDialer for EchoDialer {
    fn dial(&self, _netns: &Path, port: u16) -> BoxFuture<'_, anyhow::Result<TcpStream>> {
        let addr = self.0;
        Box::pin(async move {
            if port != 80 {
                anyhow::bail!("dial tcp4 127.0.0.1:{port}: connect: connection refused");
            }
            Ok(TcpStream::connect(addr).await?)
        })
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

struct Cluster {
    kubeconfig: PathBuf,
    logs: PathBuf,
    running: Arc<AtomicBool>,
    closed_port: u16,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(KUBECTL)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn apply_json(&self, value: serde_json::Value) {
        let path = self.logs.join(format!("obj-{}.json", rand_suffix()));
        std::fs::write(&path, value.to_string()).unwrap();
        self.ok(&["create", "-f", path.to_str().unwrap()]);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

async fn start() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let kubeconfig = dir.path().join("kubeconfig");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    let opts = k1s_apiserver::server::ServerOptions {
        data_dir: data_dir.clone(),
        bind_address: "127.0.0.1".parse().unwrap(),
        https_port: free_port(),
        kubeconfig_path: kubeconfig.clone(),
        node_name: "node1".into(),
        start_node: None,
        controllers: Default::default(),
        service_cidr: k1s_apiserver::registry::allocator::default_service_cidr(),
        advertise_address: None,
    };
    tokio::spawn(async move {
        if let Err(e) = k1s_apiserver::server::run(opts, rx.clone()).await {
            panic!("server: {e:#}");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !kubeconfig.exists() {
        assert!(Instant::now() < deadline, "the API server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The kubelet endpoint with fake pods.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let running = Arc::new(AtomicBool::new(true));
    let lookup = Arc::new(FakePods {
        dir: logs.clone(),
        running: running.clone(),
    });
    let server = KubeletServer::with_dialer(lookup, Arc::new(LocalExec), Arc::new(EchoDialer(echo_addr)));
    let tls =
        k1s_apiserver::tls::kubelet_server_config(&data_dir.join("tls"), "node1", &["127.0.0.1".parse().unwrap()])
            .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let kubelet_port = listener.local_addr().unwrap().port();
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    std::mem::forget(_stop_tx);
    tokio::spawn(server.serve(listener, tls, stop_rx));

    let mut cluster = Cluster {
        kubeconfig,
        logs,
        running,
        closed_port: 0,
        _dir: dir,
    };
    cluster.apply_json(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}}));
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}}
    }});
    cluster.ok(&[
        "patch",
        "node",
        "node1",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
    // node2's kubelet is not listening.
    let closed_port = free_port();
    cluster.apply_json(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node2"}}));
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": closed_port}}
    }});
    cluster.ok(&[
        "patch",
        "node",
        "node2",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ]);
    cluster.apply_json(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lost"},
        "spec": {"nodeName": "node2", "containers": [{"name": "app", "image": "busybox"}]}
    }));
    cluster.closed_port = closed_port;
    for name in ["web", "pending", "nowhere"] {
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "node1", "containers": [{"name": "app", "image": "busybox"}]}
        });
        if name == "nowhere" {
            pod["spec"].as_object_mut().unwrap().remove("nodeName");
        }
        cluster.apply_json(pod);
    }
    cluster.ok(&[
        "patch",
        "pod",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running"}}"#,
    ]);
    std::fs::write(
        cluster.logs.join("c0.log"),
        "2024-05-01T09:00:00Z stdout F previous run\n",
    )
    .unwrap();
    std::fs::write(
        cluster.logs.join("c1.log"),
        "2024-05-01T10:00:00.5Z stdout F line one\n2024-05-01T10:00:01Z stderr P line \n2024-05-01T10:00:01.1Z stderr F two\n2024-05-01T10:00:02Z stdout F line three\n",
    )
    .unwrap();
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_exec_attach_port_forward() {
    if !Path::new(KUBECTL).exists() {
        eprintln!("kubectl not installed; skipping");
        return;
    }
    let c = start().await;
    let c = Arc::new(c);

    // logs and their options
    let c2 = c.clone();
    tokio::task::spawn_blocking(move || {
        let c = c2;
        assert_eq!(c.ok(&["logs", "web"]), "line one\nline two\nline three\n");
        assert_eq!(c.ok(&["logs", "web", "--tail=1"]), "line three\n");
        assert_eq!(
            c.ok(&["logs", "web", "--tail=2", "--timestamps"]),
            "2024-05-01T10:00:01.1Z two\n2024-05-01T10:00:02Z line three\n"
        );
        assert_eq!(c.ok(&["logs", "web", "--limit-bytes=6"]), "line o");
        assert_eq!(
            c.ok(&["logs", "web", "--since-time=2024-05-01T10:00:01Z"]),
            "line two\nline three\n"
        );
        assert_eq!(c.ok(&["logs", "web", "--previous"]), "previous run\n");
        assert_eq!(c.ok(&["logs", "web", "-c", "app"]), "line one\nline two\nline three\n");
        assert_eq!(c.ok(&["logs", "nowhere"]), "");
        let out = c.kubectl(&["logs", "pending"]);
        assert!(!out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            r#"Error from server (BadRequest): container "app" in pod "pending" is waiting to start: ContainerCreating"#
        );
        let out = c.kubectl(&["logs", "pending", "--previous"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            r#"Error from server (BadRequest): previous terminated container "app" in pod "pending" not found"#
        );
        let out = c.kubectl(&["logs", "lost"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            format!(
                r#"Error from server: Get "https://127.0.0.1:{p}/containerLogs/default/lost/app": dial tcp 127.0.0.1:{p}: connect: connection refused"#,
                p = c.closed_port
            )
        );
        let out = c.kubectl(&["logs", "web", "-c", "nope"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            "error: container nope is not valid for pod web"
        );
    })
    .await
    .unwrap();

    // exec: stdout, stderr and the exit code
    let c2 = c.clone();
    tokio::task::spawn_blocking(move || {
        let out = c2.kubectl(&["exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("err\n"), "{stderr}");
        assert!(stderr.contains("command terminated with exit code 3"), "{stderr}");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(c2.ok(&["exec", "web", "--", "echo", "hi there"]), "hi there\n");
        let out = c2.kubectl(&["exec", "pending", "--", "true"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(r#"container not found (\"app\")"#) || stderr.contains(r#"container not found ("app")"#),
            "{stderr}"
        );
    })
    .await
    .unwrap();

    // exec -i: stdin reaches the process and its end closes it
    let mut child = tokio::process::Command::new(KUBECTL)
        .args(["exec", "-i", "web", "--", "sh", "-c", "tr a-z A-Z; echo done"])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\nworld\n").await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("kubectl exec -i did not end after its stdin closed")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HELLO\nWORLD\ndone\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());

    // logs -f follows until the container exits
    let mut follow = tokio::process::Command::new(KUBECTL)
        .args(["logs", "-f", "web", "--tail=1"])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("line three"));
    append(&c.logs.join("c1.log"), "2024-05-01T10:00:03Z stdout F line four\n");
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("line four"));

    // attach shows new output as it is written (and ends when the container exits)
    let mut attach = tokio::process::Command::new(KUBECTL)
        .args(["attach", "web", "-c", "app"])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut attach_out = attach.stdout.take().unwrap();
    // Give attach time to connect, then write until it shows up.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&seen).contains("attached line") {
        assert!(
            Instant::now() < deadline,
            "attach showed {:?}",
            String::from_utf8_lossy(&seen)
        );
        append(&c.logs.join("c1.log"), "2024-05-01T10:00:04Z stdout F attached line\n");
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), attach_out.read(&mut buf)).await {
            seen.extend_from_slice(&buf[..n]);
        }
    }
    assert!(
        !String::from_utf8_lossy(&seen).contains("line three"),
        "attach starts at the end"
    );

    // The container exits: logs -f drains and ends, attach ends.
    append(&c.logs.join("c1.log"), "2024-05-01T10:00:05Z stdout F last words\n");
    c.running.store(false, Ordering::SeqCst);
    let mut rest = Vec::new();
    while let Some(l) = next_line(&mut lines).await {
        rest.push(l);
    }
    assert_eq!(rest.last().map(String::as_str), Some("last words"), "{rest:?}");
    let status = tokio::time::timeout(Duration::from_secs(20), follow.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let status = tokio::time::timeout(Duration::from_secs(20), attach.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "attach: {status}");
    c.running.store(true, Ordering::SeqCst);

    // port-forward over the WebSocket tunnel (kubectl's default), then over plain SPDY.
    port_forward(&c, None).await;
    port_forward(&c, Some(("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false"))).await;
}

/// `kubectl port-forward pod/web :80 :81` with `env`: echoes through port 80; 81 is refused in the pod.
async fn port_forward(c: &Cluster, env: Option<(&str, &str)>) {
    let mut pf = tokio::process::Command::new(KUBECTL)
        .args(["port-forward", "pod/web", ":80", ":81"])
        .env("KUBECONFIG", &c.kubeconfig)
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut pf_lines = tokio::io::BufReader::new(pf.stdout.take().unwrap()).lines();
    let mut ports = Vec::new();
    while ports.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(20), pf_lines.next_line())
            .await
            .expect("port-forward printed nothing")
            .unwrap()
            .expect("port-forward ended");
        // "Forwarding from 127.0.0.1:NNNNN -> 80"
        if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
            let (port, target) = rest.split_once(" -> ").unwrap();
            ports.push((port.parse::<u16>().unwrap(), target.to_string()));
        }
    }
    let local = ports.iter().find(|(_, t)| t == "80").unwrap().0;
    for round in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", local)).await.unwrap();
        let msg = format!("ping {round} through the tunnel");
        s.write_all(msg.as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = String::new();
        tokio::time::timeout(Duration::from_secs(20), s.read_to_string(&mut back))
            .await
            .expect("no echo")
            .unwrap();
        assert_eq!(back, msg);
    }
    // A closed port in the pod: the connection is closed and kubectl reports the error.
    let closed = ports.iter().find(|(_, t)| t == "81").unwrap().0;
    let mut s = TcpStream::connect(("127.0.0.1", closed)).await.unwrap();
    let mut back = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut back)).await;
    assert!(back.is_empty());
    pf.kill().await.unwrap();
    let out = pf.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error forwarding port 81 to pod web_default"),
        "{stderr}"
    );
}

async fn next_line(lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("no output within 20 s")
        .unwrap()
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// exec whose "terminal" is `cat`, recording resizes.
struct TtyExec(Arc<std::sync::Mutex<Vec<k1s_agent::streaming::TermSize>>>);

impl ExecBackend for TtyExec {
    fn exec(&self, _id: &str, req: ExecRequest) -> BoxFuture<'_, anyhow::Result<ExecSession>> {
        let sizes = self.0.clone();
        Box::pin(async move {
            assert!(req.tty && req.stdin && req.stdout && !req.stderr);
            let mut child = tokio::process::Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            let stdin = child.stdin.take().map(|s| Box::pin(s) as _);
            let stdout = child.stdout.take().map(|s| Box::pin(s) as _);
            Ok(ExecSession {
                stdin,
                stdout,
                stderr: None,
                resize: Some(Box::new(move |size| {
                    sizes.lock().unwrap().push(size);
                    Box::pin(async { Ok(()) })
                })),
                exit: Box::pin(async move { Ok(child.wait().await?.code().unwrap_or(-1)) }),
            })
        })
    }

    fn attach(&self, _: &str, _: bool, _: bool) -> BoxFuture<'_, anyhow::Result<AttachSession>> {
        Box::pin(async { anyhow::bail!("no attach") })
    }
}

/// The kubelet endpoint spoken to directly: client certificates are required,
/// v5 stdin/resize/close and the status, v4 negotiation.
#[tokio::test]
async fn kubelet_endpoint_websocket_channels() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    let tls = k1s_apiserver::tls::kubelet_server_config(&tls_dir, "node1", &[]).unwrap();
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let lookup = Arc::new(FakePods {
        dir: dir.path().to_path_buf(),
        running: Arc::new(AtomicBool::new(true)),
    });
    let server = KubeletServer::new(lookup, Arc::new(TtyExec(sizes.clone())));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(server.serve(listener, tls, stop_rx));

    // Without a client certificate the handshake fails.
    let ca = std::fs::read(tls_dir.join("ca.crt")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &ca[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let anonymous = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(anonymous));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let refused = async {
        let mut s = connector.connect("127.0.0.1".try_into().unwrap(), tcp).await?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    }
    .await;
    assert!(
        refused.is_err() || refused.unwrap().is_empty(),
        "anonymous clients are refused"
    );

    let client_tls = k1s_apiserver::tls::kubelet_client_config(&tls_dir).unwrap();
    let connect = |protocol: &'static str| {
        let client_tls = client_tls.clone();
        async move {
            let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let tls = tokio_rustls::TlsConnector::from(client_tls)
                .connect("127.0.0.1".try_into().unwrap(), tcp)
                .await
                .unwrap();
            let mut req = format!("wss://127.0.0.1:{port}/exec/default/web/app?command=cat&input=1&output=1&tty=1")
                .into_client_request()
                .unwrap();
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
            tokio_tungstenite::client_async(req, tls).await.unwrap()
        }
    };

    let (mut ws, resp) = connect("v5.channel.k8s.io").await;
    assert_eq!(resp.headers()["sec-websocket-protocol"], "v5.channel.k8s.io");
    ws.send(Message::Binary(b"\x04{\"Width\":120,\"Height\":40}".to_vec().into()))
        .await
        .unwrap();
    ws.send(Message::Binary(b"\x00typed".to_vec().into())).await.unwrap();
    ws.send(Message::Binary(vec![255, 0].into())).await.unwrap();
    let mut stdout = Vec::new();
    let mut status = None;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Binary(b) = msg {
            match b[0] {
                1 => stdout.extend_from_slice(&b[1..]),
                3 => status = Some(serde_json::from_slice::<serde_json::Value>(&b[1..]).unwrap()),
                other => panic!("unexpected channel {other}"),
            }
        }
    }
    assert_eq!(stdout, b"typed");
    assert_eq!(status.unwrap()["status"], "Success");
    assert_eq!(
        sizes.lock().unwrap().as_slice(),
        [k1s_agent::streaming::TermSize { width: 120, height: 40 }]
    );

    // A v4 client is answered in v4.
    let (ws, resp) = connect("v4.channel.k8s.io").await;
    assert_eq!(resp.headers()["sec-websocket-protocol"], "v4.channel.k8s.io");
    drop(ws);
}
