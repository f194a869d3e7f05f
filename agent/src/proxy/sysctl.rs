//! The kernel settings the service proxy needs.

use tracing::warn;

/// Sets a sysctl under `/proc/sys` (e.g. `net/ipv4/ip_forward`) to `value` unless it already is.
fn set(path: &str, value: &str) -> std::io::Result<()> {
    let full = std::path::Path::new("/proc/sys").join(path);
    if std::fs::read_to_string(&full).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&full, value)
}

/// Routing between pods and to DNAT'd service backends: forwarding on, and bridged
/// traffic through iptables (so replies of DNAT'd connections between pods on the
/// bridge are un-NATed), loading `br_netfilter` when its settings are missing.
pub fn enable_forwarding() {
    if let Err(e) = set("net/ipv4/ip_forward", "1") {
        warn!("cannot enable net.ipv4.ip_forward: {e}");
    }
    if !std::path::Path::new("/proc/sys/net/bridge").exists() {
        let _ = std::process::Command::new("modprobe").arg("br_netfilter").status();
    }
    if let Err(e) = set("net/bridge/bridge-nf-call-iptables", "1") {
        warn!("cannot enable net.bridge.bridge-nf-call-iptables: {e}");
    }
}

/// `route_localnet` on the pod bridge once it exists, so node ports on 127.0.0.1
/// reach pods (kube-proxy sets it for all interfaces; k1s only for its bridge).
pub fn route_localnet(bridge: &str) {
    let path = format!("net/ipv4/conf/{bridge}/route_localnet");
    if std::path::Path::new("/proc/sys").join(&path).exists() {
        if let Err(e) = set(&path, "1") {
            warn!("cannot set {path}: {e}");
        }
    }
}
