use super::*;
use serde_json::json;
use std::path::PathBuf;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn now() -> Timestamp {
    ts("2026-01-01T00:10:00Z")
}

fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": spec,
    }))
    .unwrap()
}

fn simple(restart: &str, names: &[&str]) -> Pod {
    let containers: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "image": "busybox:1.36"}))
        .collect();
    pod(json!({"restartPolicy": restart, "containers": containers}))
}

fn inst(name: &str, kind: ContainerKind, attempt: u32, state: ContainerRunState) -> ContainerInfo {
    ContainerInfo {
        id: format!("{name}-{attempt}"),
        pod_uid: "u1".into(),
        pod_namespace: "default".into(),
        pod_name: "web".into(),
        name: name.into(),
        kind,
        attempt,
        image_ref: "busybox:1.36".into(),
        image_id: "sha256:abc".into(),
        state,
        log_path: PathBuf::from("/tmp/x.log"),
    }
}

fn running(name: &str, attempt: u32) -> ContainerInfo {
    inst(
        name,
        ContainerKind::App,
        attempt,
        ContainerRunState::Running {
            started_at: ts("2026-01-01T00:05:00Z"),
        },
    )
}

fn exited(name: &str, kind: ContainerKind, attempt: u32, code: i32) -> ContainerInfo {
    inst(
        name,
        kind,
        attempt,
        ContainerRunState::Exited {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: Some(ts("2026-01-01T00:05:00Z")),
            finished_at: ts("2026-01-01T00:06:00Z"),
        },
    )
}

struct Case {
    pod: Pod,
    old: PodStatus,
    containers: Vec<ContainerInfo>,
    waiting: HashMap<String, Waiting>,
    probes: HashMap<String, ProbeView>,
    images: HashMap<String, ImageRef>,
    sandbox_ready: bool,
    terminal: bool,
}

impl Case {
    fn new(pod: Pod) -> Case {
        let mut images = HashMap::new();
        images.insert(
            "sha256:abc".to_string(),
            ImageRef {
                name: "docker.io/library/busybox:1.36".into(),
                image_id: "docker.io/library/busybox@sha256:def".into(),
            },
        );
        Case {
            pod,
            old: PodStatus::default(),
            containers: Vec::new(),
            waiting: HashMap::new(),
            probes: HashMap::new(),
            images,
            sandbox_ready: true,
            terminal: false,
        }
    }

    fn with(mut self, c: ContainerInfo) -> Case {
        self.containers.push(c);
        self
    }

    fn waiting(mut self, name: &str, reason: &str, message: &str) -> Case {
        self.waiting.insert(
            name.into(),
            Waiting {
                reason: reason.into(),
                message: message.into(),
            },
        );
        self
    }

    fn run(&self) -> PodStatus {
        let pod_ips: Vec<IpAddr> = vec!["10.42.0.5".parse().unwrap()];
        let host_ips: Vec<IpAddr> = vec!["192.168.1.10".parse().unwrap()];
        generate(&StatusInput {
            pod: &self.pod,
            old: &self.old,
            containers: &self.containers,
            waiting: &self.waiting,
            probes: &self.probes,
            images: &self.images,
            sandbox_ready: self.sandbox_ready,
            pod_ips: &pod_ips,
            host_ips: &host_ips,
            terminal: self.terminal,
            now: now(),
        })
    }
}

fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
    s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == t).unwrap()
}

fn cs<'a>(s: &'a PodStatus, name: &str) -> &'a ContainerStatus {
    s.container_statuses
        .iter()
        .chain(s.init_container_statuses.iter())
        .flatten()
        .find(|c| c.name == name)
        .unwrap()
}

fn state(s: &ContainerStatus) -> Value {
    serde_json::to_value(s.state.as_ref().unwrap()).unwrap()
}

