//! Per-key exponential back-off, shaped like client-go's `flowcontrol.Backoff`
//! as the kubelet uses it: crash-loop back-off per (pod, container) and image
//! pull back-off per (pod, image): 10 s doubling to 300 s, forgotten when the
//! next event comes more than twice the maximum (10 min) after the last update.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// The kubelet's initial back-off.
pub const INITIAL: Duration = Duration::from_secs(10);
/// The kubelet's maximum back-off (`MaxContainerBackOff`).
pub const MAX: Duration = Duration::from_secs(300);

/// A source of the current time (fake in tests).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock tests move by hand.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<Timestamp>>);

impl FakeClock {
    /// A fake clock at `t`.
    pub fn new(t: Timestamp) -> FakeClock {
        FakeClock(Arc::new(Mutex::new(t)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t = t.checked_add(d).unwrap_or(*t);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: Timestamp,
}

/// Back-off state for many keys.
pub struct Backoff {
    initial: Duration,
    max: Duration,
    clock: Arc<dyn Clock>,
    entries: HashMap<String, Entry>,
}

fn since(later: Timestamp, earlier: Timestamp) -> SignedDuration {
    later.duration_since(earlier)
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

impl Backoff {
    /// A back-off from `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration, clock: Arc<dyn Clock>) -> Backoff {
        Backoff {
            initial,
            max,
            clock,
            entries: HashMap::new(),
        }
    }

    /// The kubelet's shape: 10 s doubling to 300 s.
    pub fn kubelet(clock: Arc<dyn Clock>) -> Backoff {
        Backoff::new(INITIAL, MAX, clock)
    }

    /// The clock this back-off reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn expired(&self, event: Timestamp, last_update: Timestamp) -> bool {
        since(event, last_update) > signed(self.max * 2)
    }

    /// The key's current back-off (zero when it has none).
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(Duration::ZERO, |e| e.backoff)
    }

    /// Moves the key to its next back-off step (or starts it, or restarts it
    /// when `event` is long after the last step).
    pub fn next(&mut self, key: &str, event: Timestamp) {
        let now = self.clock.now();
        let backoff = match self.entries.get(key) {
            Some(e) if !self.expired(event, e.last_update) => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }

    /// Whether less than the key's back-off has passed since `event` (a container's finish).
    pub fn is_in_backoff_since(&self, key: &str, event: Timestamp) -> bool {
        self.remaining_since(key, event).is_some()
    }

    /// How long until the back-off that started at `event` ends (`None` when it has).
    pub fn remaining_since(&self, key: &str, event: Timestamp) -> Option<Duration> {
        let e = self.entries.get(key)?;
        if self.expired(event, e.last_update) {
            return None;
        }
        let elapsed = since(self.clock.now(), event);
        let left = signed(e.backoff) - elapsed;
        (left > SignedDuration::ZERO).then(|| left.unsigned_abs())
    }

    /// Whether less than the key's back-off has passed between its last step and now
    /// (the image puller's check).
    pub fn is_in_backoff_since_update(&self, key: &str) -> bool {
        self.remaining_since_update(key).is_some()
    }

    /// How long until the back-off from the key's last step ends.
    pub fn remaining_since_update(&self, key: &str) -> Option<Duration> {
        let e = self.entries.get(key)?;
        let now = self.clock.now();
        if self.expired(now, e.last_update) {
            return None;
        }
        let left = signed(e.backoff) - since(now, e.last_update);
        (left > SignedDuration::ZERO).then(|| left.unsigned_abs())
    }

    /// Forgets a key.
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Forgets every key that starts with `prefix` (a pod's keys).
    pub fn reset_prefix(&mut self, prefix: &str) {
        self.entries.retain(|k, _| !k.starts_with(prefix));
    }

    /// Drops entries whose last step is more than twice the maximum ago.
    pub fn gc(&mut self) {
        let now = self.clock.now();
        let max2 = signed(self.max * 2);
        self.entries.retain(|_, e| since(now, e.last_update) <= max2);
    }
}

/// A duration as Go's `time.Duration.String()` prints it, after truncating to
/// milliseconds (`10s`, `1m20s`, `5m0s`, `1.234s`, `523ms`, `0s`).
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let total_s = ms / 1000;
    let frac = ms % 1000;
    let (h, m, s) = (total_s / 3600, (total_s / 60) % 60, total_s % 60);
    let mut secs = s.to_string();
    if frac > 0 {
        let f = format!("{frac:03}");
        secs.push('.');
        secs.push_str(f.trim_end_matches('0'));
    }
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn crash_loop_doubles_to_five_minutes() {
        let clock = FakeClock::new(t0());
        let mut b = Backoff::kubelet(Arc::new(clock.clone()));
        let key = "pod/c";
        // First exit: no entry, the container restarts at once and the entry starts at 10s.
        assert!(!b.is_in_backoff_since(key, clock.now()));
        b.next(key, clock.now());
        assert_eq!(b.get(key), secs(10));
        let mut seen = Vec::new();
        for _ in 0..7 {
            clock.advance(secs(1)); // runs for a second, then exits
            let finished = clock.now();
            assert!(b.is_in_backoff_since(key, finished));
            seen.push(go_duration(b.get(key)));
            assert_eq!(b.remaining_since(key, finished), Some(b.get(key)));
            clock.advance(b.get(key));
            assert!(!b.is_in_backoff_since(key, finished));
            b.next(key, finished);
        }
        assert_eq!(seen, ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s"]);
    }

    #[test]
    fn resets_after_ten_minutes_of_running() {
        let clock = FakeClock::new(t0());
        let mut b = Backoff::kubelet(Arc::new(clock.clone()));
        b.next("k", clock.now());
        clock.advance(secs(1));
        b.next("k", clock.now());
        assert_eq!(b.get("k"), secs(20));
        // Ran for just under 10 minutes: still in the sequence (held 20 s, then 40 s next).
        clock.advance(secs(599));
        let finished = clock.now();
        assert!(b.is_in_backoff_since("k", finished));
        clock.advance(secs(20));
        assert!(!b.is_in_backoff_since("k", finished));
        b.next("k", finished);
        assert_eq!(b.get("k"), secs(40));
        // Ran for more than 10 minutes: back to the start.
        clock.advance(secs(601));
        let finished = clock.now();
        assert!(!b.is_in_backoff_since("k", finished));
        b.next("k", finished);
        assert_eq!(b.get("k"), secs(10));
    }

    #[test]
    fn image_pull_backoff_counts_from_the_last_failure() {
        let clock = FakeClock::new(t0());
        let mut b = Backoff::kubelet(Arc::new(clock.clone()));
        let key = "uid_busybox";
        assert!(!b.is_in_backoff_since_update(key));
        b.next(key, clock.now()); // first failure
        assert!(b.is_in_backoff_since_update(key));
        clock.advance(secs(9));
        assert_eq!(b.remaining_since_update(key), Some(secs(1)));
        clock.advance(secs(1));
        assert!(!b.is_in_backoff_since_update(key));
        b.next(key, clock.now()); // second failure
        assert_eq!(b.get(key), secs(20));
        b.reset(key);
        assert_eq!(b.get(key), Duration::ZERO);
    }

    #[test]
    fn gc_and_prefix_reset_forget_keys() {
        let clock = FakeClock::new(t0());
        let mut b = Backoff::kubelet(Arc::new(clock.clone()));
        b.next("u1/a", clock.now());
        b.next("u1/b", clock.now());
        b.next("u2/a", clock.now());
        b.reset_prefix("u1/");
        assert_eq!(b.get("u1/a"), Duration::ZERO);
        assert_eq!(b.get("u2/a"), secs(10));
        clock.advance(secs(601));
        b.gc();
        assert_eq!(b.get("u2/a"), Duration::ZERO);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_micros(523_999)), "523ms");
        assert_eq!(go_duration(Duration::from_millis(1200)), "1.2s");
        assert_eq!(go_duration(Duration::from_millis(5788)), "5.788s");
        assert_eq!(go_duration(secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(62_050)), "1m2.05s");
        assert_eq!(go_duration(secs(3725)), "1h2m5s");
    }
}
