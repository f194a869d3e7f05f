//! The HTTPS listener: TLS handshakes, client-certificate authentication,
//! HTTP/1.1 and HTTP/2 connections, and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::api::Api;
use crate::authn::{bearer_token, user_from_certs, user_from_token, UserInfo};

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open requests (watches) may run on after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves the API on `listener` until `shutdown` turns true.
pub async fn serve_https(
    api: Arc<Api>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let api = api.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let user = Arc::new(user_from_certs(tls.get_ref().1.peer_certificates()));
            let service = service_fn(move |req| {
                let api = api.clone();
                let user = user.clone();
                // Without a client certificate, a bearer token may name the user.
                let user = match bearer_token(req.headers()) {
                    Some(token) if user.is_anonymous() => {
                        Arc::new(user_from_token(&api, token).unwrap_or_else(UserInfo::anonymous))
                    }
                    _ => user,
                };
                async move { Ok::<_, std::convert::Infallible>(api.handle(req, &user).await) }
            });
            let builder = Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    info!("API server stopping");
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        debug!("open connections cut after the shutdown grace period");
    }
}
