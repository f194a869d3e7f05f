//! Timing and threshold behaviour on tokio's paused clock, probes answered by
//! a scripted exec.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ExecAction, Probe};

use super::*;
use crate::probes::testutil::{pod, Events, FakeExec};

fn exec_probe(cmd: &str, period: i32, success: i32, failure: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec![cmd.to_string()]),
        }),
        period_seconds: Some(period),
        success_threshold: Some(success),
        failure_threshold: Some(failure),
        ..Default::default()
    }
}

fn ok() -> Result<(i32, Vec<u8>), String> {
    Ok((0, Vec::new()))
}

fn fail(output: &str) -> Result<(i32, Vec<u8>), String> {
    Ok((1, output.as_bytes().to_vec()))
}

struct Fixture {
    exec: FakeExec,
    events: Events,
    manager: ProbeManager,
}

fn fixture() -> Fixture {
    let exec = FakeExec::default();
    let events = Events::default();
    let manager = ProbeManager::new(Arc::new(exec.clone()), Arc::new(events.clone()));
    Fixture { exec, events, manager }
}

impl Fixture {
    fn add(&self, container: Container) {
        let p = pod(vec![container]);
        self.manager
            .add_container(&p, "app", "c1", jiff::Timestamp::now(), "/nonexistent".into(), None);
    }
}

async fn advance(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test(start_paused = true)]
async fn readiness_follows_thresholds_and_wakes_the_pod() {
    let f = fixture();
    f.exec.script("ready", vec![ok(), ok(), fail("no"), fail("no"), ok()]);
    let mut wake = f.manager.subscribe();
    f.add(Container {
        name: "app".into(),
        readiness_probe: Some(exec_probe("ready", 1, 2, 2)),
        ..Default::default()
    });

    let st = f.manager.status("c1");
    assert!(st.started);
    assert!(!st.ready, "readiness starts as not ready");

    advance(500).await; // probe at t=0: 1 success < successThreshold 2
    assert_eq!(f.exec.calls("ready"), 1);
    assert!(!f.manager.status("c1").ready);

    advance(1000).await; // t=1: 2nd success
    assert_eq!(f.exec.calls("ready"), 2);
    assert!(f.manager.status("c1").ready);
    assert_eq!(wake.try_recv().ok().as_deref(), Some("uid-1"));

    advance(1000).await; // t=2: 1st failure, still ready
    assert!(f.manager.status("c1").ready);
    advance(1000).await; // t=3: 2nd failure
    assert!(!f.manager.status("c1").ready);
    assert_eq!(wake.try_recv().ok().as_deref(), Some("uid-1"));
    assert_eq!(
        f.events.messages(),
        vec!["Readiness probe failed: no", "Readiness probe failed: no"]
    );
    let e = &f.events.all()[0];
    assert_eq!((e.type_.as_str(), e.reason.as_str()), ("Warning", "Unhealthy"));
    assert_eq!(e.field_path.as_deref(), Some("spec.containers{app}"));
}

#[tokio::test(start_paused = true)]
async fn initial_delay_holds_the_first_probe() {
    let f = fixture();
    f.exec.script("ready", vec![ok()]);
    let mut probe = exec_probe("ready", 10, 1, 3);
    probe.initial_delay_seconds = Some(5);
    f.add(Container {
        name: "app".into(),
        readiness_probe: Some(probe),
        ..Default::default()
    });
    advance(4500).await;
    assert_eq!(f.exec.calls("ready"), 0);
    assert!(!f.manager.status("c1").ready);
    advance(1000).await;
    assert_eq!(f.exec.calls("ready"), 1);
    assert!(f.manager.status("c1").ready);
    advance(5000).await; // next one only after periodSeconds 10
    assert_eq!(f.exec.calls("ready"), 1);
    advance(5000).await;
    assert_eq!(f.exec.calls("ready"), 2);
}

