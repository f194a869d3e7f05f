//! The in-process API client that controllers use: the same request pipeline
//! as HTTPS clients (routing, strategies, validation, store), without a socket.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::{header, Method, Request};
use http_body_util::{BodyExt, Full};
use k1s_proto::patch::PatchType;
use k1s_proto::{ApiError, ResourceInfo};
use serde_json::Value;

use crate::api::Api;
use crate::authn::UserInfo;

/// A client of the API: in the same process, or over HTTPS (`Client::remote`).
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    user: Arc<UserInfo>,
}

/// How requests reach the API.
#[derive(Clone)]
enum Transport {
    /// The request pipeline of this process, without a socket.
    InProcess(Arc<Api>),
    /// An API server over HTTPS; the user is whoever the credentials name.
    Remote(crate::remote::Remote),
}

/// The scheduler's user name.
const SCHEDULER_USER: &str = "system:kube-scheduler";

/// One event of a watch stream: its type (`ADDED`, `MODIFIED`, `DELETED`,
/// `BOOKMARK`, `ERROR`) and object.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// The event type.
    pub event_type: String,
    /// The object (a `Status` for `ERROR`).
    pub object: Value,
}

/// The path of a collection, object or subresource.
pub fn resource_path(info: &ResourceInfo, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>) -> String {
    let mut p = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    if let (true, Some(ns)) = (info.namespaced, namespace) {
        p.push_str("/namespaces/");
        p.push_str(ns);
    }
    p.push('/');
    p.push_str(info.plural);
    if let Some(n) = name {
        p.push('/');
        p.push_str(n);
        if let Some(s) = sub {
            p.push('/');
            p.push_str(s);
        }
    }
    p
}

impl Client {
    /// A client acting as `user`.
    pub fn new(api: Arc<Api>, user: UserInfo) -> Client {
        Client {
            transport: Transport::InProcess(api),
            user: Arc::new(user),
        }
    }

    /// A client of a remote API server, with the current context of a kubeconfig
    /// (`server` overrides its URL); requests identify as a kubelet of `node`.
    pub fn remote(kubeconfig: &std::path::Path, server: Option<&str>, node: &str) -> anyhow::Result<Client> {
        Ok(Client {
            transport: Transport::Remote(crate::remote::Remote::from_kubeconfig(kubeconfig, server)?),
            user: Arc::new(UserInfo {
                name: format!("system:node:{node}"),
                groups: vec!["system:nodes".into()],
            }),
        })
    }

    /// The in-process API this client calls (`None` for a remote server).
    pub fn api(&self) -> Option<&Arc<Api>> {
        match &self.transport {
            Transport::InProcess(api) => Some(api),
            Transport::Remote(_) => None,
        }
    }

    /// A client for a built-in controller (a member of `system:masters`).
    pub fn for_controller(api: Arc<Api>, name: &str) -> Client {
        Client::new(
            api,
            UserInfo {
                name: format!("system:serviceaccount:kube-system:{name}"),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
            },
        )
    }

    /// A client for the scheduler: user `system:kube-scheduler`, as kube-scheduler
    /// authenticates (its requests and field manager say `kube-scheduler`).
    pub fn for_scheduler(api: Arc<Api>) -> Client {
        Client::new(
            api,
            UserInfo {
                name: SCHEDULER_USER.into(),
                groups: vec!["system:authenticated".into()],
            },
        )
    }

    /// A client for the node agent: user `system:node:<node>` in `system:nodes`, as a kubelet.
    pub fn for_node(api: Arc<Api>, node: &str) -> Client {
        Client::new(
            api,
            UserInfo {
                name: format!("system:node:{node}"),
                groups: vec!["system:nodes".into(), "system:authenticated".into()],
            },
        )
    }

