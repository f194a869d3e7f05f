//! The Service proxy on the legacy iptables back end (`--iptables-backend legacy`):
//! a ClusterIP (random balancing over two endpoints, and ClientIP affinity) reached
//! from the host and from a pod, a NodePort on 127.0.0.1, a Service without
//! endpoints refused at once; the rules live in the legacy tables only, a deleted
//! Service's chains go, a restart on nf_tables moves them there (none left in
//! legacy), and `k1s server --cleanup` leaves no k1s chain in either back end.

use std::io::ErrorKind;
use std::process::Command;
use std::time::Duration;

use k1s_e2e::{http_get, wait_for, Server};

/// Two web pods answering with their host name, a NodePort Service and a
/// ClientIP-affinity Service on them, a Service selecting nothing, and a client pod.
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
kind: Service
metadata: {{name: sticky}}
spec:
  selector: {{app: web}}
  sessionAffinity: ClientIP
  ports: [{{port: 80, targetPort: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: nobody}}
spec:
  selector: {{app: nobody}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: busybox:1.36
    command: ["sleep", "3600"]
"#
    )
}

/// An HTTP GET from the host: the body of a 200, or the connection error's kind.
fn get(addr: &str) -> Result<String, ErrorKind> {
    let reply = http_get(addr, Duration::from_secs(5), Duration::from_secs(5))?;
    if reply.is_ok() {
        Ok(reply.body)
    } else {
        Err(ErrorKind::InvalidData)
    }
}

/// `wget` from the client pod (busybox; `timeout` bounds it, `wget -T` crashes in busybox-static 1.35).
fn pod_get(server: &Server, url: &str) -> std::process::Output {
    server.kubectl(&["exec", "client", "--", "timeout", "10", "wget", "-qO-", url])
}

fn cluster_ip(server: &Server, svc: &str) -> String {
    server.kubectl_ok(&["get", "svc", svc, "-o", "jsonpath={.spec.clusterIP}"])
}

/// One back end's `iptables-save` (filter and nat).
fn save(tool: &str) -> String {
    let out = Command::new(tool).output().unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn service_proxy_on_legacy_iptables() {
    let mut server = Server::start_node_with_args(&["--iptables-backend", "legacy"]).expect("server");
    server.import_test_images().expect("import test images");
    let slot = server.net_slot().expect("a node slot");
    let prefix = server.chain_prefix().expect("prefix");
    // A node port of this slot's own (service_proxy.rs uses 31000 + slot).
    let node_port = 32000 + u16::from(slot);
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&manifests(node_port)));
    server.wait_pod("default", "client", "1/1", "Running", Duration::from_secs(60));
    let webs = wait_for("two ready web pods", Duration::from_secs(60), || {
        let out = server.kubectl_ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].ready}{\"\\n\"}{end}",
        ]);
        let ready: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_suffix(" true").map(String::from))
            .collect();
        (ready.len() == 2).then_some(ready)
    });

    // The ClusterIP from the host reaches both pods (statistic: within 40 tries).
    let web_ip = cluster_ip(&server, "web");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let body = wait_for("the web ClusterIP answering", Duration::from_secs(30), || {
            get(&format!("{web_ip}:80")).ok()
        });
        assert!(webs.contains(&body), "{body} is not one of {webs:?}");
        seen.insert(body);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "both endpoints get traffic: {seen:?}");

    // ClientIP affinity (recent): the same pod every time.
    let sticky_ip = cluster_ip(&server, "sticky");
    let first = wait_for("the sticky ClusterIP answering", Duration::from_secs(30), || {
        get(&format!("{sticky_ip}:80")).ok()
    });
    for _ in 0..10 {
        assert_eq!(get(&format!("{sticky_ip}:80")), Ok(first.clone()), "affinity");
    }

    // From a pod, and the NodePort on 127.0.0.1.
    let out = pod_get(&server, &format!("http://{web_ip}/"));
    let body = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(webs.contains(&body), "{body} {}", String::from_utf8_lossy(&out.stderr));
    let body = get(&format!("127.0.0.1:{node_port}")).unwrap_or_else(|e| panic!("node port on 127.0.0.1: {e:?}"));
    assert!(webs.contains(&body), "{body}");

    // A Service without endpoints is refused at once, from the host and from a pod.
    let nobody_ip = cluster_ip(&server, "nobody");
    assert_eq!(get(&format!("{nobody_ip}:80")), Err(ErrorKind::ConnectionRefused));
    let refused = pod_get(&server, &format!("http://{nobody_ip}/"));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("refused"),
        "from a pod: {stderr}"
    );

    // The rules are in the legacy tables, and none of k1s's chains in nf_tables.
    let legacy = save("iptables-legacy-save");
    for rule in [
        format!("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j {prefix}-SERVICES"),
        format!("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j {prefix}-SERVICES"),
        format!("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j {prefix}-POSTROUTING"),
        format!("-A {prefix}-SERVICES -d {web_ip}/32"),
        format!("--dport {node_port} -j {prefix}-EXT-"),
        // Pod egress masquerade comes with the ruleset, on whichever back end it is written to.
        format!(
            "-A {prefix}-POSTROUTING -s {} ! -d 10.42.0.0/16 -m comment --comment \"masquerade pod traffic leaving the cluster network\" -j MASQUERADE --random-fully",
            server.pod_cidr().expect("a pod range")
        ),
    ] {
        assert!(legacy.contains(&rule), "{rule} not in:\n{legacy}");
    }
    // A deleted Service's chains go (flushed and deleted through the legacy restore).
    let sticky_chain = legacy
        .lines()
        .find(|l| l.starts_with(&format!("-A {prefix}-SERVICES ")) && l.contains("\"default/sticky cluster IP\""))
        .and_then(|l| l.rsplit_once(" -j "))
        .map(|(_, chain)| chain.to_string())
        .unwrap_or_else(|| panic!("no sticky service rule in:\n{legacy}"));
    assert!(sticky_chain.starts_with(&format!("{prefix}-SVC-")), "{sticky_chain}");
    server.kubectl_ok(&["delete", "svc", "sticky"]);
    wait_for("the sticky chains removed", Duration::from_secs(30), || {
        (!save("iptables-legacy-save").contains(&sticky_chain)).then_some(())
    });

    let nft = save("iptables-nft-save");
    assert!(!nft.contains(&format!("{prefix}-")), "k1s chains in nf_tables:\n{nft}");

    // Restarted on nf_tables, the proxy takes its rules along: none stay behind in
    // the legacy tables (they would still see every packet).
    server.set_extra_args(&["--iptables-backend", "nft"]);
    server.restart().expect("restart on nft");
    wait_for("the web rules in nf_tables", Duration::from_secs(30), || {
        save("iptables-nft-save")
            .contains(&format!("-A {prefix}-SERVICES -d {web_ip}/32"))
            .then_some(())
    });
    let legacy = save("iptables-legacy-save");
    assert!(
        !legacy.contains(&format!("{prefix}-")),
        "legacy chains left behind:\n{legacy}"
    );
    let body = wait_for("the web ClusterIP on nft", Duration::from_secs(30), || {
        get(&format!("{web_ip}:80")).ok()
    });
    assert!(webs.contains(&body), "{body}");

    // `--cleanup` (default flags) removes everything from both back ends.
    server.kill().expect("kill");
    server.cleanup_node().expect("cleanup");
    for tool in ["iptables-legacy-save", "iptables-nft-save"] {
        let all = save(tool);
        assert!(
            !all.contains(&format!("{prefix}-")),
            "{tool}: chains left behind:\n{all}"
        );
    }
}
