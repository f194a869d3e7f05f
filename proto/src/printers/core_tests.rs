//! Core printers against the cells Kubernetes prints for the same objects.

use serde_json::{json, Value};

use super::*;

fn ctx() -> PrintContext {
    PrintContext {
        now: "2025-03-01T12:00:00Z".parse().unwrap(),
    }
}

fn meta(name: &str) -> Value {
    json!({"name": name, "creationTimestamp": "2025-03-01T11:58:00Z"})
}

fn row_of(plural: &str, obj: &Value) -> Vec<Value> {
    let p = printer(plural).unwrap();
    let cells = (p.row)(obj, &ctx());
    assert_eq!(cells.len(), p.columns.len(), "{plural}: one cell per column");
    cells
}

fn headers(plural: &str) -> Vec<(&'static str, i32)> {
    printer(plural)
        .unwrap()
        .columns
        .iter()
        .map(|c| (c.name, c.priority))
        .collect()
}

#[test]
fn namespaces() {
    let ns = json!({"metadata": meta("dev"), "status": {"phase": "Active"}});
    assert_eq!(
        row_of("namespaces", &ns),
        vec![json!("dev"), json!("Active"), json!("2m")]
    );
}

#[test]
fn nodes() {
    let mut node = json!({
        "metadata": {"name": "n1", "creationTimestamp": "2025-03-01T10:00:00Z",
            "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "",
                       "kubernetes.io/role": "worker", "node-role.kubernetes.io/": "x", "other": "y"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.10"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.6.20"}
        }
    });
    assert_eq!(
        row_of("nodes", &node),
        vec![
            json!("n1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,master,worker"),
            json!("120m"),
            json!("v1.33.0"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Debian GNU/Linux 12 (bookworm)"),
            json!("6.1.0"),
            json!("containerd://1.6.20")
        ]
    );
    node["spec"] = json!({});
    node["metadata"]["labels"] = json!({});
    node["status"]["conditions"] = json!([{"type": "Ready", "status": "Unknown"}]);
    node["status"]["nodeInfo"] = json!({});
    let cells = row_of("nodes", &node);
    assert_eq!(cells[1], json!("NotReady"));
    assert_eq!(cells[2], json!("<none>"));
    assert_eq!(cells[4], json!(""));
    assert_eq!(
        &cells[7..],
        &[json!("<unknown>"), json!("<unknown>"), json!("<unknown>")]
    );
    node["status"]["conditions"] = json!([]);
    assert_eq!(row_of("nodes", &node)[1], json!("Unknown"));
    assert_eq!(
        headers("nodes"),
        vec![
            ("Name", 0),
            ("Status", 0),
            ("Roles", 0),
            ("Age", 0),
            ("Version", 0),
            ("Internal-IP", 1),
            ("External-IP", 1),
            ("OS-Image", 1),
            ("Kernel-Version", 1),
            ("Container-Runtime", 1)
        ]
    );
}

