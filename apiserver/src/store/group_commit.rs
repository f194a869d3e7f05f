//! Writes and group commit.
//!
//! A write is validated and appended to the revisions tree under one mutex,
//! so revisions and log order agree. It is then pending: in sled's memory but
//! neither durable nor visible. One flusher thread makes every pending write
//! durable with a single flush and fsync for all writers that came before it,
//! then points the index (what `get` and `list` read) at the new versions,
//! publishes events in revision order and wakes the writers. The revisions
//! tree is the write-ahead log: after a crash, entries not yet in the index are
//! replayed on open.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

use super::change_log::{self, rev_key};
use super::maintenance::APPLIED_KEY;
use super::sled_store::{backend, lock, write_lock, Inner};
use super::{EventType, StoreError, StoreEvent};

/// A write asked of the store.
pub(super) enum Op {
    /// Create; the key must be free.
    Create(Value),
    /// Replace, with an optional revision precondition.
    Update(Value, Option<u64>),
    /// Delete, with an optional revision precondition.
    Delete(Option<u64>),
}

/// How far the flusher got; writers wait on it.
#[derive(Debug, Clone, Default)]
pub(super) struct Progress {
    /// Every write up to this revision is durable and visible.
    pub durable: u64,
    /// Set when the store can take no more writes (failure or close).
    pub stopped: Option<Stopped>,
}

/// Why the store stopped taking writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stopped {
    /// `close()` was called.
    Closed,
    /// Making writes durable failed; the store needs a restart.
    Failed(String),
}

impl Stopped {
    fn error(&self) -> StoreError {
        match self {
            Stopped::Closed => StoreError::Backend("the store is closed".into()),
            Stopped::Failed(e) => StoreError::Backend(format!("the store failed and takes no more writes: {e}")),
        }
    }
}

/// The newest state of a key that has pending writes.
struct Latest {
    revision: u64,
    /// `None` once deleted.
    value: Option<Arc<Value>>,
}

/// Writer-side state, behind `Inner::writer`.
#[derive(Default)]
pub(super) struct WriterState {
    /// The revision the next write gets.
    next: u64,
    /// Newest state of keys with pending writes (the index lags behind them).
    overlay: HashMap<String, Latest>,
    /// Logged, not yet durable writes, in revision order.
    pending: Vec<Arc<StoreEvent>>,
    /// No more writes once set.
    stopped: Option<Stopped>,
}

impl WriterState {
    /// The state of a store whose last revision is `revision`.
    pub(super) fn new(revision: u64) -> WriterState {
        WriterState {
            next: revision + 1,
            ..WriterState::default()
        }
    }

    /// Stops taking writes (pending ones are still flushed).
    pub(super) fn close(&mut self) {
        self.stopped.get_or_insert(Stopped::Closed);
    }
}

fn ensure_object(object: &Value) -> Result<(), StoreError> {
    if object.is_object() {
        Ok(())
    } else {
        Err(StoreError::Backend("only JSON objects can be stored".into()))
    }
}

fn check_precondition(precondition: Option<u64>, current: u64) -> Result<(), StoreError> {
    match precondition {
        Some(expected) if expected != current => Err(StoreError::Conflict { current }),
        _ => Ok(()),
    }
}

fn serialize(object: &Value) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(object).map_err(|e| StoreError::Backend(format!("cannot encode object: {e}")))
}

impl Inner {
    /// The current revision of `key`, counting pending writes.
    fn current_revision_of(&self, w: &WriterState, key: &str) -> Result<Option<u64>, StoreError> {
        match w.overlay.get(key) {
            Some(latest) => Ok(latest.value.as_ref().map(|_| latest.revision)),
            None => self.indexed_revision(key),
        }
    }

    /// The newest state of `key` and its revision, counting pending writes.
    fn current(&self, w: &WriterState, key: &str) -> Result<Option<(u64, Arc<Value>)>, StoreError> {
        if let Some(latest) = w.overlay.get(key) {
            return Ok(latest.value.clone().map(|v| (latest.revision, v)));
        }
        let Some(rev) = self.indexed_revision(key)? else {
            return Ok(None);
        };
        Ok(Some((rev, Arc::new(change_log::object_at(&self.revisions, rev)?))))
    }

    /// Validates `op`, gives it the next revision and appends it to the
    /// revisions tree. Returns the revision and the object as stored (for a
    /// delete, its last state). The write is not durable until `wait_durable`
    /// says so.
    pub(super) fn submit(&self, key: &str, op: Op) -> Result<(u64, Arc<Value>), StoreError> {
        let mut w = lock(&self.writer);
        if let Some(stopped) = &w.stopped {
            return Err(stopped.error());
        }
        let revision = w.next;
        let (event_type, object, prev) = match op {
            Op::Create(mut object) => {
                ensure_object(&object)?;
                if self.current_revision_of(&w, key)?.is_some() {
                    return Err(StoreError::AlreadyExists);
                }
                change_log::set_revision(&mut object, revision);
                (EventType::Added, object, None)
            }
            Op::Update(mut object, precondition) => {
                ensure_object(&object)?;
                let (current, prev) = self.current(&w, key)?.ok_or(StoreError::NotFound)?;
                check_precondition(precondition, current)?;
                change_log::set_revision(&mut object, revision);
                (EventType::Modified, object, Some((current, prev)))
            }
            Op::Delete(precondition) => {
                let (current, prev) = self.current(&w, key)?.ok_or(StoreError::NotFound)?;
                check_precondition(precondition, current)?;
                let mut last = (*prev).clone();
                change_log::set_revision(&mut last, revision);
                (EventType::Deleted, last, Some((current, prev)))
            }
        };
        let json = if event_type == EventType::Deleted {
            Vec::new()
        } else {
            serialize(&object)?
        };
        let entry = change_log::encode(event_type, key, prev.as_ref().map(|(rev, _)| *rev), &json);
        self.revisions.insert(rev_key(revision), entry).map_err(backend)?;

        let object = Arc::new(object);
        w.next = revision + 1;
        let value = (event_type != EventType::Deleted).then(|| object.clone());
        w.overlay.insert(key.to_string(), Latest { revision, value });
        w.pending.push(Arc::new(StoreEvent {
            revision,
            event_type,
            key: key.to_string(),
            object: object.clone(),
            prev: prev.map(|(_, value)| value),
        }));
        drop(w);
        self.wake.notify_one();
        Ok((revision, object))
    }

