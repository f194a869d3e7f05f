//! A keyed work queue: a key is queued at most once, is handed to one worker
//! at a time, and can be re-added with a delay or a per-key exponential back-off.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Limits and back-off of a [`WorkQueue`].
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// At most this many distinct keys wait (ready or delayed); further adds are dropped
    /// and counted (a controller's periodic resync brings them back).
    pub capacity: usize,
    /// Delay after the first failure of a key.
    pub base_delay: Duration,
    /// Longest delay between retries of a failing key.
    pub max_delay: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 100_000,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl QueueConfig {
    /// The delay before retry number `failures` (1 for the first failure).
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(31);
        self.base_delay.saturating_mul(1u32 << exp).min(self.max_delay)
    }
}

/// A deduplicating work queue shared by informer handlers and workers.
pub struct WorkQueue<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    config: QueueConfig,
}

struct State<K> {
    /// Keys ready for a worker, in order.
    ready: VecDeque<K>,
    /// Keys waiting to be handed out (in `ready`, or re-queued when their worker is done).
    dirty: HashSet<K>,
    /// Keys a worker holds.
    processing: HashSet<K>,
    /// Keys due later, with the earliest time each is due.
    delayed: HashMap<K, Instant>,
    /// Consecutive failures per key.
    failures: HashMap<K, u32>,
    dropped: u64,
    shut_down: bool,
}

