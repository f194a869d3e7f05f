//! Exec into containers (probes, hooks, `kubectl exec`) and attach to their stdin/TTY.
//!
//! Exec I/O goes through FIFOs under `<run-dir>/exec/<exec-id>/`. The agent opens
//! the read ends before the shim opens the write ends, and holds a write end of
//! its own until the process has been deleted (the shim has then flushed all
//! output), so readers see EOF exactly after the last byte.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use containerd_client::services::v1::{
    CloseIoRequest, DeleteProcessRequest, ExecProcessRequest, GetContainerRequest, KillRequest, ResizePtyRequest,
    StartRequest, WaitRequest,
};
use prost_types::Any;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::watch;

use super::types::{labels, ExecRequest};
use super::Runtime;
use crate::containerd::Containerd;

/// The `type_url` of an OCI process spec (exec).
pub const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";
/// Exec probe output kept (the kubelet reads at most 10 KiB).
pub const MAX_EXEC_SYNC_OUTPUT: usize = 10 << 10;

/// `exec_sync` ran out of time (the process was killed).
#[derive(Debug, thiserror::Error)]
#[error("command {command:?} timed out after {timeout:?}")]
pub struct ExecTimeout {
    /// The command.
    pub command: Vec<String>,
    /// The limit.
    pub timeout: Duration,
}

/// Resizes a TTY (of an exec process, or of the container itself for attach).
#[derive(Clone)]
pub struct Resizer {
    containerd: Containerd,
    container_id: String,
    exec_id: String,
}

impl Resizer {
    /// Sets the terminal size (columns, rows).
    pub async fn resize(&self, width: u16, height: u16) -> anyhow::Result<()> {
        let c = &self.containerd;
        let req = ResizePtyRequest {
            container_id: self.container_id.clone(),
            exec_id: self.exec_id.clone(),
            width: width as u32,
            height: height as u32,
        };
        c.tasks().resize_pty(c.request(req)).await.context("resize failed")?;
        Ok(())
    }
}

/// The stdin of an exec process. Shutting it down (or dropping it) sends EOF: the
/// shim holds a write end of the FIFO itself, so EOF needs an explicit `CloseIO`
/// after our last byte.
pub struct StdinWriter {
    pipe: Option<pipe::Sender>,
    close: Option<(Containerd, String, String)>,
}

impl StdinWriter {
    fn close_io(&mut self) {
        self.pipe = None;
        if let Some((c, id, exec_id)) = self.close.take() {
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                h.spawn(async move {
                    let req = CloseIoRequest {
                        container_id: id,
                        exec_id,
                        stdin: true,
                    };
                    let _ = c.tasks().close_io(c.request(req)).await;
                });
            }
        }
    }
}

impl Drop for StdinWriter {
    fn drop(&mut self) {
        self.close_io();
    }
}

impl tokio::io::AsyncWrite for StdinWriter {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.pipe.as_mut() {
            Some(p) => std::pin::Pin::new(p).poll_write(cx, buf),
            None => std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.pipe.as_mut() {
            Some(p) => std::pin::Pin::new(p).poll_flush(cx),
            None => std::task::Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.close_io();
        std::task::Poll::Ready(Ok(()))
    }
}

/// A running exec: take its streams, resize its TTY, wait for its exit code.
pub struct ExecProcess {
    /// The exec ID.
    pub exec_id: String,
    /// Its stdin (if requested); shut it down or drop it to send EOF.
    pub stdin: Option<StdinWriter>,
    /// Its stdout (the TTY output with `tty`).
    pub stdout: Option<pipe::Receiver>,
    /// Its stderr (never with `tty`).
    pub stderr: Option<pipe::Receiver>,
    resizer: Resizer,
    exit: watch::Receiver<Option<i32>>,
}

impl ExecProcess {
    /// A handle to resize the TTY.
    pub fn resizer(&self) -> Resizer {
        self.resizer.clone()
    }

    /// Sets the TTY size.
    pub async fn resize(&self, width: u16, height: u16) -> anyhow::Result<()> {
        self.resizer.resize(width, height).await
    }

    /// Waits for the exit code.
    pub async fn wait(&mut self) -> anyhow::Result<i32> {
        let r = self.exit.wait_for(|v| v.is_some()).await.context("exec process lost")?;
        Ok(r.unwrap_or(-1))
    }

