//! The pod network on the CNI plugins: a `hostPort` answers on 127.0.0.1 and on
//! the node IP, pods reach each other by pod IP, a server restart keeps running
//! pods' IPs (and their hostPort) and never hands a live IP to a new pod, a
//! reservation of a pod that is gone is released at start, deleted pods give
//! their IPs back, and `--cleanup` removes portmap's rules and k1s's CNI state.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k1s_e2e::{http_get, wait_for, Server};

fn web_pod(host_port: u16) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox:1.36
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports:
    - {{containerPort: 8080, hostPort: {host_port}}}
"#
    )
}

fn sleeper(name: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "3600"]
"#
    )
}

/// One HTTP GET from the host; the body, if the server answered.
fn host_get(host: &str, port: u16) -> Option<String> {
    let timeout = Duration::from_secs(2);
    http_get(&format!("{host}:{port}"), timeout, timeout)
        .ok()
        .map(|r| r.body)
}

/// One HTTP GET from inside a pod (busybox `nc`); the body.
fn pod_get(server: &Server, pod: &str, ip: &str, port: u16) -> String {
    let cmd = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {ip} {port}");
    let out = server.kubectl_ok(&["exec", pod, "--", "sh", "-c", &cmd]);
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or(out)
}

fn pod_ip(server: &Server, name: &str) -> String {
    wait_for(&format!("pod IP of {name}"), Duration::from_secs(30), || {
        let ip = server.kubectl_ok(&["get", "pod", name, "-o", "jsonpath={.status.podIP}"]);
        (!ip.trim().is_empty()).then(|| ip.trim().to_string())
    })
}

fn pod_uid(server: &Server, name: &str) -> String {
    server.kubectl_ok(&["get", "pod", name, "-o", "jsonpath={.metadata.uid}"])
}

