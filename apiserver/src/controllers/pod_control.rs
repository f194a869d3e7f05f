//! Creating and deleting a controller's pods with the events Kubernetes'
//! `RealPodControl` records on the parent: `SuccessfulCreate` "Created pod: x",
//! `FailedCreate` "Error creating: …", `SuccessfulDelete` "Deleted pod: x",
//! `FailedDelete` "Error deleting: …".

use k1s_proto::meta::{now_rfc3339, ObjectMeta};
use k1s_proto::patch::PatchType;
use k1s_proto::ApiError;
use serde_json::{json, Value};

use super::resource;
use crate::client::Client;
use crate::events::{self, EventRecorder};
use crate::http::rest::NAMESPACE_TERMINATING_CAUSE;

/// Event reason of a created pod.
pub const SUCCESSFUL_CREATE: &str = "SuccessfulCreate";
/// Event reason of a failed pod create.
pub const FAILED_CREATE: &str = "FailedCreate";
/// Event reason of a deleted pod.
pub const SUCCESSFUL_DELETE: &str = "SuccessfulDelete";
/// Event reason of a failed pod delete.
pub const FAILED_DELETE: &str = "FailedDelete";

/// Whether the API refused a create because the namespace is being deleted.
pub fn is_namespace_terminating(e: &ApiError) -> bool {
    e.causes.iter().any(|c| c.reason == NAMESPACE_TERMINATING_CAUSE)
}

/// Sets one condition of `pod`'s status through a strategic-merge patch of
/// `pods/status` (Kubernetes' `UpdatePodCondition` + `PatchPodStatus`):
/// `Ok(false)` when the pod already had it (nothing written), as
/// [`update_pod_condition`](crate::registry::update_pod_condition) decides.
pub async fn patch_pod_condition(client: &Client, pod: &Value, condition: Value) -> Result<bool, ApiError> {
    let type_ = condition["type"].clone();
    let mut updated = pod.clone();
    if !crate::registry::update_pod_condition(&mut updated, condition, &now_rfc3339()) {
        return Ok(false);
    }
    let merged = updated["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or(Value::Null);
    let patch = json!({"status": {"conditions": [merged]}});
    client
        .patch(
            resource("", "pods"),
            Some(pod.namespace().unwrap_or("default")),
            pod.name().unwrap_or(""),
            Some("status"),
            PatchType::StrategicMerge,
            &patch,
        )
        .await?;
    Ok(true)
}

/// Creates and deletes pods for a parent object, recording events on it.
#[derive(Clone)]
pub struct PodControl {
    client: Client,
    recorder: EventRecorder,
}

impl PodControl {
    /// Pod control through `client`, events through `recorder`.
    pub fn new(client: Client, recorder: EventRecorder) -> PodControl {
        PodControl { client, recorder }
    }

    /// Creates `pod` (built with `podutil::pod_from_template`) for `parent`;
    /// returns the created pod.
    pub async fn create(&self, pod: &Value, parent: &Value) -> Result<Value, ApiError> {
        if pod.labels().is_none_or(|l| l.is_empty()) {
            return Err(ApiError::bad_request("unable to create pods, no labels"));
        }
        match self.client.create(resource("", "pods"), pod.namespace(), pod).await {
            Ok(created) => {
                let name = created.name().unwrap_or("");
                self.recorder.event(
                    parent,
                    events::NORMAL,
                    SUCCESSFUL_CREATE,
                    format!("Created pod: {name}"),
                );
                Ok(created)
            }
            Err(e) => {
                if !is_namespace_terminating(&e) {
                    self.recorder.event(
                        parent,
                        events::WARNING,
                        FAILED_CREATE,
                        format!("Error creating: {}", e.message),
                    );
                }
                Err(e)
            }
        }
    }

    /// Deletes the pod `name` of `parent`'s namespace. A pod already gone is a
    /// `NotFound` error without an event.
    pub async fn delete(&self, name: &str, parent: &Value) -> Result<(), ApiError> {
        match self
            .client
            .delete(resource("", "pods"), parent.namespace(), name, &Value::Null)
            .await
        {
            Ok(_) => {
                self.recorder.event(
                    parent,
                    events::NORMAL,
                    SUCCESSFUL_DELETE,
                    format!("Deleted pod: {name}"),
                );
                Ok(())
            }
            Err(e) if e.is_not_found() => Err(e),
            Err(e) => {
                self.recorder.event(
                    parent,
                    events::WARNING,
                    FAILED_DELETE,
                    format!("Error deleting: {}", e.message),
                );
                let mut wrapped = e.clone();
                wrapped.message = format!("unable to delete pods: {}", e.message);
                Err(wrapped)
            }
        }
    }
}
