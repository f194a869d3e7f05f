//! IPv4 ranges in CIDR notation (`10.43.0.0/16`): the service and pod ranges.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network: its first address (host bits cleared) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    net: u32,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The network holding `addr` with `prefix` bits (host bits are cleared); `None` past /32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Cidr> {
        (prefix <= 32).then(|| Ipv4Cidr {
            net: u32::from(addr) & mask(prefix),
            prefix,
        })
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.net)
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// How many addresses the range spans (network and broadcast included).
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    /// Whether `ip` is inside the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.net
    }

    /// The address `offset` places after the network address, if still inside the range.
    pub fn nth(&self, offset: u32) -> Option<Ipv4Addr> {
        (u64::from(offset) < self.size()).then(|| Ipv4Addr::from(self.net + offset))
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

/// Why a range did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IPv4 range in CIDR notation (e.g. 10.43.0.0/16)")]
pub struct CidrParseError(String);

impl FromStr for Ipv4Cidr {
    type Err = CidrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrParseError(s.to_string());
        let (addr, bits) = s.split_once('/').ok_or_else(err)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| err())?;
        let bits: u8 = bits.parse().map_err(|_| err())?;
        Ipv4Cidr::new(addr, bits).ok_or_else(err)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        for (text, want) in [
            ("10.43.0.0/16", Some("10.43.0.0/16")),
            ("10.43.7.9/24", Some("10.43.7.0/24")),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("10.0.0.1/32", Some("10.0.0.1/32")),
            ("10.0.0.0/33", None),
            ("10.0.0.0", None),
            ("fd00::/64", None),
            ("x/8", None),
        ] {
            let got = text.parse::<Ipv4Cidr>().ok().map(|c| c.to_string());
            assert_eq!(got.as_deref(), want, "{text}");
        }
    }

    #[test]
    fn contains_and_nth() {
        let c: Ipv4Cidr = "10.43.120.0/24".parse().unwrap();
        assert!(c.contains(Ipv4Addr::new(10, 43, 120, 255)));
        assert!(!c.contains(Ipv4Addr::new(10, 43, 121, 0)));
        assert_eq!(c.nth(1), Some(Ipv4Addr::new(10, 43, 120, 1)));
        assert_eq!(c.nth(10), Some(Ipv4Addr::new(10, 43, 120, 10)));
        assert_eq!(c.nth(256), None);
        assert_eq!(c.size(), 256);
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(all.size(), 1 << 32);
    }
}
