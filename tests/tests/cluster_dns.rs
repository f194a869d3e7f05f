//! Cluster DNS as pods see it: the `kube-dns` Service (at the address the
//! kubelet writes into pods' resolv.conf) and its mirrored EndpointSlice
//! naming the DNS server on the pod gateway; glibc's resolver walking the
//! search path with `ndots:5` (`kubernetes.default`, a Service by short,
//! namespaced and full name, `hostname.subdomain`, an outside name answered by
//! an upstream the test runs itself: dnsmasq on a loopback address given to
//! k1s with `--resolv-conf`); and busybox's `nslookup` for A, SRV, PTR,
//! headless Services, pod A records, NXDOMAIN and ExternalName CNAMEs.
//!
//! Most queries go to the gateway address; one goes to the kube-dns ClusterIP
//! named in the pod's resolv.conf, through the service proxy's rules.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k1s_e2e::Server;

const TIMEOUT: Duration = Duration::from_secs(60);

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{name: c, image: "busybox:1.36", command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: shop, labels: {app: db}}
spec:
  hostname: db-0
  subdomain: dbs
  terminationGracePeriodSeconds: 0
  containers: [{name: c, image: "busybox:1.36", command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Service
metadata: {name: dbs, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: shop}
spec: {type: ExternalName, externalName: example.test}
"#;

/// A pod with glibc's resolver (python's `socket.gethostbyname_ex`) and the
/// resolv.conf the kubelet writes for `ClusterFirst`, but naming the DNS
/// server on the pod gateway rather than the kube-dns ClusterIP, so the search
/// path is exercised without the service proxy.
fn resolver_pod(namespace: &str, gateway: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: resolver, namespace: {namespace}}}
spec:
  terminationGracePeriodSeconds: 0
  dnsPolicy: None
  dnsConfig:
    nameservers: ["{gateway}"]
    searches: [{namespace}.svc.cluster.local, svc.cluster.local, cluster.local]
    options: [{{name: ndots, value: "5"}}]
  containers: [{{name: c, image: "python:3.11-slim", command: [sleep, "3600"]}}]
"#
    )
}

/// dnsmasq answering `example.test` on the server's upstream address; killed on drop.
struct Upstream(Child);

