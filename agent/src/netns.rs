//! Connecting from inside a pod's network namespace: probes and port-forward
//! reach `localhost:<port>` of a pod the way its own containers do.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use nix::sched::{setns, CloneFlags};

/// Opens a TCP connection to `addr` from inside the network namespace bind-mounted
/// at `netns` (a short-lived thread joins the namespace; the socket keeps it).
pub async fn connect_tcp(netns: &Path, addr: SocketAddr, timeout: Duration) -> anyhow::Result<tokio::net::TcpStream> {
    let netns: PathBuf = netns.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A thread of its own: it joins the pod's namespace and ends, so no pooled
    // thread is ever left inside a pod's network namespace.
    std::thread::Builder::new()
        .name("netns-dial".into())
        .spawn(move || {
            let result = (|| -> anyhow::Result<TcpStream> {
                let ns =
                    File::open(&netns).with_context(|| format!("cannot open network namespace {}", netns.display()))?;
                setns(&ns, CloneFlags::CLONE_NEWNET)
                    .with_context(|| format!("cannot enter network namespace {}", netns.display()))?;
                TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("dial tcp {addr}"))
            })();
            let _ = tx.send(result);
        })
        .context("cannot start a thread to dial in the pod's network namespace")?;
    let std_stream = rx.await.context("netns dial thread ended without an answer")??;
    std_stream.set_nonblocking(true)?;
    Ok(tokio::net::TcpStream::from_std(std_stream)?)
}

/// Binds a UDP socket to `local` inside the network namespace bind-mounted at
/// `netns` (as [`connect_tcp`], a short-lived thread joins the namespace; the
/// socket stays in it): traffic from it leaves as a pod's would.
pub fn bind_udp(netns: &Path, local: SocketAddr) -> anyhow::Result<std::net::UdpSocket> {
    let netns: PathBuf = netns.to_path_buf();
    std::thread::Builder::new()
        .name("netns-bind".into())
        .spawn(move || -> anyhow::Result<std::net::UdpSocket> {
            let ns =
                File::open(&netns).with_context(|| format!("cannot open network namespace {}", netns.display()))?;
            setns(&ns, CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("cannot enter network namespace {}", netns.display()))?;
            std::net::UdpSocket::bind(local).with_context(|| format!("bind udp {local}"))
        })
        .context("cannot start a thread to bind in the pod's network namespace")?
        .join()
        .map_err(|_| anyhow::anyhow!("the netns bind thread panicked"))?
}
