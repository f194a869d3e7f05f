//! Compacts the change log on a timer.
//!
//! Like the Kubernetes API server's compactor, it remembers the revision it
//! saw at each tick and compacts to a revision once it is old enough, so watch
//! history reaches back at least `Retention::min_age` (and at most one interval
//! more). Defaults: a tick every minute, 5 minutes of history (as Kubernetes),
//! and never fewer than 100 revisions, so that a quiet cluster still lets a
//! client resume a watch across a short disconnect.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{SledStore, Store};

/// How often the default compactor runs.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// How much change history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep every change younger than this.
    pub min_age: Duration,
    /// Keep at least this many of the newest revisions.
    pub min_revisions: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            min_age: Duration::from_secs(5 * 60),
            min_revisions: 100,
        }
    }
}

/// Revisions seen at past ticks, oldest first.
#[derive(Debug, Default)]
struct History {
    samples: VecDeque<(Duration, u64)>,
}

impl History {
    /// Records that the store was at `revision` at time `at` (since start).
    fn record(&mut self, at: Duration, revision: u64) {
        self.samples.push_back((at, revision));
    }

    /// The revision to compact to at time `now` (0: nothing to do); forgets
    /// samples older than the one chosen.
    fn target(&mut self, now: Duration, current: u64, keep: &Retention) -> u64 {
        let old_enough = self
            .samples
            .iter()
            .rposition(|(at, _)| now.saturating_sub(*at) >= keep.min_age);
        let Some(idx) = old_enough else {
            return 0;
        };
        self.samples.drain(..idx);
        self.samples[0].1.min(current.saturating_sub(keep.min_revisions))
    }
}

/// Spawns a task that compacts `store` every `interval`, keeping `keep`. It
/// ends when the store closes or is dropped.
pub fn spawn_compactor(store: Arc<SledStore>, interval: Duration, keep: Retention) -> JoinHandle<()> {
    let weak = Arc::downgrade(&store);
    let mut shutdown = store.shutdown_signal();
    drop(store);
    tokio::spawn(async move {
        let start = Instant::now();
        let mut history = History::default();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.wait_for(|closed| *closed) => break,
            }
            let Some(store) = weak.upgrade() else { break };
            let now = start.elapsed();
            let current = store.current_revision();
            history.record(now, current);
            let target = history.target(now, current, &keep);
            if target <= store.oldest_revision() {
                continue;
            }
            match tokio::task::spawn_blocking(move || store.compact(target)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, revision = target, "compaction failed"),
                Err(error) => tracing::warn!(%error, "compaction task failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn compacts_to_the_newest_revision_old_enough() {
        let keep = Retention {
            min_age: secs(300),
            min_revisions: 10,
        };
        // (samples, now, current, expected target, samples left)
        type Case = (&'static [(u64, u64)], u64, u64, u64, usize);
        let cases: &[Case] = &[
            (&[], 0, 100, 0, 0),
            // Nothing is 5 minutes old yet.
            (&[(0, 50), (60, 80)], 120, 100, 0, 2),
            // The sample from t=0 is old enough.
            (&[(0, 50), (60, 80), (300, 90)], 300, 500, 50, 3),
            // The newest old-enough sample wins; older ones are forgotten.
            (&[(0, 50), (60, 80), (120, 90), (400, 95)], 419, 500, 80, 3),
            (&[(0, 50), (60, 80), (120, 90), (400, 95)], 420, 500, 90, 2),
            // Never fewer than `min_revisions` kept.
            (&[(0, 95)], 400, 100, 90, 1),
            (&[(0, 5)], 400, 8, 0, 1),
        ];
        for (samples, now, current, want, left) in cases {
            let mut h = History::default();
            for (at, rev) in samples.iter() {
                h.record(secs(*at), *rev);
            }
            assert_eq!(h.target(secs(*now), *current, &keep), *want, "{samples:?} at {now}");
            assert_eq!(h.samples.len(), *left, "{samples:?} at {now}");
        }
    }
}
