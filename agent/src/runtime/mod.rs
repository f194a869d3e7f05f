//! The container runtime on containerd: pod sandboxes, OCI specs, containers,
//! tasks, exit events and exec.
//!
//! Everything the runtime knows is kept in containerd (container labels) and on
//! disk (sandbox state under the pods dir, namespace bind mounts under the run
//! dir), so a restarted agent finds running pods again.

mod adapters;
mod containers;
pub mod dns;
mod events;
mod exec;
pub mod pause;
mod sandbox;
pub mod seccomp;
pub mod spec;
pub mod types;
pub mod user;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::config::AgentConfig;
use crate::containerd::Containerd;

pub use crate::network::{CniNetwork, NetworkRequest, PodNetwork};
pub use exec::{AttachIo, ExecProcess, ExecTimeout, Resizer, StdinWriter};
pub use types::*;

/// The runc v2 shim (one shim per pod through the sandbox-id annotation).
pub const RUNTIME_NAME: &str = "io.containerd.runc.v2";
/// The `type_url` containerd expects for an OCI runtime spec.
pub const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
/// The lease that keeps prepared container snapshots from the garbage collector
/// until `remove_container` removes them.
pub const LEASE_ID: &str = "k1s-containers";

/// The container runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) containerd: Containerd,
    pub(crate) config: Arc<AgentConfig>,
    pub(crate) network: Arc<dyn PodNetwork>,
    pub(crate) exits: broadcast::Sender<ExitEvent>,
    /// Containers an OOM event was seen for (until their exit is recorded).
    pub(crate) ooms: Mutex<HashSet<String>>,
    /// Containers with a task `Wait` in flight.
    pub(crate) waiting: Mutex<HashSet<String>>,
    /// Per-container locks (exit recording, removal).
    pub(crate) locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per-pod locks (sandbox creation/removal).
    pub(crate) pod_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Write ends of containers' stdin FIFOs held open so stdin does not end between attaches.
    pub(crate) stdin_keepers: Mutex<HashMap<String, File>>,
    /// Whether the snapshot lease was created.
    pub(crate) lease_ready: tokio::sync::OnceCell<()>,
}

fn lock_in(map: &Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>, key: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
    m.entry(key.to_string()).or_default().clone()
}

impl Inner {
    pub(crate) fn container_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock_in(&self.locks, id)
    }

    pub(crate) fn pod_lock(&self, uid: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock_in(&self.pod_locks, uid)
    }
}

impl Runtime {
    /// A runtime with the CNI network of the config. Must be called inside a
    /// tokio runtime (it starts the containerd event listener).
    pub fn new(containerd: Containerd, config: Arc<AgentConfig>) -> anyhow::Result<Runtime> {
        let network = Arc::new(CniNetwork::from_config(&config)?);
        Ok(Runtime::with_network(containerd, config, network))
    }

    /// A runtime with another pod network implementation.
    pub fn with_network(containerd: Containerd, config: Arc<AgentConfig>, network: Arc<dyn PodNetwork>) -> Runtime {
        let (exits, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            containerd,
            config,
            network,
            exits,
            ooms: Mutex::new(HashSet::new()),
            waiting: Mutex::new(HashSet::new()),
            locks: Mutex::new(HashMap::new()),
            pod_locks: Mutex::new(HashMap::new()),
            stdin_keepers: Mutex::new(HashMap::new()),
            lease_ready: tokio::sync::OnceCell::new(),
        });
        tokio::spawn(events::run(Arc::downgrade(&inner)));
        Runtime { inner }
    }

    /// The containerd connection.
    pub fn containerd(&self) -> &Containerd {
        &self.inner.containerd
    }

    /// The agent config.
    pub fn config(&self) -> &Arc<AgentConfig> {
        &self.inner.config
    }

    /// Task exits, sent after the exit facts were recorded on the container's labels.
    pub fn subscribe_exits(&self) -> broadcast::Receiver<ExitEvent> {
        self.inner.exits.subscribe()
    }
}
