//! Rollout progress (Kubernetes' `progress.go`): the `Progressing`
//! condition (progressing, complete, or past its deadline), `ReplicaFailure`
//! copied from the ReplicaSets, and when to look again for the deadline.

use std::time::Duration;

use k1s_proto::patch::go_quote;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};

use super::sync::{calculate_status, name};
use super::util::{self, reason};
use super::Sync;

/// `getReplicaFailures`: the new ReplicaSet's `ReplicaFailure` conditions, else any old one's.
fn replica_failures(all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>) -> Vec<DeploymentCondition> {
    let of = |rs: &ReplicaSet| -> Vec<DeploymentCondition> {
        rs.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.type_ == reason::REPLICA_FAILURE)
            .map(util::rs_condition_to_deployment)
            .collect()
    };
    let from_new: Vec<DeploymentCondition> = new_rs.map(of).unwrap_or_default();
    if !from_new.is_empty() {
        return from_new;
    }
    all.iter().flat_map(|rs| of(rs)).collect()
}

/// The status `syncRolloutStatus` writes: the counts, and `Progressing` as
/// the rollout stands at `now` against the Deployment's stored status.
pub fn rollout_status(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    now: jiff::Timestamp,
) -> DeploymentStatus {
    let mut status = calculate_status(all, new_rs, d, now);
    let deadline = util::progress_deadline(d);
    if deadline.is_none() {
        util::remove_condition(&mut status, reason::PROGRESSING);
    }
    let stored = d.status.clone().unwrap_or_default();
    let current = util::condition(&stored, reason::PROGRESSING);
    let complete_before = status.replicas == status.updated_replicas
        && current.is_some_and(|c| c.reason.as_deref() == Some(reason::NEW_RS_AVAILABLE));
    if deadline.is_some() && !complete_before {
        let subject = match new_rs {
            Some(rs) => format!("ReplicaSet {}", go_quote(name(rs))),
            None => format!("Deployment {}", go_quote(d.metadata.name.as_deref().unwrap_or(""))),
        };
        if util::deployment_complete(d, &status) {
            let msg = format!("{subject} has successfully progressed.");
            util::set_condition(
                &mut status,
                util::new_condition(reason::PROGRESSING, "True", reason::NEW_RS_AVAILABLE, &msg, now),
            );
        } else if util::deployment_progressing(d, &status) {
            let msg = format!("{subject} is progressing.");
            let mut c = util::new_condition(reason::PROGRESSING, "True", reason::RS_UPDATED, &msg, now);
            // Progress moves lastUpdateTime even with the same reason.
            if let Some(cur) = current {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                util::remove_condition(&mut status, reason::PROGRESSING);
            }
            util::set_condition(&mut status, c);
        } else if util::deployment_timed_out(d, &status, now) {
            let msg = format!("{subject} has timed out progressing.");
            util::set_condition(
                &mut status,
                util::new_condition(reason::PROGRESSING, "False", reason::TIMED_OUT, &msg, now),
            );
        }
    }
    match replica_failures(all, new_rs).into_iter().next() {
        Some(c) => util::set_condition(&mut status, c),
        None => util::remove_condition(&mut status, reason::REPLICA_FAILURE),
    }
    status
}

/// `requeueStuckDeployment`: when to look again so that a rollout without
/// progress turns `ProgressDeadlineExceeded` on time (`None`: no need).
pub fn requeue_after(d: &Deployment, new: &DeploymentStatus, now: jiff::Timestamp) -> Option<Duration> {
    let deadline = util::progress_deadline(d)?;
    let stored = d.status.clone().unwrap_or_default();
    let current = util::condition(&stored, reason::PROGRESSING)?;
    if util::deployment_complete(d, new) || current.reason.as_deref() == Some(reason::TIMED_OUT) {
        return None;
    }
    let updated = current.last_update_time.as_ref()?.0;
    let left_ns = updated.as_nanosecond() + i128::from(deadline) * 1_000_000_000 - now.as_nanosecond();
    if left_ns < 1_000_000_000 {
        // Due now: soon, without spinning.
        return Some(Duration::from_millis(100));
    }
    // A second more, against clock skew between timers.
    Some(Duration::from_nanos(u64::try_from(left_ns).unwrap_or(u64::MAX)) + Duration::from_secs(1))
}

