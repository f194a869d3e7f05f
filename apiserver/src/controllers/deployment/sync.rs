//! What every Deployment sync shares (Kubernetes' `sync.go`): finding or
//! creating the new ReplicaSet with its revision, scaling (proportionally
//! in the middle of a rollout), cleaning up old revisions, the paused
//! condition, and the status.

use anyhow::Context;
use k1s_proto::patch::go_quote;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use serde_json::Value;
use tracing::debug;

use super::util::{self, reason};
use super::Sync;
use crate::controllers::controller_ref::owner_reference;
use crate::controllers::pod_control::is_namespace_terminating;
use crate::controllers::resource;
use crate::events;

/// Go's `omitempty` for the status counts.
fn nz(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// `calculateStatus`: the counts over `all` ReplicaSets, the new one's as
/// updated replicas, and the `Available` condition.
pub fn calculate_status(
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
    now: jiff::Timestamp,
) -> DeploymentStatus {
    let available = util::available_replica_count(all);
    let unavailable = (util::replica_count(all) - available).max(0);
    let old = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation.filter(|g| *g != 0),
        replicas: nz(util::actual_replica_count(all)),
        updated_replicas: nz(util::actual_replica_count(&new_rs.into_iter().collect::<Vec<_>>())),
        ready_replicas: nz(util::ready_replica_count(all)),
        available_replicas: nz(available),
        unavailable_replicas: nz(unavailable),
        collision_count: old.collision_count,
        conditions: old.conditions,
        terminating_replicas: None,
    };
    let c = if available >= util::replicas(d) - util::max_unavailable(d) {
        util::new_condition(
            reason::AVAILABLE,
            "True",
            reason::MIN_AVAILABLE,
            "Deployment has minimum availability.",
            now,
        )
    } else {
        util::new_condition(
            reason::AVAILABLE,
            "False",
            reason::MIN_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        )
    };
    util::set_condition(&mut status, c);
    status
}

/// How `scale` resizes the active ReplicaSets of a rolling Deployment when
/// its size changed mid-rollout: each gets its share of the change in
/// proportion to its size (bigger first; newer first when growing, older
/// first when shrinking) and the first takes the rounding leftover.
/// Returns (uid, new size) in write order and "up" or "down".
pub fn proportional_sizes(d: &Deployment, active: &[&ReplicaSet]) -> (Vec<(String, i32)>, &'static str) {
    let allowed = if util::replicas(d) > 0 {
        util::replicas(d) + util::max_surge(d)
    } else {
        0
    };
    let to_add = allowed - util::replica_count(active);
    let mut sorted = active.to_vec();
    let op = match to_add {
        n if n > 0 => {
            sorted.sort_by(|a, b| util::by_size_newer(a, b));
            "up"
        }
        n if n < 0 => {
            sorted.sort_by(|a, b| util::by_size_older(a, b));
            "down"
        }
        _ => "",
    };
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = sorted
        .iter()
        .map(|rs| {
            let mut size = util::rs_replicas(rs);
            if to_add != 0 {
                let p = util::proportion(rs, d, to_add, added);
                size += p;
                added += p;
            }
            (rs.metadata.uid.clone().unwrap_or_default(), size)
        })
        .collect();
    if let Some(first) = sizes.first_mut() {
        if to_add != 0 {
            first.1 = (first.1 + to_add - added).max(0);
        }
    }
    (sizes, op)
}

