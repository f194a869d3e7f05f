//! The k1s node agent (k1s's kubelet): it turns the pods bound to this node into
//! containers through containerd's gRPC API and reports their true status.
//!
//! Layout, one job per module:
//! - [`containerd`]: start and supervise containerd; the gRPC connection.
//! - [`images`]: name normalisation, registry pulls, archive import, unpacking.
//! - [`runtime`]: pod sandboxes (namespaces, hosts/resolv, cgroups, network),
//!   OCI runtime specs, containers and tasks, exit events, exec.
//! - [`network`]: the pod network on the CNI plugins (bridge, host-local, portmap).
//! - [`containers`]: the ContainerSpec of a pod's container (argv, env, security, mounts).
//! - [`volumes`]: emptyDir, hostPath, configMap, secret, downwardAPI, projected.
//! - [`pods`]: the pod workers (sync loop), status, back-off, events.
//! - [`probes`]: liveness/readiness/startup probes and lifecycle hooks.
//! - [`logs`]: the CRI log format (writer run by the shim, reader for `pods/log`).
//! - [`streaming`]: exec/attach/port-forward protocols (WebSocket, SPDY).
//! - [`server`]: the kubelet-style HTTPS endpoint (port 10250).
//! - [`node`]: Node registration, Lease heartbeat, node status.
//! - [`proxy`]: the iptables Service proxy (kube-proxy's layout).
//! - [`dns`]: cluster DNS (the `kube-dns` Service and its server).

pub mod agent;
pub mod cleanup;
pub mod config;
pub mod containerd;
pub mod containers;
pub mod dns;
pub mod images;
pub mod logs;
pub mod lookup;
pub mod netns;
pub mod network;
pub mod node;
pub mod pods;
pub mod probes;
pub mod proxy;
pub mod runtime;
pub mod server;
pub mod streaming;
pub mod volumes;

pub use agent::{run, run_in_process};
pub use config::AgentConfig;