#[test]
fn services() {
    let svc = |spec: Value, status: Value| json!({"metadata": meta("web"), "spec": spec, "status": status});
    let cluster = svc(
        json!({"type": "ClusterIP", "clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"], "selector": {"app": "web", "tier": "fe"},
               "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
        json!({}),
    );
    assert_eq!(
        row_of("services", &cluster),
        vec![
            json!("web"),
            json!("ClusterIP"),
            json!("10.43.0.10"),
            json!("<none>"),
            json!("80/TCP,53/UDP"),
            json!("2m"),
            json!("app=web,tier=fe")
        ]
    );
    let node_port = svc(
        json!({"type": "NodePort", "clusterIPs": ["10.43.0.11"], "externalIPs": ["1.2.3.4"],
               "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
        json!({}),
    );
    let cells = row_of("services", &node_port);
    assert_eq!(
        (&cells[3], &cells[4], &cells[6]),
        (&json!("1.2.3.4"), &json!("80:30080/TCP"), &json!("<none>"))
    );

    let pending = svc(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.43.0.12"], "ports": []}),
        json!({}),
    );
    let cells = row_of("services", &pending);
    assert_eq!((&cells[3], &cells[4]), (&json!("<pending>"), &json!("<none>")));
    let lb = svc(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.43.0.12"], "externalIPs": ["9.9.9.9"]}),
        json!({"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}, {"hostname": "lb.example.com"}, {"ip": "192.168.1.10"}]}}),
    );
    assert_eq!(row_of("services", &lb)[3], json!("192.168.1.10,lb.example.com,9.9.9.9"));

    let external = svc(
        json!({"type": "ExternalName", "externalName": "db.example.com"}),
        json!({}),
    );
    let cells = row_of("services", &external);
    assert_eq!((&cells[2], &cells[3]), (&json!("<none>"), &json!("db.example.com")));

    let headless = svc(json!({"type": "ClusterIP", "clusterIPs": ["None"]}), json!({}));
    assert_eq!(row_of("services", &headless)[2], json!("None"));
}

#[test]
fn endpoints() {
    let ep = |subsets: Value| json!({"metadata": meta("web"), "subsets": subsets});
    assert_eq!(row_of("endpoints", &ep(json!(null)))[1], json!("<none>"));
    let two = ep(json!([{"addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.0.6"}], "ports": [{"port": 80}]}]));
    assert_eq!(row_of("endpoints", &two)[1], json!("10.42.0.5:80,10.42.0.6:80"));
    let many = ep(json!([
        {"addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.0.6"}], "ports": [{"port": 80}, {"port": 443}]},
        {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]},
    ]));
    assert_eq!(
        row_of("endpoints", &many)[1],
        json!("10.42.0.5:80,10.42.0.6:80,10.42.0.5:443 + 2 more...")
    );
    let v6 = ep(json!([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]}]));
    assert_eq!(row_of("endpoints", &v6)[1], json!("[fd00::1]:53"));
    let headless = ep(json!([{"addresses": [{"ip": "10.42.0.7"}]}]));
    assert_eq!(row_of("endpoints", &headless)[1], json!("10.42.0.7"));
    let empty = ep(json!([{"notReadyAddresses": [{"ip": "10.42.0.7"}], "ports": [{"port": 80}]}]));
    assert_eq!(row_of("endpoints", &empty)[1], json!(""));
}

#[test]
fn configmaps_secrets_serviceaccounts() {
    let cm = json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(row_of("configmaps", &cm), vec![json!("cfg"), json!(3), json!("2m")]);
    let empty = json!({"metadata": meta("cfg")});
    assert_eq!(row_of("configmaps", &empty)[1], json!(0));
    let secret = json!({"metadata": meta("s"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(
        row_of("secrets", &secret),
        vec![json!("s"), json!("kubernetes.io/tls"), json!(2), json!("2m")]
    );
    let sa = json!({"metadata": meta("default")});
    assert_eq!(
        row_of("serviceaccounts", &sa),
        vec![json!("default"), json!(0), json!("2m")]
    );
    let sa = json!({"metadata": meta("build"), "secrets": [{"name": "x"}]});
    assert_eq!(row_of("serviceaccounts", &sa)[1], json!(1));
}

#[test]
fn persistent_volumes() {
    let pv = json!({
        "metadata": meta("pv1"),
        "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "local",
                 "claimRef": {"namespace": "default", "name": "data"}},
        "status": {"phase": "Bound"}
    });
    assert_eq!(
        row_of("persistentvolumes", &pv),
        vec![
            json!("pv1"),
            json!("1Gi"),
            json!("RWO,RWX"),
            json!("Retain"),
            json!("Bound"),
            json!("default/data"),
            json!("local"),
            json!("<unset>"),
            json!(""),
            json!("2m"),
            json!("<unset>")
        ]
    );
    let mut released = pv.clone();
    released["metadata"]["deletionTimestamp"] = json!("2025-03-01T11:59:00Z");
    released["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "old"});
    released["spec"]["volumeMode"] = json!("Block");
    released["spec"]["accessModes"] = json!(["ReadWriteOncePod", "ReadOnlyMany"]);
    released["status"]["reason"] = json!("Failed");
    let cells = row_of("persistentvolumes", &released);
    assert_eq!(cells[2], json!("ROX,RWOP"));
    assert_eq!(cells[4], json!("Terminating"));
    assert_eq!(cells[6], json!("old"));
    assert_eq!(cells[8], json!("Failed"));
    assert_eq!(cells[10], json!("Block"));
}

#[test]
fn persistent_volume_claims() {
    let pending = json!({
        "metadata": meta("data"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "local-path"},
        "status": {"phase": "Pending"}
    });
    assert_eq!(
        row_of("persistentvolumeclaims", &pending),
        vec![
            json!("data"),
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!("local-path"),
            json!("<unset>"),
            json!("2m"),
            json!("<unset>")
        ]
    );
    let mut bound = pending.clone();
    bound["spec"]["volumeName"] = json!("pvc-123");
    bound["spec"]["volumeMode"] = json!("Filesystem");
    bound["spec"]["volumeAttributesClassName"] = json!("gold");
    bound["status"] = json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "2Gi"}});
    assert_eq!(
        row_of("persistentvolumeclaims", &bound),
        vec![
            json!("data"),
            json!("Bound"),
            json!("pvc-123"),
            json!("2Gi"),
            json!("RWO"),
            json!("local-path"),
            json!("gold"),
            json!("2m"),
            json!("Filesystem")
        ]
    );
    let mut no_class = pending;
    no_class["spec"]["storageClassName"] = Value::Null;
    assert_eq!(row_of("persistentvolumeclaims", &no_class)[5], json!(""));
}

