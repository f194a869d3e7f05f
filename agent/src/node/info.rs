//! Facts about this machine for the Node object: capacity, allocatable,
//! addresses, labels and `nodeInfo`, read from /proc, /sys and /etc.

use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Map, Value};

/// Pods a node accepts (the kubelet's `maxPods` default).
pub const MAX_PODS: u64 = 110;
/// The kubelet's default hard eviction threshold for memory (`memory.available<100Mi`).
const EVICTION_MEMORY_BYTES: u64 = 100 * 1024 * 1024;
/// The kubelet's default hard eviction threshold for the node filesystem (`nodefs.available<10%`).
const EVICTION_NODEFS_PERCENT: u64 = 10;

/// The machine as the Node object describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineInfo {
    /// Logical CPUs.
    pub cpus: u64,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Size of the filesystem holding the data dir, in bytes.
    pub ephemeral_storage_bytes: u64,
    /// `uname -r`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of /etc/os-release.
    pub os_image: String,
    /// Go's name of this architecture (`amd64`, `arm64`, `arm`).
    pub architecture: String,
    /// /etc/machine-id.
    pub machine_id: String,
    /// The DMI product UUID (else the machine ID).
    pub system_uuid: String,
    /// This boot's ID.
    pub boot_id: String,
}

/// Go's `GOARCH` name for the architecture Rust was built for.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `MemTotal` of /proc/meminfo in bytes.
fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `PRETTY_NAME` of an os-release file.
fn parse_pretty_name(os_release: &str) -> Option<String> {
    let line = os_release.lines().find(|l| l.starts_with("PRETTY_NAME="))?;
    Some(line["PRETTY_NAME=".len()..].trim_matches('"').to_string())
}

impl MachineInfo {
    /// Reads the machine; `data_dir` names the filesystem whose size is ephemeral storage.
    pub fn read(data_dir: &Path) -> MachineInfo {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1);
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| parse_mem_total(&m))
            .unwrap_or(0);
        let ephemeral_storage_bytes = nix::sys::statvfs::statvfs(data_dir)
            .map(|s| s.blocks() * s.fragment_size())
            .unwrap_or(0);
        let kernel_version = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let os_image = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| parse_pretty_name(&s))
            .unwrap_or_else(|| "Linux".into());
        let machine_id = read_trimmed("/etc/machine-id");
        let product_uuid = read_trimmed("/sys/class/dmi/id/product_uuid");
        MachineInfo {
            cpus,
            memory_bytes,
            ephemeral_storage_bytes,
            kernel_version,
            os_image,
            architecture: go_arch().to_string(),
            system_uuid: if product_uuid.is_empty() {
                machine_id.clone()
            } else {
                product_uuid
            },
            machine_id,
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        }
    }

    /// `status.capacity`.
    pub fn capacity(&self) -> Value {
        json!({
            "cpu": self.cpus.to_string(),
            "ephemeral-storage": format!("{}Ki", self.ephemeral_storage_bytes / 1024),
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "memory": format!("{}Ki", self.memory_bytes / 1024),
            "pods": MAX_PODS.to_string(),
        })
    }

    /// `status.allocatable`: capacity minus the kubelet's default hard eviction
    /// thresholds (no system/kube reservations, as on a default kubelet).
    pub fn allocatable(&self) -> Value {
        let memory = self.memory_bytes.saturating_sub(EVICTION_MEMORY_BYTES);
        let storage = self.ephemeral_storage_bytes - self.ephemeral_storage_bytes * EVICTION_NODEFS_PERCENT / 100;
        json!({
            "cpu": self.cpus.to_string(),
            "ephemeral-storage": storage.to_string(),
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "memory": format!("{}Ki", memory / 1024),
            "pods": MAX_PODS.to_string(),
        })
    }

    /// `status.nodeInfo`; `runtime_version` is containerd's (`containerd://1.6.20`).
    pub fn node_info(&self, runtime_version: &str, kubelet_version: &str) -> Value {
        json!({
            "architecture": self.architecture,
            "bootID": self.boot_id,
            "containerRuntimeVersion": runtime_version,
            "kernelVersion": self.kernel_version,
            "kubeProxyVersion": "",
            "kubeletVersion": kubelet_version,
            "machineID": self.machine_id,
            "operatingSystem": "linux",
            "osImage": self.os_image,
            "systemUUID": self.system_uuid,
        })
    }
}

/// The labels a kubelet (and k3s) puts on its node.
pub fn node_labels(node_name: &str) -> Map<String, Value> {
    let arch = go_arch();
    let mut labels = Map::new();
    for (k, v) in [
        ("beta.kubernetes.io/arch", arch),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch),
        ("kubernetes.io/hostname", node_name),
        ("kubernetes.io/os", "linux"),
        ("node-role.kubernetes.io/control-plane", "true"),
        ("node.kubernetes.io/instance-type", "k1s"),
    ] {
        labels.insert(k.into(), Value::String(v.into()));
    }
    labels
}

/// `status.addresses`: the InternalIP and the Hostname.
pub fn node_addresses(node_ip: IpAddr, hostname: &str) -> Value {
    json!([
        {"type": "InternalIP", "address": node_ip.to_string()},
        {"type": "Hostname", "address": hostname},
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let m = "MemTotal:       24579164 kB\nMemFree:        20000000 kB\n";
        assert_eq!(parse_mem_total(m), Some(24579164 * 1024));
        assert_eq!(parse_mem_total("nothing"), None);
    }

    #[test]
    fn pretty_name_is_unquoted() {
        let r = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(parse_pretty_name(r).as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
    }

    #[test]
    fn allocatable_subtracts_eviction_thresholds() {
        let m = MachineInfo {
            cpus: 2,
            memory_bytes: 1024 * 1024 * 1024,
            ephemeral_storage_bytes: 1000 * 1024,
            kernel_version: String::new(),
            os_image: String::new(),
            architecture: "amd64".into(),
            machine_id: String::new(),
            system_uuid: String::new(),
            boot_id: String::new(),
        };
        let a = m.allocatable();
        assert_eq!(a["memory"], "946176Ki");
        assert_eq!(a["ephemeral-storage"], "921600");
        assert_eq!(a["cpu"], "2");
        assert_eq!(m.capacity()["ephemeral-storage"], "1000Ki");
    }

    #[test]
    fn labels_name_the_node_and_role() {
        let l = node_labels("pi");
        assert_eq!(l["kubernetes.io/hostname"], "pi");
        assert_eq!(l["node-role.kubernetes.io/control-plane"], "true");
        assert_eq!(l["kubernetes.io/os"], "linux");
    }
}
