//! The sled backend of the store.
//!
//! Three sled trees: `revisions` (revision → entry: the change log and the
//! object versions, see [`super::change_log`]), `index` (key → revision of its
//! current version: what `get` and `list` read) and `meta` (bookkeeping, see
//! [`super::maintenance`]). Writes go through [`super::group_commit`];
//! watches through [`super::watch_stream`]; [`super::compactor`] runs
//! compaction on a timer.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::change_log::{self, parse_rev_key, rev_key};
use super::group_commit::{self, Op, Progress, WriterState};
use super::{EventType, ListOptions, ListResult, Store, StoreError, StoreEvent, WatchStream};

/// Tuning of the sled store.
#[derive(Debug, Clone)]
pub struct SledStoreConfig {
    /// Bytes of sled's page cache. Small by default: k1s keeps its idle
    /// footprint low, and the OS page cache still holds the file.
    pub cache_capacity: u64,
    /// Live events buffered per watcher. A watcher that falls further behind
    /// catches up from the change log instead (and gets `Lagged` only when
    /// compaction has passed it).
    pub watch_buffer: usize,
}

impl Default for SledStoreConfig {
    fn default() -> Self {
        SledStoreConfig {
            cache_capacity: 4 << 20,
            watch_buffer: 256,
        }
    }
}

/// State shared by the store, its flusher thread and its watch streams.
pub(super) struct Inner {
    pub db: sled::Db,
    /// sled's data file, to fsync: sled's own flush only calls `sync_file_range`,
    /// which neither persists the file size nor flushes the disk's cache.
    pub file: File,
    pub revisions: sled::Tree,
    pub index: sled::Tree,
    pub meta: sled::Tree,
    /// Revision assignment and pending writes.
    pub writer: Mutex<WriterState>,
    /// Wakes the flusher when a write is pending or the store closes.
    pub wake: Condvar,
    /// Lists read under it; the flusher applies a group and compaction removes
    /// versions under it, so a list sees one revision.
    pub view: RwLock<()>,
    /// The revision of the visible (durable, indexed) state.
    pub visible: AtomicU64,
    /// The oldest revision a watch may start after.
    pub oldest: AtomicU64,
    /// Durable revision, for writers to wait on.
    pub progress: watch::Sender<Progress>,
    /// Live events; taken on close so watch streams end.
    pub events: Mutex<Option<broadcast::Sender<Arc<StoreEvent>>>>,
    /// Turns true on close; the compactor stops on it.
    pub shutdown: watch::Sender<bool>,
    /// One compaction at a time.
    pub compacting: Mutex<()>,
}

/// Locks a mutex, ignoring poisoning (the state stays consistent: every
/// critical section either completes or returns before changing it).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn read_lock<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn write_lock<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Wraps a sled error.
pub(super) fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(format!("sled: {e}"))
}

impl Inner {
    /// Makes everything written to sled so far durable.
    pub(super) fn sync(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(backend)?;
        self.file
            .sync_data()
            .map_err(|e| StoreError::Backend(format!("fsync of the store: {e}")))
    }

    /// The revision of `key`'s current version, as indexed (durable writes only).
    pub(super) fn indexed_revision(&self, key: &str) -> Result<Option<u64>, StoreError> {
        match self.index.get(key).map_err(backend)? {
            None => Ok(None),
            Some(v) => parse_rev_key(&v)
                .map(Some)
                .ok_or_else(|| StoreError::Backend(format!("corrupt index entry for {key}"))),
        }
    }

    /// Points the index at the version a write created.
    pub(super) fn index_event(&self, event_type: EventType, key: &str, revision: u64) -> Result<(), StoreError> {
        match event_type {
            EventType::Deleted => self.index.remove(key).map(drop),
            _ => self.index.insert(key, &rev_key(revision)).map(drop),
        }
        .map_err(backend)
    }
}

/// The sled-backed store. Writes are durable when acknowledged and group
/// committed by a flusher thread; see [`super::group_commit`].
pub struct SledStore {
    pub(super) inner: Arc<Inner>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl SledStore {
    /// Opens (creating if needed) the store in directory `path`, with defaults.
    pub fn open(path: &Path) -> Result<Arc<SledStore>, StoreError> {
        SledStore::open_with(path, &SledStoreConfig::default())
    }

    /// Opens (creating if needed) the store in directory `path`.
    pub fn open_with(path: &Path, config: &SledStoreConfig) -> Result<Arc<SledStore>, StoreError> {
        let context = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Backend(format!("cannot {what} the store in {}: {e}", path.display()))
        };
        std::fs::create_dir_all(path).map_err(|e| context("create the directory of", &e))?;
        let sled_config = sled::Config::new()
            .path(path)
            .cache_capacity(config.cache_capacity)
            // The flusher thread flushes; sled's periodic flush would only add writes.
            .flush_every_ms(None);
        let db = open_waiting_for_lock(&sled_config).map_err(|e| context("open", &e))?;
        let file = File::open(path.join("db")).map_err(|e| context("open the data file of", &e))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| context("open", &e));
        let (revisions, index, meta) = (tree("revisions")?, tree("index")?, tree("meta")?);

        let (events, _) = broadcast::channel(config.watch_buffer.max(1));
        let mut inner = Inner {
            db,
            file,
            revisions,
            index,
            meta,
            writer: Mutex::new(WriterState::new(0)),
            wake: Condvar::new(),
            view: RwLock::new(()),
            visible: AtomicU64::new(0),
            oldest: AtomicU64::new(0),
            progress: watch::Sender::new(Progress::default()),
            events: Mutex::new(Some(events.clone())),
            shutdown: watch::Sender::new(false),
            compacting: Mutex::new(()),
        };
        let recovered = inner.recover().map_err(|e| context("recover", &e))?;
        inner.writer = Mutex::new(WriterState::new(recovered.revision));
        inner.visible = AtomicU64::new(recovered.revision);
        inner.oldest = AtomicU64::new(recovered.oldest);
        inner.progress = watch::Sender::new(Progress {
            durable: recovered.revision,
            stopped: None,
        });

