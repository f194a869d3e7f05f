//! Running one probe of a container once (with the kubelet's retries on
//! errors) and recording its `Unhealthy` / `ProbeWarning` events.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::dial::PodNet;
use super::{EventSink, ProbeExec, REASON_PROBE_WARNING, REASON_UNHEALTHY};

/// The kubelet retries a probe that *errored* (not one that failed) this often.
const MAX_PROBE_RETRIES: usize = 3;

/// Which probe of a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeType {
    /// `livenessProbe`.
    Liveness,
    /// `readinessProbe`.
    Readiness,
    /// `startupProbe`.
    Startup,
}

impl fmt::Display for ProbeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeType::Liveness => "Liveness",
            ProbeType::Readiness => "Readiness",
            ProbeType::Startup => "Startup",
        })
    }
}

impl ProbeType {
    /// The container's probe of this type.
    pub fn spec(self, container: &Container) -> Option<&Probe> {
        match self {
            ProbeType::Liveness => container.liveness_probe.as_ref(),
            ProbeType::Readiness => container.readiness_probe.as_ref(),
            ProbeType::Startup => container.startup_probe.as_ref(),
        }
    }
}

/// What one probe execution said (`pkg/probe.Result` plus its output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Healthy; the output (body, command output).
    Success(String),
    /// Healthy, with a warning worth an event (e.g. a redirect to another host).
    Warning(String),
    /// Unhealthy; the message the event carries.
    Failure(String),
    /// Could not tell (goes with an error).
    Unknown,
}

impl Outcome {
    fn state_name(&self) -> &'static str {
        match self {
            Outcome::Success(_) => "success",
            Outcome::Warning(_) => "warning",
            Outcome::Failure(_) => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

/// Everything needed to probe one container instance.
#[derive(Clone)]
pub(crate) struct Target {
    pub pod: Arc<Pod>,
    pub container: Arc<Container>,
    pub field_path: String,
    pub container_id: String,
    pub net: PodNet,
    pub exec: Arc<dyn ProbeExec>,
    pub events: Arc<dyn EventSink>,
}

impl Target {
    fn event(&self, type_: &str, reason: &str, message: String) {
        self.events
            .event(&self.pod, type_, reason, message, Some(self.field_path.clone()));
    }
}

/// `timeoutSeconds` (default 1, at least 1).
pub(crate) fn timeout_of(spec: &Probe) -> Duration {
    Duration::from_secs(spec.timeout_seconds.unwrap_or(1).max(1) as u64)
}

/// Probes once: `Ok(true)` success, `Ok(false)` failure, `Err(())` when the
/// probe errored (the kubelet throws such a result away). Records the events.
pub(crate) async fn probe(target: &Target, probe_type: ProbeType, spec: &Probe) -> Result<bool, ()> {
    let mut last = (Outcome::Unknown, None);
    for _ in 0..MAX_PROBE_RETRIES {
        last = run_probe(target, spec).await;
        if last.1.is_none() {
            break;
        }
    }
    let (outcome, err) = last;
    if let Some(err) = err {
        tracing::debug!(container = %target.container_id, %probe_type, "probe errored: {err}");
        target.event(
            "Warning",
            REASON_UNHEALTHY,
            format!(
                "{probe_type} probe errored and resulted in {} state: {err}",
                outcome.state_name()
            ),
        );
        return Err(());
    }
    match outcome {
        Outcome::Success(_) => Ok(true),
        Outcome::Warning(output) => {
            target.event(
                "Warning",
                REASON_PROBE_WARNING,
                format!("{probe_type} probe warning: {output}"),
            );
            Ok(true)
        }
        Outcome::Failure(output) => {
            tracing::debug!(container = %target.container_id, %probe_type, "probe failed: {output}");
            target.event(
                "Warning",
                REASON_UNHEALTHY,
                format!("{probe_type} probe failed: {output}"),
            );
            Ok(false)
        }
        Outcome::Unknown => Ok(false),
    }
}

/// One attempt of the probe's handler: the outcome and an error, if any.
pub(crate) async fn run_probe(target: &Target, spec: &Probe) -> (Outcome, Option<String>) {
    let timeout = timeout_of(spec);
    if let Some(exec) = &spec.exec {
        let command = super::expand::expand_static(
            exec.command.as_deref().unwrap_or_default(),
            target.container.env.as_ref(),
        );
        super::exec::probe(target.exec.as_ref(), &target.container_id, &command, timeout).await
    } else if let Some(http_get) = &spec.http_get {
        match super::http::Request::from_action(http_get, &target.container, &target.net, "probe") {
            Ok(req) => (super::http::probe(&req, &target.net, timeout).await, None),
            Err(err) => (Outcome::Unknown, Some(err)),
        }
    } else if let Some(tcp) = &spec.tcp_socket {
        let port = match resolve_port(&tcp.port, &target.container) {
            Ok(port) => port,
            Err(err) => return (Outcome::Unknown, Some(err)),
        };
        let host = tcp
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| target.net.default_host());
        (super::tcp::probe(&target.net, &host, port, timeout).await, None)
    } else if let Some(grpc) = &spec.grpc {
        let port = match u16::try_from(grpc.port) {
            Ok(port) if port > 0 => port,
            _ => return (Outcome::Unknown, Some(format!("invalid port number: {}", grpc.port))),
        };
        let service = grpc.service.clone().unwrap_or_default();
        (super::grpc::probe(&target.net, port, &service, timeout).await, None)
    } else {
        (
            Outcome::Unknown,
            Some(format!(
                "missing probe handler for {}:{}",
                super::format::pod(&target.pod),
                target.container.name
            )),
        )
    }
}

/// The kubelet's `probe.ResolveContainerPort`: a number, a named container
/// port, or a number written as a string.
pub(crate) fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number: i64 = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => {
            let named = container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| i64::from(p.container_port));
            match named {
                Some(n) => n,
                None => name.parse::<i64>().map_err(|_| {
                    format!(
                        "strconv.Atoi: parsing {}: invalid syntax",
                        super::format::go_quote(name)
                    )
                })?,
            }
        }
    };
    if number > 0 && number < 65536 {
        Ok(number as u16)
    } else {
        Err(format!("invalid port number: {number}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ContainerPort;

    #[test]
    fn ports_by_number_and_name() {
        let c = Container {
            name: "app".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(resolve_port(&IntOrString::String("http".into()), &c), Ok(8080));
        assert_eq!(resolve_port(&IntOrString::String("9090".into()), &c), Ok(9090));
        assert_eq!(
            resolve_port(&IntOrString::String("metrics".into()), &c),
            Err("strconv.Atoi: parsing \"metrics\": invalid syntax".to_string())
        );
        assert_eq!(
            resolve_port(&IntOrString::Int(0), &c),
            Err("invalid port number: 0".to_string())
        );
    }

    #[test]
    fn probe_type_names() {
        assert_eq!(ProbeType::Liveness.to_string(), "Liveness");
        assert_eq!(ProbeType::Readiness.to_string(), "Readiness");
        assert_eq!(ProbeType::Startup.to_string(), "Startup");
    }
}
