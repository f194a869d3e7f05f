//! The kubelet-style HTTPS endpoint (port 10250 by default): container logs,
//! exec, attach and port-forward for the API server to proxy to, and
//! `/healthz`. TLS with a serving certificate signed by the cluster CA;
//! clients must present a certificate signed by the same CA.
//!
//! Use: `KubeletServer::new(lookup, backend)` then
//! [`KubeletServer::run`] (binds `kubelet_port`, loads/issues the certificate
//! from `<data-dir>/tls/`) or [`KubeletServer::serve`] on your own listener.

pub mod handlers;
pub mod lookup;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

pub use lookup::PodLookup;

use crate::config::AgentConfig;
use crate::streaming::portforward::{NetnsDialer, PortDialer};
use crate::streaming::ExecBackend;

/// Response bodies: complete or streamed (logs).
pub type Body = BoxBody<Bytes, Infallible>;

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The kubelet endpoint: what it serves from.
pub struct KubeletServer {
    lookup: Arc<dyn PodLookup>,
    exec: Arc<dyn ExecBackend>,
    dialer: Arc<dyn PortDialer>,
}

impl KubeletServer {
    /// A server over the node's pods (`lookup`) and containers (`exec`);
    /// port-forward dials into pods' network namespaces.
    pub fn new(lookup: Arc<dyn PodLookup>, exec: Arc<dyn ExecBackend>) -> Arc<KubeletServer> {
        Self::with_dialer(lookup, exec, Arc::new(NetnsDialer))
    }

    /// Like [`KubeletServer::new`] with another way to reach pod ports (tests).
    pub fn with_dialer(
        lookup: Arc<dyn PodLookup>,
        exec: Arc<dyn ExecBackend>,
        dialer: Arc<dyn PortDialer>,
    ) -> Arc<KubeletServer> {
        Arc::new(KubeletServer { lookup, exec, dialer })
    }

    /// Serves one request (the connection must allow upgrades).
    pub async fn handle<B: Send + 'static>(self: &Arc<Self>, req: Request<B>) -> Response<Body> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let resp = handlers::route(self, req).await;
        debug!(%method, %path, status = resp.status().as_u16(), "kubelet request");
        resp
    }

    /// Binds `0.0.0.0:<kubelet_port>` with a serving certificate for the node
    /// (issued by the cluster CA in `<data-dir>/tls/`) and serves until `shutdown`.
    pub async fn run(self: Arc<Self>, config: &AgentConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let tls = k1s_apiserver::tls::kubelet_server_config(
            &config.data_dir.join("tls"),
            &config.node_name,
            &[config.node_ip],
        )
        .context("cannot set up the kubelet endpoint's certificate")?;
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.kubelet_port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the kubelet endpoint"))?;
        info!(%addr, "kubelet endpoint listening");
        self.serve(listener, tls, shutdown).await;
        Ok(())
    }

    /// Serves HTTPS on `listener` until `shutdown` turns true.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let acceptor = TlsAcceptor::from(tls);
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(error = %e, "kubelet endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => break,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let server = self.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return debug!(%peer, error = %e, "kubelet endpoint: TLS handshake failed"),
                    Err(_) => return debug!(%peer, "kubelet endpoint: TLS handshake timed out"),
                };
                let service = service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(server.handle(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades();
                if let Err(e) = conn.await {
                    debug!(%peer, error = %e, "kubelet endpoint: connection ended with an error");
                }
            });
        }
    }
}