#[test]
fn new_pod_is_pending_with_container_creating() {
    let s = Case::new(simple("Always", &["b", "a"])).run();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(state(cs(&s, "a")), json!({"waiting": {"reason": "ContainerCreating"}}));
    let a = cs(&s, "a");
    assert_eq!(a.image, "busybox:1.36");
    assert_eq!(a.image_id, "");
    assert!(!a.ready);
    assert_eq!(a.started, Some(false));
    assert_eq!(a.container_id, None);
    // Statuses are sorted by name.
    let names: Vec<_> = s
        .container_statuses
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let types: Vec<_> = s
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    let ready = cond(&s, "Ready");
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
    // The order of the spec, Go's %s of a []string.
    assert_eq!(ready.message.as_deref(), Some("containers with unready status: [b a]"));
    assert_eq!(cond(&s, "Initialized").status, "True");
    assert_eq!(cond(&s, "PodScheduled").status, "True");
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    assert_eq!(s.start_time, Some(Time(now())));
    assert_eq!(s.host_ip.as_deref(), Some("192.168.1.10"));
    assert_eq!(s.pod_ip.as_deref(), Some("10.42.0.5"));
    assert_eq!(s.init_container_statuses, None);
}

#[test]
fn running_container_without_probes_is_ready() {
    let s = Case::new(simple("Always", &["a"])).with(running("a", 0)).run();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let a = cs(&s, "a");
    assert!(a.ready);
    assert_eq!(a.started, Some(true));
    assert_eq!(a.container_id.as_deref(), Some("containerd://a-0"));
    assert_eq!(a.image, "docker.io/library/busybox:1.36");
    assert_eq!(a.image_id, "docker.io/library/busybox@sha256:def");
    assert_eq!(state(a), json!({"running": {"startedAt": "2026-01-01T00:05:00Z"}}));
    assert_eq!(serde_json::to_value(&a.last_state).unwrap(), json!({}));
    assert_eq!(cond(&s, "Ready").status, "True");
    assert_eq!(cond(&s, "ContainersReady").status, "True");
    assert_eq!(cond(&s, "Ready").reason, None);
}

#[test]
fn image_id_falls_back_to_the_config_digest() {
    let mut case = Case::new(simple("Always", &["a"])).with(running("a", 0));
    case.images.clear();
    let s = case.run();
    assert_eq!(cs(&s, "a").image_id, "sha256:abc");
    assert_eq!(cs(&s, "a").image, "busybox:1.36");
}

#[test]
fn readiness_and_startup_probes_gate_ready_and_started() {
    let p = pod(json!({"containers": [{
        "name": "a", "image": "busybox",
        "readinessProbe": {"exec": {"command": ["true"]}},
        "startupProbe": {"exec": {"command": ["true"]}},
    }]}));
    let mut case = Case::new(p).with(running("a", 0));
    let s = case.run();
    assert_eq!(cs(&s, "a").started, Some(false));
    assert!(!cs(&s, "a").ready);
    case.probes.insert(
        "a-0".into(),
        ProbeView {
            started: true,
            ready: false,
        },
    );
    let s = case.run();
    assert_eq!(cs(&s, "a").started, Some(true));
    assert!(!cs(&s, "a").ready);
    assert_eq!(
        cond(&s, "Ready").message.as_deref(),
        Some("containers with unready status: [a]")
    );
    case.probes.insert(
        "a-0".into(),
        ProbeView {
            started: true,
            ready: true,
        },
    );
    let s = case.run();
    assert!(cs(&s, "a").ready);
    assert_eq!(cond(&s, "Ready").status, "True");
}

#[test]
fn crash_loop_shows_waiting_with_the_last_termination() {
    let msg = "back-off 10s restarting failed container=a pod=web_default(u1)";
    let s = Case::new(simple("Always", &["a"]))
        .with(exited("a", ContainerKind::App, 0, 1))
        .with(exited("a", ContainerKind::App, 1, 2))
        .waiting("a", "CrashLoopBackOff", msg)
        .run();
    let a = cs(&s, "a");
    assert_eq!(a.restart_count, 1);
    assert_eq!(
        state(a),
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": msg}})
    );
    let last = a.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.exit_code, 2);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    assert_eq!(last.container_id.as_deref(), Some("containerd://a-1"));
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(a.started, Some(false));
}

