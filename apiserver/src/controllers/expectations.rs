//! Controller expectations (Kubernetes' `UIDTrackingControllerExpectations`,
//! and the Job controller's `uidTrackingExpectations` for finalizer removals):
//! the creations and deletions a controller has asked for and not yet seen
//! in its informer, so that it does not act again on a stale cache (and
//! create twice) while its own writes are still on their way back.
//!
//! A parent is "satisfied" when everything it expected has been observed,
//! when its expectations are older than the TTL (a lost event must not wedge
//! it forever), or when it has none recorded.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Kubernetes' `ExpectationsTimeout`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Expectation {
    /// Creations still to be observed.
    add: i64,
    /// Deletions still to be observed (by child key, `namespace/name`).
    del: HashSet<String>,
    /// When the expectations were set.
    at: Instant,
}

/// Pending creations and deletions per parent key; shared by a controller's
/// event handlers (which observe) and its workers (which expect).
#[derive(Debug)]
pub struct Expectations {
    ttl: Duration,
    by_key: Mutex<HashMap<String, Expectation>>,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations::new(DEFAULT_TTL)
    }
}

impl Expectations {
    /// Expectations that expire after `ttl`.
    pub fn new(ttl: Duration) -> Expectations {
        Expectations {
            ttl,
            by_key: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Expectation>) -> T) -> T {
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut map)
    }

    /// Whether `key` may act: nothing pending, expired, or never set.
    pub fn satisfied(&self, key: &str) -> bool {
        self.with(|m| match m.get(key) {
            None => true,
            Some(e) => (e.add <= 0 && e.del.is_empty()) || e.at.elapsed() > self.ttl,
        })
    }

    /// `key` is about to create `n` children (replaces what was expected).
    pub fn expect_creations(&self, key: &str, n: usize) {
        self.with(|m| {
            m.insert(
                key.to_string(),
                Expectation {
                    add: n as i64,
                    del: HashSet::new(),
                    at: Instant::now(),
                },
            )
        });
    }

    /// `key` is about to delete these children (replaces what was expected).
    pub fn expect_deletions(&self, key: &str, children: impl IntoIterator<Item = String>) {
        self.with(|m| {
            m.insert(
                key.to_string(),
                Expectation {
                    add: 0,
                    del: children.into_iter().collect(),
                    at: Instant::now(),
                },
            )
        });
    }

    /// A child of `key` was seen created (or a create was given up).
    pub fn creation_observed(&self, key: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(key) {
                e.add -= 1;
            }
        });
    }

    /// The child `child` of `key` was seen deleted or terminating (or its delete failed).
    pub fn deletion_observed(&self, key: &str, child: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(key) {
                e.del.remove(child);
            }
        });
    }

    /// Forgets `key` (the parent is gone).
    pub fn delete(&self, key: &str) {
        self.with(|m| m.remove(key));
    }

    /// Creations and deletions still pending for `key` (for logs and tests).
    pub fn pending(&self, key: &str) -> (i64, usize) {
        self.with(|m| m.get(key).map(|e| (e.add, e.del.len())).unwrap_or((0, 0)))
    }
}

/// Child uids per controller key whose finalizer removal the controller
/// has asked for but not yet seen (`uidTrackingExpectations`).
#[derive(Debug, Default)]
pub struct UidExpectations {
    entries: Mutex<HashMap<String, HashSet<String>>>,
}

impl UidExpectations {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The uids still expected for `key`.
    pub fn expected(&self, key: &str) -> HashSet<String> {
        self.lock().get(key).cloned().unwrap_or_default()
    }

    /// Expects the finalizers of `uids` to be removed.
    pub fn expect_removed<'a>(&self, key: &str, uids: impl IntoIterator<Item = &'a str>) {
        self.lock()
            .entry(key.to_string())
            .or_default()
            .extend(uids.into_iter().map(String::from));
    }

    /// The removal for `uid` was seen (or will never be).
    pub fn observed(&self, key: &str, uid: &str) {
        let mut entries = self.lock();
        if let Some(set) = entries.get_mut(key) {
            set.remove(uid);
            if set.is_empty() {
                entries.remove(key);
            }
        }
    }

    /// Forgets `key`.
    pub fn delete(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_and_deletions_are_counted_down() {
        let e = Expectations::default();
        assert!(e.satisfied("d/web"), "nothing recorded");
        e.expect_creations("d/web", 2);
        assert!(!e.satisfied("d/web"));
        e.creation_observed("d/web");
        assert!(!e.satisfied("d/web"));
        e.creation_observed("d/web");
        assert!(e.satisfied("d/web"));
        // Extra observations (pods created by someone else) do not go negative in effect.
        e.creation_observed("d/web");
        assert!(e.satisfied("d/web"));

        e.expect_deletions("d/web", ["d/a".to_string(), "d/b".to_string()]);
        assert_eq!(e.pending("d/web"), (0, 2));
        e.deletion_observed("d/web", "d/a");
        e.deletion_observed("d/web", "d/a");
        e.deletion_observed("d/web", "d/other");
        assert!(!e.satisfied("d/web"), "b is still expected");
        e.deletion_observed("d/web", "d/b");
        assert!(e.satisfied("d/web"));

        e.expect_creations("d/web", 1);
        e.delete("d/web");
        assert!(e.satisfied("d/web"));
    }

    #[test]
    fn expired_expectations_are_satisfied() {
        let e = Expectations::new(Duration::ZERO);
        e.expect_creations("d/web", 3);
        std::thread::sleep(Duration::from_millis(2));
        assert!(e.satisfied("d/web"));
    }

    #[test]
    fn uid_expectations_track_each_uid() {
        let u = UidExpectations::default();
        u.expect_removed("ns/j", ["a", "b"]);
        assert_eq!(u.expected("ns/j").len(), 2);
        u.observed("ns/j", "a");
        assert_eq!(u.expected("ns/j"), HashSet::from(["b".to_string()]));
        u.observed("ns/j", "b");
        assert!(u.expected("ns/j").is_empty());
        u.expect_removed("ns/j", ["c"]);
        u.delete("ns/j");
        assert!(u.expected("ns/j").is_empty());
    }
}
