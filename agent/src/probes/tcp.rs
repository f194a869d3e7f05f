//! `tcpSocket` probes: healthy when a TCP connection opens (`pkg/probe/tcp`).

use std::time::Duration;

use super::dial::PodNet;
use super::prober::Outcome;

/// Connects to `host:port` and closes the connection again.
pub(crate) async fn probe(net: &PodNet, host: &str, port: u16, timeout: Duration) -> Outcome {
    match net.connect(host, port, timeout).await {
        Ok(stream) => {
            drop(stream);
            Outcome::Success(String::new())
        }
        Err(message) => Outcome::Failure(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_and_closed_ports() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let net = PodNet {
            netns: "/proc/self/ns/net".into(),
            pod_ip: Some("127.0.0.1".parse().expect("ip")),
        };
        let t = Duration::from_secs(1);
        assert_eq!(probe(&net, "127.0.0.1", port, t).await, Outcome::Success(String::new()));
        drop(listener);
        assert_eq!(
            probe(&net, "127.0.0.1", port, t).await,
            Outcome::Failure(format!("dial tcp 127.0.0.1:{port}: connect: connection refused"))
        );
    }
}
