//! The names the serving certificate must be valid for (its subject alternative names).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tracing::warn;

/// DNS names every k1s server answers to: localhost and the `kubernetes` Service.
const BUILTIN_DNS: [&str; 5] = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// The ClusterIP of the `kubernetes` Service in the default service range 10.43.0.0/16
/// (the server adds the one of its `--service-cidr`).
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 1);

/// Host names and addresses the serving certificate must name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectNames {
    /// DNS names, lower case.
    pub dns: BTreeSet<String>,
    /// IP addresses.
    pub ips: BTreeSet<IpAddr>,
}

impl SubjectNames {
    /// The names every k1s server has: localhost, the loopback addresses and the `kubernetes` Service.
    pub fn builtin() -> Self {
        let mut names = SubjectNames::default();
        for dns in BUILTIN_DNS {
            names.add(dns);
        }
        names.ips.insert(IpAddr::V4(Ipv4Addr::LOCALHOST));
        names.ips.insert(IpAddr::V6(Ipv6Addr::LOCALHOST));
        names.ips.insert(IpAddr::V4(KUBERNETES_SERVICE_IP));
        names
    }

    /// The built-in names plus this machine's host name and non-loopback addresses.
    pub fn detect() -> Self {
        let mut names = SubjectNames::builtin();
        match nix::unistd::gethostname() {
            Ok(host) => match host.to_str() {
                Some(host) if is_dns_name(host) => names.add(host),
                _ => {
                    warn!(hostname = ?host, "host name is not a DNS name; leaving it out of the serving certificate")
                }
            },
            Err(e) => warn!(error = %e, "cannot read the host name"),
        }
        match nix::ifaddrs::getifaddrs() {
            Ok(addrs) => {
                for ip in addrs.filter_map(|a| a.address).filter_map(|a| {
                    a.as_sockaddr_in()
                        .map(|v4| IpAddr::V4(v4.ip()))
                        .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
                }) {
                    if is_host_address(ip) {
                        names.ips.insert(ip);
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot list the network interfaces' addresses"),
        }
        names
    }

    /// Adds a name given as text: an IP address if it parses as one, else a DNS name.
    pub fn add(&mut self, name: &str) {
        match name.parse::<IpAddr>() {
            Ok(ip) => {
                self.ips.insert(ip);
            }
            Err(_) => {
                self.dns.insert(name.to_ascii_lowercase());
            }
        }
    }

    /// Whether every name in `self` is also in `other`.
    pub fn is_covered_by(&self, other: &SubjectNames) -> bool {
        self.dns.is_subset(&other.dns) && self.ips.is_subset(&other.ips)
    }
}

/// Whether a host name can stand in a certificate as a DNS name.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether an interface address is one clients can reach this host on (not loopback, not link-local IPv6).
fn is_host_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified(),
        // fe80::/10 addresses need a zone (interface) to be used; no client puts one in a URL.
        IpAddr::V6(v6) => !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names() {
        let names = SubjectNames::builtin();
        for dns in BUILTIN_DNS {
            assert!(names.dns.contains(dns), "{dns}");
        }
        for ip in ["127.0.0.1", "::1", "10.43.0.1"] {
            assert!(names.ips.contains(&ip.parse::<IpAddr>().unwrap()), "{ip}");
        }
    }

    #[test]
    fn detect_adds_host_names_and_addresses() {
        let names = SubjectNames::detect();
        assert!(SubjectNames::builtin().is_covered_by(&names));
        let host = nix::unistd::gethostname().unwrap();
        let host = host.to_str().unwrap();
        if is_dns_name(host) {
            assert!(names.dns.contains(&host.to_ascii_lowercase()), "{host} in {names:?}");
        }
        assert!(names
            .ips
            .iter()
            .all(|ip| !ip.is_loopback() || SubjectNames::builtin().ips.contains(ip)));
    }

    #[test]
    fn add_and_cover() {
        let mut a = SubjectNames::default();
        a.add("Node-1.Example");
        a.add("192.168.1.5");
        a.add("fd00::5");
        assert_eq!(a.dns.iter().collect::<Vec<_>>(), ["node-1.example"]);
        assert_eq!(a.ips.len(), 2);
        let mut b = a.clone();
        assert!(a.is_covered_by(&b));
        b.add("10.0.0.1");
        assert!(a.is_covered_by(&b));
        assert!(!b.is_covered_by(&a));
    }

    #[test]
    fn dns_names_and_host_addresses() {
        for (name, ok) in [
            ("node1", true),
            ("a.b-c.d", true),
            ("", false),
            ("-a", false),
            ("a..b", false),
            ("a_b", false),
            ("ü", false),
        ] {
            assert_eq!(is_dns_name(name), ok, "{name:?}");
        }
        for (ip, ok) in [
            ("192.168.1.2", true),
            ("127.0.0.1", false),
            ("0.0.0.0", false),
            ("::1", false),
            ("fe80::1", false),
            ("2001:db8::1", true),
            ("fd00::1", true),
        ] {
            assert_eq!(is_host_address(ip.parse().unwrap()), ok, "{ip}");
        }
    }
}
