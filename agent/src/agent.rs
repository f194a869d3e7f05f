//! Wiring: starts the agent's parts (containerd, images, runtime, pod workers,
//! probes, kubelet endpoint, node status) and runs them until shutdown.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context;
use k1s_apiserver::client::Client;
use k1s_apiserver::server::NodeContext;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::containerd::supervisor::{Supervisor, SupervisorConfig};
use crate::containerd::Containerd;
use crate::containers::{ApiSource, NodeAllocatable, SpecContext};
use crate::images::ImageService;
use crate::lookup::NodePods;
use crate::network::CniNetwork;
use crate::node::{NodeAgent, RuntimeStatus, RuntimeStatusSource};
use crate::pods::events::EventRecorder;
use crate::pods::start::PodParts;
use crate::probes::ProbeManager;
use crate::runtime::Runtime;
use crate::server::KubeletServer;
use crate::volumes::VolumeManager;
use crate::AgentConfig;

/// Node status facts read from containerd and the image store.
struct ContainerdStatus {
    containerd: Containerd,
    images: ImageService,
}

impl RuntimeStatusSource for ContainerdStatus {
    async fn runtime_status(&self) -> RuntimeStatus {
        let version = self
            .containerd
            .version()
            .version(())
            .await
            .map(|r| r.into_inner().version)
            .map_err(|e| {
                format!(
                    "containerd at {} does not answer: {}",
                    self.containerd.socket().display(),
                    e.message()
                )
            });
        let images = match self.images.list().await {
            Ok(list) => list
                .into_iter()
                .map(|i| {
                    let mut names = i.repo_digests.clone();
                    names.push(i.name.clone());
                    (names, i.size)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        match version {
            Ok(v) => RuntimeStatus {
                version: Some(format!("containerd://{v}")),
                images,
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

/// Runs the agent with `client` until `shutdown` turns true. Running
/// containers are left running when it stops (they are adopted on the next start).
pub async fn run(client: Client, config: Arc<AgentConfig>, shutdown: watch::Receiver<bool>) {
    info!(node = %config.node_name, "node agent starting");
    if let Err(e) = run_parts(client, config, shutdown).await {
        error!("node agent failed: {e:#}");
    }
    info!("node agent stopped");
}

async fn run_parts(
    client: Client,
    config: Arc<AgentConfig>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // containerd: k1s's own (supervised) or the one at --container-runtime-endpoint.
    let supervisor = if config.manage_containerd {
        Some(
            Supervisor::start(SupervisorConfig::new(&config.data_dir))
                .await
                .context("cannot start containerd")?,
        )
    } else {
        None
    };
    let containerd = match &supervisor {
        Some(s) => s.containerd(),
        None => Containerd::connect(&config.containerd_socket).await?,
    };

    let images = ImageService::new(containerd.clone(), &config);
    match images.import_dir(&config.airgap_images_dir()).await {
        Ok(names) if !names.is_empty() => info!(images = ?names, "air-gap images imported"),
        Ok(_) => {}
        Err(e) => warn!("air-gap import from {}: {e:#}", config.airgap_images_dir().display()),
    }

    // The pod network: node setup, then the addresses of pods that went while
    // the agent was down released before any new pod can ask for one.
    let network = Arc::new(CniNetwork::from_config(&config)?);
    network.prepare_node().await;
    let runtime = Runtime::with_network(containerd.clone(), config.clone(), network.clone());
    let live: HashSet<String> = runtime.list_sandboxes().await?.into_iter().collect();
    let released = network.garbage_collect(&live).await;
    if !released.is_empty() {
        info!(addresses = ?released, "released pod addresses of pods that are gone");
    }
    let events = EventRecorder::spawn(client.clone(), config.node_name.clone());
    let probes = ProbeManager::new(Arc::new(runtime.clone()), Arc::new(events.clone()));
    let parts = PodParts {
        runtime: Arc::new(runtime.clone()),
        exits: runtime.subscribe_exits(),
        images: images.clone(),
        volumes: Arc::new(VolumeManager::new(client.clone(), config.clone())),
        spec: SpecContext {
            source: Arc::new(ApiSource::new(client.clone())),
            config: config.clone(),
            node: NodeAllocatable::detect(&config.data_dir),
        },
        probes,
        exec: Arc::new(runtime.clone()),
        events,
    };
    let pods = crate::pods::start::spawn(client.clone(), &config, parts, shutdown.clone())?;

    let dns = match crate::dns::spawn(client.clone(), &config, shutdown.clone()) {
        Ok(task) => Some(task),
        Err(e) => {
            error!("cluster DNS: {e:#}");
            None
        }
    };

    let kubelet = KubeletServer::new(
        Arc::new(NodePods::new(client.clone(), runtime.clone(), config.node_name.clone())),
        Arc::new(runtime.clone()),
    );
    let kubelet_config = config.clone();
    let kubelet_shutdown = shutdown.clone();
    let kubelet_task = tokio::spawn(async move {
        if let Err(e) = kubelet.run(&kubelet_config, kubelet_shutdown).await {
            error!("kubelet endpoint: {e:#}");
        }
    });

    let proxy_client = client.clone();
    let proxy_config = config.clone();
    let proxy_shutdown = shutdown.clone();
    let proxy_task = tokio::spawn(async move { crate::proxy::run(proxy_client, &proxy_config, proxy_shutdown).await });

    let status = Arc::new(ContainerdStatus { containerd, images });
    NodeAgent::new(client, config, status).run(shutdown.clone()).await;

    let _ = shutdown.wait_for(|s| *s).await;
    let _ = pods.await;
    let _ = kubelet_task.await;
    let _ = proxy_task.await;
    if let Some(dns) = dns {
        let _ = dns.await;
    }
    // containerd stops with k1s; the shims (and so the containers) keep running.
    if let Some(s) = supervisor {
        s.shutdown().await;
    }
    Ok(())
}
