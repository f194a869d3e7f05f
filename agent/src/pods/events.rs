//! Kubelet events: core/v1 Events with `source.component: kubelet`, written in
//! order by one task; repeats of the same event (same object, field path, type,
//! reason and message) bump `count` and `lastTimestamp` as client-go's recorder does.

use std::collections::HashMap;

use k1s_apiserver::client::Client;
use k1s_proto::meta::now_rfc3339;
use k1s_proto::patch::PatchType;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::debug;

use super::deps::EventSink;

/// How many distinct events are remembered for aggregation (client-go's LRU size).
const CACHE: usize = 4096;

/// One event to write.
#[derive(Debug, Clone)]
struct Pending {
    involved: Value,
    namespace: String,
    pod_name: String,
    type_: String,
    reason: String,
    message: String,
}

/// Records kubelet events through the API; cheap to clone.
#[derive(Clone)]
pub struct EventRecorder {
    tx: mpsc::UnboundedSender<Pending>,
}

/// The `involvedObject` of an event about a pod (or one of its containers).
pub fn involved_object(pod: &Pod, field_path: Option<&str>) -> Value {
    let mut o = json!({
        "kind": "Pod",
        "namespace": pod.metadata.namespace.clone().unwrap_or_default(),
        "name": pod.metadata.name.clone().unwrap_or_default(),
        "uid": pod.metadata.uid.clone().unwrap_or_default(),
        "apiVersion": "v1",
    });
    if let Some(rv) = &pod.metadata.resource_version {
        o["resourceVersion"] = json!(rv);
    }
    if let Some(fp) = field_path {
        o["fieldPath"] = json!(fp);
    }
    o
}

/// The Event object for a first occurrence.
fn event_object(p: &Pending, node: &str, name: &str, now: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": p.namespace},
        "involvedObject": p.involved,
        "reason": p.reason,
        "message": p.message,
        "source": {"component": "kubelet", "host": node},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": p.type_,
        "eventTime": null,
        "reportingComponent": "kubelet",
        "reportingInstance": node,
    })
}

impl EventRecorder {
    /// Starts the writer task for node `node`.
    pub fn spawn(client: Client, node: String) -> EventRecorder {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(client, node, rx));
        EventRecorder { tx }
    }
}

impl EventSink for EventRecorder {
    fn event(&self, pod: &Pod, field_path: Option<&str>, type_: &str, reason: &str, message: String) {
        let _ = self.tx.send(Pending {
            involved: involved_object(pod, field_path),
            namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            pod_name: pod.metadata.name.clone().unwrap_or_default(),
            type_: type_.to_string(),
            reason: reason.to_string(),
            message,
        });
    }
}

async fn write_loop(client: Client, node: String, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let Some(info) = k1s_proto::resources::find("", "v1", "events") else {
        return;
    };
    // Aggregation key → (event name, count).
    let mut seen: HashMap<String, (String, i64)> = HashMap::new();
    while let Some(p) = rx.recv().await {
        let key = format!(
            "{}|{}|{}|{}|{}",
            p.involved["uid"].as_str().unwrap_or(""),
            p.involved["fieldPath"].as_str().unwrap_or(""),
            p.type_,
            p.reason,
            p.message
        );
        let now = now_rfc3339();
        if let Some((name, count)) = seen.get(&key).cloned() {
            let patch = json!({"count": count + 1, "lastTimestamp": now});
            match client
                .patch(info, Some(&p.namespace), &name, None, PatchType::Merge, &patch)
                .await
            {
                Ok(_) => {
                    seen.insert(key, (name, count + 1));
                    continue;
                }
                Err(e) => debug!(event = name, error = %e, "event update failed; creating a new one"),
            }
        }
        if seen.len() >= CACHE {
            seen.clear();
        }
        let nanos = jiff::Timestamp::now().as_nanosecond();
        let name = format!("{}.{:x}", p.pod_name, nanos);
        match client
            .create(info, Some(&p.namespace), &event_object(&p, &node, &name, &now))
            .await
        {
            Ok(_) => {
                seen.insert(key, (name, 1));
            }
            Err(e) => debug!(reason = p.reason, error = %e, "event create failed"),
        }
    }
}

/// A recorded event: `(field path, type, reason, message)`.
pub type Recorded = (String, String, String, String);

/// An [`EventSink`] that keeps events in memory (tests).
#[derive(Default, Clone)]
pub struct MemoryEvents(pub std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>);

impl MemoryEvents {
    /// `(field path, type, reason, message)` of every event so far.
    pub fn all(&self) -> Vec<Recorded> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The reasons of every event so far.
    pub fn reasons(&self) -> Vec<String> {
        self.all().into_iter().map(|e| e.2).collect()
    }
}

impl EventSink for MemoryEvents {
    fn event(&self, _pod: &Pod, field_path: Option<&str>, type_: &str, reason: &str, message: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push((
            field_path.unwrap_or("").to_string(),
            type_.to_string(),
            reason.to_string(),
            message,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_look_like_the_kubelets() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7"}
        }))
        .unwrap();
        let p = Pending {
            involved: involved_object(&pod, Some("spec.containers{app}")),
            namespace: "default".into(),
            pod_name: "web".into(),
            type_: "Normal".into(),
            reason: "Started".into(),
            message: "Started container app".into(),
        };
        let ev = event_object(&p, "node1", "web.1", "2026-01-01T00:00:00Z");
        assert_eq!(ev["source"], json!({"component": "kubelet", "host": "node1"}));
        assert_eq!(ev["reportingComponent"], "kubelet");
        assert_eq!(ev["reportingInstance"], "node1");
        assert_eq!(
            ev["involvedObject"],
            json!({"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1", "apiVersion": "v1",
                   "resourceVersion": "7", "fieldPath": "spec.containers{app}"})
        );
        assert_eq!(ev["count"], 1);
    }
}
