//! [`ProbeExec`] over the containerd [`Runtime`] (the pod workers' side of
//! probes and hooks is `pods::real::RealProbes`).

use std::time::Duration;

use futures::future::BoxFuture;

use super::ProbeExec;
use crate::runtime::Runtime;

/// Stands for "no timeout" where the runtime needs one (hooks pass zero).
const NO_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

impl ProbeExec for Runtime {
    fn exec_sync<'a>(
        &'a self,
        container_id: &'a str,
        command: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, anyhow::Result<(i32, Vec<u8>)>> {
        let timeout = if timeout.is_zero() { NO_TIMEOUT } else { timeout };
        Box::pin(Runtime::exec_sync(self, container_id, command, timeout))
    }
}
