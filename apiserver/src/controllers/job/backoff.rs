//! The pod-failure back-off of the Job controller (`backoff_utils.go`):
//! after consecutive failures a replacement pod waits 10 s, doubling per
//! failure up to 10 minutes, counted from the last failure's finish time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use k1s_proto::meta::parse_time;
use serde_json::Value;

use crate::controllers::podutil::condition;

/// The first delay (`DefaultJobPodFailureBackOff`).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(10);
/// The longest delay (`MaxJobPodFailureBackOff`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);

/// Failures since the last success of one Job, and when the last one happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    /// Consecutive failures after the last success.
    pub failures_after_last_success: i32,
    /// When the last of them finished.
    pub last_failure_time: Option<Timestamp>,
}

impl BackoffRecord {
    /// The record after pods newly succeeded and failed (`newBackoffRecord`).
    pub fn next(self, new_succeeded: &[&Value], new_failed: &[&Value]) -> BackoffRecord {
        let mut failed: Vec<Timestamp> = new_failed.iter().map(|p| finished_time(p)).collect();
        failed.sort();
        let last_success = new_succeeded.iter().map(|p| finished_time(p)).max();
        match last_success {
            None => match failed.last() {
                None => self,
                Some(last) => BackoffRecord {
                    failures_after_last_success: self.failures_after_last_success + failed.len() as i32,
                    last_failure_time: Some(*last),
                },
            },
            Some(success) => {
                let after: Vec<&Timestamp> = failed.iter().filter(|t| **t > success).collect();
                BackoffRecord {
                    failures_after_last_success: after.len() as i32,
                    last_failure_time: after.last().map(|t| **t),
                }
            }
        }
    }

    /// How long a new pod must still wait at `now` (zero when it need not).
    pub fn remaining(&self, now: Timestamp) -> Duration {
        match self.last_failure_time {
            Some(last) => remaining_for_failures(self.failures_after_last_success, last, now),
            None => Duration::ZERO,
        }
    }
}

/// The delay owed after `failures` consecutive failures, the last at `last`.
pub fn remaining_for_failures(failures: i32, last: Timestamp, now: Timestamp) -> Duration {
    if failures <= 0 {
        return Duration::ZERO;
    }
    let mut backoff = DEFAULT_BACKOFF;
    for _ in 1..failures {
        backoff = backoff.saturating_mul(2);
        if backoff >= MAX_BACKOFF {
            backoff = MAX_BACKOFF;
            break;
        }
    }
    let elapsed = now.duration_since(last).try_into().unwrap_or(Duration::ZERO);
    backoff.saturating_sub(elapsed)
}

/// When a pod finished: its last container's finish, else when it turned
/// not ready, else its deletion minus the grace period, else its creation
/// (`getFinishedTime`).
pub fn finished_time(pod: &Value) -> Timestamp {
    if let Some(t) = containers_finished(pod) {
        return t;
    }
    let not_ready = condition(pod, "Ready")
        .filter(|c| c["status"] == "False")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(parse_time);
    if let Some(t) = not_ready {
        return t;
    }
    let meta = &pod["metadata"];
    if let Some(deleted) = meta["deletionTimestamp"].as_str().and_then(parse_time) {
        let grace = meta["deletionGracePeriodSeconds"].as_i64().unwrap_or(0);
        return deleted - jiff::SignedDuration::from_secs(grace);
    }
    meta["creationTimestamp"]
        .as_str()
        .and_then(parse_time)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The latest finish of the app containers (and restartable init containers),
/// if every one of them has terminated.
fn containers_finished(pod: &Value) -> Option<Timestamp> {
    let sidecars: Vec<&str> = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["restartPolicy"] == "Always")
        .filter_map(|c| c["name"].as_str())
        .collect();
    let app = pod["status"]["containerStatuses"].as_array().into_iter().flatten();
    let init = pod["status"]["initContainerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"].as_str().is_some_and(|n| sidecars.contains(&n)));
    let mut latest: Option<Timestamp> = None;
    for status in app.chain(init) {
        let finished = status["state"]["terminated"]["finishedAt"]
            .as_str()
            .and_then(parse_time)?;
        latest = Some(latest.map_or(finished, |l| l.max(finished)));
    }
    latest
}

/// Back-off records of every Job, by key.
#[derive(Debug, Default)]
pub struct BackoffStore {
    records: Mutex<HashMap<String, BackoffRecord>>,
}

impl BackoffStore {
    /// The record of `key` (empty if none).
    pub fn get(&self, key: &str) -> BackoffRecord {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
            .unwrap_or_default()
    }

    /// Stores the record of `key`.
    pub fn set(&self, key: &str, record: BackoffRecord) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), record);
    }

    /// Forgets `key` (the Job finished or is gone).
    pub fn remove(&self, key: &str) {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> Timestamp {
        format!("2026-01-01T00:{s}Z").parse().unwrap()
    }

    fn finished_at(at: &str) -> Value {
        json!({"status": {"containerStatuses": [{"name": "c", "state": {"terminated": {"finishedAt": format!("2026-01-01T00:{at}Z")}}}]}})
    }

    #[test]
    fn delays_double_from_ten_seconds_up_to_ten_minutes() {
        let last = t("00:00");
        let got: Vec<u64> = (0..=9)
            .map(|n| remaining_for_failures(n, last, last).as_secs())
            .collect();
        assert_eq!(got, [0, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        // Time since the failure counts against the delay.
        assert_eq!(remaining_for_failures(2, last, t("00:15")).as_secs(), 5);
        assert_eq!(remaining_for_failures(2, last, t("00:30")), Duration::ZERO);
    }

    #[test]
    fn records_count_failures_since_the_last_success() {
        let none = BackoffRecord::default();
        let f1 = finished_at("01:00");
        let f2 = finished_at("02:00");
        let s = finished_at("01:30");
        let r = none.next(&[], &[&f2, &f1]);
        assert_eq!(r.failures_after_last_success, 2);
        assert_eq!(r.last_failure_time, Some(t("02:00")));
        assert_eq!(r.next(&[], &[]), r);
        // A success resets; only failures after it count.
        let r2 = r.next(&[&s], &[&f1, &f2]);
        assert_eq!(r2.failures_after_last_success, 1);
        assert_eq!(r2.last_failure_time, Some(t("02:00")));
        let r3 = r.next(&[&s], &[]);
        assert_eq!(r3, BackoffRecord::default());
        assert_eq!(r.remaining(t("02:10")).as_secs(), 10);
    }

    #[test]
    fn finish_time_falls_back_through_the_pod_status() {
        assert_eq!(finished_time(&finished_at("05:00")), t("05:00"));
        let not_ready = json!({"status": {"containerStatuses": [{"name": "c", "state": {"running": {}}}],
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-01T00:06:00Z"}]}});
        assert_eq!(finished_time(&not_ready), t("06:00"));
        let deleted = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:07:30Z",
            "deletionGracePeriodSeconds": 30, "creationTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(finished_time(&deleted), t("07:00"));
        let created = json!({"metadata": {"creationTimestamp": "2026-01-01T00:08:00Z"}});
        assert_eq!(finished_time(&created), t("08:00"));
    }
}
