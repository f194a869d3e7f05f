//! The controllers that run inside `k1s server`, on a shared runtime of
//! informers, work queues and level-triggered reconcilers (`runtime`).
//! Each reaches the API through the in-process client, never the store.

pub mod controller_ref;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslice_mirroring;
pub mod endpointutil;
pub mod event_ttl;
pub mod expectations;
pub mod garbage_collector;
pub mod history;
pub mod job;
pub mod namespace;
pub mod node_lifecycle;
pub mod per_namespace;
pub mod pod_control;
pub mod pod_owner;
pub mod podutil;
pub mod replicaset;
pub mod root_ca;
pub mod runtime;
pub mod scheduler;
pub mod service_lb;
pub mod serviceaccount;
pub mod slow_start;
pub mod statefulset;
pub mod status_pacer;
pub mod taint_eviction;
#[cfg(test)]
pub(crate) mod testing;
pub mod ttl_after_finished;
pub mod written_versions;

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

/// Which controllers run, as kube-controller-manager's `--controllers` list
/// says it: `*` for every controller, `name` to enable one, `-name` to
/// disable one (names are the controllers' `NAME`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(Vec<String>);

impl Default for Selection {
    fn default() -> Self {
        Selection(vec!["*".into()])
    }
}

/// The names `--controllers` knows.
pub const NAMES: &[&str] = &[
    garbage_collector::NAME,
    namespace::NAME,
    serviceaccount::NAME,
    root_ca::NAME,
    replicaset::NAME,
    deployment::NAME,
    statefulset::NAME,
    daemonset::NAME,
    endpoints::NAME,
    endpointslice::NAME,
    endpointslice_mirroring::NAME,
    service_lb::NAME,
    job::NAME,
    ttl_after_finished::NAME,
    cronjob::NAME,
    scheduler::NAME,
    node_lifecycle::NAME,
    disruption::NAME,
    taint_eviction::NAME,
    event_ttl::NAME,
];

impl Selection {
    /// Parses a comma-separated list, rejecting unknown names.
    pub fn parse(list: &str) -> anyhow::Result<Selection> {
        let items: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        for item in &items {
            let name = item.strip_prefix('-').unwrap_or(item);
            if name != "*" && !NAMES.contains(&name) {
                anyhow::bail!("unknown controller {name:?}; known: {}", NAMES.join(", "));
            }
        }
        Ok(Selection(items))
    }

    /// Whether the controller `name` runs.
    pub fn enabled(&self, name: &str) -> bool {
        if self.0.iter().any(|i| i.strip_prefix('-') == Some(name)) {
            return false;
        }
        self.0.iter().any(|i| i == name || i == "*")
    }
}

/// Starts the selected controllers; they stop when `shutdown` turns true.
pub fn spawn_all(api: Arc<Api>, selection: &Selection, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let (a, s) = (&api, &shutdown);
    let mut handles = Vec::new();
    let mut start = |name: &str, spawn: &dyn Fn() -> JoinHandle<()>| {
        if selection.enabled(name) {
            handles.push(spawn());
        }
    };
    start(garbage_collector::NAME, &|| {
        garbage_collector::spawn(a.clone(), garbage_collector::Config::default(), s.clone())
    });
    start(namespace::NAME, &|| {
        namespace::spawn(a.clone(), namespace::Config::default(), s.clone())
    });
    start(serviceaccount::NAME, &|| {
        serviceaccount::spawn(a.clone(), serviceaccount::Config::default(), s.clone())
    });
    start(root_ca::NAME, &|| root_ca::spawn(a.clone(), s.clone()));
    start(replicaset::NAME, &|| {
        replicaset::spawn(a.clone(), replicaset::Config::default(), s.clone())
    });
    start(deployment::NAME, &|| {
        deployment::spawn(a.clone(), deployment::Config::default(), s.clone())
    });
    start(statefulset::NAME, &|| {
        statefulset::spawn(a.clone(), statefulset::Config::default(), s.clone())
    });
    start(daemonset::NAME, &|| {
        daemonset::spawn(a.clone(), daemonset::Config::default(), s.clone())
    });
    start(endpoints::NAME, &|| {
        endpoints::spawn(a.clone(), endpoints::Config::default(), s.clone())
    });
    start(endpointslice::NAME, &|| {
        endpointslice::spawn(a.clone(), endpointslice::Config::default(), s.clone())
    });
    start(endpointslice_mirroring::NAME, &|| {
        endpointslice_mirroring::spawn(a.clone(), endpointslice_mirroring::Config::default(), s.clone())
    });
    start(service_lb::NAME, &|| {
        service_lb::spawn(a.clone(), service_lb::Config::default(), s.clone())
    });
    start(job::NAME, &|| job::spawn(a.clone(), job::Config::default(), s.clone()));
    start(ttl_after_finished::NAME, &|| {
        ttl_after_finished::spawn(a.clone(), s.clone())
    });
    start(cronjob::NAME, &|| cronjob::spawn(a.clone(), s.clone()));
    start(scheduler::NAME, &|| {
        scheduler::spawn(a.clone(), scheduler::Config::default(), s.clone())
    });
    start(node_lifecycle::NAME, &|| {
        node_lifecycle::spawn(a.clone(), node_lifecycle::Config::default(), s.clone())
    });
    start(disruption::NAME, &|| {
        disruption::spawn(a.clone(), disruption::Config::default(), s.clone())
    });
    start(taint_eviction::NAME, &|| taint_eviction::spawn(a.clone(), s.clone()));
    start(event_ttl::NAME, &|| {
        event_ttl::spawn(a.clone(), event_ttl::Config::default(), s.clone())
    });
    handles
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
            ("apps", "controllerrevisions"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("", "nodes"),
            ("", "persistentvolumeclaims"),
            ("", "endpoints"),
            ("discovery.k8s.io", "endpointslices"),
        ] {
            assert!(resource(group, plural).is_storage_version(), "{plural}");
        }
        assert_eq!(resource("autoscaling", "horizontalpodautoscalers").version, "v2");
    }

    #[test]
    fn selections_as_the_controllers_flag() {
        let all = Selection::default();
        assert!(NAMES.iter().all(|n| all.enabled(n)));
        let some = Selection::parse("*, -replicaset-controller").unwrap();
        assert!(!some.enabled(replicaset::NAME) && some.enabled(namespace::NAME));
        let only = Selection::parse("namespace-controller").unwrap();
        assert!(only.enabled(namespace::NAME) && !only.enabled(replicaset::NAME));
        assert!(Selection::parse("*,-nope").is_err());
        assert!(!Selection::parse("").unwrap().enabled(namespace::NAME));
    }

    #[tokio::test]
    async fn all_controllers_start_and_stop() {
        let env = TestEnv::new().await;
        let (stop, rx) = watch::channel(false);
        let handles = spawn_all(env.api.clone(), &Selection::default(), rx);
        assert_eq!(handles.len(), NAMES.len());
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
