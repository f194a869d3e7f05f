//! The streaming protocols kubectl speaks for exec, attach and port-forward:
//! the remotecommand channel protocols over WebSocket (`v5.channel.k8s.io`
//! and its predecessors), and SPDY/3.1 port-forwarding, plain or tunnelled in
//! a WebSocket (`SPDY/3.1+portforward.k8s.io`).
//!
//! The container side is behind [`ExecBackend`] (the runtime implements it),
//! so the protocols can be tested against a local process.

pub mod channel;
pub mod portforward;
pub mod remotecommand;
pub mod spdy;
pub mod websocket;

use std::pin::Pin;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::runtime::ExecRequest;

/// A terminal size (columns × rows), as the resize channel carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct TermSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// A writer to a process's standard input.
pub type StdinWriter = Pin<Box<dyn AsyncWrite + Send>>;
/// A reader of a process's standard output or error.
pub type OutputReader = Pin<Box<dyn AsyncRead + Send>>;
/// Changes the size of a process's terminal.
pub type Resizer = Box<dyn Fn(TermSize) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// A started exec: its streams (those asked for), terminal resizing and its exit.
pub struct ExecSession {
    /// Standard input, when asked for.
    pub stdin: Option<StdinWriter>,
    /// Standard output (with a TTY: the terminal's output), when asked for.
    pub stdout: Option<OutputReader>,
    /// Standard error (never with a TTY), when asked for.
    pub stderr: Option<OutputReader>,
    /// Resizes the TTY (only with a TTY).
    pub resize: Option<Resizer>,
    /// Resolves to the exit code once the process has ended.
    pub exit: BoxFuture<'static, anyhow::Result<i32>>,
}

/// What attach gets from a running container: its stdin (if it was started
/// with `stdin: true`) and its TTY's resizing. The output comes from the
/// container's CRI log, followed from its current end.
pub struct AttachSession {
    /// The container's standard input.
    pub stdin: Option<StdinWriter>,
    /// Resizes the container's TTY.
    pub resize: Option<Resizer>,
}

/// The container side of exec and attach (the runtime implements it).
pub trait ExecBackend: Send + Sync + 'static {
    /// Starts `req.command` in the running container `container_id` (containerd ID).
    fn exec(&self, container_id: &str, req: ExecRequest) -> BoxFuture<'_, anyhow::Result<ExecSession>>;
    /// Attaches to the running container `container_id`'s stdin and TTY.
    fn attach(&self, container_id: &str, stdin: bool, tty: bool) -> BoxFuture<'_, anyhow::Result<AttachSession>>;
}
