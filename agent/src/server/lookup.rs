//! What the kubelet endpoint needs to know about the node's pods, behind a
//! trait so it can be tested with fakes (the pod manager implements it), and
//! the kubelet's rules for picking a container instance from a pod's status.

use std::path::PathBuf;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// The node's pods and containers, as the kubelet endpoint sees them.
pub trait PodLookup: Send + Sync + 'static {
    /// The pod `namespace/name` running on this node, with the status the
    /// agent computed for it; `None` when this node does not run it.
    fn pod(&self, namespace: &str, name: &str) -> BoxFuture<'_, Option<Pod>>;
    /// The CRI log file of a container instance (containerd ID, without `containerd://`).
    fn log_path(&self, container_id: &str) -> BoxFuture<'_, Option<PathBuf>>;
    /// Whether that instance's task is still running.
    fn is_running(&self, container_id: &str) -> BoxFuture<'_, bool>;
    /// The network namespace file of the pod's sandbox (port-forward).
    fn netns(&self, pod_uid: &str) -> BoxFuture<'_, Option<PathBuf>>;
}

/// A container ID without its runtime prefix (`containerd://…`).
pub fn bare_id(id: &str) -> &str {
    id.split_once("://").map_or(id, |(_, rest)| rest)
}

fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

fn find_status<'a>(pod: &'a Pod, container: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    [
        status.container_statuses.as_deref(),
        status.init_container_statuses.as_deref(),
        status.ephemeral_container_statuses.as_deref(),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .find(|s| s.name == container)
}

/// The container instance whose log `kubectl logs [--previous]` reads, as the
/// kubelet chooses it from the pod's status; the kubelet's message if none.
pub fn log_container_id(pod: &Pod, container: &str, previous: bool) -> Result<String, String> {
    let name = pod_name(pod);
    let Some(status) = find_status(pod, container) else {
        return Err(format!("container {container:?} in pod {name:?} is not available"));
    };
    let state = status.state.clone().unwrap_or_default();
    let last_terminated = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let last_id = last_terminated
        .and_then(|t| t.container_id.as_deref())
        .filter(|id| !id.is_empty());
    let id = if previous {
        last_id.ok_or_else(|| format!("previous terminated container {container:?} in pod {name:?} not found"))?
    } else if state.running.is_some() {
        status.container_id.as_deref().unwrap_or_default()
    } else if let Some(t) = state.terminated.as_ref() {
        match t.container_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => id,
            None => last_id.ok_or_else(|| format!("container {container:?} in pod {name:?} is terminated"))?,
        }
    } else if last_terminated.is_some() {
        last_id.ok_or_else(|| format!("container {container:?} in pod {name:?} is terminated"))?
    } else if let Some(w) = state.waiting.as_ref() {
        let reason = w.reason.as_deref().unwrap_or_default();
        return Err(match reason {
            "ErrImagePull" => {
                format!("container {container:?} in pod {name:?} is waiting to start: image can't be pulled")
            }
            "ImagePullBackOff" => {
                format!("container {container:?} in pod {name:?} is waiting to start: trying and failing to pull image")
            }
            _ => format!("container {container:?} in pod {name:?} is waiting to start: {reason}"),
        });
    } else {
        return Err(format!(
            "container {container:?} in pod {name:?} is waiting to start - no logs yet"
        ));
    };
    if id.is_empty() {
        return Err(format!(
            "container {container:?} in pod {name:?} is waiting to start - no logs yet"
        ));
    }
    Ok(bare_id(id).to_string())
}

/// The running instance of `container` (exec, attach); the kubelet's message if none.
pub fn running_container_id(pod: &Pod, container: &str) -> Result<String, String> {
    find_status(pod, container)
        .filter(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()))
        .and_then(|s| s.container_id.as_deref())
        .filter(|id| !id.is_empty())
        .map(|id| bare_id(id).to_string())
        .ok_or_else(|| format!("container not found ({container:?})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(statuses: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "status": {"containerStatuses": statuses}
        }))
        .unwrap()
    }

    #[test]
    fn picks_instances_like_the_kubelet() {
        let running = pod(json!([{
            "name": "app", "image": "i", "imageID": "", "ready": true, "restartCount": 1,
            "containerID": "containerd://abc",
            "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "containerd://old"}}
        }]));
        assert_eq!(log_container_id(&running, "app", false).unwrap(), "abc");
        assert_eq!(log_container_id(&running, "app", true).unwrap(), "old");
        assert_eq!(running_container_id(&running, "app").unwrap(), "abc");
        assert_eq!(
            log_container_id(&running, "db", false).unwrap_err(),
            r#"container "db" in pod "web" is not available"#
        );
        assert_eq!(
            running_container_id(&running, "db").unwrap_err(),
            r#"container not found ("db")"#
        );

        let waiting = pod(json!([{
            "name": "app", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}
        }]));
        assert_eq!(
            log_container_id(&waiting, "app", false).unwrap_err(),
            r#"container "app" in pod "web" is waiting to start: ContainerCreating"#
        );
        assert_eq!(
            log_container_id(&waiting, "app", true).unwrap_err(),
            r#"previous terminated container "app" in pod "web" not found"#
        );
        assert!(running_container_id(&waiting, "app").is_err());

        let crashed = pod(json!([{
            "name": "app", "image": "i", "imageID": "", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "containerd://last"}}
        }]));
        assert_eq!(log_container_id(&crashed, "app", false).unwrap(), "last");
    }
}
