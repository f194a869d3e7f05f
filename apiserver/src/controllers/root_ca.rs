//! The root CA publisher: every active namespace has a `kube-root-ca.crt`
//! ConfigMap holding the cluster CA (`ca.crt`), put back when deleted or changed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::runtime::{Action, Cache, Change, Controller, Informer, QueueConfig, Reconciler, WorkQueue};
use super::{per_namespace, resource};
use crate::api::Api;
use crate::client::Client;

/// The controller's name (its client identity and log name).
pub const NAME: &str = "root-ca-cert-publisher";
/// The ConfigMap every namespace gets.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";
/// Its description annotation, as Kubernetes writes it.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Starts the publisher; it does nothing when the API has no CA configured.
pub fn spawn(api: Arc<Api>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let Some(ca) = api.config.root_ca_pem.clone() else {
        return tokio::spawn(async {});
    };
    let client = Client::for_controller(api, NAME);
    let queue: WorkQueue<String> = WorkQueue::new(QueueConfig::default());
    let namespaces = per_namespace::namespace_informer(client.clone(), queue.clone());
    let q = queue.clone();
    let config_maps = Informer::new(client.clone(), resource("", "configmaps"))
        .metadata_only()
        .on_change(move |change| {
            let obj = match change {
                Change::Applied { new, .. } => new,
                Change::Deleted(old) => old,
            };
            if let (Some(CONFIG_MAP), Some(ns)) = (obj.name(), obj.namespace()) {
                q.add(ns.to_string());
            }
        });
    let ns_cache = namespaces.cache();
    let reconciler = Arc::new(Publisher {
        client,
        namespaces: ns_cache.clone(),
        ca,
    });
    let controller = Controller::new(NAME, reconciler, queue)
        .informers(vec![namespaces, config_maps])
        .workers(1)
        .resync(Duration::from_secs(300), per_namespace::all_names(ns_cache));
    tokio::spawn(controller.run(shutdown))
}

struct Publisher {
    client: Client,
    namespaces: Cache,
    ca: String,
}

impl Reconciler for Publisher {
    type Key = String;

    async fn reconcile(&self, namespace: &String) -> anyhow::Result<Action> {
        if per_namespace::active(&self.namespaces, namespace).is_none() {
            return Ok(Action::Done);
        }
        let cms = resource("", "configmaps");
        let current = match self.client.get(cms, Some(namespace), CONFIG_MAP).await {
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e).context("reading kube-root-ca.crt"),
        };
        let result = match current {
            None => {
                let cm = json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": CONFIG_MAP, "namespace": namespace,
                        "annotations": {"kubernetes.io/description": DESCRIPTION}},
                    "data": {"ca.crt": self.ca},
                });
                self.client.create(cms, Some(namespace), &cm).await.map(|_| ())
            }
            Some(mut cm) => {
                let data_ok = cm["data"] == json!({"ca.crt": self.ca});
                let note_ok = cm["metadata"]["annotations"]["kubernetes.io/description"] == DESCRIPTION;
                if data_ok && note_ok {
                    return Ok(Action::Done);
                }
                cm["data"] = json!({"ca.crt": self.ca});
                if let Some(meta) = cm["metadata"].as_object_mut() {
                    let notes = meta.entry("annotations").or_insert_with(|| json!({}));
                    if !notes.is_object() {
                        *notes = json!({});
                    }
                    notes["kubernetes.io/description"] = Value::from(DESCRIPTION);
                }
                self.client.update(cms, Some(namespace), &cm).await.map(|_| ())
            }
        };
        match result {
            Ok(()) => Ok(Action::Done),
            Err(e) if e.is_already_exists() || e.is_conflict() => Ok(Action::RequeueAfter(Duration::from_millis(100))),
            Err(e) if e.is_not_found() || e.code == 403 => Ok(Action::Done),
            Err(e) => Err(e).with_context(|| format!("publishing kube-root-ca.crt in {namespace}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::{eventually, TestEnv};

    #[tokio::test]
    async fn every_namespace_gets_the_ca() {
        let env = TestEnv::new().await;
        let c = env.client();
        let cms = resource("", "configmaps");
        env.create_namespace("dev").await;
        env.keep(spawn(env.api.clone(), env.shutdown()));
        let ca = env.api.config.root_ca_pem.clone().unwrap();
        let published = |ns: &'static str| {
            let c = c.clone();
            let ca = ca.clone();
            async move {
                c.get(cms, Some(ns), CONFIG_MAP)
                    .await
                    .is_ok_and(|cm| cm["data"]["ca.crt"] == ca.as_str())
            }
        };
        eventually("published", || async {
            published("default").await && published("dev").await
        })
        .await;
        c.delete(cms, Some("dev"), CONFIG_MAP, &Value::Null).await.unwrap();
        eventually("recreated", || published("dev")).await;
        let mut cm = c.get(cms, Some("dev"), CONFIG_MAP).await.unwrap();
        cm["data"]["ca.crt"] = json!("tampered");
        c.update(cms, Some("dev"), &cm).await.unwrap();
        eventually("restored", || published("dev")).await;
    }
}
