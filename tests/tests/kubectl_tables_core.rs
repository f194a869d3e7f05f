//! Golden output of the real kubectl for the core kinds: `kubectl get` and
//! `kubectl get -o wide`, column by column. The expected cells are written from
//! Kubernetes' printer rules (pkg/printers/internalversion) for objects whose
//! status is set through the status subresource; AGE-like cells are checked
//! for the form of a Kubernetes duration.

use k1s_e2e::Server;
use serde_json::{json, Value};

/// A timestamp `secs` seconds ago, as Kubernetes writes it.
fn ago(secs: i64) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

const DAYS_3: i64 = 3 * 24 * 3600;

/// `HumanDuration` output: `45s`, `5m10s`, `3h`, `2d5h`, `400d`, `2y10d`.
fn is_duration(s: &str) -> bool {
    let mut groups = 0;
    let mut digits = 0;
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        } else if "smhdy".contains(c) && digits > 0 {
            groups += 1;
            digits = 0;
        } else {
            return false;
        }
    }
    digits == 0 && (1..=2).contains(&groups)
}

/// `2025-01-01T00:00:00Z`.
fn is_timestamp(s: &str) -> bool {
    s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.parse::<jiff::Timestamp>().is_ok()
}

/// Whether a cell matches its expectation: `<age>` (a duration), `<timestamp>`,
/// `~prefix`, or the exact text.
fn cell_matches(want: &str, got: &str) -> bool {
    match want {
        "<age>" => is_duration(got),
        "<timestamp>" => is_timestamp(got),
        w if w.starts_with('~') => got.starts_with(&w[1..]),
        w => w == got,
    }
}

/// Splits kubectl's output into cells at the header's column starts, checking
/// that the header is exactly `headers`, left-aligned with at least 3 spaces between.
fn split_table(out: &str, headers: &[&str]) -> Vec<Vec<String>> {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_else(|| panic!("no header in:\n{out}"));
    let mut starts = Vec::new();
    let mut pos = 0;
    for (i, h) in headers.iter().enumerate() {
        let at = header[pos..]
            .find(h)
            .map(|o| o + pos)
            .unwrap_or_else(|| panic!("header {h:?} missing in {header:?}"));
        let gap = &header[pos..at];
        if i == 0 {
            assert_eq!(at, 0, "header starts with {h}: {header:?}");
        } else {
            assert!(
                gap.len() >= 3 && gap.chars().all(|c| c == ' '),
                "unexpected header text {gap:?} in {header:?}"
            );
        }
        starts.push(at);
        pos = at + h.len();
    }
    assert_eq!(header[pos..].trim(), "", "extra headers in {header:?}");
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            (0..starts.len())
                .map(|i| {
                    let end = starts.get(i + 1).copied().unwrap_or(l.len()).min(l.len());
                    l.get(starts[i].min(end)..end).unwrap_or("").trim().to_string()
                })
                .collect()
        })
        .collect()
}

/// Checks kubectl output against expected rows, cell by cell.
fn check<S: AsRef<str>>(out: &str, headers: &[&str], rows: &[Vec<S>]) {
    let got = split_table(out, headers);
    assert_eq!(got.len(), rows.len(), "row count, output:\n{out}");
    for (g, w) in got.iter().zip(rows) {
        assert_eq!(g.len(), w.len());
        for (i, (gc, wc)) in g.iter().zip(w).enumerate() {
            let wc = wc.as_ref();
            assert!(
                cell_matches(wc, gc),
                "column {} of row {:?}: expected {wc:?}, got {gc:?}\noutput:\n{out}",
                headers[i],
                g[0]
            );
        }
    }
}

fn create(server: &Server, obj: &Value) {
    server.kubectl_stdin_ok(&["create", "-f", "-"], Some(&obj.to_string()));
}

fn set_status(server: &Server, kind: &str, name: &str, ns: Option<&str>, status: Value) {
    let patch = json!({ "status": status }).to_string();
    let mut args = vec![
        "patch",
        kind,
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ];
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    server.kubectl_ok(&args);
}

fn namespace(server: &Server, name: &str) {
    server.kubectl_ok(&["create", "namespace", name]);
}

fn running(name: &str, restarts: i64, last_finished: Option<&str>) -> Value {
    let mut c = json!({"name": name, "image": "busybox", "imageID": "", "ready": true, "started": true,
        "restartCount": restarts, "state": {"running": {"startedAt": ago(60)}}});
    if let Some(t) = last_finished {
        c["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": t}});
    }
    c
}

