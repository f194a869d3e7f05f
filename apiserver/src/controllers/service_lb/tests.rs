//! API tests of the service load balancer against an in-memory API.

use std::collections::HashSet;
use std::net::{IpAddr, TcpListener};

use serde_json::Value;

use super::*;
use crate::controllers::testing::{eventually, TestEnv};

/// Host ports taken by "processes", for tests that do not touch the machine.
#[derive(Default)]
struct Busy(Mutex<HashSet<u16>>);

impl HostPorts for Busy {
    fn in_use(&self, ip: IpAddr, port: &LbPort) -> Option<String> {
        let busy = self.0.lock().unwrap();
        busy.contains(&port.port)
            .then(|| format!("{ip}:{} is in use by another process", port.port))
    }
}

fn config(host_ports: Arc<dyn HostPorts>) -> Config {
    Config {
        resync: Duration::from_secs(300),
        retry: QueueConfig {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            ..QueueConfig::default()
        },
        host_ports,
    }
}

fn services() -> &'static k1s_proto::ResourceInfo {
    resource("", "services")
}

async fn create_node(env: &TestEnv, name: &str, ip: &str) {
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    let c = env.client();
    let mut created = c.create(resource("", "nodes"), None, &node).await.unwrap();
    created["status"] = json!({"addresses": [
        {"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]});
    c.update_status(resource("", "nodes"), None, &created).await.unwrap();
}

async fn create_service(env: &TestEnv, name: &str, spec: Value) -> Value {
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec});
    env.client().create(services(), Some("default"), &svc).await.unwrap()
}

fn lb_spec(port: u16) -> Value {
    json!({"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": port, "targetPort": 8080}]})
}

async fn get(env: &TestEnv, name: &str) -> Option<Value> {
    env.client().get(services(), Some("default"), name).await.ok()
}

async fn ingress_of(env: &TestEnv, name: &str) -> Vec<String> {
    get(env, name)
        .await
        .map(|s| ingress_strings(&s["status"]["loadBalancer"]))
        .unwrap_or_default()
}

/// The events about a Service: (type, reason, message).
async fn events_of(env: &TestEnv, name: &str) -> Vec<(String, String, String)> {
    let list = env
        .client()
        .list(resource("", "events"), Some("default"), "")
        .await
        .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == name && e["involvedObject"]["kind"] == "Service")
        .map(|e| {
            let s = |f: &str| e[f].as_str().unwrap_or("").to_string();
            (s("type"), s("reason"), s("message"))
        })
        .collect()
}

/// How many times an event with this reason was recorded about a Service.
async fn event_count(env: &TestEnv, name: &str, reason: &str) -> i64 {
    let list = env
        .client()
        .list(resource("", "events"), Some("default"), "")
        .await
        .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == name && e["reason"] == reason)
        .map(|e| e["count"].as_i64().unwrap_or(1))
        .sum()
}

async fn has_event(env: &TestEnv, name: &str, reason: &str, message: &str) -> bool {
    events_of(env, name)
        .await
        .iter()
        .any(|(_, r, m)| r == reason && m == message)
}

