use super::*;
use serde_json::json;

fn snapshot() -> Snapshot {
    let services = vec![
        json!({"metadata": {"name": "kubernetes", "namespace": "default"},
               "spec": {"clusterIP": "10.43.0.1", "clusterIPs": ["10.43.0.1"],
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}),
        json!({"metadata": {"name": "web", "namespace": "shop"},
               "spec": {"clusterIP": "10.43.0.20", "ports": [
                   {"name": "http", "port": 80, "protocol": "TCP"},
                   {"name": "metrics", "port": 9090, "protocol": "TCP"},
                   {"port": 53, "protocol": "UDP"}]}}),
        json!({"metadata": {"name": "nginx", "namespace": "shop"},
               "spec": {"clusterIP": "None", "ports": [{"name": "web", "port": 80}]}}),
        json!({"metadata": {"name": "early", "namespace": "shop"},
               "spec": {"clusterIP": "None", "publishNotReadyAddresses": true}}),
        json!({"metadata": {"name": "db", "namespace": "shop"},
               "spec": {"type": "ExternalName", "externalName": "db.example.test."}}),
        json!({"metadata": {"name": "dual", "namespace": "shop"},
               "spec": {"clusterIP": "10.43.0.30", "clusterIPs": ["10.43.0.30", "fd00:43::30"]}}),
    ];
    let slices = vec![
        json!({"metadata": {"name": "nginx-abc", "namespace": "shop",
                            "labels": {"kubernetes.io/service-name": "nginx"}},
               "addressType": "IPv4",
               "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}],
               "endpoints": [
                   {"addresses": ["10.42.0.7"], "hostname": "web-0", "conditions": {"ready": true}},
                   {"addresses": ["10.42.0.8"], "hostname": "web-1", "conditions": {"ready": true}},
                   {"addresses": ["10.42.0.9"], "hostname": "web-2", "conditions": {"ready": false}},
                   {"addresses": ["10.42.0.10"]}]}),
        json!({"metadata": {"name": "early-x", "namespace": "shop",
                            "labels": {"kubernetes.io/service-name": "early"}},
               "addressType": "IPv4", "ports": [],
               "endpoints": [{"addresses": ["10.42.0.11"], "conditions": {"ready": false}}]}),
        json!({"metadata": {"name": "web-x", "namespace": "shop",
                            "labels": {"kubernetes.io/service-name": "web"}},
               "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
               "endpoints": [{"addresses": ["10.42.0.12"], "conditions": {"ready": true}}]}),
        // A slice of a Service that does not exist is ignored.
        json!({"metadata": {"name": "ghost-x", "namespace": "shop",
                            "labels": {"kubernetes.io/service-name": "ghost"}},
               "endpoints": [{"addresses": ["10.42.0.99"]}]}),
    ];
    let arc = |v: Vec<Value>| v.into_iter().map(Arc::new).collect::<Vec<_>>();
    Snapshot::build(
        "cluster.local",
        Some("10.43.0.10".parse().unwrap()),
        &arc(services),
        &arc(slices),
        1700000000,
    )
}

fn ask(qname: &str, qtype: RecordType) -> Option<Answer> {
    lookup(&snapshot(), &Name::from_ascii(qname).unwrap(), qtype)
}

/// The answer's rcode and its answer section as `type data` strings.
fn show(a: &Answer) -> (ResponseCode, Vec<String>) {
    let data = a
        .answers
        .iter()
        .map(|r| format!("{} {}", r.record_type(), r.data))
        .collect();
    (a.code, data)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn names_and_addresses() {
    for (ip, label) in [("10.42.0.7", "10-42-0-7"), ("fd00::1", "fd00--1")] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(dashed(&ip), label);
        assert_eq!(undashed(label), Some(ip));
    }
    assert_eq!(undashed("web-0"), None);
    assert_eq!(undashed("10.42.0.7"), None);
}

#[test]
fn answers_for_the_cluster_domain() {
    use RecordType::*;
    let nx = ResponseCode::NXDomain;
    let ok = ResponseCode::NoError;
    let cases: Vec<(&str, RecordType, ResponseCode, Vec<&str>)> = vec![
        ("kubernetes.default.svc.cluster.local.", A, ok, vec!["A 10.43.0.1"]),
        ("KUBERNETES.Default.svc.cluster.local.", A, ok, vec!["A 10.43.0.1"]),
        ("web.shop.svc.cluster.local.", A, ok, vec!["A 10.43.0.20"]),
        // ClusterIP, IPv4 only: AAAA is NODATA, not NXDOMAIN.
        ("web.shop.svc.cluster.local.", AAAA, ok, vec![]),
        ("web.shop.svc.cluster.local.", TXT, ok, vec![]),
        ("dual.shop.svc.cluster.local.", AAAA, ok, vec!["AAAA fd00:43::30"]),
        // Headless: the ready endpoints only.
        (
            "nginx.shop.svc.cluster.local.",
            A,
            ok,
            vec!["A 10.42.0.7", "A 10.42.0.8", "A 10.42.0.10"],
        ),
        ("early.shop.svc.cluster.local.", A, ok, vec!["A 10.42.0.11"]),
        ("web-0.nginx.shop.svc.cluster.local.", A, ok, vec!["A 10.42.0.7"]),
        ("10-42-0-10.nginx.shop.svc.cluster.local.", A, ok, vec!["A 10.42.0.10"]),
        // Not ready: no name.
        ("web-2.nginx.shop.svc.cluster.local.", A, nx, vec![]),
        ("db.shop.svc.cluster.local.", A, ok, vec!["CNAME db.example.test."]),
        ("missing.shop.svc.cluster.local.", A, nx, vec![]),
        // The search path as a pod in `default` walks it for `kubernetes.default`.
        ("kubernetes.default.default.svc.cluster.local.", A, nx, vec![]),
        ("kubernetes.default.svc.cluster.local.", A, ok, vec!["A 10.43.0.1"]),
        ("a.b.c.d.e.svc.cluster.local.", A, nx, vec![]),
        ("shop.svc.cluster.local.", A, ok, vec![]),
        ("nowhere.svc.cluster.local.", A, nx, vec![]),
        ("svc.cluster.local.", A, ok, vec![]),
        ("cluster.local.", A, ok, vec![]),
        ("other.cluster.local.", A, nx, vec![]),
        ("10-42-0-7.any.pod.cluster.local.", A, ok, vec!["A 10.42.0.7"]),
        ("fd00--7.any.pod.cluster.local.", AAAA, ok, vec!["AAAA fd00::7"]),
        ("10-42-0-7.any.pod.cluster.local.", AAAA, ok, vec![]),
        ("not-an-ip.any.pod.cluster.local.", A, nx, vec![]),
        ("dns-version.cluster.local.", TXT, ok, vec!["TXT 1.1.0"]),
        ("ns.dns.cluster.local.", A, ok, vec!["A 10.43.0.10"]),
    ];
    for (qname, qtype, code, data) in cases {
        let a = ask(qname, qtype).unwrap_or_else(|| panic!("{qname} is the cluster's"));
        assert_eq!(show(&a), (code, strings(&data)), "{qname} {qtype}");
        // NXDOMAIN and NODATA carry the zone's SOA so resolvers cache the negative answer.
        if a.answers.is_empty() {
            assert_eq!(a.authority.len(), 1, "{qname} {qtype}");
            assert_eq!(a.authority[0].record_type(), SOA);
            assert_eq!(a.authority[0].name.to_ascii(), "cluster.local.");
        }
        // The owner name is the question as asked.
        for r in &a.answers {
            assert_eq!(r.name.to_ascii(), qname);
            assert_eq!(r.ttl, TTL);
        }
    }
}

#[test]
fn the_apex_has_soa_and_ns() {
    let a = ask("cluster.local.", RecordType::SOA).unwrap();
    assert_eq!(
        show(&a),
        (
            ResponseCode::NoError,
            strings(&["SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5"])
        )
    );
    let ns = ask("cluster.local.", RecordType::NS).unwrap();
    assert_eq!(show(&ns).1, strings(&["NS ns.dns.cluster.local."]));
    assert_eq!(ns.additionals[0].to_string(), "ns.dns.cluster.local. 5 IN A 10.43.0.10");
}

#[test]
fn srv_records() {
    use RecordType::*;
    let nx = ResponseCode::NXDomain;
    let ok = ResponseCode::NoError;
    type Case<'a> = (&'a str, RecordType, ResponseCode, Vec<&'a str>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "_http._tcp.web.shop.svc.cluster.local.",
            SRV,
            ok,
            vec!["SRV 0 100 80 web.shop.svc.cluster.local."],
            vec!["web.shop.svc.cluster.local. 5 IN A 10.43.0.20"],
        ),
        ("_http._udp.web.shop.svc.cluster.local.", SRV, nx, vec![], vec![]),
        ("_nope._tcp.web.shop.svc.cluster.local.", SRV, nx, vec![], vec![]),
        ("_http._tcp.web.shop.svc.cluster.local.", A, ok, vec![], vec![]),
        ("_tcp.web.shop.svc.cluster.local.", SRV, ok, vec![], vec![]),
        // Every port of the Service, named or not.
        (
            "web.shop.svc.cluster.local.",
            SRV,
            ok,
            vec![
                "SRV 0 33 80 web.shop.svc.cluster.local.",
                "SRV 0 33 9090 web.shop.svc.cluster.local.",
                "SRV 0 33 53 web.shop.svc.cluster.local.",
            ],
            vec!["web.shop.svc.cluster.local. 5 IN A 10.43.0.20"],
        ),
        // Headless: one per ready endpoint, the endpoint's port and name.
        (
            "_web._tcp.nginx.shop.svc.cluster.local.",
            SRV,
            ok,
            vec![
                "SRV 0 33 8080 web-0.nginx.shop.svc.cluster.local.",
                "SRV 0 33 8080 web-1.nginx.shop.svc.cluster.local.",
                "SRV 0 33 8080 10-42-0-10.nginx.shop.svc.cluster.local.",
            ],
            vec![
                "web-0.nginx.shop.svc.cluster.local. 5 IN A 10.42.0.7",
                "web-1.nginx.shop.svc.cluster.local. 5 IN A 10.42.0.8",
                "10-42-0-10.nginx.shop.svc.cluster.local. 5 IN A 10.42.0.10",
            ],
        ),
    ];
    for (qname, qtype, code, data, extra) in cases {
        let a = ask(qname, qtype).unwrap();
        assert_eq!(show(&a), (code, strings(&data)), "{qname} {qtype}");
        let additionals: Vec<String> = a.additionals.iter().map(|r| r.to_string()).collect();
        assert_eq!(additionals, strings(&extra), "{qname} {qtype}");
    }
}

