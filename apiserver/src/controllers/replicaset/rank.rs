//! Which pods a ReplicaSet deletes first when it scales down: Kubernetes'
//! `getPodsToDelete` over `ActivePodsWithRanks` (with the PodDeletionCost and
//! LogarithmicScaleDown features on, as in v1.33). Earlier in this order is
//! deleted first:
//!
//! 1. unassigned before assigned;
//! 2. Pending before Unknown before Running;
//! 3. not ready before ready;
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` first;
//! 5. more active pods of the same owner on the pod's node first (doubled up);
//! 6. ready for less time first (in log2 buckets of the time since, then by uid);
//! 7. more container restarts first (regular containers, then sidecars);
//! 8. newer first (in log2 buckets of age, then by uid).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use k1s_proto::meta::{parse_time, ObjectMeta};
use serde_json::Value;

use crate::controllers::podutil;

/// The annotation that lets users pick which pods go first (`PodDeletionCost`).
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The `diff` pods of `pods` to delete first; `related` are the active pods
/// of every ReplicaSet with the same owner (for the co-location rank).
pub fn pods_to_delete(
    mut pods: Vec<Arc<Value>>,
    related: &[Arc<Value>],
    diff: usize,
    now: jiff::Timestamp,
) -> Vec<Arc<Value>> {
    if diff < pods.len() {
        let mut on_node: HashMap<&str, usize> = HashMap::new();
        for p in related.iter().filter(|p| podutil::is_active(p)) {
            *on_node.entry(node_name(p)).or_default() += 1;
        }
        let mut ranked: Vec<(Arc<Value>, usize)> = pods
            .into_iter()
            .map(|p| {
                let rank = on_node.get(node_name(&p)).copied().unwrap_or(0);
                (p, rank)
            })
            .collect();
        sort_by_less(&mut ranked, |a, b| delete_before(&a.0, a.1, &b.0, b.1, now));
        pods = ranked.into_iter().map(|(p, _)| p).collect();
    }
    pods.truncate(diff);
    pods
}

fn node_name(pod: &Value) -> &str {
    pod["spec"]["nodeName"].as_str().unwrap_or("")
}

fn phase_ordinal(pod: &Value) -> u8 {
    match podutil::phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

/// The pod's deletion cost (0 when absent or not an int32, as the apiserver rejects those).
fn deletion_cost(pod: &Value) -> i32 {
    pod.annotations()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn time_field(pod: &Value, field: &str) -> Option<jiff::Timestamp> {
    pod["metadata"][field].as_str().and_then(parse_time)
}

/// The highest restart count of the regular containers and of the sidecars
/// (init containers with `restartPolicy: Always`).
fn max_restarts(pod: &Value) -> (i64, i64) {
    let most = |statuses: &Value, keep: &dyn Fn(&Value) -> bool| {
        statuses
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| keep(s))
                    .filter_map(|s| s["restartCount"].as_i64())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let sidecars: Vec<&str> = pod["spec"]["initContainers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|c| c["restartPolicy"] == "Always")
                .filter_map(|c| c["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let regular = most(&pod["status"]["containerStatuses"], &|_| true);
    let sidecar = most(&pod["status"]["initContainerStatuses"], &|s| {
        s["name"].as_str().is_some_and(|n| sidecars.contains(&n))
    });
    (regular, sidecar)
}

/// Go's `afterOrZero`: a missing time first, then the later time first.
fn after_or_zero(a: Option<jiff::Timestamp>, b: Option<jiff::Timestamp>) -> bool {
    match (a, b) {
        (None, _) | (_, None) => a.is_none(),
        (Some(a), Some(b)) => a > b,
    }
}

/// `logarithmicRankDiff`: how far apart the log2 of the ages (in ns) of `a` and `b` are.
fn log_rank_diff(a: jiff::Timestamp, b: jiff::Timestamp, now: jiff::Timestamp) -> i64 {
    let rank = |t: jiff::Timestamp| {
        let d = now.as_nanosecond() - t.as_nanosecond();
        if d > 0 {
            (d as f64).log2() as i64
        } else {
            -1
        }
    };
    rank(a) - rank(b)
}

/// Compares two times as step 6 and 8 do: logarithmic buckets, then uid.
fn newer_first(
    a: Option<jiff::Timestamp>,
    b: Option<jiff::Timestamp>,
    a_uid: &str,
    b_uid: &str,
    now: jiff::Timestamp,
) -> bool {
    match (a, b) {
        (Some(ta), Some(tb)) => match log_rank_diff(ta, tb, now) {
            0 => a_uid < b_uid,
            d => d < 0,
        },
        _ => after_or_zero(a, b),
    }
}

/// `ActivePodsWithRanks.Less`: whether pod `a` (with co-location rank `ra`)
/// is deleted before pod `b`.
pub fn delete_before(a: &Value, ra: usize, b: &Value, rb: usize, now: jiff::Timestamp) -> bool {
    let (na, nb) = (node_name(a), node_name(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    let (pa, pb) = (phase_ordinal(a), phase_ordinal(b));
    if pa != pb {
        return pa < pb;
    }
    let (ready_a, ready_b) = (podutil::is_ready(a), podutil::is_ready(b));
    if ready_a != ready_b {
        return !ready_a;
    }
    let (ca, cb) = (deletion_cost(a), deletion_cost(b));
    if ca != cb {
        return ca < cb;
    }
    if ra != rb {
        return ra > rb;
    }
    let (ua, ub) = (a.uid().unwrap_or(""), b.uid().unwrap_or(""));
    if ready_a && ready_b {
        let (ta, tb) = (podutil::ready_since(a), podutil::ready_since(b));
        if ta != tb {
            return newer_first(ta, tb, ua, ub, now);
        }
    }
    let ((ra_regular, ra_sidecar), (rb_regular, rb_sidecar)) = (max_restarts(a), max_restarts(b));
    if ra_regular != rb_regular {
        return ra_regular > rb_regular;
    }
    if ra_sidecar != rb_sidecar {
        return ra_sidecar > rb_sidecar;
    }
    let (ta, tb) = (time_field(a, "creationTimestamp"), time_field(b, "creationTimestamp"));
    if ta != tb {
        return newer_first(ta, tb, ua, ub, now);
    }
    false
}

/// A stable merge sort by a "less" function; unlike `slice::sort_by` it never
/// panics when `less` is not a total order (the ranking above need not be).
pub fn sort_by_less<T: Clone>(v: &mut Vec<T>, less: impl Fn(&T, &T) -> bool + Copy) {
    if v.len() < 2 {
        return;
    }
    let right = v.split_off(v.len() / 2);
    let mut left = std::mem::take(v);
    let mut right = right;
    sort_by_less(&mut left, less);
    sort_by_less(&mut right, less);
    let (mut i, mut j) = (0, 0);
    v.reserve(left.len() + right.len());
    while i < left.len() && j < right.len() {
        // Take from the right only when it is strictly less: stable.
        if less(&right[j], &left[i]) {
            v.push(right[j].clone());
            j += 1;
        } else {
            v.push(left[i].clone());
            i += 1;
        }
    }
    v.extend_from_slice(&left[i..]);
    v.extend_from_slice(&right[j..]);
}

/// The order of two pods as [`delete_before`] sees them (for tests and logs).
pub fn order(a: &Value, ra: usize, b: &Value, rb: usize, now: jiff::Timestamp) -> Ordering {
    if delete_before(a, ra, b, rb, now) {
        Ordering::Less
    } else if delete_before(b, rb, a, ra, now) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2026-01-01T12:00:00Z";

    fn now() -> jiff::Timestamp {
        NOW.parse().unwrap()
    }

    /// A pod named `name` (uid = name) with a builder for the fields that rank.
    fn pod(name: &str) -> Value {
        json!({"metadata": {"name": name, "uid": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
               "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
               "status": {"phase": "Running"}})
    }

    fn ready(mut p: Value, since: &str) -> Value {
        p["status"]["conditions"] = json!([{"type": "Ready", "status": "True", "lastTransitionTime": since}]);
        p
    }

    fn names(pods: &[Arc<Value>]) -> Vec<&str> {
        pods.iter().map(|p| p.name().unwrap()).collect()
    }

    #[test]
    fn each_rule_in_order() {
        let t = "2026-01-01T11:00:00Z";
        let base = ready(pod("a"), t);
        let mut unassigned = base.clone();
        unassigned["spec"]["nodeName"] = json!("");
        let mut pending = base.clone();
        pending["status"]["phase"] = json!("Pending");
        let mut unknown = base.clone();
        unknown["status"]["phase"] = json!("Unknown");
        let not_ready = pod("a");
        let mut running_not_ready = not_ready.clone();
        running_not_ready["status"]["phase"] = json!("Running");
        let mut cheap = base.clone();
        cheap["metadata"]["annotations"] = json!({DELETION_COST: "-5"});
        let mut restarted = base.clone();
        restarted["status"]["containerStatuses"] = json!([{"name": "c", "restartCount": 3}]);
        let mut sidecar_restarted = base.clone();
        sidecar_restarted["spec"]["initContainers"] = json!([{"name": "s", "restartPolicy": "Always"}]);
        sidecar_restarted["status"]["initContainerStatuses"] = json!([{"name": "s", "restartCount": 2}]);
        let mut init_restarted = base.clone();
        init_restarted["status"]["initContainerStatuses"] = json!([{"name": "i", "restartCount": 9}]);

        let n = now();
        let cases: Vec<(&str, &Value, usize, &Value, usize, Ordering)> = vec![
            ("unassigned first", &unassigned, 0, &base, 0, Ordering::Less),
            ("pending before running", &pending, 0, &base, 0, Ordering::Less),
            ("pending before unknown", &pending, 0, &unknown, 0, Ordering::Less),
            ("unknown before running", &unknown, 0, &base, 0, Ordering::Less),
            ("not ready first", &not_ready, 0, &base, 0, Ordering::Less),
            (
                "readiness compares within a phase",
                &base,
                0,
                &running_not_ready,
                0,
                Ordering::Greater,
            ),
            ("lower deletion cost first", &cheap, 0, &base, 0, Ordering::Less),
            (
                "deletion cost outranks doubling up",
                &cheap,
                0,
                &base,
                5,
                Ordering::Less,
            ),
            ("doubled up first", &base, 3, &base, 1, Ordering::Less),
            ("more restarts first", &restarted, 0, &base, 0, Ordering::Less),
            (
                "sidecar restarts count after regular ones",
                &sidecar_restarted,
                0,
                &base,
                0,
                Ordering::Less,
            ),
            (
                "plain init containers do not count",
                &init_restarted,
                0,
                &base,
                0,
                Ordering::Equal,
            ),
            ("identical pods tie", &base, 0, &base, 0, Ordering::Equal),
        ];
        for (what, a, ra, b, rb, want) in cases {
            assert_eq!(order(a, ra, b, rb, n), want, "{what}");
        }
    }

    #[test]
    fn times_rank_in_logarithmic_buckets_then_by_uid() {
        let n = now();
        // Ready 1 s and 1 h ago: far apart buckets, the recent one goes first.
        let recent = ready(pod("z"), "2026-01-01T11:59:59Z");
        let old = ready(pod("a"), "2026-01-01T11:00:00Z");
        assert_eq!(order(&recent, 0, &old, 0, n), Ordering::Less);
        // Ready 62 and 63 min ago: the same log2 bucket, so the smaller uid goes first.
        let x = ready(pod("b"), "2026-01-01T10:58:00Z");
        let y = ready(pod("a"), "2026-01-01T10:57:00Z");
        assert_eq!(order(&x, 0, &y, 0, n), Ordering::Greater);
        assert_eq!(order(&y, 0, &x, 0, n), Ordering::Less);
        // Ready time outranks restarts.
        let mut restarted_old = old.clone();
        restarted_old["status"]["containerStatuses"] = json!([{"name": "c", "restartCount": 7}]);
        assert_eq!(order(&recent, 0, &restarted_old, 0, n), Ordering::Less);
        // Creation: newer first; no timestamp before any.
        let mut young = pod("y");
        young["metadata"]["creationTimestamp"] = json!("2026-01-01T11:59:00Z");
        let elder = pod("e");
        assert_eq!(order(&young, 0, &elder, 0, n), Ordering::Less);
        let mut unborn = pod("u");
        unborn["metadata"].as_object_mut().unwrap().remove("creationTimestamp");
        assert_eq!(order(&unborn, 0, &young, 0, n), Ordering::Less);
    }

    #[test]
    fn picks_the_first_ranked_pods() {
        let n = now();
        let t = "2026-01-01T11:00:00Z";
        let mut pending = pod("pending");
        pending["status"]["phase"] = json!("Pending");
        let mut elsewhere = ready(pod("elsewhere"), t);
        elsewhere["spec"]["nodeName"] = json!("n2");
        let crowded = ready(pod("crowded"), t);
        let not_ready = pod("not-ready");
        let pods: Vec<Arc<Value>> = [elsewhere, crowded, pending, not_ready]
            .into_iter()
            .map(Arc::new)
            .collect();
        // Related: two more pods of sibling ReplicaSets on n1, one on n2, one finished on n2.
        let mut related = pods.clone();
        related.push(Arc::new(pod("sibling-1")));
        related.push(Arc::new(pod("sibling-2")));
        let mut done = pod("done");
        done["spec"]["nodeName"] = json!("n2");
        done["status"]["phase"] = json!("Succeeded");
        related.push(Arc::new(done));
        let chosen = pods_to_delete(pods.clone(), &related, 3, n);
        assert_eq!(names(&chosen), ["pending", "not-ready", "crowded"]);
        // Deleting all: no ranking needed, input order kept.
        assert_eq!(names(&pods_to_delete(pods.clone(), &related, 4, n)).len(), 4);
        assert!(pods_to_delete(pods, &related, 0, n).is_empty());
    }

    #[test]
    fn merge_sort_is_stable_and_total() {
        let mut v = vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e')];
        sort_by_less(&mut v, |a, b| a.0 < b.0);
        assert_eq!(v, vec![(1, 'b'), (1, 'e'), (2, 'd'), (3, 'a'), (3, 'c')]);
        // A "less" that is not an order still terminates without panicking.
        let mut w: Vec<u32> = (0..50).collect();
        sort_by_less(&mut w, |a, b| (a * 7 + b * 3) % 5 == 0);
        assert_eq!(w.len(), 50);
    }
}
