//! What controllers that keep one object in every namespace share (the
//! service account controller, the root CA publisher): a namespace informer
//! that enqueues each namespace, the resync keys, and "is it still active".

use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use serde_json::Value;

use super::resource;
use super::runtime::{Cache, Change, Informer, WorkQueue};
use crate::client::Client;

/// A namespace informer that adds every created or changed namespace to `queue`.
pub fn namespace_informer(client: Client, queue: WorkQueue<String>) -> Informer {
    Informer::new(client, resource("", "namespaces")).on_change(move |change| {
        if let Change::Applied { new, .. } = change {
            if let Some(name) = new.name() {
                queue.add(name.to_string());
            }
        }
    })
}

/// The names of every namespace in `namespaces` (the resync keys).
pub fn all_names(namespaces: Cache) -> impl Fn() -> Vec<String> + Send + Sync + 'static {
    move || {
        namespaces
            .list()
            .iter()
            .filter_map(|ns| ns.name().map(String::from))
            .collect()
    }
}

/// The namespace `name` if it exists and is not going away (nothing is created in one that is).
pub fn active(namespaces: &Cache, name: &str) -> Option<Arc<Value>> {
    namespaces
        .get(None, name)
        .filter(|ns| ns.deletion_timestamp().is_none() && ns["status"]["phase"] != "Terminating")
}
