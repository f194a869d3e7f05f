//! Kubernetes' `SetDefaults_*` for pods and pod templates (core/v1 defaults.go):
//! PodSpec, Container, ports, probes, volumes, env field references.

use k8s_openapi::api::core::v1::{
    Container, ContainerResizePolicy, HTTPGetAction, PersistentVolumeClaimSpec, Pod, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, Volume,
};

use super::util::{default_str, default_to};

/// `defaultMode` of secret, configMap, downwardAPI and projected volumes (0644).
pub const DEFAULT_MODE: i32 = 0o644;

/// Defaults of a Pod (`SetDefaults_Pod` plus `SetDefaults_PodSpec`).
pub fn default_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(Default::default);
    default_pod_spec(spec);
    // Only pods (not templates) get these.
    default_to(&mut spec.enable_service_links, true);
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        requests_from_limits(c);
    }
    // InPlacePodVerticalScaling (on by default since 1.33): regular containers get resize policies.
    for c in spec.containers.iter_mut() {
        default_resize_policy(c);
    }
    if spec.host_network == Some(true) {
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            for p in c.ports.iter_mut().flatten() {
                if p.host_port.unwrap_or(0) == 0 {
                    p.host_port = Some(p.container_port);
                }
            }
        }
    }
    // Set by the Priority admission plugin when no class is named.
    if spec.priority_class_name.as_deref().is_none_or(str::is_empty) {
        default_to(&mut spec.priority, 0);
    }
    default_str(&mut spec.preemption_policy, "PreemptLowerPriority");
    // Set by the ServiceAccount admission plugin.
    default_str(&mut spec.service_account_name, "default");
    mirror_service_account(spec);
}

/// `serviceAccount` is the deprecated spelling of `serviceAccountName`; Kubernetes keeps both.
fn mirror_service_account(spec: &mut PodSpec) {
    match (
        spec.service_account_name.as_deref().filter(|s| !s.is_empty()),
        spec.service_account.as_deref().filter(|s| !s.is_empty()),
    ) {
        (Some(name), None) => spec.service_account = Some(name.to_string()),
        (None, Some(old)) => spec.service_account_name = Some(old.to_string()),
        _ => {}
    }
}

/// Defaults of a pod template (`SetDefaults_PodTemplateSpec` path).
pub fn default_template(t: &mut PodTemplateSpec) {
    default_pod_spec(t.spec.get_or_insert_with(Default::default));
}

/// `SetDefaults_PodSpec` and everything nested in it.
pub fn default_pod_spec(spec: &mut PodSpec) {
    default_str(&mut spec.dns_policy, "ClusterFirst");
    default_str(&mut spec.restart_policy, "Always");
    default_to(&mut spec.security_context, Default::default());
    default_to(&mut spec.termination_grace_period_seconds, 30);
    default_str(&mut spec.scheduler_name, "default-scheduler");
    mirror_service_account(spec);
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        default_container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
}

