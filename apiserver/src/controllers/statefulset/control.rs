//! The StatefulSet update loop as a plan (Kubernetes' `updateStatefulSet`
//! in `stateful_set_control.go`), without I/O: which pods to create, fix and
//! delete, in which order, and where an `OrderedReady` set stops to wait.
//!
//! `OrderedReady` (monotonic): ordinals are walked upwards; a missing pod is
//! created and nothing more happens until it is Running and Ready (and
//! available); scale-down deletes the highest ordinal first, one at a time,
//! only when all others are healthy. `Parallel`: every missing pod is created
//! and every surplus pod deleted at once. Then, for `RollingUpdate`, the
//! highest ordinal at or above the partition that is not at the update
//! revision is deleted (it comes back at the new revision), one at a time.

use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::super::deployment::util::scaled_value;
use super::super::podutil;
use super::utils::{
    allows_burst, claims_match_retention, count, end_ordinal, identity_matches, in_ordinal_range, is_created,
    is_running_and_available, is_running_and_ready, is_unavailable, min_ready_seconds, missing_claims,
    new_versioned_pod, ordinal, pod_claim_is_stale, pod_revision, replicas, start_ordinal, storage_matches, Status,
};

/// One thing to do to a pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create the pod's claims, then the pod, then set the claims' owners.
    CreatePod(Value),
    /// A pending pod: create its missing claims and set their owners.
    CreateMissingClaims(Arc<Value>),
    /// Bring the pod's identity, storage and claim owners in line (`UpdateStatefulPod`).
    UpdatePod(Arc<Value>),
    /// A condemned pod: set its claims' owners for the retention policy.
    FixClaims(Arc<Value>),
    /// Delete the pod (finished, condemned, or at an old revision).
    DeletePod(Arc<Value>),
}

/// The revisions a sync works with.
#[derive(Debug, Clone)]
pub struct Revisions<'a> {
    /// The set as of its current revision (`ApplyRevision(set, current)`).
    pub current_set: &'a Value,
    /// The set as of its update revision.
    pub update_set: &'a Value,
    /// The current revision's name.
    pub current: &'a str,
    /// The update revision's name.
    pub update: &'a str,
    /// The collision count used to name revisions.
    pub collision_count: i32,
}

/// What one sync does and the status it reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The status to write (before `completeRollingUpdate`).
    pub status: Status,
    /// Steps in phases (replicas, condemned claims, condemned pods, update);
    /// a `Parallel` set runs each phase's steps at once, in slow-start batches,
    /// and stops after a phase with a failure.
    pub phases: Vec<Vec<Step>>,
    /// `OrderedReady`: steps run one at a time, stopping at the first failure.
    pub monotonic: bool,
}

/// The claims cache: a claim of the set's namespace by name.
pub type ClaimLookup<'a> = &'a dyn Fn(&str) -> Option<Arc<Value>>;

