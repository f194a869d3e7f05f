//! An in-process `k1s server` for API tests, and a raw request helper.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use k1s_apiserver::server::{self, ServerOptions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use tokio::sync::watch;

/// A server running inside the test process, and a kube-rs client for it.
pub struct TestServer {
    pub client: kube::Client,
    pub config: kube::Config,
    pub port: u16,
    shutdown: watch::Sender<bool>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with_controllers(Default::default()).await
    }

    /// A server with only the workload controllers off: what tests that
    /// write workload statuses by hand need.
    pub async fn start_without_workload_controllers() -> TestServer {
        let selection = k1s_apiserver::controllers::Selection::parse(
            "*,-replicaset-controller,-deployment-controller,-statefulset-controller,-job-controller,-cronjob-controller,-ttl-after-finished-controller",
        )
        .expect("known controllers");
        TestServer::start_with_controllers(selection).await
    }

    pub async fn start_with_controllers(controllers: k1s_apiserver::controllers::Selection) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let kubeconfig = dir.path().join("k1s.yaml");
        let opts = ServerOptions {
            data_dir: dir.path().join("data"),
            bind_address: "127.0.0.1".parse().expect("ip"),
            https_port: port,
            kubeconfig_path: kubeconfig.clone(),
            node_name: "test-node".into(),
            start_node: None,
            controllers,
            service_cidr: k1s_apiserver::registry::allocator::default_service_cidr(),
            advertise_address: None,
        };
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(server::run(opts, rx));
        // The kubeconfig is written once the store and built-in objects are ready.
        for _ in 0..300 {
            if kubeconfig.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let kc = Kubeconfig::read_from(&kubeconfig).expect("kubeconfig written");
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("config");
        let mut config = config;
        // Tests check status codes themselves; kube's retry of 503/504 would only slow them down.
        config.default_retry = false;
        let client = kube::Client::try_from(config.clone()).expect("client");
        let ts = TestServer {
            client,
            config,
            port,
            shutdown: tx,
            handle: Some(handle),
            _dir: dir,
        };
        for _ in 0..300 {
            // Ready, and the controllers' objects in `default` are there (as on a
            // cluster), so they do not appear in the middle of a test.
            if ts.raw(Method::GET, "/readyz", None, "").await.0 == 200
                && ts
                    .raw(
                        Method::GET,
                        "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
                        None,
                        "",
                    )
                    .await
                    .0
                    == 200
            {
                return ts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server never became ready");
    }

    /// A client with no credentials.
    pub fn anonymous(&self) -> kube::Client {
        let mut cfg = self.config.clone();
        cfg.auth_info = Default::default();
        kube::Client::try_from(cfg).expect("anonymous client")
    }

    /// Sends a raw request; returns the status code and the body as JSON (or a string).
    pub async fn raw(&self, method: Method, path: &str, body: Option<Vec<u8>>, content_type: &str) -> (u16, Value) {
        send(&self.client, method, path, body, content_type).await
    }

    /// Sends JSON.
    pub async fn json(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        let ct = if method == Method::PATCH {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        self.raw(method, path, Some(body.to_string().into_bytes()), ct).await
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
    }
}

/// Sends a raw request with `client`.
pub async fn send(
    client: &kube::Client,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    content_type: &str,
) -> (u16, Value) {
    let mut b = Request::builder().method(method).uri(path);
    if !content_type.is_empty() {
        b = b.header("content-type", content_type);
    }
    let req = b
        .body(kube::client::Body::from(body.unwrap_or_default()))
        .expect("request");
    let resp = client.send(req).await.expect("send");
    let code = resp.status().as_u16();
    let bytes: Bytes = resp.into_body().collect_bytes().await.expect("body");
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (code, value)
}
