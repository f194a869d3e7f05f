//! The iptables Service proxy end to end: a ClusterIP reached from the host and
//! from a pod, a NodePort on 127.0.0.1 and on the node's address, a Service whose
//! pods are all unready refusing connections at once, a pod reaching itself
//! through its own Service, and an open connection through a ClusterIP surviving
//! a server restart.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use k1s_e2e::{wait_for, Server};

/// Two web pods answering with their host name, a Service on them (NodePort),
/// a pod serving itself through its own Service, a never-ready pod with a
/// Service, and an echo server for the restart test.
fn manifests(node_port: u16) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:1.36
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, nodePort: {node_port}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: self, labels: {{app: self}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: python:3.11-slim
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec python -m http.server -d /www 8080"]
    readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: self}}
spec:
  selector: {{app: self}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: never, labels: {{app: never}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox:1.36
    command: ["sh", "-c", "mkdir -p /www && exec httpd -f -p 8080 -h /www"]
    readinessProbe: {{exec: {{command: ["false"]}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: never}}
spec:
  selector: {{app: never}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: echo, labels: {{app: echo}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: echo
    image: python:3.11-slim
    command: ["python", "-u", "-c"]
    args:
    - |
      import socketserver
      class Echo(socketserver.StreamRequestHandler):
          def handle(self):
              for line in self.rfile:
                  self.wfile.write(line)
      socketserver.ThreadingTCPServer.allow_reuse_address = True
      socketserver.ThreadingTCPServer(("", 9000), Echo).serve_forever()
    readinessProbe: {{tcpSocket: {{port: 9000}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: echo}}
spec:
  selector: {{app: echo}}
  ports: [{{port: 9000}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: python:3.11-slim
    command: ["sleep", "3600"]
"#
    )
}

/// `curl` from the host: Ok(body) or Err(curl's exit code).
fn curl(url: &str) -> Result<String, i32> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", url])
        .output()
        .expect("curl runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(out.status.code().unwrap_or(-1))
    }
}

/// An HTTP GET from inside a pod (python's urllib; exits non-zero with the error on stderr).
fn pod_get(server: &Server, pod: &str, url: &str) -> std::process::Output {
    let code =
        format!("import urllib.request; print(urllib.request.urlopen('{url}', timeout=10).read().decode().strip())");
    server.kubectl(&["exec", pod, "--", "python", "-c", &code])
}

fn cluster_ip(server: &Server, svc: &str) -> String {
    server.kubectl_ok(&["get", "svc", svc, "-o", "jsonpath={.spec.clusterIP}"])
}

fn pod_names(server: &Server, selector: &str) -> Vec<String> {
    let out = server.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    out.split_whitespace().map(String::from).collect()
}

/// Sends a line on an open connection and reads it back.
fn echo(reader: &mut BufReader<TcpStream>, line: &str) -> String {
    let stream = reader.get_mut();
    stream.write_all(format!("{line}\n").as_bytes()).expect("write");
    let mut back = String::new();
    reader.read_line(&mut back).expect("read");
    back.trim().to_string()
}

#[test]
fn service_proxy() {
    let mut server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    let slot = server.net_slot().expect("a node slot");
    // A node port of this slot's own, so parallel servers never share one.
    let node_port = 31000 + u16::from(slot);
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&manifests(node_port)));
    for pod in ["self", "echo", "client"] {
        server.wait_pod("default", pod, "1/1", "Running", Duration::from_secs(90));
    }
    server.wait_pod("default", "never", "0/1", "Running", Duration::from_secs(60));
    let webs = wait_for("two ready web pods", Duration::from_secs(60), || {
        let names = pod_names(&server, "app=web");
        let ready = server.kubectl_ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].status.containerStatuses[0].ready}",
        ]);
        (names.len() == 2 && ready.split_whitespace().filter(|r| *r == "true").count() == 2).then_some(names)
    });

    // The ClusterIP from the host reaches both pods (random balancing: within 40 tries).
    let web_ip = cluster_ip(&server, "web");
    assert!(
        web_ip.starts_with(&server.service_cidr()[..9]),
        "{web_ip} in {}",
        server.service_cidr()
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let body = wait_for("the web ClusterIP answering", Duration::from_secs(30), || {
            curl(&format!("http://{web_ip}/")).ok()
        });
        assert!(webs.contains(&body), "{body} is not one of {webs:?}");
        seen.insert(body);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "both endpoints get traffic: {seen:?}");

    // From a pod.
    let out = pod_get(&server, "client", &format!("http://{web_ip}/"));
    let body = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(webs.contains(&body), "{body} {}", String::from_utf8_lossy(&out.stderr));

    // The NodePort on 127.0.0.1 and on the node's address.
    let node_ip = server.kubectl_ok(&[
        "get",
        "node",
        "e2e-node",
        "-o",
        "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
    ]);
    for host in ["127.0.0.1", node_ip.as_str()] {
        let body = curl(&format!("http://{host}:{node_port}/"))
            .unwrap_or_else(|code| panic!("node port on {host}: curl exit {code}"));
        assert!(webs.contains(&body), "{host}: {body}");
    }

    // A pod reaches itself through its own Service (hairpin).
    let self_ip = cluster_ip(&server, "self");
    let out = pod_get(&server, "self", &format!("http://{self_ip}/"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "self",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A Service whose pods are all unready refuses connections (curl 7), it does not hang (28).
    let never_ip = cluster_ip(&server, "never");
    assert_eq!(
        curl(&format!("http://{never_ip}/")),
        Err(7),
        "connection refused at once"
    );
    let refused = pod_get(&server, "client", &format!("http://{never_ip}/"));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("refused"),
        "from a pod: {stderr}"
    );

    // The rules are in k1s's own chains.
    let prefix = server.chain_prefix().expect("prefix");
    let nat = String::from_utf8_lossy(
        &Command::new("iptables-save")
            .args(["-t", "nat"])
            .output()
            .expect("iptables-save")
            .stdout,
    )
    .into_owned();
    assert!(
        nat.contains(&format!(
            "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j {prefix}-SERVICES"
        )),
        "{nat}"
    );
    assert!(nat.contains(&format!("-A {prefix}-SERVICES -d {web_ip}/32")), "{nat}");

    // An open connection through the ClusterIP keeps working across a restart.
    let echo_ip = cluster_ip(&server, "echo");
    let stream = wait_for("a connection to the echo ClusterIP", Duration::from_secs(30), || {
        TcpStream::connect_timeout(&format!("{echo_ip}:9000").parse().ok()?, Duration::from_secs(5)).ok()
    });
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut conn = BufReader::new(stream);
    assert_eq!(echo(&mut conn, "before"), "before");
    server.stop().expect("stop");
    assert_eq!(echo(&mut conn, "while stopped"), "while stopped");
    server.launch().expect("restart");
    assert_eq!(echo(&mut conn, "after"), "after");
    // New connections work again once the proxy has resynced.
    wait_for("the web ClusterIP after the restart", Duration::from_secs(30), || {
        curl(&format!("http://{web_ip}/")).ok()
    });

    // Cleanup removes k1s's chains and jumps.
    server.kill().expect("kill");
    server.cleanup_node().expect("cleanup");
    let all =
        String::from_utf8_lossy(&Command::new("iptables-save").output().expect("iptables-save").stdout).into_owned();
    assert!(!all.contains(&format!("{prefix}-")), "chains left behind:\n{all}");
}