    /// The User-Agent of in-process requests (it names their field manager): the
    /// built-in objects are written as `kube-apiserver`, controllers as
    /// `kube-controller-manager`, the scheduler as `kube-scheduler`, the node agent as
    /// `kubelet`, as on a Kubernetes cluster.
    fn user_agent(&self) -> &'static str {
        if self.user.name.ends_with(":k1s-bootstrap") {
            "kube-apiserver/v1.33.0 (linux/amd64) kubernetes/k1s"
        } else if self.user.name.starts_with("system:node:") {
            "kubelet/v1.33.0 (linux/amd64) kubernetes/k1s"
        } else if self.user.name == SCHEDULER_USER {
            "kube-scheduler/v1.33.0 (linux/amd64) kubernetes/k1s"
        } else {
            "kube-controller-manager/v1.33.0 (linux/amd64) kubernetes/k1s"
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<http::Response<crate::http::Body>, ApiError> {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, self.user_agent())
            .body(Full::new(body))
            .map_err(ApiError::internal)?;
        match &self.transport {
            // Boxed: the request pipeline's future is large, and a caller's future
            // would otherwise carry it inline (deep controller call chains overflow
            // a worker thread's stack in debug builds).
            Transport::InProcess(api) => Ok(Box::pin(api.handle(req, &self.user)).await),
            Transport::Remote(remote) => remote
                .send(req)
                .await
                .map_err(|e| ApiError::unavailable(format!("{e:#}"))),
        }
    }

    async fn request(&self, method: Method, uri: &str, content_type: &str, body: Bytes) -> Result<Value, ApiError> {
        let resp = self.call(method, uri, content_type, body).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map_err(ApiError::internal)?.to_bytes();
        let value: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(ApiError::from_status(&value))
        }
    }

    fn body(obj: &Value) -> Bytes {
        Bytes::from(serde_json::to_vec(obj).unwrap_or_default())
    }

    /// Reads one object.
    pub async fn get(&self, info: &ResourceInfo, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.request(
            Method::GET,
            &resource_path(info, namespace, Some(name), None),
            "application/json",
            Bytes::new(),
        )
        .await
    }

    /// Lists a collection; `query` is a raw query string such as `labelSelector=app%3Dweb`.
    pub async fn list(&self, info: &ResourceInfo, namespace: Option<&str>, query: &str) -> Result<Value, ApiError> {
        let mut uri = resource_path(info, namespace, None, None);
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(query);
        }
        self.request(Method::GET, &uri, "application/json", Bytes::new()).await
    }

    /// Creates an object.
    pub async fn create(&self, info: &ResourceInfo, namespace: Option<&str>, obj: &Value) -> Result<Value, ApiError> {
        self.request(
            Method::POST,
            &resource_path(info, namespace, None, None),
            "application/json",
            Self::body(obj),
        )
        .await
    }

    /// `POST`s to a subresource of an object (e.g. a ServiceAccount's `token`).
    pub async fn create_subresource(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        sub: &str,
        obj: &Value,
    ) -> Result<Value, ApiError> {
        self.request(
            Method::POST,
            &resource_path(info, namespace, Some(name), Some(sub)),
            "application/json",
            Self::body(obj),
        )
        .await
    }

    fn name_of(obj: &Value) -> Result<&str, ApiError> {
        obj["metadata"]["name"]
            .as_str()
            .ok_or_else(|| ApiError::bad_request("object has no name"))
    }

    /// Replaces an object (its name comes from the object).
    pub async fn update(&self, info: &ResourceInfo, namespace: Option<&str>, obj: &Value) -> Result<Value, ApiError> {
        let uri = resource_path(info, namespace, Some(Self::name_of(obj)?), None);
        self.request(Method::PUT, &uri, "application/json", Self::body(obj))
            .await
    }

    /// Replaces an object's status.
    pub async fn update_status(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        obj: &Value,
    ) -> Result<Value, ApiError> {
        let uri = resource_path(info, namespace, Some(Self::name_of(obj)?), Some("status"));
        self.request(Method::PUT, &uri, "application/json", Self::body(obj))
            .await
    }

    /// Replaces a subresource with `PUT` (e.g. a namespace's `finalize`).
    pub async fn update_subresource(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        obj: &Value,
        sub: &str,
    ) -> Result<Value, ApiError> {
        let uri = resource_path(info, namespace, Some(Self::name_of(obj)?), Some(sub));
        self.request(Method::PUT, &uri, "application/json", Self::body(obj))
            .await
    }

    /// Patches an object or (with `sub = Some("status")`) a subresource.
    pub async fn patch(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        sub: Option<&str>,
        patch_type: PatchType,
        patch: &Value,
    ) -> Result<Value, ApiError> {
        let ct = match patch_type {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        };
        self.request(
            Method::PATCH,
            &resource_path(info, namespace, Some(name), sub),
            ct,
            Self::body(patch),
        )
        .await
    }

    /// Deletes an object with `DeleteOptions` (`Value::Null` for none).
    pub async fn delete(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        options: &Value,
    ) -> Result<Value, ApiError> {
        let body = if options.is_null() {
            Bytes::new()
        } else {
            Self::body(options)
        };
        self.request(
            Method::DELETE,
            &resource_path(info, namespace, Some(name), None),
            "application/json",
            body,
        )
        .await
    }

    /// Watches a collection; `query` is a raw query string (without `watch=1`).
    pub async fn watch(
        &self,
        info: &ResourceInfo,
        namespace: Option<&str>,
        query: &str,
    ) -> Result<impl Stream<Item = Result<WatchEvent, ApiError>> + Send + 'static, ApiError> {
        let mut uri = resource_path(info, namespace, None, None);
        uri.push_str("?watch=1");
        if !query.is_empty() {
            uri.push('&');
            uri.push_str(query);
        }
        let resp = self.call(Method::GET, &uri, "application/json", Bytes::new()).await?;
        if !resp.status().is_success() {
            let bytes = resp.into_body().collect().await.map_err(ApiError::internal)?.to_bytes();
            let v: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
            return Err(ApiError::from_status(&v));
        }
        let frames = resp.into_body().into_data_stream();
        Ok(lines(frames))
    }
}

