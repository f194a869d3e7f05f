//! The runtime against a real, private containerd started through the supervisor:
//! a busybox image unpacked by hand, a pod sandbox with CNI networking, containers
//! that exit, run, get exec'd into, stopped with grace and OOM-killed, CRI logs,
//! adoption by a second runtime instance, and cleanup.
//!
//! This binary has its own `main` (harness = false) so that it can also play the
//! `k1s` executable for containerd's shim: `container-logger` and `pause`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use containerd_client::services::v1::snapshots::{CommitSnapshotRequest, PrepareSnapshotRequest};
use containerd_client::services::v1::{ApplyRequest, CreateRequest as LeaseCreate, WriteAction, WriteContentRequest};
use k1s_agent::containerd::{Containerd, Supervisor, SupervisorConfig};
use k1s_agent::images::{ImageConfig, ImageInfo};
use k1s_agent::runtime::{
    ContainerKind, ContainerRunState, ContainerSpec, ExecRequest, ExecTimeout, Resources, Runtime, Sandbox,
};
use k1s_agent::AgentConfig;
use tokio::io::AsyncReadExt;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("container-logger") => {
            if let Err(e) = k1s_agent::logs::writer::run(&args[2..]) {
                eprintln!("container-logger: {e:#}");
                std::process::exit(1);
            }
            return;
        }
        Some("pause") => {
            if let Err(e) = k1s_agent::runtime::pause::run() {
                eprintln!("pause: {e:#}");
                std::process::exit(1);
            }
            return;
        }
        _ => {}
    }
    // `cargo test --list` and filters from other test runs: nothing to list here.
    if args.iter().any(|a| a == "--list") {
        println!("runtime: test");
        return;
    }
    if !nix::unistd::Uid::effective().is_root() || !Path::new("/usr/bin/containerd").exists() {
        println!("runtime test skipped: needs root and /usr/bin/containerd");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let dir = tempfile::Builder::new()
        .prefix("k1srt")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let result = rt.block_on(run(dir.path()));
    match result {
        Ok(()) => println!("test runtime ... ok"),
        Err(e) => {
            eprintln!("test runtime ... FAILED: {e:#}");
            if let Ok(log) = std::fs::read_to_string(dir.path().join("containerd/containerd.log")) {
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!("--- containerd.log (last lines) ---");
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
            std::process::exit(1);
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A one-layer busybox rootfs tar (busybox + applet symlinks + passwd/group).
fn busybox_layer() -> anyhow::Result<Vec<u8>> {
    let busybox = std::fs::read("/bin/busybox").context("busybox-static is needed (/bin/busybox)")?;
    let applets = std::process::Command::new("/bin/busybox").arg("--list").output()?;
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str| -> anyhow::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, p, std::io::empty())?;
        Ok(())
    };
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root", "home", "home/app"] {
        dir(&mut b, d)?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    b.append_data(&mut h, "bin/busybox", busybox.as_slice())?;
    for a in String::from_utf8_lossy(&applets.stdout).lines() {
        let a = a.trim();
        if a.is_empty() || a == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, format!("bin/{a}"), "busybox")?;
    }
    for (p, text) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        ),
        (
            "etc/group",
            "root:x:0:\napp:x:1000:\nwheel:x:10:app\nnogroup:x:65534:\n",
        ),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(text.len() as u64);
        b.append_data(&mut h, p, text.as_bytes())?;
    }
    Ok(b.into_inner()?)
}

