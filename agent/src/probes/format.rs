//! Text the way the kubelet (a Go program) prints it: `%q` strings, `%v`
//! durations, `format.Pod`, container field paths.

use k8s_openapi::api::core::v1::{Container, Pod};

pub(crate) use k1s_proto::patch::go_quote;

/// Go's `%v` of a `time.Duration` that is a whole number of seconds
/// (`1s`, `1m30s`, `1h0m0s`).
pub(crate) fn go_duration_secs(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The kubelet's `format.Pod`: `name_namespace(uid)`.
pub(crate) fn pod(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// Finds a container of the pod by name (app containers first, then init
/// containers, which may be restartable sidecars with probes), with the
/// `fieldPath` events about it carry.
pub(crate) fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<(&'a Container, String)> {
    let spec = pod.spec.as_ref()?;
    if let Some(c) = spec.containers.iter().find(|c| c.name == name) {
        return Some((c, format!("spec.containers{{{name}}}")));
    }
    spec.init_containers
        .iter()
        .flatten()
        .find(|c| c.name == name)
        .map(|c| (c, format!("spec.initContainers{{{name}}}")))
}

/// Go's `%v` of a `[]string` (`[sh -c exit 1]`).
pub(crate) fn go_string_slice(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// `net.JoinHostPort`: IPv6 literals in brackets.
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(go_quote("x\u{1}"), r#""x\x01""#);
        assert_eq!(go_quote("héllo"), "\"héllo\"");
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration_secs(1), "1s");
        assert_eq!(go_duration_secs(90), "1m30s");
        assert_eq!(go_duration_secs(3600), "1h0m0s");
        assert_eq!(go_duration_secs(0), "0s");
    }

    #[test]
    fn host_port() {
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
        assert_eq!(
            go_string_slice(&["sh".into(), "-c".into(), "exit 1".into()]),
            "[sh -c exit 1]"
        );
    }
}
