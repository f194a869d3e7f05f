//! The init process of a pod's shared PID namespace (`shareProcessNamespace`):
//! `k1s pause` forks a child that is PID 1 of a new PID namespace, prints its
//! host pid and exits; the child reaps orphans until it is killed.

use std::path::Path;

use anyhow::Context;
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};

/// The subcommand name (`k1s pause`).
pub const SUBCOMMAND: &str = "pause";

/// Entry point of `k1s pause` (called before any async runtime or thread starts).
pub fn run() -> anyhow::Result<()> {
    unshare(CloneFlags::CLONE_NEWPID).context("cannot create a PID namespace")?;
    // SAFETY: called from the single-threaded `k1s pause` process; the child only
    // makes async-signal-safe calls (setsid, dup2, close, waitpid, nanosleep).
    match unsafe { fork() }.context("fork failed")? {
        ForkResult::Parent { child } => {
            println!("{child}");
            Ok(())
        }
        ForkResult::Child => {
            let _ = nix::unistd::setsid();
            // SAFETY: plain fd operations on the child's own descriptors.
            unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    libc::dup2(null, 0);
                    libc::dup2(null, 1);
                    libc::dup2(null, 2);
                    if null > 2 {
                        libc::close(null);
                    }
                }
            }
            loop {
                if waitpid(None, None).is_err() {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
        }
    }
}

/// Starts `k1s pause` and returns the host pid of the namespace's init process.
pub async fn spawn(k1s_binary: &Path) -> anyhow::Result<i32> {
    let out = tokio::process::Command::new(k1s_binary)
        .arg(SUBCOMMAND)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {} {SUBCOMMAND}", k1s_binary.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{} {SUBCOMMAND} failed: {}",
            k1s_binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("k1s pause printed no pid")
}

/// Kills a pod's PID-namespace init (and so every process left in the namespace).
pub fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
}
