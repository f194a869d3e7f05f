//! Service ClusterIP (`--service-cidr`, 10.43.0.0/16 by default) and NodePort
//! (30000–32767) allocation.
//!
//! Explicit requests are honoured or rejected with Kubernetes' messages;
//! automatic picks rotate through the range and never hand out the
//! addresses reserved for explicit use (the `kubernetes` Service's first
//! address, 10.43.0.1, and cluster DNS's tenth, 10.43.0.10).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::sync::{Mutex, MutexGuard};

use k1s_proto::cidr::Ipv4Cidr;
use serde_json::Value;

/// The service range when `--service-cidr` is not given (k3s's default).
pub const DEFAULT_SERVICE_CIDR: &str = "10.43.0.0/16";

/// [`DEFAULT_SERVICE_CIDR`], parsed.
pub fn default_service_cidr() -> Ipv4Cidr {
    Ipv4Cidr::new(Ipv4Addr::new(10, 43, 0, 0), 16).unwrap_or_else(|| unreachable!("/16 is a valid prefix"))
}

/// The first address of a service range: the `kubernetes` Service's ClusterIP.
pub fn kubernetes_service_ip(range: Ipv4Cidr) -> Ipv4Addr {
    range.nth(1).unwrap_or(range.network())
}

/// The tenth address of a service range: cluster DNS's ClusterIP (`--cluster-dns` default).
pub fn cluster_dns_ip(range: Ipv4Cidr) -> Ipv4Addr {
    range.nth(10).unwrap_or(range.network())
}

/// The node-port range (`--service-node-port-range` of kube-apiserver).
pub const NODE_PORT_RANGE: RangeInclusive<u16> = 30000..=32767;

/// Why an allocation failed, worded as Kubernetes' allocators word it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The requested value is taken.
    #[error("provided {0} is already allocated")]
    Allocated(&'static str),
    /// The requested value is outside the range.
    #[error("{0}")]
    OutOfRange(String),
    /// Nothing is left.
    #[error("range is full")]
    Full,
}

#[derive(Debug, Clone)]
struct State {
    net: u32,
    prefix: u8,
    ips: BTreeSet<u32>,
    ip_next: u32,
    reserved: Vec<u32>,
    ports: RangeInclusive<u16>,
    used_ports: BTreeSet<u16>,
    port_next: u16,
}

/// The allocation state, rebuilt from the stored Services at start.
#[derive(Debug)]
pub struct Allocators {
    state: Mutex<State>,
}

impl Default for Allocators {
    fn default() -> Self {
        Allocators::new(Ipv4Addr::new(10, 43, 0, 0), 16, NODE_PORT_RANGE)
    }
}

impl Allocators {
    /// An empty allocator over `net/prefix` (prefix 8–30) and the node-port range.
    pub fn new(net: Ipv4Addr, prefix: u8, ports: RangeInclusive<u16>) -> Allocators {
        let prefix = prefix.clamp(8, 30);
        let mask = u32::MAX << (32 - prefix);
        let net = u32::from(net) & mask;
        let reserved = [1u32, 10]
            .into_iter()
            .filter(|o| *o < (1 << (32 - prefix)) - 1)
            .map(|o| net + o)
            .collect();
        let port_next = *ports.start();
        Allocators {
            state: Mutex::new(State {
                net,
                prefix,
                ips: BTreeSet::new(),
                ip_next: 1,
                reserved,
                ports,
                used_ports: BTreeSet::new(),
                port_next,
            }),
        }
    }

    /// An empty allocator over a service range and the standard node-port range.
    pub fn for_range(range: Ipv4Cidr) -> Allocators {
        Allocators::new(range.network(), range.prefix(), NODE_PORT_RANGE)
    }