    /// Waits until the write with `revision` is durable and visible.
    pub(super) async fn wait_durable(&self, revision: u64) -> Result<(), StoreError> {
        let mut rx = self.progress.subscribe();
        let progress = rx
            .wait_for(|p| p.durable >= revision || p.stopped.is_some())
            .await
            .map_err(|_| StoreError::Backend("the store's flusher is gone".into()))?;
        match &progress.stopped {
            _ if progress.durable >= revision => Ok(()),
            Some(stopped) => Err(stopped.error()),
            None => Err(StoreError::Backend("the store's flusher stopped".into())),
        }
    }

    /// Waits for pending writes; returns the newest pending revision, or
    /// `None` once closed with nothing left to flush.
    fn next_group(&self) -> Option<u64> {
        let mut w = lock(&self.writer);
        loop {
            if let Some(last) = w.pending.last() {
                return Some(last.revision);
            }
            if w.stopped.is_some() {
                return None;
            }
            w = self.wake.wait(w).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Takes the pending writes up to `target`.
    fn take_group(w: &mut MutexGuard<'_, WriterState>, target: u64) -> Vec<Arc<StoreEvent>> {
        let split = w.pending.partition_point(|p| p.revision <= target);
        let rest = w.pending.split_off(split);
        std::mem::replace(&mut w.pending, rest)
    }

    /// Points the index at a durable group's versions and makes them visible.
    fn apply(&self, group: &[Arc<StoreEvent>], target: u64) -> Result<(), StoreError> {
        let _view = write_lock(&self.view);
        for event in group {
            self.index_event(event.event_type, &event.key, event.revision)?;
        }
        self.meta.insert(APPLIED_KEY, &rev_key(target)).map_err(backend)?;
        self.visible.store(target, Ordering::SeqCst);
        Ok(())
    }

    /// Stops all writes after a failure; every waiting writer gets the error.
    fn fail(&self, error: StoreError) {
        tracing::error!(%error, "the store cannot make writes durable; it takes no more writes");
        let stopped = Stopped::Failed(error.to_string());
        let mut w = lock(&self.writer);
        w.stopped = Some(stopped.clone());
        w.pending.clear();
        w.overlay.clear();
        drop(w);
        self.progress.send_modify(|p| p.stopped = Some(stopped));
    }

    /// One group commit: flush, apply, publish. Returns false after a failure.
    fn commit_group(&self, target: u64, events: &broadcast::Sender<Arc<StoreEvent>>) -> bool {
        // Everything up to `target` was appended to sled before this flush started.
        let flushed = self.sync();
        let group = Self::take_group(&mut lock(&self.writer), target);
        if let Err(e) = flushed.and_then(|_| self.apply(&group, target)) {
            self.fail(e);
            return false;
        }
        lock(&self.writer).overlay.retain(|_, latest| latest.revision > target);
        for event in group {
            // No receivers is fine: nobody watches.
            let _ = events.send(event);
        }
        self.progress.send_modify(|p| p.durable = target);
        true
    }
}

/// Marks the store stopped when the flusher ends, however it ends, so that no
/// writer waits forever.
struct StopOnExit<'a>(&'a Inner);

impl Drop for StopOnExit<'_> {
    fn drop(&mut self) {
        let stopped = lock(&self.0.writer)
            .stopped
            .clone()
            .unwrap_or(Stopped::Failed("the flusher stopped".into()));
        self.0.progress.send_modify(|p| {
            p.stopped.get_or_insert(stopped);
        });
    }
}

/// The flusher thread: group commits until the store is closed and drained.
pub(super) fn run_flusher(inner: Arc<Inner>, events: broadcast::Sender<Arc<StoreEvent>>) {
    let _stop = StopOnExit(&inner);
    let mut healthy = true;
    while let Some(target) = inner.next_group() {
        healthy = inner.commit_group(target, &events);
    }
    // The index and meta are written after each flush; persist them too.
    if healthy {
        if let Err(e) = inner.sync() {
            tracing::warn!(error = %e, "final flush of the store failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditions() {
        let cases = [
            (None, 5, true),
            (Some(5), 5, true),
            (Some(4), 5, false),
            (Some(0), 5, false),
        ];
        for (pre, current, ok) in cases {
            let got = check_precondition(pre, current);
            assert_eq!(got.is_ok(), ok, "{pre:?} vs {current}");
            if !ok {
                assert!(matches!(got, Err(StoreError::Conflict { current: 5 })));
            }
        }
    }

    #[test]
    fn only_objects_are_stored() {
        assert!(ensure_object(&serde_json::json!({})).is_ok());
        for v in [serde_json::json!([]), serde_json::json!("x"), Value::Null] {
            assert!(ensure_object(&v).is_err());
        }
    }
}
