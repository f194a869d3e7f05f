//! The RollingUpdate strategy (Kubernetes' `rolling.go`): one step grows
//! the new ReplicaSet as far as `maxSurge` allows, or else shrinks the old
//! ones as far as `maxUnavailable` allows (unhealthy pods first).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use tracing::debug;

use super::util;
use super::Sync;

/// `reconcileNewReplicaSet`'s target: the size the new ReplicaSet should be
/// scaled to now, or `None` when it is right.
pub fn new_rs_target(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> anyhow::Result<Option<i32>> {
    let (want, have) = (util::replicas(d), util::rs_replicas(new_rs));
    if have == want {
        return Ok(None);
    }
    if have > want {
        return Ok(Some(want));
    }
    let n = util::new_rs_new_replicas(d, all, new_rs)?;
    Ok((n != have).then_some(n))
}

/// `reconcileOldReplicaSets` as a plan: the scale-downs of old ReplicaSets
/// (by uid, in write order) for one rolling step. First
/// `cleanupUnhealthyReplicas` removes old pods that are not available
/// anyway, then `scaleDownOldReplicaSetsForRollingUpdate` removes available
/// ones while more than `replicas - maxUnavailable` stay available; both
/// never more than `maxScaledDown`, which also counts the new ReplicaSet's
/// unavailable pods so that a broken new template cannot eat the old pods.
pub fn old_scale_down_plan(
    d: &Deployment,
    all: &[&ReplicaSet],
    old: &[&ReplicaSet],
    new_rs: &ReplicaSet,
) -> Vec<(String, i32)> {
    let mut plan = Vec::new();
    if util::replica_count(old) == 0 {
        return plan;
    }
    let max_unavailable = util::max_unavailable(d);
    let min_available = util::replicas(d) - max_unavailable;
    let new_unavailable = util::rs_replicas(new_rs) - util::rs_available(new_rs);
    let max_scaled_down = util::replica_count(all) - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return plan;
    }
    let mut old: Vec<&ReplicaSet> = old.to_vec();
    old.sort_by(|a, b| util::by_creation(a, b));
    let mut sizes: Vec<i32> = old.iter().map(|rs| util::rs_replicas(rs)).collect();
    let uid = |rs: &ReplicaSet| rs.metadata.uid.clone().unwrap_or_default();

    // Unhealthy replicas first: deleting them does not lower availability.
    let mut cleaned = 0;
    for (i, rs) in old.iter().enumerate() {
        if cleaned >= max_scaled_down {
            break;
        }
        let available = util::rs_available(rs);
        if sizes[i] == 0 || sizes[i] == available {
            continue;
        }
        let n = (max_scaled_down - cleaned).min(sizes[i] - available);
        if n < 0 {
            // More available than wanted (it was scaled down already): Kubernetes stops here.
            return plan;
        }
        sizes[i] -= n;
        plan.push((uid(rs), sizes[i]));
        cleaned += n;
    }

    // Then available ones, down to the minimum availability.
    let available = util::available_replica_count(all);
    if available <= min_available {
        return plan;
    }
    let total = available - min_available;
    let mut scaled = 0;
    for (i, rs) in old.iter().enumerate() {
        if scaled >= total {
            break;
        }
        if sizes[i] == 0 {
            continue;
        }
        let n = sizes[i].min(total - scaled);
        sizes[i] -= n;
        plan.push((uid(rs), sizes[i]));
        scaled += n;
    }
    plan
}

