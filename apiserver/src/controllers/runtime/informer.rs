//! Informers: list a resource, then watch it from the list's resourceVersion,
//! keeping a shared read-only cache and telling handlers what changed.
//!
//! The watch loop is a small state machine (as kube-rs' watcher and client-go's
//! reflector): *empty* → list → *listed(rv)* → watch → *watching(rv)*; a closed
//! stream resumes the watch from the last resourceVersion seen (bookmarks keep
//! it fresh); a `410 Expired` (the revision was compacted) starts over with a list.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k1s_proto::meta::ObjectMeta;
use k1s_proto::{ApiError, ResourceInfo};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::{wait_shutdown, QueueConfig};
use crate::client::{Client, WatchEvent};

/// The cache key of an object: `namespace/name`, or `name` when cluster-scoped.
pub fn cache_key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

fn key_of_object(obj: &Value) -> Option<String> {
    obj.name().map(|name| cache_key(obj.namespace(), name))
}

/// A read-only view of the objects an informer has seen, shared by many readers.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<CacheInner>,
}

struct CacheInner {
    objects: RwLock<HashMap<String, Arc<Value>>>,
    synced: watch::Sender<bool>,
    lists: AtomicU64,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            inner: Arc::new(CacheInner {
                objects: RwLock::new(HashMap::new()),
                synced: watch::channel(false).0,
                lists: AtomicU64::new(0),
            }),
        }
    }
}

impl Cache {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Arc<Value>>> {
        // Writers replace whole entries, so a poisoned lock still holds a consistent map.
        self.inner.objects.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Arc<Value>>> {
        self.inner.objects.write().unwrap_or_else(|p| p.into_inner())
    }

    /// One object.
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<Value>> {
        self.read().get(&cache_key(namespace, name)).cloned()
    }

    /// Every object.
    pub fn list(&self) -> Vec<Arc<Value>> {
        self.read().values().cloned().collect()
    }

    /// The objects of one namespace.
    pub fn list_in(&self, namespace: &str) -> Vec<Arc<Value>> {
        self.read()
            .values()
            .filter(|o| o.namespace() == Some(namespace))
            .cloned()
            .collect()
    }

    /// How many objects are cached.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the first list has been loaded.
    pub fn is_synced(&self) -> bool {
        *self.inner.synced.borrow()
    }

    /// How many full lists have been loaded (1 + re-lists after expired watches).
    pub fn lists(&self) -> u64 {
        self.inner.lists.load(Ordering::Relaxed)
    }

    /// A synced cache holding `objects` (for tests of code that reads caches).
    #[cfg(test)]
    pub fn of(objects: impl IntoIterator<Item = Value>) -> Cache {
        let cache = Cache::default();
        {
            let mut map = cache.write();
            for o in objects {
                if let Some(key) = key_of_object(&o) {
                    map.insert(key, Arc::new(o));
                }
            }
        }
        cache.inner.synced.send_replace(true);
        cache
    }

