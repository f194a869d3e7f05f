//! Controller expectations (Kubernetes' `ControllerExpectations` and
//! `uidTrackingExpectations`): after a controller creates or deletes children,
//! or strips their finalizers, it waits to see those changes in its informer
//! before it acts on the same key again, so a lagging cache never makes it
//! create, delete or count twice. Expectations expire after five minutes, as
//! Kubernetes' do, so a lost watch event cannot wedge a key forever.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long unmet expectations hold a key back (`ExpectationsTimeout`).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy)]
struct Expected {
    adds: i64,
    dels: i64,
    set_at: Instant,
}

/// Pending creations and deletions per controller key.
#[derive(Debug)]
pub struct Expectations {
    entries: Mutex<HashMap<String, Expected>>,
    timeout: Duration,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations::new(EXPECTATIONS_TIMEOUT)
    }
}

impl Expectations {
    /// Expectations that expire after `timeout`.
    pub fn new(timeout: Duration) -> Expectations {
        Expectations {
            entries: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Expected>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the controller may act on `key`: nothing is pending, or what was
    /// pending was seen, or it expired (`SatisfiedExpectations`).
    pub fn satisfied(&self, key: &str) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(e) => (e.adds <= 0 && e.dels <= 0) || e.set_at.elapsed() > self.timeout,
        }
    }

    /// Expects `adds` creations for `key` (replacing what was expected).
    pub fn expect_creations(&self, key: &str, adds: usize) {
        self.set(key, adds as i64, 0);
    }

    /// Expects `dels` deletions for `key` (replacing what was expected).
    pub fn expect_deletions(&self, key: &str, dels: usize) {
        self.set(key, 0, dels as i64);
    }

    fn set(&self, key: &str, adds: i64, dels: i64) {
        self.lock().insert(
            key.to_string(),
            Expected {
                adds,
                dels,
                set_at: Instant::now(),
            },
        );
    }

    /// A creation for `key` was seen (or will never be: the create failed).
    pub fn creation_observed(&self, key: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.adds -= 1;
        }
    }

    /// A deletion for `key` was seen (or will never be).
    pub fn deletion_observed(&self, key: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.dels -= 1;
        }
    }

    /// Forgets `key` (its object is gone).
    pub fn delete(&self, key: &str) {
        self.lock().remove(key);
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
    fn creations_and_deletions_hold_a_key_until_seen() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/a"), "nothing expected");
        e.expect_creations("ns/a", 2);
        assert!(!e.satisfied("ns/a"));
        e.creation_observed("ns/a");
        assert!(!e.satisfied("ns/a"));
        e.creation_observed("ns/a");
        assert!(e.satisfied("ns/a"));
        e.expect_deletions("ns/a", 1);
        assert!(!e.satisfied("ns/a"));
        e.deletion_observed("ns/a");
        assert!(e.satisfied("ns/a"));
        e.expect_creations("ns/a", 1);
        e.delete("ns/a");
        assert!(e.satisfied("ns/a"));
        // Observations for keys nobody waits on change nothing.
        e.creation_observed("ns/b");
        assert!(e.satisfied("ns/b"));
    }

    #[test]
    fn expectations_expire() {
        let e = Expectations::new(Duration::ZERO);
        e.expect_creations("k", 3);
        std::thread::sleep(Duration::from_millis(2));
        assert!(e.satisfied("k"));
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
