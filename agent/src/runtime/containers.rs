//! Containers and their tasks: create (snapshot + container + task), start,
//! stop (SIGTERM → grace → SIGKILL), remove, list; exits recorded as labels.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use containerd_client::services::v1::container::Runtime as ContainerRuntime;
use containerd_client::services::v1::snapshots::{MountsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest};
use containerd_client::services::v1::{
    Container, CreateContainerRequest, CreateRequest as CreateLeaseRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteTaskRequest, GetContainerRequest, GetRequest, KillRequest, ListContainersRequest, ListTasksRequest,
    StartRequest, UpdateContainerRequest, WaitRequest,
};
use containerd_client::types::v1::Status as TaskStatus;
use jiff::Timestamp;
use prost_types::{Any, FieldMask};
use tonic::Code;
use tracing::{debug, warn};

use super::types::{labels, ContainerInfo, ContainerKind, ContainerRunState, ContainerSpec, ExitEvent, Sandbox};
use super::user::{self, Rootfs, User};
use super::{spec, Runtime, LEASE_ID, RUNTIME_NAME, SPEC_TYPE_URL};

/// Longest termination message kept (as the kubelet does).
pub const MAX_TERMINATION_MESSAGE: usize = 4096;
/// Exit code recorded for a task that vanished without an exit status.
pub const UNKNOWN_EXIT_CODE: i32 = 255;

pub(crate) fn ts_from_proto(t: Option<prost_types::Timestamp>) -> Option<Timestamp> {
    let t = t?;
    if t.seconds <= 0 {
        return None;
    }
    Timestamp::new(t.seconds, t.nanos).ok()
}

fn is_code(e: &tonic::Status, code: Code) -> bool {
    e.code() == code
}

/// Reads at most `max` bytes of a file.
fn read_capped(path: &Path, max: usize) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(max as u64).read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The kubelet's log fallback for an empty termination message: the last 80
/// lines of the container's output, at most 2048 bytes.
fn log_tail_message(log: &Path) -> String {
    const MAX_LINES: usize = 80;
    const MAX_BYTES: usize = 2048;
    let Ok(bytes) = std::fs::read(log) else {
        return String::new();
    };
    let mut text = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        if let Some(parsed) = crate::logs::format::parse_line(line) {
            text.extend_from_slice(parsed.text);
            if !parsed.partial {
                text.push(b'\n');
            }
        }
    }
    let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
    let tail = lines[lines.len().saturating_sub(MAX_LINES)..].concat();
    let tail = &tail[tail.len().saturating_sub(MAX_BYTES)..];
    String::from_utf8_lossy(tail).into_owned()
}