/// Plans one sync of `set` (as cached) with its claimed `pods`.
pub fn plan(set: &Value, rev: &Revisions, pods: &[Arc<Value>], claim: ClaimLookup, now: jiff::Timestamp) -> Plan {
    let min_ready = min_ready_seconds(set);
    let monotonic = !allows_burst(set);
    let (start, end) = (start_ordinal(set), end_ordinal(set));
    let count_replicas = usize::try_from(replicas(set)).unwrap_or(0);

    // Pods in range at their ordinal's slot; the others (with an ordinal) are condemned.
    let mut slots: Vec<Option<Arc<Value>>> = vec![None; count_replicas];
    let mut condemned: Vec<Arc<Value>> = Vec::new();
    for pod in pods {
        if in_ordinal_range(pod, set) {
            if let Some(slot) = usize::try_from(ordinal(pod) - start)
                .ok()
                .and_then(|i| slots.get_mut(i))
            {
                *slot = Some(pod.clone());
            }
        } else if ordinal(pod) >= 0 {
            condemned.push(pod.clone());
        }
    }
    let replicas: Vec<Arc<Value>> = (start..=end)
        .zip(slots)
        .map(|(ord, slot)| {
            slot.unwrap_or_else(|| {
                Arc::new(new_versioned_pod(
                    rev.current_set,
                    rev.update_set,
                    rev.current,
                    rev.update,
                    ord,
                ))
            })
        })
        .collect();
    condemned.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));

    let first_unhealthy = replicas
        .iter()
        .chain(condemned.iter().rev())
        .find(|p| is_unavailable(p, min_ready, now))
        .cloned();

    let all: Vec<Arc<Value>> = replicas.iter().chain(condemned.iter()).cloned().collect();
    let mut status = Status {
        observed_generation: set.generation(),
        counts: count(&all, min_ready, rev.current, rev.update, now),
        current_revision: rev.current.to_string(),
        update_revision: rev.update.to_string(),
        collision_count: rev.collision_count,
    };
    let mut out = Plan {
        status: status.clone(),
        phases: Vec::new(),
        monotonic,
    };
    if set.deletion_timestamp().is_some() {
        return out;
    }

    // 1. Each replica: replace finished pods, create missing ones, wait for the
    //    ordered ones to be ready, fix identity, storage and claim owners.
    let mut steps = Vec::new();
    let mut blocked = false;
    for pod in &replicas {
        let phase = podutil::phase(pod);
        if phase == "Failed" || phase == "Succeeded" {
            if !podutil::is_terminating(pod) {
                steps.push(Step::DeletePod(pod.clone()));
            }
            // The pod comes back once the old one is gone.
            if monotonic {
                blocked = true;
                break;
            }
            continue;
        }
        if !is_created(pod) {
            if pod_claim_is_stale(set, pod, claim) {
                // The claim goes with an earlier pod of this name: wait for it.
                if monotonic {
                    blocked = true;
                    break;
                }
                continue;
            }
            steps.push(Step::CreatePod((**pod).clone()));
            if monotonic {
                blocked = true;
                break;
            }
            continue;
        }
        if phase == "Pending"
            && (missing_claims(rev.update_set, pod, claim) || !claims_match_retention(rev.update_set, pod, claim))
        {
            steps.push(Step::CreateMissingClaims(pod.clone()));
        }
        if monotonic
            && (podutil::is_terminating(pod)
                || !is_running_and_ready(pod)
                || !is_running_and_available(pod, min_ready, now))
        {
            blocked = true;
            break;
        }
        if identity_matches(set, pod) && storage_matches(set, pod) && claims_match_retention(rev.update_set, pod, claim)
        {
            continue;
        }
        steps.push(Step::UpdatePod(pod.clone()));
    }
    out.phases.push(steps);
    if blocked {
        return out;
    }

    // 2. Condemned pods' claims get the owners the retention policy wants.
    out.phases.push(
        condemned
            .iter()
            .filter(|p| !claims_match_retention(rev.update_set, p, claim))
            .map(|p| Step::FixClaims(p.clone()))
            .collect(),
    );

    // 3. Condemned pods go, highest ordinal first; an ordered set one at a
    //    time, and only while every other pod is healthy.
    let mut steps = Vec::new();
    for pod in &condemned {
        if podutil::is_terminating(pod) {
            if monotonic {
                blocked = true;
                break;
            }
            continue;
        }
        let is_first_unhealthy = first_unhealthy.as_ref().is_some_and(|f| Arc::ptr_eq(f, pod));
        if monotonic && !is_first_unhealthy && is_unavailable(pod, min_ready, now) {
            blocked = true;
            break;
        }
        steps.push(Step::DeletePod(pod.clone()));
        if monotonic {
            blocked = true;
            break;
        }
    }
    out.phases.push(steps);
    if blocked || set["spec"]["updateStrategy"]["type"] == "OnDelete" {
        return out;
    }

    // 4. Rolling update: replace out-of-date pods from the highest ordinal down to the partition.
    let rolling = &set["spec"]["updateStrategy"]["rollingUpdate"];
    let partition = usize::try_from(rolling["partition"].as_i64().unwrap_or(0)).unwrap_or(0);
    let outdated = |p: &Arc<Value>| pod_revision(p) != rev.update && !podutil::is_terminating(p);
    let mut steps = Vec::new();
    match max_unavailable(&rolling["maxUnavailable"], replicas.len()) {
        None => {
            for pod in replicas.iter().skip(partition).rev() {
                if outdated(pod) {
                    steps.push(Step::DeletePod(pod.clone()));
                    status.counts.current -= 1;
                    break;
                }
                if is_unavailable(pod, min_ready, now) {
                    break;
                }
            }
        }
        Some(max) => {
            let unavailable = replicas.iter().filter(|p| is_unavailable(p, min_ready, now)).count();
            let room = max.saturating_sub(unavailable);
            for pod in replicas.iter().skip(partition).rev().filter(|p| outdated(p)).take(room) {
                steps.push(Step::DeletePod(pod.clone()));
                status.counts.current -= 1;
            }
        }
    }
    out.phases.push(steps);
    out.status = status;
    out
}