fn waiting(name: &str, reason: &str, restarts: i64) -> Value {
    json!({"name": name, "image": "busybox", "imageID": "", "ready": false, "restartCount": restarts,
           "state": {"waiting": {"reason": reason}}})
}

fn terminated(name: &str, reason: Option<&str>, exit: i64, signal: i64) -> Value {
    let mut t = json!({"exitCode": exit, "finishedAt": ago(30)});
    if let Some(r) = reason {
        t["reason"] = json!(r);
    }
    if signal != 0 {
        t["signal"] = json!(signal);
    }
    json!({"name": name, "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
           "state": {"terminated": t}})
}

/// A pod in `tables` with the given containers (names), init containers and extra spec.
fn pod(name: &str, containers: &[&str], init: Value, extra: Value) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c, "image": "busybox"}))
        .collect();
    let mut spec = json!({"containers": containers});
    if init.is_array() {
        spec["initContainers"] = init;
    }
    if let Value::Object(m) = extra {
        for (k, v) in m {
            spec[k] = v;
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "tables"}, "spec": spec})
}

#[test]
fn pods_status_ready_restarts_and_wide_columns() {
    let server = Server::start().expect("server starts");
    namespace(&server, "tables");
    let three_days = ago(DAYS_3);
    let on_node = json!({"nodeName": "e2e-node"});
    let ip = |ip: &str| json!([{"ip": ip}]);

    // (name, pod, status or Null)
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "a-running",
            pod("a-running", &["app", "side"], Value::Null, on_node.clone()),
            json!({
            "phase": "Running", "podIP": "10.42.0.5", "podIPs": ip("10.42.0.5"),
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [running("app", 0, None), running("side", 2, Some(&three_days))]}),
        ),
        (
            "b-crash",
            pod("b-crash", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Running", "containerStatuses": [{
                "name": "app", "image": "busybox", "imageID": "", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": three_days}}}]}),
        ),
        (
            "c-oom",
            pod("c-oom", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Running", "containerStatuses": [terminated("app", Some("OOMKilled"), 137, 0)]}),
        ),
        (
            "d-exitcode",
            pod("d-exitcode", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Running", "containerStatuses": [terminated("app", None, 3, 0)]}),
        ),
        (
            "e-signal",
            pod("e-signal", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Running", "containerStatuses": [terminated("app", None, 143, 15)]}),
        ),
        (
            "f-completed",
            pod("f-completed", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Succeeded", "containerStatuses": [terminated("app", Some("Completed"), 0, 0)]}),
        ),
        (
            "g-error",
            pod("g-error", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Failed", "containerStatuses": [terminated("app", Some("Error"), 1, 0)]}),
        ),
        (
            "h-pending",
            pod("h-pending", &["app"], Value::Null, Value::Null),
            Value::Null,
        ),
        (
            "i-creating",
            pod("i-creating", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Pending", "containerStatuses": [waiting("app", "ContainerCreating", 0)]}),
        ),
        (
            "j-init",
            pod(
                "j-init",
                &["app"],
                json!([{"name": "setup", "image": "busybox"}]),
                on_node.clone(),
            ),
            json!({
            "phase": "Pending", "podIPs": ip("10.42.0.9"),
            "initContainerStatuses": [{"name": "setup", "image": "busybox", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"running": {"startedAt": ago(10)}}}],
            "containerStatuses": [waiting("app", "PodInitializing", 0)]}),
        ),
        (
            "k-initcrash",
            pod(
                "k-initcrash",
                &["app"],
                json!([{"name": "setup", "image": "busybox"}]),
                on_node.clone(),
            ),
            json!({
            "phase": "Pending", "conditions": [{"type": "Initialized", "status": "False"}],
            "initContainerStatuses": [{"name": "setup", "image": "busybox", "imageID": "", "ready": false,
                "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": three_days}}}],
            "containerStatuses": [waiting("app", "PodInitializing", 0)]}),
        ),
        (
            "l-initerror",
            pod(
                "l-initerror",
                &["app"],
                json!([{"name": "setup", "image": "busybox"}]),
                on_node.clone(),
            ),
            json!({
            "phase": "Pending", "initContainerStatuses": [terminated("setup", Some("Error"), 1, 0)],
            "containerStatuses": [waiting("app", "PodInitializing", 0)]}),
        ),
        (
            "m-podinit",
            pod(
                "m-podinit",
                &["app"],
                json!([{"name": "setup", "image": "busybox"}]),
                on_node.clone(),
            ),
            json!({
            "phase": "Pending", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [terminated("setup", Some("Completed"), 0, 0)],
            "containerStatuses": [waiting("app", "PodInitializing", 0)]}),
        ),
        (
            "n-sidecar",
            pod(
                "n-sidecar",
                &["app"],
                json!([{"name": "proxy", "image": "busybox", "restartPolicy": "Always"}]),
                on_node.clone(),
            ),
            json!({
            "phase": "Running", "podIPs": ip("10.42.0.10"),
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [running("proxy", 1, Some(&three_days))],
            "containerStatuses": [running("app", 0, None)]}),
        ),
        (
            "o-notready",
            pod("o-notready", &["done", "serve"], Value::Null, on_node.clone()),
            json!({
            "phase": "Running",
            "containerStatuses": [terminated("done", Some("Completed"), 0, 0), running("serve", 0, None)]}),
        ),
        (
            "p-gates",
            pod(
                "p-gates",
                &["app"],
                Value::Null,
                json!({"nodeName": "e2e-node",
            "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]}),
            ),
            json!({
            "phase": "Running", "nominatedNodeName": "other-node", "podIPs": ip("10.42.0.11"),
            "conditions": [{"type": "example.com/lb", "status": "True"}, {"type": "example.com/dns", "status": "False"}],
            "containerStatuses": [running("app", 0, None)]}),
        ),
        (
            "q-evicted",
            pod("q-evicted", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
        ),
        (
            "r-gated",
            pod("r-gated", &["app"], Value::Null, Value::Null),
            json!({
            "phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
        ),
        (
            "s-leaving",
            pod("s-leaving", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [running("app", 0, None)]}),
        ),
        (
            "t-nodelost",
            pod("t-nodelost", &["app"], Value::Null, on_node.clone()),
            json!({
            "phase": "Running", "reason": "NodeLost", "containerStatuses": [running("app", 0, None)]}),
        ),
    ];
    for (name, p, status) in &cases {
        create(&server, p);
        if !status.is_null() {
            set_status(&server, "pod", name, Some("tables"), status.clone());
        }
    }
    // Deleted pods on a node wait for the node: Terminating (Unknown on a lost node).
    server.kubectl_ok(&[
        "delete",
        "pod",
        "s-leaving",
        "t-nodelost",
        "-n",
        "tables",
        "--wait=false",
    ]);

    // name, READY, STATUS, RESTARTS, AGE, IP, NODE, NOMINATED NODE, READINESS GATES
    let want: Vec<Vec<&str>> = vec![
        vec![
            "a-running",
            "2/2",
            "Running",
            "2 (3d ago)",
            "<age>",
            "10.42.0.5",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "b-crash",
            "0/1",
            "CrashLoopBackOff",
            "4 (3d ago)",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "c-oom",
            "0/1",
            "OOMKilled",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "d-exitcode",
            "0/1",
            "ExitCode:3",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "e-signal",
            "0/1",
            "Signal:15",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "f-completed",
            "0/1",
            "Completed",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "g-error", "0/1", "Error", "0", "<age>", "<none>", "e2e-node", "<none>", "<none>",
        ],
        vec![
            "h-pending",
            "0/1",
            "Pending",
            "0",
            "<age>",
            "<none>",
            "<none>",
            "<none>",
            "<none>",
        ],
        vec![
            "i-creating",
            "0/1",
            "ContainerCreating",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "j-init",
            "0/1",
            "Init:0/1",
            "0",
            "<age>",
            "10.42.0.9",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "k-initcrash",
            "0/1",
            "Init:CrashLoopBackOff",
            "3 (3d ago)",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "l-initerror",
            "0/1",
            "Init:Error",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "m-podinit",
            "0/1",
            "PodInitializing",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "n-sidecar",
            "2/2",
            "Running",
            "1 (3d ago)",
            "<age>",
            "10.42.0.10",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "o-notready",
            "1/2",
            "NotReady",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "p-gates",
            "1/1",
            "Running",
            "0",
            "<age>",
            "10.42.0.11",
            "e2e-node",
            "other-node",
            "1/2",
        ],
        vec![
            "q-evicted",
            "0/1",
            "Evicted",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "r-gated",
            "0/1",
            "SchedulingGated",
            "0",
            "<age>",
            "<none>",
            "<none>",
            "<none>",
            "<none>",
        ],
        vec![
            "s-leaving",
            "1/1",
            "Terminating",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
        vec![
            "t-nodelost",
            "1/1",
            "Unknown",
            "0",
            "<age>",
            "<none>",
            "e2e-node",
            "<none>",
            "<none>",
        ],
    ];
    let narrow: Vec<Vec<&str>> = want.iter().map(|r| r[..5].to_vec()).collect();
    let out = server.kubectl_ok(&["get", "pods", "-n", "tables"]);
    check(&out, &["NAME", "READY", "STATUS", "RESTARTS", "AGE"], &narrow);
    let out = server.kubectl_ok(&["get", "pods", "-n", "tables", "-o", "wide"]);
    check(
        &out,
        &[
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES",
        ],
        &want,
    );

    // One pod by name, and the same rows for every namespace with the NAMESPACE column in front.
    let out = server.kubectl_ok(&["get", "pod", "b-crash", "-n", "tables"]);
    check(
        &out,
        &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        &[narrow[1].clone()],
    );
    let out = server.kubectl_ok(&["get", "pods", "-A"]);
    let with_ns: Vec<Vec<&str>> = narrow.iter().map(|r| [vec!["tables"], r.clone()].concat()).collect();
    check(
        &out,
        &["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        &with_ns,
    );

    // --show-labels and -L read the labels from the rows' metadata.
    server.kubectl_ok(&["label", "pod", "a-running", "-n", "tables", "tier=web"]);
    let out = server.kubectl_ok(&["get", "pod", "a-running", "-n", "tables", "-L", "tier"]);
    check(
        &out,
        &["NAME", "READY", "STATUS", "RESTARTS", "AGE", "TIER"],
        &[[narrow[0].clone(), vec!["web"]].concat()],
    );
}

#[test]
fn nodes() {
    let server = Server::start().expect("server starts");
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "cp", "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true"}},
        "spec": {"unschedulable": true}}),
    );
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "worker", "labels": {"kubernetes.io/role": "worker"}}}),
    );
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "bare"}}),
    );
    let info = |kubelet: &str| {
        json!({"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1.0-18-amd64",
        "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://1.6.20",
        "kubeletVersion": kubelet, "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"})
    };
    set_status(
        &server,
        "node",
        "cp",
        None,
        json!({
        "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
        "addresses": [{"type": "Hostname", "address": "cp"}, {"type": "InternalIP", "address": "192.168.1.10"},
                      {"type": "ExternalIP", "address": "203.0.113.5"}],
        "nodeInfo": info("v1.33.0")}),
    );
    set_status(
        &server,
        "node",
        "worker",
        None,
        json!({
        "conditions": [{"type": "Ready", "status": "Unknown"}],
        "addresses": [{"type": "InternalIP", "address": "192.168.1.11"}]}),
    );

    let out = server.kubectl_ok(&["get", "nodes", "cp", "worker", "bare"]);
    check(
        &out,
        &["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        &[
            vec![
                "cp",
                "Ready,SchedulingDisabled",
                "control-plane,etcd",
                "<age>",
                "v1.33.0",
            ],
            vec!["worker", "NotReady", "worker", "<age>", ""],
            vec!["bare", "Unknown", "<none>", "<age>", ""],
        ],
    );
    let out = server.kubectl_ok(&["get", "nodes", "cp", "worker", "bare", "-o", "wide"]);
    check(
        &out,
        &[
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME",
        ],
        &[
            vec![
                "cp",
                "Ready,SchedulingDisabled",
                "control-plane,etcd",
                "<age>",
                "v1.33.0",
                "192.168.1.10",
                "203.0.113.5",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0-18-amd64",
                "containerd://1.6.20",
            ],
            vec![
                "worker",
                "NotReady",
                "worker",
                "<age>",
                "",
                "192.168.1.11",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>",
            ],
            vec![
                "bare",
                "Unknown",
                "<none>",
                "<age>",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>",
            ],
        ],
    );
}

