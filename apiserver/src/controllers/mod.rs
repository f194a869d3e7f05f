//! The controllers that run inside `k1s server`, on a shared runtime of
//! informers, work queues and level-triggered reconcilers (`runtime`).
//! Each reaches the API through the in-process client, never the store.

pub mod controller_ref;
pub mod cronjob;
pub mod event_ttl;
pub mod expectations;
pub mod garbage_collector;
pub mod job;
pub mod namespace;
pub mod per_namespace;
pub mod podutil;
pub mod root_ca;
pub mod runtime;
pub mod serviceaccount;
#[cfg(test)]
mod testing;
pub mod ttl_after_finished;

use std::sync::Arc;

use k1s_proto::resources::{storage_of, RESOURCES};
use k1s_proto::ResourceInfo;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::Api;

/// The storage-version entry of a resource of the built-in table.
fn resource(group: &str, plural: &str) -> &'static ResourceInfo {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
        .map(storage_of)
        .unwrap_or_else(|| panic!("the resource table lists {plural}"))
}

/// Starts every controller; they stop when `shutdown` turns true.
pub fn spawn_all(api: Arc<Api>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
        garbage_collector::spawn(api.clone(), garbage_collector::Config::default(), shutdown.clone()),
        namespace::spawn(api.clone(), namespace::Config::default(), shutdown.clone()),
        serviceaccount::spawn(api.clone(), serviceaccount::Config::default(), shutdown.clone()),
        root_ca::spawn(api.clone(), shutdown.clone()),
        job::spawn(api.clone(), job::Config::default(), shutdown.clone()),
        ttl_after_finished::spawn(api.clone(), shutdown.clone()),
        cronjob::spawn(api.clone(), shutdown.clone()),
        event_ttl::spawn(api, event_ttl::Config::default(), shutdown),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use testing::{eventually, TestEnv};

    #[test]
    fn resources_controllers_use_exist() {
        for (group, plural) in [
            ("", "namespaces"),
            ("", "serviceaccounts"),
            ("", "events"),
            ("", "pods"),
            ("apps", "replicasets"),
        ] {
            assert!(resource(group, plural).is_storage_version(), "{plural}");
        }
        assert_eq!(resource("autoscaling", "horizontalpodautoscalers").version, "v2");
    }

    #[tokio::test]
    async fn all_controllers_start_and_stop() {
        let env = TestEnv::new().await;
        let (stop, rx) = watch::channel(false);
        let handles = spawn_all(env.api.clone(), rx);
        assert_eq!(handles.len(), 8);
        let sa = resource("", "serviceaccounts");
        let c = env.client();
        eventually("controllers running", || async {
            c.get(sa, Some("default"), "default").await.is_ok()
        })
        .await;
        stop.send_replace(true);
        for h in handles {
            tokio::time::timeout(std::time::Duration::from_secs(5), h)
                .await
                .expect("stopped in time")
                .expect("no panic");
        }
    }
}
