//! `postStart` / `preStop` lifecycle hooks (`exec`, `httpGet`, `sleep`), with
//! the kubelet's failure messages and events (`pkg/kubelet/lifecycle` and
//! `kuberuntime_container.go`).
//!
//! - postStart: [`run_post_start`] right after the container started. On
//!   failure it has recorded `FailedPostStartHook` (Warning) with the message
//!   and returns `Err(message)`; the pod worker then kills the container (the
//!   kubelet's `Killing` event says [`KILL_MESSAGE_POST_START`]) and reports
//!   the start as failed with [`ERR_POST_START_HOOK`].
//! - preStop: [`run_pre_stop`] before SIGTERM, bounded by the grace period;
//!   a failure records `FailedPreStopHook` (Warning). It returns the time it
//!   took, which the pod worker subtracts from the grace period.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};

use super::dial::PodNet;
use super::format::{go_quote, go_string_slice};
use super::{EventSink, ProbeExec};

/// Event reason when a postStart hook failed.
pub const REASON_FAILED_POST_START_HOOK: &str = "FailedPostStartHook";
/// Event reason when a preStop hook failed.
pub const REASON_FAILED_PRE_STOP_HOOK: &str = "FailedPreStopHook";
/// The message of the `Killing` event for a container whose postStart hook failed.
pub const KILL_MESSAGE_POST_START: &str = "FailedPostStartHook";
/// The kubelet's start error after a failed postStart hook (`ErrPostStartHook`).
pub const ERR_POST_START_HOOK: &str = "PostStartHookError";

/// How long an `httpGet` hook may take to connect (Go's default dialer).
const HTTP_DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The container a hook runs for.
pub struct HookContext<'a> {
    /// Runs `exec` handlers in the container.
    pub exec: &'a dyn ProbeExec,
    /// The pod.
    pub pod: &'a Pod,
    /// The container's spec (named ports, `lifecycle`).
    pub container: &'a Container,
    /// The running container instance.
    pub container_id: &'a str,
    /// The sandbox's network namespace file (for pods without an IP).
    pub netns: &'a Path,
    /// The pod IP, if it has one.
    pub pod_ip: Option<IpAddr>,
}

impl HookContext<'_> {
    fn field_path(&self) -> Option<String> {
        super::format::find_container(self.pod, &self.container.name).map(|(_, path)| path)
    }
}

/// Runs one handler; `Err` carries the kubelet's failure message.
pub async fn run(ctx: &HookContext<'_>, handler: &LifecycleHandler) -> Result<(), String> {
    let pod = super::format::pod(ctx.pod);
    let name = go_quote(&ctx.container.name);
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        // The kubelet passes no timeout (0) for hooks.
        let (err, output) = match ctx.exec.exec_sync(ctx.container_id, &command, Duration::ZERO).await {
            Ok((0, _)) => return Ok(()),
            Ok((code, output)) => {
                let output = String::from_utf8_lossy(&output).into_owned();
                (
                    format!("command '{}' exited with {code}: {output}", command.join(" ")),
                    output,
                )
            }
            Err(e) => (format!("{e:#}"), String::new()),
        };
        Err(format!(
            "Exec lifecycle hook ({}) for Container {name} in Pod {} failed - error: {err}, message: {}",
            go_string_slice(&command),
            go_quote(&pod),
            go_quote(&output)
        ))
    } else if let Some(action) = &handler.http_get {
        let net = PodNet {
            netns: ctx.netns.to_path_buf(),
            pod_ip: ctx.pod_ip,
        };
        let result = match super::http::Request::from_action(action, ctx.container, &net, "lifecycle") {
            // Only transport errors fail an HTTP hook; the status code is not checked.
            Ok(req) => super::http::get(&req, &net, HTTP_DIAL_TIMEOUT).await.map(|_| ()),
            Err(e) => Err(e),
        };
        result.map_err(|err| {
            format!(
                "HTTP lifecycle hook ({}) for Container {name} in Pod {} failed - error: {err}",
                action.path.as_deref().unwrap_or_default(),
                go_quote(&pod)
            )
        })
    } else if let Some(sleep) = &handler.sleep {
        tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64)).await;
        Ok(())
    } else {
        Err(format!("Cannot run handler: invalid handler: {handler:?}"))
    }
}

/// Runs the container's postStart hook, if it has one. On failure records
/// `FailedPostStartHook` and returns the message; the caller kills the container.
pub async fn run_post_start(ctx: &HookContext<'_>, events: &dyn EventSink) -> Result<(), String> {
    let Some(handler) = ctx.container.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) else {
        return Ok(());
    };
    run(ctx, handler).await.inspect_err(|msg| {
        events.event(
            ctx.pod,
            "Warning",
            REASON_FAILED_POST_START_HOOK,
            msg.clone(),
            ctx.field_path(),
        );
    })
}

