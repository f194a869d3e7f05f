//! Sync decisions with a fake runtime on a fake clock.

use super::*;
use crate::pods::backoff::Clock;
use crate::pods::deps::{PodRuntime, ProbeState};
use crate::pods::fakes::Env;
use crate::pods::manager::PodManager;
use serde_json::json;
use std::path::PathBuf;

fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": spec,
    }))
    .unwrap()
}

fn app(restart: &str) -> Pod {
    pod(json!({"restartPolicy": restart, "containers": [{"name": "app", "image": "busybox:1.36"}]}))
}

fn with_init(restart: &str) -> Pod {
    pod(json!({
        "restartPolicy": restart,
        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "containers": [{"name": "app", "image": "busybox:1.36"}],
    }))
}

#[tokio::test]
async fn starts_the_containers_with_kubelet_events() {
    let env = Env::new();
    let mut w = env.worker();
    let p = app("Always");
    assert_eq!(w.sync(Some(&p)).await, Outcome::Again(None));
    let c = env.runtime.latest("app");
    assert!(matches!(c.state, ContainerRunState::Running { .. }));
    assert_eq!(c.id.len(), 64);
    let events = env.events.all();
    assert_eq!(
        events,
        [
            (
                "spec.containers{app}".into(),
                "Normal".into(),
                "Pulled".into(),
                "Container image \"busybox:1.36\" already present on machine".into()
            ),
            (
                "spec.containers{app}".into(),
                "Normal".into(),
                "Created".into(),
                "Created container: app".into()
            ),
            (
                "spec.containers{app}".into(),
                "Normal".into(),
                "Started".into(),
                "Started container app".into()
            ),
        ]
    );
    let st = env.last_status();
    assert_eq!(st["metadata"]["uid"], "u1");
    assert_eq!(st["status"]["phase"], "Running");
    assert_eq!(st["status"]["podIP"], "10.42.0.7");
    assert_eq!(
        st["status"]["containerStatuses"][0]["imageID"],
        "docker.io/library/busybox@sha256:dgst"
    );
    assert_eq!(env.probes.added.lock().unwrap().as_slice(), std::slice::from_ref(&c.id));
    // Nothing changed: no new container, no new patch.
    let patches = env.api.patches.lock().unwrap().len();
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.count("app"), 1);
    assert_eq!(env.api.patches.lock().unwrap().len(), patches);
}

#[tokio::test]
async fn init_containers_run_first_one_at_a_time() {
    let env = Env::new();
    let mut w = env.worker();
    let p = with_init("Always");
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.count("init"), 1);
    assert_eq!(env.runtime.count("app"), 0);
    assert_eq!(env.last_status()["status"]["phase"], "Pending");
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.count("app"), 0, "the init container still runs");
    env.runtime.exit("init", 0);
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.count("init"), 1);
    assert!(matches!(
        env.runtime.latest("app").state,
        ContainerRunState::Running { .. }
    ));
    assert_eq!(env.last_status()["status"]["phase"], "Running");
}

#[tokio::test]
async fn failed_init_container_under_never_fails_the_pod() {
    let env = Env::new();
    let mut w = env.worker();
    let p = with_init("Never");
    w.sync(Some(&p)).await;
    env.runtime.exit("init", 1);
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.count("init"), 1, "not restarted");
    assert_eq!(env.runtime.count("app"), 0);
    assert_eq!(env.last_status()["status"]["phase"], "Failed");
    // The finished pod releases its sandbox but keeps the stopped container.
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.removed_sandboxes.lock().unwrap().as_slice(), ["u1"]);
    assert_eq!(env.runtime.count("init"), 1);
}

