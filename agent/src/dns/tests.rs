//! The DNS server over real UDP and TCP sockets on loopback, fed by informers
//! of an in-process API, forwarding to an upstream the test runs itself.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, Metadata, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use k1s_apiserver::client::Client;
use k1s_apiserver::store::MemoryStore;
use k1s_apiserver::{Api, ApiConfig};
use k1s_proto::resources::find;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::forward::{tcp_exchange, udp_exchange, Forwarder};
use super::{kube_dns, spawn_server};

/// Records the test upstream serves for `big.example.test` (more than 512 bytes).
const BIG: u8 = 60;

/// A tiny upstream resolver: `example.test` and `big.example.test`, NXDOMAIN otherwise.
struct Upstream {
    tcp_queries: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl RequestHandler for Upstream {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut handle: R) -> ResponseInfo {
        if request.protocol() == Protocol::Tcp {
            self.tcp_queries.fetch_add(1, Ordering::SeqCst);
        }
        let query = request.request_info().unwrap().query.original().clone();
        let mut records = Vec::new();
        let qname = query.name().to_ascii();
        let count = match qname.as_str() {
            "example.test." => 1,
            "big.example.test." => BIG,
            _ => 0,
        };
        for i in 0..count {
            records.push(Record::from_rdata(
                query.name().clone(),
                30,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 7 + i))),
            ));
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        if count == 0 {
            metadata.response_code = ResponseCode::NXDomain;
        }
        let response = MessageResponseBuilder::from_message_request(request).build(
            metadata,
            records.iter(),
            [].iter(),
            [].iter(),
            [].iter(),
        );
        handle.send_response(response).await.unwrap()
    }
}

async fn ask(server: SocketAddr, name: &str, qtype: RecordType, tcp: bool) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let id = m.metadata.id;
    let bytes = m.to_vec().unwrap();
    let answer = if tcp {
        tcp_exchange(server, &bytes, id).await
    } else {
        udp_exchange(server, &bytes, id).await
    };
    answer.unwrap_or_else(|e| panic!("{name} {qtype} (tcp: {tcp}): {e:#}"))
}

/// The answer section's data, e.g. `["A 10.43.0.20"]`.
fn data(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| format!("{} {}", r.record_type(), r.data))
        .collect()
}

async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn api() -> (Arc<Api>, Client) {
    let api = Api::new(
        MemoryStore::new(),
        ApiConfig {
            node_name: "node1".into(),
            ..Default::default()
        },
    )
    .expect("api");
    let admin = Client::for_controller(api.clone(), "test");
    (api, admin)
}

async fn create(c: &Client, plural: &str, ns: Option<&str>, obj: Value) -> Value {
    let group = if plural == "endpointslices" {
        "discovery.k8s.io"
    } else {
        ""
    };
    c.create(find(group, "v1", plural).unwrap(), ns, &obj).await.unwrap()
}

fn slice(name: &str, service: &str, endpoints: Value) -> Value {
    json!({"metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
           "addressType": "IPv4", "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}],
           "endpoints": endpoints})
}

