//! The container runtime on containerd: pod sandboxes, OCI specs, containers,
//! tasks, exit events and exec.

pub mod types;

pub use types::*;