/// host-local's reservations of k1s's network: IP → owner.
fn reservations(data_dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(data_dir.join("cni/networks/k1s"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The bridge plugin's masquerade chain of an attachment: `CNI-` + SHA-512(network + id), 28 characters.
fn masq_chain(network: &str, id: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA512, format!("{network}{id}").as_bytes());
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("CNI-{}", &hex[..24])
}

fn nat_rules() -> String {
    let out = Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()
        .expect("iptables-save");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pod_network() {
    let mut server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    let slot = server.node_slot().expect("a node slot");
    let host_port = 21000 + u16::from(slot);
    let node_ip = server.kubectl_ok(&[
        "get",
        "node",
        "e2e-node",
        "-o",
        "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
    ]);

    // The config list users can read.
    let conflist: serde_json::Value =
        serde_json::from_slice(&std::fs::read(server.data_dir.join("cni/net.d/10-k1s.conflist")).expect("conflist"))
            .expect("conflist JSON");
    let types: Vec<&str> = conflist["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter_map(|p| p["type"].as_str())
        .collect();
    assert_eq!(types, ["bridge", "portmap"], "{conflist}");

    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&web_pod(host_port)));
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&sleeper("client")));
    server.wait_pod("default", "web", "1/1", "Running", Duration::from_secs(30));
    server.wait_pod("default", "client", "1/1", "Running", Duration::from_secs(30));
    let web_ip = pod_ip(&server, "web");
    let client_ip = pod_ip(&server, "client");
    assert!(web_ip.starts_with(&format!("10.42.{slot}.")), "{web_ip}");
    assert_ne!(web_ip, client_ip);

    // hostPort from the host, on loopback and on the node address.
    for host in ["127.0.0.1", node_ip.trim()] {
        let body = wait_for(&format!("web on {host}:{host_port}"), Duration::from_secs(20), || {
            host_get(host, host_port)
        });
        assert_eq!(body, "web", "{host}");
    }
    // Pod to pod by pod IP.
    assert_eq!(pod_get(&server, "client", &web_ip, 8080), "web");

    // Pod traffic leaving the cluster network is masqueraded by one node-wide
    // rule in k1s's POSTROUTING chain, not by a bridge-plugin chain per pod.
    let prefix = server.chain_prefix().expect("a chain prefix");
    let pod_cidr = server.pod_cidr().expect("a pod range");
    let egress = format!(
        "-A {prefix}-POSTROUTING -s {pod_cidr} ! -d 10.42.0.0/16 -m comment --comment \"masquerade pod traffic leaving the cluster network\" -j MASQUERADE --random-fully"
    );
    wait_for("the node-wide masquerade rule", Duration::from_secs(30), || {
        let out = Command::new("iptables")
            .args(["-w", "-t", "nat", "-S", &format!("{prefix}-POSTROUTING")])
            .output()
            .expect("iptables");
        let rules = String::from_utf8_lossy(&out.stdout).into_owned();
        // First in the chain: the mark-based RETURN after it would end the chain for pod traffic.
        (rules.lines().nth(1) == Some(egress.as_str())).then_some(())
    });
    let rules = nat_rules();
    for pod in ["web", "client"] {
        let chain = masq_chain("k1s", &pod_uid(&server, pod));
        assert!(
            !rules.contains(&chain),
            "a per-pod masquerade chain {chain} for {pod}:\n{rules}"
        );
    }

    // A pod that is gone (no sandbox) left its reservation and, made by an
    // older k1s whose list had the bridge plugin's ipMasq on, the plugin's
    // masquerade rules (set up here by hand, named as the plugin names them):
    // both are released at the next start.
    let stale_ip = format!("10.42.{slot}.250");
    let stale_id = format!("gone-pod-{slot}");
    let stale = server.data_dir.join("cni/networks/k1s").join(&stale_ip);
    std::fs::write(&stale, format!("{stale_id}\r\neth0")).expect("write a stale reservation");
    let stale_chain = masq_chain("k1s", &stale_id);
    let stale_comment = format!("name: \"k1s\" id: \"{stale_id}\"");
    for args in [
        vec!["-N", &stale_chain],
        vec!["-A", &stale_chain, "-d", "10.42.0.0/16", "-j", "ACCEPT"],
        vec![
            "-A",
            "POSTROUTING",
            "-s",
            &stale_ip,
            "-j",
            &stale_chain,
            "-m",
            "comment",
            "--comment",
            &stale_comment,
        ],
    ] {
        let out = Command::new("iptables")
            .args(["-w", "-t", "nat"])
            .args(&args)
            .output()
            .expect("iptables");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    // The client's network breaks while the server is down (its veth is gone):
    // the CHECK on adoption fails and its network is set up again, same address.
    let client_uid = pod_uid(&server, "client");
    let cached: serde_json::Value = serde_json::from_slice(
        &std::fs::read(server.data_dir.join(format!("cni/cache/results/k1s-{client_uid}-eth0")))
            .expect("cached result"),
    )
    .expect("cache JSON");
    let veth = cached["result"]["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .find(|i| i["sandbox"].is_null() && i["name"].as_str().is_some_and(|n| n.starts_with("veth")))
        .and_then(|i| i["name"].as_str())
        .expect("host veth")
        .to_string();
    server.stop().expect("stop");
    let out = Command::new("ip").args(["link", "del", &veth]).output().expect("ip");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Restart: the running pods keep their addresses and the hostPort keeps answering.
    server.launch().expect("start again");
    server.wait_node_ready(Duration::from_secs(60)).expect("node Ready");
    server.wait_pod("default", "web", "1/1", "Running", Duration::from_secs(30));
    assert_eq!(pod_ip(&server, "web"), web_ip);
    assert_eq!(pod_ip(&server, "client"), client_ip);
    assert!(!stale.exists(), "the stale reservation of {stale_ip} was not released");
    assert!(
        !nat_rules().contains(&stale_chain),
        "masquerade rules of a gone pod left behind"
    );
    assert_eq!(host_get("127.0.0.1", host_port).as_deref(), Some("web"));
    wait_for("the client's network set up again", Duration::from_secs(30), || {
        let cmd = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {web_ip} 8080");
        let out = server.kubectl(&["exec", "client", "--", "sh", "-c", &cmd]);
        String::from_utf8_lossy(&out.stdout).ends_with("web\n").then_some(())
    });
    assert_eq!(pod_ip(&server, "client"), client_ip);
    assert!(
        server.log().contains("setting the pod network up again"),
        "no CHECK failure logged"
    );

    // A new pod never gets a live address.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&sleeper("third")));
    server.wait_pod("default", "third", "1/1", "Running", Duration::from_secs(30));
    let third_ip = pod_ip(&server, "third");
    assert!(third_ip != web_ip && third_ip != client_ip, "{third_ip} reused");
    let expected: BTreeSet<String> = [&web_ip, &client_ip, &third_ip].iter().map(|s| s.to_string()).collect();
    assert_eq!(reservations(&server.data_dir), expected);

    // Deleted pods give their addresses back: only web's stays reserved.
    server.kubectl_ok(&["delete", "pod", "client", "third", "--wait=true"]);
    let only_web: BTreeSet<String> = [web_ip.clone()].into();
    wait_for("released addresses", Duration::from_secs(20), || {
        (reservations(&server.data_dir) == only_web).then_some(())
    });

    // --cleanup removes portmap's rules of k1s's pods and k1s's CNI state.
    let web_uid = pod_uid(&server, "web");
    let rules = nat_rules();
    assert!(
        rules.contains(&format!("dnat name: \\\"k1s\\\" id: \\\"{web_uid}\\\"")),
        "no portmap rule for the web pod:\n{rules}"
    );
    assert!(
        !rules.contains(&masq_chain("k1s", &web_uid)),
        "a per-pod masquerade chain for the web pod:\n{rules}"
    );
    server.stop().expect("stop");
    server.cleanup_node().expect("cleanup");
    let rules = nat_rules();
    assert!(!rules.contains(&web_uid), "portmap rules left behind:\n{rules}");
    assert!(!server.data_dir.join("cni/networks/k1s").exists());
    assert!(!server.data_dir.join("cni/cache").exists());
}