/// Whether the memory cgroup of a container saw an OOM kill (cgroup v1 `memory.oom_control`
/// `oom_kill`, or v2 `memory.events` `oom_kill`).
fn cgroup_oom_killed(cgroups_path: &str) -> bool {
    let rel = cgroups_path.trim_start_matches('/');
    let candidates = [
        PathBuf::from("/sys/fs/cgroup/memory")
            .join(rel)
            .join("memory.oom_control"),
        PathBuf::from("/sys/fs/cgroup").join(rel).join("memory.events"),
    ];
    for c in candidates {
        if let Ok(text) = std::fs::read_to_string(&c) {
            for line in text.lines() {
                if let Some(n) = line.strip_prefix("oom_kill ") {
                    if n.trim().parse::<u64>().map(|n| n > 0).unwrap_or(false) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

fn label_update(id: &str, set: HashMap<String, String>) -> UpdateContainerRequest {
    let paths = set.keys().map(|k| format!("labels.{k}")).collect();
    UpdateContainerRequest {
        container: Some(Container {
            id: id.to_string(),
            labels: set,
            ..Default::default()
        }),
        update_mask: Some(FieldMask { paths }),
    }
}

fn info_from(c: &Container, state: ContainerRunState) -> ContainerInfo {
    let l = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
    ContainerInfo {
        id: c.id.clone(),
        pod_uid: l(labels::POD_UID),
        pod_namespace: l(labels::POD_NAMESPACE),
        pod_name: l(labels::POD_NAME),
        name: l(labels::CONTAINER_NAME),
        kind: if l(labels::KIND) == "init" {
            ContainerKind::Init
        } else {
            ContainerKind::App
        },
        attempt: l(labels::ATTEMPT).parse().unwrap_or(0),
        image_ref: l(labels::IMAGE),
        image_id: l(labels::IMAGE_ID),
        state,
        log_path: PathBuf::from(l(labels::LOG_PATH)),
    }
}

fn exited_state(l: &HashMap<String, String>) -> Option<ContainerRunState> {
    let code: i32 = l.get(labels::EXIT_CODE)?.parse().ok()?;
    let ts = |k: &str| l.get(k).and_then(|v| v.parse::<Timestamp>().ok());
    Some(ContainerRunState::Exited {
        exit_code: code,
        reason: l.get(labels::REASON).cloned().unwrap_or_else(|| "Error".into()),
        message: l.get(labels::MESSAGE).cloned().filter(|m| !m.is_empty()),
        started_at: ts(labels::STARTED_AT),
        finished_at: ts(labels::FINISHED_AT).unwrap_or_else(Timestamp::now),
    })
}

impl Runtime {
    fn io_dir(&self, id: &str) -> PathBuf {
        self.inner.config.run_dir().join("io").join(id)
    }

    async fn ensure_lease(&self) -> anyhow::Result<()> {
        let c = &self.inner.containerd;
        self.inner
            .lease_ready
            .get_or_try_init(|| async {
                let req = CreateLeaseRequest {
                    id: LEASE_ID.to_string(),
                    labels: HashMap::new(),
                };
                match c.leases().create(c.request(req)).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_code(&e, Code::AlreadyExists) => Ok(()),
                    Err(e) => Err(anyhow::Error::new(e).context("cannot create the containers lease")),
                }
            })
            .await?;
        Ok(())
    }

    /// Creates the containerd container (labels from the spec) and its task, not started.
    pub async fn create_container(&self, sandbox: &Sandbox, cs: &ContainerSpec) -> anyhow::Result<()> {
        let c = &self.inner.containerd;
        self.ensure_lease().await?;
        let snapshotter = if cs.image.snapshotter.is_empty() {
            "overlayfs".to_string()
        } else {
            cs.image.snapshotter.clone()
        };

        // 1. The writable snapshot on top of the image.
        let prep = PrepareSnapshotRequest {
            snapshotter: snapshotter.clone(),
            key: cs.id.clone(),
            parent: cs.image.chain_id.clone(),
            labels: HashMap::new(),
        };
        let mounts = match c.snapshots().prepare(c.request_with_lease(prep, LEASE_ID)).await {
            Ok(r) => r.into_inner().mounts,
            Err(e) if is_code(&e, Code::AlreadyExists) => {
                let req = MountsRequest {
                    snapshotter: snapshotter.clone(),
                    key: cs.id.clone(),
                };
                c.snapshots()
                    .mounts(c.request(req))
                    .await
                    .context("snapshot mounts")?
                    .into_inner()
                    .mounts
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "failed to prepare the snapshot of image {} (chain {})",
                    cs.image.name, cs.image.chain_id
                )))
            }
        };

        let result = self.create_container_and_task(sandbox, cs, &snapshotter, &mounts).await;
        if result.is_err() {
            let _ = c
                .containers()
                .delete(c.request(DeleteContainerRequest { id: cs.id.clone() }))
                .await;
            let rm = RemoveSnapshotRequest {
                snapshotter,
                key: cs.id.clone(),
            };
            let _ = c.snapshots().remove(c.request(rm)).await;
            self.drop_stdin(&cs.id);
            let _ = std::fs::remove_dir_all(self.io_dir(&cs.id));
        }
        result
    }

    async fn create_container_and_task(
        &self,
        sandbox: &Sandbox,
        cs: &ContainerSpec,
        snapshotter: &str,
        mounts: &[containerd_client::types::Mount],
    ) -> anyhow::Result<()> {
        let c = &self.inner.containerd;
        // 2. Who the process runs as.
        let rootfs = Rootfs::from_mounts(mounts);
        let user = match cs.user {
            Some((uid, gid)) => User {
                uid,
                gid,
                additional_gids: Vec::new(),
            },
            None => {
                let u = cs.image_user.clone().unwrap_or_else(|| cs.image.config.user.clone());
                user::resolve(&u, &rootfs)?
            }
        };
        let devices = if cs.privileged {
            spec::host_devices()
        } else {
            Vec::new()
        };
        let oci = spec::build(cs, sandbox, &user, &devices);

        // 3. The container record.
        let mut l: HashMap<String, String> = cs.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        l.insert(labels::POD_UID.into(), cs.pod_uid.clone());
        l.insert(labels::POD_NAME.into(), cs.pod_name.clone());
        l.insert(labels::POD_NAMESPACE.into(), cs.pod_namespace.clone());
        l.insert(labels::CONTAINER_NAME.into(), cs.name.clone());
        l.insert(labels::ATTEMPT.into(), cs.attempt.to_string());
        l.insert(
            labels::KIND.into(),
            if cs.kind == ContainerKind::Init { "init" } else { "app" }.into(),
        );
        l.insert(labels::IMAGE.into(), cs.image_ref.clone());
        l.insert(labels::IMAGE_ID.into(), cs.image.id.clone());
        l.insert(labels::LOG_PATH.into(), cs.log_path.to_string_lossy().into_owned());
        if let Some(t) = &cs.termination_message_file {
            l.insert(
                labels::TERMINATION_MESSAGE_PATH.into(),
                t.to_string_lossy().into_owned(),
            );
        }
        if cs.termination_message_from_logs {
            l.insert(
                labels::TERMINATION_MESSAGE_POLICY.into(),
                "FallbackToLogsOnError".into(),
            );
        }
        if cs.stdin {
            l.insert(labels::STDIN.into(), "true".into());
        }
        if cs.tty {
            l.insert(labels::TTY.into(), "true".into());
        }
        let container = Container {
            id: cs.id.clone(),
            labels: l,
            image: cs.image.name.clone(),
            runtime: Some(ContainerRuntime {
                name: RUNTIME_NAME.to_string(),
                options: None,
            }),
            spec: Some(Any {
                type_url: SPEC_TYPE_URL.to_string(),
                value: serde_json::to_vec(&oci)?,
            }),
            snapshotter: snapshotter.to_string(),
            snapshot_key: cs.id.clone(),
            ..Default::default()
        };
        c.containers()
            .create(c.request(CreateContainerRequest {
                container: Some(container),
            }))
            .await
            .with_context(|| format!("failed to create containerd container {}", cs.id))?;

        // 4. The task: output to the log writer, stdin from a FIFO.
        let (stdin, stdout, stderr) = if cs.stdin {
            // The shim gives no stdin with binary logging: FIFOs and a detached logger.
            let stdin = self.open_stdin(&cs.id)?;
            let (stdout, stderr) = self.spawn_fifo_logger(&cs.id, cs.tty, &cs.log_path)?;
            (stdin, stdout, stderr)
        } else {
            let uri = crate::logs::writer::log_uri(&self.inner.config.k1s_binary, &cs.log_path);
            (String::new(), uri.clone(), if cs.tty { String::new() } else { uri })
        };
        let req = CreateTaskRequest {
            container_id: cs.id.clone(),
            rootfs: mounts.to_vec(),
            stdin,
            stdout,
            stderr,
            terminal: cs.tty,
            ..Default::default()
        };
        c.tasks()
            .create(c.request(req))
            .await
            .map_err(|e| anyhow::anyhow!("failed to create containerd task: {}", e.message()))?;
        Ok(())
    }

    /// Creates the container's stdin FIFO and holds a write end open (so stdin stays
    /// open between attaches); returns its path.
    fn open_stdin(&self, id: &str) -> anyhow::Result<String> {
        let dir = self.io_dir(id);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("stdin");
        if !path.exists() {
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .with_context(|| format!("mkfifo {}", path.display()))?;
        }
        let keeper = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        self.inner
            .stdin_keepers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), keeper);
        Ok(path.to_string_lossy().into_owned())
    }

    /// Makes the output FIFOs of a stdin container and starts `k1s container-logger --fifo`
    /// on them, detached (its own process group), so it outlives the agent.
    fn spawn_fifo_logger(&self, id: &str, tty: bool, log_path: &Path) -> anyhow::Result<(String, String)> {
        let dir = self.io_dir(id);
        std::fs::create_dir_all(&dir)?;
        let mut paths = Vec::new();
        for name in if tty { vec!["stdout"] } else { vec!["stdout", "stderr"] } {
            let p = dir.join(name);
            if !p.exists() {
                nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .with_context(|| format!("mkfifo {}", p.display()))?;
            }
            paths.push(p.to_string_lossy().into_owned());
        }
        let stdout = paths[0].clone();
        let stderr = paths.get(1).cloned().unwrap_or_default();
        let mut child = tokio::process::Command::new(&self.inner.config.k1s_binary)
            .arg(crate::logs::writer::SUBCOMMAND)
            .arg(crate::logs::writer::FIFO_FLAG)
            .arg(&stdout)
            .arg(if stderr.is_empty() { "-" } else { stderr.as_str() })
            .arg(log_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start the log writer {}", self.inner.config.k1s_binary.display()))?;
        // Reap it when it ends (if the agent is still around then).
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok((stdout, stderr))
    }

    pub(crate) fn drop_stdin(&self, id: &str) {
        self.inner
            .stdin_keepers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Ends the container's stdin (for `stdinOnce` after the first attach ends).
    pub async fn close_stdin(&self, id: &str) -> anyhow::Result<()> {
        self.drop_stdin(id);
        let c = &self.inner.containerd;
        let req = containerd_client::services::v1::CloseIoRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
            stdin: true,
        };
        c.tasks()
            .close_io(c.request(req))
            .await
            .with_context(|| format!("cannot close the stdin of {id}"))?;
        Ok(())
    }

    /// The path of a container's stdin FIFO.
    pub(crate) fn stdin_path(&self, id: &str) -> PathBuf {
        self.io_dir(id).join("stdin")
    }

    /// Starts the task; returns when it started.
    pub async fn start_container(&self, id: &str) -> anyhow::Result<Timestamp> {
        let c = &self.inner.containerd;
        self.spawn_waiter(id);
        c.tasks()
            .start(c.request(StartRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
            }))
            .await
            .map_err(|e| anyhow::anyhow!("failed to start containerd task {id}: {}", e.message()))?;
        let now = Timestamp::now();
        let mut set = HashMap::new();
        set.insert(labels::STARTED_AT.to_string(), now.to_string());
        c.containers()
            .update(c.request(label_update(id, set)))
            .await
            .with_context(|| format!("cannot record the start time of {id}"))?;
        Ok(now)
    }

    /// Starts a background `Wait` on the container's task (once per container).
    pub(crate) fn spawn_waiter(&self, id: &str) {
        {
            let mut w = self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner());
            if !w.insert(id.to_string()) {
                return;
            }
        }
        let rt = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            loop {
                let c = &rt.inner.containerd;
                let req = WaitRequest {
                    container_id: id.clone(),
                    exec_id: String::new(),
                };
                match c.tasks().wait(c.request(req)).await {
                    Ok(r) => {
                        let r = r.into_inner();
                        if let Err(e) = rt.record_exit(&id, r.exit_status, ts_from_proto(r.exited_at)).await {
                            warn!(container = %id, "cannot record exit: {e:#}");
                        }
                        break;
                    }
                    Err(e) if is_code(&e, Code::NotFound) => break,
                    Err(e) => {
                        debug!(container = %id, "task wait failed ({e}); retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(10));
                    }
                }
            }
            rt.inner.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
    }

    /// Records a task's exit on the container's labels (exit code, times, reason,
    /// termination message), deletes the task and broadcasts the exit. Idempotent.
    pub(crate) async fn record_exit(
        &self,
        id: &str,
        exit_status: u32,
        exited_at: Option<Timestamp>,
    ) -> anyhow::Result<Option<HashMap<String, String>>> {
        self.record_exit_with(id, exit_status as i32, exited_at, None).await
    }

    async fn record_exit_with(
        &self,
        id: &str,
        exit_code: i32,
        exited_at: Option<Timestamp>,
        forced_reason: Option<&str>,
    ) -> anyhow::Result<Option<HashMap<String, String>>> {
        let c = &self.inner.containerd;
        let lock = self.inner.container_lock(id);
        let _g = lock.lock().await;
        let container = match c
            .containers()
            .get(c.request(GetContainerRequest { id: id.to_string() }))
            .await
        {
            Ok(r) => r.into_inner().container.context("empty container")?,
            Err(e) if is_code(&e, Code::NotFound) => return Ok(None),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot read container {id}"))),
        };
        let mut l = container.labels.clone();
        if l.contains_key(labels::EXIT_CODE) {
            self.delete_task(id).await;
            return Ok(Some(l));
        }
        let cgroups_path = container
            .spec
            .as_ref()
            .and_then(|s| serde_json::from_slice::<serde_json::Value>(&s.value).ok())
            .and_then(|v| v["linux"]["cgroupsPath"].as_str().map(String::from))
            .unwrap_or_default();
        let oom_event = self.inner.ooms.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        let oom = oom_event || (!cgroups_path.is_empty() && cgroup_oom_killed(&cgroups_path));
        let reason = match forced_reason {
            Some(r) => r.to_string(),
            None if oom => "OOMKilled".to_string(),
            None if exit_code == 0 => "Completed".to_string(),
            None => "Error".to_string(),
        };
        let mut message = l
            .get(labels::TERMINATION_MESSAGE_PATH)
            .and_then(|p| read_capped(Path::new(p), MAX_TERMINATION_MESSAGE))
            .unwrap_or_default();
        let from_logs = l.get(labels::TERMINATION_MESSAGE_POLICY).map(String::as_str) == Some("FallbackToLogsOnError");
        if message.is_empty() && exit_code != 0 && from_logs {
            if let Some(log) = l.get(labels::LOG_PATH) {
                message = log_tail_message(Path::new(log));
            }
        }
        let finished = exited_at.unwrap_or_else(Timestamp::now);
        let mut set = HashMap::new();
        set.insert(labels::EXIT_CODE.to_string(), exit_code.to_string());
        set.insert(labels::FINISHED_AT.to_string(), finished.to_string());
        set.insert(labels::REASON.to_string(), reason);
        set.insert(labels::MESSAGE.to_string(), message);
        c.containers()
            .update(c.request(label_update(id, set.clone())))
            .await
            .with_context(|| format!("cannot record the exit of {id}"))?;
        l.extend(set);
        self.delete_task(id).await;
        self.drop_stdin(id);
        let _ = self.inner.exits.send(ExitEvent {
            container_id: id.to_string(),
            exit_code,
            exited_at: finished,
        });
        Ok(Some(l))
    }

    async fn delete_task(&self, id: &str) {
        let c = &self.inner.containerd;
        match c
            .tasks()
            .delete(c.request(DeleteTaskRequest {
                container_id: id.to_string(),
            }))
            .await
        {
            Ok(_) => {}
            Err(e) if is_code(&e, Code::NotFound) => {}
            Err(e) => warn!(container = %id, "cannot delete task: {}", e.message()),
        }
    }

    async fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), tonic::Status> {
        let c = &self.inner.containerd;
        let req = KillRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
            signal,
            all,
        };
        c.tasks().kill(c.request(req)).await.map(|_| ())
    }

    async fn wait_task(&self, id: &str, limit: Duration) -> Option<(u32, Option<Timestamp>)> {
        let c = &self.inner.containerd;
        let req = WaitRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        };
        match tokio::time::timeout(limit, c.tasks().wait(c.request(req))).await {
            Ok(Ok(r)) => {
                let r = r.into_inner();
                Some((r.exit_status, ts_from_proto(r.exited_at)))
            }
            Ok(Err(_)) | Err(_) => None,
        }
    }

    async fn task_state(&self, id: &str) -> Option<containerd_client::types::v1::Process> {
        let c = &self.inner.containerd;
        let req = GetRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        };
        c.tasks()
            .get(c.request(req))
            .await
            .ok()
            .and_then(|r| r.into_inner().process)
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; records the exit before returning.
    pub async fn stop_container(&self, id: &str, grace: Duration) -> anyhow::Result<()> {
        let Some(task) = self.task_state(id).await else {
            return Ok(());
        };
        let status = TaskStatus::try_from(task.status).unwrap_or(TaskStatus::Unknown);
        if status == TaskStatus::Stopped {
            self.record_exit(id, task.exit_status, ts_from_proto(task.exited_at))
                .await?;
            return Ok(());
        }
        if status == TaskStatus::Created {
            // Never started: nothing to signal; the task is deleted with the container.
            let _ = self.kill(id, libc::SIGKILL as u32, true).await;
            if let Some((code, at)) = self.wait_task(id, Duration::from_secs(10)).await {
                self.record_exit(id, code, at).await?;
            }
            return Ok(());
        }
        let mut exited = None;
        if !grace.is_zero() {
            match self.kill(id, libc::SIGTERM as u32, false).await {
                Ok(()) => exited = self.wait_task(id, grace).await,
                Err(e) if is_code(&e, Code::NotFound) => return Ok(()),
                Err(e) => warn!(container = %id, "SIGTERM failed: {}", e.message()),
            }
        }
        if exited.is_none() {
            match self.kill(id, libc::SIGKILL as u32, true).await {
                Ok(()) => {}
                Err(e) if is_code(&e, Code::NotFound) => return Ok(()),
                Err(e) => warn!(container = %id, "SIGKILL failed: {}", e.message()),
            }
            exited = self.wait_task(id, Duration::from_secs(30)).await;
        }
        match exited {
            Some((code, at)) => {
                self.record_exit(id, code, at).await?;
                Ok(())
            }
            None => anyhow::bail!("container {id} did not stop after SIGKILL"),
        }
    }

    /// Removes the container (killing its task if needed) and its snapshot.
    pub async fn remove_container(&self, id: &str) -> anyhow::Result<()> {
        let c = &self.inner.containerd;
        if let Some(task) = self.task_state(id).await {
            let status = TaskStatus::try_from(task.status).unwrap_or(TaskStatus::Unknown);
            if status != TaskStatus::Stopped {
                let _ = self.kill(id, libc::SIGKILL as u32, true).await;
                let _ = self.wait_task(id, Duration::from_secs(30)).await;
            }
            self.delete_task(id).await;
        }
        let snapshotter = match c
            .containers()
            .get(c.request(GetContainerRequest { id: id.to_string() }))
            .await
        {
            Ok(r) => r.into_inner().container.map(|c| c.snapshotter).unwrap_or_default(),
            Err(_) => String::new(),
        };
        match c
            .containers()
            .delete(c.request(DeleteContainerRequest { id: id.to_string() }))
            .await
        {
            Ok(_) => {}
            Err(e) if is_code(&e, Code::NotFound) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot delete container {id}"))),
        }
        let snapshotter = if snapshotter.is_empty() {
            "overlayfs".to_string()
        } else {
            snapshotter
        };
        match c
            .snapshots()
            .remove(c.request(RemoveSnapshotRequest {
                snapshotter,
                key: id.to_string(),
            }))
            .await
        {
            Ok(_) => {}
            Err(e) if is_code(&e, Code::NotFound) => {}
            Err(e) => warn!(container = %id, "cannot remove snapshot: {}", e.message()),
        }
        self.drop_stdin(id);
        let _ = std::fs::remove_dir_all(self.io_dir(id));
        self.inner.locks.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        Ok(())
    }

    /// Every k1s container (pod UID label) with its state; exits that happened while
    /// nobody watched are recorded on the way.
    pub async fn list_containers(&self) -> anyhow::Result<Vec<ContainerInfo>> {
        let c = &self.inner.containerd;
        let containers = c
            .containers()
            .list(c.request(ListContainersRequest { filters: vec![] }))
            .await
            .context("cannot list containerd containers")?
            .into_inner()
            .containers;
        let tasks = c
            .tasks()
            .list(c.request(ListTasksRequest { filter: String::new() }))
            .await
            .context("cannot list containerd tasks")?
            .into_inner()
            .tasks;
        let tasks: HashMap<String, containerd_client::types::v1::Process> =
            // containerd 1.6 fills only `id` (the container ID) in listed tasks.
            tasks
                .into_iter()
                .map(|t| (if t.container_id.is_empty() { t.id.clone() } else { t.container_id.clone() }, t))
                .collect();
        let mut out = Vec::new();
        for ctr in containers {
            if let Some(info) = self.container_info(&ctr, tasks.get(&ctr.id)).await? {
                out.push(info);
            }
        }
        Ok(out)
    }

    /// One k1s container by ID with its state (`None` if there is no such container).
    pub async fn get_container(&self, id: &str) -> anyhow::Result<Option<ContainerInfo>> {
        let c = &self.inner.containerd;
        let ctr = match c
            .containers()
            .get(c.request(GetContainerRequest { id: id.to_string() }))
            .await
        {
            Ok(r) => r.into_inner().container,
            Err(e) if is_code(&e, Code::NotFound) => None,
            Err(e) => return Err(anyhow::anyhow!("cannot get container {id}: {}", e.message())),
        };
        let Some(ctr) = ctr else {
            return Ok(None);
        };
        let req = GetRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        };
        // Only a missing task means "no task": any other error must not be read as an exit.
        let task = match c.tasks().get(c.request(req)).await {
            Ok(r) => r.into_inner().process,
            Err(e) if is_code(&e, Code::NotFound) => None,
            Err(e) => return Err(anyhow::anyhow!("cannot get the task of {id}: {}", e.message())),
        };
        self.container_info(&ctr, task.as_ref()).await
    }

    /// The state of `ctr` given its task (if any); `None` for containers that are not k1s's.
    async fn container_info(
        &self,
        ctr: &containerd_client::services::v1::Container,
        task: Option<&containerd_client::types::v1::Process>,
    ) -> anyhow::Result<Option<ContainerInfo>> {
        if !ctr.labels.contains_key(labels::POD_UID) {
            return Ok(None);
        }
        let started = || {
            ctr.labels
                .get(labels::STARTED_AT)
                .and_then(|v| v.parse::<Timestamp>().ok())
        };
        let state = match task {
            Some(t) => match TaskStatus::try_from(t.status).unwrap_or(TaskStatus::Unknown) {
                TaskStatus::Running | TaskStatus::Paused | TaskStatus::Pausing => {
                    self.spawn_waiter(&ctr.id);
                    ContainerRunState::Running {
                        started_at: started().unwrap_or_else(Timestamp::now),
                    }
                }
                TaskStatus::Stopped => {
                    let l = self
                        .record_exit(&ctr.id, t.exit_status, ts_from_proto(t.exited_at))
                        .await?;
                    l.as_ref().and_then(exited_state).unwrap_or(ContainerRunState::Created)
                }
                _ => {
                    if ctr.labels.contains_key(labels::STARTED_AT) {
                        self.spawn_waiter(&ctr.id);
                        ContainerRunState::Running {
                            started_at: started().unwrap_or_else(Timestamp::now),
                        }
                    } else {
                        ContainerRunState::Created
                    }
                }
            },
            None => match exited_state(&ctr.labels) {
                Some(s) => s,
                None if ctr.labels.contains_key(labels::STARTED_AT) => {
                    // Started, but the task is gone without an exit status (containerd state lost).
                    let l = self
                        .record_exit_with(&ctr.id, UNKNOWN_EXIT_CODE, None, Some("Unknown"))
                        .await?;
                    l.as_ref().and_then(exited_state).unwrap_or(ContainerRunState::Created)
                }
                None => ContainerRunState::Created,
            },
        };
        Ok(Some(info_from(ctr, state)))
    }
}

#[cfg(test)]
mod fallback_tests {
    use super::log_tail_message;

    #[test]
    fn log_tail_joins_partials_and_keeps_the_last_80_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut log = String::new();
        for i in 0..100 {
            log.push_str(&format!("2026-01-01T00:00:00.000000000Z stdout F line {i}\n"));
        }
        log.push_str("2026-01-01T00:00:00.000000000Z stderr P fat\n");
        log.push_str("2026-01-01T00:00:00.000000000Z stderr F al\n");
        std::fs::write(&path, log).unwrap();
        let msg = log_tail_message(&path);
        assert!(msg.ends_with("line 99\nfatal\n"), "{msg}");
        assert_eq!(msg.lines().count(), 80);
        assert!(msg.starts_with("line 21\n"), "{msg}");
        assert_eq!(log_tail_message(&dir.path().join("missing")), "");
    }
}
