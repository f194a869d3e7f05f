//! The taints the node lifecycle controller keeps on nodes: NoSchedule taints
//! that mirror node conditions and cordoning (TaintNodesByCondition), and the
//! NoExecute `not-ready`/`unreachable` taints of taint-based eviction, which
//! stop while every zone is fully disrupted (no node Ready anywhere: the
//! controller's "master disruption mode").

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::health::{condition, ready_status};
use crate::registry::default_tolerations::{NOT_READY_TAINT, UNREACHABLE_TAINT};

/// The taint of a cordoned node.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Conditions whose status puts a NoSchedule taint on the node.
const CONDITION_TAINTS: &[(&str, &str, &str)] = &[
    ("Ready", "False", NOT_READY_TAINT),
    ("Ready", "Unknown", UNREACHABLE_TAINT),
    ("MemoryPressure", "True", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
    ("NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"),
];

/// Whether a taint is one of the NoSchedule taints the controller manages.
fn managed_no_schedule(key: &str) -> bool {
    key == UNSCHEDULABLE_TAINT || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == key)
}

/// The NoSchedule taint keys a node's conditions and cordon call for.
pub fn condition_taints(node: &Value) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = CONDITION_TAINTS
        .iter()
        .filter(|(type_, status, _)| condition(node, type_).is_some_and(|c| c["status"] == *status))
        .map(|(_, _, key)| *key)
        .collect();
    if node["spec"]["unschedulable"].as_bool().unwrap_or(false) {
        keys.push(UNSCHEDULABLE_TAINT);
    }
    keys
}

/// The disruption state of a zone (`ComputeZoneState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    /// Few nodes not ready.
    Normal,
    /// More than two nodes and at least 55% of them not ready.
    PartialDisruption,
    /// No node ready.
    FullDisruption,
}

/// Share of not-ready nodes above which a zone is partially disrupted (`--unhealthy-zone-threshold`).
const UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;
/// Zones up to this size stop NoExecute tainting when partially disrupted (`--large-cluster-size-threshold`).
const LARGE_CLUSTER_THRESHOLD: usize = 50;

