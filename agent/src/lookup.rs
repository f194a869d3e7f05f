//! The kubelet endpoint's view of this node's pods: pod objects (with the
//! status the agent wrote) from the API, container instances and sandboxes
//! from the runtime.

use std::path::PathBuf;

use futures::future::BoxFuture;
use k1s_apiserver::client::Client;
use k8s_openapi::api::core::v1::Pod;

use crate::runtime::{ContainerRunState, Runtime};
use crate::server::PodLookup;

/// [`PodLookup`] over the API and the runtime.
pub struct NodePods {
    client: Client,
    runtime: Runtime,
    node_name: String,
}

impl NodePods {
    /// Pods bound to `node_name`, read through `client`.
    pub fn new(client: Client, runtime: Runtime, node_name: String) -> NodePods {
        NodePods {
            client,
            runtime,
            node_name,
        }
    }
}

impl PodLookup for NodePods {
    fn pod(&self, namespace: &str, name: &str) -> BoxFuture<'_, Option<Pod>> {
        let (namespace, name) = (namespace.to_string(), name.to_string());
        Box::pin(async move {
            let info = k1s_proto::resources::find("", "v1", "pods")?;
            let value = self.client.get(info, Some(&namespace), &name).await.ok()?;
            let pod: Pod = serde_json::from_value(value).ok()?;
            let here = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(self.node_name.as_str());
            here.then_some(pod)
        })
    }

    fn log_path(&self, container_id: &str) -> BoxFuture<'_, Option<PathBuf>> {
        let id = container_id.to_string();
        Box::pin(async move { self.runtime.get_container(&id).await.ok().flatten().map(|c| c.log_path) })
    }

    fn is_running(&self, container_id: &str) -> BoxFuture<'_, bool> {
        let id = container_id.to_string();
        Box::pin(async move {
            matches!(
                self.runtime.get_container(&id).await,
                Ok(Some(c)) if matches!(c.state, ContainerRunState::Running { .. })
            )
        })
    }

    fn netns(&self, pod_uid: &str) -> BoxFuture<'_, Option<PathBuf>> {
        let uid = pod_uid.to_string();
        Box::pin(async move { self.runtime.get_sandbox(&uid).await.map(|s| s.netns) })
    }
}
