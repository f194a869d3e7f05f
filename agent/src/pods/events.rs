//! Kubelet events: the shared [`k1s_apiserver::events`] recorder with
//! `source.component: kubelet` and the node as host, behind the pod workers'
//! [`EventSink`].

use k1s_apiserver::client::Client;
use k1s_apiserver::events::{self, EventSource};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::deps::EventSink;

/// Records kubelet events through the API; cheap to clone.
#[derive(Clone)]
pub struct EventRecorder {
    inner: events::EventRecorder,
}

/// The `involvedObject` of an event about a pod (or one of its containers).
pub fn involved_object(pod: &Pod, field_path: Option<&str>) -> Value {
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.metadata.name.clone().unwrap_or_default(),
            "namespace": pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            "uid": pod.metadata.uid.clone().unwrap_or_default(),
            "resourceVersion": pod.metadata.resource_version,
        },
    });
    events::object_reference(&obj, field_path)
}

impl EventRecorder {
    /// Starts the writer task for node `node`.
    pub fn spawn(client: Client, node: String) -> EventRecorder {
        let source = EventSource {
            component: "kubelet".into(),
            host: node,
        };
        EventRecorder {
            inner: events::EventRecorder::spawn(client, source),
        }
    }
}

impl EventSink for EventRecorder {
    fn event(&self, pod: &Pod, field_path: Option<&str>, type_: &str, reason: &str, message: String) {
        self.inner
            .record(involved_object(pod, field_path), type_, reason, message);
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
    fn pod_reference_names_the_container() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7"}
        }))
        .unwrap();
        assert_eq!(
            involved_object(&pod, Some("spec.containers{app}")),
            json!({"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1", "apiVersion": "v1",
                   "resourceVersion": "7", "fieldPath": "spec.containers{app}"})
        );
    }
}
