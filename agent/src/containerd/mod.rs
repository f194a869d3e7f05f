//! containerd: the gRPC connection every other module uses, and (in
//! `supervisor`) starting and supervising k1s's own containerd.

mod client;
pub mod supervisor;

pub use client::{Containerd, NAMESPACE};
pub use supervisor::{Supervisor, SupervisorConfig};
