//! k1s's own containerd: writes its config under `<data-dir>/containerd/`,
//! runs `/usr/bin/containerd`, waits until its socket answers, restarts it
//! (with back-off) when it dies, and stops it gracefully on shutdown.
//!
//! Running containers do not depend on containerd staying up: each pod's
//! runc shim is a separate, daemonised process, so containerd (or k1s)
//! stopping leaves the containers running, and a new containerd re-attaches
//! to the shims. If a containerd already serves the socket (k1s was killed
//! while containerd lived on), it is reused.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};
use tokio::sync::{watch, Mutex};
use tracing::{info, warn};

use super::Containerd;

/// How k1s runs its containerd.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// The containerd binary (`/usr/bin/containerd`).
    pub binary: PathBuf,
    /// `<data-dir>/containerd`: config, root, state, socket and log live here.
    pub dir: PathBuf,
}

impl SupervisorConfig {
    /// The defaults for a data dir.
    pub fn new(data_dir: &Path) -> SupervisorConfig {
        SupervisorConfig {
            binary: PathBuf::from("/usr/bin/containerd"),
            dir: data_dir.join("containerd"),
        }
    }

    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    /// containerd's config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// containerd's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("containerd.log")
    }

    /// The pid file k1s writes for the containerd it started (for cleanup by tests and tools).
    pub fn pid_path(&self) -> PathBuf {
        self.dir.join("containerd.pid")
    }

    /// The config.toml content (version 2).
    pub fn config_toml(&self) -> String {
        let d = self.dir.display();
        format!(
            r#"# Written by k1s; changes are overwritten at start.
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = "{d}/debug.sock"
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{d}/opt"
"#
        )
    }
}

/// A running, supervised containerd.
pub struct Supervisor {
    config: SupervisorConfig,
    containerd: Containerd,
    stop: watch::Sender<bool>,
    child: Arc<Mutex<Option<Child>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Asks the socket for containerd's version (a quick liveness check).
pub async fn ping(socket: &Path) -> anyhow::Result<String> {
    if !socket.exists() {
        anyhow::bail!("{} does not exist", socket.display());
    }
    let c = tokio::time::timeout(Duration::from_secs(2), Containerd::connect(socket))
        .await
        .context("timed out connecting to containerd")??;
    let v = tokio::time::timeout(Duration::from_secs(2), c.version().version(()))
        .await
        .context("timed out asking containerd's version")?
        .context("containerd's Version call failed")?;
    Ok(v.into_inner().version)
}

async fn spawn(config: &SupervisorConfig) -> anyhow::Result<Child> {
    std::fs::create_dir_all(&config.dir).with_context(|| format!("cannot create {}", config.dir.display()))?;
    std::fs::write(config.config_path(), config.config_toml())
        .with_context(|| format!("cannot write {}", config.config_path().display()))?;
    let _ = std::fs::remove_file(config.socket());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.log_path())
        .with_context(|| format!("cannot open {}", config.log_path().display()))?;
    let log2 = log.try_clone()?;
    let mut cmd = Command::new(&config.binary);
    cmd.arg("--config")
        .arg(config.config_path())
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        // Its own process group: a Ctrl-C meant for k1s must not kill containerd before
        // k1s stops it in order.
        .process_group(0)
        .kill_on_drop(false);
    let child = cmd.spawn().with_context(|| {
        format!(
            "cannot start {} (is the containerd package installed?)",
            config.binary.display()
        )
    })?;
    if let Some(pid) = child.id() {
        let _ = std::fs::write(config.pid_path(), format!("{pid}\n"));
    }
    Ok(child)
}

