//! Wiring: starts the agent's parts (containerd, images, runtime, pod workers,
//! probes, kubelet endpoint, node status) and runs them until shutdown.

use std::sync::Arc;

use k1s_apiserver::client::Client;
use k1s_apiserver::server::NodeContext;
use tokio::sync::watch;
use tracing::info;

use crate::containerd::Containerd;
use crate::node::{NodeAgent, RuntimeStatus, RuntimeStatusSource};
use crate::AgentConfig;

/// Node status facts read from containerd.
struct ContainerdStatus {
    socket: std::path::PathBuf,
}

impl RuntimeStatusSource for ContainerdStatus {
    async fn runtime_status(&self) -> RuntimeStatus {
        let version = match Containerd::connect(&self.socket).await {
            Ok(c) => c
                .version()
                .version(())
                .await
                .map(|r| r.into_inner().version)
                .map_err(|e| e.message().to_string()),
            Err(e) => Err(format!("{e:#}")),
        };
        match version {
            Ok(v) => RuntimeStatus {
                version: Some(format!("containerd://{v}")),
                ..Default::default()
            },
            Err(e) => RuntimeStatus {
                runtime_error: Some(e),
                ..Default::default()
            },
        }
    }
}

/// Runs the agent inside `k1s server`, with an in-process API client.
pub async fn run_in_process(ctx: NodeContext, config: AgentConfig) {
    let client = Client::for_node(ctx.api.clone(), &config.node_name);
    run(client, Arc::new(config), ctx.shutdown).await;
}

/// Runs the agent with `client` until `shutdown` turns true.
pub async fn run(client: Client, config: Arc<AgentConfig>, shutdown: watch::Receiver<bool>) {
    info!(node = %config.node_name, "node agent starting");
    let status = Arc::new(ContainerdStatus {
        socket: config.containerd_socket.clone(),
    });
    NodeAgent::new(client, config, status).run(shutdown).await;
    info!("node agent stopped");
}