#[tokio::test]
async fn load_balancers_get_the_node_address_first_come_first_served() {
    let env = TestEnv::new().await;
    create_node(&env, "n1", "10.0.0.2").await;
    env.keep(spawn(
        env.api.clone(),
        config(Arc::new(Busy::default())),
        env.shutdown(),
    ));

    create_service(&env, "web", lb_spec(80)).await;
    eventually("web balanced", || async {
        ingress_of(&env, "web").await == ["10.0.0.2"]
    })
    .await;
    let web = get(&env, "web").await.unwrap();
    assert_eq!(
        web["status"]["loadBalancer"],
        json!({"ingress": [{"ip": "10.0.0.2", "ipMode": "VIP"}]})
    );
    assert_eq!(web["metadata"]["finalizers"], json!([LB_FINALIZER]));
    eventually("events of ensuring", || async {
        let ev = events_of(&env, "web").await;
        let reasons: Vec<&str> = ev.iter().map(|(_, r, _)| r.as_str()).collect();
        reasons.contains(&"EnsuringLoadBalancer")
            && reasons.contains(&"EnsuredLoadBalancer")
            && has_event(
                &env,
                "web",
                "UpdatedLoadBalancer",
                "Updated LoadBalancer with new IPs: [] -> [10.0.0.2]",
            )
            .await
    })
    .await;

    // The same port on the node: pending, with a warning saying who holds it.
    create_service(&env, "second", lb_spec(80)).await;
    eventually("second refused", || {
        has_event(
            &env,
            "second",
            "SyncLoadBalancerFailed",
            "Error syncing load balancer: failed to ensure load balancer: port 80/TCP on node n1 is already used by the load balancer of Service default/web",
        )
    })
    .await;
    assert!(ingress_of(&env, "second").await.is_empty());
    assert_eq!(
        get(&env, "second").await.unwrap()["metadata"]["finalizers"],
        json!([LB_FINALIZER]),
        "the finalizer comes before the load balancer"
    );
    // Another protocol on the same port is another port.
    create_service(
        &env,
        "udp",
        json!({"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "UDP"}]}),
    )
    .await;
    eventually("udp balanced", || async {
        ingress_of(&env, "udp").await == ["10.0.0.2"]
    })
    .await;

    // web stops being a load balancer: its ingress and finalizer go, second gets the port.
    let c = env.client();
    c.patch(
        services(),
        Some("default"),
        "web",
        None,
        PatchType::Merge,
        &json!({"spec": {"type": "ClusterIP"}}),
    )
    .await
    .unwrap();
    eventually("web cleaned up", || async {
        get(&env, "web")
            .await
            .is_some_and(|s| s["status"]["loadBalancer"] == json!({}) && s["metadata"]["finalizers"].is_null())
    })
    .await;
    eventually("second balanced once the port is free", || async {
        ingress_of(&env, "second").await == ["10.0.0.2"]
    })
    .await;
    assert!(has_event(&env, "web", "DeletedLoadBalancer", "Deleted load balancer").await);
    assert!(has_event(&env, "web", "DeletingLoadBalancer", "Deleting load balancer").await);
    assert!(has_event(&env, "web", "Type", "LoadBalancer -> ClusterIP").await);

    // Deleting a balanced Service waits for the controller to let the port go.
    c.delete(services(), Some("default"), "second", &Value::Null)
        .await
        .unwrap();
    eventually("second deleted", || async { get(&env, "second").await.is_none() }).await;
    create_service(&env, "third", lb_spec(80)).await;
    eventually("third takes the freed port", || async {
        ingress_of(&env, "third").await == ["10.0.0.2"]
    })
    .await;
}

#[tokio::test]
async fn other_classes_are_left_alone_and_node_ports_are_optional() {
    let env = TestEnv::new().await;
    create_node(&env, "n1", "10.0.0.2").await;
    env.keep(spawn(
        env.api.clone(),
        config(Arc::new(Busy::default())),
        env.shutdown(),
    ));

    let mut no_node_ports = lb_spec(81);
    no_node_ports["allocateLoadBalancerNodePorts"] = json!(false);
    create_service(&env, "bare", no_node_ports).await;
    let mut classy = lb_spec(82);
    classy["loadBalancerClass"] = json!("example.com/other");
    create_service(&env, "classy", classy).await;

    eventually("bare balanced", || async {
        ingress_of(&env, "bare").await == ["10.0.0.2"]
    })
    .await;
    let bare = get(&env, "bare").await.unwrap();
    assert!(bare["spec"]["ports"][0]["nodePort"].is_null(), "{bare}");
    // Once bare was handled, classy (created before it was) has been seen too.
    let classy = get(&env, "classy").await.unwrap();
    assert_eq!(classy["status"]["loadBalancer"], json!({}));
    assert!(classy["metadata"]["finalizers"].is_null());
    assert!(events_of(&env, "classy").await.is_empty());
    // Its own writes (finalizer, status) wake the controller without new work.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for reason in ["EnsuringLoadBalancer", "EnsuredLoadBalancer", "UpdatedLoadBalancer"] {
        assert_eq!(event_count(&env, "bare", reason).await, 1, "{reason}");
    }
}

#[tokio::test]
async fn node_ports_host_ports_and_host_processes_hold_ports() {
    let env = TestEnv::new().await;
    create_node(&env, "n1", "10.0.0.2").await;
    let busy = Arc::new(Busy::default());
    busy.0.lock().unwrap().insert(9000);
    env.keep(spawn(env.api.clone(), config(busy.clone()), env.shutdown()));
    let c = env.client();

    create_service(
        &env,
        "np",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
    )
    .await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hp", "namespace": "default"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox:1.36",
            "ports": [{"containerPort": 80, "hostPort": 8080}]}]}});
    c.create(resource("", "pods"), Some("default"), &pod).await.unwrap();

    create_service(&env, "on-node-port", lb_spec(30080)).await;
    create_service(&env, "on-host-port", lb_spec(8080)).await;
    create_service(&env, "on-process", lb_spec(9000)).await;
    let failed = "Error syncing load balancer: failed to ensure load balancer:";
    eventually("all three refused", || async {
        has_event(&env, "on-node-port", "SyncLoadBalancerFailed",
            &format!("{failed} port 30080/TCP on node n1 is already a nodePort of Service default/np")).await
            && has_event(&env, "on-host-port", "SyncLoadBalancerFailed",
                &format!("{failed} port 8080/TCP on node n1 is already a hostPort of pod default/hp")).await
            && has_event(&env, "on-process", "SyncLoadBalancerFailed",
                &format!("{failed} port 9000/TCP on node n1 is already in use on the host: 10.0.0.2:9000 is in use by another process")).await
    })
    .await;
    for name in ["on-node-port", "on-host-port", "on-process"] {
        assert!(ingress_of(&env, name).await.is_empty(), "{name} pending");
    }

    // Each is retried once its port frees.
    c.delete(
        resource("", "pods"),
        Some("default"),
        "hp",
        &json!({"gracePeriodSeconds": 0}),
    )
    .await
    .unwrap();
    busy.0.lock().unwrap().clear();
    c.delete(services(), Some("default"), "np", &Value::Null).await.unwrap();
    for name in ["on-node-port", "on-host-port", "on-process"] {
        eventually(name, || async { ingress_of(&env, name).await == ["10.0.0.2"] }).await;
    }
}