impl Sync<'_> {
    /// `syncRolloutStatus`: writes the rollout status when it changed, else
    /// schedules the deadline check.
    pub(super) async fn sync_rollout_status(
        &mut self,
        old: &[ReplicaSet],
        new_rs: Option<&ReplicaSet>,
    ) -> anyhow::Result<()> {
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.extend(new_rs);
        let status = rollout_status(&self.d, &all, new_rs, self.now);
        if self.d.status.as_ref() == Some(&status) {
            self.requeue = requeue_after(&self.d, &status, self.now);
            return Ok(());
        }
        if self.status_write_can_wait(&status) {
            return Ok(());
        }
        self.d.status = Some(status);
        self.update_status().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deployment::util::tests::{deployment, replica_set};
    use k8s_openapi::api::apps::v1::ReplicaSetCondition;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_767_225_600 + secs).unwrap()
    }

    fn progressing(d: &mut Deployment, status: DeploymentStatus, reason_: &str, cond_status: &str, since: i64) {
        let mut s = status;
        util::set_condition(
            &mut s,
            util::new_condition(reason::PROGRESSING, cond_status, reason_, "m", at(since)),
        );
        d.status = Some(s);
    }

    fn progress(s: &DeploymentStatus) -> (String, String) {
        let c = util::condition(s, reason::PROGRESSING).unwrap();
        (c.status.clone(), c.reason.clone().unwrap_or_default())
    }

    #[test]
    fn progressing_complete_and_timed_out() {
        let mut d = deployment(3, IntOrString::Int(1), IntOrString::Int(0));
        let old = replica_set("old", 1, 1, 0);
        let new = replica_set("new", 3, 2, 10);
        // Before: 1 updated. Now 3 updated, 2 available: progressing.
        let before = DeploymentStatus {
            replicas: Some(4),
            updated_replicas: Some(1),
            available_replicas: Some(3),
            ready_replicas: Some(3),
            observed_generation: Some(1),
            ..Default::default()
        };
        progressing(&mut d, before.clone(), reason::NEW_RS, "True", 0);
        let s = rollout_status(&d, &[&old, &new], Some(&new), at(100));
        assert_eq!(progress(&s), ("True".into(), reason::RS_UPDATED.into()));
        let c = util::condition(&s, reason::PROGRESSING).unwrap();
        assert_eq!(c.message.as_deref(), Some("ReplicaSet \"new\" is progressing."));
        assert_eq!(
            c.last_transition_time.as_ref().unwrap().0,
            at(0),
            "same status keeps its transition"
        );
        assert_eq!(c.last_update_time.as_ref().unwrap().0, at(100));

        // Nothing moved for longer than the deadline: timed out.
        let mut stuck = d.clone();
        progressing(&mut stuck, s.clone(), reason::RS_UPDATED, "True", 100);
        let again = rollout_status(&stuck, &[&old, &new], Some(&new), at(100 + 601));
        assert_eq!(progress(&again), ("False".into(), reason::TIMED_OUT.into()));
        assert_eq!(
            util::condition(&again, reason::PROGRESSING).unwrap().message.as_deref(),
            Some("ReplicaSet \"new\" has timed out progressing.")
        );
        // Within the deadline: unchanged, and a look again when it is due.
        let calm = rollout_status(&stuck, &[&old, &new], Some(&new), at(200));
        assert_eq!(
            util::condition(&calm, reason::PROGRESSING),
            util::condition(stuck.status.as_ref().unwrap(), reason::PROGRESSING)
        );
        assert_eq!(requeue_after(&stuck, &calm, at(200)), Some(Duration::from_secs(501)));
        assert_eq!(requeue_after(&stuck, &calm, at(700)), Some(Duration::from_millis(100)));

        // All updated and available: complete, and no more deadline checks.
        let done = replica_set("new", 3, 3, 10);
        let mut finishing = d.clone();
        progressing(&mut finishing, s.clone(), reason::RS_UPDATED, "True", 100);
        let complete = rollout_status(&finishing, &[&replica_set("old", 0, 0, 0), &done], Some(&done), at(150));
        assert_eq!(progress(&complete), ("True".into(), reason::NEW_RS_AVAILABLE.into()));
        assert_eq!(
            util::condition(&complete, reason::PROGRESSING)
                .unwrap()
                .message
                .as_deref(),
            Some("ReplicaSet \"new\" has successfully progressed.")
        );
        assert_eq!(requeue_after(&finishing, &complete, at(150)), None);
    }

    #[test]
    fn replica_failures_are_copied_from_the_new_replica_set_first() {
        let d = deployment(3, IntOrString::Int(1), IntOrString::Int(0));
        let failing = |name: &str, msg: &str| {
            let mut rs = replica_set(name, 3, 0, 0);
            rs.status.as_mut().unwrap().conditions = Some(vec![ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some("FailedCreate".into()),
                message: Some(msg.into()),
                last_transition_time: Some(Time(at(5))),
            }]);
            rs
        };
        let (old, new) = (failing("old", "old fails"), failing("new", "new fails"));
        let s = rollout_status(&d, &[&old, &new], Some(&new), at(10));
        let c = util::condition(&s, reason::REPLICA_FAILURE).unwrap();
        assert_eq!(c.message.as_deref(), Some("new fails"));
        assert_eq!(c.last_update_time.as_ref().unwrap().0, at(5));
        let fine = replica_set("new", 3, 0, 0);
        let s = rollout_status(&d, &[&old, &fine], Some(&fine), at(10));
        assert_eq!(
            util::condition(&s, reason::REPLICA_FAILURE).unwrap().message.as_deref(),
            Some("old fails")
        );
        let mut cleared = d.clone();
        cleared.status = Some(s);
        let s = rollout_status(&cleared, &[&fine], Some(&fine), at(10));
        assert!(util::condition(&s, reason::REPLICA_FAILURE).is_none());
    }

    #[test]
    fn no_deadline_means_no_progressing_condition() {
        let mut d = deployment(1, IntOrString::Int(1), IntOrString::Int(0));
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(i32::MAX);
        progressing(&mut d, DeploymentStatus::default(), reason::NEW_RS, "True", 0);
        let rs = replica_set("new", 1, 0, 0);
        let s = rollout_status(&d, &[&rs], Some(&rs), at(10_000));
        assert!(util::condition(&s, reason::PROGRESSING).is_none());
        assert_eq!(requeue_after(&d, &s, at(10_000)), None);
    }
}
