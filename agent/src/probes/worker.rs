//! One probe worker: probes one container instance for one probe type every
//! `periodSeconds`, starting `initialDelaySeconds` after the container
//! started, and reports a result once `successThreshold` / `failureThreshold`
//! results in a row were seen (the kubelet's `worker.doProbe`).

use std::sync::Weak;
use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;
use tokio::time::{Instant, MissedTickBehavior};

use super::manager::Inner;
use super::prober::{self, ProbeType, Target};

/// A worker, ready to run as its own task.
pub(crate) struct Worker {
    pub inner: Weak<Inner>,
    pub target: Target,
    pub probe_type: ProbeType,
    pub spec: Probe,
    /// When the container instance started: `initialDelaySeconds` counts from here.
    pub started_at: jiff::Timestamp,
    /// The container was already running when the agent (re)started: spread
    /// the first probe over one period, as the kubelet does after a restart.
    pub adopted: bool,
}

/// How many equal results in a row were seen.
#[derive(Debug, Default)]
pub(crate) struct Run {
    last: Option<bool>,
    count: u32,
}

impl Run {
    /// Adds one probe result; returns the result to record once its
    /// threshold is reached (and on every further equal result).
    pub fn observe(&mut self, ok: bool, success_threshold: u32, failure_threshold: u32) -> Option<bool> {
        if self.last == Some(ok) {
            self.count = self.count.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.count = 1;
        }
        let threshold = if ok { success_threshold } else { failure_threshold };
        (self.count >= threshold.max(1)).then_some(ok)
    }
}

/// `periodSeconds` (default 10, at least 1).
pub(crate) fn period_of(spec: &Probe) -> Duration {
    Duration::from_secs(spec.period_seconds.unwrap_or(10).max(1) as u64)
}

/// Time until `initialDelaySeconds` after `started_at` has passed (wall clock).
pub(crate) fn initial_wait(spec: &Probe, started_at: jiff::Timestamp, now: jiff::Timestamp) -> Duration {
    let delay = jiff::SignedDuration::from_secs(i64::from(spec.initial_delay_seconds.unwrap_or(0).max(0)));
    let due = started_at.checked_add(delay).unwrap_or(started_at);
    let wait = due.duration_since(now);
    if wait.is_positive() {
        Duration::try_from(wait).unwrap_or_default()
    } else {
        Duration::ZERO
    }
}

impl Worker {
    /// Probes until the worker's question is answered for good (startup
    /// succeeded or failed, liveness failed) or the task is aborted.
    pub async fn run(self) {
        let period = period_of(&self.spec);
        let mut delay = initial_wait(&self.spec, self.started_at, jiff::Timestamp::now());
        if self.adopted {
            delay += period.mul_f64(rand::random::<f64>());
        }
        let success_threshold = self.spec.success_threshold.unwrap_or(1).max(1) as u32;
        let failure_threshold = self.spec.failure_threshold.unwrap_or(3).max(1) as u32;
        let mut ticker = tokio::time::interval_at(Instant::now() + delay, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut run = Run::default();
        loop {
            ticker.tick().await;
            if self.inner.strong_count() == 0 {
                return;
            }
            // An errored probe's result is thrown away (its event is recorded).
            let Ok(ok) = prober::probe(&self.target, self.probe_type, &self.spec).await else {
                continue;
            };
            let Some(result) = run.observe(ok, success_threshold, failure_threshold) else {
                continue;
            };
            let Some(inner) = self.inner.upgrade() else {
                return;
            };
            inner.record(&self.target.container_id, self.probe_type, &self.spec, result);
            match (self.probe_type, result) {
                (ProbeType::Startup, true) => {
                    inner.start_after_startup(&self.target, self.started_at);
                    return;
                }
                // The container is about to be killed; a new instance gets
                // new workers.
                (ProbeType::Startup, false) | (ProbeType::Liveness, false) => return,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let mut run = Run::default();
        // successThreshold 2, failureThreshold 3
        assert_eq!(run.observe(true, 2, 3), None);
        assert_eq!(run.observe(true, 2, 3), Some(true));
        assert_eq!(run.observe(true, 2, 3), Some(true));
        assert_eq!(run.observe(false, 2, 3), None);
        assert_eq!(run.observe(false, 2, 3), None);
        assert_eq!(run.observe(true, 2, 3), None);
        assert_eq!(run.observe(false, 2, 3), None);
        assert_eq!(run.observe(false, 2, 3), None);
        assert_eq!(run.observe(false, 2, 3), Some(false));
    }

    #[test]
    fn initial_delay_counts_from_start() {
        let spec = Probe {
            initial_delay_seconds: Some(10),
            ..Default::default()
        };
        let start = jiff::Timestamp::from_second(1_000).expect("ts");
        let now = jiff::Timestamp::from_second(1_004).expect("ts");
        assert_eq!(initial_wait(&spec, start, now), Duration::from_secs(6));
        let later = jiff::Timestamp::from_second(1_020).expect("ts");
        assert_eq!(initial_wait(&spec, start, later), Duration::ZERO);
        assert_eq!(period_of(&spec), Duration::from_secs(10));
    }
}
