//! Whether a process on this host already holds a node address and port.
//!
//! k1s runs its node on the machine the server runs on, so the controller can
//! ask the kernel directly: it binds a socket to the node address and port
//! (and never listens on it). A listener on that address or on all addresses
//! makes the bind fail with `EADDRINUSE`; an address that is not this host's
//! (`EADDRNOTAVAIL`, a node elsewhere) cannot be checked here and counts as free.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{
    bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockProtocol, SockType, SockaddrStorage,
};

use super::ports::LbPort;

/// Checks node ports against the processes of the host.
pub trait HostPorts: Send + Sync + 'static {
    /// Why `ip`:`port` is taken on this host, or `None` when it is free.
    fn in_use(&self, ip: IpAddr, port: &LbPort) -> Option<String>;
}

/// The real check: a bind to the address and port.
#[derive(Debug, Clone, Copy, Default)]
pub struct BindProbe;

impl HostPorts for BindProbe {
    fn in_use(&self, ip: IpAddr, port: &LbPort) -> Option<String> {
        let (ty, proto) = match port.protocol.as_str() {
            "TCP" => (SockType::Stream, SockProtocol::Tcp),
            "UDP" => (SockType::Datagram, SockProtocol::Udp),
            // No SCTP sockets here: only the cluster's own holders are checked.
            _ => return None,
        };
        let family = if ip.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let addr = SocketAddr::new(ip, port.port);
        let fd = match socket(family, ty, SockFlag::SOCK_CLOEXEC, proto) {
            Ok(fd) => fd,
            Err(e) => return Some(format!("cannot check {addr}: {e}")),
        };
        // Connections lingering in TIME_WAIT do not hold a port; only listeners do.
        if ty == SockType::Stream {
            if let Err(e) = setsockopt(&fd, sockopt::ReuseAddr, &true) {
                return Some(format!("cannot check {addr}: {e}"));
            }
        }
        match bind(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
            Ok(()) | Err(Errno::EADDRNOTAVAIL) => None,
            Err(Errno::EADDRINUSE) => Some(format!("{addr} is in use by another process")),
            Err(e) => Some(format!("cannot check {addr}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, UdpSocket};

    fn p(port: u16, protocol: &str) -> LbPort {
        LbPort {
            port,
            protocol: protocol.into(),
        }
    }

    #[test]
    fn a_listener_holds_its_port_until_it_closes() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let why = BindProbe.in_use(lo, &p(port, "TCP")).expect("in use");
        assert_eq!(why, format!("127.0.0.1:{port} is in use by another process"));
        // The probe itself holds nothing: it can run twice.
        assert!(BindProbe.in_use(lo, &p(port, "TCP")).is_some());
        drop(listener);
        assert_eq!(BindProbe.in_use(lo, &p(port, "TCP")), None);

        let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
        let uport = udp.local_addr().unwrap().port();
        assert!(
            BindProbe.in_use(lo, &p(uport, "UDP")).is_some(),
            "a wildcard UDP socket"
        );
        drop(udp);
        assert_eq!(BindProbe.in_use(lo, &p(uport, "UDP")), None);
    }

    #[test]
    fn an_address_of_another_host_is_not_checked() {
        let elsewhere: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(BindProbe.in_use(elsewhere, &p(8080, "TCP")), None);
        assert_eq!(BindProbe.in_use("127.0.0.1".parse().unwrap(), &p(80, "SCTP")), None);
    }
}
