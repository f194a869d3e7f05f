//! Node setup for the pod network at agent start: IP forwarding, bridged
//! traffic through iptables (br_netfilter), and the pod bridge with its gateway
//! address, so services on the gateway (cluster DNS) can bind before the first pod.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tracing::{info, warn};

use super::conf::{gateway, prefix_len};

/// The file behind a sysctl name (`net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`).
pub fn sysctl_path(name: &str) -> PathBuf {
    Path::new("/proc/sys").join(name.replace('.', "/"))
}

/// Sets a sysctl if it has another value; returns whether it changed.
pub fn ensure_sysctl(name: &str, value: &str) -> anyhow::Result<bool> {
    let path = sysctl_path(name);
    let current = std::fs::read_to_string(&path).with_context(|| format!("cannot read sysctl {name}"))?;
    if current.trim() == value {
        return Ok(false);
    }
    std::fs::write(&path, value).with_context(|| format!("cannot set sysctl {name}={value}"))?;
    info!(sysctl = name, value, "sysctl set");
    Ok(true)
}

/// What pod traffic needs from the kernel: `net.ipv4.ip_forward=1`, and
/// br_netfilter with `net.bridge.bridge-nf-call-iptables=1` so bridged traffic
/// between pods passes the service rules (and replies to DNAT'd packets are un-NATed).
pub async fn enable_forwarding() -> anyhow::Result<()> {
    ensure_sysctl("net.ipv4.ip_forward", "1")?;
    if !sysctl_path("net.bridge").is_dir() {
        let status = tokio::process::Command::new("modprobe")
            .arg("br_netfilter")
            .status()
            .await
            .context("cannot run modprobe br_netfilter")?;
        if !status.success() {
            anyhow::bail!("modprobe br_netfilter exited with {status}");
        }
    }
    ensure_sysctl("net.bridge.bridge-nf-call-iptables", "1")?;
    if sysctl_path("net.bridge.bridge-nf-call-ip6tables").exists() {
        ensure_sysctl("net.bridge.bridge-nf-call-ip6tables", "1")?;
    }
    Ok(())
}

async fn ip(args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .context("cannot run ip")?;
    if !out.status.success() {
        anyhow::bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The bridge's fixed MAC, derived from its address (`0a:58` + the IPv4 octets,
/// the CNI convention). A bridge without a set MAC takes its lowest port's, which
/// changes as pods come and go and fails the bridge plugin's CHECK.
pub fn bridge_mac(gw: Ipv4Addr) -> String {
    let o = gw.octets();
    format!("0a:58:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// Creates the pod bridge if missing (with a fixed MAC), gives it the gateway
/// address of the pod CIDR (`10.42.0.1/24`, what the bridge plugin with
/// `isGateway` would set) and brings it up.
pub async fn ensure_bridge(bridge: &str, pod_cidr: &str) -> anyhow::Result<()> {
    let gw = gateway(pod_cidr).with_context(|| format!("invalid pod CIDR {pod_cidr}"))?;
    let bits = prefix_len(pod_cidr).with_context(|| format!("invalid pod CIDR {pod_cidr}"))?;
    let mac = bridge_mac(gw);
    let link = Path::new("/sys/class/net").join(bridge);
    if !link.exists() {
        ip(&["link", "add", "name", bridge, "address", &mac, "type", "bridge"]).await?;
        info!(bridge, "pod bridge created");
    } else if !link.join("bridge").is_dir() {
        anyhow::bail!("{bridge} exists and is not a bridge");
    } else {
        let assigned = std::fs::read_to_string(link.join("addr_assign_type")).unwrap_or_default();
        let ports = std::fs::read_dir(link.join("brif")).map(|d| d.count()).unwrap_or(0);
        // Only a bridge with no pods on it: changing the gateway MAC under them would
        // leave stale neighbour entries in their namespaces.
        if assigned.trim() != "3" && ports == 0 {
            ip(&["link", "set", "dev", bridge, "address", &mac]).await?;
        }
    }
    let addr = format!("{gw}/{bits}");
    let current = ip(&["-4", "-o", "addr", "show", "dev", bridge]).await?;
    if !current.split_whitespace().any(|w| w == addr) {
        ip(&["addr", "add", &addr, "dev", bridge]).await?;
    }
    ip(&["link", "set", bridge, "up"]).await?;
    Ok(())
}

/// Everything above; failures are logged (pods may still work on a node set up by hand).
pub async fn setup(bridge: &str, pod_cidr: &str) {
    if let Err(e) = enable_forwarding().await {
        warn!("pod network: {e:#}");
    }
    if let Err(e) = ensure_bridge(bridge, pod_cidr).await {
        warn!("pod network: {e:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            Path::new("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("net.bridge.bridge-nf-call-iptables"),
            Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables")
        );
    }

    #[test]
    fn bridge_macs() {
        assert_eq!(bridge_mac(Ipv4Addr::new(10, 42, 0, 1)), "0a:58:0a:2a:00:01");
        assert_eq!(bridge_mac(Ipv4Addr::new(10, 42, 250, 1)), "0a:58:0a:2a:fa:01");
    }
}
