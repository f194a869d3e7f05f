//! Test support: an API over the in-memory store, and polling with a deadline.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k1s_proto::resources::find;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::api::{Api, ApiConfig};
use crate::client::Client;
use crate::store::MemoryStore;

/// Upper bound for any one wait in a test.
const DEADLINE: Duration = Duration::from_secs(10);

/// An API over a fresh in-memory store, with a `default` namespace; stops
/// what it spawned when dropped.
pub struct TestEnv {
    pub api: Arc<Api>,
    pub store: Arc<MemoryStore>,
    stop: watch::Sender<bool>,
    tasks: Mutex<JoinSet<()>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        let store = MemoryStore::new();
        let api = Api::new(
            store.clone(),
            ApiConfig {
                node_name: "test-node".into(),
                service_account_keys: crate::sa_token::TokenKeys::generate().ok().map(std::sync::Arc::new),
                root_ca_pem: Some("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n".into()),
                service_cidr: None,
            },
        )
        .expect("api");
        let env = TestEnv {
            api,
            store,
            stop: watch::channel(false).0,
            tasks: Mutex::new(JoinSet::new()),
            handles: Mutex::new(Vec::new()),
        };
        env.create_namespace("default").await;
        env
    }

    /// A client as a controller.
    pub fn client(&self) -> Client {
        Client::for_controller(self.api.clone(), "test")
    }

    /// The shutdown signal for what the test starts.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Runs a task until the environment is dropped.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.lock().expect("tasks").spawn(task);
    }

    /// Keeps a spawned controller until the environment is dropped.
    pub fn keep(&self, handle: JoinHandle<()>) {
        self.handles.lock().expect("handles").push(handle);
    }

    /// Creates a namespace with the `kubernetes` finalizer, as the API defaults it.
    pub async fn create_namespace(&self, name: &str) -> serde_json::Value {
        let ns = find("", "v1", "namespaces").expect("namespaces");
        let obj = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        self.client().create(ns, None, &obj).await.expect("namespace created")
    }

    /// Sets a pod's status as the kubelet would: `phase`, an IP, and a
    /// `Ready` condition (`ready`) that changed at `since` (RFC 3339).
    pub async fn set_pod_status(
        &self,
        namespace: &str,
        name: &str,
        phase: &str,
        ip: Option<&str>,
        ready: bool,
        since: &str,
    ) -> Value {
        let pods = find("", "v1", "pods").expect("pods");
        let c = self.client();
        let mut pod = c.get(pods, Some(namespace), name).await.expect("pod exists");
        let status = if ready { "True" } else { "False" };
        pod["status"]["phase"] = json!(phase);
        pod["status"]["conditions"] = json!([
            {"type": "Ready", "status": status, "lastTransitionTime": since},
            {"type": "ContainersReady", "status": status, "lastTransitionTime": since},
        ]);
        if let Some(ip) = ip {
            pod["status"]["podIP"] = json!(ip);
            pod["status"]["podIPs"] = json!([{"ip": ip}]);
        }
        c.update_status(pods, Some(namespace), &pod)
            .await
            .expect("pod status set")
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for h in self
            .handles
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default()
        {
            h.abort();
        }
    }
}

/// Polls `check` until it holds; panics naming `what` after the deadline.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
