//! Opening the TCP connection a probe or hook needs: from the host to the pod
//! IP, or from inside the pod's network namespace for loopback targets and
//! loopback-only sandboxes. Errors read like Go's `net.Dial` errors, since the
//! kubelet puts those in its events.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpStream;

/// The network identity of the pod being probed.
#[derive(Clone, Debug)]
pub(crate) struct PodNet {
    /// The pod's network namespace file (bind mount under the run dir).
    pub netns: PathBuf,
    /// The pod IP, when the pod has one.
    pub pod_ip: Option<IpAddr>,
}

impl PodNet {
    /// The host a probe without `host` targets: the pod IP, or the pod's own
    /// loopback when it has no IP.
    pub fn default_host(&self) -> String {
        match self.pod_ip {
            Some(ip) => ip.to_string(),
            None => Ipv4Addr::LOCALHOST.to_string(),
        }
    }

    /// Connects to `host:port` within `timeout`. Loopback targets (and
    /// `localhost`) are dialed inside the pod's network namespace, everything
    /// else from the host.
    pub async fn connect(&self, host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
        let (addr, in_pod) = if host.eq_ignore_ascii_case("localhost") {
            (SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port), true)
        } else if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            (SocketAddr::new(ip, port), ip.is_loopback())
        } else {
            let lookup = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await;
            match lookup {
                Ok(Ok(mut addrs)) => match addrs.next() {
                    Some(addr) => (addr, false),
                    None => return Err(format!("dial tcp: lookup {host}: no such host")),
                },
                Ok(Err(_)) => return Err(format!("dial tcp: lookup {host}: no such host")),
                Err(_) => return Err(format!("dial tcp: lookup {host}: i/o timeout")),
            }
        };
        if in_pod {
            match crate::netns::connect_tcp(&self.netns, addr, timeout).await {
                Ok(stream) => Ok(stream),
                Err(err) => Err(match err.chain().find_map(|e| e.downcast_ref::<io::Error>()) {
                    Some(io_err) => go_dial_error(addr, io_err),
                    None => format!("dial tcp {addr}: {err:#}"),
                }),
            }
        } else {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(err)) => Err(go_dial_error(addr, &err)),
                Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
            }
        }
    }
}

/// Go's `*net.OpError` text for a failed dial.
pub(crate) fn go_dial_error(addr: SocketAddr, err: &io::Error) -> String {
    if err.kind() == io::ErrorKind::TimedOut {
        return format!("dial tcp {addr}: i/o timeout");
    }
    format!("dial tcp {addr}: connect: {}", go_errno(err))
}

/// Go's `syscall.Errno` strings (lower case, no "(os error N)").
pub(crate) fn go_errno(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::ECONNREFUSED) => "connection refused".into(),
        Some(libc::ECONNRESET) => "connection reset by peer".into(),
        Some(libc::EHOSTUNREACH) => "no route to host".into(),
        Some(libc::ENETUNREACH) => "network is unreachable".into(),
        Some(libc::ETIMEDOUT) => "connection timed out".into(),
        Some(libc::EPIPE) => "broken pipe".into(),
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            lower_first(&text)
        }
        None => err.to_string(),
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let addr: SocketAddr = "10.42.0.5:8080".parse().expect("addr");
        assert_eq!(
            go_dial_error(addr, &refused),
            "dial tcp 10.42.0.5:8080: connect: connection refused"
        );
        let timeout = io::Error::new(io::ErrorKind::TimedOut, "x");
        assert_eq!(go_dial_error(addr, &timeout), "dial tcp 10.42.0.5:8080: i/o timeout");
        assert_eq!(
            go_errno(&io::Error::from_raw_os_error(libc::EACCES)),
            "permission denied"
        );
    }

    #[tokio::test]
    async fn refused_from_host() {
        // A port we bound and closed again: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let net = PodNet {
            netns: "/proc/self/ns/net".into(),
            pod_ip: Some("127.0.0.1".parse().expect("ip")),
        };
        let err = net.connect("10.255.255.1", 1, Duration::from_millis(1)).await.err();
        assert!(err.is_some());
        let err = net.connect("127.0.0.1", port, Duration::from_secs(1)).await.err();
        assert_eq!(
            err,
            Some(format!("dial tcp 127.0.0.1:{port}: connect: connection refused"))
        );
    }
}
