//! Lab L03 — Services, load balancing and DNS: a web Deployment of 3 whose
//! server answers with its own hostname, behind a ClusterIP Service `web`, a
//! NodePort Service (nodePort 30080), a LoadBalancer Service and a headless
//! one. From a debug pod (`kubectl run -it --rm`) 20 requests to `http://web`
//! reach at least 2 pods; `nslookup` resolves the Service names to the
//! ClusterIP and the headless one to the pod IPs; from the host, the NodePort
//! answers on 127.0.0.1 and the node address, the LoadBalancer on its
//! EXTERNAL-IP (the node address, never `<pending>`); a pod that is not Ready
//! gets no traffic; `kubectl expose deployment` makes a working Service.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k1s_e2e::{free_port, http_get, wait_for, Server};

const NS: &str = "lab03";
/// A name outside the cluster, and what the test's upstream resolver answers for it.
const OUTSIDE: (&str, &str) = ("www.outside.test", "192.0.2.55");

/// The host's resolver as the cluster DNS sees it: dnsmasq on the slot's
/// upstream loopback address, answering for [`OUTSIDE`] only.
struct Upstream(Child);

impl Upstream {
    fn start(addr: Ipv4Addr) -> Upstream {
        let child = Command::new("dnsmasq")
            .args([
                "-k",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--port=53",
            ])
            .arg(format!("--listen-address={addr}"))
            .arg(format!("--address=/{}/{}", OUTSIDE.0, OUTSIDE.1))
            .arg("--pid-file=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (scripts/install-deps.sh installs dnsmasq-base)");
        Upstream(child)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The web server: answers every GET with its hostname; Ready while /tmp/ready exists.
const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: lab03}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: python:3.11-slim
        command: ["python", "-c"]
        args:
        - |
          import http.server, socket
          class Hostname(http.server.BaseHTTPRequestHandler):
              def do_GET(self):
                  body = (socket.gethostname() + "\n").encode()
                  self.send_response(200)
                  self.send_header("Content-Length", str(len(body)))
                  self.end_headers()
                  self.wfile.write(body)
              def log_message(self, *args):
                  pass
          open("/tmp/ready", "w").close()
          http.server.ThreadingHTTPServer(("", 8080), Hostname).serve_forever()
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          exec: {command: ["cat", "/tmp/ready"]}
          periodSeconds: 1
          failureThreshold: 1
"#;

fn services(lb_port: u16) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: lab03}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-nodeport, namespace: lab03}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, nodePort: 30080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-lb, namespace: lab03}}
spec:
  type: LoadBalancer
  # Parallel test servers share this host: no random nodePort to collide on.
  allocateLoadBalancerNodePorts: false
  selector: {{app: web}}
  ports: [{{port: {lb_port}, targetPort: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-headless, namespace: lab03}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{port: 8080, targetPort: http}}]
"#
    )
}

/// One HTTP GET from the host; the body of a 200, or `None` if nothing answered.
fn host_get(addr: &str) -> Option<String> {
    let reply = http_get(addr, Duration::from_secs(3), Duration::from_secs(5)).ok()?;
    reply.status_line.starts_with("HTTP/1.0 200").then_some(reply.body)
}

