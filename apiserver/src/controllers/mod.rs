//! The controllers that run inside `k1s server`, on a shared runtime of
//! informers, work queues and level-triggered reconcilers (`runtime`).

pub mod runtime;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::Api;

/// Starts every controller; they stop when `shutdown` turns true.
pub fn spawn_all(_api: Arc<Api>, _shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    Vec::new()
}
