//! The service account controller: every active namespace has a `default`
//! ServiceAccount, created again when it is deleted.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use super::{per_namespace, resource};
use crate::api::Api;
use crate::client::Client;

/// The controller's name (its client identity and log name).
pub const NAME: &str = "service-account-controller";
/// The ServiceAccount every namespace gets.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// Settings of the service account controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// Namespaces handled at once.
    pub workers: usize,
    /// How often every namespace is looked at regardless.
    pub resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 1,
            resync: Duration::from_secs(300),
        }
    }
}

/// Starts the service account controller.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let namespaces = per_namespace::namespace_informer(client.clone(), queue.clone());
    let q = queue.clone();
    let accounts = Informer::new(client.clone(), resource("", "serviceaccounts"))
        .metadata_only()
        .on_change(move |change| {
            if let Change::Deleted(sa) = change {
                if let (Some(DEFAULT_SERVICE_ACCOUNT), Some(ns)) = (sa.name(), sa.namespace()) {
                    q.add(ns.to_string());
                }
            }
        });
    let ns_cache = namespaces.cache();
    let reconciler = Arc::new(ServiceAccounts {
        client,
        namespaces: ns_cache.clone(),
        accounts: accounts.cache(),
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![namespaces, accounts])
        .workers(config.workers)
        .resync(config.resync, per_namespace::all_names(ns_cache));
    tokio::spawn(controller.run(shutdown))
}

struct ServiceAccounts {
    client: Client,
    namespaces: Cache,
    accounts: Cache,
}

impl Reconciler for ServiceAccounts {
    type Key = String;

    async fn reconcile(&self, namespace: &String) -> anyhow::Result<Action> {
        if per_namespace::active(&self.namespaces, namespace).is_none() {
            return Ok(Action::Done);
        }
        if self.accounts.get(Some(namespace), DEFAULT_SERVICE_ACCOUNT).is_some() {
            return Ok(Action::Done);
        }
        let sa = json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": namespace},
        });
        match self
            .client
            .create(resource("", "serviceaccounts"), Some(namespace), &sa)
            .await
        {
            Ok(_) => Ok(Action::Done),
            // Created meanwhile, or the namespace is gone or terminating.
            Err(e) if e.is_already_exists() || e.is_not_found() || e.code == 403 => Ok(Action::Done),
            Err(e) => Err(e).with_context(|| format!("creating the default ServiceAccount in {namespace}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::{eventually, TestEnv};
    use serde_json::Value;

    #[tokio::test]
    async fn every_active_namespace_gets_a_default_service_account() {
        let env = TestEnv::new().await;
        let c = env.client();
        let (sas, namespaces) = (resource("", "serviceaccounts"), resource("", "namespaces"));
        env.create_namespace("early").await;
        env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
        let exists = |ns: &'static str| {
            let c = c.clone();
            async move { c.get(sas, Some(ns), DEFAULT_SERVICE_ACCOUNT).await.is_ok() }
        };
        eventually("existing namespaces", || async {
            exists("default").await && exists("early").await
        })
        .await;
        env.create_namespace("late").await;
        eventually("a new namespace", || exists("late")).await;

        let before = c.get(sas, Some("late"), DEFAULT_SERVICE_ACCOUNT).await.unwrap();
        c.delete(sas, Some("late"), DEFAULT_SERVICE_ACCOUNT, &Value::Null)
            .await
            .unwrap();
        eventually("recreated after deletion", || async {
            c.get(sas, Some("late"), DEFAULT_SERVICE_ACCOUNT)
                .await
                .is_ok_and(|sa| sa.uid() != before.uid())
        })
        .await;

        // A terminating namespace gets none.
        c.delete(namespaces, None, "early", &Value::Null).await.unwrap();
        c.delete(sas, Some("early"), DEFAULT_SERVICE_ACCOUNT, &Value::Null)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!exists("early").await);
    }
}