#[test]
fn exited_container_without_reason_shows_terminated_and_older_instance_as_last_state() {
    let s = Case::new(simple("Always", &["a"]))
        .with(exited("a", ContainerKind::App, 0, 1))
        .with(exited("a", ContainerKind::App, 1, 137))
        .run();
    let a = cs(&s, "a");
    assert_eq!(a.state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 137);
    assert_eq!(a.last_state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 1);
}

#[test]
fn restart_policies_decide_the_terminal_phase() {
    let ok = |policy: &str, code: i32| {
        Case::new(simple(policy, &["a"]))
            .with(exited("a", ContainerKind::App, 0, code))
            .run()
    };
    let s = ok("Never", 0);
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodCompleted"));
    assert_eq!(cond(&s, "ContainersReady").reason.as_deref(), Some("PodCompleted"));
    assert_eq!(cond(&s, "Initialized").reason.as_deref(), Some("PodCompleted"));
    let s = ok("Never", 1);
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodFailed"));
    assert_eq!(ok("OnFailure", 0).phase.as_deref(), Some("Succeeded"));
    assert_eq!(ok("OnFailure", 1).phase.as_deref(), Some("Running"));
    assert_eq!(ok("Always", 0).phase.as_deref(), Some("Running"));
}

#[test]
fn a_stopped_deleted_pod_is_terminal() {
    let mut case = Case::new(simple("Always", &["a"])).with(exited("a", ContainerKind::App, 0, 137));
    case.terminal = true;
    assert_eq!(case.run().phase.as_deref(), Some("Failed"));
    let mut case = Case::new(simple("Always", &["a"])).with(exited("a", ContainerKind::App, 0, 0));
    case.terminal = true;
    assert_eq!(case.run().phase.as_deref(), Some("Succeeded"));
}

#[test]
fn terminal_phase_is_kept() {
    let mut case = Case::new(simple("Always", &["a"])).with(running("a", 0));
    case.old.phase = Some("Failed".into());
    case.old.reason = Some("Evicted".into());
    let s = case.run();
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(s.reason.as_deref(), Some("Evicted"));
}

fn with_init(policy: &str) -> Pod {
    pod(json!({
        "restartPolicy": policy,
        "initContainers": [{"name": "init", "image": "busybox"}],
        "containers": [{"name": "app", "image": "busybox"}],
    }))
}

#[test]
fn init_container_running_keeps_the_pod_initializing() {
    let s = Case::new(with_init("Always"))
        .with(inst(
            "init",
            ContainerKind::Init,
            0,
            ContainerRunState::Running {
                started_at: ts("2026-01-01T00:05:00Z"),
            },
        ))
        .run();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(state(cs(&s, "app")), json!({"waiting": {"reason": "PodInitializing"}}));
    let init = cs(&s, "init");
    assert_eq!(init.started, Some(true));
    assert!(!init.ready);
    let c = cond(&s, "Initialized");
    assert_eq!(c.status, "False");
    assert_eq!(c.reason.as_deref(), Some("ContainersNotInitialized"));
    assert_eq!(c.message.as_deref(), Some("containers with incomplete status: [init]"));
}

