//! Event recording for every component (controllers, scheduler, kubelet):
//! core/v1 Events written in order by one task per recorder; a repeat of the
//! same event (same object, field path, type, reason and message) bumps
//! `count` and `lastTimestamp`, as client-go's recorder aggregates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k1s_proto::meta::{now_rfc3339, ObjectMeta};
use k1s_proto::patch::PatchType;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::debug;

use crate::client::Client;

/// How many distinct events are remembered for aggregation (client-go's LRU size).
const CACHE: usize = 4096;

/// Event type `Normal`.
pub const NORMAL: &str = "Normal";
/// Event type `Warning`.
pub const WARNING: &str = "Warning";

/// Who reports events: `source.component`/`reportingComponent` and the host.
#[derive(Debug, Clone)]
pub struct EventSource {
    /// `kubelet`, `default-scheduler`, `replicaset-controller`, …
    pub component: String,
    /// The node name for the kubelet; empty for controllers.
    pub host: String,
}

impl EventSource {
    /// A control-plane component (no host).
    pub fn controller(component: &str) -> EventSource {
        EventSource {
            component: component.to_string(),
            host: String::new(),
        }
    }
}

/// One event, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The `involvedObject` reference.
    pub involved: Value,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// The CamelCase reason.
    pub reason: String,
    /// The human message.
    pub message: String,
}

/// Records events through the API (or into memory, for tests); cheap to clone.
#[derive(Clone)]
pub struct EventRecorder {
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    Api(mpsc::UnboundedSender<Recorded>),
    Memory(Arc<Mutex<Vec<Recorded>>>),
}

/// The `involvedObject` of an event about `obj` (which carries `apiVersion`
/// and `kind`), optionally about one part of it (`spec.containers{app}`).
pub fn object_reference(obj: &Value, field_path: Option<&str>) -> Value {
    let mut r = json!({
        "kind": obj["kind"],
        "namespace": obj.namespace().unwrap_or(""),
        "name": obj.name().unwrap_or(""),
        "uid": obj.uid().unwrap_or(""),
        "apiVersion": obj["apiVersion"],
    });
    if obj.namespace().is_none() {
        r.as_object_mut().map(|m| m.remove("namespace"));
    }
    if let Some(rv) = obj["metadata"]["resourceVersion"].as_str() {
        r["resourceVersion"] = json!(rv);
    }
    if let Some(fp) = field_path {
        r["fieldPath"] = json!(fp);
    }
    r
}

impl EventRecorder {
    /// Starts the writer task for `source`.
    pub fn spawn(client: Client, source: EventSource) -> EventRecorder {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(client, source, rx));
        EventRecorder { sink: Sink::Api(tx) }
    }

    /// A recorder that keeps events in memory (tests read them with [`EventRecorder::recorded`]).
    pub fn memory() -> EventRecorder {
        EventRecorder {
            sink: Sink::Memory(Arc::default()),
        }
    }

    /// Records an event about `involved` (an [`object_reference`]).
    pub fn record(&self, involved: Value, type_: &str, reason: &str, message: impl Into<String>) {
        let event = Recorded {
            involved,
            type_: type_.to_string(),
            reason: reason.to_string(),
            message: message.into(),
        };
        match &self.sink {
            Sink::Api(tx) => {
                let _ = tx.send(event);
            }
            Sink::Memory(events) => events.lock().unwrap_or_else(|p| p.into_inner()).push(event),
        }
    }

    /// Records an event about the whole of `obj` (which carries `apiVersion` and `kind`).
    pub fn event(&self, obj: &Value, type_: &str, reason: &str, message: impl Into<String>) {
        self.record(object_reference(obj, None), type_, reason, message);
    }

    /// What a [`EventRecorder::memory`] recorder holds (empty for an API recorder).
    pub fn recorded(&self) -> Vec<Recorded> {
        match &self.sink {
            Sink::Api(_) => Vec::new(),
            Sink::Memory(events) => events.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

/// The Event object for a first occurrence.
fn event_object(e: &Recorded, source: &EventSource, name: &str, namespace: &str, now: &str) -> Value {
    let mut src = json!({"component": source.component});
    if !source.host.is_empty() {
        src["host"] = json!(source.host);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": e.involved,
        "reason": e.reason,
        "message": e.message,
        "source": src,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": e.type_,
        "eventTime": null,
        "reportingComponent": source.component,
        "reportingInstance": source.host,
    })
}

async fn write_loop(client: Client, source: EventSource, mut rx: mpsc::UnboundedReceiver<Recorded>) {
    let Some(info) = k1s_proto::resources::find("", "v1", "events") else {
        return;
    };
    // Aggregation key → (event name, count).
    let mut seen: HashMap<String, (String, i64)> = HashMap::new();
    while let Some(e) = rx.recv().await {
        let involved = &e.involved;
        // Events about cluster-scoped objects (nodes) live in `default`, as Kubernetes puts them.
        let namespace = involved["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        let key = format!(
            "{}|{}|{}|{}|{}",
            involved["uid"].as_str().unwrap_or(""),
            involved["fieldPath"].as_str().unwrap_or(""),
            e.type_,
            e.reason,
            e.message
        );
        let now = now_rfc3339();
        if let Some((name, count)) = seen.get(&key).cloned() {
            let patch = json!({"count": count + 1, "lastTimestamp": now});
            match client
                .patch(info, Some(namespace), &name, None, PatchType::Merge, &patch)
                .await
            {
                Ok(_) => {
                    seen.insert(key, (name, count + 1));
                    continue;
                }
                Err(err) => debug!(event = name, error = %err, "event update failed; creating a new one"),
            }
        }
        if seen.len() >= CACHE {
            seen.clear();
        }
        let nanos = jiff::Timestamp::now().as_nanosecond();
        let name = format!("{}.{:x}", involved["name"].as_str().unwrap_or("event"), nanos);
        match client
            .create(
                info,
                Some(namespace),
                &event_object(&e, &source, &name, namespace, &now),
            )
            .await
        {
            Ok(_) => {
                seen.insert(key, (name, 1));
            }
            Err(err) => debug!(reason = e.reason, error = %err, "event create failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_events_carry_host_and_field_path() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7"}});
        let e = Recorded {
            involved: object_reference(&pod, Some("spec.containers{app}")),
            type_: NORMAL.into(),
            reason: "Started".into(),
            message: "Started container app".into(),
        };
        let source = EventSource {
            component: "kubelet".into(),
            host: "node1".into(),
        };
        let ev = event_object(&e, &source, "web.1", "default", "2026-01-01T00:00:00Z");
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

    #[test]
    fn controller_events_have_no_host_and_cluster_objects_no_namespace() {
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u2"}});
        let r = object_reference(&node, None);
        assert!(r.get("namespace").is_none());
        let e = Recorded {
            involved: r,
            type_: NORMAL.into(),
            reason: "RegisteredNode".into(),
            message: "m".into(),
        };
        let ev = event_object(&e, &EventSource::controller("node-controller"), "n1.1", "default", "t");
        assert_eq!(ev["source"], json!({"component": "node-controller"}));
    }

    #[test]
    fn memory_recorder_keeps_events() {
        let r = EventRecorder::memory();
        let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "a", "namespace": "d"}});
        r.event(&rs, NORMAL, "SuccessfulCreate", "Created pod: a-x");
        assert_eq!(r.recorded()[0].reason, "SuccessfulCreate");
    }
}
