//! The pod lifecycle (the kubelet's pod workers): one worker per pod bound to
//! this node syncs it step by step (sandbox → volumes → images → init containers
//! → app containers), restarts containers per `restartPolicy` with crash
//! back-off, terminates pods gracefully, and writes the pod's status and events.
//!
//! - [`status`]: pod status as the kubelet computes it (pure).
//! - [`backoff`]: crash-loop and image-pull back-off.
//! - [`deps`]: the traits the workers use (runtime, images, config, probes, API, events).
//! - [`worker`]: one pod's sync.
//! - [`manager`]: the informer, one worker task per pod, adoption and orphan cleanup.
//! - [`events`]: the kubelet's event recorder.
//! - [`api`]: the API calls over the in-process client.
//! - [`real`]: the traits over the real image service, volumes, specs and probes.
//! - [`start`]: [`start::spawn`] starts the manager from the agent's parts.

pub mod api;
pub mod backoff;
pub mod deps;
pub mod events;
pub mod manager;
pub mod real;
pub mod start;
pub mod status;
pub mod worker;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
pub(crate) mod fakes;

pub use deps::Deps;
pub use manager::PodManager;
pub use worker::NodeFacts;
