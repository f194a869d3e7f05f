//! Port-forwarding (`portforward.k8s.io`) over a SPDY connection: the client
//! opens a pair of streams per forwarded connection — `streamtype: error` and
//! `streamtype: data`, both with `port` and `requestid` headers — and each
//! data stream is bridged to a TCP connection to `localhost:<port>` inside
//! the pod's network namespace. Failures are written on the error stream.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::debug;

use super::spdy::conn::{self, Stream};

/// The stream protocol name of port-forwarding.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket subprotocol of SPDY tunnelled in a WebSocket.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// How long a dial into the pod may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens TCP connections to a port of a pod.
pub trait PortDialer: Send + Sync + 'static {
    /// Connects to `localhost:port` inside the network namespace `netns`.
    fn dial(&self, netns: &Path, port: u16) -> BoxFuture<'_, anyhow::Result<TcpStream>>;
}

/// The real dialer: joins the pod's network namespace and connects to
/// 127.0.0.1, then [::1].
pub struct NetnsDialer;

impl PortDialer for NetnsDialer {
    fn dial(&self, netns: &Path, port: u16) -> BoxFuture<'_, anyhow::Result<TcpStream>> {
        let netns = netns.to_path_buf();
        Box::pin(async move {
            let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match crate::netns::connect_tcp(&netns, v4, DIAL_TIMEOUT).await {
                Ok(s) => Ok(s),
                Err(e4) => {
                    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
                    crate::netns::connect_tcp(&netns, v6, DIAL_TIMEOUT)
                        .await
                        .map_err(|e6| anyhow::anyhow!("IPv4: {e4:#} IPv6: {e6:#}"))
                }
            }
        })
    }
}

/// The pod whose ports are forwarded.
#[derive(Debug, Clone)]
pub struct Target {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID (as given in the request path, possibly empty).
    pub uid: String,
    /// The pod's network namespace file.
    pub netns: PathBuf,
}

#[derive(Default)]
struct Pair {
    error: Option<Stream>,
    data: Option<Stream>,
}

/// Serves port-forwarding over a SPDY connection on `io` until the client ends it.
pub async fn serve<IO>(io: IO, target: Target, dialer: Arc<dyn PortDialer>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Stream>(16);
    let connection = tokio::spawn(conn::serve(io, tx));
    let target = Arc::new(target);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut tasks = JoinSet::new();
    while let Some(stream) = rx.recv().await {
        let kind = stream.header("streamtype").unwrap_or_default().to_string();
        // Clients before requestid paired streams by ID: data = error + 2.
        let request_id = match stream.header("requestid") {
            Some(id) => id.to_string(),
            None if kind == "data" => stream.id.saturating_sub(2).to_string(),
            None => stream.id.to_string(),
        };
        let pair = pairs.entry(request_id.clone()).or_default();
        match kind.as_str() {
            "error" => pair.error = Some(stream),
            "data" => pair.data = Some(stream),
            other => {
                debug!(streamtype = other, "port-forward: unknown stream type");
                let _ = stream.writer.reset().await;
                continue;
            }
        }
        if pair.error.is_some() && pair.data.is_some() {
            if let Some(Pair {
                error: Some(error),
                data: Some(data),
            }) = pairs.remove(&request_id)
            {
                tasks.spawn(forward(error, data, target.clone(), dialer.clone()));
            }
        }
    }
    // The client is gone: forwarded connections end with it.
    tasks.abort_all();
    let _ = connection.await;
}

async fn forward(error: Stream, data: Stream, target: Arc<Target>, dialer: Arc<dyn PortDialer>) {
    let port = match data.header("port").map(str::parse::<u16>) {
        Some(Ok(p)) if p > 0 => p,
        _ => {
            let msg = format!(
                "error forwarding port {} to pod {}_{}, uid {}: invalid port",
                data.header("port").unwrap_or(""),
                target.name,
                target.namespace,
                target.uid
            );
            let _ = error.writer.write(msg.as_bytes()).await;
            let _ = error.writer.close().await;
            let _ = data.writer.close().await;
            return;
        }
    };
    let tcp = match dialer.dial(&target.netns, port).await {
        Ok(tcp) => tcp,
        Err(e) => {
            let msg = format!(
                "error forwarding port {port} to pod {}_{}, uid {}: failed to connect to localhost:{port} inside namespace {:?}: {e:#}",
                target.name,
                target.namespace,
                target.uid,
                target.netns.display().to_string()
            );
            let _ = error.writer.write(msg.as_bytes()).await;
            let _ = error.writer.close().await;
            let _ = data.writer.close().await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let (mut rd, mut wr) = tcp.into_split();
    let Stream {
        data: mut inbound,
        writer,
        ..
    } = data;
    let up = async move {
        while let Some(chunk) = inbound.recv().await {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer.write(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = writer.close().await;
    };
    tokio::join!(up, down);
    let _ = error.writer.close().await;
}