impl Sync<'_> {
    /// `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when
    /// asked and missing) and every old one.
    pub(super) async fn all_replica_sets(
        &mut self,
        rss: &mut Vec<ReplicaSet>,
        create: bool,
    ) -> anyhow::Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let refs: Vec<&ReplicaSet> = rss.iter().collect();
        let old: Vec<ReplicaSet> = util::find_old_rss(&self.d, &refs).1.into_iter().cloned().collect();
        let new_rs = Box::pin(self.new_replica_set(rss, &old, create)).await?;
        Ok((new_rs, old))
    }

    /// `getNewReplicaSet`: the ReplicaSet with the Deployment's template, its
    /// annotations and revision brought up to date (and the Deployment's
    /// revision with it), or a new one when `create`.
    async fn new_replica_set(
        &mut self,
        rss: &mut Vec<ReplicaSet>,
        old: &[ReplicaSet],
        create: bool,
    ) -> anyhow::Result<Option<ReplicaSet>> {
        let refs: Vec<&ReplicaSet> = rss.iter().collect();
        let existing = util::find_new_rs(&self.d, &refs).cloned();
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let new_revision = (util::max_revision(&old_refs) + 1).to_string();
        let min_ready = util::min_ready_seconds(&self.d);

        if let Some(existing) = existing {
            let mut copy = existing.clone();
            let annotations_changed = util::set_new_rs_annotations(&self.d, &mut copy, &new_revision, true);
            let spec = copy.spec.get_or_insert_with(Default::default);
            if annotations_changed || spec.min_ready_seconds.unwrap_or(0) != min_ready {
                spec.min_ready_seconds = Some(min_ready).filter(|m| *m != 0);
                let written = self.update_rs(copy).await?;
                Self::replace(rss, &written);
                return Ok(Some(written));
            }
            let revision = copy
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(util::REVISION))
                .cloned()
                .unwrap_or_default();
            let mut needs_update = util::set_deployment_revision(&mut self.d, &revision);
            let mut status = self.d.status.clone().unwrap_or_default();
            if util::progress_deadline(&self.d).is_some() && util::condition(&status, reason::PROGRESSING).is_none() {
                let msg = format!("Found new replica set {}", go_quote(name(&copy)));
                util::set_condition(
                    &mut status,
                    util::new_condition(reason::PROGRESSING, "True", reason::FOUND_NEW_RS, &msg, self.now),
                );
                self.d.status = Some(status);
                needs_update = true;
            }
            if needs_update {
                self.update_status().await?;
            }
            return Ok(Some(copy));
        }
        if !create {
            return Ok(None);
        }

        // No ReplicaSet has the template: create one named after its hash.
        let spec = self.d.spec.clone().unwrap_or_default();
        let collision_count = self.d.status.as_ref().and_then(|s| s.collision_count);
        let mut template = spec.template.clone();
        let hash = util::pod_template_hash(&template, collision_count);
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(util::POD_TEMPLATE_HASH.into(), hash.clone());
        let mut selector: LabelSelector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(util::POD_TEMPLATE_HASH.into(), hash.clone());
        let owner: OwnerReference = serde_json::from_value(owner_reference(&self.obj))?;
        let rs_name = format!("{}-{hash}", self.name());
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(rs_name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: Some(vec![owner]),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: Some(min_ready).filter(|m| *m != 0),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let replicas = {
            let mut all: Vec<&ReplicaSet> = old_refs.clone();
            all.push(&new_rs);
            util::new_rs_new_replicas(&self.d, &all, &new_rs)?
        };
        util::set_rs_replicas(&mut new_rs, replicas);
        util::set_new_rs_annotations(&self.d, &mut new_rs, &new_revision, false);

        if self.ctl.rs_pending(self.namespace(), &rs_name) {
            // Created by an earlier sync, not cached yet: its event syncs again.
            return Ok(None);
        }
        let info = resource("apps", "replicasets");
        let body = serde_json::to_value(&new_rs)?;
        let (created, already_existed) = match self.ctl.client.create(info, self.namespace(), &body).await {
            Ok(v) => {
                self.ctl.wrote_rs(self.namespace(), &rs_name, Some(&v));
                (serde_json::from_value::<ReplicaSet>(v)?, false)
            }
            Err(e) if e.is_already_exists() => {
                // A slow cache, or a hash collision with someone else's ReplicaSet.
                let Some(found) = self.ctl.replicasets.get(self.namespace(), &rs_name) else {
                    return Err(e).context("the new ReplicaSet exists but is not cached yet");
                };
                let found: ReplicaSet = serde_json::from_value((*found).clone())?;
                let ours = found
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.controller == Some(true) && Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = util::equal_ignore_hash(
                    &spec.template,
                    &found.spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default(),
                );
                if ours && same {
                    (found, true)
                } else {
                    let mut status = self.d.status.clone().unwrap_or_default();
                    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                    self.d.status = Some(status);
                    if self.update_status().await.is_ok() {
                        debug!(deployment = self.name(), "hash collision; collisionCount bumped");
                    }
                    return Err(e).context("the new ReplicaSet's name is taken");
                }
            }
            Err(e) if is_namespace_terminating(&e) => return Err(e.into()),
            Err(e) => {
                let msg = format!("Failed to create new replica set {}: {}", go_quote(&rs_name), e.message);
                if util::progress_deadline(&self.d).is_some() {
                    let mut status = self.d.status.clone().unwrap_or_default();
                    util::set_condition(
                        &mut status,
                        util::new_condition(reason::PROGRESSING, "False", reason::FAILED_RS_CREATE, &msg, self.now),
                    );
                    self.d.status = Some(status);
                    // The create error is what matters; this write is best effort.
                    let _ = self.update_status().await;
                }
                self.event(events::WARNING, reason::FAILED_RS_CREATE, msg);
                return Err(e.into());
            }
        };
        rss.push(created.clone());
        if !already_existed && replicas > 0 {
            self.event(
                events::NORMAL,
                "ScalingReplicaSet",
                format!("Scaled up replica set {} from 0 to {replicas}", name(&created)),
            );
        }
        let mut needs_update = util::set_deployment_revision(&mut self.d, &new_revision);
        if !already_existed && util::progress_deadline(&self.d).is_some() {
            let msg = format!("Created new replica set {}", go_quote(name(&created)));
            let mut status = self.d.status.clone().unwrap_or_default();
            util::set_condition(
                &mut status,
                util::new_condition(reason::PROGRESSING, "True", reason::NEW_RS, &msg, self.now),
            );
            self.d.status = Some(status);
            needs_update = true;
        }
        if needs_update {
            self.update_status().await?;
        }
        Ok(Some(created))
    }

    /// Writes a ReplicaSet (its resourceVersion guards against stale copies).
    pub(super) async fn update_rs(&self, rs: ReplicaSet) -> anyhow::Result<ReplicaSet> {
        let body = serde_json::to_value(&rs)?;
        let written = self
            .ctl
            .client
            .update(resource("apps", "replicasets"), self.namespace(), &body)
            .await
            .with_context(|| format!("updating ReplicaSet {}", name(&rs)))?;
        self.ctl.wrote_rs(self.namespace(), name(&rs), Some(&written));
        Ok(serde_json::from_value(written)?)
    }

    /// `scaleReplicaSetAndRecordEvent`: scales `rs` to `new_scale` unless it is that size.
    pub(super) async fn scale_and_record(
        &mut self,
        rss: &mut [ReplicaSet],
        rs: &ReplicaSet,
        new_scale: i32,
    ) -> anyhow::Result<(bool, ReplicaSet)> {
        let current = util::rs_replicas(rs);
        if current == new_scale {
            return Ok((false, rs.clone()));
        }
        let op = if current < new_scale { "up" } else { "down" };
        Box::pin(self.scale_rs(rss, rs, new_scale, op)).await
    }

    /// `scaleReplicaSet`: writes the size and the desired/max replicas
    /// annotations when either changed; records `ScalingReplicaSet` when the size did.
    pub(super) async fn scale_rs(
        &mut self,
        rss: &mut [ReplicaSet],
        rs: &ReplicaSet,
        new_scale: i32,
        op: &str,
    ) -> anyhow::Result<(bool, ReplicaSet)> {
        let old_scale = util::rs_replicas(rs);
        let size_changes = old_scale != new_scale;
        let desired = util::replicas(&self.d);
        let max = desired + util::max_surge(&self.d);
        if !size_changes && !util::replicas_annotations_need_update(rs, desired, max) {
            return Ok((false, rs.clone()));
        }
        let mut copy = rs.clone();
        util::set_rs_replicas(&mut copy, new_scale);
        util::set_replicas_annotations(&mut copy, desired, max);
        let written = self.update_rs(copy).await?;
        Self::replace(rss, &written);
        if size_changes {
            self.event(
                events::NORMAL,
                "ScalingReplicaSet",
                format!(
                    "Scaled {op} replica set {} from {old_scale} to {new_scale}",
                    name(&written)
                ),
            );
        }
        Ok((size_changes, written))
    }

    /// `scale`: brings the ReplicaSets to the Deployment's size without
    /// advancing a rollout (paused, or a scaling event).
    async fn scale(
        &mut self,
        rss: &mut [ReplicaSet],
        new_rs: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> anyhow::Result<()> {
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let replicas = util::replicas(&self.d);
        if let Some(only) = util::find_active_or_latest(new_rs, &old_refs).cloned() {
            if util::rs_replicas(&only) != replicas {
                self.scale_and_record(rss, &only, replicas).await?;
            }
            return Ok(());
        }
        if util::is_saturated(&self.d, new_rs) {
            for rs in util::active(&old_refs) {
                self.scale_and_record(rss, rs, 0).await?;
            }
            return Ok(());
        }
        if util::is_rolling_update(&self.d) {
            let mut all = old_refs.clone();
            all.extend(new_rs);
            let active = util::active(&all);
            let (sizes, op) = proportional_sizes(&self.d, &active);
            for (uid, size) in sizes {
                let Some(rs) = rss
                    .iter()
                    .find(|r| r.metadata.uid.as_deref() == Some(uid.as_str()))
                    .cloned()
                else {
                    continue;
                };
                self.scale_rs(rss, &rs, size, op).await?;
            }
        }
        Ok(())
    }

    /// `sync`: scaling while paused or on a scaling event, without rolling.
    pub(super) async fn sync(&mut self, rss: &mut Vec<ReplicaSet>) -> anyhow::Result<()> {
        let (new_rs, old) = self.all_replica_sets(rss, false).await?;
        Box::pin(self.scale(rss, new_rs.as_ref(), &old)).await?;
        if util::paused(&self.d) {
            Box::pin(self.cleanup(&old)).await?;
        }
        Box::pin(self.sync_deployment_status(&old, new_rs.as_ref())).await
    }

    /// `syncStatusOnly`: a Deployment being deleted only reports.
    pub(super) async fn sync_status_only(&mut self, rss: &mut Vec<ReplicaSet>) -> anyhow::Result<()> {
        let (new_rs, old) = self.all_replica_sets(rss, false).await?;
        self.sync_deployment_status(&old, new_rs.as_ref()).await
    }

    /// `isScalingEvent`: an active ReplicaSet was sized for another `spec.replicas`.
    pub(super) async fn is_scaling_event(&mut self, rss: &mut Vec<ReplicaSet>) -> anyhow::Result<bool> {
        let (new_rs, old) = self.all_replica_sets(rss, false).await?;
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.extend(new_rs.as_ref());
        let replicas = util::replicas(&self.d);
        Ok(util::active(&all).iter().any(|rs| {
            rs.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(util::DESIRED_REPLICAS))
                .and_then(|v| v.parse::<i32>().ok())
                .is_some_and(|desired| desired != replicas)
        }))
    }

    /// `checkPausedConditions`: `Progressing` turns Unknown with
    /// `DeploymentPaused` (and `DeploymentResumed` after), so a long pause
    /// never counts against the progress deadline.
    pub(super) async fn check_paused_conditions(&mut self) -> anyhow::Result<()> {
        if util::progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let mut status = self.d.status.clone().unwrap_or_default();
        let cond = util::condition(&status, reason::PROGRESSING);
        if cond.is_some_and(|c| c.reason.as_deref() == Some(reason::TIMED_OUT)) {
            return Ok(());
        }
        let paused_cond = cond.is_some_and(|c| c.reason.as_deref() == Some(reason::PAUSED));
        let paused = util::paused(&self.d);
        let c = if paused && !paused_cond {
            util::new_condition(
                reason::PROGRESSING,
                "Unknown",
                reason::PAUSED,
                "Deployment is paused",
                self.now,
            )
        } else if !paused && paused_cond {
            util::new_condition(
                reason::PROGRESSING,
                "Unknown",
                reason::RESUMED,
                "Deployment is resumed",
                self.now,
            )
        } else {
            return Ok(());
        };
        util::set_condition(&mut status, c);
        self.d.status = Some(status);
        self.update_status().await?;
        Ok(())
    }

    /// `cleanupDeployment`: deletes the oldest old ReplicaSets beyond
    /// `revisionHistoryLimit` (only empty, settled ones).
    pub(super) async fn cleanup(&mut self, old: &[ReplicaSet]) -> anyhow::Result<()> {
        let Some(limit) = util::revision_history_limit(&self.d) else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| util::by_revision(a, b));
        for rs in cleanable.into_iter().take(diff as usize) {
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
            if util::rs_status_replicas(rs) != 0
                || util::rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            match self
                .ctl
                .client
                .delete(
                    resource("apps", "replicasets"),
                    self.namespace(),
                    name(rs),
                    &Value::Null,
                )
                .await
            {
                Ok(_) => self.ctl.wrote_rs(self.namespace(), name(rs), None),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e).with_context(|| format!("deleting old ReplicaSet {}", name(rs))),
            }
        }
        Ok(())
    }

    /// `syncDeploymentStatus`: writes the calculated status when it changed.
    pub(super) async fn sync_deployment_status(
        &mut self,
        old: &[ReplicaSet],
        new_rs: Option<&ReplicaSet>,
    ) -> anyhow::Result<()> {
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.extend(new_rs);
        let status = calculate_status(&all, new_rs, &self.d, self.now);
        if self.d.status.as_ref() == Some(&status) || self.status_write_can_wait(&status) {
            return Ok(());
        }
        self.d.status = Some(status);
        self.update_status().await?;
        Ok(())
    }
}