/// Writes the layer to the content store and unpacks it into a committed snapshot.
async fn import_busybox(c: &Containerd) -> anyhow::Result<ImageInfo> {
    let layer = busybox_layer()?;
    let digest = format!("sha256:{}", sha256_hex(&layer));
    let lease = "k1s-runtime-test-image";
    let r = c
        .leases()
        .create(c.request(LeaseCreate {
            id: lease.into(),
            labels: HashMap::new(),
        }))
        .await;
    if let Err(e) = r {
        ensure!(e.code() == tonic::Code::AlreadyExists, "lease: {e}");
    }
    let req = WriteContentRequest {
        action: WriteAction::Commit as i32,
        r#ref: format!("test-{digest}"),
        total: layer.len() as i64,
        expected: digest.clone(),
        offset: 0,
        data: layer.clone(),
        labels: HashMap::new(),
    };
    let stream = tokio_stream::iter(vec![req]);
    let mut resp = c
        .content()
        .write(c.request_with_lease(stream, lease))
        .await
        .context("content write")?
        .into_inner();
    while resp.message().await.context("content write response")?.is_some() {}

    let chain_id = digest.clone(); // one uncompressed layer: chain ID = diff ID = digest
    let key = format!("extract-{}", uuid::Uuid::new_v4().simple());
    let prep = PrepareSnapshotRequest {
        snapshotter: "overlayfs".into(),
        key: key.clone(),
        parent: String::new(),
        labels: HashMap::new(),
    };
    let mounts = c
        .snapshots()
        .prepare(c.request_with_lease(prep, lease))
        .await
        .context("prepare")?
        .into_inner()
        .mounts;
    let apply = ApplyRequest {
        diff: Some(containerd_client::types::Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: digest.clone(),
            size: layer.len() as i64,
            annotations: HashMap::new(),
        }),
        mounts,
        payloads: HashMap::new(),
        sync_fs: false,
    };
    c.diff()
        .apply(c.request_with_lease(apply, lease))
        .await
        .context("diff apply")?;
    let commit = CommitSnapshotRequest {
        snapshotter: "overlayfs".into(),
        name: chain_id.clone(),
        key,
        labels: HashMap::new(),
    };
    c.snapshots()
        .commit(c.request_with_lease(commit, lease))
        .await
        .context("commit")?;
    Ok(ImageInfo {
        name: "k1s.test/busybox:latest".into(),
        id: digest.clone(),
        repo_digests: vec![],
        chain_id,
        snapshotter: "overlayfs".into(),
        size: layer.len() as u64,
        config: ImageConfig {
            env: vec!["PATH=/bin".into()],
            ..Default::default()
        },
    })
}

fn config(dir: &Path, k1s: PathBuf, tag: u16) -> AgentConfig {
    AgentConfig {
        node_name: "test-node".into(),
        data_dir: dir.to_path_buf(),
        containerd_socket: dir.join("containerd/containerd.sock"),
        manage_containerd: true,
        kubelet_port: 0,
        node_ip: "127.0.0.1".parse().unwrap(),
        pod_log_dir: dir.join("logs"),
        service_cidr: "10.43.0.0/16".parse().unwrap(),
        proxy_chain_prefix: "K1S".into(),
        iptables_backend: None,
        cluster_dns: "10.43.0.10".parse().unwrap(),
        cluster_domain: "cluster.local".into(),
        cluster_cidr: "10.199.0.0/16".into(),
        pod_cidr: format!("10.199.{}.0/24", tag % 250),
        cni_bridge: format!("k1st{tag}"),
        cni_bin_dir: "/usr/lib/cni".into(),
        insecure_registries: vec![],
        k1s_binary: k1s,
        cgroup_root: format!("/k1s-test-{tag}"),
        resolv_conf: "/etc/resolv.conf".into(),
    }
}

