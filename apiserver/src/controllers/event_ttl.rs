//! Event expiry: Events live one hour after their last occurrence, as with
//! Kubernetes' `--event-ttl` default. A sweep on a timer deletes expired ones.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k1s_proto::meta::{parse_time, ObjectMeta};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

use super::resource;
use super::runtime::{Action, Controller, QueueConfig, Reconciler, WorkQueue};
use crate::api::Api;
use crate::client::Client;

/// The controller's name (its client identity and log name).
pub const NAME: &str = "event-ttl-controller";

/// Settings of event expiry.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long an event lives after its last occurrence.
    pub ttl: Duration,
    /// How often expired events are swept.
    pub interval: Duration,
    /// Events read per list page.
    pub page_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ttl: Duration::from_secs(3600),
            interval: Duration::from_secs(60),
            page_size: 500,
        }
    }
}

/// Starts event expiry.
pub fn spawn(api: Arc<Api>, config: Config, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let client = Client::for_controller(api, NAME);
    // One key: the sweep. It requeues itself after each pass.
    let queue: WorkQueue<()> = WorkQueue::new(QueueConfig {
        capacity: 1,
        ..QueueConfig::default()
    });
    queue.add(());
    let controller = Controller::new(NAME, Arc::new(EventTtl { client, config }), queue);
    tokio::spawn(controller.run(shutdown))
}

struct EventTtl {
    client: Client,
    config: Config,
}

impl Reconciler for EventTtl {
    type Key = ();

    async fn reconcile(&self, _: &()) -> anyhow::Result<Action> {
        let deleted = self.sweep(jiff::Timestamp::now()).await?;
        if deleted > 0 {
            debug!(deleted, "expired events removed");
        }
        Ok(Action::RequeueAfter(self.config.interval))
    }
}

impl EventTtl {
    /// Deletes every event whose last occurrence is older than the TTL; returns how many.
    async fn sweep(&self, now: jiff::Timestamp) -> anyhow::Result<usize> {
        let events = resource("", "events");
        let ttl = jiff::SignedDuration::try_from(self.config.ttl).unwrap_or(jiff::SignedDuration::MAX);
        let mut deleted = 0;
        let mut token: Option<String> = None;
        loop {
            let mut query = format!("limit={}", self.config.page_size.max(1));
            if let Some(t) = &token {
                query.push_str("&continue=");
                query.push_str(
                    &percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string(),
                );
            }
            let page = self.client.list(events, None, &query).await.context("listing events")?;
            for ev in page["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let Some(last) = last_occurrence(ev) else { continue };
                if now.duration_since(last) < ttl {
                    continue;
                }
                let (Some(name), Some(ns)) = (ev.name(), ev.namespace()) else {
                    continue;
                };
                // Preconditions: an event updated since it was listed (a new occurrence) stays.
                let options = json!({
                    "kind": "DeleteOptions", "apiVersion": "v1",
                    "preconditions": {"uid": ev.uid(), "resourceVersion": ev.resource_version()},
                });
                match self.client.delete(events, Some(ns), name, &options).await {
                    Ok(_) => deleted += 1,
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => return Err(e).with_context(|| format!("deleting event {ns}/{name}")),
                }
            }
            match page["metadata"]["continue"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(deleted),
            }
        }
    }
}

/// When an event last happened: the later of `series.lastObservedTime` and
/// `lastTimestamp`, else `eventTime`, else `creationTimestamp`.
fn last_occurrence(ev: &Value) -> Option<jiff::Timestamp> {
    let at = |v: &Value| v.as_str().and_then(parse_time);
    let latest = [at(&ev["series"]["lastObservedTime"]), at(&ev["lastTimestamp"])]
        .into_iter()
        .flatten()
        .max();
    latest
        .or_else(|| at(&ev["eventTime"]))
        .or_else(|| at(&ev["metadata"]["creationTimestamp"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::{eventually, TestEnv};
    use k1s_proto::meta::format_time;

    #[test]
    fn last_occurrence_prefers_the_latest_observation() {
        let t = |s: &str| Some(s.parse::<jiff::Timestamp>().unwrap());
        let cases = [
            (
                json!({"lastTimestamp": "2024-01-01T02:00:00Z", "eventTime": "2024-01-01T03:00:00.000000Z"}),
                t("2024-01-01T02:00:00Z"),
            ),
            (
                json!({"lastTimestamp": null, "eventTime": "2024-01-01T03:00:00.123456Z"}),
                t("2024-01-01T03:00:00.123456Z"),
            ),
            (
                json!({"eventTime": "2024-01-01T03:00:00.000000Z", "series": {"count": 2, "lastObservedTime": "2024-01-01T04:00:00.000000Z"}}),
                t("2024-01-01T04:00:00Z"),
            ),
            (
                json!({"metadata": {"creationTimestamp": "2024-01-01T01:00:00Z"}}),
                t("2024-01-01T01:00:00Z"),
            ),
            (json!({"metadata": {}}), None),
        ];
        for (ev, want) in cases {
            assert_eq!(last_occurrence(&ev), want, "{ev}");
        }
    }

    #[tokio::test]
    async fn old_events_expire_and_fresh_ones_stay() {
        let env = TestEnv::new().await;
        let c = env.client();
        let events = resource("", "events");
        let now = jiff::Timestamp::now();
        let event = |name: &str, last: jiff::Timestamp| {
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
                "reason": "Pulled", "message": "pulled", "type": "Normal", "count": 1,
                "firstTimestamp": format_time(last), "lastTimestamp": format_time(last),
            })
        };
        let two_hours = jiff::SignedDuration::from_secs(7200);
        c.create(events, Some("default"), &event("old", now - two_hours))
            .await
            .unwrap();
        c.create(events, Some("default"), &event("fresh", now)).await.unwrap();
        let config = Config {
            interval: Duration::from_millis(20),
            page_size: 1,
            ..Config::default()
        };
        env.keep(spawn(env.api.clone(), config, env.shutdown()));
        eventually("old event expired", || async {
            c.get(events, Some("default"), "old")
                .await
                .is_err_and(|e| e.is_not_found())
        })
        .await;
        // Several sweeps later the fresh one is still there.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(c.get(events, Some("default"), "fresh").await.is_ok());
    }
}