#[test]
fn resource_quotas() {
    let rq = json!({
        "metadata": meta("q"),
        "status": {
            "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2", "requests.memory": "1Gi"},
            "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "0"}
        }
    });
    assert_eq!(
        row_of("resourcequotas", &rq),
        vec![
            json!("q"),
            json!("pods: 3/10, requests.cpu: 500m/1, requests.memory: 0/1Gi"),
            json!("limits.cpu: 0/2, limits.memory: 0/2Gi"),
            json!("2m")
        ]
    );
    assert_eq!(
        headers("resourcequotas"),
        vec![("Name", 0), ("Request", 0), ("Limit", 0), ("Age", 0)]
    );
}

#[test]
fn replication_controllers_and_pod_templates() {
    let rc = json!({
        "metadata": meta("rc"),
        "spec": {"replicas": 3, "selector": {"app": "web"},
                 "template": {"spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1}
    });
    assert_eq!(
        row_of("replicationcontrollers", &rc),
        vec![
            json!("rc"),
            json!(3),
            json!(2),
            json!(1),
            json!("2m"),
            json!("a,b"),
            json!("nginx,busybox"),
            json!("app=web")
        ]
    );
    let pt = json!({"metadata": meta("pt"), "template": {"metadata": {"labels": {"x": "y"}},
                    "spec": {"containers": [{"name": "a", "image": "nginx"}]}}});
    assert_eq!(
        row_of("podtemplates", &pt),
        vec![json!("pt"), json!("a"), json!("nginx"), json!("x=y")]
    );
}

#[test]
fn component_statuses() {
    let cs =
        json!({"metadata": {"name": "etcd-0"}, "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}]});
    assert_eq!(
        row_of("componentstatuses", &cs),
        vec![json!("etcd-0"), json!("Healthy"), json!("ok"), json!("")]
    );
    let cs = json!({"metadata": {"name": "x"}});
    assert_eq!(row_of("componentstatuses", &cs)[1], json!("Unknown"));
}

#[test]
fn limitranges_use_the_default_columns() {
    assert!(printer("limitranges").is_none());
    assert!(printer("bindings").is_none());
}

#[test]
fn scale() {
    let s = json!({"kind": "Scale", "metadata": meta("web"), "spec": {"replicas": 3}, "status": {"replicas": 2}});
    assert_eq!(
        (SCALE.row)(&s, &ctx()),
        vec![json!("web"), json!(3), json!(2), json!("2m")]
    );
    assert_eq!(SCALE.columns[0].format, "");
}
