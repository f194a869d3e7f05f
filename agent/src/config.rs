//! The agent's settings (flags of `k1s server` / `k1s agent`).

use std::net::IpAddr;
use std::path::PathBuf;

/// Everything the agent needs to know about its node and directories.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The node's name (`kubernetes.io/hostname`).
    pub node_name: String,
    /// The k1s data dir; the agent uses `pods/`, `run/`, `containerd/`, `images/`, `tls/` in it.
    pub data_dir: PathBuf,
    /// containerd's socket: k1s's own (`<data-dir>/containerd/containerd.sock`) or `--container-runtime-endpoint`.
    pub containerd_socket: PathBuf,
    /// Whether k1s starts and supervises containerd itself (false with `--container-runtime-endpoint`).
    pub manage_containerd: bool,
    /// The kubelet HTTPS port (logs, exec, attach, port-forward); 10250 by default.
    pub kubelet_port: u16,
    /// The address other components use to reach this node (InternalIP).
    pub node_ip: IpAddr,
    /// Where container logs go: `<pod_log_dir>/<ns>_<pod>_<uid>/<container>/<restart>.log`.
    pub pod_log_dir: PathBuf,
    /// The cluster DNS server written into pods' resolv.conf.
    pub cluster_dns: IpAddr,
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// The pod network (`--cluster-cidr`); this node's pods get addresses from `pod_cidr`.
    pub cluster_cidr: String,
    /// This node's pod range (a /24 of the cluster CIDR).
    pub pod_cidr: String,
    /// The Linux bridge the pods of this node attach to.
    pub cni_bridge: String,
    /// Where the CNI plugin binaries are (`/usr/lib/cni` on Debian).
    pub cni_bin_dir: PathBuf,
    /// Registries reached over plain HTTP besides localhost/127.0.0.1.
    pub insecure_registries: Vec<String>,
    /// The k1s executable (run by containerd's shim as the container log writer).
    pub k1s_binary: PathBuf,
    /// The cgroup (v1 or v2 path) under which pod cgroups are created (`/k1s`).
    pub cgroup_root: String,
    /// The node's resolver file (`--resolv-conf`, as the kubelet's): the cluster DNS
    /// forwards to its nameservers and pods' resolv.conf takes its search domains.
    pub resolv_conf: PathBuf,
    /// The Service range (`--service-cidr`).
    pub service_cidr: k1s_proto::cidr::Ipv4Cidr,
    /// The prefix of the service proxy's iptables chains (`K1S` → `K1S-SERVICES`, `K1S-SVC-…`).
    pub proxy_chain_prefix: String,
    /// The iptables back end of the service proxy (`--iptables-backend`); `None`
    /// (auto) picks it as kube-proxy does (see [`crate::proxy::iptables::choose_backend`]).
    pub iptables_backend: Option<crate::proxy::iptables::Backend>,
}

impl AgentConfig {
    /// `<data-dir>/pods`: per-pod volumes and files (hosts, resolv.conf, hostname).
    pub fn pods_dir(&self) -> PathBuf {
        self.data_dir.join("pods")
    }

    /// `<data-dir>/run`: network namespace bind mounts, FIFOs.
    pub fn run_dir(&self) -> PathBuf {
        self.data_dir.join("run")
    }

    /// `<data-dir>/images`: archives imported at start (air-gap).
    pub fn airgap_images_dir(&self) -> PathBuf {
        self.data_dir.join("images")
    }
}

/// The address this node is reached at: the source address the kernel picks for
/// outside traffic (a UDP `connect` sends nothing), else loopback.
pub fn detect_node_ip() -> IpAddr {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// The longest chain-name prefix: `<prefix>-SVC-<16 hash chars>` stays within
/// iptables' 28 characters.
pub const MAX_CHAIN_PREFIX_LEN: usize = 7;

/// Checks a `--proxy-chain-prefix`: 1–7 upper-case letters or digits, starting with a letter.
pub fn check_chain_prefix(prefix: &str) -> anyhow::Result<()> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_CHAIN_PREFIX_LEN
        && prefix.starts_with(|c: char| c.is_ascii_uppercase())
        && prefix.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !ok {
        anyhow::bail!(
            "chain prefix {prefix:?} must be 1-{MAX_CHAIN_PREFIX_LEN} upper-case letters or digits, starting with a letter"
        );
    }
    Ok(())
}

/// Parses `--iptables-backend`: `auto` (None), `nft` or `legacy`.
pub fn parse_iptables_backend(value: &str) -> anyhow::Result<Option<crate::proxy::iptables::Backend>> {
    use crate::proxy::iptables::Backend;
    match value {
        "auto" => Ok(None),
        "nft" => Ok(Some(Backend::Nft)),
        "legacy" => Ok(Some(Backend::Legacy)),
        other => anyhow::bail!("--iptables-backend {other:?} must be auto, nft or legacy"),
    }
}

/// The first /24 of a cluster CIDR such as `10.42.0.0/16` (this node's pod range).
pub fn first_pod_subnet(cluster_cidr: &str) -> Option<String> {
    let (addr, bits) = cluster_cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    if bits > 24 {
        return None;
    }
    let o = ip.octets();
    Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_subnet_is_the_first_24() {
        assert_eq!(first_pod_subnet("10.42.0.0/16").as_deref(), Some("10.42.0.0/24"));
        assert_eq!(first_pod_subnet("10.42.7.0/24").as_deref(), Some("10.42.7.0/24"));
        assert_eq!(first_pod_subnet("10.42.0.0/25"), None);
        assert_eq!(first_pod_subnet("nonsense"), None);
    }

    #[test]
    fn chain_prefixes() {
        for (p, ok) in [
            ("K1S", true),
            ("K1S250", true),
            ("KUBEK1S", true),
            ("K1S2500", true),
            ("K1S25000", false),
            ("", false),
            ("k1s", false),
            ("1KS", false),
            ("K1S-", false),
        ] {
            assert_eq!(check_chain_prefix(p).is_ok(), ok, "{p}");
        }
    }

    #[test]
    fn iptables_backends() {
        use crate::proxy::iptables::Backend;
        assert_eq!(parse_iptables_backend("auto").unwrap(), None);
        assert_eq!(parse_iptables_backend("nft").unwrap(), Some(Backend::Nft));
        assert_eq!(parse_iptables_backend("legacy").unwrap(), Some(Backend::Legacy));
        assert!(parse_iptables_backend("xtables").is_err());
    }

    #[test]
    fn node_ip_is_never_unspecified() {
        assert!(!detect_node_ip().is_unspecified());
    }
}