/// If limits are given but requests are not, requests default to the limits.
fn requests_from_limits(c: &mut Container) {
    let Some(res) = c.resources.as_mut() else {
        return;
    };
    let Some(limits) = res.limits.clone() else {
        return;
    };
    let requests = res.requests.get_or_insert_with(Default::default);
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

/// A `NotRequired` resize policy for cpu and memory requests that have none.
fn default_resize_policy(c: &mut Container) {
    let Some(requests) = c.resources.as_ref().and_then(|r| r.requests.as_ref()) else {
        return;
    };
    let wanted: Vec<&str> = ["cpu", "memory"]
        .into_iter()
        .filter(|r| requests.contains_key(*r))
        .collect();
    for name in wanted {
        let policies = c.resize_policy.get_or_insert_with(Vec::new);
        if !policies.iter().any(|p| p.resource_name == name) {
            policies.push(ContainerResizePolicy {
                resource_name: name.into(),
                restart_policy: "NotRequired".into(),
            });
        }
    }
}

/// `SetDefaults_Container` and its ports, probes, lifecycle and env.
pub fn default_container(c: &mut Container) {
    if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
        let policy = if image_wants_always(c.image.as_deref().unwrap_or("")) {
            "Always"
        } else {
            "IfNotPresent"
        };
        c.image_pull_policy = Some(policy.to_string());
    }
    default_str(&mut c.termination_message_path, "/dev/termination-log");
    default_str(&mut c.termination_message_policy, "File");
    default_to(&mut c.resources, ResourceRequirements::default());
    for p in c.ports.iter_mut().flatten() {
        default_str(&mut p.protocol, "TCP");
    }
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe]
        .into_iter()
        .flatten()
    {
        default_probe(probe);
    }
    if let Some(l) = c.lifecycle.as_mut() {
        for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
            if let Some(g) = h.http_get.as_mut() {
                default_http_get(g);
            }
        }
    }
    for e in c.env.iter_mut().flatten() {
        if let Some(f) = e.value_from.as_mut().and_then(|s| s.field_ref.as_mut()) {
            default_str(&mut f.api_version, "v1");
        }
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent` (digests count as tags).
pub fn image_wants_always(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

fn default_probe(p: &mut Probe) {
    for (field, value) in [
        (&mut p.timeout_seconds, 1),
        (&mut p.period_seconds, 10),
        (&mut p.success_threshold, 1),
        (&mut p.failure_threshold, 3),
    ] {
        if field.unwrap_or(0) == 0 {
            *field = Some(value);
        }
    }
    if let Some(g) = p.http_get.as_mut() {
        default_http_get(g);
    }
    if let Some(g) = p.grpc.as_mut() {
        default_to(&mut g.service, String::new());
    }
}

fn default_http_get(g: &mut HTTPGetAction) {
    default_str(&mut g.path, "/");
    default_str(&mut g.scheme, "HTTP");
}

/// Volume defaults: a volume with no source is an emptyDir; file modes 0644.
pub fn default_volume(v: &mut Volume) {
    let has_source = serde_json::to_value(&*v)
        .ok()
        .and_then(|j| j.as_object().map(|m| m.keys().any(|k| k != "name")))
        .unwrap_or(true);
    if !has_source {
        v.empty_dir = Some(Default::default());
    }
    if let Some(s) = v.secret.as_mut() {
        default_to(&mut s.default_mode, DEFAULT_MODE);
    }
    if let Some(s) = v.config_map.as_mut() {
        default_to(&mut s.default_mode, DEFAULT_MODE);
    }
    if let Some(s) = v.downward_api.as_mut() {
        default_to(&mut s.default_mode, DEFAULT_MODE);
        for item in s.items.iter_mut().flatten() {
            if let Some(f) = item.field_ref.as_mut() {
                default_str(&mut f.api_version, "v1");
            }
        }
    }
    if let Some(s) = v.projected.as_mut() {
        default_to(&mut s.default_mode, DEFAULT_MODE);
        for src in s.sources.iter_mut().flatten() {
            if let Some(t) = src.service_account_token.as_mut() {
                default_to(&mut t.expiration_seconds, 3600);
            }
            if let Some(d) = src.downward_api.as_mut() {
                for item in d.items.iter_mut().flatten() {
                    if let Some(f) = item.field_ref.as_mut() {
                        default_str(&mut f.api_version, "v1");
                    }
                }
            }
        }
    }
    if let Some(h) = v.host_path.as_mut() {
        default_to(&mut h.type_, String::new());
    }
    if let Some(t) = v.ephemeral.as_mut().and_then(|e| e.volume_claim_template.as_mut()) {
        default_pvc_spec(&mut t.spec);
    }
}

/// `SetDefaults_PersistentVolumeClaimSpec`: volumeMode Filesystem.
pub fn default_pvc_spec(spec: &mut PersistentVolumeClaimSpec) {
    default_str(&mut spec.volume_mode, "Filesystem");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pull_policy_from_tag() {
        for (image, always) in [
            ("nginx", true),
            ("nginx:latest", true),
            ("nginx:1.27", false),
            ("registry:5000/nginx", true),
            ("registry:5000/nginx:1", false),
            ("nginx@sha256:abc", false),
        ] {
            assert_eq!(image_wants_always(image), always, "{image}");
        }
    }

    #[test]
    fn minimal_pod_gets_kubernetes_defaults() {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                "ports": [{"containerPort": 80}],
                "readinessProbe": {"httpGet": {"port": 80}},
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"limits": {"cpu": "1"}}}],
                "volumes": [{"name": "a"}, {"name": "b", "configMap": {"name": "cm"}}]}
        }))
        .unwrap();
        default_pod(&mut pod);
        let got = serde_json::to_value(&pod.spec).unwrap();
        let want = json!({
            "containers": [{
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                "image": "nginx",
                "imagePullPolicy": "Always",
                "name": "c",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "readinessProbe": {"failureThreshold": 3, "httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                    "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
                "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"
            }],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "volumes": [{"emptyDir": {}, "name": "a"}, {"configMap": {"defaultMode": 420, "name": "cm"}, "name": "b"}]
        });
        assert_eq!(got, want);
    }

    #[test]
    fn template_has_no_pod_only_defaults() {
        let mut t: PodTemplateSpec =
            serde_json::from_value(json!({"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})).unwrap();
        default_template(&mut t);
        let spec = serde_json::to_value(&t.spec).unwrap();
        assert!(spec.get("enableServiceLinks").is_none());
        assert!(spec.get("priority").is_none());
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(spec["containers"][0]["resources"], json!({}));
    }
}
