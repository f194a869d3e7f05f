//! Informers: list a resource, then watch it from the list's resourceVersion,
//! keeping a shared read-only cache and telling handlers what changed.
//!
//! The watch loop is a small state machine (as kube-rs' watcher and client-go's
//! reflector): *empty* → list → *listed(rv)* → watch → *watching(rv)*; a closed
//! stream resumes the watch from the last resourceVersion seen (bookmarks keep
//! it fresh); a `410 Expired` (the revision was compacted) starts over with a list.
//!
//! Informers are shared, as client-go's `SharedInformerFactory` shares them:
//! every [`Informer`] of one API (in-process clients) for the same resource,
//! query and shape uses one list+watch and one cache, however many controllers
//! ask for it. Each keeps its own handlers; a handler added once the cache is
//! synced is first told of every cached object, as if it had just been added.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
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
    spec: Spec,
    /// The shared list+watch, found (or made) on first use.
    shared: OnceLock<Arc<Shared>>,
}

/// What an informer lists and watches, and how.
#[derive(Clone)]
struct Spec {
    info: &'static ResourceInfo,
    metadata_only: bool,
    config: InformerConfig,
    /// Extra list/watch query parameters (e.g. a field selector).
    query: String,
}

impl Spec {
    /// Informers with equal keys share one list+watch.
    fn key(&self) -> String {
        format!(
            "{}/{}?{}&metadata_only={}",
            self.info.group, self.info.plural, self.query, self.metadata_only
        )
    }
}

/// One list+watch, its cache and the handlers of every informer sharing it.
struct Shared {
    spec: Spec,
    cache: Cache,
    handlers: RwLock<Vec<Handler>>,
    /// Held by the one task that lists and watches; the others wait their turn
    /// (and take over if that task stops).
    runner: tokio::sync::Mutex<()>,
}

/// The informers of one API, by [`Spec::key`]; an entry lives as long as an
/// informer uses it.
#[derive(Default)]
pub struct SharedInformers {
    by_key: Mutex<HashMap<String, Weak<Shared>>>,
}

impl SharedInformers {
    fn get_or_create(&self, spec: &Spec) -> Arc<Shared> {
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        let key = spec.key();
        if let Some(shared) = map.get(&key).and_then(Weak::upgrade) {
            return shared;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let shared = Arc::new(Shared::new(spec.clone()));
        map.insert(key, Arc::downgrade(&shared));
        shared
    }
}

impl Shared {
    fn new(spec: Spec) -> Shared {
        Shared {
            spec,
            cache: Cache::default(),
            handlers: RwLock::new(Vec::new()),
            runner: tokio::sync::Mutex::new(()),
        }
    }
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
    /// An informer over `info` (all namespaces), shared with the other
    /// informers of the same API, resource, query and shape.
    pub fn new(client: Client, info: &'static ResourceInfo) -> Informer {
        Informer {
            client,
            spec: Spec {
                info,
                metadata_only: false,
                config: InformerConfig::default(),
                query: String::new(),
            },
            shared: OnceLock::new(),
        }
    }

    /// Lists and watches only what `query` selects: raw query parameters such
    /// as `fieldSelector=spec.nodeName%3Dnode1` (already percent-encoded).
    pub fn with_query(mut self, query: &str) -> Informer {
        self.spec.query = query.to_string();
        self.shared = OnceLock::new();
        self
    }

    /// Keeps only `metadata` of each object in the cache (as a metadata informer).
    pub fn metadata_only(mut self) -> Informer {
        self.spec.metadata_only = true;
        self.shared = OnceLock::new();
        self
    }

    /// Replaces the list page size and retry back-off (of the shared
    /// list+watch, when this informer is the first of its kind).
    pub fn with_config(mut self, config: InformerConfig) -> Informer {
        self.spec.config = config;
        self.shared = OnceLock::new();
        self
    }

    /// The shared list+watch: the API's, or this informer's own for a remote client.
    fn shared(&self) -> &Arc<Shared> {
        self.shared.get_or_init(|| match self.client.api() {
            Some(api) => api.informers.get_or_create(&self.spec),
            None => Arc::new(Shared::new(self.spec.clone())),
        })
    }

    /// Adds a handler, called after the cache has applied each change; if the
    /// cache is already synced, first with every cached object as added.
    /// Handlers run on the informer's task: keep them short (enqueue keys).
    pub fn on_change(self, handler: impl Fn(&Change) + Send + Sync + 'static) -> Informer {
        let shared = self.shared();
        let mut handlers = shared.handlers.write().unwrap_or_else(|p| p.into_inner());
        if shared.cache.is_synced() {
            for new in shared.cache.list() {
                handler(&Change::Applied { old: None, new });
            }
        }
        handlers.push(Box::new(handler));
        drop(handlers);
        self
    }

