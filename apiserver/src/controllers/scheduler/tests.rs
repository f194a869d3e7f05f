//! The scheduler's decisions on fixed snapshots, and the controller against
//! an in-memory API: binding, events, the `PodScheduled` condition, retries.

use super::*;
use crate::controllers::testing::{eventually, TestEnv};
use k1s_proto::resources::find;

fn node(name: &str, cpu: &str, extra: Value) -> Value {
    let mut n = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
                   "capacity": {"cpu": cpu, "memory": "4Gi", "pods": "110"}},
    });
    if let (Some(dst), Some(src)) = (n["spec"].as_object_mut(), extra.as_object()) {
        for (k, v) in src {
            dst.insert(k.clone(), v.clone());
        }
    }
    n
}

fn pod(name: &str, cpu: &str, spec: Value) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                 "resources": {"requests": {"cpu": cpu}}}]},
    });
    if let (Some(dst), Some(src)) = (p["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in src {
            dst.insert(k.clone(), v.clone());
        }
    }
    p
}

struct NoVolumes;

impl VolumeLookup for NoVolumes {
    fn claim(&self, _: &str, _: &str) -> Option<Value> {
        None
    }
    fn volume(&self, _: &str) -> Option<Value> {
        None
    }
    fn class(&self, _: &str) -> Option<Value> {
        None
    }
}

fn arcs(v: Vec<Value>) -> Vec<Arc<Value>> {
    v.into_iter().map(Arc::new).collect()
}

#[test]
fn snapshot_counts_bound_and_assumed_pods_but_not_finished_ones() {
    let nodes = arcs(vec![node("n1", "2", json!({}))]);
    let mut done = pod("done", "1", json!({"nodeName": "n1"}));
    done["status"] = json!({"phase": "Succeeded"});
    let pods = arcs(vec![
        pod("a", "500m", json!({"nodeName": "n1"})),
        pod("b", "250m", json!({})),
        pod("c", "100m", json!({})),
        done,
    ]);
    let assumed = HashMap::from([("default/b".to_string(), "n1".to_string())]);
    let infos = snapshot(&nodes, &pods, &assumed);
    assert_eq!(infos[0].requested.milli_cpu, 750);
    assert_eq!(infos[0].pods, 2);
}

