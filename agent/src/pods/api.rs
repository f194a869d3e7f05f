//! [`PodApi`] over the in-process API client.

use k1s_apiserver::client::Client;
use k1s_proto::patch::PatchType;
use k1s_proto::ResourceInfo;
use k8s_openapi::api::core::v1::Secret;
use serde_json::{json, Value};

use super::deps::{BoxFut, PodApi};

/// The workers' API calls through a [`Client`].
#[derive(Clone)]
pub struct ClientApi {
    client: Client,
    pods: &'static ResourceInfo,
    secrets: &'static ResourceInfo,
}

impl ClientApi {
    /// Wraps a client.
    pub fn new(client: Client) -> anyhow::Result<ClientApi> {
        let find = |plural: &str| {
            k1s_proto::resources::find("", "v1", plural)
                .ok_or_else(|| anyhow::anyhow!("the resource table has no {plural}"))
        };
        Ok(ClientApi {
            client,
            pods: find("pods")?,
            secrets: find("secrets")?,
        })
    }
}

impl PodApi for ClientApi {
    fn patch_status<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        patch: &'a Value,
    ) -> BoxFut<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            self.client
                .patch(
                    self.pods,
                    Some(namespace),
                    name,
                    Some("status"),
                    PatchType::Merge,
                    patch,
                )
                .await
                .map_err(|e| anyhow::anyhow!("patching the status of pod {namespace}/{name}: {e}"))
        })
    }

    fn delete_pod<'a>(&'a self, namespace: &'a str, name: &'a str, uid: &'a str) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": uid}});
            match self.client.delete(self.pods, Some(namespace), name, &options).await {
                Ok(_) => Ok(()),
                // Already gone, or a new pod of the same name: nothing of ours to delete.
                Err(e) if e.is_not_found() || e.code == 409 => Ok(()),
                Err(e) => Err(anyhow::anyhow!("deleting pod {namespace}/{name}: {e}")),
            }
        })
    }

    fn get_secret<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFut<'a, anyhow::Result<Option<Secret>>> {
        Box::pin(async move {
            match self.client.get(self.secrets, Some(namespace), name).await {
                Ok(v) => Ok(Some(serde_json::from_value(v)?)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(anyhow::anyhow!("reading secret {namespace}/{name}: {e}")),
            }
        })
    }
}