#[test]
fn completed_init_container_is_ready_but_not_started() {
    let s = Case::new(with_init("Always"))
        .with(exited("init", ContainerKind::Init, 0, 0))
        .with(running("app", 0))
        .run();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let init = cs(&s, "init");
    assert!(init.ready);
    assert_eq!(init.started, Some(false));
    assert_eq!(
        init.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
    assert_eq!(cond(&s, "Initialized").status, "True");
    assert_eq!(cond(&s, "Ready").status, "True");
}

#[test]
fn failed_init_container_fails_the_pod_only_under_never() {
    let s = Case::new(with_init("Never"))
        .with(exited("init", ContainerKind::Init, 0, 1))
        .run();
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    let s = Case::new(with_init("Always"))
        .with(exited("init", ContainerKind::Init, 0, 1))
        .waiting(
            "init",
            "CrashLoopBackOff",
            "back-off 10s restarting failed container=init pod=web_default(u1)",
        )
        .run();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let init = cs(&s, "init");
    assert_eq!(
        init.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(),
        Some("CrashLoopBackOff")
    );
    assert_eq!(
        init.last_state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code,
        1
    );
}

#[test]
fn image_pull_errors_show_as_waiting() {
    let s = Case::new(simple("Always", &["a"]))
        .waiting("a", "ErrImagePull", "failed to pull")
        .run();
    assert_eq!(
        state(cs(&s, "a")),
        json!({"waiting": {"reason": "ErrImagePull", "message": "failed to pull"}})
    );
    assert_eq!(s.phase.as_deref(), Some("Pending"));
}

#[test]
fn transition_times_move_only_when_the_status_flips() {
    let mut case = Case::new(simple("Always", &["a"]));
    let earlier = Time(ts("2026-01-01T00:00:00Z"));
    let mut first = case.run();
    for c in first.conditions.iter_mut().flatten() {
        c.last_transition_time = Some(earlier.clone());
    }
    first.start_time = Some(earlier.clone());
    case.old = first;
    case.containers.push(running("a", 0));
    let s = case.run();
    assert_eq!(cond(&s, "PodScheduled").last_transition_time, Some(earlier.clone()));
    assert_eq!(cond(&s, "Ready").last_transition_time, Some(Time(now())));
    assert_eq!(s.start_time, Some(earlier));
}

#[test]
fn vanished_running_container_gets_an_unknown_last_state() {
    let mut case = Case::new(simple("Always", &["a"]));
    case.old = case.clone_with_running();
    let s = case.run();
    let a = cs(&s, "a");
    let last = a.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.reason.as_deref(), Some("ContainerStatusUnknown"));
    assert_eq!(last.exit_code, 137);
    assert_eq!(a.restart_count, 1);
    // A stopped container counts as such: the pod stays Running (restarting).
    assert_eq!(s.phase.as_deref(), Some("Running"));
}

impl Case {
    fn clone_with_running(&self) -> PodStatus {
        let c = Case::new(self.pod.clone()).with(running("a", 0));
        c.run()
    }
}

#[test]
fn readiness_gates_hold_ready() {
    let mut p = simple("Always", &["a"]);
    p.spec.as_mut().unwrap().readiness_gates =
        Some(vec![
            serde_json::from_value(json!({"conditionType": "example.com/lb"})).unwrap()
        ]);
    let mut case = Case::new(p).with(running("a", 0));
    let s = case.run();
    let r = cond(&s, "Ready");
    assert_eq!(r.reason.as_deref(), Some("ReadinessGatesNotReady"));
    assert_eq!(
        r.message.as_deref(),
        Some("corresponding condition of pod readiness gate \"example.com/lb\" does not exist.")
    );
    assert_eq!(cond(&s, "ContainersReady").status, "True");
    // A condition set by someone else is kept and satisfies the gate.
    case.old.conditions = Some(vec![condition("example.com/lb", true, None, None)]);
    let s = case.run();
    assert_eq!(cond(&s, "Ready").status, "True");
    assert_eq!(s.conditions.as_ref().unwrap()[0].type_, "example.com/lb");
}

#[test]
fn sandbox_readiness_is_a_condition() {
    let mut case = Case::new(simple("Always", &["a"]));
    case.sandbox_ready = false;
    assert_eq!(cond(&case.run(), "PodReadyToStartContainers").status, "False");
}

fn resources(req: Value, lim: Value) -> Value {
    json!({"name": "c", "image": "x", "resources": {"requests": req, "limits": lim}})
}

