//! The bridge plugin's `ipMasq` rules of one attachment (a `CNI-<hash>` chain in
//! the nat table and a POSTROUTING jump to it per pod address). The plugin removes
//! them on DEL only when it can still see the pod's interface; when the
//! namespace is already gone, k1s removes them itself, by their exact names.
//! k1s's list no longer sets `ipMasq` (the proxy's node-wide rule masquerades pod
//! egress); only attachments an older k1s made, whose cached list has it, have them.

use std::net::IpAddr;

use tracing::{debug, info};

/// The chain the bridge plugin names after the network and container
/// (`CNI-` + the first 24 hex digits of SHA-512(name + id)).
pub fn chain_name(network: &str, container_id: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, format!("{network}{container_id}").as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("CNI-{}", &hex[..24])
}

/// The comment on the plugin's rules (`name: "k1s" id: "<id>"`).
pub fn comment(network: &str, container_id: &str) -> String {
    format!("name: \"{network}\" id: \"{container_id}\"")
}

async fn iptables(args: &[&str]) -> bool {
    match tokio::process::Command::new("iptables").args(args).output().await {
        Ok(out) => {
            if !out.status.success() {
                debug!(
                    "iptables {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            out.status.success()
        }
        Err(e) => {
            debug!("cannot run iptables: {e}");
            false
        }
    }
}

/// Removes the attachment's masquerade jump(s) and chain, if present.
pub async fn teardown(network: &str, container_id: &str, ips: &[IpAddr]) {
    let chain = chain_name(network, container_id);
    let comment = comment(network, container_id);
    let mut removed = false;
    for ip in ips.iter().filter(|ip| ip.is_ipv4()) {
        let src = ip.to_string();
        removed |= iptables(&[
            "-w",
            "-t",
            "nat",
            "-D",
            "POSTROUTING",
            "-s",
            &src,
            "-j",
            &chain,
            "-m",
            "comment",
            "--comment",
            &comment,
        ])
        .await;
    }
    if iptables(&["-w", "-t", "nat", "-F", &chain]).await {
        removed |= iptables(&["-w", "-t", "nat", "-X", &chain]).await;
    }
    if removed {
        info!(
            container = container_id,
            chain, "removed the masquerade rules of a pod whose namespace is gone"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_the_plugin_makes_them() {
        // printf k1sabc | sha512sum | cut -c1-24
        let c = chain_name("k1s", "abc");
        assert_eq!(c, "CNI-30bf49a0a5cdba02f3ce1190");
        assert_ne!(c, chain_name("k1s", "abd"));
        assert_eq!(comment("k1s", "abc"), r#"name: "k1s" id: "abc""#);
    }
}