#[test]
fn services_endpoints_and_get_all() {
    // The load balancer status is written by hand: the controller that owns it stays off.
    let server = Server::start_with_args(&["--controllers=*,-service-lb-controller"]).expect("server starts");
    namespace(&server, "tables");
    let svc = |name: &str, spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "tables"}, "spec": spec});
    create(
        &server,
        &svc(
            "web",
            json!({"selector": {"app": "web", "tier": "fe"},
        "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443, "targetPort": 8443}]}),
        ),
    );
    create(
        &server,
        &svc(
            "np",
            json!({"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}]}),
        ),
    );
    create(
        &server,
        &svc(
            "lb",
            json!({"type": "LoadBalancer", "selector": {"app": "lb"},
        "ports": [{"port": 80, "nodePort": 30081}]}),
        ),
    );
    create(
        &server,
        &svc(
            "lb-ready",
            json!({"type": "LoadBalancer", "ports": [{"port": 53, "protocol": "UDP", "nodePort": 30082}]}),
        ),
    );
    set_status(
        &server,
        "service",
        "lb-ready",
        Some("tables"),
        json!({"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}]}}),
    );
    create(
        &server,
        &svc("ext", json!({"type": "ExternalName", "externalName": "db.example.com"})),
    );
    create(
        &server,
        &svc(
            "headless",
            json!({"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}),
        ),
    );
    create(
        &server,
        &svc(
            "pub",
            json!({"externalIPs": ["198.51.100.7"], "ports": [{"port": 8080}]}),
        ),
    );

    let out = server.kubectl_ok(&["get", "services", "-n", "tables", "-o", "wide"]);
    let headers = [
        "NAME",
        "TYPE",
        "CLUSTER-IP",
        "EXTERNAL-IP",
        "PORT(S)",
        "AGE",
        "SELECTOR",
    ];
    let want = vec![
        vec![
            "ext",
            "ExternalName",
            "<none>",
            "db.example.com",
            "<none>",
            "<age>",
            "<none>",
        ],
        vec!["headless", "ClusterIP", "None", "<none>", "5432/TCP", "<age>", "app=db"],
        vec![
            "lb",
            "LoadBalancer",
            "~10.43.",
            "<pending>",
            "80:30081/TCP",
            "<age>",
            "app=lb",
        ],
        vec![
            "lb-ready",
            "LoadBalancer",
            "~10.43.",
            "192.168.1.10",
            "53:30082/UDP",
            "<age>",
            "<none>",
        ],
        vec!["np", "NodePort", "~10.43.", "<none>", "80:30080/TCP", "<age>", "<none>"],
        vec![
            "pub",
            "ClusterIP",
            "~10.43.",
            "198.51.100.7",
            "8080/TCP",
            "<age>",
            "<none>",
        ],
        vec![
            "web",
            "ClusterIP",
            "~10.43.",
            "<none>",
            "80/TCP,443/TCP",
            "<age>",
            "app=web,tier=fe",
        ],
    ];
    check(&out, &headers, &want);
    let out = server.kubectl_ok(&["get", "services", "-n", "tables"]);
    let narrow: Vec<Vec<&str>> = want.iter().map(|r| r[..6].to_vec()).collect();
    check(&out, &headers[..6], &narrow);
    // The CLUSTER-IP cell is the allocated address.
    let ip = server.kubectl_ok(&[
        "get",
        "service",
        "web",
        "-n",
        "tables",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let out = server.kubectl_ok(&["get", "service", "web", "-n", "tables"]);
    check(
        &out,
        &headers[..6],
        &[vec!["web", "ClusterIP", ip.trim(), "<none>", "80/TCP,443/TCP", "<age>"]],
    );

    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual", "namespace": "tables"},
        "subsets": [
            {"addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.0.6"}], "ports": [{"port": 80}]},
            {"addresses": [{"ip": "10.42.0.7"}, {"ip": "10.42.0.8"}], "ports": [{"port": 80}]}]}),
    );
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "two", "namespace": "tables"},
        "subsets": [{"addresses": [{"ip": "10.42.0.5"}], "ports": [{"port": 80}, {"port": 443}]}]}),
    );
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "none", "namespace": "tables"}}),
    );
    let out = server.kubectl_ok(&["get", "endpoints", "manual", "two", "none", "-n", "tables"]);
    check(
        &out,
        &["NAME", "ENDPOINTS", "AGE"],
        &[
            vec!["manual", "10.42.0.5:80,10.42.0.6:80,10.42.0.7:80 + 1 more...", "<age>"],
            vec!["two", "10.42.0.5:80,10.42.0.5:443", "<age>"],
            vec!["none", "<none>", "<age>"],
        ],
    );

    // `kubectl get all` walks the `all` category: one table per kind, names prefixed with the kind.
    create(&server, &pod("web-0", &["app"], Value::Null, Value::Null));
    let out = server.kubectl_ok(&["get", "all", "-n", "tables"]);
    let sections: Vec<&str> = out.split("\n\n").filter(|s| !s.trim().is_empty()).collect();
    assert_eq!(sections.len(), 2, "pods and services:\n{out}");
    check(
        sections[0],
        &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        &[vec!["pod/web-0", "0/1", "Pending", "0", "<age>"]],
    );
    let svc_rows: Vec<Vec<String>> = narrow
        .iter()
        .map(|r| {
            let mut r: Vec<String> = r.iter().map(|c| c.to_string()).collect();
            r[0] = format!("service/{}", r[0]);
            r
        })
        .collect();
    check(sections[1], &headers[..6], &svc_rows);
}