/// The hostnames that answered `n` GETs of `url` from inside the debug pod
/// (`timeout`, not wget's `-T`, which crashes Debian's busybox 1.35 the test image is built from).
fn hostnames_from_pod(server: &Server, url: &str, n: usize) -> Vec<String> {
    let script = format!("for i in $(seq {n}); do timeout 5 wget -q -O- {url} || echo FAILED; done");
    let out = server.kubectl_ok(&["exec", "-n", NS, "debug", "--", "sh", "-c", &script]);
    out.lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `nslookup NAME` in the debug pod: the addresses of the answer (after the server's own).
fn nslookup(server: &Server, name: &str) -> Option<BTreeSet<String>> {
    // Its exit status also counts the AAAA query, which has no answer here.
    let out = server.kubectl(&["exec", "-n", NS, "debug", "--", "nslookup", name]);
    let text = String::from_utf8_lossy(&out.stdout);
    // busybox prints `Server:`/`Address:` of the resolver first, then `Name:`/`Address:` pairs.
    let answer = text.split_once("Name:")?.1;
    let addrs: BTreeSet<String> = answer
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Address:"))
        .map(|a| a.trim().to_string())
        .collect();
    (!addrs.is_empty()).then_some(addrs)
}

fn jsonpath(server: &Server, args: &[&str], path: &str) -> String {
    let mut a: Vec<&str> = args.to_vec();
    let p = format!("jsonpath={path}");
    a.extend(["-o", &p]);
    server.kubectl_ok(&a).trim().to_string()
}

#[test]
fn lab_03_services() {
    let server = Server::start_node().expect("server");
    let _upstream = Upstream::start(server.upstream_dns().expect("a node's upstream resolver address"));
    server.import_test_images().expect("import test images");
    server.kubectl_ok(&["create", "namespace", NS]);
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(WEB));
    let lb_port = free_port();
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&services(lb_port)));
    server.kubectl_ok(&[
        "run",
        "debug",
        "-n",
        NS,
        "--image=busybox:1.36",
        "--restart=Never",
        "--",
        "sleep",
        "3600",
    ]);
    server.kubectl_ok(&["rollout", "status", "-n", NS, "deployment/web", "--timeout=120s"]);
    server.wait_pod(NS, "debug", "1/1", "Running", Duration::from_secs(60));

    let node_ip = jsonpath(
        &server,
        &["get", "node", "e2e-node"],
        r#"{.status.addresses[?(@.type=="InternalIP")].address}"#,
    );
    let cluster_ip = jsonpath(&server, &["get", "svc", "-n", NS, "web"], "{.spec.clusterIP}");
    let pods = jsonpath(
        &server,
        &["get", "pods", "-n", NS, "-l", "app=web"],
        r#"{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}"#,
    );
    let pods: Vec<(String, String)> = pods
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, ip)| (n.to_string(), ip.to_string()))
        .collect();
    assert_eq!(pods.len(), 3, "{pods:?}");
    let names: BTreeSet<String> = pods.iter().map(|(n, _)| n.clone()).collect();

    // The LoadBalancer's EXTERNAL-IP is the node address (it never stays `<pending>`).
    let external = wait_for("the EXTERNAL-IP", Duration::from_secs(30), || {
        let out = server.kubectl_ok(&["get", "svc", "-n", NS, "web-lb"]);
        let row: Vec<String> = out.lines().nth(1)?.split_whitespace().map(String::from).collect();
        (row.get(3).map(String::as_str) != Some("<pending>")).then(|| row[3].clone())
    });
    assert_eq!(external, node_ip);

    // The Service names resolve to the ClusterIP. busybox's nslookup applies
    // the search path only to names without a dot (on any cluster), so
    // `web.<ns>` is looked up as a pod's programs do: getaddrinfo with the
    // pod's search path and ndots (python in a web pod).
    let want: BTreeSet<String> = [cluster_ip.clone()].into();
    for name in ["web", &format!("web.{NS}.svc.cluster.local")] {
        let got = wait_for(&format!("nslookup {name}"), Duration::from_secs(30), || {
            nslookup(&server, name)
        });
        assert_eq!(got, want, "nslookup {name}");
    }
    let web_pod = &names.iter().next().cloned().unwrap_or_default();
    for name in ["web", &format!("web.{NS}"), &format!("web.{NS}.svc.cluster.local")] {
        let script = format!("import socket; print(socket.gethostbyname('{name}'))");
        let got = server.kubectl_ok(&["exec", "-n", NS, web_pod, "--", "python", "-c", &script]);
        assert_eq!(got.trim(), cluster_ip, "getaddrinfo {name}");
    }
    // A name outside the cluster domain goes to the host's (here: the test's) resolver.
    let outside = wait_for("nslookup of an outside name", Duration::from_secs(30), || {
        nslookup(&server, OUTSIDE.0)
    });
    assert_eq!(outside, [OUTSIDE.1.to_string()].into());
    let pod_ips: BTreeSet<String> = pods.iter().map(|(_, ip)| ip.clone()).collect();
    let headless = wait_for("nslookup web-headless", Duration::from_secs(30), || {
        nslookup(&server, "web-headless")
    });
    assert_eq!(headless, pod_ips, "the headless Service resolves to the pod IPs");

    // 20 requests from `kubectl run -it --rm debug` reach at least 2 pods.
    let out = server.kubectl_stdin_ok(
        &[
            "run",
            "-it",
            "--rm",
            "debug-it",
            "-n",
            NS,
            "--image=busybox:1.36",
            "--restart=Never",
            "--",
            "sh",
        ],
        Some("for i in $(seq 20); do timeout 5 wget -q -O- http://web; done; exit 0\n"),
    );
    let answered: BTreeSet<&str> = out.lines().map(str::trim).filter(|l| names.contains(*l)).collect();
    assert!(answered.len() >= 2, "20 requests reached {answered:?}:\n{out}");

    // From the host: the NodePort on loopback and the node address.
    for addr in ["127.0.0.1:30080".to_string(), format!("{node_ip}:30080")] {
        let body = wait_for(&format!("http://{addr}"), Duration::from_secs(30), || host_get(&addr));
        assert!(names.contains(&body), "{addr} answered {body:?}");
    }

    // The LoadBalancer answers on its EXTERNAL-IP.
    let lb = format!("{node_ip}:{lb_port}");
    let body = wait_for("the load balancer", Duration::from_secs(30), || host_get(&lb));
    assert!(names.contains(&body), "{lb} answered {body:?}");

    // `kubectl expose deployment` makes a working Service.
    server.kubectl_ok(&[
        "expose",
        "deployment",
        "web",
        "-n",
        NS,
        "--name=web-exposed",
        "--port=8081",
        "--target-port=8080",
    ]);
    let exposed = wait_for("the exposed Service answering", Duration::from_secs(30), || {
        let got = hostnames_from_pod(&server, "http://web-exposed:8081", 3);
        got.iter().all(|h| names.contains(h)).then_some(got)
    });
    assert_eq!(exposed.len(), 3);

    // A pod that is not Ready gets no traffic.
    let (unready, unready_ip) = pods[0].clone();
    server.kubectl_ok(&["exec", "-n", NS, &unready, "--", "rm", "/tmp/ready"]);
    server.wait_pod(NS, &unready, "0/1", "Running", Duration::from_secs(30));
    wait_for("the endpoints without it", Duration::from_secs(30), || {
        let ready = jsonpath(
            &server,
            &["get", "endpoints", "-n", NS, "web"],
            "{.subsets[*].addresses[*].ip}",
        );
        (!ready.contains(&unready_ip)).then_some(())
    });
    wait_for("the rules without it", Duration::from_secs(30), || {
        (!hostnames_from_pod(&server, "http://web", 10).contains(&unready)).then_some(())
    });
    let through_cluster_ip = hostnames_from_pod(&server, "http://web", 30);
    assert!(
        through_cluster_ip.iter().all(|h| h != &unready && names.contains(h)),
        "{through_cluster_ip:?}"
    );
    for _ in 0..20 {
        let body = host_get("127.0.0.1:30080");
        assert!(
            body.as_deref().is_some_and(|b| b != unready && names.contains(b)),
            "{body:?}"
        );
    }

    // Beyond the lab (issue 6): a port already taken on the node leaves a
    // LoadBalancer `<pending>` with an event saying who holds it — another
    // load balancer (until it lets go) or a process on the host.
    let holder = std::net::TcpListener::bind((node_ip.as_str(), 0)).expect("a port on the node address");
    let held_port = holder.local_addr().expect("its port").port();
    for (name, port) in [("web-lb-2", lb_port), ("web-lb-3", held_port)] {
        server.kubectl_ok(&[
            "create",
            "service",
            "loadbalancer",
            name,
            "-n",
            NS,
            &format!("--tcp={port}:8080"),
        ]);
    }
    let why = [
        (
            "web-lb-2",
            format!("port {lb_port}/TCP on node e2e-node is already used by the load balancer of Service {NS}/web-lb"),
        ),
        (
            "web-lb-3",
            format!("{node_ip}:{held_port} is in use by another process"),
        ),
    ];
    for (name, reason) in &why {
        wait_for(&format!("{name} refused"), Duration::from_secs(30), || {
            let d = server.kubectl_ok(&["describe", "svc", "-n", NS, name]);
            (d.contains("SyncLoadBalancerFailed") && d.contains(reason.as_str())).then_some(())
        });
        let out = server.kubectl_ok(&["get", "svc", "-n", NS, name, "--no-headers"]);
        assert_eq!(out.split_whitespace().nth(3), Some("<pending>"), "{out}");
    }
    server.kubectl_ok(&["delete", "svc", "-n", NS, "web-lb"]);
    wait_for("web-lb-2 balanced once web-lb let go", Duration::from_secs(30), || {
        let ip = jsonpath(
            &server,
            &["get", "svc", "-n", NS, "web-lb-2"],
            "{.status.loadBalancer.ingress[0].ip}",
        );
        (ip == node_ip).then_some(())
    });
    drop(holder);
}
