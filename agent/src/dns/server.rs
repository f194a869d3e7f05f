//! The DNS server: UDP and TCP on one address (hickory-server's serving loop),
//! answering the cluster's names from the current [`Snapshot`] and forwarding
//! the rest.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use hickory_proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Record};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use socket2::{Domain, Protocol, Socket, Type};
use tracing::debug;

use super::forward::Forwarder;
use super::records::{lookup, Answer, Snapshot};

/// How long a TCP client may stay silent before its connection is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// The largest UDP answer this server sends to an EDNS client.
const MAX_PAYLOAD: u16 = 1232;

/// The snapshot the server answers from; replaced whole when the cluster
/// changes, and absent until the informers have listed everything once.
#[derive(Clone, Default)]
pub struct SharedSnapshot(Arc<RwLock<Option<Arc<Snapshot>>>>);

impl SharedSnapshot {
    /// The current snapshot (`None` before the first one).
    pub fn get(&self) -> Option<Arc<Snapshot>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the snapshot.
    pub fn set(&self, snapshot: Snapshot) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(snapshot));
    }
}

/// Answers one request: from the snapshot, else through the forwarder.
pub struct Handler {
    snapshot: SharedSnapshot,
    forwarder: Forwarder,
}

impl Handler {
    /// A handler over `snapshot` forwarding through `forwarder`.
    pub fn new(snapshot: SharedSnapshot, forwarder: Forwarder) -> Handler {
        Handler { snapshot, forwarder }
    }
}

fn response_edns(request: &Request) -> Option<Edns> {
    request.edns.as_ref().map(|e| {
        let mut edns = Edns::new();
        edns.set_max_payload(e.max_payload().clamp(512, MAX_PAYLOAD));
        edns
    })
}

async fn send<'a, R: ResponseHandler>(
    mut handle: R,
    request: &Request,
    edns: Option<&Edns>,
    metadata: Metadata,
    answers: &'a [Record],
    authority: &'a [Record],
    additionals: &'a [Record],
) -> ResponseInfo {
    let mut builder = MessageResponseBuilder::from_message_request(request);
    if let Some(e) = edns {
        builder.edns(e);
    }
    let response = builder.build(
        metadata,
        answers.iter(),
        authority.iter(),
        [].iter(),
        additionals.iter(),
    );
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(e) => {
            debug!("cannot send a DNS answer to {}: {e}", request.src());
            let mut m = Metadata::response_from_request(&request.metadata);
            m.response_code = ResponseCode::ServFail;
            m.into_info()
        }
    }
}

/// `ResponseInfo` from bare metadata (the header counts are not known).
trait IntoInfo {
    fn into_info(self) -> ResponseInfo;
}

impl IntoInfo for Metadata {
    fn into_info(self) -> ResponseInfo {
        ResponseInfo::from(hickory_proto::op::Header {
            metadata: self,
            counts: Default::default(),
        })
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, handle: R) -> ResponseInfo {
        let edns = response_edns(request);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        if request.metadata.op_code != OpCode::Query {
            metadata.response_code = ResponseCode::NotImp;
            return send(handle, request, edns.as_ref(), metadata, &[], &[], &[]).await;
        }
        let query = match request.request_info() {
            Ok(info) => info.query.original().clone(),
            Err(_) => {
                metadata.response_code = ResponseCode::FormErr;
                return send(handle, request, edns.as_ref(), metadata, &[], &[], &[]).await;
            }
        };
        let Some(snapshot) = self.snapshot.get() else {
            // Not synced yet: a negative answer now would be cached by the pod.
            metadata.response_code = ResponseCode::ServFail;
            return send(handle, request, edns.as_ref(), metadata, &[], &[], &[]).await;
        };
        let local = if query.query_class() == DNSClass::IN {
            lookup(&snapshot, query.name(), query.query_type())
        } else {
            None
        };
        if let Some(Answer {
            code,
            answers,
            authority,
            additionals,
        }) = local
        {
            metadata.authoritative = true;
            metadata.response_code = code;
            return send(
                handle,
                request,
                edns.as_ref(),
                metadata,
                &answers,
                &authority,
                &additionals,
            )
            .await;
        }
        match self.forwarder.forward(request.as_slice()).await {
            Ok(answer) => {
                metadata.response_code = answer.metadata.response_code;
                metadata.authoritative = answer.metadata.authoritative;
                send(
                    handle,
                    request,
                    edns.as_ref(),
                    metadata,
                    &answer.answers,
                    &answer.authorities,
                    &answer.additionals,
                )
                .await
            }
            Err(e) => {
                debug!("forwarding {} {}: {e:#}", query.name(), query.query_type());
                metadata.response_code = ResponseCode::ServFail;
                send(handle, request, edns.as_ref(), metadata, &[], &[], &[]).await
            }
        }
    }
}

/// A socket bound to `addr` with `IP_FREEBIND`, so it binds before the
/// address exists (the pod bridge may come up after the agent starts).
fn freebind_socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> anyhow::Result<Socket> {
    let domain = if addr.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let socket = Socket::new(domain, ty, Some(protocol)).context("cannot create a socket")?;
    if addr.is_ipv4() {
        socket.set_freebind_v4(true).context("cannot set IP_FREEBIND")?;
    } else {
        socket.set_freebind_v6(true).context("cannot set IPV6_FREEBIND")?;
    }
    socket.set_reuse_address(true).context("cannot set SO_REUSEADDR")?;
    socket
        .set_nonblocking(true)
        .context("cannot make the socket non-blocking")?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("cannot bind {addr}"))?;
    Ok(socket)
}

/// Binds UDP and TCP on `addr` (port 0: a free port, the same for both) and
/// serves `handler` on both until shut down; returns the bound address.
pub fn serve<H: RequestHandler>(addr: SocketAddr, handler: H) -> anyhow::Result<(Server<H>, SocketAddr)> {
    let udp = freebind_socket(addr, Type::DGRAM, Protocol::UDP)?;
    let udp = tokio::net::UdpSocket::from_std(udp.into()).context("cannot register the UDP socket")?;
    let addr = udp.local_addr().context("no local address")?;
    let tcp = freebind_socket(addr, Type::STREAM, Protocol::TCP)?;
    tcp.listen(1024).with_context(|| format!("cannot listen on {addr}"))?;
    let tcp = tokio::net::TcpListener::from_std(tcp.into()).context("cannot register the TCP listener")?;
    let mut server = Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE, 64);
    Ok((server, addr))
}
