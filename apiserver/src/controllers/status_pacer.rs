//! Paces a controller's status writes: at most one per object per interval.
//!
//! A rollout changes a ReplicaSet's and a Deployment's counts with every pod
//! that comes up or goes away. Writing each change costs one API write (and
//! one event to every watcher) per pod, several times over. The pacer lets the
//! first write after a quiet interval go at once and holds later ones until
//! the interval has passed since the last, so a burst of changes is reported
//! in one write per interval; the reconciler requeues itself for the held
//! write and computes it afresh then (level-triggered: nothing is queued but
//! the key).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a controller writes one object's status at most while it changes.
pub const STATUS_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// When each object's status was last written, per key.
#[derive(Debug)]
pub struct StatusPacer {
    interval: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl Default for StatusPacer {
    fn default() -> Self {
        StatusPacer::new(STATUS_WRITE_INTERVAL)
    }
}

impl StatusPacer {
    /// A pacer that allows one write per `interval` per key.
    pub fn new(interval: Duration) -> StatusPacer {
        StatusPacer {
            interval,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// `None` when `key`'s status may be written at `now`, else how long to wait.
    pub fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let at = *last.get(key)?;
        let since = now.saturating_duration_since(at);
        if since >= self.interval {
            last.remove(key);
            return None;
        }
        Some(self.interval - since)
    }

    /// Records that `key`'s status was written at `now`.
    pub fn wrote(&self, key: &str, now: Instant) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        // Entries older than the interval no longer hold anything back.
        if last.len() > 1024 {
            let interval = self.interval;
            last.retain(|_, at| now.saturating_duration_since(*at) < interval);
        }
        last.insert(key.to_string(), now);
    }

    /// Forgets `key` (its object is gone).
    pub fn forget(&self, key: &str) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_write_goes_at_once_and_later_ones_wait_out_the_interval() {
        let p = StatusPacer::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(p.wait("a", t0), None);
        p.wrote("a", t0);
        assert_eq!(
            p.wait("a", t0 + Duration::from_millis(300)),
            Some(Duration::from_millis(700))
        );
        // Other objects are not held back.
        assert_eq!(p.wait("b", t0), None);
        assert_eq!(p.wait("a", t0 + Duration::from_secs(1)), None);
        p.wrote("a", t0 + Duration::from_secs(2));
        p.forget("a");
        assert_eq!(p.wait("a", t0 + Duration::from_secs(2)), None);
    }
}