/// Runs the container's preStop hook, if it has one, for at most `grace`.
/// A failure records `FailedPreStopHook`. Returns the time spent.
pub async fn run_pre_stop(ctx: &HookContext<'_>, events: &dyn EventSink, grace: Duration) -> Duration {
    let Some(handler) = ctx.container.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) else {
        return Duration::ZERO;
    };
    let start = tokio::time::Instant::now();
    match tokio::time::timeout(grace, run(ctx, handler)).await {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => events.event(ctx.pod, "Warning", REASON_FAILED_PRE_STOP_HOOK, msg, ctx.field_path()),
        Err(_) => tracing::info!(
            container = ctx.container_id,
            "preStop hook did not complete within the grace period"
        ),
    }
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::testutil::{pod, Events, FakeExec};
    use k8s_openapi::api::core::v1::{ExecAction, HTTPGetAction, Lifecycle, SleepAction};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn exec_handler(cmd: &[&str]) -> LifecycleHandler {
        LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(cmd.iter().map(|s| s.to_string()).collect()),
            }),
            ..Default::default()
        }
    }

    fn container(post_start: Option<LifecycleHandler>, pre_stop: Option<LifecycleHandler>) -> Container {
        Container {
            name: "app".into(),
            lifecycle: Some(Lifecycle {
                post_start,
                pre_stop,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn post_start_exec_failure_message_and_event() {
        let fake = FakeExec::default();
        fake.script("sh", vec![Ok((1, b"boom\n".to_vec()))]);
        let c = container(Some(exec_handler(&["sh", "-c", "echo boom; exit 1"])), None);
        let p = pod(vec![c.clone()]);
        let ctx = HookContext {
            exec: &fake,
            pod: &p,
            container: &c,
            container_id: "c1",
            netns: Path::new("/proc/self/ns/net"),
            pod_ip: None,
        };
        let events = Events::default();
        let err = run_post_start(&ctx, &events).await.expect_err("must fail");
        let want = "Exec lifecycle hook ([sh -c echo boom; exit 1]) for Container \"app\" in Pod \"web_default(uid-1)\" failed - error: command 'sh -c echo boom; exit 1' exited with 1: boom\n, message: \"boom\\n\"";
        assert_eq!(err, want);
        let recorded = events.all();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].reason, "FailedPostStartHook");
        assert_eq!(recorded[0].type_, "Warning");
        assert_eq!(recorded[0].message, want);
        assert_eq!(recorded[0].field_path.as_deref(), Some("spec.containers{app}"));

        fake.script("sh", vec![Ok((0, Vec::new()))]);
        assert_eq!(run_post_start(&ctx, &events).await, Ok(()));
        assert_eq!(events.all().len(), 1);
    }

    #[tokio::test]
    async fn pre_stop_http_failure_and_sleep() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let handler = LifecycleHandler {
            http_get: Some(HTTPGetAction {
                path: Some("/shutdown".into()),
                port: IntOrString::Int(port.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = container(None, Some(handler));
        let p = pod(vec![c.clone()]);
        let fake = FakeExec::default();
        let ctx = HookContext {
            exec: &fake,
            pod: &p,
            container: &c,
            container_id: "c1",
            netns: Path::new("/proc/self/ns/net"),
            pod_ip: Some("127.0.0.1".parse().expect("ip")),
        };
        let events = Events::default();
        run_pre_stop(&ctx, &events, Duration::from_secs(5)).await;
        assert_eq!(
            events.messages(),
            vec![format!(
                "HTTP lifecycle hook (/shutdown) for Container \"app\" in Pod \"web_default(uid-1)\" failed - error: Get \"http://127.0.0.1:{port}/shutdown\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            )]
        );
        assert_eq!(events.all()[0].reason, "FailedPreStopHook");

        // A sleep hook longer than the grace period is cut short without an event.
        let c = container(
            None,
            Some(LifecycleHandler {
                sleep: Some(SleepAction { seconds: 3600 }),
                ..Default::default()
            }),
        );
        let ctx = HookContext { container: &c, ..ctx };
        let events = Events::default();
        tokio::time::pause();
        let took = run_pre_stop(&ctx, &events, Duration::from_secs(2)).await;
        assert!(took < Duration::from_secs(3600));
        assert!(events.all().is_empty());
    }
}