/// A ReplicaSet's name.
pub fn name(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deployment::util::tests::{deployment, replica_set};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn annotated(name: &str, replicas: i32, created: i64, desired: i32, max: i32) -> ReplicaSet {
        let mut rs = replica_set(name, replicas, replicas, created);
        util::set_replicas_annotations(&mut rs, desired, max);
        rs
    }

    fn sizes(d: &Deployment, rss: &[&ReplicaSet]) -> (Vec<(String, i32)>, &'static str) {
        let (s, op) = proportional_sizes(d, rss);
        (
            s.into_iter()
                .map(|(uid, n)| (uid.trim_end_matches("-uid").to_string(), n))
                .collect(),
            op,
        )
    }

    fn v(pairs: &[(&str, i32)]) -> Vec<(String, i32)> {
        pairs.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    #[test]
    fn proportional_scaling_as_kubernetes_sync_tests() {
        let zero = || IntOrString::Int(0);
        // (name, new size, [(rs, replicas, created)], old size, want in write order)
        type Case<'a> = (
            &'a str,
            i32,
            Vec<(&'a str, i32, i64)>,
            i32,
            Vec<(&'a str, i32)>,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                "5 -> 10",
                10,
                vec![("v2", 2, 20), ("v1", 3, 10)],
                5,
                vec![("v1", 6), ("v2", 4)],
                "up",
            ),
            (
                "5 -> 3",
                3,
                vec![("v2", 2, 20), ("v1", 3, 10)],
                5,
                vec![("v1", 2), ("v2", 1)],
                "down",
            ),
            (
                "9 -> 4",
                4,
                vec![("v2", 8, 20), ("v1", 1, 10)],
                9,
                vec![("v2", 4), ("v1", 0)],
                "down",
            ),
            (
                "7 -> 10",
                10,
                vec![("v3", 2, 30), ("v2", 3, 20), ("v1", 2, 10)],
                7,
                vec![("v2", 4), ("v3", 3), ("v1", 3)],
                "up",
            ),
            (
                "13 -> 8",
                8,
                vec![("v3", 2, 30), ("v2", 8, 20), ("v1", 3, 10)],
                13,
                vec![("v2", 5), ("v1", 2), ("v3", 1)],
                "down",
            ),
            (
                "leftover to the newest: 3 -> 4",
                4,
                vec![("v3", 1, 30), ("v2", 1, 20), ("v1", 1, 10)],
                3,
                vec![("v3", 2), ("v2", 1), ("v1", 1)],
                "up",
            ),
            (
                "leftover to the biggest: 19 -> 20",
                20,
                vec![("v3", 4, 30), ("v2", 6, 20), ("v1", 9, 10)],
                19,
                vec![("v1", 10), ("v2", 6), ("v3", 4)],
                "up",
            ),
            (
                "to zero",
                0,
                vec![("v2", 2, 20), ("v1", 3, 10)],
                5,
                vec![("v1", 0), ("v2", 0)],
                "down",
            ),
        ];
        for (what, new_size, rss, old_size, want, want_op) in cases {
            let d = deployment(new_size, zero(), zero());
            let owned: Vec<ReplicaSet> = rss
                .iter()
                .map(|(n, r, c)| annotated(n, *r, *c, old_size, old_size))
                .collect();
            let refs: Vec<&ReplicaSet> = owned.iter().collect();
            assert_eq!(sizes(&d, &refs), (v(&want), want_op), "{what}");
        }
    }

    #[test]
    fn status_counts_and_availability() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        // 10 replicas, 25 % each way: at least 8 must be available.
        let d = deployment(10, IntOrString::String("25%".into()), IntOrString::String("25%".into()));
        let old = replica_set("old", 5, 5, 0);
        let new = replica_set("new", 7, 3, 10);
        let s = calculate_status(&[&old, &new], Some(&new), &d, now);
        assert_eq!(
            (
                s.replicas,
                s.updated_replicas,
                s.ready_replicas,
                s.available_replicas,
                s.unavailable_replicas
            ),
            (Some(12), Some(7), Some(8), Some(8), Some(4))
        );
        assert_eq!(s.observed_generation, Some(1));
        let c = util::condition(&s, reason::AVAILABLE).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("True", Some(reason::MIN_AVAILABLE))
        );
        assert_eq!(c.message.as_deref(), Some("Deployment has minimum availability."));

        let thin = replica_set("new", 7, 2, 10);
        let s = calculate_status(&[&old, &thin], Some(&thin), &d, now);
        let c = util::condition(&s, reason::AVAILABLE).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some(reason::MIN_UNAVAILABLE))
        );
        // More available than wanted: never negative unavailable; zeros omitted.
        let empty = calculate_status(&[], None, &deployment(0, IntOrString::Int(1), IntOrString::Int(0)), now);
        assert_eq!((empty.replicas, empty.unavailable_replicas), (None, None));
    }
}