#[tokio::test]
async fn serves_the_cluster_over_udp_and_tcp_and_forwards_the_rest() {
    let (api, admin) = api();
    for ns in ["default", "shop"] {
        create(&admin, "namespaces", None, json!({"metadata": {"name": ns}})).await;
    }
    create(
        &admin,
        "services",
        Some("shop"),
        json!({"metadata": {"name": "web"},
               "spec": {"clusterIP": "10.43.0.20", "ports": [{"name": "http", "port": 80}]}}),
    )
    .await;
    create(
        &admin,
        "services",
        Some("shop"),
        json!({"metadata": {"name": "nginx"}, "spec": {"clusterIP": "None", "ports": [{"name": "web", "port": 80}]}}),
    )
    .await;
    create(
        &admin,
        "endpointslices",
        Some("shop"),
        slice(
            "nginx-a",
            "nginx",
            json!([{"addresses": ["10.42.0.7"], "hostname": "web-0", "conditions": {"ready": true}},
                   {"addresses": ["10.42.0.8"], "hostname": "web-1", "conditions": {"ready": true}}]),
        ),
    )
    .await;

    let (stop, shutdown) = watch::channel(false);
    let tcp_queries = Arc::new(AtomicUsize::new(0));
    let (mut upstream, upstream_addr) = super::server::serve(
        "127.0.0.1:0".parse().unwrap(),
        Upstream {
            tcp_queries: tcp_queries.clone(),
        },
    )
    .unwrap();
    let node = Client::for_node(api.clone(), "node1");
    let (task, dns) = spawn_server(
        node,
        "cluster.local",
        "10.43.0.10".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        Forwarder::new(vec![upstream_addr]),
        shutdown,
    )
    .unwrap();

    eventually("the Services in the cache", || async {
        data(&ask(dns, "web.shop.svc.cluster.local.", RecordType::A, false).await) == ["A 10.43.0.20"]
    })
    .await;
    eventually("the headless Service's endpoints", || async {
        data(&ask(dns, "nginx.shop.svc.cluster.local.", RecordType::A, false).await) == ["A 10.42.0.7", "A 10.42.0.8"]
    })
    .await;
    for tcp in [false, true] {
        let m = ask(dns, "web-0.nginx.shop.svc.cluster.local.", RecordType::A, tcp).await;
        assert_eq!(data(&m), ["A 10.42.0.7"]);
        assert!(m.metadata.authoritative);
        let m = ask(dns, "_web._tcp.nginx.shop.svc.cluster.local.", RecordType::SRV, tcp).await;
        assert_eq!(
            data(&m),
            [
                "SRV 0 50 8080 web-0.nginx.shop.svc.cluster.local.",
                "SRV 0 50 8080 web-1.nginx.shop.svc.cluster.local."
            ]
        );
        assert_eq!(m.additionals.len(), 2);
        let m = ask(dns, "nope.shop.svc.cluster.local.", RecordType::A, tcp).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
        let m = ask(dns, "20.0.43.10.in-addr.arpa.", RecordType::PTR, tcp).await;
        assert_eq!(data(&m), ["PTR web.shop.svc.cluster.local."]);
        // Outside the cluster: the upstream's answer.
        let m = ask(dns, "example.test.", RecordType::A, tcp).await;
        assert_eq!(data(&m), ["A 192.0.2.7"]);
        assert!(!m.metadata.authoritative);
        assert!(m.metadata.recursion_available);
        let m = ask(dns, "missing.example.test.", RecordType::A, tcp).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }

    // An answer too big for UDP: the upstream truncates it, the forwarder asks
    // again over TCP, and a TCP client gets it whole.
    let before = tcp_queries.load(Ordering::SeqCst);
    let m = ask(dns, "big.example.test.", RecordType::A, true).await;
    assert_eq!(m.answers.len(), usize::from(BIG));
    assert!(
        tcp_queries.load(Ordering::SeqCst) > before,
        "the forwarder retried over TCP"
    );
    // Over UDP without EDNS the client gets the 512-byte cut with TC set.
    let m = ask(dns, "big.example.test.", RecordType::A, false).await;
    assert!(m.metadata.truncation);

    // The cache follows the watch: an endpoint turning unready leaves the answers.
    let slices = find("discovery.k8s.io", "v1", "endpointslices").unwrap();
    let mut s = admin.get(slices, Some("shop"), "nginx-a").await.unwrap();
    s["endpoints"][1]["conditions"]["ready"] = json!(false);
    admin.update(slices, Some("shop"), &s).await.unwrap();
    eventually("the unready endpoint gone", || async {
        data(&ask(dns, "nginx.shop.svc.cluster.local.", RecordType::A, false).await) == ["A 10.42.0.7"]
    })
    .await;
    let services = find("", "v1", "services").unwrap();
    admin.delete(services, Some("shop"), "web", &Value::Null).await.unwrap();
    eventually("the deleted Service gone", || async {
        ask(dns, "web.shop.svc.cluster.local.", RecordType::A, false)
            .await
            .metadata
            .response_code
            == ResponseCode::NXDomain
    })
    .await;

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    upstream.shutdown_gracefully().await.unwrap();
}

#[tokio::test]
async fn keeps_the_kube_dns_service_and_endpoints() {
    let (api, admin) = api();
    create(&admin, "namespaces", None, json!({"metadata": {"name": "kube-system"}})).await;
    let (stop, shutdown) = watch::channel(false);
    let node = Client::for_node(api.clone(), "node1");
    let gateway = IpAddr::V4(Ipv4Addr::new(10, 42, 0, 1));
    let task = tokio::spawn(kube_dns::keep(node, "10.43.0.10".parse().unwrap(), gateway, shutdown));
    let services = find("", "v1", "services").unwrap();
    let endpoints = find("", "v1", "endpoints").unwrap();
    eventually("the Service and its Endpoints", || async {
        let svc = admin.get(services, Some("kube-system"), "kube-dns").await;
        let eps = admin.get(endpoints, Some("kube-system"), "kube-dns").await;
        matches!((svc, eps), (Ok(s), Ok(e))
            if s["spec"]["clusterIP"] == "10.43.0.10"
            && s["metadata"]["labels"]["k8s-app"] == "kube-dns"
            && e["subsets"][0]["addresses"][0]["ip"] == "10.42.0.1")
    })
    .await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn nothing_from_the_cluster_before_the_first_snapshot() {
    use super::records::Snapshot;
    use super::server::{serve, Handler, SharedSnapshot};
    let shared = SharedSnapshot::default();
    let (mut server, addr) = serve(
        "127.0.0.1:0".parse().unwrap(),
        Handler::new(shared.clone(), Forwarder::default()),
    )
    .unwrap();
    let m = ask(addr, "kubernetes.default.svc.cluster.local.", RecordType::A, false).await;
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::ServFail,
        "not NXDOMAIN, which pods would cache"
    );
    let kubernetes = Arc::new(json!({"metadata": {"name": "kubernetes", "namespace": "default"},
                                     "spec": {"clusterIP": "10.43.0.1"}}));
    shared.set(Snapshot::build("cluster.local", None, &[kubernetes], &[], 1));
    let m = ask(addr, "kubernetes.default.svc.cluster.local.", RecordType::A, true).await;
    assert_eq!(data(&m), ["A 10.43.0.1"]);
    server.shutdown_gracefully().await.unwrap();
}