#[tokio::test]
async fn failing_init_container_restarts_with_back_off() {
    let env = Env::new();
    let mut w = env.worker();
    let p = with_init("Always");
    w.sync(Some(&p)).await;
    env.runtime.exit("init", 1);
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.latest("init").attempt, 1, "first restart is immediate");
    env.runtime.exit("init", 1);
    let out = w.sync(Some(&p)).await;
    assert_eq!(out, Outcome::Again(Some(Duration::from_secs(10))));
    let st = env.last_status();
    let init = &st["status"]["initContainerStatuses"][0];
    assert_eq!(init["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(env.runtime.count("app"), 0);
}

#[tokio::test]
async fn crash_loop_back_off_grows_on_the_fake_clock() {
    let env = Env::new();
    let mut w = env.worker();
    let p = app("Always");
    w.sync(Some(&p)).await;
    env.runtime.exit("app", 1);
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.latest("app").attempt, 1);
    let mut backoffs = Vec::new();
    for attempt in 2..=4 {
        env.clock.advance(Duration::from_secs(1));
        env.runtime.exit("app", 1);
        let out = w.sync(Some(&p)).await;
        let Outcome::Again(Some(wait)) = out else {
            panic!("{out:?}")
        };
        backoffs.push(wait.as_secs());
        let st = env.last_status();
        let cs = &st["status"]["containerStatuses"][0];
        assert_eq!(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(
            cs["state"]["waiting"]["message"],
            format!(
                "back-off {}s restarting failed container=app pod=web_default(u1)",
                wait.as_secs()
            )
        );
        assert_eq!(cs["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(env.runtime.latest("app").attempt, attempt - 1, "held by the back-off");
        env.clock.advance(wait);
        w.sync(Some(&p)).await;
        assert_eq!(env.runtime.latest("app").attempt, attempt);
    }
    assert_eq!(backoffs, [10, 20, 40]);
    let backoff_events: Vec<_> = env.events.all().into_iter().filter(|e| e.2 == "BackOff").collect();
    assert_eq!(
        backoff_events[0].3,
        "Back-off restarting failed container app in pod web_default(u1)"
    );
    assert_eq!(backoff_events[0].1, "Warning");
    // Old instances are pruned: the newest two remain.
    assert_eq!(env.runtime.count("app"), 3);
    w.sync(Some(&p)).await;
    assert!(env.runtime.count("app") <= 3);
}

#[tokio::test]
async fn restart_policy_never_keeps_the_finished_container() {
    let env = Env::new();
    let mut w = env.worker();
    let p = app("Never");
    w.sync(Some(&p)).await;
    env.runtime.exit("app", 0);
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.count("app"), 1);
    assert_eq!(env.last_status()["status"]["phase"], "Succeeded");
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.count("app"), 1, "kept for logs");
    assert_eq!(env.config.torn_down.lock().unwrap().as_slice(), ["u1"]);
}

#[tokio::test]
async fn on_failure_restarts_only_failures() {
    let env = Env::new();
    let mut w = env.worker();
    let p = app("OnFailure");
    w.sync(Some(&p)).await;
    env.runtime.exit("app", 3);
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.latest("app").attempt, 1);
    env.runtime.exit("app", 0);
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.latest("app").attempt, 1);
    assert_eq!(env.last_status()["status"]["phase"], "Succeeded");
}

