//! The pod STATUS / READY / RESTARTS rules, case by case as Kubernetes states them.

use serde_json::{json, Value};

use super::*;

const NOW: &str = "2025-03-01T12:00:00Z";

fn ctx() -> PrintContext {
    PrintContext {
        now: NOW.parse().unwrap(),
    }
}

/// A pod with `n` containers named c0.., the given status and optional init containers.
fn pod(containers: usize, status: Value) -> Value {
    let containers: Vec<Value> = (0..containers)
        .map(|i| json!({"name": format!("c{i}"), "image": "busybox"}))
        .collect();
    json!({
        "metadata": {"name": "p", "creationTimestamp": "2025-03-01T11:00:00Z"},
        "spec": {"containers": containers},
        "status": status,
    })
}

fn with_init(mut p: Value, init: Value) -> Value {
    p["spec"]["initContainers"] = init;
    p
}

fn running(ready: bool, restarts: i64) -> Value {
    json!({"ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": "2025-03-01T11:00:00Z"}}})
}

fn waiting(reason: &str, restarts: i64) -> Value {
    json!({"ready": false, "restartCount": restarts, "state": {"waiting": {"reason": reason}}})
}

fn terminated(reason: &str, exit: i64, signal: i64) -> Value {
    let mut t = json!({"exitCode": exit});
    if !reason.is_empty() {
        t["reason"] = json!(reason);
    }
    if signal != 0 {
        t["signal"] = json!(signal);
    }
    json!({"ready": false, "restartCount": 0, "state": {"terminated": t}})
}

fn status_of(p: &Value) -> (String, String, String) {
    let s = summarize(p);
    (s.ready.clone(), s.status.clone(), restarts_cell(&s, ctx().now))
}

fn check(p: Value, ready: &str, status: &str, restarts: &str) {
    assert_eq!(status_of(&p), (ready.into(), status.into(), restarts.into()), "{p}");
}

#[test]
fn phase_and_reason() {
    check(pod(1, json!({"phase": "Pending"})), "0/1", "Pending", "0");
    check(pod(1, json!({})), "0/1", "", "0");
    check(
        pod(
            1,
            json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
        ),
        "0/1",
        "Evicted",
        "0",
    );
    let gated = json!({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]});
    check(pod(1, gated), "0/1", "SchedulingGated", "0");
}

#[test]
fn container_states() {
    check(
        pod(
            1,
            json!({"phase": "Pending", "containerStatuses": [waiting("ContainerCreating", 0)]}),
        ),
        "0/1",
        "ContainerCreating",
        "0",
    );
    check(
        pod(
            2,
            json!({"phase": "Running", "containerStatuses": [running(true, 0), running(true, 0)]}),
        ),
        "2/2",
        "Running",
        "0",
    );
    check(
        pod(
            2,
            json!({"phase": "Running", "containerStatuses": [running(true, 1), running(false, 2)]}),
        ),
        "1/2",
        "Running",
        "3",
    );
    check(
        pod(
            1,
            json!({"phase": "Running", "containerStatuses": [terminated("OOMKilled", 137, 0)]}),
        ),
        "0/1",
        "OOMKilled",
        "0",
    );
    check(
        pod(
            1,
            json!({"phase": "Running", "containerStatuses": [terminated("", 137, 0)]}),
        ),
        "0/1",
        "ExitCode:137",
        "0",
    );
    check(
        pod(
            1,
            json!({"phase": "Running", "containerStatuses": [terminated("", 0, 9)]}),
        ),
        "0/1",
        "Signal:9",
        "0",
    );
    check(
        pod(
            1,
            json!({"phase": "Failed", "containerStatuses": [terminated("Error", 1, 0)]}),
        ),
        "0/1",
        "Error",
        "0",
    );
}

