//! An in-memory store: the [`Store`] contract over a `BTreeMap`, with the
//! same revisions, change log and watch semantics as the sled backend.
//! Nothing is durable; it serves tests and fast in-process API checks.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use futures::StreamExt;
use k1s_proto::meta::ObjectMeta;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{EventType, ListOptions, ListResult, Store, StoreError, StoreEvent, WatchStream};

/// Change-log entries kept before the oldest are compacted away.
const DEFAULT_LOG_LIMIT: usize = 100_000;
/// Live events buffered per watcher before it lags and is dropped.
const DEFAULT_WATCH_BUFFER: usize = 1024;

/// A store held in memory.
pub struct MemoryStore {
    state: Mutex<State>,
    log_limit: usize,
    watch_buffer: usize,
}

struct State {
    objects: BTreeMap<String, Value>,
    revision: u64,
    /// Watches may start after this revision; older changes are compacted.
    oldest: u64,
    log: VecDeque<StoreEvent>,
    /// Live changes, sent while the state lock is held so they keep revision order.
    events: broadcast::Sender<StoreEvent>,
    closed: bool,
}

impl MemoryStore {
    /// An empty store with default limits.
    pub fn new() -> Arc<MemoryStore> {
        MemoryStore::with_limits(DEFAULT_LOG_LIMIT, DEFAULT_WATCH_BUFFER)
    }