#[tokio::test]
async fn a_listening_process_keeps_the_service_pending_until_it_stops() {
    let env = TestEnv::new().await;
    create_node(&env, "local", "127.0.0.1").await;
    env.keep(spawn(env.api.clone(), config(Arc::new(BindProbe)), env.shutdown()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    create_service(&env, "taken", lb_spec(port)).await;
    eventually("refused", || async {
        events_of(&env, "taken").await.iter().any(|(t, r, m)| {
            t == "Warning"
                && r == "SyncLoadBalancerFailed"
                && m.ends_with(&format!("127.0.0.1:{port} is in use by another process"))
        })
    })
    .await;
    assert!(ingress_of(&env, "taken").await.is_empty());
    drop(listener);
    eventually("balanced once the process is gone", || async {
        ingress_of(&env, "taken").await == ["127.0.0.1"]
    })
    .await;
}

#[tokio::test]
async fn balanced_services_keep_their_ports_across_a_restart() {
    let env = TestEnv::new().await;
    create_node(&env, "n1", "10.0.0.2").await;
    let (stop, rx) = watch::channel(false);
    let first = spawn(env.api.clone(), config(Arc::new(Busy::default())), rx);
    create_service(&env, "holder", lb_spec(80)).await;
    eventually("holder balanced", || async {
        ingress_of(&env, "holder").await == ["10.0.0.2"]
    })
    .await;
    stop.send_replace(true);
    first.await.unwrap();

    // Created while no controller ran: it must not take the port from holder.
    create_service(&env, "late", lb_spec(80)).await;
    env.keep(spawn(
        env.api.clone(),
        config(Arc::new(Busy::default())),
        env.shutdown(),
    ));
    eventually("late refused", || async {
        events_of(&env, "late")
            .await
            .iter()
            .any(|(_, r, m)| r == "SyncLoadBalancerFailed" && m.contains("Service default/holder"))
    })
    .await;
    assert_eq!(ingress_of(&env, "holder").await, ["10.0.0.2"]);
    assert!(ingress_of(&env, "late").await.is_empty());
}

#[tokio::test]
async fn no_node_no_ingress_until_one_registers() {
    let env = TestEnv::new().await;
    env.keep(spawn(
        env.api.clone(),
        config(Arc::new(Busy::default())),
        env.shutdown(),
    ));
    create_service(&env, "early", lb_spec(80)).await;
    eventually("warned", || {
        has_event(
            &env,
            "early",
            "UnAvailableLoadBalancer",
            "There are no available nodes for LoadBalancer",
        )
    })
    .await;
    assert!(ingress_of(&env, "early").await.is_empty());
    create_node(&env, "n1", "10.0.0.7").await;
    eventually("balanced on the new node", || async {
        ingress_of(&env, "early").await == ["10.0.0.7"]
    })
    .await;
}