/// A zone's state from its nodes' readiness.
pub fn zone_state(ready: usize, not_ready: usize) -> ZoneState {
    if ready == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f64 / (ready + not_ready) as f64 >= UNHEALTHY_ZONE_THRESHOLD {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// A node's zone key (region and zone labels; empty for nodes without them).
fn zone_of(node: &Value) -> String {
    let labels = &node["metadata"]["labels"];
    format!(
        "{}:\u{0}:{}",
        labels["topology.kubernetes.io/region"].as_str().unwrap_or(""),
        labels["topology.kubernetes.io/zone"].as_str().unwrap_or("")
    )
}

/// Whether NoExecute taints may be put on the nodes of each zone, given every
/// node: yes in a normal zone, in a large partially disrupted one (slowly, in
/// Kubernetes), and in a fully disrupted one unless all zones are; no otherwise.
pub fn no_execute_allowed(nodes: &[&Value]) -> BTreeMap<String, bool> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for n in nodes {
        if n["metadata"]["labels"]["node.kubernetes.io/exclude-disruption"].is_string() {
            continue;
        }
        let e = counts.entry(zone_of(n)).or_default();
        if ready_status(n) == Some("True") {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let states: BTreeMap<String, (ZoneState, usize)> = counts
        .into_iter()
        .map(|(z, (r, nr))| (z, (zone_state(r, nr), r + nr)))
        .collect();
    let all_full = !states.is_empty() && states.values().all(|(s, _)| *s == ZoneState::FullDisruption);
    states
        .into_iter()
        .map(|(zone, (state, size))| {
            let allowed = match state {
                ZoneState::Normal => true,
                ZoneState::PartialDisruption => size > LARGE_CLUSTER_THRESHOLD,
                ZoneState::FullDisruption => !all_full,
            };
            (zone, allowed)
        })
        .collect()
}

/// Whether NoExecute tainting may proceed for `node`'s zone (true for zones not counted).
pub fn allowed_for(allowed: &BTreeMap<String, bool>, node: &Value) -> bool {
    allowed.get(&zone_of(node)).copied().unwrap_or(true)
}

/// The NoExecute taint a node's readiness calls for.
pub fn no_execute_taint(node: &Value) -> Option<&'static str> {
    match ready_status(node) {
        Some("False") => Some(NOT_READY_TAINT),
        Some("Unknown") => Some(UNREACHABLE_TAINT),
        _ => None,
    }
}

/// The node's taints with the managed ones made to match: NoSchedule taints
/// for `no_schedule` keys (without a time, as the controller adds them) and a
/// NoExecute taint for `no_execute` (with `timeAdded` = `now`). Taints others
/// put on the node, and managed ones still wanted, stay as they are.
pub fn desired_taints(current: &[Value], no_schedule: &[&str], no_execute: Option<&str>, now: &str) -> Vec<Value> {
    let key = |t: &Value| t["key"].as_str().unwrap_or("").to_string();
    let keep = |t: &Value| {
        let k = key(t);
        match t["effect"].as_str() {
            Some("NoSchedule") if managed_no_schedule(&k) => no_schedule.contains(&k.as_str()),
            Some("NoExecute") if k == NOT_READY_TAINT || k == UNREACHABLE_TAINT => no_execute == Some(k.as_str()),
            _ => true,
        }
    };
    let mut out: Vec<Value> = current.iter().filter(|t| keep(t)).cloned().collect();
    let has = |out: &[Value], k: &str, effect: &str| out.iter().any(|t| key(t) == k && t["effect"] == effect);
    for k in no_schedule {
        if !has(&out, k, "NoSchedule") {
            out.push(json!({"key": k, "effect": "NoSchedule"}));
        }
    }
    if let Some(k) = no_execute {
        if !has(&out, k, "NoExecute") {
            out.push(json!({"key": k, "effect": "NoExecute", "timeAdded": now}));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ready: &str, extra: Value) -> Value {
        let mut n = json!({"metadata": {"name": "n", "labels": {}}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}});
        if let Some(obj) = extra.as_object() {
            for (k, v) in obj {
                n["spec"][k] = v.clone();
            }
        }
        n
    }

    #[test]
    fn conditions_and_cordons_make_no_schedule_taints() {
        assert_eq!(condition_taints(&node("True", json!({}))), Vec::<&str>::new());
        assert_eq!(condition_taints(&node("False", json!({}))), vec![NOT_READY_TAINT]);
        assert_eq!(
            condition_taints(&node("Unknown", json!({"unschedulable": true}))),
            vec![UNREACHABLE_TAINT, UNSCHEDULABLE_TAINT]
        );
        let mut pressured = node("True", json!({}));
        pressured["status"]["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "DiskPressure", "status": "True"}));
        assert_eq!(condition_taints(&pressured), vec!["node.kubernetes.io/disk-pressure"]);
        assert_eq!(no_execute_taint(&node("False", json!({}))), Some(NOT_READY_TAINT));
        assert_eq!(no_execute_taint(&node("Unknown", json!({}))), Some(UNREACHABLE_TAINT));
        assert_eq!(no_execute_taint(&node("True", json!({}))), None);
    }

    #[test]
    fn zone_states() {
        let cases = [
            ((1, 0), ZoneState::Normal),
            ((0, 1), ZoneState::FullDisruption),
            ((1, 2), ZoneState::Normal),
            ((2, 3), ZoneState::PartialDisruption),
            ((3, 3), ZoneState::Normal),
            ((0, 0), ZoneState::Normal),
        ];
        for ((ready, not_ready), want) in cases {
            assert_eq!(zone_state(ready, not_ready), want, "{ready}/{not_ready}");
        }
    }

    #[test]
    fn no_execute_tainting_stops_when_every_zone_is_down() {
        let down = node("Unknown", json!({}));
        let up = node("True", json!({}));
        // One node, down: all zones fully disrupted.
        assert!(!allowed_for(&no_execute_allowed(&[&down]), &down));
        // Another node in the zone is fine: normal.
        assert!(allowed_for(&no_execute_allowed(&[&down, &up]), &down));
        // Another zone is fine: this zone's full disruption still taints.
        let mut elsewhere = up.clone();
        elsewhere["metadata"]["labels"]["topology.kubernetes.io/zone"] = json!("b");
        let mut down_b = down.clone();
        down_b["metadata"]["labels"]["topology.kubernetes.io/zone"] = json!("a");
        assert!(allowed_for(&no_execute_allowed(&[&down_b, &elsewhere]), &down_b));
    }

    #[test]
    fn taints_are_replaced_keeping_foreign_and_existing_ones() {
        let current = vec![
            json!({"key": "dedicated", "value": "db", "effect": "NoSchedule"}),
            json!({"key": NOT_READY_TAINT, "effect": "NoSchedule"}),
            json!({"key": NOT_READY_TAINT, "effect": "NoExecute", "timeAdded": "t0"}),
        ];
        // Not ready → unreachable: both managed taints swap.
        let got = desired_taints(&current, &[UNREACHABLE_TAINT], Some(UNREACHABLE_TAINT), "t1");
        assert_eq!(
            got,
            vec![
                json!({"key": "dedicated", "value": "db", "effect": "NoSchedule"}),
                json!({"key": UNREACHABLE_TAINT, "effect": "NoSchedule"}),
                json!({"key": UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": "t1"}),
            ]
        );
        // Still not ready: nothing changes, timeAdded kept.
        assert_eq!(
            desired_taints(&current, &[NOT_READY_TAINT], Some(NOT_READY_TAINT), "t2"),
            current
        );
        // Ready again: only the foreign taint stays.
        assert_eq!(desired_taints(&current, &[], None, "t3"), current[..1].to_vec());
    }
}