#[tokio::test]
async fn image_pull_failures_back_off() {
    let env = Env::new();
    let mut w = env.worker();
    *env.images.fail_pull.lock().unwrap() = Some("connection refused".into());
    let p = pod(json!({"containers": [{"name": "app", "image": "127.0.0.1:1/none:1"}]}));
    let out = w.sync(Some(&p)).await;
    assert_eq!(out, Outcome::Again(Some(Duration::from_secs(10))));
    let st = env.last_status();
    assert_eq!(
        st["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ErrImagePull"
    );
    assert_eq!(
        env.events.reasons(),
        ["Pulling", "Failed", "Failed"],
        "Pulling, Failed to pull, Error: ErrImagePull"
    );
    assert_eq!(
        env.events.all()[1].3,
        "Failed to pull image \"127.0.0.1:1/none:1\": connection refused"
    );
    // Within the back-off: no pull, ImagePullBackOff.
    env.clock.advance(Duration::from_secs(3));
    w.sync(Some(&p)).await;
    assert_eq!(*env.images.pulls.lock().unwrap(), 1);
    let st = env.last_status();
    let waiting = &st["status"]["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(waiting["reason"], "ImagePullBackOff");
    assert_eq!(
        waiting["message"],
        "Back-off pulling image \"127.0.0.1:1/none:1\": ErrImagePull: connection refused"
    );
    assert!(env
        .events
        .all()
        .iter()
        .any(|e| e.2 == "BackOff" && e.3 == "Back-off pulling image \"127.0.0.1:1/none:1\""));
    // After it: pulled again, and a success starts the container.
    *env.images.fail_pull.lock().unwrap() = None;
    env.clock.advance(Duration::from_secs(7));
    w.sync(Some(&p)).await;
    assert_eq!(*env.images.pulls.lock().unwrap(), 2);
    assert!(env.events.all().iter().any(|e| e.2 == "Pulled"
        && e.3.starts_with("Successfully pulled image \"127.0.0.1:1/none:1\" in ")
        && e.3.ends_with("Image size: 1234 bytes.")));
    assert!(matches!(
        env.runtime.latest("app").state,
        ContainerRunState::Running { .. }
    ));
}

#[tokio::test]
async fn never_pull_of_a_missing_image() {
    let env = Env::new();
    let mut w = env.worker();
    let p = pod(json!({"containers": [{"name": "app", "image": "myapp:dev", "imagePullPolicy": "Never"}]}));
    w.sync(Some(&p)).await;
    let st = env.last_status();
    let waiting = &st["status"]["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(waiting["reason"], "ErrImageNeverPull");
    assert_eq!(
        waiting["message"],
        "Container image \"myapp:dev\" is not present with pull policy of Never"
    );
    assert_eq!(*env.images.pulls.lock().unwrap(), 0);
}

#[tokio::test]
async fn config_errors_are_create_container_config_errors() {
    let env = Env::new();
    let mut w = env.worker();
    *env.config.fail.lock().unwrap() = Some("configmap \"cfg\" not found".into());
    w.sync(Some(&app("Always"))).await;
    let st = env.last_status();
    assert_eq!(
        st["status"]["containerStatuses"][0]["state"]["waiting"],
        json!({"reason": "CreateContainerConfigError", "message": "configmap \"cfg\" not found"})
    );
    assert!(env
        .events
        .all()
        .iter()
        .any(|e| e.2 == "Failed" && e.3 == "Error: configmap \"cfg\" not found"));
}

#[tokio::test]
async fn liveness_failure_kills_and_restarts() {
    let env = Env::new();
    let mut w = env.worker();
    let p = app("Always");
    w.sync(Some(&p)).await;
    let id = env.runtime.latest("app").id;
    env.probes.states.lock().unwrap().insert(
        id.clone(),
        ProbeState {
            started: true,
            ready: false,
            liveness_failure: Some("Container app failed liveness probe, will be restarted".into()),
            termination_grace: None,
        },
    );
    let out = w.sync(Some(&p)).await;
    assert_eq!(out, Outcome::Again(Some(Duration::ZERO)));
    assert!(env
        .events
        .all()
        .iter()
        .any(|e| e.2 == "Killing" && e.3 == "Container app failed liveness probe, will be restarted"));
    assert_eq!(env.runtime.stops.lock().unwrap()[0].0, id);
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.latest("app").attempt, 1);
    assert_eq!(env.last_status()["status"]["containerStatuses"][0]["restartCount"], 1);
}

#[tokio::test]
async fn deletion_runs_pre_stop_stops_removes_and_deletes() {
    let env = Env::new();
    let mut w = env.worker();
    let mut p = pod(json!({
        "terminationGracePeriodSeconds": 30,
        "containers": [{"name": "app", "image": "busybox:1.36", "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}],
    }));
    w.sync(Some(&p)).await;
    let id = env.runtime.latest("app").id;
    p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(env.clock.now()));
    p.metadata.deletion_grace_period_seconds = Some(5);
    assert_eq!(w.sync(Some(&p)).await, Outcome::Done);
    assert_eq!(env.probes.hooks.lock().unwrap().as_slice(), std::slice::from_ref(&id));
    let stops = env.runtime.stops.lock().unwrap().clone();
    assert_eq!(stops.len(), 1);
    assert!(stops[0].1 <= Duration::from_secs(5) && stops[0].1 >= Duration::from_secs(2));
    assert!(env
        .events
        .all()
        .iter()
        .any(|e| e.2 == "Killing" && e.3 == "Stopping container app"));
    assert_eq!(env.runtime.count("app"), 0);
    assert_eq!(env.runtime.removed_sandboxes.lock().unwrap().as_slice(), ["u1"]);
    assert_eq!(env.api.deleted.lock().unwrap().as_slice(), ["u1"]);
    assert_eq!(env.last_status()["status"]["phase"], "Failed");
}

#[tokio::test]
async fn a_pod_gone_from_the_api_is_cleaned_up() {
    let env = Env::new();
    let mut w = env.worker();
    w.sync(Some(&app("Always"))).await;
    assert_eq!(w.sync(None).await, Outcome::Done);
    assert_eq!(env.runtime.count("app"), 0);
    assert!(env.api.deleted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn adopts_running_containers_after_a_restart() {
    let env = Env::new();
    let p = app("Always");
    env.runtime.ensure_sandbox(&p).await.unwrap();
    env.runtime.containers.lock().unwrap().push(ContainerInfo {
        id: "old".into(),
        pod_uid: "u1".into(),
        pod_namespace: "default".into(),
        pod_name: "web".into(),
        name: "app".into(),
        kind: ContainerKind::App,
        attempt: 3,
        image_ref: "busybox:1.36".into(),
        image_id: "sha256:cfg".into(),
        state: ContainerRunState::Running {
            started_at: env.clock.now(),
        },
        log_path: PathBuf::from("/logs/app/3.log"),
    });
    let mut w = env.worker();
    w.sync(Some(&p)).await;
    assert_eq!(env.runtime.count("app"), 1, "no new container");
    assert!(env.events.all().is_empty());
    assert_eq!(env.probes.added.lock().unwrap().as_slice(), ["old"]);
    let st = env.last_status();
    assert_eq!(st["status"]["containerStatuses"][0]["restartCount"], 3);
    assert_eq!(st["status"]["containerStatuses"][0]["containerID"], "containerd://old");
}

#[tokio::test]
async fn orphans_are_removed_at_start() {
    let env = Env::new();
    let live = app("Always");
    let mut gone = app("Always");
    gone.metadata.uid = Some("u2".into());
    let mut w = env.worker();
    w.sync(Some(&live)).await;
    let mut w2 = Worker::new(
        env.deps.clone(),
        NodeFacts {
            name: "node1".into(),
            ips: vec![],
        },
        "u2".into(),
        Arc::new(Mutex::new(HashMap::new())),
    );
    w2.sync(Some(&gone)).await;
    assert_eq!(env.runtime.count("app"), 2);
    let m = PodManager::new(
        env.deps.clone(),
        NodeFacts {
            name: "node1".into(),
            ips: vec![],
        },
    );
    m.cleanup_orphans(&["u1".to_string()].into_iter().collect())
        .await
        .unwrap();
    let left = env.runtime.containers.lock().unwrap().clone();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].pod_uid, "u1");
    assert_eq!(env.runtime.removed_sandboxes.lock().unwrap().as_slice(), ["u2"]);
}

#[test]
fn pull_policy_defaults() {
    assert_eq!(default_pull_policy("busybox"), "Always");
    assert_eq!(default_pull_policy("busybox:latest"), "Always");
    assert_eq!(default_pull_policy("busybox:1.36"), "IfNotPresent");
    assert_eq!(default_pull_policy("localhost:5000/app"), "Always");
    assert_eq!(default_pull_policy("localhost:5000/app:v1"), "IfNotPresent");
    assert_eq!(default_pull_policy("busybox@sha256:abc"), "IfNotPresent");
    assert_eq!(with_default_tag("busybox"), "busybox:latest");
    assert_eq!(with_default_tag("localhost:5000/app"), "localhost:5000/app:latest");
    assert_eq!(with_default_tag("busybox:1.36"), "busybox:1.36");
    assert_eq!(with_default_tag("busybox@sha256:abc"), "busybox@sha256:abc");
}

#[tokio::test]
async fn an_unstarted_instance_is_replaced() {
    let env = Env::new();
    let mut w = env.worker();
    let p = app("Always");
    w.sync(Some(&p)).await;
    let first = env.runtime.latest("app").id;
    env.runtime.set_state(&first, ContainerRunState::Created);
    w.sync(Some(&p)).await;
    let latest = env.runtime.latest("app");
    assert_eq!(latest.attempt, 1);
    assert!(matches!(latest.state, ContainerRunState::Running { .. }));
    assert_eq!(env.runtime.count("app"), 1, "the unstarted instance is gone");
}
