//! The pod printer: `NAME READY STATUS RESTARTS AGE` (+ `IP NODE NOMINATED NODE
//! READINESS GATES`), with STATUS, READY and RESTARTS computed by Kubernetes' rules
//! (`printPod` in `pkg/printers/internalversion`).

use jiff::Timestamp;
use serde_json::{json, Value};

use super::cells::{self, str_at};
use super::{format, Column, PrintContext, Printer};

/// Pod columns, as Kubernetes defines them.
pub const COLUMNS: &[Column] = &[
    Column::name(),
    Column::new("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    Column::new("Status", "string", "The aggregate status of the containers in this pod."),
    Column::new(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    Column::age(),
    Column::new(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    )
    .wide(),
    Column::new(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
    )
    .wide(),
    Column::new(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
    )
    .wide(),
    Column::new(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
    )
    .wide(),
];

/// The pod printer.
pub const PRINTER: Printer = Printer { columns: COLUMNS, row };

/// The reason the node lifecycle controller gives pods on an unreachable node.
const NODE_UNREACHABLE_REASON: &str = "NodeLost";

/// What `kubectl get pods` shows of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSummary {
    /// `ready/total` containers (sidecars count as containers).
    pub ready: String,
    /// The STATUS column.
    pub status: String,
    /// Restarts counted as Kubernetes counts them.
    pub restarts: i64,
    /// When the most recent restart ended (the latest `lastState.terminated.finishedAt`).
    pub last_restart: Option<Timestamp>,
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A time field (`None` for Go's zero time: absent or unparsable).
fn time_at(v: &Value) -> Option<Timestamp> {
    v.as_str().and_then(crate::meta::parse_time)
}

/// Keeps the later of two optional times (Go's `lastRestartDate.Before(&t)`).
fn later(current: Option<Timestamp>, candidate: Option<Timestamp>) -> Option<Timestamp> {
    match (current, candidate) {
        (Some(c), Some(t)) if c < t => Some(t),
        (None, t) => t,
        (c, _) => c,
    }
}

fn condition_true(status: &Value, kind: &str) -> bool {
    list(&status["conditions"])
        .iter()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// `terminated` without a reason: `Signal:N` or `ExitCode:N`.
fn exit_reason(terminated: &Value) -> String {
    let signal = cells::int_at(&terminated["signal"]);
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", cells::int_at(&terminated["exitCode"]))
    }
}

/// Computes READY, STATUS and RESTARTS of a pod, step by step as Kubernetes does.
pub fn summarize(pod: &Value) -> PodSummary {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let phase = str_at(&status["phase"]);
    let mut reason = cells::str_or(&status["reason"], phase).to_string();
    if list(&status["conditions"])
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let init_specs = list(&spec["initContainers"]);
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| c["name"] == name && c["restartPolicy"] == "Always")
    };
    let mut total = list(&spec["containers"]).len();
    total += init_specs.iter().filter(|c| c["restartPolicy"] == "Always").count();

    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut ready = 0;
    let mut last_restart = None;
    let mut last_sidecar_restart = None;

    let mut initializing = false;
    for (i, c) in list(&status["initContainerStatuses"]).iter().enumerate() {
        let name = str_at(&c["name"]);
        let finished = time_at(&c["lastState"]["terminated"]["finishedAt"]);
        restarts += cells::int_at(&c["restartCount"]);
        last_restart = later(last_restart, finished);
        let sidecar = is_sidecar(name);
        if sidecar {
            sidecar_restarts += cells::int_at(&c["restartCount"]);
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = &c["state"]["terminated"];
        let waiting_reason = str_at(&c["state"]["waiting"]["reason"]);
        if terminated.is_object() && cells::int_at(&terminated["exitCode"]) == 0 {
            continue;
        }
        if sidecar && c["started"] == true {
            if c["ready"] == true {
                ready += 1;
            }
            continue;
        }
        if terminated.is_object() {
            reason = match str_at(&terminated["reason"]) {
                "" => format!("Init:{}", exit_reason(terminated)),
                r => format!("Init:{r}"),
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(status, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in list(&status["containerStatuses"]).iter().rev() {
            restarts += cells::int_at(&c["restartCount"]);
            last_restart = later(last_restart, time_at(&c["lastState"]["terminated"]["finishedAt"]));
            let state = &c["state"];
            let waiting_reason = str_at(&state["waiting"]["reason"]);
            let terminated = &state["terminated"];
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if terminated.is_object() && !str_at(&terminated["reason"]).is_empty() {
                reason = str_at(&terminated["reason"]).to_string();
            } else if terminated.is_object() {
                reason = exit_reason(terminated);
            } else if c["ready"] == true && state["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        // Back to Running while a container still runs after another completed.
        if reason == "Completed" && has_running {
            reason = if condition_true(status, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = pod["metadata"]["deletionTimestamp"].is_string();
    if deleting && status["reason"] == NODE_UNREACHABLE_REASON {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    PodSummary {
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts,
        last_restart,
    }
}

/// The RESTARTS cell: `3`, or `3 (5m ago)` once a restart has ended.
pub fn restarts_cell(summary: &PodSummary, now: Timestamp) -> String {
    match summary.last_restart {
        Some(t) if summary.restarts != 0 => format!(
            "{} ({} ago)",
            summary.restarts,
            format::human_duration(now.as_second() - t.as_second())
        ),
        _ => summary.restarts.to_string(),
    }
}

/// The READINESS GATES cell: `<none>`, or true gates over all gates.
fn readiness_gates(pod: &Value) -> String {
    let gates = list(&pod["spec"]["readinessGates"]);
    if gates.is_empty() {
        return "<none>".into();
    }
    let conditions = list(&pod["status"]["conditions"]);
    let true_count = gates
        .iter()
        .filter(|g| {
            conditions
                .iter()
                .find(|c| c["type"] == g["conditionType"])
                .is_some_and(|c| c["status"] == "True")
        })
        .count();
    format!("{true_count}/{}", gates.len())
}

fn row(pod: &Value, ctx: &PrintContext) -> Vec<Value> {
    let summary = summarize(pod);
    let ip = cells::str_or(&pod["status"]["podIPs"][0]["ip"], "<none>");
    vec![
        cells::name(pod),
        Value::from(summary.ready.as_str()),
        Value::from(summary.status.as_str()),
        Value::from(restarts_cell(&summary, ctx.now)),
        cells::age(pod, ctx),
        Value::from(ip),
        Value::from(cells::str_or(&pod["spec"]["nodeName"], "<none>")),
        Value::from(cells::str_or(&pod["status"]["nominatedNodeName"], "<none>")),
        Value::from(readiness_gates(pod)),
    ]
}

/// The row conditions Kubernetes attaches to pods that have finished
/// (`Completed` rows, which clients may choose to hide).
pub fn row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match pod["status"]["phase"].as_str() {
        Some("Succeeded") => ("Succeeded", "The pod has completed successfully."),
        Some("Failed") => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

#[cfg(test)]
#[path = "pod_tests.rs"]
mod tests;
