//! Recovery on open and compaction of the revisions tree.
//!
//! Bookkeeping in the `meta` tree, each a revision as 8 big-endian bytes:
//! `applied` (the index reflects every entry up to it), `oldest` (watches may
//! start after it) and `compacted` (what entries up to it made obsolete is
//! removed). sled recovers a prefix of its writes, and each of these is
//! written after the work it records, so a crash leaves work to redo, never
//! a record of work that was not done.

use std::sync::atomic::Ordering;

use super::change_log::{self, parse_rev_key, rev_key};
use super::sled_store::{backend, lock, write_lock, Inner};
use super::{EventType, StoreError};

/// `meta` key: the last revision reflected in the index.
pub(super) const APPLIED_KEY: &[u8] = b"applied";
/// `meta` key: the oldest revision a watch may start after.
const OLDEST_KEY: &[u8] = b"oldest";
/// `meta` key: obsolete versions are removed up to this revision.
const COMPACTED_KEY: &[u8] = b"compacted";
/// `meta` key: the on-disk layout version.
const FORMAT_KEY: &[u8] = b"format";
/// The layout this code reads and writes (1 was an early development layout
/// with `objects` and `changes` trees).
const FORMAT: u64 = 2;

/// Where the store stands after open.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Recovered {
    /// The last revision written.
    pub revision: u64,
    /// The oldest revision a watch may start after.
    pub oldest: u64,
}

fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<Option<u64>, StoreError> {
    match tree.get(key).map_err(backend)? {
        None => Ok(None),
        Some(v) => parse_rev_key(&v)
            .map(Some)
            .ok_or_else(|| StoreError::Backend(format!("corrupt meta value {}", String::from_utf8_lossy(key)))),
    }
}

impl Inner {
    /// Brings the index up to the revisions tree (entries durable but not yet
    /// indexed when the process stopped) and finishes an interrupted compaction.
    pub(super) fn recover(&self) -> Result<Recovered, StoreError> {
        self.check_format()?;
        let oldest = read_u64(&self.meta, OLDEST_KEY)?.unwrap_or(0);
        let compacted = read_u64(&self.meta, COMPACTED_KEY)?.unwrap_or(0);
        let mut applied = read_u64(&self.meta, APPLIED_KEY)?.unwrap_or(0);
        if applied < oldest {
            return Err(StoreError::Backend(format!(
                "the change log is compacted to revision {oldest} but the index only reflects {applied}"
            )));
        }
        let mut dirty = false;
        if compacted < oldest {
            self.remove_obsolete(compacted, oldest)?;
            self.meta.insert(COMPACTED_KEY, &rev_key(oldest)).map_err(backend)?;
            dirty = true;
        }
        let mut replayed = 0u64;
        for kv in self.revisions.range(rev_key(applied + 1)..) {
            let (k, v) = kv.map_err(backend)?;
            let rev = parse_rev_key(&k).ok_or_else(|| StoreError::Backend("corrupt revision key".into()))?;
            let entry = change_log::decode(&v)?;
            self.index_event(entry.event_type, entry.key, rev)?;
            applied = rev;
            replayed += 1;
        }
        if replayed > 0 {
            self.meta.insert(APPLIED_KEY, &rev_key(applied)).map_err(backend)?;
            tracing::info!(
                replayed,
                revision = applied,
                "indexed store entries written before a crash"
            );
            dirty = true;
        }
        if dirty {
            self.sync()?;
        }
        Ok(Recovered {
            revision: applied.max(oldest),
            oldest,
        })
    }

    /// Refuses data in another layout; stamps a new store with this one.
    fn check_format(&self) -> Result<(), StoreError> {
        match read_u64(&self.meta, FORMAT_KEY)? {
            Some(FORMAT) => Ok(()),
            Some(other) => Err(StoreError::Backend(format!(
                "the data is in store format {other}, this k1s reads format {FORMAT}"
            ))),
            None if self.db.tree_names().iter().any(|t| &t[..] == b"changes") => Err(StoreError::Backend(
                "the data was written by an early development version of k1s (store format 1); remove the data directory"
                    .into(),
            )),
            None => {
                self.meta.insert(FORMAT_KEY, &rev_key(FORMAT)).map_err(backend)?;
                Ok(())
            }
        }
    }

    /// Drops the change history up to `revision` (at most the visible revision).
    pub(super) fn compact(&self, revision: u64) -> Result<(), StoreError> {
        let _one = lock(&self.compacting);
        let target = revision.min(self.visible.load(Ordering::SeqCst));
        let oldest = self.oldest.load(Ordering::SeqCst);
        if target <= oldest {
            return Ok(());
        }
        // Raise `oldest` before removing anything: a watcher reading the log
        // checks it afterwards and so never misses a removed entry silently.
        self.meta.insert(OLDEST_KEY, &rev_key(target)).map_err(backend)?;
        self.oldest.store(target, Ordering::SeqCst);
        let removed = {
            let _view = write_lock(&self.view);
            self.remove_obsolete(oldest, target)?
        };
        self.meta.insert(COMPACTED_KEY, &rev_key(target)).map_err(backend)?;
        self.sync()?;
        tracing::debug!(revision = target, removed, "compacted the store");
        Ok(())
    }

    /// Removes what the entries in `(from, to]` made obsolete: the versions
    /// they replaced, and delete entries themselves. Versions that are still
    /// current stay. Returns how many entries were removed.
    fn remove_obsolete(&self, from: u64, to: u64) -> Result<u64, StoreError> {
        let mut removed = 0;
        for kv in self.revisions.range(rev_key(from + 1)..=rev_key(to)) {
            let (k, v) = kv.map_err(backend)?;
            let entry = change_log::decode(&v)?;
            if let Some(prev) = entry.prev {
                self.revisions.remove(rev_key(prev)).map_err(backend)?;
                removed += 1;
            }
            if entry.event_type == EventType::Deleted {
                self.revisions.remove(k).map_err(backend)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