    /// Kills the process (SIGKILL).
    pub async fn kill(&self) -> anyhow::Result<()> {
        let c = &self.resizer.containerd;
        let req = KillRequest {
            container_id: self.resizer.container_id.clone(),
            exec_id: self.exec_id.clone(),
            signal: libc::SIGKILL as u32,
            all: false,
        };
        c.tasks().kill(c.request(req)).await.context("kill failed")?;
        Ok(())
    }
}

/// The container's own stdin and TTY, for `kubectl attach`.
pub struct AttachIo {
    /// A writer on the container's stdin FIFO (when started with `stdin: true`).
    pub stdin: Option<pipe::Sender>,
    /// Whether the container has a TTY.
    pub tty: bool,
    /// Resizes the container's TTY.
    pub resizer: Resizer,
}

fn mkfifo(path: &Path) -> anyhow::Result<()> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .with_context(|| format!("mkfifo {}", path.display()))
}

/// A FIFO read end plus a write end held by us (see the module docs).
fn open_reader(path: &Path) -> anyhow::Result<(pipe::Receiver, File)> {
    mkfifo(path)?;
    let rx = pipe::OpenOptions::new()
        .open_receiver(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let keeper = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot open {} for writing", path.display()))?;
    Ok((rx, keeper))
}

fn new_exec_id() -> String {
    format!("exec-{}", uuid::Uuid::new_v4().simple())
}

impl Runtime {
    fn exec_dir(&self, exec_id: &str) -> PathBuf {
        self.inner.config.run_dir().join("exec").join(exec_id)
    }

    /// Starts an interactive exec; the returned process gives stdin/stdout/stderr streams, resize and wait.
    pub async fn exec(&self, id: &str, req: ExecRequest) -> anyhow::Result<ExecProcess> {
        let c = self.inner.containerd.clone();
        let container = c
            .containers()
            .get(c.request(GetContainerRequest { id: id.to_string() }))
            .await
            .with_context(|| format!("container {id} not found"))?
            .into_inner()
            .container
            .context("empty container")?;
        let spec: serde_json::Value = container
            .spec
            .as_ref()
            .map(|s| serde_json::from_slice(&s.value))
            .transpose()
            .context("container spec is not JSON")?
            .unwrap_or_default();
        let mut process = spec["process"].clone();
        process["args"] = serde_json::json!(req.command);
        process["terminal"] = serde_json::json!(req.tty);
        if let Some(p) = process.as_object_mut() {
            p.remove("consoleSize");
        }

        let exec_id = new_exec_id();
        let dir = self.exec_dir(&exec_id);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut keepers = Vec::new();
        let (mut stdout, mut stderr, mut stdin) = (None, None, None);
        let (mut stdout_path, mut stderr_path, mut stdin_path) = (String::new(), String::new(), String::new());
        if req.stdout || req.tty {
            let p = dir.join("stdout");
            let (rx, k) = open_reader(&p)?;
            stdout = Some(rx);
            keepers.push(k);
            stdout_path = p.to_string_lossy().into_owned();
        }
        if req.stderr && !req.tty {
            let p = dir.join("stderr");
            let (rx, k) = open_reader(&p)?;
            stderr = Some(rx);
            keepers.push(k);
            stderr_path = p.to_string_lossy().into_owned();
        }
        if req.stdin {
            let p = dir.join("stdin");
            mkfifo(&p)?;
            stdin = Some(StdinWriter {
                pipe: Some(
                    pipe::OpenOptions::new()
                        .read_write(true)
                        .open_sender(&p)
                        .with_context(|| format!("cannot open {}", p.display()))?,
                ),
                close: None,
            });
            stdin_path = p.to_string_lossy().into_owned();
        }

        let exec_req = ExecProcessRequest {
            container_id: id.to_string(),
            stdin: stdin_path,
            stdout: stdout_path,
            stderr: stderr_path,
            terminal: req.tty,
            spec: Some(Any {
                type_url: PROCESS_TYPE_URL.to_string(),
                value: serde_json::to_vec(&process)?,
            }),
            exec_id: exec_id.clone(),
        };
        if let Err(e) = c.tasks().exec(c.request(exec_req)).await {
            let _ = std::fs::remove_dir_all(&dir);
            anyhow::bail!("cannot exec in container {id}: {}", e.message());
        }
        let (tx, rx) = watch::channel(None);
        // Wait before Start, so a fast exit is never missed.
        let waiter = {
            let c = c.clone();
            let wait_req = WaitRequest {
                container_id: id.to_string(),
                exec_id: exec_id.clone(),
            };
            tokio::spawn(async move { c.tasks().wait(c.request(wait_req)).await })
        };
        tokio::task::yield_now().await;
        if let Err(e) = c
            .tasks()
            .start(c.request(StartRequest {
                container_id: id.to_string(),
                exec_id: exec_id.clone(),
            }))
            .await
        {
            waiter.abort();
            let del = DeleteProcessRequest {
                container_id: id.to_string(),
                exec_id: exec_id.clone(),
            };
            let _ = c.tasks().delete_process(c.request(del)).await;
            let _ = std::fs::remove_dir_all(&dir);
            anyhow::bail!("cannot start exec in container {id}: {}", e.message());
        }
        if let Some(s) = stdin.as_mut() {
            s.close = Some((c.clone(), id.to_string(), exec_id.clone()));
        }
        {
            let c = c.clone();
            let id = id.to_string();
            let exec_id = exec_id.clone();
            tokio::spawn(async move {
                let code = match waiter.await {
                    Ok(Ok(r)) => r.into_inner().exit_status as i32,
                    _ => -1,
                };
                let del = DeleteProcessRequest {
                    container_id: id,
                    exec_id,
                };
                let _ = c.tasks().delete_process(c.request(del)).await;
                drop(keepers);
                let _ = tx.send(Some(code));
                let _ = std::fs::remove_dir_all(&dir);
            });
        }
        Ok(ExecProcess {
            exec_id: exec_id.clone(),
            stdin,
            stdout,
            stderr,
            resizer: Resizer {
                containerd: c,
                container_id: id.to_string(),
                exec_id,
            },
            exit: rx,
        })
    }

    /// Runs a command to completion with a timeout (probes, hooks): exit code + combined output.
    /// A zero timeout means none (as CRI's `ExecSync`). On timeout the process is killed and
    /// an [`std::io::Error`] of kind `TimedOut` (wrapping an [`ExecTimeout`]) is returned.
    pub async fn exec_sync(&self, id: &str, command: &[String], timeout: Duration) -> anyhow::Result<(i32, Vec<u8>)> {
        let req = ExecRequest {
            command: command.to_vec(),
            tty: false,
            stdin: false,
            stdout: true,
            stderr: true,
        };
        let mut p = self.exec(id, req).await?;
        let out = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        for r in [p.stdout.take(), p.stderr.take()].into_iter().flatten() {
            let out = out.clone();
            readers.push(tokio::spawn(async move {
                let mut r = r;
                let mut buf = vec![0u8; 8192];
                loop {
                    match r.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut o = out.lock().await;
                            let room = MAX_EXEC_SYNC_OUTPUT.saturating_sub(o.len());
                            o.extend_from_slice(&buf[..n.min(room)]);
                        }
                    }
                }
            }));
        }
        let run = async {
            let code = p.wait().await?;
            for r in readers {
                let _ = r.await;
            }
            anyhow::Ok(code)
        };
        let limit = if timeout.is_zero() {
            Duration::from_secs(u32::MAX as u64)
        } else {
            timeout
        };
        let result = tokio::time::timeout(limit, run).await;
        match result {
            Ok(code) => {
                let code = code?;
                let out = std::mem::take(&mut *out.lock().await);
                Ok((code, out))
            }
            Err(_) => {
                let _ = p.kill().await;
                let e = ExecTimeout {
                    command: command.to_vec(),
                    timeout,
                };
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, e).into())
            }
        }
    }

    /// stdin of a container started with `stdin: true` + resize of its TTY (attach).
    pub async fn attach(&self, id: &str) -> anyhow::Result<AttachIo> {
        let c = self.inner.containerd.clone();
        let container = c
            .containers()
            .get(c.request(GetContainerRequest { id: id.to_string() }))
            .await
            .with_context(|| format!("container {id} not found"))?
            .into_inner()
            .container
            .context("empty container")?;
        let tty = container.labels.get(labels::TTY).map(|v| v == "true").unwrap_or(false);
        let has_stdin = container
            .labels
            .get(labels::STDIN)
            .map(|v| v == "true")
            .unwrap_or(false);
        let stdin = if has_stdin {
            let p = self.stdin_path(id);
            Some(
                pipe::OpenOptions::new()
                    .read_write(true)
                    .open_sender(&p)
                    .with_context(|| format!("cannot open the stdin of {id} ({})", p.display()))?,
            )
        } else {
            None
        };
        Ok(AttachIo {
            stdin,
            tty,
            resizer: Resizer {
                containerd: c,
                container_id: id.to_string(),
                exec_id: String::new(),
            },
        })
    }
}