#[test]
fn crash_loop_restarts_show_when_the_last_one_ended() {
    let mut c = waiting("CrashLoopBackOff", 5);
    c["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2025-03-01T11:55:00Z"}});
    check(
        pod(1, json!({"phase": "Running", "containerStatuses": [c]})),
        "0/1",
        "CrashLoopBackOff",
        "5 (5m ago)",
    );

    // The latest finishedAt of all containers counts.
    let mut a = running(true, 1);
    a["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": "2025-03-01T10:00:00Z"}});
    let mut b = running(true, 2);
    b["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": "2025-03-01T11:59:30Z"}});
    check(
        pod(2, json!({"phase": "Running", "containerStatuses": [a, b]})),
        "2/2",
        "Running",
        "3 (30s ago)",
    );

    // Restarts without a recorded end show the bare count.
    check(
        pod(1, json!({"phase": "Running", "containerStatuses": [running(true, 4)]})),
        "1/1",
        "Running",
        "4",
    );
}

#[test]
fn completed_pods_and_running_leftovers() {
    let done = pod(
        1,
        json!({"phase": "Succeeded", "containerStatuses": [terminated("Completed", 0, 0)]}),
    );
    check(done.clone(), "0/1", "Completed", "0");
    assert_eq!(row_conditions(&done).unwrap()[0]["reason"], "Succeeded");
    assert_eq!(
        row_conditions(&pod(1, json!({"phase": "Failed"}))).unwrap()[0]["message"],
        "The pod failed."
    );
    assert!(row_conditions(&pod(1, json!({"phase": "Running"}))).is_none());

    // One container completed, another still running: NotReady without the Ready condition…
    let statuses = json!([
        {"ready": true, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
        {"ready": true, "restartCount": 3, "state": {"running": {}}},
    ]);
    check(
        pod(2, json!({"phase": "Running", "containerStatuses": statuses.clone()})),
        "1/2",
        "NotReady",
        "6",
    );
    // …and Running with it.
    check(
        pod(
            2,
            json!({"phase": "Running", "containerStatuses": statuses,
                   "conditions": [{"type": "Ready", "status": "True"}]}),
        ),
        "1/2",
        "Running",
        "6",
    );
}

#[test]
fn init_containers() {
    let init = json!([{"name": "i0", "image": "x"}, {"name": "i1", "image": "x"}]);
    let mut i0_running = running(false, 0);
    i0_running["name"] = json!("i0");
    let p = with_init(
        pod(
            1,
            json!({"phase": "Pending", "initContainerStatuses": [i0_running],
                      "containerStatuses": [waiting("PodInitializing", 0)]}),
        ),
        init.clone(),
    );
    check(p, "0/1", "Init:0/2", "0");

    let mut i0_done = terminated("Completed", 0, 0);
    i0_done["name"] = json!("i0");
    let mut i1_init = waiting("PodInitializing", 0);
    i1_init["name"] = json!("i1");
    let p = with_init(
        pod(
            1,
            json!({"phase": "Pending", "initContainerStatuses": [i0_done.clone(), i1_init]}),
        ),
        init.clone(),
    );
    check(p, "0/1", "Init:1/2", "0");

    let mut crash = waiting("CrashLoopBackOff", 3);
    crash["name"] = json!("i1");
    crash["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": "2025-03-01T11:58:00Z"}});
    let p = with_init(
        pod(
            1,
            json!({"phase": "Pending", "initContainerStatuses": [i0_done.clone(), crash],
                      "containerStatuses": [waiting("PodInitializing", 0)],
                      "conditions": [{"type": "Initialized", "status": "False"}]}),
        ),
        init.clone(),
    );
    check(p, "0/1", "Init:CrashLoopBackOff", "3 (2m ago)");

    for (reason, exit, signal, want) in [
        ("Error", 1, 0, "Init:Error"),
        ("", 2, 0, "Init:ExitCode:2"),
        ("", 137, 9, "Init:Signal:9"),
        // An init container that exited 0 has finished, whatever the signal.
        ("", 0, 9, "Pending"),
    ] {
        let mut failed = terminated(reason, exit, signal);
        failed["name"] = json!("i0");
        let p = with_init(
            pod(1, json!({"phase": "Pending", "initContainerStatuses": [failed]})),
            init.clone(),
        );
        check(p, "0/1", want, "0");
    }

    // Init done: the main containers decide (PodInitializing while they wait to start).
    let mut i1_done = terminated("Completed", 0, 0);
    i1_done["name"] = json!("i1");
    let p = with_init(
        pod(
            1,
            json!({"phase": "Pending", "initContainerStatuses": [i0_done, i1_done],
                      "containerStatuses": [waiting("PodInitializing", 0)]}),
        ),
        init,
    );
    check(p, "0/1", "PodInitializing", "0");
}

