//! Kubernetes' `ValidatePodSpec` and `ValidatePodTemplateSpec` (core
//! validation.go): containers, ports, env, mounts, resources, probes,
//! volumes, policies and tolerations, with Kubernetes' field paths and words.

use std::collections::{BTreeMap, HashSet};

use k1s_proto::FieldError;
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names;
use super::util::{canonical_quantity, non_negative, one_of, parse_quantity, validate_labels, QUANTITY_MSG};

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const MESSAGE_POLICIES: &[&str] = &["FallbackToLogsOnError", "File"];

/// Validates a pod template at `path` (e.g. `spec.template`): its labels and its spec.
pub fn validate_template(t: &PodTemplateSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(meta) = &t.metadata {
        errs.extend(validate_labels(
            meta.labels.as_ref(),
            &format!("{path}.metadata.labels"),
        ));
    }
    match &t.spec {
        Some(spec) => errs.extend(validate_pod_spec(spec, &format!("{path}.spec"))),
        None => errs.push(FieldError::required(format!("{path}.spec.containers"), "")),
    }
    errs
}

/// Validates a PodSpec at `path` (e.g. `spec`, `spec.template.spec`).
pub fn validate_pod_spec(spec: &PodSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let volumes = spec.volumes.as_deref().unwrap_or(&[]);
    let volume_names = validate_volumes(volumes, &format!("{path}.volumes"), &mut errs);

    let mut container_names = HashSet::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = format!("{path}.initContainers[{i}]");
        validate_container(c, &p, &volume_names, &mut container_names, &mut errs);
        match c.restart_policy.as_deref() {
            None | Some("Always") => {}
            Some(other) => errs.push(FieldError::not_supported(
                format!("{p}.restartPolicy"),
                other,
                &["Always"],
            )),
        }
        let sidecar = c.restart_policy.as_deref() == Some("Always");
        if !sidecar {
            for (probe, name) in [
                (&c.liveness_probe, "livenessProbe"),
                (&c.readiness_probe, "readinessProbe"),
                (&c.startup_probe, "startupProbe"),
            ] {
                if probe.is_some() {
                    errs.push(FieldError::forbidden(
                        format!("{p}.{name}"),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    if spec.containers.is_empty() {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let p = format!("{path}.containers[{i}]");
        validate_container(c, &p, &volume_names, &mut container_names, &mut errs);
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                format!("{p}.restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    validate_host_ports(spec, path, &mut errs);

    errs.extend(one_of(
        spec.restart_policy.as_deref(),
        &format!("{path}.restartPolicy"),
        RESTART_POLICIES,
    ));
    if spec.restart_policy.as_deref() == Some("") {
        errs.push(FieldError::required(format!("{path}.restartPolicy"), ""));
    }
    errs.extend(one_of(
        spec.dns_policy.as_deref(),
        &format!("{path}.dnsPolicy"),
        DNS_POLICIES,
    ));
    if spec.dns_policy.as_deref() == Some("None") && spec.dns_config.is_none() {
        errs.push(FieldError::required(
            format!("{path}.dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
    errs.extend(validate_labels(
        spec.node_selector.as_ref(),
        &format!("{path}.nodeSelector"),
    ));
    for (field, value) in [
        ("serviceAccountName", &spec.service_account_name),
        ("priorityClassName", &spec.priority_class_name),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            for m in names::is_dns1123_subdomain(v) {
                errs.push(FieldError::invalid(format!("{path}.{field}"), v, m));
            }
        }
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            for m in names::is_dns1123_label(v) {
                errs.push(FieldError::invalid(format!("{path}.{field}"), v, m));
            }
        }
    }
    if let Some(v) = spec.active_deadline_seconds {
        if !(1..=i32::MAX as i64).contains(&v) {
            errs.push(FieldError::invalid(
                format!("{path}.activeDeadlineSeconds"),
                v,
                "must be between 1 and 2147483647, inclusive",
            ));
        }
    }
    // A negative terminationGracePeriodSeconds is accepted with a warning (treated as 1).
    validate_tolerations(spec, path, &mut errs);
    errs
}

fn validate_volumes(volumes: &[Volume], path: &str, errs: &mut Vec<FieldError>) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if v.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        } else {
            for m in names::is_dns1123_label(&v.name) {
                errs.push(FieldError::invalid(format!("{p}.name"), v.name.as_str(), m));
            }
            if !seen.insert(v.name.clone()) {
                errs.push(FieldError::duplicate(format!("{p}.name"), v.name.as_str()));
            }
        }
        let sources: Vec<String> = serde_json::to_value(v)
            .ok()
            .and_then(|j| {
                j.as_object()
                    .map(|m| m.keys().filter(|k| *k != "name").cloned().collect())
            })
            .unwrap_or_default();
        match sources.as_slice() {
            [] => errs.push(FieldError::required(p.clone(), "must specify a volume type")),
            [_] => {}
            [_, rest @ ..] => {
                for s in rest {
                    errs.push(FieldError::forbidden(
                        format!("{p}.{s}"),
                        "may not specify more than 1 volume type",
                    ));
                }
            }
        }
        if let Some(cm) = &v.config_map {
            if cm.name.is_empty() {
                errs.push(FieldError::required(format!("{p}.configMap.name"), ""));
            }
            validate_mode(cm.default_mode, &format!("{p}.configMap.defaultMode"), errs);
            validate_items(cm.items.as_deref(), &format!("{p}.configMap.items"), errs);
        }
        if let Some(s) = &v.secret {
            if s.secret_name.as_deref().is_none_or(str::is_empty) {
                errs.push(FieldError::required(format!("{p}.secret.secretName"), ""));
            }
            validate_mode(s.default_mode, &format!("{p}.secret.defaultMode"), errs);
            validate_items(s.items.as_deref(), &format!("{p}.secret.items"), errs);
        }
        if let Some(h) = &v.host_path {
            if h.path.is_empty() {
                errs.push(FieldError::required(format!("{p}.hostPath.path"), ""));
            }
            const TYPES: &[&str] = &[
                "",
                "BlockDevice",
                "CharDevice",
                "Directory",
                "DirectoryOrCreate",
                "File",
                "FileOrCreate",
                "Socket",
            ];
            errs.extend(one_of(h.type_.as_deref(), &format!("{p}.hostPath.type"), TYPES));
        }
        if let Some(c) = &v.persistent_volume_claim {
            if c.claim_name.is_empty() {
                errs.push(FieldError::required(format!("{p}.persistentVolumeClaim.claimName"), ""));
            }
        }
        if let Some(e) = &v.empty_dir {
            errs.extend(one_of(
                e.medium.as_deref(),
                &format!("{p}.emptyDir.medium"),
                &["", "HugePages", "Memory"],
            ));
        }
    }
    seen
}

fn validate_mode(mode: Option<i32>, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(m) = mode {
        if !(0..=0o777).contains(&m) {
            errs.push(FieldError::invalid(
                path,
                m,
                "must be a number between 0 and 0777 (octal), both inclusive",
            ));
        }
    }
}

fn validate_items(items: Option<&[k8s_openapi::api::core::v1::KeyToPath]>, path: &str, errs: &mut Vec<FieldError>) {
    for (i, item) in items.into_iter().flatten().enumerate() {
        let p = format!("{path}[{i}]");
        if item.key.is_empty() {
            errs.push(FieldError::required(format!("{p}.key"), ""));
        }
        if item.path.is_empty() {
            errs.push(FieldError::required(format!("{p}.path"), ""));
        } else if item.path.starts_with('/') {
            errs.push(FieldError::invalid(
                format!("{p}.path"),
                item.path.as_str(),
                "must be a relative path",
            ));
        } else if item.path.split('/').any(|s| s == "..") {
            errs.push(FieldError::invalid(
                format!("{p}.path"),
                item.path.as_str(),
                "must not contain '..'",
            ));
        }
        validate_mode(item.mode, &format!("{p}.mode"), errs);
    }
}

fn validate_container(
    c: &Container,
    p: &str,
    volumes: &HashSet<String>,
    names_seen: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    if c.name.is_empty() {
        errs.push(FieldError::required(format!("{p}.name"), ""));
    } else {
        for m in names::is_dns1123_label(&c.name) {
            errs.push(FieldError::invalid(format!("{p}.name"), c.name.as_str(), m));
        }
        if !names_seen.insert(c.name.clone()) {
            errs.push(FieldError::duplicate(format!("{p}.name"), c.name.as_str()));
        }
    }
    match c.image.as_deref() {
        None | Some("") => errs.push(FieldError::required(format!("{p}.image"), "")),
        Some(img) if img.trim() != img => errs.push(FieldError::invalid(
            format!("{p}.image"),
            img,
            "must not have leading or trailing whitespace",
        )),
        _ => {}
    }
    match c.image_pull_policy.as_deref() {
        Some("") => errs.push(FieldError::required(format!("{p}.imagePullPolicy"), "")),
        v => errs.extend(one_of(v, &format!("{p}.imagePullPolicy"), PULL_POLICIES)),
    }
    errs.extend(one_of(
        c.termination_message_policy.as_deref(),
        &format!("{p}.terminationMessagePolicy"),
        MESSAGE_POLICIES,
    ));

    let mut port_names = HashSet::new();
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let pp = format!("{p}.ports[{i}]");
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            for m in names::is_valid_port_name(name) {
                errs.push(FieldError::invalid(format!("{pp}.name"), name, m));
            }
            if !port_names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(format!("{pp}.containerPort"), ""));
        } else {
            for m in names::is_valid_port_num(port.container_port.into()) {
                errs.push(FieldError::invalid(
                    format!("{pp}.containerPort"),
                    port.container_port,
                    m,
                ));
            }
        }
        if let Some(hp) = port.host_port.filter(|hp| *hp != 0) {
            for m in names::is_valid_port_num(hp.into()) {
                errs.push(FieldError::invalid(format!("{pp}.hostPort"), hp, m));
            }
        }
        match port.protocol.as_deref() {
            Some("") | None => errs.push(FieldError::required(format!("{pp}.protocol"), "")),
            v => errs.extend(one_of(v, &format!("{pp}.protocol"), PROTOCOLS)),
        }
    }

    for (i, e) in c.env.iter().flatten().enumerate() {
        let ep = format!("{p}.env[{i}]");
        if e.name.is_empty() {
            errs.push(FieldError::required(format!("{ep}.name"), ""));
        } else {
            for m in names::is_env_var_name(&e.name) {
                errs.push(FieldError::invalid(format!("{ep}.name"), e.name.as_str(), m));
            }
        }
        if let Some(src) = &e.value_from {
            let n = [
                src.field_ref.is_some(),
                src.resource_field_ref.is_some(),
                src.config_map_key_ref.is_some(),
                src.secret_key_ref.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if n == 0 {
                errs.push(FieldError::invalid(
                    format!("{ep}.valueFrom"),
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                ));
            } else if n > 1 {
                errs.push(FieldError::invalid(
                    format!("{ep}.valueFrom"),
                    "",
                    "may not have more than one field specified at a time",
                ));
            }
            if e.value.as_deref().is_some_and(|v| !v.is_empty()) {
                errs.push(FieldError::invalid(
                    format!("{ep}.valueFrom"),
                    "",
                    "may not be specified when `value` is not empty",
                ));
            }
            if let Some(f) = &src.field_ref {
                if f.field_path.is_empty() {
                    errs.push(FieldError::required(format!("{ep}.valueFrom.fieldRef.fieldPath"), ""));
                }
            }
            if let Some(k) = &src.config_map_key_ref {
                if k.key.is_empty() {
                    errs.push(FieldError::required(format!("{ep}.valueFrom.configMapKeyRef.key"), ""));
                }
            }
            if let Some(k) = &src.secret_key_ref {
                if k.key.is_empty() {
                    errs.push(FieldError::required(format!("{ep}.valueFrom.secretKeyRef.key"), ""));
                }
            }
        }
    }

    let mut mount_paths = HashSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let mp = format!("{p}.volumeMounts[{i}]");
        if m.name.is_empty() {
            errs.push(FieldError::required(format!("{mp}.name"), ""));
        } else if !volumes.contains(&m.name) {
            errs.push(FieldError::not_found(format!("{mp}.name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(format!("{mp}.mountPath"), ""));
        } else if !mount_paths.insert(m.mount_path.clone()) {
            errs.push(FieldError::invalid(
                format!("{mp}.mountPath"),
                m.mount_path.as_str(),
                "must be unique",
            ));
        }
        if let Some(sp) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if sp.starts_with('/') {
                errs.push(FieldError::invalid(
                    format!("{mp}.subPath"),
                    sp,
                    "must be a relative path",
                ));
            } else if sp.split('/').any(|s| s == "..") {
                errs.push(FieldError::invalid(
                    format!("{mp}.subPath"),
                    sp,
                    "must not contain '..'",
                ));
            }
        }
        errs.extend(one_of(
            m.mount_propagation.as_deref(),
            &format!("{mp}.mountPropagation"),
            &["Bidirectional", "HostToContainer", "None"],
        ));
    }

    if let Some(r) = &c.resources {
        validate_resources(r, &format!("{p}.resources"), errs);
    }
    for (probe, name) in [
        (&c.liveness_probe, "livenessProbe"),
        (&c.readiness_probe, "readinessProbe"),
        (&c.startup_probe, "startupProbe"),
    ] {
        if let Some(probe) = probe {
            let pp = format!("{p}.{name}");
            validate_probe(probe, &pp, errs);
            if name != "readinessProbe" && probe.success_threshold.is_some_and(|s| s != 1) {
                errs.push(FieldError::invalid(
                    format!("{pp}.successThreshold"),
                    probe.success_threshold.unwrap_or(0),
                    "must be 1",
                ));
            }
        }
    }
}

fn validate_probe(probe: &Probe, p: &str, errs: &mut Vec<FieldError>) {
    let handlers = [
        probe.exec.is_some(),
        probe.http_get.is_some(),
        probe.tcp_socket.is_some(),
        probe.grpc.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if handlers == 0 {
        errs.push(FieldError::required(p, "must specify a handler type"));
    } else if handlers > 1 {
        errs.push(FieldError::forbidden(p, "may not specify more than 1 handler type"));
    }
    for (v, f) in [
        (probe.initial_delay_seconds, "initialDelaySeconds"),
        (probe.timeout_seconds, "timeoutSeconds"),
        (probe.period_seconds, "periodSeconds"),
        (probe.success_threshold, "successThreshold"),
        (probe.failure_threshold, "failureThreshold"),
    ] {
        errs.extend(non_negative(v.map(i64::from), &format!("{p}.{f}")));
    }
    if let Some(g) = &probe.http_get {
        validate_port_ref(&g.port, &format!("{p}.httpGet.port"), errs);
        errs.extend(one_of(
            g.scheme.as_deref(),
            &format!("{p}.httpGet.scheme"),
            &["HTTP", "HTTPS"],
        ));
    }
    if let Some(t) = &probe.tcp_socket {
        validate_port_ref(&t.port, &format!("{p}.tcpSocket.port"), errs);
    }
    if let Some(e) = &probe.exec {
        if e.command.as_ref().is_none_or(Vec::is_empty) {
            errs.push(FieldError::required(format!("{p}.exec.command"), ""));
        }
    }
}

fn validate_port_ref(port: &IntOrString, path: &str, errs: &mut Vec<FieldError>) {
    match port {
        IntOrString::Int(n) => {
            for m in names::is_valid_port_num((*n).into()) {
                errs.push(FieldError::invalid(path, *n, m));
            }
        }
        IntOrString::String(s) => {
            for m in names::is_valid_port_name(s) {
                errs.push(FieldError::invalid(path, s.as_str(), m));
            }
        }
    }
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-") || name.contains('/')
}

/// Validates container resources: names, quantities, requests within limits.
pub fn validate_resources(r: &ResourceRequirements, p: &str, errs: &mut Vec<FieldError>) {
    let check = |map: Option<&BTreeMap<String, Quantity>>, kind: &str, errs: &mut Vec<FieldError>| {
        let mut parsed = BTreeMap::new();
        for (name, q) in map.into_iter().flatten() {
            let fp = format!("{p}.{kind}[{name}]");
            if !is_standard_container_resource(name) {
                errs.push(FieldError::invalid(
                    fp.clone(),
                    name.as_str(),
                    "must be a standard resource for containers",
                ));
            }
            match parse_quantity(&q.0) {
                None => errs.push(FieldError::invalid(fp, q.0.as_str(), QUANTITY_MSG)),
                Some(v) if v < 0.0 => errs.push(FieldError::invalid(
                    fp,
                    q.0.as_str(),
                    "must be greater than or equal to 0",
                )),
                Some(v) => {
                    parsed.insert(name.clone(), v);
                }
            }
        }
        parsed
    };
    let limits = check(r.limits.as_ref(), "limits", errs);
    let requests = check(r.requests.as_ref(), "requests", errs);
    for (name, req) in &requests {
        if let Some(lim) = limits.get(name) {
            if req > lim {
                let shown = r
                    .requests
                    .as_ref()
                    .and_then(|m| m.get(name))
                    .map(|q| canonical_quantity(&q.0))
                    .unwrap_or_default();
                let lim_shown = r
                    .limits
                    .as_ref()
                    .and_then(|m| m.get(name))
                    .map(|q| canonical_quantity(&q.0))
                    .unwrap_or_default();
                errs.push(FieldError::invalid(
                    format!("{p}.requests"),
                    shown,
                    format!("must be less than or equal to {name} limit of {lim_shown}"),
                ));
            }
        } else if name.starts_with("hugepages-") {
            errs.push(FieldError::forbidden(
                format!("{p}.limits"),
                "Limit must be set for non overcommitable resources",
            ));
        }
    }
}

fn validate_host_ports(spec: &PodSpec, path: &str, errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    let lists = [
        ("initContainers", spec.init_containers.as_deref().unwrap_or(&[])),
        ("containers", &spec.containers[..]),
    ];
    for (list, containers) in lists {
        for (ci, c) in containers.iter().enumerate() {
            for (pi, port) in c.ports.iter().flatten().enumerate() {
                let Some(hp) = port.host_port.filter(|hp| *hp != 0) else {
                    continue;
                };
                let key = format!(
                    "{}/{}/{}",
                    port.host_ip.as_deref().unwrap_or(""),
                    hp,
                    port.protocol.as_deref().unwrap_or("TCP")
                );
                if !seen.insert(key) {
                    errs.push(FieldError::duplicate(
                        format!("{path}.{list}[{ci}].ports[{pi}].hostPort"),
                        format!("{hp}/{}", port.protocol.as_deref().unwrap_or("TCP")),
                    ));
                }
            }
        }
    }
}

fn validate_tolerations(spec: &PodSpec, path: &str, errs: &mut Vec<FieldError>) {
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        let p = format!("{path}.tolerations[{i}]");
        let key = t.key.as_deref().unwrap_or("");
        if !key.is_empty() {
            for m in names::is_qualified_name(key) {
                errs.push(FieldError::invalid(format!("{p}.key"), key, m));
            }
        }
        let op = t.operator.as_deref().unwrap_or("");
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                format!("{p}.operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        match op {
            "" | "Equal" => {
                for m in names::is_valid_label_value(t.value.as_deref().unwrap_or("")) {
                    errs.push(FieldError::invalid(
                        format!("{p}.value"),
                        t.value.clone().unwrap_or_default(),
                        m,
                    ));
                }
            }
            "Exists" => {
                if let Some(v) = t.value.as_deref().filter(|v| !v.is_empty()) {
                    errs.push(FieldError::invalid(
                        format!("{p}.operator"),
                        v,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{p}.operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if t.toleration_seconds.is_some() && t.effect.as_deref() != Some("NoExecute") {
            errs.push(FieldError::invalid(
                format!("{p}.effect"),
                t.effect.clone().unwrap_or_default(),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty()) {
            errs.extend(one_of(
                Some(e),
                &format!("{p}.effect"),
                &["NoExecute", "NoSchedule", "PreferNoSchedule"],
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::pod_defaults::default_pod_spec;
    use serde_json::json;

    fn check(spec: serde_json::Value) -> Vec<String> {
        let mut spec: PodSpec = serde_json::from_value(spec).unwrap();
        default_pod_spec(&mut spec);
        validate_pod_spec(&spec, "spec")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn valid_spec_passes() {
        let errs = check(
            json!({"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "name": "http"}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}], "volumes": [{"name": "data", "emptyDir": {}}]}),
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn messages_match_kubernetes() {
        let cases = [
            (json!({"containers": []}), "spec.containers: Required value"),
            (json!({"containers": [{"name": "a"}]}), "spec.containers[0].image: Required value"),
            (json!({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}), "spec.containers[1].name: Duplicate value: \"a\""),
            (json!({"containers": [{"name": "A", "image": "x"}]}), "spec.containers[0].name: Invalid value: \"A\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
            (json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 70000}]}]}), "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"),
            (json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "protocol": "HTTP"}]}]}), "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""),
            (json!({"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Sometimes"}]}), "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""),
            (json!({"restartPolicy": "Sometimes", "containers": [{"name": "a", "image": "x"}]}), "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""),
            (json!({"dnsPolicy": "Foo", "containers": [{"name": "a", "image": "x"}]}), "spec.dnsPolicy: Unsupported value: \"Foo\": supported values: \"ClusterFirst\", \"ClusterFirstWithHostNet\", \"Default\", \"None\""),
            (json!({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]}), "spec.containers[0].volumeMounts[0].name: Not found: \"v\""),
            (json!({"containers": [{"name": "a", "image": "x"}], "volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]}), "spec.volumes[1].name: Duplicate value: \"v\""),
            (json!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2000m"}, "limits": {"cpu": "1"}}}]}), "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"),
            (json!({"containers": [{"name": "a", "image": "x", "livenessProbe": {"periodSeconds": 5}}]}), "spec.containers[0].livenessProbe: Required value: must specify a handler type"),
            (json!({"containers": [{"name": "a", "image": "x", "livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}}]}), "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"),
        ];
        for (spec, want) in cases {
            let errs = check(spec.clone());
            assert!(errs.contains(&want.to_string()), "{spec}: got {errs:?}");
        }
    }
}