    /// Waits until the first list has been loaded.
    pub async fn wait_synced(&self) {
        let mut rx = self.inner.synced.subscribe();
        // The sender lives in `self`, so this only ends once synced.
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// A change an informer applied to its cache.
#[derive(Debug, Clone)]
pub enum Change {
    /// An object was added or changed (`old` is its previous cached state).
    Applied {
        /// The previous state, if the object was cached.
        old: Option<Arc<Value>>,
        /// The new state.
        new: Arc<Value>,
    },
    /// An object was removed; its last known state.
    Deleted(Arc<Value>),
}

type Handler = Box<dyn Fn(&Change) + Send + Sync>;
type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, ApiError>> + Send>>;

/// Settings of an informer.
#[derive(Debug, Clone)]
pub struct InformerConfig {
    /// Objects per list page.
    pub page_size: usize,
    /// Back-off between failed lists or watches.
    pub retry: QueueConfig,
}

impl Default for InformerConfig {
    fn default() -> Self {
        InformerConfig {
            page_size: 500,
            retry: QueueConfig {
                capacity: 1,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(30),
            },
        }
    }
}

/// Lists and watches one resource (in all namespaces) into a [`Cache`].
pub struct Informer {
    client: Client,
    info: &'static ResourceInfo,
    cache: Cache,
    handlers: Vec<Handler>,
    metadata_only: bool,
    config: InformerConfig,
    /// Extra list/watch query parameters (e.g. a field selector).
    query: String,
}

enum State {
    Empty,
    Listed(String),
    Watching {
        rv: String,
        stream: WatchStream,
        since: Instant,
        events: u64,
    },
}

impl Informer {
    /// An informer over `info` (all namespaces).
    pub fn new(client: Client, info: &'static ResourceInfo) -> Informer {
        Informer {
            client,
            info,
            cache: Cache::default(),
            handlers: Vec::new(),
            metadata_only: false,
            config: InformerConfig::default(),
            query: String::new(),
        }
    }

    /// Lists and watches only what `query` selects: raw query parameters such
    /// as `fieldSelector=spec.nodeName%3Dnode1` (already percent-encoded).
    pub fn with_query(mut self, query: &str) -> Informer {
        self.query = query.to_string();
        self
    }

    fn extra_query(&self) -> String {
        if self.query.is_empty() {
            String::new()
        } else {
            format!("&{}", self.query)
        }
    }

    /// Keeps only `metadata` of each object in the cache (as a metadata informer).
    pub fn metadata_only(mut self) -> Informer {
        self.metadata_only = true;
        self
    }

    /// Replaces the list page size and retry back-off.
    pub fn with_config(mut self, config: InformerConfig) -> Informer {
        self.config = config;
        self
    }

    /// Adds a handler, called after the cache has applied each change.
    /// Handlers run on the informer's task: keep them short (enqueue keys).
    pub fn on_change(mut self, handler: impl Fn(&Change) + Send + Sync + 'static) -> Informer {
        self.handlers.push(Box::new(handler));
        self
    }

    /// The resource this informer watches.
    pub fn info(&self) -> &'static ResourceInfo {
        self.info
    }

    /// The cache this informer fills.
    pub fn cache(&self) -> Cache {
        self.cache.clone()
    }

    /// Lists and watches until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut state = State::Empty;
        let mut failures = 0u32;
        loop {
            tokio::select! {
                biased;
                _ = wait_shutdown(&mut shutdown) => return,
                next = self.step(state, &mut failures) => state = next,
            }
        }
    }

    async fn backoff(&self, failures: &mut u32) {
        *failures = failures.saturating_add(1);
        tokio::time::sleep(self.config.retry.backoff(*failures)).await;
    }

    async fn step(&self, state: State, failures: &mut u32) -> State {
        let plural = self.info.plural;
        match state {
            State::Empty => match self.list_all().await {
                Ok((items, rv)) => {
                    *failures = 0;
                    self.replace(items);
                    State::Listed(rv)
                }
                Err(e) => {
                    warn!(resource = plural, error = %e, "informer list failed");
                    self.backoff(failures).await;
                    State::Empty
                }
            },
            State::Listed(rv) => {
                let query = format!("resourceVersion={rv}&allowWatchBookmarks=true{}", self.extra_query());
                match self.client.watch(self.info, None, &query).await {
                    Ok(s) => State::Watching {
                        rv,
                        stream: Box::pin(s),
                        since: Instant::now(),
                        events: 0,
                    },
                    Err(e) if e.code == 410 => State::Empty,
                    Err(e) => {
                        warn!(resource = plural, error = %e, "informer watch failed");
                        self.backoff(failures).await;
                        State::Listed(rv)
                    }
                }
            }
            State::Watching {
                rv,
                mut stream,
                since,
                events,
            } => match stream.next().await {
                Some(Ok(ev)) => match self.apply_event(ev) {
                    Ok(new_rv) => {
                        *failures = 0;
                        State::Watching {
                            rv: new_rv.unwrap_or(rv),
                            stream,
                            since,
                            events: events + 1,
                        }
                    }
                    Err(e) if e.code == 410 => {
                        debug!(resource = plural, "watch expired; listing again");
                        State::Empty
                    }
                    Err(e) => {
                        warn!(resource = plural, error = %e, "watch error");
                        self.backoff(failures).await;
                        State::Listed(rv)
                    }
                },
                Some(Err(e)) => {
                    warn!(resource = plural, error = %e, "undecodable watch event");
                    self.backoff(failures).await;
                    State::Listed(rv)
                }
                None => {
                    // A stream that ends at once, repeatedly, must not spin.
                    if events == 0 && since.elapsed() < Duration::from_secs(1) {
                        self.backoff(failures).await;
                    }
                    State::Listed(rv)
                }
            },
        }
    }

