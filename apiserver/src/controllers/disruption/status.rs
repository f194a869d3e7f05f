//! The arithmetic of a PodDisruptionBudget's status (the disruption
//! controller's `getExpectedPodCount`, `countHealthyPods`,
//! `buildDisruptedPodMap` and `updatePdbStatus`), without I/O.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k1s_proto::meta::{parse_time, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Map, Value};

use crate::registry::pdb::{self, DELETION_TIMEOUT_SECONDS};
use crate::registry::scaled_int_or_percent;

/// The desired scale of a pod's controller (its UID and replicas), or why it cannot be told.
pub type ScaleLookup<'a> = dyn Fn(&Value) -> Result<Option<(String, i64)>, String> + 'a;

/// How many pods a budget expects and how many of them must stay healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `status.expectedPods`.
    pub expected: i64,
    /// `status.desiredHealthy`.
    pub desired_healthy: i64,
    /// Pods without a controller (ignored when counting by controllers' scale).
    pub unmanaged: Vec<String>,
}

fn int_or_string(v: &Value) -> Option<IntOrString> {
    serde_json::from_value(v.clone()).ok()
}

/// The summed desired scale of the pods' controllers (`getExpectedScale`):
/// every pod must have one whose scale `scale_of` can tell.
fn expected_scale(pods: &[&Value], scale_of: &ScaleLookup<'_>) -> Result<(i64, Vec<String>), String> {
    let mut scales: BTreeMap<String, i64> = BTreeMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let has_controller = pod["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["controller"] == true));
        if !has_controller {
            unmanaged.push(pod.name().unwrap_or("").to_string());
            continue;
        }
        match scale_of(pod)? {
            Some((uid, replicas)) => {
                scales.insert(uid, replicas);
            }
            None => return Err(format!("found no controllers for pod {:?}", pod.name().unwrap_or(""))),
        }
    }
    Ok((scales.values().sum(), unmanaged))
}

/// `getExpectedPodCount`: `minAvailable` as a number counts the selected pods;
/// `maxUnavailable`, or `minAvailable` as a percent, counts the controllers' desired scale.
pub fn expected(pdb: &Value, pods: &[&Value], scale_of: &ScaleLookup<'_>) -> Result<Expected, String> {
    let spec = &pdb["spec"];
    if let Some(max) = int_or_string(&spec["maxUnavailable"]) {
        let (expected, unmanaged) = expected_scale(pods, scale_of)?;
        let max = scaled_int_or_percent(&max, expected, true)?;
        return Ok(Expected {
            expected,
            desired_healthy: (expected - max).max(0),
            unmanaged,
        });
    }
    match int_or_string(&spec["minAvailable"]) {
        Some(IntOrString::Int(n)) => Ok(Expected {
            expected: pods.len() as i64,
            desired_healthy: n.into(),
            unmanaged: Vec::new(),
        }),
        Some(pct) => {
            let (expected, unmanaged) = expected_scale(pods, scale_of)?;
            Ok(Expected {
                expected,
                desired_healthy: scaled_int_or_percent(&pct, expected, true)?,
                unmanaged,
            })
        }
        None => Ok(Expected {
            expected: 0,
            desired_healthy: 0,
            unmanaged: Vec::new(),
        }),
    }
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// The recorded evictions still pending, the pods whose eviction was not
/// followed by a deletion in time, and when the next entry expires.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Disrupted {
    /// Entries to keep in `status.disruptedPods`.
    pub pods: Map<String, Value>,
    /// Pods evicted more than two minutes ago that still exist.
    pub not_deleted: Vec<String>,
    /// When the earliest kept entry expires.
    pub recheck: Option<Timestamp>,
}

/// `buildDisruptedPodMap`: keeps the entries of pods that exist, are not being
/// deleted, and were evicted less than two minutes ago.
pub fn disrupted(status: &Value, pods: &[&Value], now: Timestamp) -> Disrupted {
    let recorded = pdb::disrupted_pods(status);
    let mut out = Disrupted::default();
    for pod in pods {
        if pod.deletion_timestamp().is_some() {
            continue;
        }
        let name = pod.name().unwrap_or("");
        let Some(at) = recorded.get(name) else { continue };
        let Some(when) = at.as_str().and_then(parse_time) else {
            continue;
        };
        let expires = when + jiff::SignedDuration::from_secs(DELETION_TIMEOUT_SECONDS);
        if expires < now {
            out.not_deleted.push(name.to_string());
        } else {
            out.recheck = Some(out.recheck.map_or(expires, |r| r.min(expires)));
            out.pods.insert(name.to_string(), at.clone());
        }
    }
    out
}

/// `countHealthyPods`: ready pods not being deleted nor recently evicted.
pub fn current_healthy(pods: &[&Value], disrupted: &Map<String, Value>) -> i64 {
    pods.iter()
        .filter(|p| p.deletion_timestamp().is_none())
        .filter(|p| !disrupted.contains_key(p.name().unwrap_or("")))
        .filter(|p| is_ready(p))
        .count() as i64
}