#[test]
fn sidecars_count_as_containers() {
    let init = json!([{"name": "proxy", "image": "x", "restartPolicy": "Always"}, {"name": "setup", "image": "x"}]);
    let mut sidecar = running(true, 2);
    sidecar["name"] = json!("proxy");
    sidecar["started"] = json!(true);
    sidecar["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": "2025-03-01T11:50:00Z"}});
    let mut setup = terminated("Completed", 0, 0);
    setup["name"] = json!("setup");
    let p = with_init(
        pod(
            1,
            json!({"phase": "Running", "initContainerStatuses": [sidecar.clone(), setup],
                      "containerStatuses": [running(true, 1)],
                      "conditions": [{"type": "Initialized", "status": "True"}]}),
        ),
        init.clone(),
    );
    // The sidecar is ready and its restarts count, the finished init container's do not.
    check(p, "2/2", "Running", "3 (10m ago)");

    // A sidecar that has not started yet holds initialization.
    let mut not_started = waiting("ContainerCreating", 0);
    not_started["name"] = json!("proxy");
    let p = with_init(
        pod(1, json!({"phase": "Pending", "initContainerStatuses": [not_started]})),
        init,
    );
    check(p, "0/2", "Init:ContainerCreating", "0");
}

#[test]
fn deletion() {
    let mut p = pod(1, json!({"phase": "Running", "containerStatuses": [running(true, 0)]}));
    p["metadata"]["deletionTimestamp"] = json!("2025-03-01T11:59:00Z");
    check(p.clone(), "1/1", "Terminating", "0");

    p["status"]["reason"] = json!("NodeLost");
    check(p, "1/1", "Unknown", "0");

    let mut done = pod(
        1,
        json!({"phase": "Succeeded", "containerStatuses": [terminated("Completed", 0, 0)]}),
    );
    done["metadata"]["deletionTimestamp"] = json!("2025-03-01T11:59:00Z");
    check(done, "0/1", "Completed", "0");
}

#[test]
fn full_row_with_wide_columns() {
    let mut p = pod(
        1,
        json!({"phase": "Running", "containerStatuses": [running(true, 0)],
        "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
        "conditions": [{"type": "example.com/gate", "status": "True"}]}),
    );
    p["spec"]["nodeName"] = json!("node1");
    p["spec"]["readinessGates"] = json!([{"conditionType": "example.com/gate"}, {"conditionType": "other"}]);
    let cells = (PRINTER.row)(&p, &ctx());
    assert_eq!(cells.len(), COLUMNS.len());
    assert_eq!(
        cells,
        vec![
            json!("p"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("60m"),
            json!("10.42.0.5"),
            json!("node1"),
            json!("<none>"),
            json!("1/2")
        ]
    );

    // Nothing assigned yet: <none> everywhere; podIP alone (without podIPs) is not shown.
    let bare = pod(1, json!({"phase": "Pending", "podIP": "10.0.0.1"}));
    let cells = (PRINTER.row)(&bare, &ctx());
    assert_eq!(
        &cells[5..],
        &[json!("<none>"), json!("<none>"), json!("<none>"), json!("<none>")]
    );
}

#[test]
fn columns_match_kubernetes() {
    let names: Vec<_> = COLUMNS.iter().map(|c| (c.name, c.priority)).collect();
    assert_eq!(
        names,
        vec![
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
    );
}
