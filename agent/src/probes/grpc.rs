//! `grpc` probes: `grpc.health.v1.Health/Check` over plaintext HTTP/2
//! (`pkg/probe/grpc`), messages as the kubelet words them.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::codegen::Service;
use tonic::transport::{Endpoint, Uri};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::dial::PodNet;
use super::format::{go_duration_secs, go_quote, join_host_port};
use super::prober::Outcome;
use super::KUBE_VERSION;

/// How long grpc-go waits before redialing (its first back-off step).
const REDIAL: Duration = Duration::from_secs(1);

/// Checks `service` on the pod's `port` within `timeout`.
pub(crate) async fn probe(net: &PodNet, port: u16, service: &str, timeout: Duration) -> Outcome {
    let host = net.default_host();
    let addr = join_host_port(&host, port);
    let deadline = tokio::time::Instant::now() + timeout;
    let within = go_duration_secs(timeout.as_secs());
    let connect_timeout = || {
        Outcome::Failure(format!(
            "timeout: failed to connect service {} within {within}: context deadline exceeded",
            go_quote(&addr)
        ))
    };

    let endpoint = match Endpoint::from_shared(format!("http://{addr}"))
        .and_then(|e| e.user_agent(format!("kube-probe/{KUBE_VERSION}")))
    {
        Ok(endpoint) => endpoint,
        Err(e) => return Outcome::Failure(format!("error: failed to connect service at {}: {e}", go_quote(&addr))),
    };
    let dialer = Dialer {
        net: net.clone(),
        host,
        port,
        timeout,
    };
    // grpc.WithBlock: keep dialing until connected or out of time.
    let channel = loop {
        match tokio::time::timeout_at(deadline, endpoint.connect_with_connector(dialer.clone())).await {
            Ok(Ok(channel)) => break channel,
            Ok(Err(_)) => {
                let next = tokio::time::Instant::now() + REDIAL;
                if next >= deadline {
                    tokio::time::sleep_until(deadline).await;
                    return connect_timeout();
                }
                tokio::time::sleep_until(next).await;
            }
            Err(_) => return connect_timeout(),
        }
    };

    let mut client = HealthClient::new(channel);
    let request = HealthCheckRequest {
        service: service.to_string(),
    };
    let answer = tokio::time::timeout_at(deadline, client.check(request)).await;
    let rpc_timeout = || Outcome::Failure(format!("timeout: health rpc did not complete within {within}"));
    match answer {
        Err(_) => rpc_timeout(),
        Ok(Err(status)) => match status.code() {
            tonic::Code::Unimplemented => Outcome::Failure(format!(
                "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                status.message()
            )),
            tonic::Code::DeadlineExceeded => rpc_timeout(),
            code => Outcome::Failure(format!(
                "error: health rpc probe failed: rpc error: code = {code:?} desc = {}",
                status.message()
            )),
        },
        Ok(Ok(resp)) => {
            let status = resp.into_inner().status;
            if status == ServingStatus::Serving as i32 {
                Outcome::Success("service healthy".to_string())
            } else {
                let name = ServingStatus::try_from(status)
                    .map(|s| s.as_str_name().to_string())
                    .unwrap_or_else(|_| status.to_string());
                Outcome::Failure(format!("service unhealthy (responded with {})", go_quote(&name)))
            }
        }
    }
}

/// Opens the probe's connection the way every probe does (host or netns).
#[derive(Clone)]
struct Dialer {
    net: PodNet,
    host: String,
    port: u16,
    timeout: Duration,
}

impl Service<Uri> for Dialer {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let stream = this
                .net
                .connect(&this.host, this.port, this.timeout)
                .await
                .map_err(io::Error::other)?;
            Ok(TokioIo::new(stream))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_health::server::health_reporter;

    async fn serve() -> (u16, tonic_health::server::HealthReporter, tokio::task::JoinHandle<()>) {
        let (reporter, service) = health_reporter();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
        (port, reporter, task)
    }

    #[tokio::test]
    async fn health_check_states() {
        let (port, reporter, task) = serve().await;
        reporter
            .set_service_status("web", tonic_health::ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("db", tonic_health::ServingStatus::NotServing)
            .await;
        let net = PodNet {
            netns: "/proc/self/ns/net".into(),
            pod_ip: Some("127.0.0.1".parse().expect("ip")),
        };
        let t = Duration::from_secs(2);
        assert_eq!(
            probe(&net, port, "", t).await,
            Outcome::Success("service healthy".into())
        );
        assert_eq!(
            probe(&net, port, "web", t).await,
            Outcome::Success("service healthy".into())
        );
        assert_eq!(
            probe(&net, port, "db", t).await,
            Outcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into())
        );
        assert_eq!(
            probe(&net, port, "nope", t).await,
            Outcome::Failure(
                "error: health rpc probe failed: rpc error: code = NotFound desc = service not registered".into()
            )
        );
        task.abort();
    }

    #[tokio::test]
    async fn nothing_listening_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let net = PodNet {
            netns: "/proc/self/ns/net".into(),
            pod_ip: Some("127.0.0.1".parse().expect("ip")),
        };
        assert_eq!(
            probe(&net, port, "", Duration::from_secs(1)).await,
            Outcome::Failure(format!(
                "timeout: failed to connect service \"127.0.0.1:{port}\" within 1s: context deadline exceeded"
            ))
        );
    }
}
