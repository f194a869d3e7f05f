//! `k1s kubectl …`: the system kubectl with k1s's admin kubeconfig.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use crate::DEFAULT_KUBECONFIG;

/// Replaces this process with `kubectl ARGS…`; `KUBECONFIG` wins when set.
pub fn exec(args: &[String]) -> ExitCode {
    let kubeconfig = std::env::var("KUBECONFIG").unwrap_or_else(|_| DEFAULT_KUBECONFIG.to_string());
    let err = Command::new("kubectl").args(args).env("KUBECONFIG", kubeconfig).exec();
    eprintln!("k1s: cannot run kubectl: {err} (is kubectl installed and on PATH?)");
    ExitCode::from(127)
}
