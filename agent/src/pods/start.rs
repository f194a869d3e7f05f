//! Starting the pod manager from the agent's parts (what `agent::run` calls).

use std::sync::Arc;

use k1s_apiserver::client::Client;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::api::ClientApi;
use super::backoff::SystemClock;
use super::deps::{Deps, PodRuntime};
use super::events::EventRecorder;
use super::manager::{broadcast_stream, PodManager};
use super::real::{RealConfig, RealProbes};
use super::worker::NodeFacts;
use crate::containers::SpecContext;
use crate::images::ImageService;
use crate::probes::{ProbeExec, ProbeManager};
use crate::runtime::ExitEvent;
use crate::volumes::VolumeManager;
use crate::AgentConfig;

/// The agent's parts the pod workers drive.
pub struct PodParts {
    /// The container runtime (`Arc::new(runtime.clone())`).
    pub runtime: Arc<dyn PodRuntime>,
    /// Its exit events (`runtime.subscribe_exits()`).
    pub exits: broadcast::Receiver<ExitEvent>,
    /// Images.
    pub images: ImageService,
    /// Volumes.
    pub volumes: Arc<VolumeManager>,
    /// What container specs are built from.
    pub spec: SpecContext,
    /// The probe workers (made with `events` as their event sink).
    pub probes: ProbeManager,
    /// Runs hooks' `exec` handlers (the runtime).
    pub exec: Arc<dyn ProbeExec>,
    /// The kubelet event recorder ([`EventRecorder::spawn`]), shared with the probes.
    pub events: EventRecorder,
}

/// Starts the pod manager for `config.node_name`; it runs until `shutdown` turns true.
pub fn spawn(
    client: Client,
    config: &AgentConfig,
    parts: PodParts,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let wakes = broadcast_stream(parts.probes.subscribe());
    let exits = broadcast_stream(parts.exits);
    let deps = Deps {
        runtime: parts.runtime,
        images: Arc::new(parts.images),
        config: Arc::new(RealConfig {
            volumes: parts.volumes,
            ctx: parts.spec,
        }),
        probes: Arc::new(RealProbes {
            manager: parts.probes,
            exec: parts.exec,
        }),
        api: Arc::new(ClientApi::new(client.clone())?),
        events: Arc::new(parts.events),
        clock: Arc::new(SystemClock),
    };
    let node = NodeFacts {
        name: config.node_name.clone(),
        ips: vec![config.node_ip],
    };
    let manager = PodManager::new(deps, node);
    Ok(tokio::spawn(manager.run(client, exits, wakes, shutdown)))
}