    /// An empty store keeping at most `log_limit` change-log entries and
    /// buffering `watch_buffer` live events per watcher.
    pub fn with_limits(log_limit: usize, watch_buffer: usize) -> Arc<MemoryStore> {
        let watch_buffer = watch_buffer.max(1);
        let (events, _) = broadcast::channel(watch_buffer);
        Arc::new(MemoryStore {
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                revision: 0,
                oldest: 0,
                log: VecDeque::new(),
                events,
                closed: false,
            }),
            log_limit: log_limit.max(1),
            watch_buffer,
        })
    }

    /// Ends every open watch stream (as a restarting server would), for tests
    /// of clients that must resume.
    pub fn disconnect_watchers(&self) {
        let mut st = self.lock();
        st.events = broadcast::channel(self.watch_buffer).0;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-written
        // (every write is a single insert/remove), so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Assigns the next revision to a change and records it.
    fn commit(&self, st: &mut State, event_type: EventType, key: &str, object: &mut Value, prev: Option<Value>) -> u64 {
        st.revision += 1;
        let revision = st.revision;
        object.set_meta("resourceVersion", Value::from(revision.to_string()));
        let event = StoreEvent {
            revision,
            event_type,
            key: key.to_string(),
            object: Arc::new(object.clone()),
            prev: prev.map(Arc::new),
        };
        st.log.push_back(event.clone());
        while st.log.len() > self.log_limit {
            if let Some(dropped) = st.log.pop_front() {
                st.oldest = dropped.revision;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = st.events.send(event);
        revision
    }
}

fn check_open(st: &State) -> Result<(), StoreError> {
    if st.closed {
        Err(StoreError::Backend("the store is closed".into()))
    } else {
        Ok(())
    }
}

fn revision_of(obj: &Value) -> u64 {
    obj.resource_version().and_then(|rv| rv.parse().ok()).unwrap_or(0)
}

fn check_precondition(stored: &Value, precondition: Option<u64>) -> Result<(), StoreError> {
    let current = revision_of(stored);
    match precondition {
        Some(p) if p != current => Err(StoreError::Conflict { current }),
        _ => Ok(()),
    }
}

impl Store for MemoryStore {
    fn create(&self, key: &str, mut object: Value) -> BoxFuture<'_, Result<Value, StoreError>> {
        let result = (|| {
            let mut st = self.lock();
            check_open(&st)?;
            if st.objects.contains_key(key) {
                return Err(StoreError::AlreadyExists);
            }
            self.commit(&mut st, EventType::Added, key, &mut object, None);
            st.objects.insert(key.to_string(), object.clone());
            Ok(object)
        })();
        Box::pin(async move { result })
    }

    fn update(
        &self,
        key: &str,
        mut object: Value,
        precondition: Option<u64>,
    ) -> BoxFuture<'_, Result<Value, StoreError>> {
        let result = (|| {
            let mut st = self.lock();
            check_open(&st)?;
            let prev = st.objects.get(key).ok_or(StoreError::NotFound)?.clone();
            check_precondition(&prev, precondition)?;
            self.commit(&mut st, EventType::Modified, key, &mut object, Some(prev));
            st.objects.insert(key.to_string(), object.clone());
            Ok(object)
        })();
        Box::pin(async move { result })
    }

    fn delete(&self, key: &str, precondition: Option<u64>) -> BoxFuture<'_, Result<Value, StoreError>> {
        let result = (|| {
            let mut st = self.lock();
            check_open(&st)?;
            let prev = st.objects.get(key).ok_or(StoreError::NotFound)?.clone();
            check_precondition(&prev, precondition)?;
            let mut last = prev.clone();
            self.commit(&mut st, EventType::Deleted, key, &mut last, Some(prev));
            st.objects.remove(key);
            Ok(last)
        })();
        Box::pin(async move { result })
    }

    fn get(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let st = self.lock();
        check_open(&st)?;
        Ok(st.objects.get(key).cloned())
    }

    fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListResult, StoreError> {
        let st = self.lock();
        check_open(&st)?;
        let start = match &options.start_after {
            Some(after) => Bound::Excluded(after.clone()),
            None => Bound::Included(prefix.to_string()),
        };
        let limit = options.limit.filter(|l| *l > 0);
        let mut matching = st
            .objects
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix));
        let mut items = Vec::new();
        let mut last_key = None;
        for (k, v) in matching.by_ref() {
            items.push(v.clone());
            last_key = Some(k.clone());
            if limit.is_some_and(|l| items.len() >= l) {
                break;
            }
        }
        let remaining = matching.count() as u64;
        let (continue_after, remaining) = if limit.is_some() && remaining > 0 {
            (last_key, Some(remaining))
        } else {
            (None, None)
        };
        Ok(ListResult {
            items,
            revision: st.revision,
            continue_after,
            remaining,
        })
    }

    fn watch(&self, prefix: &str, after: u64) -> Result<WatchStream, StoreError> {
        let st = self.lock();
        check_open(&st)?;
        if after < st.oldest {
            return Err(StoreError::Expired {
                requested: after,
                oldest: st.oldest,
            });
        }
        let replay: Vec<Result<StoreEvent, StoreError>> = st
            .log
            .iter()
            .filter(|e| e.revision > after && e.key.starts_with(prefix))
            .cloned()
            .map(Ok)
            .collect();
        // Subscribed under the lock: live events are exactly those after the replay.
        let rx = st.events.subscribe();
        let floor = st.revision.max(after);
        let live = futures::stream::unfold(Some((rx, prefix.to_string())), move |state| async move {
            let (mut rx, prefix) = state?;
            loop {
                match rx.recv().await {
                    Ok(ev) if ev.revision > floor && ev.key.starts_with(&prefix) => {
                        return Some((Ok(ev), Some((rx, prefix))))
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => return Some((Err(StoreError::Lagged), None)),
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(Box::pin(futures::stream::iter(replay).chain(live)))
    }

    fn current_revision(&self) -> u64 {
        self.lock().revision
    }

    fn oldest_revision(&self) -> u64 {
        self.lock().oldest
    }

    fn compact(&self, revision: u64) -> Result<(), StoreError> {
        let mut st = self.lock();
        check_open(&st)?;
        let revision = revision.min(st.revision);
        while st.log.front().is_some_and(|e| e.revision <= revision) {
            st.log.pop_front();
        }
        st.oldest = st.oldest.max(revision);
        Ok(())
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let mut st = self.lock();
        st.closed = true;
        st.events = broadcast::channel(1).0;
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn obj(name: &str) -> Value {
        json!({"metadata": {"name": name}, "data": {"v": "1"}})
    }

    async fn next(s: &mut WatchStream) -> Result<StoreEvent, StoreError> {
        tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .expect("watch event in time")
            .expect("stream open")
    }

    #[tokio::test]
    async fn writes_assign_revisions_and_check_preconditions() {
        let s = MemoryStore::new();
        let a = s.create("/r/a", obj("a")).await.unwrap();
        assert_eq!(a.resource_version(), Some("1"));
        assert!(matches!(
            s.create("/r/a", obj("a")).await,
            Err(StoreError::AlreadyExists)
        ));
        let b = s.update("/r/a", obj("a"), Some(1)).await.unwrap();
        assert_eq!(b.resource_version(), Some("2"));
        assert!(matches!(
            s.update("/r/a", obj("a"), Some(1)).await,
            Err(StoreError::Conflict { current: 2 })
        ));
        assert!(matches!(
            s.update("/r/x", obj("x"), None).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.get("/r/a").unwrap().unwrap().resource_version(), Some("2"));
        assert!(matches!(
            s.delete("/r/a", Some(1)).await,
            Err(StoreError::Conflict { current: 2 })
        ));
        let gone = s.delete("/r/a", Some(2)).await.unwrap();
        assert_eq!(gone.resource_version(), Some("3"));
        assert!(s.get("/r/a").unwrap().is_none());
        assert!(matches!(s.delete("/r/a", None).await, Err(StoreError::NotFound)));
        assert_eq!(s.current_revision(), 3);
    }

    #[tokio::test]
    async fn lists_by_prefix_with_pages() {
        let s = MemoryStore::new();
        for k in ["/r/a/1", "/r/a/2", "/r/a/3", "/r/ab/1", "/r/b/1"] {
            s.create(k, obj(k)).await.unwrap();
        }
        let all = s.list("/r/a/", &ListOptions::default()).unwrap();
        assert_eq!(all.items.len(), 3);
        assert_eq!(all.revision, 5);
        assert!(all.continue_after.is_none());
        let page = s
            .list(
                "/r/a/",
                &ListOptions {
                    start_after: None,
                    limit: Some(2),
                },
            )
            .unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.continue_after.as_deref(), Some("/r/a/2"));
        assert_eq!(page.remaining, Some(1));
        let rest = s
            .list(
                "/r/a/",
                &ListOptions {
                    start_after: page.continue_after,
                    limit: Some(2),
                },
            )
            .unwrap();
        assert_eq!(rest.items.len(), 1);
        assert!(rest.continue_after.is_none() && rest.remaining.is_none());
        let exact = s
            .list(
                "/r/a/",
                &ListOptions {
                    start_after: None,
                    limit: Some(3),
                },
            )
            .unwrap();
        assert!(exact.continue_after.is_none());
    }

    #[tokio::test]
    async fn watch_replays_then_streams_live() {
        let s = MemoryStore::new();
        s.create("/r/a", obj("a")).await.unwrap();
        s.create("/other/x", obj("x")).await.unwrap();
        s.update("/r/a", obj("a"), None).await.unwrap();
        let mut w = s.watch("/r/", 1).unwrap();
        let e = next(&mut w).await.unwrap();
        assert_eq!((e.revision, e.event_type), (3, EventType::Modified));
        assert_eq!(e.prev.as_ref().unwrap().resource_version(), Some("1"));
        s.create("/other/y", obj("y")).await.unwrap();
        s.delete("/r/a", None).await.unwrap();
        let e = next(&mut w).await.unwrap();
        assert_eq!((e.revision, e.event_type), (5, EventType::Deleted));
        assert_eq!(e.object.resource_version(), Some("5"));
        assert_eq!(e.prev.as_ref().unwrap().resource_version(), Some("3"));
        // A watch from the current revision sees only later changes.
        let mut w2 = s.watch("/r/", s.current_revision()).unwrap();
        s.create("/r/b", obj("b")).await.unwrap();
        assert_eq!(next(&mut w2).await.unwrap().revision, 6);
    }

    #[tokio::test]
    async fn compacted_revisions_are_expired() {
        let s = MemoryStore::new();
        for n in ["a", "b", "c"] {
            s.create(&format!("/r/{n}"), obj(n)).await.unwrap();
        }
        s.compact(2).unwrap();
        assert_eq!(s.oldest_revision(), 2);
        assert!(matches!(
            s.watch("/r/", 1),
            Err(StoreError::Expired {
                requested: 1,
                oldest: 2
            })
        ));
        let mut w = s.watch("/r/", 2).unwrap();
        assert_eq!(next(&mut w).await.unwrap().revision, 3);
        let bounded = MemoryStore::with_limits(2, 16);
        for n in ["a", "b", "c"] {
            bounded.create(&format!("/r/{n}"), obj(n)).await.unwrap();
        }
        assert_eq!(bounded.oldest_revision(), 1);
        assert!(bounded.watch("/r/", 0).is_err());
    }

    #[tokio::test]
    async fn slow_watchers_lag_and_disconnects_end_streams() {
        let s = MemoryStore::with_limits(100, 2);
        let mut w = s.watch("/r/", 0).unwrap();
        for n in ["a", "b", "c", "d"] {
            s.create(&format!("/r/{n}"), obj(n)).await.unwrap();
        }
        assert!(matches!(next(&mut w).await, Err(StoreError::Lagged)));
        assert!(w.next().await.is_none());
        let mut w = s.watch("/r/", s.current_revision()).unwrap();
        s.disconnect_watchers();
        let end = tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap();
        assert!(end.is_none());
    }
}
