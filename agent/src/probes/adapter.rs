//! Wiring the probe manager to the rest of the agent: [`ProbeExec`] over the
//! containerd [`Runtime`], events into the pod workers' event sink, and the pod
//! workers' [`PodProbes`] trait backed by a [`ProbeManager`].
//!
//! ```ignore
//! let exec: Arc<dyn ProbeExec> = Arc::new(runtime.clone());
//! let events: Arc<dyn probes::EventSink> = Arc::new(PodEvents(pod_events.clone()));
//! let manager = ProbeManager::new(exec.clone(), events.clone());
//! let probes: Arc<dyn PodProbes> = Arc::new(PodProbesAdapter::new(manager.clone(), exec));
//! // and re-sync the pods of `manager.subscribe()`.
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};

use super::hooks::{self, HookContext};
use super::{EventSink, ProbeExec, ProbeManager};
use crate::pods::deps::{self, PodProbes};
use crate::runtime::{Runtime, Sandbox};

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

/// Probe and hook events into the pod workers' event sink.
pub struct PodEvents(pub Arc<dyn deps::EventSink>);

impl EventSink for PodEvents {
    fn event(&self, pod: &Pod, type_: &str, reason: &str, message: String, field_path: Option<String>) {
        self.0.event(pod, field_path.as_deref(), type_, reason, message);
    }
}

/// The pod workers' probes and hooks.
pub struct PodProbesAdapter {
    manager: ProbeManager,
    exec: Arc<dyn ProbeExec>,
}

impl PodProbesAdapter {
    /// Probes through `manager`; hooks run `exec` handlers through `exec`.
    pub fn new(manager: ProbeManager, exec: Arc<dyn ProbeExec>) -> PodProbesAdapter {
        PodProbesAdapter { manager, exec }
    }
}

impl PodProbes for PodProbesAdapter {
    fn add_container(&self, pod: &Pod, container: &str, container_id: &str, sandbox: &Sandbox) {
        // The trait carries no start time: initial delays count from now.
        self.manager.add_container(
            pod,
            container,
            container_id,
            jiff::Timestamp::now(),
            sandbox.netns.clone(),
            sandbox.pod_ips.first().copied(),
        );
    }

    fn remove_container(&self, container_id: &str) {
        self.manager.remove_container(container_id);
    }

    fn status(&self, container_id: &str) -> Option<deps::ProbeState> {
        let state = self.manager.get(container_id)?;
        Some(deps::ProbeState {
            started: state.started,
            ready: state.ready,
            liveness_failure: self.manager.kill_message(container_id),
        })
    }

    fn run_hook<'a>(
        &'a self,
        sandbox: &'a Sandbox,
        pod: &'a Pod,
        container_id: &'a str,
        handler: &'a LifecycleHandler,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let container = hook_container(pod, self.manager.container_name(container_id).as_deref(), handler);
            let ctx = HookContext {
                exec: self.exec.as_ref(),
                pod,
                container: &container,
                container_id,
                netns: &sandbox.netns,
                pod_ip: sandbox.pod_ips.first().copied(),
            };
            // Running past `timeout` is not a hook failure: the caller goes on.
            tokio::time::timeout(timeout, hooks::run(&ctx, handler))
                .await
                .unwrap_or(Ok(()))
        })
    }
}

/// The container a hook belongs to: by name when known, else the one whose
/// `lifecycle` holds this handler (named ports need its `ports`).
fn hook_container(pod: &Pod, name: Option<&str>, handler: &LifecycleHandler) -> Container {
    let spec = pod.spec.as_ref();
    let all = || {
        spec.into_iter()
            .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
    };
    if let Some(c) = name.and_then(|n| all().find(|c| c.name == n)) {
        return c.clone();
    }
    all()
        .find(|c| {
            c.lifecycle
                .as_ref()
                .is_some_and(|l| l.post_start.as_ref() == Some(handler) || l.pre_stop.as_ref() == Some(handler))
        })
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::testutil::{pod, Events, FakeExec};
    use k8s_openapi::api::core::v1::{ExecAction, Lifecycle, Probe};

    fn sandbox() -> Sandbox {
        // Only the fields without serde defaults; stays valid as fields are added.
        serde_json::from_value(serde_json::json!({
            "pod_uid": "uid-1",
            "netns": "/proc/self/ns/net",
            "ipcns": "",
            "utsns": "",
            "hosts_file": "",
            "resolv_file": "",
            "hostname_file": "",
            "cgroup_parent": "",
            "pod_ips": [],
            "host_network": false
        }))
        .expect("sandbox")
    }

    #[tokio::test(start_paused = true)]
    async fn kill_message_and_hooks_through_the_pod_trait() {
        let exec = FakeExec::default();
        exec.script("live", vec![Ok((1, Vec::new()))]);
        exec.script("hook", vec![Ok((2, b"nope".to_vec()))]);
        let events = Events::default();
        let manager = ProbeManager::new(Arc::new(exec.clone()), Arc::new(events.clone()));
        let adapter = PodProbesAdapter::new(manager, Arc::new(exec.clone()));
        let hook = LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(vec!["hook".into()]),
            }),
            ..Default::default()
        };
        let container = Container {
            name: "app".into(),
            liveness_probe: Some(Probe {
                exec: Some(ExecAction {
                    command: Some(vec!["live".into()]),
                }),
                failure_threshold: Some(1),
                ..Default::default()
            }),
            lifecycle: Some(Lifecycle {
                post_start: Some(hook.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = pod(vec![container]);
        let sb = sandbox();
        assert_eq!(adapter.status("c1"), None);
        adapter.add_container(&p, "app", "c1", &sb);
        let st = adapter.status("c1").expect("known");
        assert!(st.started && st.ready);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            adapter.status("c1").and_then(|s| s.liveness_failure).as_deref(),
            Some("Container app failed liveness probe, will be restarted")
        );
        let err = adapter.run_hook(&sb, &p, "c1", &hook, Duration::from_secs(30)).await;
        assert_eq!(
            err,
            Err("Exec lifecycle hook ([hook]) for Container \"app\" in Pod \"web_default(uid-1)\" failed - error: command 'hook' exited with 2: nope, message: \"nope\"".to_string())
        );
    }
}