#[test]
fn decisions() {
    let nodes = vec![node("n1", "1", json!({})), node("n2", "2", json!({}))];
    let infos = snapshot(
        &arcs(nodes),
        &arcs(vec![pod("x", "1500m", json!({"nodeName": "n2"}))]),
        &HashMap::new(),
    );
    // Most room left wins: n1 has 1000m free, n2 500m.
    match decide(&pod("p", "100m", json!({})), &infos, &NoVolumes) {
        Decision::Node { node, delayed_claims } => assert_eq!((node.as_str(), delayed_claims.len()), ("n1", 0)),
        other => panic!("{other:?}"),
    }
    let Decision::Unschedulable(f) = decide(&pod("p", "1200m", json!({})), &infos, &NoVolumes) else {
        panic!("fits nowhere");
    };
    assert_eq!(
        failure_message(&f, false),
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
    let Decision::Unschedulable(f) = decide(&pod("p", "1", json!({})), &[], &NoVolumes) else {
        panic!("no nodes");
    };
    assert_eq!(failure_message(&f, false), "no nodes available to schedule pods");
    let claiming = pod(
        "p",
        "1",
        json!({"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}),
    );
    let Decision::Unschedulable(f) = decide(&claiming, &infos, &NoVolumes) else {
        panic!("missing claim");
    };
    assert_eq!(
        failure_message(&f, false),
        "0/2 nodes are available: persistentvolumeclaim \"data\" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
}

fn pods_info() -> &'static k1s_proto::ResourceInfo {
    find("", "v1", "pods").unwrap()
}

async fn add_node(env: &TestEnv, n: Value) {
    let nodes = find("", "v1", "nodes").unwrap();
    let c = env.client();
    let created = c.create(nodes, None, &n).await.unwrap();
    let mut with_status = created.clone();
    with_status["status"] = n["status"].clone();
    c.update_status(nodes, None, &with_status).await.unwrap();
}

async fn events_for(env: &TestEnv, pod: &str) -> Vec<(String, String, String)> {
    let events = find("", "v1", "events").unwrap();
    let list = env.client().list(events, Some("default"), "").await.unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == pod)
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap_or("").to_string(),
                e["source"]["component"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn binds_fitting_pods_and_retries_the_others_when_room_is_freed() {
    let env = TestEnv::new().await;
    let c = env.client();
    add_node(&env, node("n1", "1", json!({}))).await;
    env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));

    c.create(pods_info(), Some("default"), &pod("holder", "800m", json!({})))
        .await
        .unwrap();
    eventually("holder bound", || async {
        let p = c.get(pods_info(), Some("default"), "holder").await.unwrap();
        p["spec"]["nodeName"] == "n1"
    })
    .await;
    let p = c.get(pods_info(), Some("default"), "holder").await.unwrap();
    let cond = &p["status"]["conditions"][0];
    assert_eq!(
        (cond["type"].as_str(), cond["status"].as_str()),
        (Some("PodScheduled"), Some("True"))
    );
    eventually("Scheduled event", || async {
        events_for(&env, "holder").await.contains(&(
            "Scheduled".into(),
            "Successfully assigned default/holder to n1".into(),
            "default-scheduler".into(),
        ))
    })
    .await;

    // 500m more does not fit next to 800m of 1000m.
    c.create(pods_info(), Some("default"), &pod("waiter", "500m", json!({})))
        .await
        .unwrap();
    let want = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
    eventually("waiter unschedulable", || async {
        let p = c.get(pods_info(), Some("default"), "waiter").await.unwrap();
        let cond = &p["status"]["conditions"][0];
        cond["reason"] == "Unschedulable" && cond["status"] == "False" && cond["message"] == want
    })
    .await;
    eventually("FailedScheduling event", || async {
        events_for(&env, "waiter")
            .await
            .iter()
            .any(|(reason, msg, _)| reason == "FailedScheduling" && msg == want)
    })
    .await;
    let p = c.get(pods_info(), Some("default"), "waiter").await.unwrap();
    assert!(p["spec"]["nodeName"].is_null());
    assert_eq!(p["status"]["phase"], "Pending");

    // Deleting the holder frees the room: the waiter is placed.
    c.delete(
        pods_info(),
        Some("default"),
        "holder",
        &json!({"gracePeriodSeconds": 0}),
    )
    .await
    .unwrap();
    eventually("waiter bound after the holder left", || async {
        let p = c.get(pods_info(), Some("default"), "waiter").await.unwrap();
        p["spec"]["nodeName"] == "n1" && p["status"]["conditions"][0]["status"] == "True"
    })
    .await;
}

#[tokio::test]
async fn selectors_taints_cordons_and_other_schedulers() {
    let env = TestEnv::new().await;
    let c = env.client();
    add_node(
        &env,
        node(
            "n1",
            "4",
            json!({"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}),
        ),
    )
    .await;
    env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
    let message = |name: &'static str| {
        let c = c.clone();
        async move {
            let p = c.get(pods_info(), Some("default"), name).await.unwrap();
            p["status"]["conditions"][0]["message"]
                .as_str()
                .unwrap_or("")
                .to_string()
        }
    };
    c.create(pods_info(), Some("default"), &pod("plain", "100m", json!({})))
        .await
        .unwrap();
    let tolerant =
        json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]});
    let mut picky = tolerant.clone();
    picky["nodeSelector"] = json!({"disktype": "ssd"});
    c.create(pods_info(), Some("default"), &pod("picky", "100m", picky))
        .await
        .unwrap();
    c.create(pods_info(), Some("default"), &pod("tolerant", "100m", tolerant))
        .await
        .unwrap();
    c.create(
        pods_info(),
        Some("default"),
        &pod("other", "100m", json!({"schedulerName": "my-scheduler"})),
    )
    .await
    .unwrap();
    eventually("taint message", || async {
        message("plain").await
            == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: db}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    })
    .await;
    eventually("selector message", || async {
        message("picky").await
            == "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    })
    .await;
    eventually("tolerant pod bound", || async {
        let p = c.get(pods_info(), Some("default"), "tolerant").await.unwrap();
        p["spec"]["nodeName"] == "n1"
    })
    .await;

    // Labelling the node lets the picky pod fit: a node change retries it.
    let nodes = find("", "v1", "nodes").unwrap();
    c.patch(
        nodes,
        None,
        "n1",
        None,
        PatchType::Merge,
        &json!({"metadata": {"labels": {"disktype": "ssd"}}}),
    )
    .await
    .unwrap();
    eventually("picky pod bound after labelling", || async {
        let p = c.get(pods_info(), Some("default"), "picky").await.unwrap();
        p["spec"]["nodeName"] == "n1"
    })
    .await;
    // Another scheduler's pod is left alone.
    let other = c.get(pods_info(), Some("default"), "other").await.unwrap();
    assert!(other["spec"]["nodeName"].is_null());
    assert!(other["status"]["conditions"].is_null());
}

#[tokio::test]
async fn the_binding_subresource() {
    let env = TestEnv::new().await;
    let c = env.client();
    c.create(pods_info(), Some("default"), &pod("p", "100m", json!({})))
        .await
        .unwrap();
    let binding = |pod: &str, node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod, "annotations": {"why": "test"}},
               "target": {"kind": "Node", "name": node}})
    };
    let ok = c
        .create_subresource(pods_info(), Some("default"), "p", "binding", &binding("p", "n1"))
        .await
        .unwrap();
    assert_eq!(ok["status"], "Success");
    assert_eq!(ok["code"], 201);
    let p = c.get(pods_info(), Some("default"), "p").await.unwrap();
    assert_eq!(p["spec"]["nodeName"], "n1");
    assert_eq!(p["metadata"]["annotations"]["why"], "test");
    assert_eq!(p["status"]["conditions"][0]["type"], "PodScheduled");
    assert_eq!(p["status"]["conditions"][0]["status"], "True");

    let again = c
        .create_subresource(pods_info(), Some("default"), "p", "binding", &binding("p", "n2"))
        .await
        .unwrap_err();
    assert_eq!(again.code, 409);
    assert_eq!(
        again.message,
        "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"n1\""
    );
    let wrong = c
        .create_subresource(pods_info(), Some("default"), "p", "binding", &binding("q", "n2"))
        .await
        .unwrap_err();
    assert_eq!(
        (wrong.code, wrong.message.as_str()),
        (400, "name in URL does not match name in Binding object")
    );
    let invalid = c
        .create_subresource(
            pods_info(),
            Some("default"),
            "p",
            "binding",
            &json!({"metadata": {"name": "p"}, "target": {"kind": "Pod"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(invalid.code, 422);
    assert!(
        invalid.message.contains("target.name: Required value"),
        "{}",
        invalid.message
    );
    let missing = c
        .create_subresource(pods_info(), Some("default"), "nope", "binding", &binding("nope", "n1"))
        .await
        .unwrap_err();
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, "pods \"nope\" not found")
    );

    // `namespaces/{ns}/bindings` names the pod in the body.
    c.create(pods_info(), Some("default"), &pod("q", "100m", json!({})))
        .await
        .unwrap();
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/default/bindings")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            binding("q", "n1").to_string(),
        )))
        .unwrap();
    let admin = crate::authn::UserInfo {
        name: "admin".into(),
        groups: vec!["system:masters".into()],
    };
    let resp = env.api.handle(req, &admin).await;
    assert_eq!(resp.status(), 201);
    let q = c.get(pods_info(), Some("default"), "q").await.unwrap();
    assert_eq!(q["spec"]["nodeName"], "n1");
    // A plain update may not set nodeName: binding is the only way.
    c.create(pods_info(), Some("default"), &pod("r", "100m", json!({})))
        .await
        .unwrap();
    let mut r = c.get(pods_info(), Some("default"), "r").await.unwrap();
    r["spec"]["nodeName"] = json!("n1");
    assert_eq!(c.update(pods_info(), Some("default"), &r).await.unwrap_err().code, 422);
}

#[tokio::test]
async fn new_pods_get_default_tolerations() {
    let env = TestEnv::new().await;
    let c = env.client();
    let created = c
        .create(pods_info(), Some("default"), &pod("p", "100m", json!({})))
        .await
        .unwrap();
    let keys: Vec<(&str, i64)> = created["spec"]["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap(), t["tolerationSeconds"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("node.kubernetes.io/not-ready", 300),
            ("node.kubernetes.io/unreachable", 300)
        ]
    );
}