    /// The resource this informer watches.
    pub fn info(&self) -> &'static ResourceInfo {
        self.spec.info
    }

    /// The cache this informer fills.
    pub fn cache(&self) -> Cache {
        self.shared().cache.clone()
    }

    /// Lists and watches until `shutdown` turns true. When another informer
    /// already runs the shared list+watch, waits (and takes over should that
    /// one stop first).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let shared = self.shared().clone();
        let _turn = tokio::select! {
            biased;
            _ = wait_shutdown(&mut shutdown) => return,
            turn = shared.runner.lock() => turn,
        };
        let runner = Runner {
            client: self.client,
            shared: shared.clone(),
        };
        let mut state = State::Empty;
        let mut failures = 0u32;
        loop {
            tokio::select! {
                biased;
                _ = wait_shutdown(&mut shutdown) => return,
                next = runner.step(state, &mut failures) => state = next,
            }
        }
    }
}

/// The task that lists and watches for a [`Shared`] informer.
struct Runner {
    client: Client,
    shared: Arc<Shared>,
}

impl Runner {
    fn extra_query(&self) -> String {
        let query = &self.shared.spec.query;
        if query.is_empty() {
            String::new()
        } else {
            format!("&{query}")
        }
    }

    async fn backoff(&self, failures: &mut u32) {
        *failures = failures.saturating_add(1);
        tokio::time::sleep(self.shared.spec.config.retry.backoff(*failures)).await;
    }

    async fn step(&self, state: State, failures: &mut u32) -> State {
        let plural = self.shared.spec.info.plural;
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
                match self.client.watch(self.shared.spec.info, None, &query).await {
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
            let mut query = format!(
                "limit={}{}",
                self.shared.spec.config.page_size.max(1),
                self.extra_query()
            );
            if let Some(t) = &token {
                query.push_str("&continue=");
                query.push_str(
                    &percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string(),
                );
            }
            let mut page = self.client.list(self.shared.spec.info, None, &query).await?;
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
        let spec = &self.shared.spec;
        if spec.metadata_only {
            return json!({"metadata": obj.get("metadata").cloned().unwrap_or(Value::Null)});
        }
        if let Some(m) = obj.as_object_mut() {
            if !m.contains_key("kind") {
                m.insert("apiVersion".into(), json!(spec.info.api_version()));
                m.insert("kind".into(), json!(spec.info.kind));
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
            let mut objects = self.shared.cache.write();
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
        self.shared.cache.inner.lists.fetch_add(1, Ordering::Relaxed);
        self.shared.cache.inner.synced.send_replace(true);
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
                let old = self.shared.cache.write().insert(key, new.clone());
                self.notify(&Change::Applied { old, new });
            }
            "DELETED" => {
                let Some(key) = key_of_object(&ev.object) else {
                    return Ok(rv);
                };
                let removed = self.shared.cache.write().remove(&key);
                let last = removed.unwrap_or_else(|| Arc::new(self.shape(ev.object)));
                self.notify(&Change::Deleted(last));
            }
            "BOOKMARK" => {}
            "ERROR" => return Err(Box::new(ApiError::from_status(&ev.object))),
            other => debug!(
                resource = self.shared.spec.info.plural,
                event = other,
                "unknown watch event type"
            ),
        }
        Ok(rv)
    }

    fn notify(&self, change: &Change) {
        let handlers = self.shared.handlers.read().unwrap_or_else(|p| p.into_inner());
        for h in handlers.iter() {
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

    #[tokio::test]
    async fn informers_of_one_resource_share_one_list_and_cache() {
        let env = TestEnv::new().await;
        let cms = find("", "v1", "configmaps").unwrap();
        env.client()
            .create(cms, Some("default"), &configmap("a"))
            .await
            .unwrap();
        let (cache, _) = start(&env);
        eventually("synced", || async { cache.is_synced() }).await;

        // A second informer (another controller's) joins the running one.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let second = Informer::new(env.client(), cms).on_change(move |c| {
            if let Change::Applied { old: None, new } = c {
                log.lock().unwrap().push(new.name().unwrap_or("").to_string());
            }
        });
        let second_cache = second.cache();
        env.spawn(second.run(env.shutdown()));
        assert_eq!(second_cache.len(), 1, "the same cache, already filled");
        assert_eq!(seen.lock().unwrap().clone(), ["a"], "told of what was cached");
        env.client()
            .create(cms, Some("default"), &configmap("b"))
            .await
            .unwrap();
        eventually("both see b", || async {
            seen.lock().unwrap().contains(&"b".to_string()) && cache.get(Some("default"), "b").is_some()
        })
        .await;
        assert_eq!(cache.lists(), 1, "one list for both");

        // Another shape or query is another list+watch.
        let metadata = Informer::new(env.client(), cms).metadata_only();
        assert!(!metadata.cache().is_synced());
    }
}