#[test]
fn config_storage_and_accounts() {
    let server = Server::start().expect("server starts");
    namespace(&server, "tables");
    fn with_ns<'a>(args: &[&'a str]) -> Vec<&'a str> {
        [args, &["-n", "tables"][..]].concat()
    }

    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "tables"},
        "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AAE="}}),
    );
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "empty", "namespace": "tables"}}),
    );
    check(
        &server.kubectl_ok(&with_ns(&["get", "configmap", "cfg", "empty"])),
        &["NAME", "DATA", "AGE"],
        &[vec!["cfg", "3", "<age>"], vec!["empty", "0", "<age>"]],
    );

    server.kubectl_ok(&with_ns(&[
        "create",
        "secret",
        "generic",
        "opaque",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]));
    server.kubectl_ok(&with_ns(&[
        "create",
        "secret",
        "docker-registry",
        "pull",
        "--docker-server=registry.example",
        "--docker-username=u",
        "--docker-password=p",
    ]));
    check(
        &server.kubectl_ok(&with_ns(&["get", "secrets", "opaque", "pull"])),
        &["NAME", "TYPE", "DATA", "AGE"],
        &[
            vec!["opaque", "Opaque", "2", "<age>"],
            vec!["pull", "kubernetes.io/dockerconfigjson", "1", "<age>"],
        ],
    );

    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder", "namespace": "tables"},
        "secrets": [{"name": "opaque"}]}),
    );
    k1s_e2e::wait_for(
        "the default service account",
        std::time::Duration::from_secs(20),
        || {
            server
                .kubectl(&with_ns(&["get", "serviceaccount", "default"]))
                .status
                .success()
                .then_some(())
        },
    );
    check(
        &server.kubectl_ok(&with_ns(&["get", "serviceaccounts", "builder", "default"])),
        &["NAME", "SECRETS", "AGE"],
        &[vec!["builder", "1", "<age>"], vec!["default", "0", "<age>"]],
    );

    // PersistentVolumes and claims.
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-free"},
        "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "manual", "hostPath": {"path": "/tmp/pv-free"}}}),
    );
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-bound"},
        "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOncePod"], "persistentVolumeReclaimPolicy": "Delete",
                 "storageClassName": "manual", "volumeMode": "Block", "hostPath": {"path": "/tmp/pv-bound"},
                 "claimRef": {"namespace": "tables", "name": "data"}}}),
    );
    set_status(&server, "pv", "pv-free", None, json!({"phase": "Available"}));
    set_status(&server, "pv", "pv-bound", None, json!({"phase": "Bound"}));
    let pv_headers = [
        "NAME",
        "CAPACITY",
        "ACCESS MODES",
        "RECLAIM POLICY",
        "STATUS",
        "CLAIM",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "REASON",
        "AGE",
    ];
    let pv_want = vec![
        vec![
            "pv-bound",
            "2Gi",
            "RWOP",
            "Delete",
            "Bound",
            "tables/data",
            "manual",
            "<unset>",
            "",
            "<age>",
            "Block",
        ],
        vec![
            "pv-free",
            "1Gi",
            "RWO,RWX",
            "Retain",
            "Available",
            "",
            "manual",
            "<unset>",
            "",
            "<age>",
            "Filesystem",
        ],
    ];
    check(
        &server.kubectl_ok(&["get", "pv", "pv-bound", "pv-free"]),
        &pv_headers,
        &pv_want.iter().map(|r| r[..10].to_vec()).collect::<Vec<_>>(),
    );
    check(
        &server.kubectl_ok(&["get", "pv", "pv-bound", "pv-free", "-o", "wide"]),
        &[&pv_headers[..], &["VOLUMEMODE"]].concat(),
        &pv_want,
    );

    let pvc = |name: &str, volume: Option<&str>| {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
            "resources": {"requests": {"storage": "1Gi"}}});
        if let Some(v) = volume {
            spec["volumeName"] = json!(v);
        }
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "tables"}, "spec": spec})
    };
    create(&server, &pvc("data", Some("pv-bound")));
    create(&server, &pvc("waiting", None));
    set_status(
        &server,
        "pvc",
        "data",
        Some("tables"),
        json!({"phase": "Bound", "accessModes": ["ReadWriteOncePod"],
        "capacity": {"storage": "2Gi"}}),
    );
    set_status(&server, "pvc", "waiting", Some("tables"), json!({"phase": "Pending"}));
    let pvc_headers = [
        "NAME",
        "STATUS",
        "VOLUME",
        "CAPACITY",
        "ACCESS MODES",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "AGE",
    ];
    let pvc_want = vec![
        vec![
            "data",
            "Bound",
            "pv-bound",
            "2Gi",
            "RWOP",
            "manual",
            "<unset>",
            "<age>",
            "Filesystem",
        ],
        vec![
            "waiting",
            "Pending",
            "",
            "",
            "",
            "manual",
            "<unset>",
            "<age>",
            "Filesystem",
        ],
    ];
    check(
        &server.kubectl_ok(&with_ns(&["get", "pvc"])),
        &pvc_headers,
        &pvc_want.iter().map(|r| r[..8].to_vec()).collect::<Vec<_>>(),
    );
    check(
        &server.kubectl_ok(&with_ns(&["get", "pvc", "-o", "wide"])),
        &[&pvc_headers[..], &["VOLUMEMODE"]].concat(),
        &pvc_want,
    );

    // Quotas: REQUEST and LIMIT from status, sorted by resource; LimitRanges have no printer of their own.
    namespace(&server, "quota");
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute", "namespace": "quota"},
        "spec": {"hard": {"pods": "10", "requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2", "limits.memory": "2Gi"}}}),
    );
    set_status(
        &server,
        "resourcequota",
        "compute",
        Some("quota"),
        json!({
        "hard": {"pods": "10", "requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2", "limits.memory": "2Gi"},
        "used": {"pods": "0", "requests.cpu": "0", "requests.memory": "0", "limits.cpu": "0", "limits.memory": "0"}}),
    );
    check(
        &server.kubectl_ok(&["get", "quota", "compute", "-n", "quota"]),
        &["NAME", "REQUEST", "LIMIT", "AGE"],
        &[vec![
            "compute",
            "pods: 0/10, requests.cpu: 0/1, requests.memory: 0/1Gi",
            "limits.cpu: 0/2, limits.memory: 0/2Gi",
            "<age>",
        ]],
    );
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits", "namespace": "quota"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}}]}}),
    );
    check(
        &server.kubectl_ok(&["get", "limitrange", "limits", "-n", "quota"]),
        &["NAME", "CREATED AT"],
        &[vec!["limits", "<timestamp>"]],
    );

    // Namespaces.
    check(
        &server.kubectl_ok(&["get", "namespace", "tables", "quota"]),
        &["NAME", "STATUS", "AGE"],
        &[vec!["tables", "Active", "<age>"], vec!["quota", "Active", "<age>"]],
    );
}