impl Upstream {
    fn start(server: &Server) -> Upstream {
        let addr = server.upstream_dns().expect("a node server has an upstream address");
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--pid-file=",
                "--bind-interfaces",
                &format!("--listen-address={addr}"),
                "--port=53",
                "--host-record=example.test,192.0.2.10",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (Debian's dnsmasq-base) runs");
        Upstream(child)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs busybox's `nslookup` (which applies no search path) against the DNS
/// server on the pod gateway in a pod until its output contains every `want`.
fn lookup(server: &Server, ns: &str, pod: &str, args: &[&str], want: &[&str]) -> String {
    let mut cmd = vec!["exec", "-n", ns, pod, "--", "nslookup"];
    cmd.extend_from_slice(args);
    let gateway = server.pod_gateway().expect("a node server").to_string();
    cmd.push(&gateway);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let out = server.kubectl(&cmd);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if want.iter().all(|w| text.contains(w)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "nslookup {args:?} in {ns}/{pod} never showed {want:?}; last:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// glibc's `gethostbyname` (search path and ndots) in a resolver pod until it
/// gives `ip` as the address of `fqdn`.
fn resolve(server: &Server, ns: &str, name: &str, ip: &str, fqdn: &str) {
    let script = "import socket, sys\nh, _, ips = socket.gethostbyname_ex(sys.argv[1])\nprint(h, *ips)";
    let want = format!("{fqdn} {ip}");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let out = server.kubectl(&["exec", "-n", ns, "resolver", "--", "python", "-c", script, name]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.trim() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gethostbyname({name}) in {ns} never gave {want:?}; last: {text:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs kubectl until its output contains `want`.
fn wait_for_output(server: &Server, args: &[&str], want: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let out = server.kubectl(args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl {args:?} never showed {want:?}; last: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn jsonpath(server: &Server, args: &[&str], path: &str) -> String {
    let mut a = args.to_vec();
    let p = format!("jsonpath={path}");
    a.extend(["-o", &p]);
    server.kubectl_ok(&a).trim().to_string()
}

#[test]
fn cluster_dns() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    let _upstream = Upstream::start(&server);
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(MANIFESTS));
    let gateway = server.pod_gateway().expect("a node server").to_string();
    for ns in ["default", "shop"] {
        server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&resolver_pod(ns, &gateway)));
    }
    server.wait_pod("default", "client", "1/1", "Running", TIMEOUT);
    server.wait_pod("default", "resolver", "1/1", "Running", TIMEOUT);
    server.wait_pod("shop", "resolver", "1/1", "Running", TIMEOUT);
    server.wait_pod("shop", "db-0", "1/1", "Running", TIMEOUT);

    // The kube-dns Service k3s users look for, at the address pods are given.
    let dns_ip = server.cluster_dns_ip();
    assert_eq!(
        jsonpath(
            &server,
            &["get", "svc", "kube-dns", "-n", "kube-system"],
            "{.spec.clusterIP}"
        ),
        dns_ip
    );
    assert_eq!(
        jsonpath(
            &server,
            &["get", "svc", "kube-dns", "-n", "kube-system"],
            "{.metadata.labels.k8s-app}"
        ),
        "kube-dns"
    );
    let resolv = server.kubectl_ok(&["exec", "client", "--", "cat", "/etc/resolv.conf"]);
    assert_eq!(
        resolv,
        format!(
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver {dns_ip}\noptions ndots:5\n"
        )
    );
    // Its Endpoints are mirrored into a slice the proxy routes by.
    let slice_addr = jsonpath(
        &server,
        &[
            "get",
            "endpointslices",
            "-n",
            "kube-system",
            "-l",
            "endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io,kubernetes.io/service-name=kube-dns",
        ],
        "{.items[0].endpoints[0].addresses[0]}",
    );
    assert_eq!(slice_addr, server.pod_gateway().unwrap().to_string());

    // As a pod's glibc resolver walks the search path with ndots:5:
    // `kubernetes.default` is tried as kubernetes.default.default.svc.cluster.local
    // (NXDOMAIN) before kubernetes.default.svc.cluster.local.
    let api_ip = server.kubernetes_service_ip();
    resolve(
        &server,
        "default",
        "kubernetes.default",
        &api_ip,
        "kubernetes.default.svc.cluster.local",
    );
    // A Service by its short name from its own namespace, and by its
    // namespaced and full names from another.
    let web_ip = jsonpath(&server, &["get", "svc", "web", "-n", "shop"], "{.spec.clusterIP}");
    let web_fqdn = "web.shop.svc.cluster.local";
    resolve(&server, "shop", "web", &web_ip, web_fqdn);
    resolve(&server, "default", "web.shop", &web_ip, web_fqdn);
    resolve(&server, "default", "web.shop.svc.cluster.local", &web_ip, web_fqdn);
    // An outside name falls through the search path to the upstream.
    resolve(&server, "default", "example.test", "192.0.2.10", "example.test");

    // Record types, from busybox's nslookup.
    let web = format!("Address: {web_ip}");
    lookup(&server, "default", "client", &[web_fqdn], &[&web]);
    lookup(
        &server,
        "default",
        "client",
        &["-type=srv", "_http._tcp.web.shop.svc.cluster.local"],
        &["service = 0 100 80 web.shop.svc.cluster.local"],
    );
    lookup(
        &server,
        "default",
        "client",
        &[&web_ip],
        &["name = web.shop.svc.cluster.local"],
    );

    // Through the kube-dns ClusterIP of the pod's own resolv.conf (the service
    // proxy's rules lead it to the gateway).
    let via_service = wait_for_output(&server, &["exec", "client", "--", "nslookup", web_fqdn], &web);
    assert!(via_service.contains(&format!("Server:\t\t{dns_ip}")), "{via_service}");

    // Headless: the pod's address, under the Service's name and the pod's own.
    let db_ip = jsonpath(&server, &["get", "pod", "db-0", "-n", "shop"], "{.status.podIP}");
    let db = format!("Address: {db_ip}");
    lookup(&server, "default", "client", &["dbs.shop.svc.cluster.local"], &[&db]);
    lookup(
        &server,
        "default",
        "client",
        &["db-0.dbs.shop.svc.cluster.local"],
        &[&db],
    );
    resolve(&server, "shop", "db-0.dbs", &db_ip, "db-0.dbs.shop.svc.cluster.local");
    let dashed = db_ip.replace('.', "-");
    lookup(
        &server,
        "default",
        "client",
        &[&format!("{dashed}.shop.pod.cluster.local")],
        &[&db],
    );

    // Unknown names in the cluster domain: NXDOMAIN, not a timeout.
    lookup(
        &server,
        "default",
        "client",
        &["nope.shop.svc.cluster.local"],
        &["NXDOMAIN"],
    );

    // Outside names go to the upstream of --resolv-conf; ExternalName is a CNAME.
    lookup(
        &server,
        "default",
        "client",
        &["example.test"],
        &["Address: 192.0.2.10"],
    );
    lookup(
        &server,
        "default",
        "client",
        &["ext.shop.svc.cluster.local"],
        &["canonical name = example.test"],
    );
}