#[test]
fn qos_classes() {
    let spec =
        |containers: Vec<Value>| -> PodSpec { serde_json::from_value(json!({"containers": containers})).unwrap() };
    assert_eq!(qos_class(&spec(vec![json!({"name": "c", "image": "x"})])), "BestEffort");
    // Lab L01: requests 64Mi/100m, limits 128Mi/200m.
    let l01 = resources(
        json!({"memory": "64Mi", "cpu": "100m"}),
        json!({"memory": "128Mi", "cpu": "200m"}),
    );
    assert_eq!(qos_class(&spec(vec![l01])), "Burstable");
    let g = resources(
        json!({"memory": "128Mi", "cpu": "0.2"}),
        json!({"memory": "128Mi", "cpu": "200m"}),
    );
    assert_eq!(qos_class(&spec(vec![g.clone()])), "Guaranteed");
    // Limits alone: requests default to them.
    let lim_only = resources(json!({}), json!({"memory": "1Gi", "cpu": "1"}));
    assert_eq!(qos_class(&spec(vec![lim_only])), "Guaranteed");
    // One container without limits makes the pod Burstable.
    assert_eq!(
        qos_class(&spec(vec![
            g,
            json!({"name": "d", "image": "x", "resources": {"requests": {"cpu": "10m"}}})
        ])),
        "Burstable"
    );
    // Zero quantities and other resources do not count.
    let zero = resources(json!({"cpu": "0", "ephemeral-storage": "1Gi"}), json!({}));
    assert_eq!(qos_class(&spec(vec![zero])), "BestEffort");
}

#[test]
fn volume_mounts_and_resources_are_reported() {
    let p = pod(json!({"containers": [{
        "name": "a", "image": "busybox",
        "resources": {"requests": {"cpu": "100m"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "token", "mountPath": "/var/run/secrets", "readOnly": true}],
    }]}));
    let s = Case::new(p).with(running("a", 0)).run();
    let v = serde_json::to_value(cs(&s, "a")).unwrap();
    assert_eq!(
        v["volumeMounts"],
        json!([{"name": "data", "mountPath": "/data"}, {"name": "token", "mountPath": "/var/run/secrets", "readOnly": true, "recursiveReadOnly": "Disabled"}])
    );
    assert_eq!(v["allocatedResources"], json!({"cpu": "100m"}));
    assert_eq!(v["resources"], json!({"requests": {"cpu": "100m"}}));
}

#[test]
fn status_json_and_patches() {
    let s = Case::new(simple("Always", &["a"])).run();
    let v = to_value(&s);
    assert_eq!(v["conditions"][0]["lastProbeTime"], Value::Null);
    assert!(v["conditions"][0].as_object().unwrap().contains_key("lastProbeTime"));
    assert_eq!(status_patch("u1", &v, &v), None);
    let mut changed = v.clone();
    changed["phase"] = json!("Running");
    changed.as_object_mut().unwrap().remove("qosClass");
    let patch = status_patch("u1", &v, &changed).unwrap();
    assert_eq!(
        patch,
        json!({"metadata": {"uid": "u1"}, "status": {"phase": "Running", "qosClass": null}})
    );
    let from_nothing = status_patch("u1", &Value::Null, &json!({"phase": "Pending"})).unwrap();
    assert_eq!(from_nothing["status"], json!({"phase": "Pending"}));
}

#[test]
fn should_restart_follows_the_policy() {
    let c: Container = serde_json::from_value(json!({"name": "a"})).unwrap();
    let never = simple("Never", &["a"]);
    let on_failure = simple("OnFailure", &["a"]);
    let ok = exited("a", ContainerKind::App, 0, 0);
    let bad = exited("a", ContainerKind::App, 0, 1);
    assert!(should_restart(&c, &never, None));
    assert!(!should_restart(&c, &never, Some(&bad)));
    assert!(!should_restart(&c, &on_failure, Some(&ok)));
    assert!(should_restart(&c, &on_failure, Some(&bad)));
    assert!(!should_restart(&c, &on_failure, Some(&running("a", 0))));
    let mut deleted = simple("Always", &["a"]);
    deleted.metadata.deletion_timestamp = Some(Time(now()));
    assert!(!should_restart(&c, &deleted, Some(&bad)));
    assert_eq!(format_pod(&never), "web_default(u1)");
}
