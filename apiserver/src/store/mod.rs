//! The store: objects as JSON under `/registry/...` keys, one global revision,
//! a change log for watches, compaction, and durable-before-acknowledged writes.
//!
//! The trait keeps the backend replaceable (sled today; etcd could follow).

mod change_log;
pub mod compactor;
mod group_commit;
mod maintenance;
pub mod memory;
pub mod sled_store;
mod watch_stream;

use std::pin::Pin;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::Stream;
use serde_json::Value;

pub use compactor::Retention;
pub use memory::MemoryStore;
pub use sled_store::{SledStore, SledStoreConfig};

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object was changed.
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The watch event type as Kubernetes spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as recorded in the change log.
#[derive(Debug, Clone)]
pub struct StoreEvent {
    /// The revision this change created.
    pub revision: u64,
    /// What happened.
    pub event_type: EventType,
    /// The object's key.
    pub key: String,
    /// The object after the change; for a delete, its last state with
    /// `metadata.resourceVersion` set to the deleting revision.
    pub object: Arc<Value>,
    /// The object before the change (`None` for `Added`), so that a watcher
    /// with a selector can tell an object leaving its selection.
    pub prev: Option<Arc<Value>>,
}

/// Store failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// No object at the key.
    #[error("not found")]
    NotFound,
    /// An object already exists at the key.
    #[error("already exists")]
    AlreadyExists,
    /// The precondition revision does not match the stored one.
    #[error("conflict: stored revision is {current}")]
    Conflict {
        /// The stored object's revision.
        current: u64,
    },
    /// The requested revision has been compacted away.
    #[error("revision {requested} is compacted (oldest is {oldest})")]
    Expired {
        /// Revision asked for.
        requested: u64,
        /// Oldest revision still in the change log.
        oldest: u64,
    },
    /// A watcher fell too far behind and was dropped; it must re-list.
    #[error("watcher fell behind")]
    Lagged,
    /// The backend failed (disk, corruption, closed).
    #[error("store backend: {0}")]
    Backend(String),
}

/// Options for a list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Resume after this key (exclusive), for `continue`.
    pub start_after: Option<String>,
    /// At most this many items (0 or `None`: all).
    pub limit: Option<usize>,
}

/// The result of a list.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// The objects, in key order.
    pub items: Vec<Value>,
    /// The store revision the list reflects.
    pub revision: u64,
    /// When `limit` cut the list: the key of the last item returned.
    pub continue_after: Option<String>,
    /// When `limit` cut the list: how many items remain after it.
    pub remaining: Option<u64>,
}

/// A stream of changes, in revision order.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<StoreEvent, StoreError>> + Send>>;

/// The storage backend.
///
/// Every write assigns the next global revision, writes it into the stored
/// object's `metadata.resourceVersion`, records a change-log entry, and
/// resolves only once the write is durable on disk.
pub trait Store: Send + Sync + 'static {
    /// Stores a new object; `AlreadyExists` if the key is taken. Returns it as stored.
    fn create(&self, key: &str, object: Value) -> BoxFuture<'_, Result<Value, StoreError>>;

    /// Replaces an object; `NotFound` if missing; `Conflict` if `precondition`
    /// is set and differs from the stored revision. Returns it as stored.
    fn update(&self, key: &str, object: Value, precondition: Option<u64>) -> BoxFuture<'_, Result<Value, StoreError>>;

    /// Removes an object; `NotFound` if missing; `Conflict` on a failed
    /// precondition. Returns its last state (resourceVersion = deleting revision).
    fn delete(&self, key: &str, precondition: Option<u64>) -> BoxFuture<'_, Result<Value, StoreError>>;

    /// Reads one object.
    fn get(&self, key: &str) -> Result<Option<Value>, StoreError>;

    /// Lists objects whose key starts with `prefix`, in key order, consistently
    /// at one revision.
    fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListResult, StoreError>;

    /// Streams changes under `prefix` with revision greater than `after`;
    /// `Expired` when `after` is older than the change log keeps.
    fn watch(&self, prefix: &str, after: u64) -> Result<WatchStream, StoreError>;

    /// The latest revision.
    fn current_revision(&self) -> u64;

    /// The oldest revision a watch may start after.
    fn oldest_revision(&self) -> u64;

    /// Drops change-log entries at or below `revision`.
    fn compact(&self, revision: u64) -> Result<(), StoreError>;

    /// Waits until every acknowledged write is on disk and stops background work.
    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Compacts the change log on a timer with the default policy (every
/// minute, keeping 5 minutes and at least 100 revisions); see
/// [`compactor::spawn_compactor`] to choose them.
pub fn spawn_compactor(store: Arc<SledStore>) -> tokio::task::JoinHandle<()> {
    compactor::spawn_compactor(store, compactor::DEFAULT_INTERVAL, Retention::default())
}
