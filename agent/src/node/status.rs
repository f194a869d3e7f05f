//! Node conditions and image lists as the kubelet reports them.

use serde_json::{json, Value};

/// The runtime's health and contents, gathered for one status computation.
#[derive(Debug, Clone, Default)]
pub struct RuntimeStatus {
    /// `containerd://<version>` when containerd answers.
    pub version: Option<String>,
    /// Why the runtime is not usable (containerd down…), if it is not.
    pub runtime_error: Option<String>,
    /// Why the pod network is not ready, if it is not.
    pub network_error: Option<String>,
    /// Images present: their names (tags and digests) and size in bytes.
    pub images: Vec<(Vec<String>, u64)>,
}

/// Kubelet reports at most this many images in node status.
const MAX_IMAGES: usize = 50;

/// `status.images`, largest first as the kubelet sorts them.
pub fn images(list: &[(Vec<String>, u64)]) -> Value {
    let mut sorted: Vec<&(Vec<String>, u64)> = list.iter().filter(|(names, _)| !names.is_empty()).collect();
    sorted.sort_by_key(|b| std::cmp::Reverse(b.1));
    Value::Array(
        sorted
            .into_iter()
            .take(MAX_IMAGES)
            .map(|(names, size)| json!({"names": names, "sizeBytes": size}))
            .collect(),
    )
}

/// One condition, keeping `lastTransitionTime` when the status did not change.
fn condition(old: &[Value], type_: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    let prev = old.iter().find(|c| c["type"] == type_);
    let transition = match prev {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    json!({
        "type": type_,
        "status": status,
        "lastHeartbeatTime": now,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    })
}

/// The four conditions the kubelet reports. `Ready` is false, with the
/// kubelet's reason and message, when the runtime or the network is not ready.
pub fn conditions(old: &[Value], rt: &RuntimeStatus, now: &str) -> Value {
    let mut problems = Vec::new();
    if let Some(e) = &rt.runtime_error {
        problems.push(format!("container runtime is down: {e}"));
    }
    if let Some(e) = &rt.network_error {
        problems.push(format!(
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:{e}"
        ));
    }
    let ready = if problems.is_empty() {
        condition(
            old,
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
            now,
        )
    } else {
        condition(old, "Ready", "False", "KubeletNotReady", &problems.join(", "), now)
    };
    json!([
        condition(
            old,
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            now
        ),
        condition(
            old,
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
            now
        ),
        condition(
            old,
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            now
        ),
        ready,
    ])
}

/// Status without `lastHeartbeatTime`s, to tell whether anything really changed.
pub fn without_heartbeats(status: &Value) -> Value {
    let mut s = status.clone();
    if let Some(conds) = s["conditions"].as_array_mut() {
        for c in conds {
            if let Some(o) = c.as_object_mut() {
                o.remove("lastHeartbeatTime");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_runtime_and_network_are_fine() {
        let c = conditions(&[], &RuntimeStatus::default(), "2026-01-01T00:00:00Z");
        assert_eq!(c[3]["type"], "Ready");
        assert_eq!(c[3]["status"], "True");
        assert_eq!(c[3]["reason"], "KubeletReady");
    }

    #[test]
    fn not_ready_says_why_and_transition_time_moves_only_on_change() {
        let down = RuntimeStatus {
            runtime_error: Some("connection refused".into()),
            ..Default::default()
        };
        let first = conditions(&[], &down, "t1");
        assert_eq!(first[3]["status"], "False");
        assert_eq!(first[3]["reason"], "KubeletNotReady");
        assert!(first[3]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("container runtime is down"));
        let old = first.as_array().cloned().unwrap_or_default();
        let again = conditions(&old, &down, "t2");
        assert_eq!(again[3]["lastTransitionTime"], "t1");
        assert_eq!(again[3]["lastHeartbeatTime"], "t2");
        let up = conditions(&old, &RuntimeStatus::default(), "t3");
        assert_eq!(up[3]["lastTransitionTime"], "t3");
        assert_eq!(up[0]["lastTransitionTime"], "t1");
    }

    #[test]
    fn images_are_sorted_by_size_and_nameless_ones_dropped() {
        let v = images(&[(vec!["a".into()], 1), (vec![], 9), (vec!["b".into()], 5)]);
        assert_eq!(v[0]["names"][0], "b");
        assert_eq!(v[1]["sizeBytes"], 1);
        assert_eq!(v.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn heartbeats_are_ignored_when_comparing() {
        let a = json!({"conditions": conditions(&[], &RuntimeStatus::default(), "t1")});
        let b = json!({"conditions": conditions(a["conditions"].as_array().unwrap(), &RuntimeStatus::default(), "t2")});
        assert_ne!(a, b);
        assert_eq!(without_heartbeats(&a), without_heartbeats(&b));
    }
}
