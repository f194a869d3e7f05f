//! Container probes (liveness, readiness, startup) and lifecycle hooks, as the
//! kubelet's prober (`pkg/kubelet/prober`, `pkg/probe`) and lifecycle handler
//! runner (`pkg/kubelet/lifecycle/handlers.go`) do them.
//!
//! # How the pod worker uses it
//!
//! ```ignore
//! let probes = ProbeManager::new(exec, events);          // once per agent
//! let mut wake = probes.subscribe();                      // pod UIDs to re-sync
//! // after a container instance started (or was adopted after a restart):
//! probes.add_container(&pod, "app", &container_id, started_at, sandbox.netns.clone(), pod_ip);
//! // when computing the pod status / deciding what to kill:
//! let st = probes.status(&container_id);
//! // st.started, st.ready            -> containerStatuses[].started / ready
//! // st.liveness_failure = Some(msg) -> kill: `Killing` event with
//! //   format!("{msg}, will be restarted") when it restarts, grace from
//! //   st.termination_grace (probe-level terminationGracePeriodSeconds) if set
//! // st.startup_failure = Some(msg)  -> the same for the startup probe
//! // when the pod starts terminating gracefully:
//! probes.stop_liveness_and_startup(&pod_uid);
//! // when the instance exits / is removed, and when the pod goes away:
//! probes.remove_container(&container_id);
//! probes.remove_pod(&pod_uid);
//! ```
//!
//! Each container *instance* (container ID) gets its own workers: a restarted
//! container is a new ID, so readiness starts again from "not ready" and
//! liveness from "alive", as in the kubelet. A startup probe holds liveness and
//! readiness off until it succeeds. Workers stop by themselves after a
//! liveness/startup failure past `failureThreshold` (the container is about to
//! be killed) and after startup succeeded.
//!
//! Lifecycle hooks: [`hooks::run_post_start`] / [`hooks::run_pre_stop`] (with
//! the kubelet's `FailedPostStartHook` / `FailedPreStopHook` events) and
//! [`hooks::run`] for the bare handler.
//!
//! Dialing: when the pod has an IP, probes dial it from the host (as the
//! kubelet); when it has none (loopback-only sandbox), or the probe names
//! `localhost`/a loopback address, they dial from inside the pod's network
//! namespace through [`crate::netns::connect_tcp`].

pub mod adapter;
mod dial;
mod exec;
mod expand;
mod format;
mod grpc;
pub mod hooks;
mod http;
mod manager;
mod prober;
mod tcp;
mod worker;

use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;

pub use manager::{ProbeManager, ProbeState};
pub use prober::ProbeType;

/// The kubelet version fragment in `User-Agent: kube-probe/1.33`.
pub const KUBE_VERSION: &str = "1.33";

/// Runs a command in a running container to completion (the container
/// runtime's `exec_sync`): exit code and combined stdout+stderr.
///
/// Contract: `timeout` of zero means "no timeout" (as CRI's `ExecSync`). When
/// the timeout expires, return an error whose chain holds an
/// [`std::io::Error`] of kind [`std::io::ErrorKind::TimedOut`] or a
/// [`tokio::time::error::Elapsed`]; probes also enforce the timeout themselves.
pub trait ProbeExec: Send + Sync + 'static {
    /// Runs `command` in container `container_id`.
    fn exec_sync<'a>(
        &'a self,
        container_id: &'a str,
        command: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, anyhow::Result<(i32, Vec<u8>)>>;
}

/// Where probe and hook events go (the pod manager's event recorder, source
/// `kubelet`). `field_path` is the involved object's `fieldPath`, e.g.
/// `spec.containers{app}`.
pub trait EventSink: Send + Sync + 'static {
    /// Records one event about `pod`; `type_` is `Normal` or `Warning`.
    fn event(&self, pod: &Pod, type_: &str, reason: &str, message: String, field_path: Option<String>);
}

/// Event reason for failing probes (`Warning`).
pub const REASON_UNHEALTHY: &str = "Unhealthy";
/// Event reason for probe warnings such as a redirect to another host (`Warning`).
pub const REASON_PROBE_WARNING: &str = "ProbeWarning";

#[cfg(test)]
pub(crate) mod testutil;