/// Splits a stream of body chunks into watch events, one JSON object per line.
fn lines<S>(frames: S) -> impl Stream<Item = Result<WatchEvent, ApiError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    futures::stream::unfold(
        (Box::pin(frames), BytesMut::new()),
        |(mut frames, mut buf)| async move {
            loop {
                if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line = buf.split_to(pos + 1);
                    let parsed = serde_json::from_slice::<Value>(&line[..pos])
                        .map_err(ApiError::internal)
                        .map(|v| WatchEvent {
                            event_type: v["type"].as_str().unwrap_or("").to_string(),
                            object: v.get("object").cloned().unwrap_or(Value::Null),
                        });
                    return Some((parsed, (frames, buf)));
                }
                match frames.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(never)) => match never {},
                    None => return None,
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k1s_proto::resources::find;

    #[test]
    fn paths() {
        let pods = find("", "v1", "pods").unwrap();
        assert_eq!(
            resource_path(pods, Some("default"), Some("web"), Some("status")),
            "/api/v1/namespaces/default/pods/web/status"
        );
        assert_eq!(resource_path(pods, None, None, None), "/api/v1/pods");
        let nodes = find("", "v1", "nodes").unwrap();
        assert_eq!(
            resource_path(nodes, Some("ignored"), Some("n1"), None),
            "/api/v1/nodes/n1"
        );
        let deploy = find("apps", "v1", "deployments").unwrap();
        assert_eq!(
            resource_path(deploy, Some("a"), None, None),
            "/apis/apps/v1/namespaces/a/deployments"
        );
    }

    #[tokio::test]
    async fn splits_watch_lines_across_chunks() {
        let chunks = vec![
            Ok(Bytes::from_static(b"{\"type\":\"ADDED\",\"obj")),
            Ok(Bytes::from_static(
                b"ect\":{\"a\":1}}\n{\"type\":\"DELETED\",\"object\":{}}\n",
            )),
        ];
        let events: Vec<_> = lines(futures::stream::iter(chunks)).collect().await;
        assert_eq!(events.len(), 2);
        let first = events[0].as_ref().unwrap();
        assert_eq!(first.event_type, "ADDED");
        assert_eq!(first.object["a"], 1);
        assert_eq!(events[1].as_ref().unwrap().event_type, "DELETED");
    }
}