/// `getStatefulSetMaxUnavailable` when `maxUnavailable` is set: an int, or a
/// percentage of the replicas rounded down — at least 1. `None` when unset
/// (the one-at-a-time update).
pub fn max_unavailable(value: &Value, replicas: usize) -> Option<usize> {
    if value.is_null() {
        return None;
    }
    let v: IntOrString = serde_json::from_value(value.clone()).ok()?;
    let n = scaled_value(&v, i32::try_from(replicas).ok()?, false).ok()?;
    Some(usize::try_from(n).unwrap_or(0).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2026-01-01T00:10:00Z";

    type Pods = Vec<Arc<Value>>;
    /// (what, pods, steps wanted)
    type Case = (&'static str, Pods, Vec<&'static str>);

    fn set(replicas: i64, policy: &str, strategy: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "d", "uid": "set-uid", "generation": 4},
            "spec": {"replicas": replicas, "serviceName": "web", "podManagementPolicy": policy,
                "selector": {"matchLabels": {"app": "web"}}, "updateStrategy": strategy,
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    }

    fn rolling() -> Value {
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    }

    /// A pod of ordinal `ord` in `state` ("ready", "unready", "pending", "failed",
    /// "terminating") at `revision`.
    fn pod(ord: i64, state: &str, revision: &str) -> Arc<Value> {
        let mut p = super::super::utils::new_pod(&set(3, "OrderedReady", rolling()), ord);
        p["metadata"]["labels"]["controller-revision-hash"] = json!(revision);
        p["metadata"]["uid"] = json!(format!("uid-{ord}"));
        let (phase, ready) = match state {
            "ready" | "terminating" => ("Running", "True"),
            "unready" => ("Running", "False"),
            "pending" => ("Pending", "False"),
            "failed" => ("Failed", "False"),
            other => panic!("{other}"),
        };
        p["status"] = json!({"phase": phase, "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        if state == "terminating" {
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:09:00Z");
        }
        Arc::new(p)
    }

    fn run(set: &Value, pods: &[Arc<Value>], current: &str, update: &str) -> Plan {
        let rev = Revisions {
            current_set: set,
            update_set: set,
            current,
            update,
            collision_count: 0,
        };
        plan(set, &rev, pods, &|_: &str| None, NOW.parse().unwrap())
    }

    /// The steps as `verb name` strings.
    fn steps(p: &Plan) -> Vec<String> {
        p.phases
            .iter()
            .flatten()
            .map(|s| match s {
                Step::CreatePod(p) => format!("create {}", p["metadata"]["name"].as_str().unwrap()),
                Step::CreateMissingClaims(p) => format!("claims {}", p.name().unwrap()),
                Step::UpdatePod(p) => format!("update {}", p.name().unwrap()),
                Step::FixClaims(p) => format!("fix {}", p.name().unwrap()),
                Step::DeletePod(p) => format!("delete {}", p.name().unwrap()),
            })
            .collect()
    }

    #[test]
    fn ordered_ready_scales_one_ordinal_at_a_time() {
        let s = set(3, "OrderedReady", rolling());
        let r = "web-r1";
        let cases: Vec<Case> = vec![
            ("from zero: web-0 only", vec![], vec!["create web-0"]),
            ("web-0 ready: web-1", vec![pod(0, "ready", r)], vec!["create web-1"]),
            ("web-0 not ready: wait", vec![pod(0, "pending", r)], vec![]),
            (
                "a hole is filled first",
                vec![pod(0, "ready", r), pod(2, "ready", r)],
                vec!["create web-1"],
            ),
            (
                "a failed pod is replaced",
                vec![pod(0, "ready", r), pod(1, "failed", r)],
                vec!["delete web-1"],
            ),
            (
                "a terminating pod is waited for",
                vec![pod(0, "terminating", r)],
                vec![],
            ),
            (
                "all there: nothing",
                vec![pod(0, "ready", r), pod(1, "ready", r), pod(2, "ready", r)],
                vec![],
            ),
        ];
        for (what, pods, want) in cases {
            let p = run(&s, &pods, r, r);
            assert!(p.monotonic);
            assert_eq!(steps(&p), want, "{what}");
        }
    }

    #[test]
    fn ordered_ready_scales_down_highest_first_while_healthy() {
        let s = set(1, "OrderedReady", rolling());
        let r = "web-r1";
        let cases: Vec<Case> = vec![
            (
                "highest first, one at a time",
                vec![pod(0, "ready", r), pod(1, "ready", r), pod(2, "ready", r)],
                vec!["delete web-2"],
            ),
            (
                "wait for it to terminate",
                vec![pod(0, "ready", r), pod(1, "ready", r), pod(2, "terminating", r)],
                vec![],
            ),
            // The first unhealthy pod may go; a healthy one above it too.
            (
                "unhealthy first is fine",
                vec![pod(0, "ready", r), pod(1, "unready", r)],
                vec!["delete web-1"],
            ),
            (
                "healthy above unhealthy",
                vec![pod(0, "ready", r), pod(1, "unready", r), pod(2, "ready", r)],
                vec!["delete web-2"],
            ),
            (
                "not while a replica is unhealthy",
                vec![pod(0, "unready", r), pod(1, "ready", r)],
                vec![],
            ),
        ];
        for (what, pods, want) in cases {
            assert_eq!(steps(&run(&s, &pods, r, r)), want, "{what}");
        }
    }

    #[test]
    fn parallel_creates_and_deletes_at_once() {
        let r = "web-r1";
        let p = run(&set(3, "Parallel", rolling()), &[pod(1, "pending", r)], r, r);
        assert!(!p.monotonic);
        assert_eq!(steps(&p), ["create web-0", "create web-2"]);
        let p = run(
            &set(1, "Parallel", rolling()),
            &[pod(0, "pending", r), pod(1, "ready", r), pod(2, "unready", r)],
            r,
            r,
        );
        assert_eq!(steps(&p), ["delete web-2", "delete web-1"]);
    }

    #[test]
    fn rolling_updates_go_down_from_the_highest_ordinal() {
        let (old, new) = ("web-old", "web-new");
        let with_partition = |n: i64| json!({"type": "RollingUpdate", "rollingUpdate": {"partition": n}});
        let cases: Vec<(&str, Value, &str, Pods, Vec<&str>)> = vec![
            (
                "highest first",
                rolling(),
                "OrderedReady",
                vec![pod(0, "ready", old), pod(1, "ready", old), pod(2, "ready", old)],
                vec!["delete web-2"],
            ),
            (
                "then the next",
                rolling(),
                "OrderedReady",
                vec![pod(0, "ready", old), pod(1, "ready", old), pod(2, "ready", new)],
                vec!["delete web-1"],
            ),
            (
                "waits for the updated pod",
                rolling(),
                "Parallel",
                vec![pod(0, "ready", old), pod(1, "ready", old), pod(2, "unready", new)],
                vec![],
            ),
            (
                "partition stops it",
                with_partition(2),
                "OrderedReady",
                vec![pod(0, "ready", old), pod(1, "ready", old), pod(2, "ready", new)],
                vec![],
            ),
            (
                "above the partition",
                with_partition(2),
                "OrderedReady",
                vec![pod(0, "ready", old), pod(1, "ready", old), pod(2, "ready", old)],
                vec!["delete web-2"],
            ),
            (
                "on delete: never",
                json!({"type": "OnDelete"}),
                "OrderedReady",
                vec![pod(0, "ready", old), pod(1, "ready", old), pod(2, "ready", old)],
                vec![],
            ),
            (
                "maxUnavailable 2",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}),
                "Parallel",
                vec![pod(0, "ready", old), pod(1, "ready", old), pod(2, "ready", old)],
                vec!["delete web-2", "delete web-1"],
            ),
            (
                "maxUnavailable counts the unavailable",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": "67%"}}),
                "Parallel",
                vec![pod(0, "ready", old), pod(1, "ready", old), pod(2, "unready", new)],
                vec!["delete web-1"],
            ),
        ];
        for (what, strategy, policy, pods, want) in cases {
            let p = run(&set(3, policy, strategy), &pods, old, new);
            assert_eq!(steps(&p), want, "{what}");
        }
        let p = run(
            &set(3, "OrderedReady", rolling()),
            &[pod(0, "ready", old), pod(1, "ready", old), pod(2, "ready", old)],
            old,
            new,
        );
        assert_eq!(
            p.status.counts.current, 2,
            "the deleted pod no longer counts as current"
        );
        assert_eq!(
            (p.status.counts.replicas, p.status.counts.ready, p.status.counts.updated),
            (3, 3, 0)
        );
    }

    #[test]
    fn new_pods_take_the_revision_of_their_side_of_the_partition() {
        let mut current = set(
            3,
            "OrderedReady",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}),
        );
        current["spec"]["template"]["spec"]["containers"][0]["image"] = json!("old");
        let update = set(
            3,
            "OrderedReady",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}),
        );
        let rev = Revisions {
            current_set: &current,
            update_set: &update,
            current: "web-old",
            update: "web-new",
            collision_count: 3,
        };
        let p = plan(
            &update,
            &rev,
            &[pod(1, "ready", "web-new")],
            &|_: &str| None,
            NOW.parse().unwrap(),
        );
        let Step::CreatePod(web0) = &p.phases[0][0] else {
            panic!("{p:?}")
        };
        assert_eq!(web0["metadata"]["labels"]["controller-revision-hash"], "web-old");
        assert_eq!(web0["spec"]["containers"][0]["image"], "old");
        assert_eq!(p.status.collision_count, 3);
        assert_eq!(p.status.observed_generation, 4);
    }

    #[test]
    fn claims_are_created_for_pending_pods_and_stale_ones_block() {
        let mut s = set(2, "OrderedReady", rolling());
        s["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "www"}, "spec": {}}]);
        s["spec"]["persistentVolumeClaimRetentionPolicy"] = json!({"whenDeleted": "Retain", "whenScaled": "Delete"});
        let mut web0 = (*pod(0, "pending", "r")).clone();
        web0["spec"]["volumes"] = json!([{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}]);
        let rev = Revisions {
            current_set: &s,
            update_set: &s,
            current: "r",
            update: "r",
            collision_count: 0,
        };
        let none = |_: &str| None;
        let p = plan(&s, &rev, &[Arc::new(web0.clone())], &none, NOW.parse().unwrap());
        assert_eq!(steps(&p), ["claims web-0"]);
        // web-1's claim still belongs to a pod of that name that is gone: wait.
        web0["status"] = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        let stale = |n: &str| {
            let owner = if n == "www-web-1" { "old-web-1" } else { "uid-0" };
            let pod = if n == "www-web-1" { "web-1" } else { "web-0" };
            Some(Arc::new(json!({"metadata": {"name": n, "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": owner, "controller": true}]}})))
        };
        let p = plan(&s, &rev, &[Arc::new(web0)], &stale, NOW.parse().unwrap());
        assert!(steps(&p).iter().all(|s| !s.starts_with("create")), "{:?}", steps(&p));
    }

    #[test]
    fn deleting_sets_only_report() {
        let mut s = set(3, "OrderedReady", rolling());
        s["metadata"]["deletionTimestamp"] = json!(NOW);
        let p = run(&s, &[pod(0, "ready", "r")], "r", "r");
        assert!(p.phases.is_empty());
        assert_eq!(p.status.counts.replicas, 1);
    }

    #[test]
    fn max_unavailable_values() {
        let cases = [
            (json!(null), 5, None),
            (json!(2), 5, Some(2)),
            (json!(0), 5, Some(1)),
            (json!("50%"), 5, Some(2)),
            (json!("10%"), 5, Some(1)),
        ];
        for (v, n, want) in cases {
            assert_eq!(max_unavailable(&v, n), want, "{v}");
        }
    }
}