    /// Rebuilds the state over `range` from stored Services (their clusterIPs and nodePorts).
    pub fn rebuild<'a>(range: Ipv4Cidr, services: impl Iterator<Item = &'a Value>) -> Allocators {
        let alloc = Allocators::for_range(range);
        for svc in services {
            alloc.mark(svc);
        }
        alloc
    }

    /// A private copy of the current state, for dry runs: allocating from it
    /// checks and picks exactly as a real write would, and claims nothing.
    pub fn scratch_copy(&self) -> Allocators {
        Allocators {
            state: Mutex::new(self.lock().clone()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every change is one insert or remove).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks what a stored Service holds as taken (no checks: the store is the truth).
    fn mark(&self, svc: &Value) {
        let mut s = self.lock();
        for ip in service_ips(svc) {
            s.ips.insert(u32::from(ip));
        }
        for p in service_node_ports(svc) {
            s.used_ports.insert(p);
        }
    }

    /// The service range in CIDR notation, e.g. `10.43.0.0/16`.
    pub fn cidr(&self) -> String {
        let s = self.lock();
        format!("{}/{}", Ipv4Addr::from(s.net), s.prefix)
    }

    /// The node-port range, e.g. `30000-32767`.
    pub fn port_range(&self) -> String {
        let s = self.lock();
        format!("{}-{}", s.ports.start(), s.ports.end())
    }

    /// Allocates `ip`, or the next free address when `None`.
    pub fn allocate_ip(&self, ip: Option<Ipv4Addr>) -> Result<Ipv4Addr, AllocError> {
        let mut s = self.lock();
        let size = 1u32 << (32 - s.prefix);
        match ip {
            Some(ip) => {
                let n = u32::from(ip);
                if n <= s.net || n >= s.net + size - 1 {
                    return Err(AllocError::OutOfRange(format!(
                        "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}/{}",
                        Ipv4Addr::from(s.net),
                        s.prefix
                    )));
                }
                if !s.ips.insert(n) {
                    return Err(AllocError::Allocated("IP"));
                }
                Ok(ip)
            }
            None => {
                let usable = size - 2;
                for i in 0..usable {
                    let offset = (s.ip_next - 1 + i) % usable + 1;
                    let n = s.net + offset;
                    if s.reserved.contains(&n) || s.ips.contains(&n) {
                        continue;
                    }
                    s.ips.insert(n);
                    s.ip_next = offset % usable + 1;
                    return Ok(Ipv4Addr::from(n));
                }
                Err(AllocError::Full)
            }
        }
    }

    /// Frees an address.
    pub fn release_ip(&self, ip: Ipv4Addr) {
        self.lock().ips.remove(&u32::from(ip));
    }

    /// Whether an address is taken.
    pub fn ip_in_use(&self, ip: Ipv4Addr) -> bool {
        self.lock().ips.contains(&u32::from(ip))
    }

    /// Allocates node port `port`, or the next free one when `None`.
    pub fn allocate_port(&self, port: Option<u16>) -> Result<u16, AllocError> {
        let mut s = self.lock();
        match port {
            Some(p) => {
                if !s.ports.contains(&p) {
                    return Err(AllocError::OutOfRange(format!(
                        "provided port is not in the valid range. The range of valid ports is {}-{}",
                        s.ports.start(),
                        s.ports.end()
                    )));
                }
                if !s.used_ports.insert(p) {
                    return Err(AllocError::Allocated("port"));
                }
                Ok(p)
            }
            None => {
                let (start, end) = (*s.ports.start(), *s.ports.end());
                let count = u32::from(end - start) + 1;
                for i in 0..count {
                    let p = start + ((u32::from(s.port_next - start) + i) % count) as u16;
                    if s.used_ports.insert(p) {
                        s.port_next = if p == end { start } else { p + 1 };
                        return Ok(p);
                    }
                }
                Err(AllocError::Full)
            }
        }
    }

    /// Frees a node port.
    pub fn release_port(&self, port: u16) {
        self.lock().used_ports.remove(&port);
    }

    /// Whether a node port is taken.
    pub fn port_in_use(&self, port: u16) -> bool {
        self.lock().used_ports.contains(&port)
    }
}

/// The IPv4 cluster IPs a Service holds (not `None`).
pub fn service_ips(svc: &Value) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    let spec = &svc["spec"];
    let listed = spec["clusterIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for ip in spec["clusterIP"].as_str().into_iter().chain(listed) {
        if let Ok(ip) = ip.parse::<Ipv4Addr>() {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// The node ports a Service holds (its ports' and its health check's).
pub fn service_node_ports(svc: &Value) -> Vec<u16> {
    let spec = &svc["spec"];
    let mut out: Vec<u16> = spec["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["nodePort"].as_u64())
        .chain(spec["healthCheckNodePort"].as_u64())
        .filter_map(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scratch_copies_claim_nothing() {
        let a = Allocators::default();
        a.allocate_ip(Some(Ipv4Addr::new(10, 43, 0, 7))).unwrap();
        let scratch = a.scratch_copy();
        // The copy knows what is taken...
        assert_eq!(
            scratch.allocate_ip(Some(Ipv4Addr::new(10, 43, 0, 7))),
            Err(AllocError::Allocated("IP"))
        );
        // ...and what it hands out stays free in the original.
        let picked = scratch.allocate_ip(None).unwrap();
        let port = scratch.allocate_port(Some(30080)).unwrap();
        assert_eq!(a.allocate_ip(Some(picked)), Ok(picked));
        assert_eq!(a.allocate_port(Some(port)), Ok(port));
    }

    #[test]
    fn ips_explicit_auto_reserved() {
        let a = Allocators::default();
        let first = a.allocate_ip(None).unwrap();
        assert_eq!(
            first,
            Ipv4Addr::new(10, 43, 0, 2),
            "10.43.0.1 is reserved for explicit requests"
        );
        assert_eq!(
            a.allocate_ip(Some(Ipv4Addr::new(10, 43, 0, 1))).unwrap(),
            Ipv4Addr::new(10, 43, 0, 1)
        );
        assert_eq!(
            a.allocate_ip(Some(Ipv4Addr::new(10, 43, 0, 2))),
            Err(AllocError::Allocated("IP"))
        );
        assert_eq!(
            a.allocate_ip(Some(Ipv4Addr::new(10, 0, 0, 5))).unwrap_err().to_string(),
            "the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.43.0.0/16"
        );
        for _ in 0..7 {
            a.allocate_ip(None).unwrap();
        }
        // .3–.9 went; .10 is skipped.
        assert_eq!(a.allocate_ip(None).unwrap(), Ipv4Addr::new(10, 43, 0, 11));
    }

    #[test]
    fn tiny_range_exhausts_and_reuses() {
        let a = Allocators::new(Ipv4Addr::new(192, 168, 5, 0), 29, 30000..=30001); // .1–.6 usable, .1 reserved
        let got: Vec<_> = (0..5).map(|_| a.allocate_ip(None).unwrap()).collect();
        assert_eq!(got.len(), 5);
        assert_eq!(a.allocate_ip(None), Err(AllocError::Full));
        a.release_ip(got[2]);
        assert_eq!(a.allocate_ip(None).unwrap(), got[2]);
        assert_eq!(a.allocate_port(None).unwrap(), 30000);
        assert_eq!(a.allocate_port(None).unwrap(), 30001);
        assert_eq!(a.allocate_port(None), Err(AllocError::Full));
        a.release_port(30000);
        assert_eq!(a.allocate_port(None).unwrap(), 30000);
        assert_eq!(
            a.allocate_port(Some(30001)).unwrap_err().to_string(),
            "provided port is already allocated"
        );
        assert_eq!(
            a.allocate_port(Some(80)).unwrap_err().to_string(),
            "provided port is not in the valid range. The range of valid ports is 30000-30001"
        );
    }

    #[test]
    fn rebuild_marks_stored_services() {
        let svcs = [
            json!({"spec": {"clusterIP": "10.43.0.1", "clusterIPs": ["10.43.0.1"], "ports": [{"port": 443}]}}),
            json!({"spec": {"clusterIP": "10.43.0.7", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}),
            json!({"spec": {"clusterIP": "None"}}),
        ];
        let a = Allocators::rebuild(DEFAULT_SERVICE_CIDR.parse().unwrap(), svcs.iter());
        assert!(a.ip_in_use(Ipv4Addr::new(10, 43, 0, 1)));
        assert!(a.ip_in_use(Ipv4Addr::new(10, 43, 0, 7)));
        assert!(a.port_in_use(30080));
        assert_eq!(a.allocate_port(Some(30080)), Err(AllocError::Allocated("port")));
        assert_eq!(a.cidr(), "10.43.0.0/16");
    }

    #[test]
    fn a_small_service_range() {
        let a = Allocators::for_range("10.43.120.0/24".parse().unwrap());
        assert_eq!(a.cidr(), "10.43.120.0/24");
        assert_eq!(a.allocate_ip(None).unwrap(), Ipv4Addr::new(10, 43, 120, 2));
        assert_eq!(
            a.allocate_ip(Some(Ipv4Addr::new(10, 43, 120, 10))).unwrap(),
            Ipv4Addr::new(10, 43, 120, 10)
        );
        assert!(a.allocate_ip(Some(Ipv4Addr::new(10, 43, 0, 5))).is_err());
        assert_eq!(a.port_range(), "30000-32767");
        let range = "10.43.120.0/24".parse().unwrap();
        assert_eq!(kubernetes_service_ip(range), Ipv4Addr::new(10, 43, 120, 1));
        assert_eq!(cluster_dns_ip(range), Ipv4Addr::new(10, 43, 120, 10));
        assert_eq!(default_service_cidr().to_string(), DEFAULT_SERVICE_CIDR);
    }
}
