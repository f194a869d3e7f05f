//! Node health as the node lifecycle controller judges it: when a node last
//! showed life (its `Ready` heartbeat moved or its Lease was renewed, timed by
//! the controller's own clock), and the conditions it gets once it has been
//! silent for longer than the grace period.

use jiff::Timestamp;
use serde_json::{json, Value};

/// The conditions the controller turns `Unknown` (not `NetworkUnavailable`,
/// which the control plane manages).
pub const WATCHED_CONDITIONS: &[&str] = &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller remembers of one node between looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// When the node last showed life, by the controller's clock.
    pub probe: Timestamp,
    /// The `Ready` condition's `lastHeartbeatTime` last seen.
    pub heartbeat: Option<String>,
    /// The Lease's `renewTime` last seen.
    pub renewed: Option<String>,
}

/// The node's condition of type `type_`.
pub fn condition<'a>(node: &'a Value, type_: &str) -> Option<&'a Value> {
    node["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The `Ready` condition's status (`True`, `False`, `Unknown`), if there is one.
pub fn ready_status(node: &Value) -> Option<&str> {
    condition(node, "Ready").and_then(|c| c["status"].as_str())
}

/// Updates what is known of a node's liveness (`tryUpdateNodeHealth`): the
/// probe time moves to `now` when the node is first seen, when its `Ready`
/// heartbeat changed, or when its Lease was renewed.
pub fn observe(prev: Option<&Health>, node: &Value, lease: Option<&Value>, now: Timestamp) -> Health {
    let heartbeat = condition(node, "Ready")
        .and_then(|c| c["lastHeartbeatTime"].as_str())
        .map(str::to_string);
    let renewed = lease.and_then(|l| l["spec"]["renewTime"].as_str()).map(str::to_string);
    let Some(prev) = prev else {
        return Health {
            probe: now,
            heartbeat,
            renewed,
        };
    };
    let beat = heartbeat.is_some() && heartbeat != prev.heartbeat;
    let renewal = renewed.is_some() && renewed != prev.renewed;
    Health {
        probe: if beat || renewal { now } else { prev.probe },
        heartbeat,
        renewed,
    }
}

/// Whether the node has been silent for longer than `grace` at `now`.
pub fn is_silent(health: &Health, now: Timestamp, grace: std::time::Duration) -> bool {
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    now.as_millisecond() > health.probe.as_millisecond().saturating_add(grace_ms)
}

/// The node's conditions once it is silent: each watched condition `Unknown`
/// (`NodeStatusUnknown`, "Kubelet stopped posting node status."), or added as
/// `NodeStatusNeverUpdated` when the kubelet never reported it. Conditions
/// already `Unknown` keep their transition time.
pub fn unknown_conditions(node: &Value, now: &str) -> Vec<Value> {
    let mut conditions = node["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let created = node["metadata"]["creationTimestamp"].clone();
    for type_ in WATCHED_CONDITIONS {
        match conditions.iter_mut().find(|c| c["type"] == *type_) {
            Some(c) if c["status"] != "Unknown" => {
                c["status"] = json!("Unknown");
                c["reason"] = json!("NodeStatusUnknown");
                c["message"] = json!("Kubelet stopped posting node status.");
                c["lastTransitionTime"] = json!(now);
            }
            Some(_) => {}
            None => conditions.push(json!({
                "type": type_,
                "status": "Unknown",
                "reason": "NodeStatusNeverUpdated",
                "message": "Kubelet never posted node status.",
                "lastHeartbeatTime": created,
                "lastTransitionTime": now,
            })),
        }
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn node(heartbeat: &str) -> Value {
        json!({"metadata": {"name": "n1", "creationTimestamp": "2026-01-01T00:00:00Z"},
               "status": {"conditions": [
                   {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                    "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                   {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    }

    fn lease(renewed: &str) -> Value {
        json!({"spec": {"renewTime": renewed}})
    }

    #[test]
    fn probe_moves_on_heartbeats_and_renewals_only() {
        let t0 = ts("2026-01-01T00:01:00Z");
        let first = observe(None, &node("h1"), Some(&lease("r1")), t0);
        assert_eq!(first.probe, t0);
        let t1 = ts("2026-01-01T00:01:30Z");
        // Nothing new: the probe stays.
        let same = observe(Some(&first), &node("h1"), Some(&lease("r1")), t1);
        assert_eq!(same.probe, t0);
        // A renewed lease, or a new heartbeat, moves it.
        assert_eq!(observe(Some(&same), &node("h1"), Some(&lease("r2")), t1).probe, t1);
        assert_eq!(observe(Some(&same), &node("h2"), Some(&lease("r1")), t1).probe, t1);
        // A lease that vanished is no sign of life.
        assert_eq!(observe(Some(&same), &node("h1"), None, t1).probe, t0);
    }

    #[test]
    fn silence_is_measured_against_the_grace_period() {
        let h = observe(None, &node("h1"), None, ts("2026-01-01T00:01:00Z"));
        let grace = std::time::Duration::from_secs(40);
        assert!(!is_silent(&h, ts("2026-01-01T00:01:40Z"), grace));
        assert!(is_silent(&h, ts("2026-01-01T00:01:40.001Z"), grace));
    }

    #[test]
    fn silent_nodes_get_unknown_conditions() {
        let got = unknown_conditions(&node("h1"), "2026-01-01T00:05:00Z");
        let ready = got.iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(
            ready,
            &json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastHeartbeatTime": "h1", "lastTransitionTime": "2026-01-01T00:05:00Z"})
        );
        let never = got.iter().find(|c| c["type"] == "PIDPressure").unwrap();
        assert_eq!(never["reason"], "NodeStatusNeverUpdated");
        assert_eq!(never["message"], "Kubelet never posted node status.");
        assert_eq!(never["lastHeartbeatTime"], "2026-01-01T00:00:00Z");
        assert_eq!(got.len(), 4);
        // Already Unknown: nothing moves.
        let mut unknown = node("h1");
        unknown["status"]["conditions"] = json!(got.clone());
        assert_eq!(unknown_conditions(&unknown, "2026-01-01T00:09:00Z"), got);
    }
}
