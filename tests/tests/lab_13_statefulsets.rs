//! Lab L13 — StatefulSets, the parts that need no storage: a headless
//! Service and a StatefulSet of 3 whose pods `web-0`, `web-1`, `web-2` start
//! in order with stable hostnames; the Service's Endpoints and EndpointSlices
//! list the pods with their hostnames, and cluster DNS resolves
//! `web-0.nginx.default.svc.cluster.local` and `nginx.default.svc.cluster.local`
//! from the pods; a deleted `web-1` comes back as `web-1`; scaling down removes
//! the highest ordinals first; `kubectl rollout status|history|undo` work.
//! Also a DaemonSet runs one pod on the node.
//!
//! Still to come: per-pod PVCs that keep their data across a pod's
//! replacement need the storage issue (a provisioner that binds claims;
//! claim creation per ordinal is covered by the controller's API tests).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k1s_e2e::{wait_for, Server};
use serde_json::Value;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels: {app: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {name: web, port: 80, targetPort: web}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:1.36
        command: ["sh", "-c", "hostname > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
        ports:
        - {name: web, containerPort: 80}
        readinessProbe:
          tcpSocket: {port: 80}
          periodSeconds: 1
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: agent
        image: busybox:1.36
        command: ["sleep", "3600"]
"#;

const TIMEOUT: Duration = Duration::from_secs(120);

fn json(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&server.kubectl_ok(&all)).expect("kubectl prints JSON")
}

/// The `web` pods by name.
fn web_pods(server: &Server) -> BTreeMap<String, Value> {
    json(server, &["get", "pods", "-l", "app=web"])["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["metadata"]["name"].as_str().map(|n| (n.to_string(), p.clone())))
        .collect()
}

fn ready_since(pod: &Value) -> Option<jiff::Timestamp> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")?["lastTransitionTime"]
        .as_str()?
        .parse()
        .ok()
}

fn created(pod: &Value) -> jiff::Timestamp {
    pod["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("creationTimestamp")
}

/// busybox's `nslookup name` in a pod, against the cluster DNS server on the
/// pod gateway, until its output shows every `want` (cluster DNS follows the
/// EndpointSlices within moments).
fn nslookup(server: &Server, pod: &str, name: &str, want: &[&str]) -> String {
    let gateway = server.pod_gateway().expect("a node server").to_string();
    wait_for(&format!("nslookup {name} in {pod} to show {want:?}"), TIMEOUT, || {
        let out = server.kubectl(&["exec", pod, "--", "nslookup", name, &gateway]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        want.iter().all(|w| text.contains(w)).then_some(text)
    })
}

#[test]
fn lab_13_statefulsets() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(MANIFESTS));

    // In order: each pod is created only once the one before it is Running and Ready.
    let out = server.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=120s"]);
    assert!(
        out.contains("partitioned roll out complete") || out.contains("rolling update complete"),
        "{out}"
    );
    let pods = web_pods(&server);
    assert_eq!(pods.keys().collect::<Vec<_>>(), ["web-0", "web-1", "web-2"]);
    for (before, after) in [("web-0", "web-1"), ("web-1", "web-2")] {
        let ready = ready_since(&pods[before]).expect("ready");
        assert!(
            created(&pods[after]) >= ready,
            "{after} created before {before} was ready"
        );
    }
    for name in ["web-0", "web-1", "web-2"] {
        server.wait_pod("default", name, "1/1", "Running", TIMEOUT);
        assert_eq!(server.kubectl_ok(&["exec", name, "--", "hostname"]).trim(), name);
        let pod = &pods[name];
        assert_eq!(pod["spec"]["subdomain"], "nginx");
        assert_eq!(pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], name);
    }
    let describe = server.kubectl_ok(&["describe", "statefulset", "web"]);
    assert!(
        describe.contains("create Pod web-2 in StatefulSet web successful"),
        "{describe}"
    );

    // The headless Service lists the pods, with their hostnames.
    let endpoints = wait_for("3 endpoints with hostnames", TIMEOUT, || {
        let ep = json(&server, &["get", "endpoints", "nginx"]);
        let addresses = ep["subsets"][0]["addresses"].as_array().cloned().unwrap_or_default();
        let hosts: Vec<String> = addresses
            .iter()
            .filter_map(|a| a["hostname"].as_str().map(String::from))
            .collect();
        (hosts.len() == 3).then_some(hosts)
    });
    let mut hosts = endpoints;
    hosts.sort();
    assert_eq!(hosts, ["web-0", "web-1", "web-2"]);
    let slices = json(
        &server,
        &["get", "endpointslices", "-l", "kubernetes.io/service-name=nginx"],
    );
    let slice = &slices["items"][0];
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["endpoints"].as_array().map(Vec::len), Some(3), "{slice}");
    assert!(slice["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["conditions"]["ready"] == true && e["hostname"].is_string()));

    // Cluster DNS: each pod has a stable name under the headless Service, and
    // the Service's name lists them all.
    let ips: BTreeMap<String, String> = web_pods(&server)
        .into_iter()
        .map(|(name, p)| (name, p["status"]["podIP"].as_str().unwrap_or("").to_string()))
        .collect();
    let web0 = format!("Address: {}", ips["web-0"]);
    let out = nslookup(&server, "web-1", "web-0.nginx.default.svc.cluster.local", &[&web0]);
    assert!(out.contains("Name:\tweb-0.nginx.default.svc.cluster.local"), "{out}");
    let all: Vec<String> = ips.values().map(|ip| format!("Address: {ip}")).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    nslookup(&server, "web-0", "nginx.default.svc.cluster.local", &all);

    // A deleted pod comes back under its name.
    let uid = pods["web-1"]["metadata"]["uid"].clone();
    server.kubectl_ok(&["delete", "pod", "web-1", "--wait=false"]);
    wait_for("web-1 replaced", TIMEOUT, || {
        let p = web_pods(&server).remove("web-1")?;
        (p["metadata"]["uid"] != uid && ready_since(&p).is_some()).then_some(())
    });

    // A new template rolls out, and undo goes back to the first revision.
    server.kubectl_ok(&["set", "env", "statefulset/web", "GREETING=hello"]);
    server.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=120s"]);
    let history = server.kubectl_ok(&["rollout", "history", "statefulset/web"]);
    assert!(
        history.contains("REVISION") && history.lines().any(|l| l.trim_start().starts_with('2')),
        "{history}"
    );
    let env = server.kubectl_ok(&[
        "get",
        "pod",
        "web-0",
        "-o",
        "jsonpath={.spec.containers[0].env[0].value}",
    ]);
    assert_eq!(env, "hello");
    server.kubectl_ok(&["rollout", "undo", "statefulset/web"]);
    server.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=120s"]);
    wait_for("web-0 back at revision 1", TIMEOUT, || {
        let p = web_pods(&server).remove("web-0")?;
        (p["spec"]["containers"][0]["env"].is_null() && ready_since(&p).is_some()).then_some(())
    });

    // Scaling down: web-2 goes before web-1.
    server.kubectl_ok(&["scale", "statefulset/web", "--replicas=1"]);
    let deadline = Instant::now() + TIMEOUT;
    let mut web1_outlived_web2 = false;
    loop {
        let names = web_pods(&server);
        let (web1, web2) = (names.contains_key("web-1"), names.contains_key("web-2"));
        assert!(web1 || !web2, "web-1 went before web-2: {:?}", names.keys());
        web1_outlived_web2 |= web1 && !web2;
        if names.keys().collect::<Vec<_>>() == ["web-0"] {
            break;
        }
        assert!(Instant::now() < deadline, "not scaled down: {:?}", names.keys());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(web1_outlived_web2, "web-1 was deleted before (or with) web-2");
    let sts = server.kubectl_ok(&["get", "statefulset", "web", "--no-headers"]);
    assert!(sts.split_whitespace().nth(1) == Some("1/1"), "{sts}");

    // The DaemonSet runs one pod, on the node.
    let out = server.kubectl_ok(&["rollout", "status", "daemonset/agent", "--timeout=120s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let agents = json(&server, &["get", "pods", "-l", "app=agent"]);
    let agents = agents["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["spec"]["nodeName"], "e2e-node");
    let ds = server.kubectl_ok(&["get", "daemonset", "agent", "--no-headers"]);
    let cols: Vec<&str> = ds.split_whitespace().collect();
    assert_eq!(&cols[1..6], ["1", "1", "1", "1", "1"], "{ds}");

    // A new template replaces the daemon pod; the history has both revisions.
    let old_agent = agents[0]["metadata"]["name"].clone();
    server.kubectl_ok(&["set", "env", "daemonset/agent", "ROLE=agent"]);
    let out = server.kubectl_ok(&["rollout", "status", "daemonset/agent", "--timeout=120s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let agents = json(&server, &["get", "pods", "-l", "app=agent"]);
    let agents: Vec<Value> = agents["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .cloned()
        .collect();
    assert_eq!(agents.len(), 1);
    assert_ne!(agents[0]["metadata"]["name"], old_agent);
    assert_eq!(agents[0]["spec"]["containers"][0]["env"][0]["value"], "agent");
    let history = server.kubectl_ok(&["rollout", "history", "daemonset/agent"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| c.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
}