#[test]
fn events_core_and_events_k8s_io() {
    let server = Server::start().expect("server starts");
    namespace(&server, "tables");
    // Events expire an hour after their last occurrence; these are 50 minutes old.
    create(
        &server,
        &json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "running.17a", "namespace": "tables"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "running", "namespace": "tables", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled", "message": "Successfully pulled image \"busybox\"\n", "type": "Normal",
        "source": {"component": "kubelet", "host": "e2e-node"}, "count": 3,
        "firstTimestamp": ago(55 * 60), "lastTimestamp": ago(50 * 60)}),
    );
    create(
        &server,
        &json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "web.17b", "namespace": "tables"},
        "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "tables"},
        "reason": "ScalingReplicaSet", "note": "Scaled up replica set web-5d8 to 2", "type": "Normal", "action": "Scale",
        "eventTime": format!("{}.000000Z", ago(52 * 60).trim_end_matches('Z')),
        "reportingController": "deployment-controller", "reportingInstance": "deployment-controller-abc"}),
    );

    let narrow = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];
    let wide = [
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "SUBOBJECT",
        "SOURCE",
        "MESSAGE",
        "FIRST SEEN",
        "COUNT",
        "NAME",
    ];
    let want = vec![
        vec![
            "50m",
            "Normal",
            "Pulled",
            "pod/running",
            "spec.containers{app}",
            "kubelet, e2e-node",
            "Successfully pulled image \"busybox\"",
            "55m",
            "3",
            "running.17a",
        ],
        vec![
            "52m",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "",
            "deployment-controller, deployment-controller-abc",
            "Scaled up replica set web-5d8 to 2",
            "52m",
            "1",
            "web.17b",
        ],
    ];
    let pick =
        |cols: &[usize]| -> Vec<Vec<&str>> { want.iter().map(|r| cols.iter().map(|&i| r[i]).collect()).collect() };
    check(
        &server.kubectl_ok(&["get", "events", "-n", "tables"]),
        &narrow,
        &pick(&[0, 1, 2, 3, 6]),
    );
    check(
        &server.kubectl_ok(&["get", "events", "-n", "tables", "-o", "wide"]),
        &wide,
        &want,
    );
    // events.k8s.io serves the same events with the same columns.
    check(
        &server.kubectl_ok(&["get", "events.events.k8s.io", "-n", "tables", "-o", "wide"]),
        &wide,
        &want,
    );
}