async fn wait_ready(config: &SupervisorConfig, child: &mut Child) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(v) = ping(&config.socket()).await {
            return Ok(v);
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "containerd exited with {status} before it was ready; see {}",
                config.log_path().display()
            );
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "containerd did not answer on {} within 30s; see {}",
                config.socket().display(),
                config.log_path().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Supervisor {
    /// Starts containerd (or reuses one already serving the socket) and supervises it.
    pub async fn start(config: SupervisorConfig) -> anyhow::Result<Supervisor> {
        let socket = config.socket();
        let child = match ping(&socket).await {
            Ok(v) => {
                info!(version = %v, socket = %socket.display(), "reusing the running containerd");
                None
            }
            Err(_) => {
                let mut child = spawn(&config).await?;
                let v = wait_ready(&config, &mut child).await?;
                info!(version = %v, socket = %socket.display(), "containerd started");
                Some(child)
            }
        };
        let containerd = Containerd::connect(&socket).await?;
        let (stop, stop_rx) = watch::channel(false);
        let child = Arc::new(Mutex::new(child));
        let task = tokio::spawn(supervise(config.clone(), child.clone(), stop_rx));
        Ok(Supervisor {
            config,
            containerd,
            stop,
            child,
            task: Mutex::new(Some(task)),
        })
    }

    /// The connection to the supervised containerd.
    pub fn containerd(&self) -> Containerd {
        self.containerd.clone()
    }

    /// The socket path.
    pub fn socket(&self) -> PathBuf {
        self.config.socket()
    }

    /// Stops supervising and sends containerd SIGTERM, waiting up to 10 s (then SIGKILL).
    /// Containers keep running in their shims.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
        let mut guard = self.child.lock().await;
        let pid = match guard.as_ref().and_then(|c| c.id()) {
            Some(pid) => Some(pid as i32),
            // Reused containerd: stop it too, it belongs to this data dir.
            None => std::fs::read_to_string(self.config.pid_path())
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok()),
        };
        let Some(pid) = pid else { return };
        let target = nix::unistd::Pid::from_raw(pid);
        if nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM).is_err() {
            return;
        }
        if let Some(child) = guard.as_mut() {
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                warn!("containerd did not stop within 10s after SIGTERM; killing it");
                let _ = child.kill().await;
            }
        } else {
            for _ in 0..200 {
                if nix::sys::signal::kill(target, None).is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        *guard = None;
        let _ = std::fs::remove_file(self.config.pid_path());
    }
}

async fn supervise(config: SupervisorConfig, child: Arc<Mutex<Option<Child>>>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        // Watch the child (or, for a reused containerd, poll the socket).
        let died = {
            let has_child = child.lock().await.is_some();
            if has_child {
                let wait = async {
                    loop {
                        {
                            let mut g = child.lock().await;
                            match g.as_mut().map(|c| c.try_wait()) {
                                Some(Ok(Some(status))) => return format!("exited with {status}"),
                                Some(Err(e)) => return format!("cannot be waited for: {e}"),
                                None => return "is gone".to_string(),
                                Some(Ok(None)) => {}
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                };
                tokio::select! {
                    why = wait => why,
                    _ = stop.changed() => return,
                }
            } else {
                let poll = async {
                    let mut failures = 0;
                    loop {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        if ping(&config.socket()).await.is_ok() {
                            failures = 0;
                        } else {
                            failures += 1;
                            if failures >= 3 {
                                return "stopped answering".to_string();
                            }
                        }
                    }
                };
                tokio::select! {
                    why = poll => why,
                    _ = stop.changed() => return,
                }
            }
        };
        if *stop.borrow() {
            return;
        }
        warn!(
            "containerd {died}; restarting it in {backoff:?} (log: {})",
            config.log_path().display()
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        let started = tokio::time::Instant::now();
        match spawn(&config).await {
            Ok(mut c) => match wait_ready(&config, &mut c).await {
                Ok(v) => {
                    info!(version = %v, "containerd restarted");
                    *child.lock().await = Some(c);
                }
                Err(e) => {
                    warn!("{e:#}");
                    let _ = c.kill().await;
                    *child.lock().await = Some(c);
                }
            },
            Err(e) => warn!("{e:#}"),
        }
        backoff = if started.elapsed() > Duration::from_secs(60) {
            Duration::from_millis(500)
        } else {
            (backoff * 2).min(Duration::from_secs(30))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_everything_under_the_data_dir() {
        let c = SupervisorConfig::new(Path::new("/var/lib/k1s"));
        let toml = c.config_toml();
        assert!(toml.contains("root = \"/var/lib/k1s/containerd/root\""));
        assert!(toml.contains("state = \"/var/lib/k1s/containerd/state\""));
        assert!(toml.contains("address = \"/var/lib/k1s/containerd/containerd.sock\""));
        assert!(toml.contains("disabled_plugins = [\"io.containerd.grpc.v1.cri\"]"));
        assert!(toml.contains("path = \"/var/lib/k1s/containerd/opt\""));
        assert_eq!(c.socket(), Path::new("/var/lib/k1s/containerd/containerd.sock"));
    }
}