impl<K: Clone + Eq + Hash + Debug + Send + 'static> WorkQueue<K> {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> WorkQueue<K> {
        WorkQueue {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    ready: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    delayed: HashMap::new(),
                    failures: HashMap::new(),
                    dropped: 0,
                    shut_down: false,
                }),
                notify: Notify::new(),
                config,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a key now; returns false when it was dropped (queue full or shut down).
    pub fn add(&self, key: K) -> bool {
        let mut st = self.lock();
        if st.shut_down {
            return false;
        }
        st.delayed.remove(&key);
        if st.dirty.contains(&key) {
            return true;
        }
        if st.dirty.len() + st.delayed.len() >= self.inner.config.capacity {
            st.dropped += 1;
            return false;
        }
        st.dirty.insert(key.clone());
        if !st.processing.contains(&key) {
            st.ready.push_back(key);
            drop(st);
            self.inner.notify.notify_one();
        }
        true
    }

    /// Queues a key once `delay` has passed (keeping an earlier pending time).
    pub fn add_after(&self, key: K, delay: Duration) -> bool {
        if delay.is_zero() {
            return self.add(key);
        }
        let mut st = self.lock();
        if st.shut_down {
            return false;
        }
        if st.dirty.contains(&key) {
            // Already queued: it runs sooner than asked.
            return true;
        }
        let due = Instant::now() + delay;
        match st.delayed.get_mut(&key) {
            Some(t) => *t = (*t).min(due),
            None => {
                if st.dirty.len() + st.delayed.len() >= self.inner.config.capacity {
                    st.dropped += 1;
                    return false;
                }
                st.delayed.insert(key, due);
            }
        }
        drop(st);
        // Waiting workers recompute their wake-up time.
        self.inner.notify.notify_waiters();
        true
    }

    /// Queues a key after its back-off (which grows with each call until [`forget`](Self::forget)).
    pub fn add_rate_limited(&self, key: K) -> bool {
        let delay = {
            let mut st = self.lock();
            let n = st.failures.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            self.inner.config.backoff(*n)
        };
        self.add_after(key, delay)
    }

    /// Clears a key's failure count (after it succeeded).
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// How many times in a row a key failed.
    pub fn failures(&self, key: &K) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Waits for the next key and hands it to the caller, who must call
    /// [`done`](Self::done) with it; `None` once the queue is shut down.
    pub async fn next(&self) -> Option<K> {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut st = self.lock();
                if st.shut_down {
                    return None;
                }
                promote_due(&mut st);
                if let Some(key) = st.ready.pop_front() {
                    st.dirty.remove(&key);
                    st.processing.insert(key.clone());
                    return Some(key);
                }
                st.delayed.values().min().copied()
            };
            match wake_at {
                Some(t) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(t) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Releases a key a worker got from [`next`](Self::next); if it was added
    /// meanwhile, it is queued again.
    pub fn done(&self, key: &K) {
        let mut st = self.lock();
        st.processing.remove(key);
        if st.dirty.contains(key) {
            st.ready.push_back(key.clone());
            drop(st);
            self.inner.notify.notify_one();
        }
    }

    /// Stops the queue: pending and future `next` calls return `None`.
    pub fn shutdown(&self) {
        self.lock().shut_down = true;
        self.inner.notify.notify_waiters();
    }

    /// Keys waiting now (ready, not delayed).
    pub fn len(&self) -> usize {
        self.lock().ready.len()
    }

    /// Whether no key is ready.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many adds were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

/// Moves delayed keys that are due into the ready queue.
fn promote_due<K: Clone + Eq + Hash>(st: &mut State<K>) {
    let now = Instant::now();
    let due: Vec<K> = st
        .delayed
        .iter()
        .filter(|(_, t)| **t <= now)
        .map(|(k, _)| k.clone())
        .collect();
    for key in due {
        st.delayed.remove(&key);
        if st.dirty.insert(key.clone()) && !st.processing.contains(&key) {
            st.ready.push_back(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(capacity: usize) -> WorkQueue<String> {
        WorkQueue::new(QueueConfig {
            capacity,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(80),
        })
    }

    async fn next_in_time(q: &WorkQueue<String>) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(5), q.next())
            .await
            .expect("a key in time")
    }

    #[tokio::test]
    async fn dedupes_queued_keys() {
        let q = queue(10);
        assert!(q.add("a".into()));
        assert!(q.add("b".into()));
        assert!(q.add("a".into()));
        assert_eq!(q.len(), 2);
        assert_eq!(next_in_time(&q).await.as_deref(), Some("a"));
        assert_eq!(next_in_time(&q).await.as_deref(), Some("b"));
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_key_added_while_processing_runs_again_after_done() {
        let q = queue(10);
        q.add("a".into());
        let k = next_in_time(&q).await.unwrap();
        q.add("a".into());
        q.add("a".into());
        // Not handed to a second worker while the first holds it.
        assert!(q.is_empty());
        q.done(&k);
        assert_eq!(q.len(), 1);
        let k = next_in_time(&q).await.unwrap();
        q.done(&k);
        assert!(q.is_empty());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = QueueConfig {
            capacity: 1,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(1),
        };
        let got: Vec<u128> = (1..=10).map(|n| c.backoff(n).as_millis()).collect();
        assert_eq!(got, vec![5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(c.backoff(u32::MAX), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn rate_limited_keys_wait_longer_each_failure_until_forgotten() {
        let q = queue(10);
        let mut waits = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            q.add_rate_limited("a".into());
            let k = next_in_time(&q).await.unwrap();
            waits.push(start.elapsed());
            q.done(&k);
        }
        assert_eq!(q.failures(&"a".to_string()), 3);
        assert!(waits[0] >= Duration::from_millis(10), "{waits:?}");
        assert!(waits[1] >= Duration::from_millis(20), "{waits:?}");
        assert!(waits[2] >= Duration::from_millis(40), "{waits:?}");
        q.forget(&"a".to_string());
        assert_eq!(q.failures(&"a".to_string()), 0);
    }

    #[tokio::test]
    async fn delayed_keys_keep_the_earliest_time_and_an_add_overrides() {
        let q = queue(10);
        q.add_after("a".into(), Duration::from_secs(3600));
        q.add_after("a".into(), Duration::from_millis(10));
        let start = Instant::now();
        assert_eq!(next_in_time(&q).await.as_deref(), Some("a"));
        assert!(start.elapsed() >= Duration::from_millis(10));
        q.done(&"a".to_string());
        q.add_after("b".into(), Duration::from_secs(3600));
        q.add("b".into());
        assert_eq!(next_in_time(&q).await.as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn full_queue_drops_and_shutdown_wakes_workers() {
        let q = queue(2);
        assert!(q.add("a".into()));
        assert!(q.add_after("b".into(), Duration::from_secs(60)));
        assert!(!q.add("c".into()));
        assert!(q.add("a".into()), "a queued key is not a new entry");
        assert_eq!(q.dropped(), 1);
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move {
                let first = q.next().await;
                (first, q.next().await)
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.shutdown();
        let (first, second) = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.as_deref(), Some("a"));
        assert_eq!(second, None);
        assert!(!q.add("d".into()));
    }
}