    /// Lists every page; returns the items and the first page's resourceVersion
    /// (watching from it replays whatever changed while later pages were read).
    async fn list_all(&self) -> Result<(Vec<Value>, String), ApiError> {
        let mut items = Vec::new();
        let mut rv = None;
        let mut token: Option<String> = None;
        loop {
            let mut query = format!("limit={}{}", self.config.page_size.max(1), self.extra_query());
            if let Some(t) = &token {
                query.push_str("&continue=");
                query.push_str(
                    &percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string(),
                );
            }
            let mut page = self.client.list(self.info, None, &query).await?;
            rv.get_or_insert_with(|| page["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string());
            if let Some(list) = page.get_mut("items").and_then(Value::as_array_mut) {
                items.append(list);
            }
            match page["metadata"]["continue"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok((items, rv.unwrap_or_else(|| "0".into())))
    }

    /// What the cache keeps of an object: its metadata only, or all of it
    /// with `apiVersion`/`kind` (list items come without them) so that owner
    /// references and events can be made from any cached object.
    fn shape(&self, mut obj: Value) -> Value {
        if self.metadata_only {
            return json!({"metadata": obj.get("metadata").cloned().unwrap_or(Value::Null)});
        }
        if let Some(m) = obj.as_object_mut() {
            if !m.contains_key("kind") {
                m.insert("apiVersion".into(), json!(self.info.api_version()));
                m.insert("kind".into(), json!(self.info.kind));
            }
        }
        obj
    }

    /// Replaces the cache with a fresh list, telling handlers what differs.
    fn replace(&self, items: Vec<Value>) {
        let mut fresh = HashMap::with_capacity(items.len());
        for item in items {
            if let Some(key) = key_of_object(&item) {
                fresh.insert(key, Arc::new(self.shape(item)));
            }
        }
        let mut changes = Vec::new();
        {
            let mut objects = self.cache.write();
            for (key, old) in objects.iter() {
                if !fresh.contains_key(key) {
                    changes.push(Change::Deleted(old.clone()));
                }
            }
            for (key, new) in &fresh {
                let old = objects.get(key);
                if old.is_none_or(|o| o.resource_version() != new.resource_version()) {
                    changes.push(Change::Applied {
                        old: old.cloned(),
                        new: new.clone(),
                    });
                }
            }
            *objects = fresh;
        }
        self.cache.inner.lists.fetch_add(1, Ordering::Relaxed);
        self.cache.inner.synced.send_replace(true);
        for change in &changes {
            self.notify(change);
        }
    }

    /// Applies one watch event; returns the resourceVersion it carries.
    fn apply_event(&self, ev: WatchEvent) -> Result<Option<String>, Box<ApiError>> {
        let rv = ev.object.resource_version().map(String::from);
        match ev.event_type.as_str() {
            "ADDED" | "MODIFIED" => {
                let Some(key) = key_of_object(&ev.object) else {
                    return Ok(rv);
                };
                let new = Arc::new(self.shape(ev.object));
                let old = self.cache.write().insert(key, new.clone());
                self.notify(&Change::Applied { old, new });
            }
            "DELETED" => {
                let Some(key) = key_of_object(&ev.object) else {
                    return Ok(rv);
                };
                let removed = self.cache.write().remove(&key);
                let last = removed.unwrap_or_else(|| Arc::new(self.shape(ev.object)));
                self.notify(&Change::Deleted(last));
            }
            "BOOKMARK" => {}
            "ERROR" => return Err(Box::new(ApiError::from_status(&ev.object))),
            other => debug!(resource = self.info.plural, event = other, "unknown watch event type"),
        }
        Ok(rv)
    }

    fn notify(&self, change: &Change) {
        for h in &self.handlers {
            h(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::{eventually, TestEnv};
    use crate::store::Store;
    use k1s_proto::resources::find;
    use std::sync::Mutex;

    fn configmap(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    }

    /// Starts an informer over configmaps that records every change.
    fn start(env: &TestEnv) -> (Cache, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let cms = find("", "v1", "configmaps").unwrap();
        let config = InformerConfig {
            page_size: 2,
            ..InformerConfig::default()
        };
        let informer = Informer::new(env.client(), cms)
            .with_config(config)
            .on_change(move |c| {
                let entry = match c {
                    Change::Applied { old: None, new } => {
                        format!("add {}", new.name().unwrap_or(""))
                    }
                    Change::Applied { new, .. } => format!("update {}", new.name().unwrap_or("")),
                    Change::Deleted(o) => format!("delete {}", o.name().unwrap_or("")),
                };
                log.lock().unwrap().push(entry);
            });
        let cache = informer.cache();
        env.spawn(informer.run(env.shutdown()));
        (cache, seen)
    }

    #[tokio::test]
    async fn lists_pages_then_follows_the_watch() {
        let env = TestEnv::new().await;
        let cms = find("", "v1", "configmaps").unwrap();
        for n in ["a", "b", "c"] {
            env.client().create(cms, Some("default"), &configmap(n)).await.unwrap();
        }
        let (cache, seen) = start(&env);
        eventually("synced", || async { cache.is_synced() }).await;
        assert_eq!(cache.len(), 3);
        let listed = cache.get(Some("default"), "a").unwrap();
        assert_eq!(
            (&listed["apiVersion"], &listed["kind"]),
            (&json!("v1"), &json!("ConfigMap")),
            "typed from a list"
        );
        env.client()
            .create(cms, Some("default"), &configmap("d"))
            .await
            .unwrap();
        env.client()
            .delete(cms, Some("default"), "a", &Value::Null)
            .await
            .unwrap();
        eventually("watch applied", || async {
            cache.get(Some("default"), "d").is_some() && cache.get(Some("default"), "a").is_none()
        })
        .await;
        let log = seen.lock().unwrap().clone();
        assert_eq!(&log[3..], ["add d", "delete a"]);
    }

    #[tokio::test]
    async fn resumes_a_closed_watch_and_lists_again_after_410() {
        let env = TestEnv::new().await;
        let cms = find("", "v1", "configmaps").unwrap();
        env.client()
            .create(cms, Some("default"), &configmap("old"))
            .await
            .unwrap();
        let (cache, seen) = start(&env);
        eventually("synced", || async { cache.is_synced() }).await;

        // A closed stream resumes from the last resourceVersion: nothing is missed.
        env.store.disconnect_watchers();
        env.client()
            .create(cms, Some("default"), &configmap("after-close"))
            .await
            .unwrap();
        eventually("resumed", || async {
            cache.get(Some("default"), "after-close").is_some()
        })
        .await;

        assert_eq!(cache.lists(), 1, "a closed stream resumes without a list");

        // Changes compacted away while the watch is down come back with a list.
        // (Written to the store directly: nothing here yields, so the informer
        // cannot resume before the compaction and must get a 410.)
        env.store.disconnect_watchers();
        let old_key = cms.storage_key(Some("default"), "old");
        env.store.delete(&old_key, None).await.unwrap();
        let mut new = configmap("new");
        new["metadata"]["uid"] = json!("u-new");
        env.store
            .create(&cms.storage_key(Some("default"), "new"), new)
            .await
            .unwrap();
        env.store.compact(env.store.current_revision()).unwrap();
        eventually("re-listed", || async {
            cache.get(Some("default"), "new").is_some() && cache.get(Some("default"), "old").is_none()
        })
        .await;
        assert_eq!(cache.lists(), 2);
        let log = seen.lock().unwrap().clone();
        assert!(log.contains(&"delete old".to_string()), "{log:?}");
        assert!(log.contains(&"add new".to_string()), "{log:?}");
    }
}