#[test]
fn reverse_names() {
    let cases: Vec<(&str, Option<Vec<&str>>)> = vec![
        (
            "1.0.43.10.in-addr.arpa.",
            Some(vec!["PTR kubernetes.default.svc.cluster.local."]),
        ),
        (
            "7.0.42.10.in-addr.arpa.",
            Some(vec!["PTR web-0.nginx.shop.svc.cluster.local."]),
        ),
        (
            "10.0.42.10.in-addr.arpa.",
            Some(vec!["PTR 10-42-0-10.nginx.shop.svc.cluster.local."]),
        ),
        (
            "12.0.42.10.in-addr.arpa.",
            Some(vec!["PTR 10-42-0-12.web.shop.svc.cluster.local."]),
        ),
        (
            "0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa.",
            Some(vec!["PTR dual.shop.svc.cluster.local."]),
        ),
        // Not the cluster's: forwarded, as CoreDNS's fallthrough.
        ("9.0.42.10.in-addr.arpa.", None),
        ("8.8.8.8.in-addr.arpa.", None),
        ("0.42.10.in-addr.arpa.", None),
    ];
    for (qname, want) in cases {
        let got = ask(qname, RecordType::PTR).map(|a| show(&a));
        assert_eq!(got, want.map(|w| (ResponseCode::NoError, strings(&w))), "{qname}");
    }
}

#[test]
fn other_names_are_not_ours() {
    for qname in ["example.test.", "cluster.local.example.test.", "xcluster.local.", "."] {
        assert_eq!(ask(qname, RecordType::A), None, "{qname}");
    }
    // Another cluster domain.
    let snap = Snapshot::build("k1s.internal", None, &[], &[], 1);
    let q = Name::from_ascii("web.shop.svc.k1s.internal.").unwrap();
    assert_eq!(lookup(&snap, &q, RecordType::A).unwrap().code, ResponseCode::NXDomain);
    let q = Name::from_ascii("web.shop.svc.cluster.local.").unwrap();
    assert_eq!(lookup(&snap, &q, RecordType::A), None);
}
