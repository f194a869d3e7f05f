//! Container resources: cgroup values as the kubelet computes them, and the
//! values `resourceFieldRef` (env and downwardAPI volumes) reads.

use std::collections::BTreeMap;
use std::path::Path;

use k1s_proto::quantity::Quantity as Q;
use k8s_openapi::api::core::v1::{Container, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::runtime::Resources;

/// The CFS period the kubelet uses (100 ms).
pub const CPU_PERIOD_US: u64 = 100_000;
/// The smallest `cpu.shares` the kubelet sets.
pub const MIN_SHARES: u64 = 2;
/// The smallest CFS quota the kubelet sets (1 ms).
pub const MIN_QUOTA_US: i64 = 1000;

/// What the node offers to pods: the limits of containers without their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAllocatable {
    /// CPU in millicores.
    pub cpu_milli: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
}

impl NodeAllocatable {
    /// Reads the machine: online CPUs, `MemTotal`, and the size of the filesystem holding `data_dir`.
    pub fn detect(data_dir: &Path) -> NodeAllocatable {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
            .map_or(0, |kb| kb * 1024);
        let ephemeral_storage = nix::sys::statvfs::statvfs(data_dir)
            .map(|s| (s.blocks() as i64).saturating_mul(s.fragment_size() as i64))
            .unwrap_or(0);
        NodeAllocatable {
            cpu_milli: cpus * 1000,
            memory,
            ephemeral_storage,
        }
    }
}

fn parse(q: Option<&Quantity>) -> Option<Q> {
    q.and_then(|q| Q::parse(&q.0).ok())
}

fn get<'a>(map: Option<&'a BTreeMap<String, Quantity>>, name: &str) -> Option<&'a Quantity> {
    map.and_then(|m| m.get(name))
}

/// `cpu.shares` for a CPU request in millicores (`MilliCPUToShares`).
pub fn milli_cpu_to_shares(milli: i64) -> u64 {
    if milli <= 0 {
        return MIN_SHARES;
    }
    ((milli as u64) * 1024 / 1000).max(MIN_SHARES)
}

/// The CFS quota for a CPU limit in millicores over `period` µs (`MilliCPUToQuota`); `None` when unlimited.
pub fn milli_cpu_to_quota(milli: i64, period: u64) -> Option<i64> {
    if milli <= 0 {
        return None;
    }
    Some((milli * period as i64 / 1000).max(MIN_QUOTA_US))
}

/// The cgroup values of a container: shares from requests.cpu, quota from
/// limits.cpu, memory limit from limits.memory.
pub fn cgroup_resources(container: &Container) -> Resources {
    let res = container.resources.as_ref();
    let requests = res.and_then(|r| r.requests.as_ref());
    let limits = res.and_then(|r| r.limits.as_ref());
    let cpu_request = parse(get(requests, "cpu"));
    let cpu_limit = parse(get(limits, "cpu"));
    // The API server defaults requests to limits; a pod created elsewhere may not have that.
    let shares_from = cpu_request.as_ref().or(cpu_limit.as_ref()).map_or(0, Q::as_milli);
    Resources {
        cpu_shares: milli_cpu_to_shares(shares_from),
        cpu_quota: cpu_limit.and_then(|q| milli_cpu_to_quota(q.as_milli(), CPU_PERIOD_US)),
        cpu_period: CPU_PERIOD_US,
        memory_limit: parse(get(limits, "memory")).map(|q| q.value()).filter(|v| *v > 0),
    }
}

