//! Forwarding of names outside the cluster to the node's upstream resolvers
//! (the `nameserver`s of `--resolv-conf`), over UDP with a TCP retry when the
//! answer is truncated, as CoreDNS's `forward . /etc/resolv.conf`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use hickory_proto::op::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::runtime::dns::ResolvConf;

/// How long one upstream gets to answer before the next is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest UDP answer read from an upstream.
const MAX_UDP_ANSWER: usize = 65_535;

/// The upstream resolvers, tried in order.
#[derive(Debug, Clone, Default)]
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
}

impl Forwarder {
    /// Forwards to these servers.
    pub fn new(upstreams: Vec<SocketAddr>) -> Forwarder {
        Forwarder { upstreams }
    }

    /// The `nameserver`s of a resolv.conf file (port 53); none when it cannot be read.
    pub fn from_resolv_conf(path: &Path) -> anyhow::Result<Forwarder> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Forwarder::new(upstreams_of(&text)))
    }

    /// The servers forwarded to.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// Sends `query` (a DNS message as received) to the upstreams in turn and
    /// returns the first answer, with the query's ID.
    pub async fn forward(&self, query: &[u8]) -> anyhow::Result<Message> {
        if query.len() < 12 {
            bail!("a DNS message of {} bytes has no header", query.len());
        }
        if self.upstreams.is_empty() {
            bail!("no upstream resolvers");
        }
        let client_id = u16::from_be_bytes([query[0], query[1]]);
        // A fresh ID towards the upstream, so answers are not guessable from the client's.
        let id: u16 = rand::random();
        let mut ours = query.to_vec();
        ours[..2].copy_from_slice(&id.to_be_bytes());
        let mut last = anyhow::anyhow!("no upstream answered");
        for upstream in &self.upstreams {
            match exchange(*upstream, &ours, id).await {
                Ok(mut answer) => {
                    answer.metadata.id = client_id;
                    return Ok(answer);
                }
                Err(e) => last = e.context(format!("upstream {upstream}")),
            }
        }
        Err(last)
    }
}

/// The `nameserver` addresses of a resolv.conf text, on port 53.
pub fn upstreams_of(resolv_conf: &str) -> Vec<SocketAddr> {
    ResolvConf::parse(resolv_conf)
        .nameservers
        .iter()
        // `fe80::1%eth0` style scopes are not followed.
        .filter_map(|ns| ns.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// One query to one upstream: UDP, then TCP when the answer is truncated.
async fn exchange(upstream: SocketAddr, query: &[u8], id: u16) -> anyhow::Result<Message> {
    let answer = timeout(UPSTREAM_TIMEOUT, udp_exchange(upstream, query, id))
        .await
        .context("no answer over UDP")??;
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    timeout(UPSTREAM_TIMEOUT, tcp_exchange(upstream, query, id))
        .await
        .context("no answer over TCP")?
}

/// One query over UDP; the answer with `id`.
pub(crate) async fn udp_exchange(upstream: SocketAddr, query: &[u8], id: u16) -> anyhow::Result<Message> {
    let local: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let socket = UdpSocket::bind(local).await.context("cannot bind a UDP socket")?;
    socket.connect(upstream).await.context("cannot connect")?;
    socket.send(query).await.context("cannot send")?;
    let mut buf = vec![0u8; MAX_UDP_ANSWER];
    loop {
        let n = socket.recv(&mut buf).await.context("cannot receive")?;
        // A stray datagram with another ID is not the answer.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            return Message::from_vec(&buf[..n]).context("undecodable answer");
        }
    }
}

/// One query over TCP (length-prefixed); the answer with `id`.
pub(crate) async fn tcp_exchange(upstream: SocketAddr, query: &[u8], id: u16) -> anyhow::Result<Message> {
    let mut stream = TcpStream::connect(upstream).await.context("cannot connect over TCP")?;
    let len = u16::try_from(query.len()).context("query too long for TCP")?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.context("cannot send over TCP")?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.context("no answer length over TCP")?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.context("short answer over TCP")?;
    let answer = Message::from_vec(&buf).context("undecodable answer")?;
    if answer.metadata.id != id {
        bail!("answer over TCP has another ID");
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_from_resolv_conf() {
        let text =
            "# generated\nnameserver 127.0.0.53\nnameserver ::1\nnameserver fe80::1%eth0\nsearch lan\noptions edns0\n";
        assert_eq!(
            upstreams_of(text),
            vec!["127.0.0.53:53".parse().unwrap(), "[::1]:53".parse().unwrap()]
        );
        assert!(upstreams_of("search lan\n").is_empty());
    }

    #[tokio::test]
    async fn nothing_to_forward_to_is_an_error() {
        let f = Forwarder::default();
        assert!(f.forward(&[0u8; 12]).await.is_err());
        assert!(Forwarder::new(vec!["127.0.0.1:53".parse().unwrap()])
            .forward(&[1, 2])
            .await
            .is_err());
    }
}