        let inner = Arc::new(inner);
        let for_thread = inner.clone();
        let flusher = std::thread::Builder::new()
            .name("k1s-store-flush".into())
            .spawn(move || group_commit::run_flusher(for_thread, events))
            .map_err(|e| context("start the flusher of", &e))?;
        tracing::debug!(revision = recovered.revision, oldest = recovered.oldest, path = %path.display(), "store opened");
        Ok(Arc::new(SledStore {
            inner,
            flusher: Mutex::new(Some(flusher)),
        }))
    }

    /// Turns true when the store closes (for background tasks).
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Stops writes and watches; returns the flusher thread to join, if still running.
    fn begin_close(&self) -> Option<JoinHandle<()>> {
        lock(&self.inner.writer).close();
        self.inner.wake.notify_all();
        lock(&self.inner.events).take();
        self.inner.shutdown.send_replace(true);
        lock(&self.flusher).take()
    }

    async fn write(&self, key: String, op: Op) -> Result<Value, StoreError> {
        let (revision, object) = self.inner.submit(&key, op)?;
        self.inner.wait_durable(revision).await?;
        Ok(Arc::unwrap_or_clone(object))
    }
}

/// How long an open waits for the file lock of a store that is still closing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens the database, waiting briefly while another handle of the same
/// directory (a store just closed, whose background threads still hold
/// sled's file lock) lets go of it.
fn open_waiting_for_lock(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        if let Some(flusher) = self.begin_close() {
            // Pending writes are flushed before the thread ends.
            let _ = flusher.join();
        }
    }
}

impl Store for SledStore {
    fn create(&self, key: &str, object: Value) -> BoxFuture<'_, Result<Value, StoreError>> {
        Box::pin(self.write(key.to_string(), Op::Create(object)))
    }

    fn update(&self, key: &str, object: Value, precondition: Option<u64>) -> BoxFuture<'_, Result<Value, StoreError>> {
        Box::pin(self.write(key.to_string(), Op::Update(object, precondition)))
    }

    fn delete(&self, key: &str, precondition: Option<u64>) -> BoxFuture<'_, Result<Value, StoreError>> {
        Box::pin(self.write(key.to_string(), Op::Delete(precondition)))
    }

    fn get(&self, key: &str) -> Result<Option<Value>, StoreError> {
        // Under the view lock, compaction cannot remove the version in between.
        let _view = read_lock(&self.inner.view);
        match self.inner.indexed_revision(key)? {
            Some(rev) => change_log::object_at(&self.inner.revisions, rev).map(Some),
            None => Ok(None),
        }
    }

    fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListResult, StoreError> {
        let inner = &self.inner;
        let _view = read_lock(&inner.view);
        let revision = inner.visible.load(Ordering::SeqCst);
        let start = match &options.start_after {
            // The smallest key after `after`.
            Some(after) if after.as_str() >= prefix => [after.as_bytes(), &[0]].concat(),
            _ => prefix.as_bytes().to_vec(),
        };
        let limit = options.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last_key = None;
        let mut remaining = 0u64;
        for kv in inner.index.range(start..) {
            let (k, v) = kv.map_err(backend)?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            if items.len() >= limit {
                remaining += 1;
                continue;
            }
            let rev = parse_rev_key(&v).ok_or_else(|| StoreError::Backend("corrupt index entry".into()))?;
            items.push(change_log::object_at(&inner.revisions, rev)?);
            last_key = Some(k);
        }
        let (continue_after, remaining) = match last_key {
            Some(k) if remaining > 0 => (Some(String::from_utf8_lossy(&k).into_owned()), Some(remaining)),
            _ => (None, None),
        };
        Ok(ListResult {
            items,
            revision,
            continue_after,
            remaining,
        })
    }

    fn watch(&self, prefix: &str, after: u64) -> Result<WatchStream, StoreError> {
        // Subscribe before reading the visible revision: every event after it
        // then arrives live, and the log covers the rest.
        let live = lock(&self.inner.events)
            .as_ref()
            .map(|tx| tx.subscribe())
            .ok_or_else(|| StoreError::Backend("the store is closed".into()))?;
        let visible = self.inner.visible.load(Ordering::SeqCst);
        let oldest = self.inner.oldest.load(Ordering::SeqCst);
        if after < oldest {
            return Err(StoreError::Expired {
                requested: after,
                oldest,
            });
        }
        Ok(super::watch_stream::stream(
            self.inner.clone(),
            prefix.to_string(),
            after,
            visible,
            live,
        ))
    }

    fn current_revision(&self) -> u64 {
        self.inner.visible.load(Ordering::SeqCst)
    }

    fn oldest_revision(&self) -> u64 {
        self.inner.oldest.load(Ordering::SeqCst)
    }

    fn compact(&self, revision: u64) -> Result<(), StoreError> {
        self.inner.compact(revision)
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            if let Some(flusher) = self.begin_close() {
                tokio::task::spawn_blocking(move || flusher.join())
                    .await
                    .map_err(|e| StoreError::Backend(format!("joining the store flusher: {e}")))?
                    .map_err(|_| StoreError::Backend("the store flusher panicked".into()))?;
            }
            match &self.inner.progress.borrow().stopped {
                Some(group_commit::Stopped::Failed(e)) => Err(StoreError::Backend(e.clone())),
                _ => Ok(()),
            }
        })
    }
}

#[cfg(test)]
#[path = "sled_store_tests.rs"]
mod tests;
