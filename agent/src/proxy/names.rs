//! Chain names: fixed chains under the prefix (`K1S-SERVICES`), per-service and
//! per-endpoint chains named by a hash as kube-proxy names them
//! (`K1S-SVC-` + the first 16 base32 characters of SHA-256 of the port name and protocol).

/// The fixed chains and the hashed per-service names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chains {
    prefix: String,
}

impl Chains {
    /// Chains named `<prefix>-…` (`prefix` checked by `config::check_chain_prefix`).
    pub fn new(prefix: &str) -> Chains {
        Chains {
            prefix: prefix.to_string(),
        }
    }

    /// `<prefix>-<name>`.
    pub fn fixed(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Whether `chain` is one of this prefix's (`<prefix>-` and more).
    pub fn owns(&self, chain: &str) -> bool {
        chain
            .strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.starts_with('-'))
    }

    /// The service port's cluster policy chain (`KUBE-SVC-…`).
    pub fn svc(&self, port_name: &str, protocol: &str) -> String {
        self.hashed("SVC", &[port_name, protocol])
    }

    /// The service port's local policy chain (`KUBE-SVL-…`).
    pub fn svl(&self, port_name: &str, protocol: &str) -> String {
        self.hashed("SVL", &[port_name, protocol])
    }

    /// The service port's external traffic chain (`KUBE-EXT-…`).
    pub fn ext(&self, port_name: &str, protocol: &str) -> String {
        self.hashed("EXT", &[port_name, protocol])
    }

    /// An endpoint's chain (`KUBE-SEP-…`); `endpoint` is `ip:port`.
    pub fn sep(&self, port_name: &str, protocol: &str, endpoint: &str) -> String {
        self.hashed("SEP", &[port_name, protocol, endpoint])
    }

    fn hashed(&self, kind: &str, parts: &[&str]) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for p in parts {
            ctx.update(p.as_bytes());
        }
        let encoded = base32(ctx.finish().as_ref());
        format!("{}-{kind}-{}", self.prefix, &encoded[..16])
    }
}

/// RFC 4648 base32 (standard alphabet, no padding needed for a prefix).
fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for b in data {
        buf = (buf << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        for (input, want) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn kube_proxy_chain_names() {
        // kube-proxy's own test expectation: ns1/svc1:p80 over tcp is KUBE-SVC-XPGD46QRK7WJZT7O.
        let kube = Chains::new("KUBE");
        assert_eq!(kube.svc("ns1/svc1:p80", "tcp"), "KUBE-SVC-XPGD46QRK7WJZT7O");
        assert_eq!(kube.ext("ns1/svc1:p80", "tcp"), "KUBE-EXT-XPGD46QRK7WJZT7O");
        let c = Chains::new("K1S250");
        let sep = c.sep("ns1/svc1:p80", "tcp", "10.180.0.1:80");
        assert!(sep.starts_with("K1S250-SEP-") && sep.len() == 27, "{sep}");
        assert!(c.owns("K1S250-SERVICES") && !c.owns("K1S2500-SERVICES") && !c.owns("K1S250"));
        assert!(!Chains::new("K1S").owns("K1S250-SVC-X"));
    }
}