#[tokio::test(start_paused = true)]
async fn startup_gates_liveness_then_liveness_failure_kills() {
    let f = fixture();
    f.exec.script("startup", vec![fail(""), fail(""), ok()]);
    f.exec.script("live", vec![ok(), fail("unhealthy"), fail("unhealthy")]);
    f.exec.script("ready", vec![ok()]);
    let mut liveness = exec_probe("live", 1, 1, 2);
    liveness.termination_grace_period_seconds = Some(7);
    f.add(Container {
        name: "app".into(),
        startup_probe: Some(exec_probe("startup", 1, 1, 5)),
        liveness_probe: Some(liveness),
        readiness_probe: Some(exec_probe("ready", 1, 1, 3)),
        ..Default::default()
    });

    advance(1500).await; // t=0, t=1: startup failing
    let st = f.manager.status("c1");
    assert!(!st.started && !st.ready);
    assert_eq!(
        (f.exec.calls("startup"), f.exec.calls("live"), f.exec.calls("ready")),
        (2, 0, 0)
    );

    advance(1000).await; // t=2: startup succeeds, liveness + readiness begin at once
    let st = f.manager.status("c1");
    assert!(st.started && st.ready);
    assert_eq!(
        (f.exec.calls("startup"), f.exec.calls("live"), f.exec.calls("ready")),
        (3, 1, 1)
    );

    advance(1000).await; // t=3: first liveness failure (threshold 2)
    assert_eq!(f.manager.status("c1").liveness_failure, None);
    advance(1000).await; // t=4: second
    let st = f.manager.status("c1");
    assert_eq!(
        st.liveness_failure.as_deref(),
        Some("Container app failed liveness probe")
    );
    assert_eq!(st.termination_grace, Some(7));
    advance(5000).await; // the liveness worker stopped; startup never ran again
    assert_eq!((f.exec.calls("startup"), f.exec.calls("live")), (3, 3));
    assert_eq!(
        f.events.messages(),
        vec![
            "Startup probe failed: ",
            "Startup probe failed: ",
            "Liveness probe failed: unhealthy",
            "Liveness probe failed: unhealthy"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn startup_failure_past_threshold() {
    let f = fixture();
    f.exec.script("startup", vec![fail("not yet")]);
    f.add(Container {
        name: "app".into(),
        startup_probe: Some(exec_probe("startup", 2, 1, 3)),
        liveness_probe: Some(exec_probe("live", 1, 1, 1)),
        ..Default::default()
    });
    advance(3000).await; // t=0, t=2
    assert_eq!(f.manager.status("c1").startup_failure, None);
    advance(2000).await; // t=4: third failure
    let st = f.manager.status("c1");
    assert_eq!(
        st.startup_failure.as_deref(),
        Some("Container app failed startup probe")
    );
    assert!(!st.started);
    assert_eq!(st.termination_grace, None);
    advance(10_000).await;
    assert_eq!((f.exec.calls("startup"), f.exec.calls("live")), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn errored_probes_are_retried_and_thrown_away() {
    let f = fixture();
    f.exec.script("ready", vec![Err("container is not running".into())]);
    f.add(Container {
        name: "app".into(),
        readiness_probe: Some(exec_probe("ready", 5, 1, 1)),
        ..Default::default()
    });
    advance(500).await;
    assert_eq!(f.exec.calls("ready"), 3, "three attempts per period");
    assert!(!f.manager.status("c1").ready);
    assert_eq!(
        f.events.messages(),
        vec!["Readiness probe errored and resulted in unknown state: container is not running"]
    );
}

#[tokio::test(start_paused = true)]
async fn exec_timeout_is_a_failure() {
    let f = fixture();
    f.exec.hang("live");
    let mut probe = exec_probe("live", 10, 1, 1);
    probe.timeout_seconds = Some(2);
    f.add(Container {
        name: "app".into(),
        liveness_probe: Some(probe),
        ..Default::default()
    });
    advance(2500).await;
    assert_eq!(
        f.manager.status("c1").liveness_failure.as_deref(),
        Some("Container app failed liveness probe")
    );
    assert_eq!(
        f.events.messages(),
        vec!["Liveness probe failed: command \"live\" timed out"]
    );
}

#[tokio::test(start_paused = true)]
async fn removal_and_termination_stop_workers() {
    let f = fixture();
    f.exec.script("live", vec![ok()]);
    f.exec.script("ready", vec![ok()]);
    f.add(Container {
        name: "app".into(),
        liveness_probe: Some(exec_probe("live", 1, 1, 3)),
        readiness_probe: Some(exec_probe("ready", 1, 1, 3)),
        ..Default::default()
    });
    advance(1500).await;
    assert_eq!((f.exec.calls("live"), f.exec.calls("ready")), (2, 2));

    f.manager.stop_liveness_and_startup("uid-1");
    advance(2000).await;
    assert_eq!(
        (f.exec.calls("live"), f.exec.calls("ready")),
        (2, 4),
        "readiness goes on while terminating"
    );

    f.manager.remove_pod("uid-1");
    advance(2000).await;
    assert_eq!(f.exec.calls("ready"), 4);
    assert_eq!(f.manager.status("c1"), ProbeState::without_probes());
}

#[tokio::test(start_paused = true)]
async fn restart_is_a_new_instance_with_fresh_readiness() {
    let f = fixture();
    f.exec.script("ready", vec![ok()]);
    let container = Container {
        name: "app".into(),
        readiness_probe: Some(exec_probe("ready", 1, 1, 3)),
        ..Default::default()
    };
    let p = pod(vec![container]);
    f.manager
        .add_container(&p, "app", "c1", jiff::Timestamp::now(), "/x".into(), None);
    advance(500).await;
    assert!(f.manager.status("c1").ready);
    f.manager.remove_container("c1");
    f.manager
        .add_container(&p, "app", "c2", jiff::Timestamp::now(), "/x".into(), None);
    assert!(!f.manager.status("c2").ready);
    advance(500).await;
    assert!(f.manager.status("c2").ready);
}

#[tokio::test(start_paused = true)]
async fn container_without_probes_is_started_and_ready() {
    let f = fixture();
    f.add(Container {
        name: "app".into(),
        ..Default::default()
    });
    let st = f.manager.status("c1");
    assert!(st.started && st.ready);
    assert_eq!(st.liveness_failure, None);
}
