//! Watch streams: replay from the change log, then live events.
//!
//! A watcher subscribes to the live broadcast first, then replays log entries
//! up to the visible revision, then takes live events, skipping any revision it
//! already delivered: no gaps, no duplicates. A watcher that overruns its live
//! buffer catches up from the log the same way (as etcd's unsynced watchers
//! do); only when compaction has removed entries it still needs does it get
//! `Lagged`, and its stream ends so that the client re-lists.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::change_log::{self, parse_rev_key, rev_key};
use super::sled_store::{backend, Inner};
use super::{StoreError, StoreEvent, WatchStream};

/// Log entries read per replay step, so a long replay neither holds much
/// memory nor blocks the runtime for long.
const REPLAY_CHUNK: usize = 256;

struct Watcher {
    inner: Arc<Inner>,
    prefix: String,
    /// The last revision delivered or skipped.
    pos: u64,
    /// Replay from the log until `pos` reaches this.
    replay_until: u64,
    /// Replayed events not yet handed out.
    replayed: VecDeque<StoreEvent>,
    live: broadcast::Receiver<Arc<StoreEvent>>,
    done: bool,
}

impl Watcher {
    /// Reads the next chunk of the log after `pos`.
    fn replay_chunk(&mut self) -> Result<(), StoreError> {
        let from = self.pos;
        let read = self.read_chunk();
        // Compaction raises `oldest` before it removes entries, so this sees
        // any removal that could have hidden an entry (or a previous version)
        // from the read above.
        if self.inner.oldest.load(Ordering::SeqCst) > from {
            return Err(StoreError::Lagged);
        }
        read
    }

    fn read_chunk(&mut self) -> Result<(), StoreError> {
        let revisions = &self.inner.revisions;
        let mut scanned = 0;
        for kv in revisions.range(rev_key(self.pos + 1)..=rev_key(self.replay_until)) {
            let (k, v) = kv.map_err(backend)?;
            let rev = parse_rev_key(&k).ok_or_else(|| StoreError::Backend("corrupt revision key".into()))?;
            let entry = change_log::decode(&v)?;
            if entry.key.starts_with(&self.prefix) {
                self.replayed.push_back(change_log::event_at(revisions, rev, &entry)?);
            }
            self.pos = rev;
            scanned += 1;
            if scanned == REPLAY_CHUNK {
                return Ok(());
            }
        }
        self.pos = self.replay_until;
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<StoreEvent, StoreError>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.replayed.pop_front() {
                return Some(Ok(event));
            }
            if self.pos < self.replay_until {
                if let Err(e) = self.replay_chunk() {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.revision <= self.pos => continue,
                Ok(event) => {
                    self.pos = event.revision;
                    if event.key.starts_with(&self.prefix) {
                        return Some(Ok((*event).clone()));
                    }
                }
                // Missed live events are still in the log.
                Err(RecvError::Lagged(_)) => self.replay_until = self.inner.visible.load(Ordering::SeqCst),
                Err(RecvError::Closed) => self.done = true,
            }
        }
    }
}

/// The stream of changes under `prefix` after revision `after`, replaying the
/// log up to `visible` (read after `live` subscribed).
pub(super) fn stream(
    inner: Arc<Inner>,
    prefix: String,
    after: u64,
    visible: u64,
    live: broadcast::Receiver<Arc<StoreEvent>>,
) -> WatchStream {
    let watcher = Watcher {
        inner,
        prefix,
        pos: after,
        replay_until: visible,
        replayed: VecDeque::new(),
        live,
        done: false,
    };
    Box::pin(futures::stream::unfold(watcher, |mut w| async move {
        let item = w.next().await?;
        Some((item, w))
    }))
}
