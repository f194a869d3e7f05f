//! The Recreate strategy (Kubernetes' `recreate.go`): scale every old
//! ReplicaSet to zero, wait until none of their pods runs, then create and
//! scale up the new one.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::Value;

use super::util;
use super::Sync;
use crate::controllers::podutil;

/// `oldPodsRunning`: an old ReplicaSet still reports pods, or one of its
/// pods (in `pods`, by ReplicaSet uid) has not finished.
pub fn old_pods_running(
    new_rs: Option<&ReplicaSet>,
    old: &[&ReplicaSet],
    pods: &HashMap<String, Vec<Arc<Value>>>,
) -> bool {
    if util::actual_replica_count(old) > 0 {
        return true;
    }
    let new_uid = new_rs.and_then(|rs| rs.metadata.uid.as_deref());
    pods.iter()
        .filter(|(uid, _)| Some(uid.as_str()) != new_uid)
        .any(|(_, list)| {
            list.iter()
                .any(|p| !matches!(podutil::phase(p), "Failed" | "Succeeded"))
        })
}

impl Sync<'_> {
    /// `rolloutRecreate`: one step of a Recreate rollout.
    pub(super) async fn rollout_recreate(
        &mut self,
        rss: &mut Vec<ReplicaSet>,
        pods: &HashMap<String, Vec<Arc<Value>>>,
    ) -> anyhow::Result<()> {
        // No new ReplicaSet yet: nothing may scale up before the old ones are down.
        let (mut new_rs, mut old) = Box::pin(self.all_replica_sets(rss, false)).await?;
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let active: Vec<ReplicaSet> = util::active(&old_refs).into_iter().cloned().collect();
        let mut scaled_down = false;
        for rs in &active {
            let (scaled, _) = self.scale_and_record(rss, rs, 0).await?;
            scaled_down |= scaled;
        }
        if scaled_down {
            return self.sync_rollout_status(&old, new_rs.as_ref()).await;
        }
        if old_pods_running(new_rs.as_ref(), &old_refs, pods) {
            return self.sync_rollout_status(&old, new_rs.as_ref()).await;
        }
        if new_rs.is_none() {
            (new_rs, old) = Box::pin(self.all_replica_sets(rss, true)).await?;
        }
        if let Some(rs) = &new_rs {
            self.scale_and_record(rss, rs, util::replicas(&self.d)).await?;
        }
        let status = self.d.status.clone().unwrap_or_default();
        if util::deployment_complete(&self.d, &status) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&old, new_rs.as_ref()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deployment::util::tests::replica_set;
    use serde_json::json;

    fn pod(phase: &str) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": "p"}, "status": {"phase": phase}}))
    }

    #[test]
    fn old_pods_block_the_new_replica_set() {
        let new = replica_set("new", 3, 0, 10);
        let mut old = replica_set("old", 0, 0, 0);
        old.status.as_mut().unwrap().replicas = 0;
        let none = HashMap::new();
        assert!(!old_pods_running(Some(&new), &[&old], &none));
        // The old ReplicaSet still counts pods.
        let counting = replica_set("old", 0, 0, 0);
        let mut counting = counting;
        counting.status.as_mut().unwrap().replicas = 1;
        assert!(old_pods_running(Some(&new), &[&counting], &none));
        // A pod of the old ReplicaSet that has not finished (Pending, Running, Unknown).
        for (phase, running) in [
            ("Running", true),
            ("Pending", true),
            ("Unknown", true),
            ("Succeeded", false),
            ("Failed", false),
        ] {
            let pods = HashMap::from([("old-uid".to_string(), vec![pod(phase)])]);
            assert_eq!(old_pods_running(Some(&new), &[&old], &pods), running, "{phase}");
        }
        // The new ReplicaSet's own pods do not count.
        let pods = HashMap::from([("new-uid".to_string(), vec![pod("Running")])]);
        assert!(!old_pods_running(Some(&new), &[&old], &pods));
    }
}