/// The budget's new status (`updatePdbStatus`), given its counts.
pub fn new_status(pdb: &Value, expected: &Expected, healthy: i64, disrupted: &Map<String, Value>, now: &str) -> Value {
    let mut status = pdb["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    let allowed = healthy - expected.desired_healthy;
    let allowed = if expected.expected <= 0 || allowed <= 0 {
        0
    } else {
        allowed
    };
    status["currentHealthy"] = json!(healthy);
    status["desiredHealthy"] = json!(expected.desired_healthy);
    status["expectedPods"] = json!(expected.expected);
    status["disruptionsAllowed"] = json!(allowed);
    status["observedGeneration"] = json!(pdb.generation());
    match status.as_object_mut() {
        Some(s) if disrupted.is_empty() => {
            s.remove("disruptedPods");
        }
        _ => status["disruptedPods"] = Value::Object(disrupted.clone()),
    }
    pdb::update_disruption_allowed(&mut status, now);
    status
}

/// A `metav1.LabelSelector` as Go's generated `String()` prints it (in the `UnmanagedPods` event).
pub fn go_selector(sel: &Value) -> String {
    let mut labels: Vec<(&String, &Value)> = sel["matchLabels"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    labels.sort_by(|a, b| a.0.cmp(b.0));
    let labels: String = labels
        .iter()
        .map(|(k, v)| format!("{k}: {},", v.as_str().unwrap_or("")))
        .collect();
    let exprs: String = sel["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                e["key"].as_str().unwrap_or(""),
                e["operator"].as_str().unwrap_or(""),
                values.join(" ")
            )
        })
        .collect();
    format!("&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool, owner: Option<&str>) -> Value {
        let mut p = json!({"metadata": {"name": name, "namespace": "d"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        if let Some(uid) = owner {
            p["metadata"]["ownerReferences"] =
                json!([{"kind": "ReplicaSet", "name": "rs", "uid": uid, "controller": true}]);
        }
        p
    }

    fn pdb(spec: Value) -> Value {
        json!({"metadata": {"name": "b", "namespace": "d", "generation": 3}, "spec": spec, "status": {}})
    }

    fn scale_of(replicas: i64) -> impl Fn(&Value) -> Result<Option<(String, i64)>, String> {
        move |p: &Value| {
            Ok(Some((
                p["metadata"]["ownerReferences"][0]["uid"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                replicas,
            )))
        }
    }

    #[test]
    fn expected_and_desired_counts() {
        let pods = [
            pod("a", true, Some("u1")),
            pod("b", true, Some("u1")),
            pod("c", false, Some("u1")),
        ];
        let refs: Vec<&Value> = pods.iter().collect();
        let five = scale_of(5);
        let cases = [
            (json!({"minAvailable": 2}), (3, 2)),
            (json!({"minAvailable": "50%"}), (5, 3)),
            (json!({"maxUnavailable": 1}), (5, 4)),
            (json!({"maxUnavailable": "25%"}), (5, 3)),
            (json!({"maxUnavailable": 9}), (5, 0)),
            (json!({}), (0, 0)),
        ];
        for (spec, want) in cases {
            let e = expected(&pdb(spec.clone()), &refs, &five).unwrap();
            assert_eq!((e.expected, e.desired_healthy), want, "{spec}");
        }
        // Bare pods are left out of controller counts; controllers of unknown kinds fail.
        let bare = [pod("x", true, None), pod("y", true, Some("u2"))];
        let refs: Vec<&Value> = bare.iter().collect();
        let e = expected(&pdb(json!({"maxUnavailable": 1})), &refs, &scale_of(2)).unwrap();
        assert_eq!((e.expected, e.unmanaged), (2, vec!["x".to_string()]));
        let none = |_: &Value| Ok(None);
        assert_eq!(
            expected(&pdb(json!({"maxUnavailable": 1})), &refs, &none).unwrap_err(),
            "found no controllers for pod \"y\""
        );
    }

    #[test]
    fn healthy_pods_and_disruptions_allowed() {
        let mut deleting = pod("d", true, None);
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let pods = [
            pod("a", true, None),
            pod("b", true, None),
            pod("c", false, None),
            deleting,
        ];
        let refs: Vec<&Value> = pods.iter().collect();
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let status = json!({"disruptedPods": {"b": "2026-01-01T00:04:00Z", "a": "2026-01-01T00:01:00Z", "d": "2026-01-01T00:04:30Z"}});
        let d = disrupted(&status, &refs, now);
        assert_eq!(
            d.pods,
            json!({"b": "2026-01-01T00:04:00Z"}).as_object().cloned().unwrap()
        );
        assert_eq!(d.not_deleted, vec!["a".to_string()]);
        assert_eq!(d.recheck, Some("2026-01-01T00:06:00Z".parse().unwrap()));
        let healthy = current_healthy(&refs, &d.pods);
        assert_eq!(healthy, 1, "a only: b is being evicted, c unready, d deleting");

        let budget = pdb(json!({"minAvailable": 1}));
        let e = expected(&budget, &refs, &scale_of(0)).unwrap();
        let s = new_status(&budget, &e, 3, &Map::new(), "t1");
        assert_eq!(s["disruptionsAllowed"], 2);
        assert_eq!(s["observedGeneration"], 3);
        assert_eq!(s["expectedPods"], 4);
        assert_eq!(s["conditions"][0]["reason"], "SufficientPods");
        assert!(s.get("disruptedPods").is_none());
        let short = new_status(&budget, &e, 1, &d.pods, "t2");
        assert_eq!(short["disruptionsAllowed"], 0);
        assert_eq!(short["conditions"][0]["reason"], "InsufficientPods");
        assert_eq!(short["disruptedPods"]["b"], "2026-01-01T00:04:00Z");
        let nothing = Expected {
            expected: 0,
            desired_healthy: 0,
            unmanaged: Vec::new(),
        };
        assert_eq!(
            new_status(&budget, &nothing, 3, &Map::new(), "t")["disruptionsAllowed"],
            0
        );
    }

    #[test]
    fn selectors_print_as_go_does() {
        assert_eq!(
            go_selector(&json!({"matchLabels": {"app": "web", "a": "b"}})),
            "&LabelSelector{MatchLabels:map[string]string{a: b,app: web,},MatchExpressions:[]LabelSelectorRequirement{},}"
        );
        assert_eq!(
            go_selector(&json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]})),
            "&LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:tier,Operator:In,Values:[x y],},},}"
        );
    }
}
