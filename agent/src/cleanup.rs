//! `k1s server --cleanup`: removes what the node agent leaves on the machine
//! when it stops (running containers and their shims, pod sandboxes and their
//! network with its portmap rules and CNI state, k1s's containerd, the pod bridge,
//! the service proxy's iptables chains), for uninstalling and for tests.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tracing::{info, warn};

use crate::containerd::supervisor::{Supervisor, SupervisorConfig};
use crate::containerd::Containerd;
use crate::network::CniNetwork;
use crate::runtime::{ContainerRunState, Runtime};
use crate::AgentConfig;

/// Stops every pod container at once (no grace: the node is going away), removes
/// containers and sandboxes, stops k1s's own containerd and deletes the bridge.
pub async fn cleanup(config: AgentConfig) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let supervisor = if config.manage_containerd {
        // Reuses a containerd still serving the socket, or starts one to clean through.
        Some(
            Supervisor::start(SupervisorConfig::new(&config.data_dir))
                .await
                .context("cannot reach or start containerd to clean up")?,
        )
    } else {
        None
    };
    let containerd = match &supervisor {
        Some(s) => s.containerd(),
        None => Containerd::connect(&config.containerd_socket).await?,
    };
    let network = Arc::new(CniNetwork::from_config(&config)?);
    let runtime = Runtime::with_network(containerd, config.clone(), network.clone());
    let containers = runtime.list_containers().await.context("cannot list containers")?;
    for c in &containers {
        if matches!(c.state, ContainerRunState::Running { .. } | ContainerRunState::Created) {
            if let Err(e) = runtime.stop_container(&c.id, Duration::ZERO).await {
                warn!(container = %c.id, "cannot stop: {e:#}");
            }
        }
        if let Err(e) = runtime.remove_container(&c.id).await {
            warn!(container = %c.id, "cannot remove: {e:#}");
        }
    }
    let sandboxes = runtime.list_sandboxes().await.unwrap_or_default();
    for uid in &sandboxes {
        if let Err(e) = runtime.remove_sandbox(uid).await {
            warn!(pod_uid = %uid, "cannot remove the sandbox: {e:#}");
        }
    }
    // Attachments left without a sandbox (portmap and masquerade rules, addresses).
    network.cleanup().await;
    let unmounted = unmount_below(&config.data_dir);
    info!(
        containers = containers.len(),
        sandboxes = sandboxes.len(),
        unmounted,
        "pods removed"
    );
    if let Some(s) = supervisor {
        s.shutdown().await;
    }
    delete_bridge(&config.cni_bridge).await;
    crate::proxy::cleanup(&config)
        .await
        .context("cannot remove the service proxy's rules")?;
    Ok(())
}

/// Lazily unmounts every mount under `dir` (tmpfs volumes, namespace files),
/// deepest first; returns how many were unmounted.
fn unmount_below(dir: &std::path::Path) -> usize {
    let Ok(dir) = dir.canonicalize() else {
        return 0;
    };
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<std::path::PathBuf> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        // /proc/mounts escapes spaces and the like as octal (\040).
        .map(|p| std::path::PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(&dir) && *p != dir)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    let mut n = 0;
    for p in points {
        match nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => n += 1,
            Err(e) => warn!(mount = %p.display(), "cannot unmount: {e}"),
        }
    }
    n
}

/// Deletes the pod bridge if it exists.
async fn delete_bridge(name: &str) {
    let exists = std::path::Path::new("/sys/class/net").join(name).exists();
    if !exists {
        return;
    }
    match tokio::process::Command::new("ip")
        .args(["link", "delete", name])
        .status()
        .await
    {
        Ok(s) if s.success() => info!(bridge = name, "bridge deleted"),
        Ok(s) => warn!(bridge = name, "ip link delete exited with {s}"),
        Err(e) => warn!(bridge = name, "cannot run ip: {e}"),
    }
}