fn container(sb: &Sandbox, image: &ImageInfo, logs: &Path, name: &str, args: &[&str]) -> ContainerSpec {
    let id = format!("{}-{}", name, &uuid::Uuid::new_v4().simple().to_string()[..8]);
    ContainerSpec {
        id: id.clone(),
        pod_uid: sb.pod_uid.clone(),
        pod_name: "rt-test".into(),
        pod_namespace: "default".into(),
        name: name.into(),
        kind: ContainerKind::App,
        attempt: 0,
        image_ref: "busybox".into(),
        image: image.clone(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/bin".into(), "GREETING=hello".into()],
        working_dir: "/".into(),
        mounts: vec![],
        user: None,
        supplemental_groups: vec![],
        image_user: None,
        cap_add: vec![],
        cap_drop: vec![],
        privileged: false,
        read_only_rootfs: false,
        no_new_privileges: false,
        seccomp_runtime_default: true,
        resources: Resources {
            cpu_shares: 2,
            cpu_quota: None,
            cpu_period: 100_000,
            memory_limit: None,
        },
        tty: false,
        stdin: false,
        share_pid: false,
        log_path: logs.join(format!("default_rt-test_{}/{name}/0.log", sb.pod_uid)),
        termination_message_file: None,
        termination_message_from_logs: false,
        labels: BTreeMap::new(),
    }
}

async fn wait_exit(
    rx: &mut tokio::sync::broadcast::Receiver<k1s_agent::runtime::ExitEvent>,
    id: &str,
) -> anyhow::Result<i32> {
    let fut = async {
        loop {
            let e = rx.recv().await?;
            if e.container_id == id {
                return anyhow::Ok(e.exit_code);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .with_context(|| format!("no exit for {id}"))?
}

async fn state_of(rt: &Runtime, id: &str) -> anyhow::Result<ContainerRunState> {
    let all = rt.list_containers().await?;
    Ok(all
        .into_iter()
        .find(|c| c.id == id)
        .with_context(|| format!("{id} not listed"))?
        .state)
}

async fn run(dir: &Path) -> anyhow::Result<()> {
    let tag = (std::process::id() % 200 + 20) as u16;
    let sup = Supervisor::start(SupervisorConfig::new(dir)).await?;
    let result = scenario(dir, &sup, tag).await;
    sup.shutdown().await;
    let _ = std::process::Command::new("ip")
        .args(["link", "del", &format!("k1st{tag}")])
        .status();
    for sub in ["besteffort", "burstable", ""] {
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path().join(format!("k1s-test-{tag}")).join(sub));
            }
        }
    }
    result
}

async fn scenario(dir: &Path, sup: &Supervisor, tag: u16) -> anyhow::Result<()> {
    let c = sup.containerd();
    let image = import_busybox(&c).await?;
    let me = std::env::current_exe()?;
    let cfg = Arc::new(config(dir, me, tag));
    let logs = cfg.pod_log_dir.clone();
    let rt = Runtime::new(c.clone(), cfg.clone()).unwrap();
    let mut exits = rt.subscribe_exits();

    // Sandbox: namespaces, IP, files; idempotent.
    let uid = uuid::Uuid::new_v4().to_string();
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "rt-test", "namespace": "default", "uid": uid},
        "spec": {"containers": [{"name": "main", "image": "busybox"}], "shareProcessNamespace": true}
    }))?;
    let sb = rt.ensure_sandbox(&pod).await?;
    ensure!(!sb.pod_ips.is_empty(), "sandbox has no IP");
    let ip = sb.pod_ips[0];
    let hosts = std::fs::read_to_string(&sb.hosts_file)?;
    ensure!(hosts.contains(&format!("{ip}\trt-test")), "hosts file: {hosts}");
    let resolv = std::fs::read_to_string(&sb.resolv_file)?;
    ensure!(resolv.contains("nameserver 10.43.0.10"), "resolv.conf: {resolv}");
    let again = rt.ensure_sandbox(&pod).await?;
    ensure!(again.pod_ips == sb.pod_ips, "second ensure_sandbox changed the IP");
    ensure!(rt.list_sandboxes().await? == vec![uid.clone()], "list_sandboxes");
    ensure!(sb.pidns.is_some(), "shared pid namespace missing");

    // 1. A container that prints and exits 3.
    let c1 = container(
        &sb,
        &image,
        &logs,
        "once",
        &["sh", "-c", "echo $GREETING; echo oops >&2; exit 3"],
    );
    rt.create_container(&sb, &c1).await?;
    rt.start_container(&c1.id).await?;
    let code = wait_exit(&mut exits, &c1.id).await?;
    ensure!(code == 3, "exit code {code}");
    match state_of(&rt, &c1.id).await? {
        ContainerRunState::Exited {
            exit_code: 3, reason, ..
        } if reason == "Error" => {}
        s => bail!("unexpected state {s:?}"),
    }
    let log = std::fs::read_to_string(&c1.log_path).with_context(|| format!("log {}", c1.log_path.display()))?;
    ensure!(log.contains(" stdout F hello\n"), "log: {log}");
    ensure!(log.contains(" stderr F oops\n"), "log: {log}");
    println!("  exited container: ok");

    // 2. A long-running container: exec, adoption, graceful stop.
    let mut c2 = container(
        &sb,
        &image,
        &logs,
        "long",
        &[
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done",
        ],
    );
    c2.share_pid = true;
    rt.create_container(&sb, &c2).await?;
    rt.start_container(&c2.id).await?;
    let st = state_of(&rt, &c2.id).await?;
    ensure!(
        matches!(st, ContainerRunState::Running { .. }),
        "not running: {st:?} log: {:?}",
        std::fs::read_to_string(&c2.log_path)
    );
    let (code, out) = rt
        .exec_sync(&c2.id, &["hostname".into()], Duration::from_secs(10))
        .await?;
    ensure!(
        code == 0 && String::from_utf8_lossy(&out).trim() == "rt-test",
        "hostname: {code} {:?}",
        String::from_utf8_lossy(&out)
    );
    let (code, out) = rt
        .exec_sync(
            &c2.id,
            &["ip".into(), "-4".into(), "addr".into(), "show".into(), "eth0".into()],
            Duration::from_secs(10),
        )
        .await?;
    ensure!(
        code == 0 && String::from_utf8_lossy(&out).contains(&ip.to_string()),
        "ip addr: {}",
        String::from_utf8_lossy(&out)
    );
    let (code, out) = rt
        .exec_sync(
            &c2.id,
            &["sh".into(), "-c".into(), "echo out; echo err >&2; exit 7".into()],
            Duration::from_secs(10),
        )
        .await?;
    let text = String::from_utf8_lossy(&out);
    ensure!(
        code == 7 && text.contains("out") && text.contains("err"),
        "exec output {code} {text:?}"
    );
    let timed_out = |e: &anyhow::Error| {
        e.downcast_ref::<std::io::Error>()
            .filter(|io| io.kind() == std::io::ErrorKind::TimedOut)
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.downcast_ref::<ExecTimeout>().is_some())
    };
    let err = rt
        .exec_sync(&c2.id, &["sleep".into(), "5".into()], Duration::from_millis(500))
        .await;
    ensure!(
        matches!(&err, Err(e) if timed_out(e)),
        "expected a timeout, got {err:?}"
    );
    println!("  exec_sync: ok");
    // Interactive exec with stdin.
    let mut p = rt
        .exec(
            &c2.id,
            ExecRequest {
                command: vec!["cat".into()],
                tty: false,
                stdin: true,
                stdout: true,
                stderr: true,
            },
        )
        .await?;
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = p.stdin.take().context("stdin")?;
        stdin.write_all(b"ping\n").await?;
        drop(stdin);
    }
    let mut stdout = p.stdout.take().context("stdout")?;
    let mut got = String::new();
    tokio::time::timeout(Duration::from_secs(10), stdout.read_to_string(&mut got)).await??;
    ensure!(got == "ping\n", "cat echoed {got:?}");
    println!("  interactive exec: ok");
    ensure!(p.wait().await? == 0, "cat exit");
    // A second runtime (an agent restart) finds the running container.
    let rt2 = Runtime::new(c.clone(), cfg.clone()).unwrap();
    ensure!(
        matches!(state_of(&rt2, &c2.id).await?, ContainerRunState::Running { .. }),
        "not adopted"
    );
    drop(rt2);
    // A TTY exec with a resize.
    let mut p = rt
        .exec(
            &c2.id,
            ExecRequest {
                command: vec!["sh".into(), "-c".into(), "sleep 1; stty size".into()],
                tty: true,
                stdin: false,
                stdout: true,
                stderr: false,
            },
        )
        .await?;
    p.resize(100, 30).await?;
    let mut out = String::new();
    p.stdout.take().context("tty stdout")?.read_to_string(&mut out).await?;
    ensure!(out.trim() == "30 100", "stty size said {out:?}");
    ensure!(p.wait().await? == 0, "stty exit");
    println!("  tty exec: ok");
    // containerd dies: the supervisor restarts it and the container lives on.
    let pid: i32 = std::fs::read_to_string(dir.join("containerd/containerd.pid"))?
        .trim()
        .parse()?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)?;
    let mut back = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now: Option<i32> = std::fs::read_to_string(dir.join("containerd/containerd.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        if now.is_some_and(|n| n != pid) && k1s_agent::containerd::supervisor::ping(&sup.socket()).await.is_ok() {
            back = true;
            break;
        }
    }
    ensure!(back, "containerd was not restarted");
    let mut st = Err(anyhow::anyhow!("not listed"));
    for _ in 0..20 {
        st = state_of(&rt, &c2.id).await;
        if st.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    ensure!(
        matches!(st?, ContainerRunState::Running { .. }),
        "container lost with containerd"
    );
    println!("  containerd restart: ok");
    rt.stop_container(&c2.id, Duration::from_secs(10)).await?;
    match state_of(&rt, &c2.id).await? {
        ContainerRunState::Exited {
            exit_code: 0, reason, ..
        } if reason == "Completed" => {}
        s => bail!("unexpected state after stop {s:?}"),
    }
    let log = std::fs::read_to_string(&c2.log_path)?;
    ensure!(
        log.contains(" stdout F ready\n") && log.contains(" stdout F bye\n"),
        "log: {log}"
    );
    println!("  exec, adoption and graceful stop: ok");

    // 3. OOM.
    let mut c3 = container(
        &sb,
        &image,
        &logs,
        "oom",
        &["sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\000' a); echo ${#x}"],
    );
    c3.resources.memory_limit = Some(16 << 20);
    rt.create_container(&sb, &c3).await?;
    rt.start_container(&c3.id).await?;
    wait_exit(&mut exits, &c3.id).await?;
    match state_of(&rt, &c3.id).await? {
        ContainerRunState::Exited { reason, .. } if reason == "OOMKilled" => {}
        s => bail!("expected OOMKilled, got {s:?}"),
    }
    println!("  OOM: ok");

    // 4. Attach to a container's stdin.
    let mut c4 = container(
        &sb,
        &image,
        &logs,
        "stdin",
        &[
            "sh",
            "-c",
            "sleep 1; read line; echo got:$line; read more; echo more:$more",
        ],
    );
    c4.stdin = true;
    rt.create_container(&sb, &c4).await?;
    rt.start_container(&c4.id).await?;
    {
        use tokio::io::AsyncWriteExt;
        let io = rt.attach(&c4.id).await?;
        let mut w = io.stdin.context("attach stdin")?;
        w.write_all(b"hi\n").await?;
    }
    rt.close_stdin(&c4.id).await?;
    ensure!(wait_exit(&mut exits, &c4.id).await? == 0, "stdin container exit");
    let log = std::fs::read_to_string(&c4.log_path)?;
    ensure!(log.contains(" stdout F got:hi\n"), "log: {log}");
    println!("  attach stdin: ok");

    // Cleanup.
    for id in [&c1.id, &c2.id, &c3.id, &c4.id] {
        rt.remove_container(id).await?;
    }
    ensure!(rt.list_containers().await?.is_empty(), "containers left");
    rt.remove_sandbox(&uid).await?;
    ensure!(!sb.netns.exists(), "netns file left");
    ensure!(rt.list_sandboxes().await?.is_empty(), "sandbox left");
    println!("  cleanup: ok");
    Ok(())
}