/// The value of a `resourceFieldRef` for `container` (limits default to the node's
/// allocatable), as the kubelet renders it: rounded up in units of the divisor.
pub fn resource_field_value(
    sel: &ResourceFieldSelector,
    container: &Container,
    node: &NodeAllocatable,
) -> Result<String, String> {
    let res = container.resources.as_ref();
    let requests = res.and_then(|r| r.requests.as_ref());
    let limits = res.and_then(|r| r.limits.as_ref());
    let divisor = parse(sel.divisor.as_ref()).filter(|d| !d.is_zero());
    let resource = sel.resource.as_str();
    let (kind, quantity, default) = match resource {
        "limits.cpu" => ("cpu", get(limits, "cpu"), Some(node.cpu_milli)),
        "limits.memory" => ("bytes", get(limits, "memory"), Some(node.memory)),
        "limits.ephemeral-storage" => ("bytes", get(limits, "ephemeral-storage"), Some(node.ephemeral_storage)),
        "requests.cpu" => ("cpu", get(requests, "cpu"), None),
        "requests.memory" => ("bytes", get(requests, "memory"), None),
        "requests.ephemeral-storage" => ("bytes", get(requests, "ephemeral-storage"), None),
        r if r.starts_with("limits.hugepages-") || r.starts_with("requests.hugepages-") => {
            let (map, name) = match r.split_once('.') {
                Some(("limits", n)) => (limits, n),
                Some((_, n)) => (requests, n),
                None => (requests, r),
            };
            ("bytes", get(map, name), None)
        }
        _ => return Err(format!("unsupported container resource : {resource}")),
    };
    let q = parse(quantity);
    let value = if kind == "cpu" {
        let milli = q.map(|q| q.as_milli()).or(default).unwrap_or(0);
        let div = divisor.map_or(1000, |d| d.as_milli()).max(1);
        div_ceil(milli, div)
    } else {
        let bytes = q.map(|q| q.value()).or(default).unwrap_or(0);
        let div = divisor.map_or(1, |d| d.value()).max(1);
        div_ceil(bytes, div)
    };
    Ok(value.to_string())
}

fn div_ceil(a: i64, b: i64) -> i64 {
    (a as f64 / b as f64).ceil() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(resources: serde_json::Value) -> Container {
        serde_json::from_value(json!({"name": "c", "resources": resources})).unwrap()
    }

    const NODE: NodeAllocatable = NodeAllocatable {
        cpu_milli: 2000,
        memory: 4 * 1024 * 1024 * 1024,
        ephemeral_storage: 100_000_000_000,
    };

    #[test]
    fn shares_and_quota_like_kubelet() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(100), 102);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_quota(0, CPU_PERIOD_US), None);
        assert_eq!(milli_cpu_to_quota(5, CPU_PERIOD_US), Some(1000));
        assert_eq!(milli_cpu_to_quota(250, CPU_PERIOD_US), Some(25_000));
        assert_eq!(milli_cpu_to_quota(2000, CPU_PERIOD_US), Some(200_000));
    }

    #[test]
    fn cgroup_values_from_resources() {
        let c = container(json!({"requests": {"cpu": "250m", "memory": "64Mi"},
                                  "limits": {"cpu": "500m", "memory": "128Mi"}}));
        assert_eq!(
            cgroup_resources(&c),
            Resources {
                cpu_shares: 256,
                cpu_quota: Some(50_000),
                cpu_period: 100_000,
                memory_limit: Some(128 * 1024 * 1024)
            }
        );
        let best_effort = cgroup_resources(&container(json!({})));
        assert_eq!(best_effort.cpu_shares, 2);
        assert_eq!(best_effort.cpu_quota, None);
        assert_eq!(best_effort.memory_limit, None);
    }

    #[test]
    fn resource_field_refs() {
        let c = container(json!({"requests": {"cpu": "250m", "memory": "64Mi"},
                                  "limits": {"memory": "128Mi"}}));
        let sel = |r: &str, d: Option<&str>| ResourceFieldSelector {
            resource: r.into(),
            divisor: d.map(|d| Quantity(d.into())),
            container_name: None,
        };
        let v = |r, d| resource_field_value(&sel(r, d), &c, &NODE).unwrap();
        assert_eq!(v("requests.cpu", None), "1");
        assert_eq!(v("requests.cpu", Some("1m")), "250");
        assert_eq!(v("limits.cpu", None), "2");
        assert_eq!(v("limits.cpu", Some("1m")), "2000");
        assert_eq!(v("limits.memory", None), "134217728");
        assert_eq!(v("limits.memory", Some("1Mi")), "128");
        assert_eq!(v("requests.memory", Some("1Gi")), "1");
        assert_eq!(v("requests.ephemeral-storage", None), "0");
        assert_eq!(v("limits.ephemeral-storage", Some("1G")), "100");
        assert_eq!(
            resource_field_value(&sel("limits.gpu", None), &c, &NODE).unwrap_err(),
            "unsupported container resource : limits.gpu"
        );
    }
}