impl Sync<'_> {
    /// `rolloutRolling`: one step of a rolling update.
    pub(super) async fn rollout_rolling(&mut self, rss: &mut Vec<ReplicaSet>) -> anyhow::Result<()> {
        let (new_rs, old) = Box::pin(self.all_replica_sets(rss, true)).await?;
        let Some(new_rs) = new_rs else {
            return Ok(());
        };
        let mut all: Vec<ReplicaSet> = old.clone();
        all.push(new_rs.clone());

        let all_refs: Vec<&ReplicaSet> = all.iter().collect();
        if let Some(target) = new_rs_target(&self.d, &all_refs, &new_rs)? {
            let (scaled, _) = self.scale_and_record(rss, &new_rs, target).await?;
            if scaled {
                return Box::pin(self.sync_rollout_status(&old, Some(&new_rs))).await;
            }
        }

        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let plan = old_scale_down_plan(&self.d, &all_refs, &util::active(&old_refs), &new_rs);
        let mut scaled_down = false;
        for (uid, size) in plan {
            let Some(rs) = rss
                .iter()
                .find(|r| r.metadata.uid.as_deref() == Some(uid.as_str()))
                .cloned()
            else {
                continue;
            };
            match self.scale_and_record(rss, &rs, size).await {
                Ok((scaled, _)) => scaled_down |= scaled,
                Err(e) => {
                    // As Kubernetes: the step ends here, the next event continues it.
                    debug!(
                        deployment = self.name(),
                        error = format!("{e:#}"),
                        "scaling down an old ReplicaSet failed"
                    );
                    break;
                }
            }
        }
        if scaled_down {
            return Box::pin(self.sync_rollout_status(&old, Some(&new_rs))).await;
        }

        let status = self.d.status.clone().unwrap_or_default();
        if util::deployment_complete(&self.d, &status) {
            Box::pin(self.cleanup(&old)).await?;
        }
        Box::pin(self.sync_rollout_status(&old, Some(&new_rs))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deployment::util::tests::{deployment, replica_set};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn int(i: i32) -> IntOrString {
        IntOrString::Int(i)
    }

    #[test]
    fn new_replica_set_targets_as_reconcile_new_replica_set_tests() {
        // (replicas, maxSurge, old replicas, new replicas, want)
        let cases = [
            (10, int(0), 10, 0, None),    // no room to surge
            (10, int(2), 10, 0, Some(2)), // surge by 2
            (10, int(2), 5, 0, Some(7)),  // old already shrunk
            (10, int(2), 10, 2, None),    // at the surge limit
            (2, int(0), 0, 3, Some(2)),   // too big: scale down
            (3, int(1), 0, 3, None),      // done
        ];
        for (replicas, surge, old, new, want) in cases {
            let d = deployment(replicas, surge.clone(), int(1));
            let (o, n) = (replica_set("old", old, old, 0), replica_set("new", new, 0, 10));
            let got = new_rs_target(&d, &[&o, &n], &n).unwrap();
            assert_eq!(got, want, "{replicas} replicas, surge {surge:?}, old {old}, new {new}");
        }
    }

    fn plan(d: &Deployment, old: &[ReplicaSet], new: &ReplicaSet) -> Vec<(String, i32)> {
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.push(new);
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        old_scale_down_plan(d, &all, &old_refs, new)
            .into_iter()
            .map(|(uid, n)| (uid.trim_end_matches("-uid").to_string(), n))
            .collect()
    }

    fn v(pairs: &[(&str, i32)]) -> Vec<(String, i32)> {
        pairs.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    #[test]
    fn old_replica_sets_as_reconcile_old_replica_sets_tests() {
        // (replicas, maxUnavailable, old (replicas, available), new (replicas, available), want)
        type Case = (i32, i32, (i32, i32), (i32, i32), Vec<(&'static str, i32)>);
        let cases: Vec<Case> = vec![
            // maxUnavailable 0 and no surge resolve to 1 unavailable.
            (10, 0, (10, 10), (0, 0), vec![("old", 9)]),
            (10, 2, (10, 10), (0, 0), vec![("old", 8)]),
            // Unhealthy old pods go first, and nothing more.
            (10, 2, (10, 8), (0, 0), vec![("old", 8)]),
            // One unhealthy removed, then one available.
            (10, 2, (10, 9), (0, 0), vec![("old", 9), ("old", 8)]),
            // The new ReplicaSet's unavailable pods block further scale-down.
            (10, 2, (8, 8), (2, 0), vec![]),
            // New pods available: the old ones may go down further.
            (10, 2, (8, 8), (2, 2), vec![("old", 6)]),
            // Nothing old left.
            (10, 2, (0, 0), (10, 10), vec![]),
        ];
        for (replicas, unavailable, (o, oa), (n, na), want) in cases {
            let d = deployment(replicas, int(0), int(unavailable));
            let old = replica_set("old", o, oa, 0);
            let new = replica_set("new", n, na, 10);
            assert_eq!(
                plan(&d, &[old], &new),
                v(&want),
                "{replicas} replicas, maxUnavailable {unavailable}, old {o}/{oa}, new {n}/{na}"
            );
        }
    }

    #[test]
    fn cleanup_of_unhealthy_replicas_is_capped_and_oldest_first() {
        // Kubernetes' cleanupUnhealthyReplicas cases, where maxScaledDown is the cap:
        // (replicas, maxUnavailable, old (replicas, available), want).
        type Case = (i32, i32, (i32, i32), Vec<(&'static str, i32)>);
        let cases: Vec<Case> = vec![
            // Cap 1: one of the two unhealthy pods.
            (10, 1, (10, 8), vec![("old", 9)]),
            // Cap 3: both unhealthy pods, then one available one.
            (10, 3, (10, 8), vec![("old", 8), ("old", 7)]),
            // Cap 0: nothing.
            (10, 1, (9, 7), vec![]),
            // Nothing unhealthy: only the available scale-down.
            (10, 3, (10, 10), vec![("old", 7)]),
        ];
        for (replicas, unavailable, (o, oa), want) in cases {
            let d = deployment(replicas, int(0), int(unavailable));
            let new = replica_set("new", 0, 0, 10);
            assert_eq!(
                plan(&d, &[replica_set("old", o, oa, 0)], &new),
                v(&want),
                "old {o}/{oa}, cap via {unavailable}"
            );
        }
        // Several old ReplicaSets: the oldest is cleaned up first.
        let d = deployment(10, int(0), int(3));
        let older = replica_set("older", 5, 3, 0);
        let newer = replica_set("newer", 5, 4, 5);
        let new = replica_set("new", 0, 0, 10);
        assert_eq!(plan(&d, &[newer, older], &new), v(&[("older", 3), ("newer", 4)]));
    }

    #[test]
    fn a_rolling_update_of_50_with_a_quarter_surge_takes_these_steps() {
        // Every pod becomes available at once after each step: the fewest steps Kubernetes takes.
        let d = deployment(50, IntOrString::String("25%".into()), IntOrString::String("25%".into()));
        let (mut old_n, mut new_n) = (50, 0);
        let mut steps = Vec::new();
        for _ in 0..20 {
            if old_n == 0 && new_n == 50 {
                break;
            }
            let old = replica_set("old", old_n, old_n, 0);
            let new = replica_set("new", new_n, new_n, 10);
            let all = [&old, &new];
            if let Some(t) = new_rs_target(&d, &all, &new).unwrap() {
                steps.push(format!("new {t}"));
                new_n = t;
                continue;
            }
            let p = plan(&d, std::slice::from_ref(&old), &new);
            for (_, n) in &p {
                steps.push(format!("old {n}"));
                old_n = *n;
            }
            assert!(!p.is_empty(), "stuck at old {old_n} new {new_n}");
        }
        // maxSurge 13, maxUnavailable 12: up to 63 pods, then down to 38 available, and so on.
        // (The first step is the new ReplicaSet's create, at 13.)
        assert_eq!(steps, ["new 13", "old 25", "new 38", "old 0", "new 50"]);
    }
}
