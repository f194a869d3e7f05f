//! The Node object: registration, the Lease heartbeat in `kube-node-lease`
//! and node status (capacity, conditions, images, daemon endpoint).

mod info;
mod status;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k1s_apiserver::client::Client;
use k1s_proto::patch::PatchType;
use k1s_proto::resources;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::{info, warn};

pub use info::{go_arch, node_addresses, node_labels, MachineInfo};
pub use status::{conditions, RuntimeStatus};

use crate::AgentConfig;

/// How often the Lease is renewed (the kubelet's default).
pub const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// The Lease's duration (the kubelet's default); the node lifecycle controller
/// marks the node `Unknown` when it has not been renewed for this long.
pub const LEASE_DURATION_SECONDS: i64 = 40;
/// How often node status is computed (`nodeStatusUpdateFrequency`).
const STATUS_INTERVAL: Duration = Duration::from_secs(10);
/// How often status is written even when nothing changed (`nodeStatusReportFrequency`).
const STATUS_REPORT_INTERVAL: Duration = Duration::from_secs(300);
/// The version the node reports as its kubelet's.
pub const KUBELET_VERSION: &str = "v1.33.0+k1s";

/// What the runtime says about itself each time node status is computed.
pub trait RuntimeStatusSource: Send + Sync + 'static {
    /// containerd's version and health, the network's readiness and the images present.
    fn runtime_status(&self) -> impl Future<Output = RuntimeStatus> + Send;
}

fn nodes() -> &'static resources::ResourceInfo {
    resources::find("", "v1", "nodes").expect("nodes are served")
}

fn leases() -> &'static resources::ResourceInfo {
    resources::find("coordination.k8s.io", "v1", "leases").expect("leases are served")
}

/// Registers the node and keeps its Lease and status fresh until shutdown.
pub struct NodeAgent<S> {
    client: Client,
    config: Arc<AgentConfig>,
    machine: MachineInfo,
    source: Arc<S>,
}

impl<S: RuntimeStatusSource> NodeAgent<S> {
    /// A node agent for `config.node_name`.
    pub fn new(client: Client, config: Arc<AgentConfig>, source: Arc<S>) -> NodeAgent<S> {
        let machine = MachineInfo::read(&config.data_dir);
        NodeAgent {
            client,
            config,
            machine,
            source,
        }
    }

    /// The Node object as this agent registers it (metadata and spec).
    fn node_object(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.config.node_name,
                "labels": node_labels(&self.config.node_name),
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": {
                "podCIDR": self.config.pod_cidr,
                "podCIDRs": [self.config.pod_cidr],
            },
        })
    }

    /// Creates the Node, or brings an existing one's labels and pod CIDR up to date.
    pub async fn register(&self) -> anyhow::Result<Value> {
        let name = &self.config.node_name;
        let want = self.node_object();
        match self.client.get(nodes(), None, name).await {
            Ok(_) => {
                let patch = json!({"metadata": {"labels": want["metadata"]["labels"], "annotations": want["metadata"]["annotations"]}});
                let node = self
                    .client
                    .patch(nodes(), None, name, None, PatchType::Merge, &patch)
                    .await
                    .with_context(|| format!("cannot update node {name}"))?;
                info!(node = %name, "node already registered");
                Ok(node)
            }
            Err(e) if e.code == 404 => {
                let node = self
                    .client
                    .create(nodes(), None, &want)
                    .await
                    .with_context(|| format!("cannot register node {name}"))?;
                info!(node = %name, "node registered");
                Ok(node)
            }
            Err(e) => Err(anyhow::anyhow!("cannot read node {name}: {e}")),
        }
    }

    /// Renews (or creates) the node's Lease in `kube-node-lease`.
    pub async fn renew_lease(&self, node_uid: &str) -> anyhow::Result<()> {
        let name = &self.config.node_name;
        let now = k1s_proto::meta::now_micro();
        match self.client.get(leases(), Some("kube-node-lease"), name).await {
            Ok(mut lease) => {
                lease["spec"]["renewTime"] = json!(now);
                lease["spec"]["holderIdentity"] = json!(name);
                lease["spec"]["leaseDurationSeconds"] = json!(LEASE_DURATION_SECONDS);
                self.client
                    .update(leases(), Some("kube-node-lease"), &lease)
                    .await
                    .with_context(|| format!("cannot renew lease kube-node-lease/{name}"))?;
            }
            Err(e) if e.code == 404 => {
                let lease = json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": name,
                        "namespace": "kube-node-lease",
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}],
                    },
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": now},
                });
                self.client
                    .create(leases(), Some("kube-node-lease"), &lease)
                    .await
                    .with_context(|| format!("cannot create lease kube-node-lease/{name}"))?;
            }
            Err(e) => anyhow::bail!("cannot read lease kube-node-lease/{name}: {e}"),
        }
        Ok(())
    }

    /// Computes status and writes it when it changed or the report interval passed.
    /// Returns the status written (or the unchanged one).
    async fn update_status(&self, last: &mut Option<(Value, tokio::time::Instant)>) -> anyhow::Result<()> {
        let name = &self.config.node_name;
        let rt = self.source.runtime_status().await;
        let node = self
            .client
            .get(nodes(), None, name)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read node {name}: {e}"))?;
        let now = k1s_proto::meta::now_rfc3339();
        let old_conditions = node["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let status = json!({
            "capacity": self.machine.capacity(),
            "allocatable": self.machine.allocatable(),
            "conditions": conditions(&old_conditions, &rt, &now),
            "addresses": node_addresses(self.config.node_ip, &self.config.node_name),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.config.kubelet_port}},
            "nodeInfo": self.machine.node_info(rt.version.as_deref().unwrap_or(""), KUBELET_VERSION),
            "images": status::images(&rt.images),
        });
        // Compare without the heartbeat times, which change on every computation.
        let comparable = status::without_heartbeats(&status);
        let due = match last {
            Some((prev, at)) => *prev != comparable || at.elapsed() >= STATUS_REPORT_INTERVAL,
            None => true,
        };
        if !due {
            return Ok(());
        }
        let mut updated = node.clone();
        updated["status"] = status;
        self.client
            .update_status(nodes(), None, &updated)
            .await
            .map_err(|e| anyhow::anyhow!("cannot update status of node {name}: {e}"))?;
        *last = Some((comparable, tokio::time::Instant::now()));
        Ok(())
    }

    /// Registers the node, then renews the Lease and reports status until shutdown.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let node = loop {
            match self.register().await {
                Ok(n) => break n,
                Err(e) => warn!("{e:#}; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = shutdown.changed() => return,
            }
        };
        let uid = node["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let mut last_status = None;
        let mut lease_tick = tokio::time::interval(LEASE_RENEW_INTERVAL);
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        loop {
            tokio::select! {
                _ = lease_tick.tick() => {
                    if let Err(e) = self.renew_lease(&uid).await {
                        warn!("{e:#}");
                    }
                }
                _ = status_tick.tick() => {
                    if let Err(e) = self.update_status(&mut last_status).await {
                        warn!("{e:#}");
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
