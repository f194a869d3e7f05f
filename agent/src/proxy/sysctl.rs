//! The kernel setting the service proxy adds to the pod network's
//! (`network::node` turns on forwarding and bridge netfilter).

use tracing::warn;

use crate::network::node::{ensure_sysctl, sysctl_path};

/// `route_localnet` on the pod bridge once it exists, so node ports on 127.0.0.1
/// reach pods (kube-proxy sets it for all interfaces; k1s only for its bridge).
pub fn route_localnet(bridge: &str) {
    let name = format!("net.ipv4.conf.{bridge}.route_localnet");
    if sysctl_path(&name).exists() {
        if let Err(e) = ensure_sysctl(&name, "1") {
            warn!("{e:#}");
        }
    }
}