#[test]
fn table_cells_helpers_behave() {
    assert!(is_duration("5m10s") && is_duration("3d") && is_duration("45s"));
    assert!(!is_duration("") && !is_duration("5") && !is_duration("<unknown>") && !is_duration("1h2m3s"));
    assert!(is_timestamp("2025-01-01T00:00:00Z") && !is_timestamp("2025-01-01"));
    let t = split_table("NAME   A B   C\nx      1     \ny      22    3\n", &["NAME", "A B", "C"]);
    assert_eq!(t, vec![vec!["x", "1", ""], vec!["y", "22", "3"]]);
}

#[test]
fn get_pods_watch_prints_one_header_and_a_row_per_change() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    let server = Server::start().expect("server starts");
    namespace(&server, "tables");
    create(
        &server,
        &pod("w", &["app"], Value::Null, json!({"nodeName": "e2e-node"})),
    );
    let mut child = Command::new("kubectl")
        .args(["get", "pods", "-n", "tables", "-w"])
        .env("KUBECONFIG", &server.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let out = child.stdout.take().expect("stdout");
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(mut l) = sink.lock() {
                l.push(line);
            }
        }
    });
    let count = || lines.lock().map(|l| l.len()).unwrap_or(0);
    let wait_lines = |n: usize| {
        k1s_e2e::wait_for("watch output", std::time::Duration::from_secs(15), || {
            (count() >= n).then_some(())
        })
    };
    wait_lines(2);
    set_status(
        &server,
        "pod",
        "w",
        Some("tables"),
        json!({"phase": "Pending",
        "containerStatuses": [waiting("app", "ContainerCreating", 0)]}),
    );
    wait_lines(3);
    set_status(
        &server,
        "pod",
        "w",
        Some("tables"),
        json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [running("app", 0, None)]}),
    );
    wait_lines(4);
    let _ = child.kill();
    let _ = child.wait();
    let text = lines.lock().map(|l| l.join("\n")).unwrap_or_default();
    // kubectl aligns each watch event on its own, so cells are split at runs of spaces.
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect())
        .collect();
    let want = [
        vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        vec!["w", "0/1", "Pending", "0", "<age>"],
        vec!["w", "0/1", "ContainerCreating", "0", "<age>"],
        vec!["w", "1/1", "Running", "0", "<age>"],
    ];
    assert_eq!(rows.len(), want.len(), "one header, one line per event:\n{text}");
    for (got, want) in rows.iter().zip(&want) {
        assert_eq!(got.len(), want.len(), "{text}");
        for (g, w) in got.iter().zip(want) {
            assert!(cell_matches(w, g), "expected {w:?}, got {g:?} in:\n{text}");
        }
    }
}
