//! The typed round trip: every object written is decoded into its
//! k8s-openapi type and encoded back, which drops unknown fields (as
//! Kubernetes' decoder does) and rejects values of the wrong JSON type with
//! Go-decoder-like messages.

use k1s_proto::ResourceInfo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use serde_path_to_error::Segment;

use k8s_openapi::api::{
    apps, autoscaling, batch, coordination, core, discovery, events, networking, policy, rbac, scheduling, storage,
};

/// Round-trips `obj` through the k8s-openapi type of `info`'s kind and version
/// (kinds without a type pass through unchanged).
pub fn normalize(info: &ResourceInfo, obj: Value) -> Result<Value, String> {
    struct RoundTrip<'a>(&'a str, Value);
    impl WithType for RoundTrip<'_> {
        type Output = Result<Value, String>;
        fn apply<T: DeserializeOwned + Serialize>(self) -> Self::Output {
            round_trip::<T>(self.0, self.1)
        }
    }
    match with_type(info, RoundTrip(info.kind, obj)) {
        Ok(out) => out,
        Err(RoundTrip(_, obj)) => Ok(obj),
    }
}

/// Something done with the k8s-openapi type of a kind (see [`with_type`]).
pub trait WithType: Sized {
    /// What it gives.
    type Output;
    /// Does it with the type `T`.
    fn apply<T: DeserializeOwned + Serialize>(self) -> Self::Output;
}

/// Calls `w` with the k8s-openapi type of `info`'s group, version and kind;
/// gives `w` back when k1s has no type for it.
pub fn with_type<W: WithType>(info: &ResourceInfo, w: W) -> Result<W::Output, W> {
    macro_rules! table {
        ($( ($g:literal, $v:literal, $k:literal) => $t:ty ),* $(,)?) => {
            match (info.group, info.version, info.kind) {
                $( ($g, $v, $k) => Ok(w.apply::<$t>()), )*
                _ => Err(w),
            }
        };
    }
    table! {
        ("", "v1", "Namespace") => core::v1::Namespace,
        ("", "v1", "Pod") => core::v1::Pod,
        ("", "v1", "Service") => core::v1::Service,
        ("", "v1", "Endpoints") => core::v1::Endpoints,
        ("", "v1", "ConfigMap") => core::v1::ConfigMap,
        ("", "v1", "Secret") => core::v1::Secret,
        ("", "v1", "ServiceAccount") => core::v1::ServiceAccount,
        ("", "v1", "Node") => core::v1::Node,
        ("", "v1", "Event") => core::v1::Event,
        ("", "v1", "PersistentVolume") => core::v1::PersistentVolume,
        ("", "v1", "PersistentVolumeClaim") => core::v1::PersistentVolumeClaim,
        ("", "v1", "ResourceQuota") => core::v1::ResourceQuota,
        ("", "v1", "LimitRange") => core::v1::LimitRange,
        ("apps", "v1", "Deployment") => apps::v1::Deployment,
        ("apps", "v1", "ReplicaSet") => apps::v1::ReplicaSet,
        ("apps", "v1", "StatefulSet") => apps::v1::StatefulSet,
        ("apps", "v1", "DaemonSet") => apps::v1::DaemonSet,
        ("apps", "v1", "ControllerRevision") => apps::v1::ControllerRevision,
        ("batch", "v1", "Job") => batch::v1::Job,
        ("batch", "v1", "CronJob") => batch::v1::CronJob,
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => autoscaling::v2::HorizontalPodAutoscaler,
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => autoscaling::v1::HorizontalPodAutoscaler,
        ("networking.k8s.io", "v1", "Ingress") => networking::v1::Ingress,
        ("networking.k8s.io", "v1", "IngressClass") => networking::v1::IngressClass,
        ("networking.k8s.io", "v1", "NetworkPolicy") => networking::v1::NetworkPolicy,
        ("storage.k8s.io", "v1", "StorageClass") => storage::v1::StorageClass,
        ("rbac.authorization.k8s.io", "v1", "Role") => rbac::v1::Role,
        ("rbac.authorization.k8s.io", "v1", "ClusterRole") => rbac::v1::ClusterRole,
        ("rbac.authorization.k8s.io", "v1", "RoleBinding") => rbac::v1::RoleBinding,
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => rbac::v1::ClusterRoleBinding,
        ("discovery.k8s.io", "v1", "EndpointSlice") => discovery::v1::EndpointSlice,
        ("coordination.k8s.io", "v1", "Lease") => coordination::v1::Lease,
        ("events.k8s.io", "v1", "Event") => events::v1::Event,
        ("policy", "v1", "PodDisruptionBudget") => policy::v1::PodDisruptionBudget,
        ("scheduling.k8s.io", "v1", "PriorityClass") => scheduling::v1::PriorityClass,
        ("autoscaling", "v1", "Scale") => autoscaling::v1::Scale,
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(kind: &str, obj: Value) -> Result<Value, String> {
    let typed: T =
        serde_path_to_error::deserialize(obj).map_err(|e| go_error(kind, e.path(), &e.inner().to_string()))?;
    serde_json::to_value(&typed).map_err(|e| format!("encoding {kind}: {e}"))
}

/// Words a serde type error as Go's `encoding/json` does:
/// `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`.
fn go_error(kind: &str, path: &serde_path_to_error::Path, serde_msg: &str) -> String {
    let names: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let Some((found, expected)) = parse_invalid_type(serde_msg) else {
        return format!("json: {serde_msg}");
    };
    let field = names.last().copied().unwrap_or("");
    let parent = go_struct_name(kind, &names[..names.len().saturating_sub(1)]);
    let go_type = go_type_name(expected, field);
    if names.is_empty() {
        return format!("json: cannot unmarshal {found} into Go value of type {go_type}");
    }
    format!(
        "json: cannot unmarshal {found} into Go struct field {parent}.{} of type {go_type}",
        names.join(".")
    )
}

/// Splits serde's `invalid type: string "x", expected i32` into Go's JSON kind and serde's expectation.
fn parse_invalid_type(msg: &str) -> Option<(String, &str)> {
    let rest = msg.strip_prefix("invalid type: ")?;
    let (found, expected) = rest.rsplit_once(", expected ")?;
    let found = if found.starts_with("string") {
        "string".to_string()
    } else if let Some(n) = found
        .strip_prefix("integer `")
        .or_else(|| found.strip_prefix("floating point `"))
    {
        format!("number {}", n.trim_end_matches('`'))
    } else if found.starts_with("map") {
        "object".to_string()
    } else if found.starts_with("sequence") {
        "array".to_string()
    } else if found.starts_with("boolean") {
        "bool".to_string()
    } else {
        found.to_string()
    };
    Some((found, expected))
}

fn go_type_name(expected: &str, field: &str) -> String {
    match expected {
        "i32" => "int32".into(),
        "i64" => "int64".into(),
        "f64" => "float64".into(),
        "a boolean" => "bool".into(),
        "a string" => "string".into(),
        "a sequence" => match field {
            "args" | "command" | "finalizers" | "accessModes" | "values" | "verbs" | "resources" | "apiGroups"
            | "resourceNames" | "nonResourceURLs" | "clusterIPs" | "ipFamilies" | "externalIPs" | "policyTypes" => {
                "[]string".into()
            }
            f => format!("[]v1.{}", singular_struct(f)),
        },
        "a map" => "map[string]string".into(),
        "IntOrString" => "intstr.IntOrString".into(),
        "a base64-encoded string" => "[]uint8".into(),
        e if e.chars().next().is_some_and(char::is_uppercase) && !e.contains(' ') => {
            format!("v1.{e}")
        }
        e => e.to_string(),
    }
}

fn singular_struct(field: &str) -> String {
    let base = match field {
        "containers" | "initContainers" => return "Container".into(),
        "env" => return "EnvVar".into(),
        "ports" => return "ContainerPort".into(),
        "tolerations" => return "Toleration".into(),
        f => f
            .strip_suffix("es")
            .filter(|b| b.ends_with("ss"))
            .or_else(|| f.strip_suffix('s'))
            .unwrap_or(f),
    };
    capitalize(base)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The Go struct that holds the field at `parents` (a best guess from the field names).
fn go_struct_name(kind: &str, parents: &[&str]) -> String {
    let Some(last) = parents.last() else {
        return kind.to_string();
    };
    let before = parents
        .len()
        .checked_sub(2)
        .and_then(|i| parents.get(i))
        .copied()
        .unwrap_or("");
    match *last {
        "metadata" => "ObjectMeta".into(),
        "spec" if before == "template" => "PodSpec".into(),
        "spec" if before == "jobTemplate" => "JobSpec".into(),
        "spec" if before.is_empty() => format!("{kind}Spec"),
        "status" if before.is_empty() => format!("{kind}Status"),
        "template" if before == "jobTemplate" || before == "spec" && kind == "CronJob" => "JobTemplateSpec".into(),
        "template" => "PodTemplateSpec".into(),
        "jobTemplate" => "JobTemplateSpec".into(),
        "containers" | "initContainers" => "Container".into(),
        "ports" if parents.contains(&"containers") || parents.contains(&"initContainers") => "ContainerPort".into(),
        "ports" if kind == "Service" => "ServicePort".into(),
        "resources" => "ResourceRequirements".into(),
        "selector" => "LabelSelector".into(),
        "strategy" => "DeploymentStrategy".into(),
        "rollingUpdate" if kind == "Deployment" => "RollingUpdateDeployment".into(),
        "livenessProbe" | "readinessProbe" | "startupProbe" => "Probe".into(),
        "httpGet" => "HTTPGetAction".into(),
        "securityContext" if before == "spec" => "PodSecurityContext".into(),
        other => singular_struct(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k1s_proto::resources::find;
    use serde_json::json;

    #[test]
    fn drops_unknown_fields() {
        let info = find("apps", "v1", "deployments").unwrap();
        let out = normalize(
            info,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "bogus": 1},
                "spec": {"replicas": 2, "extra": true, "selector": {"matchLabels": {"a": "b"}},
                    "template": {"spec": {"containers": [{"name": "c", "image": "i", "unknownField": "z"}]}}}}),
        )
        .unwrap();
        assert!(out["metadata"].get("bogus").is_none());
        assert!(out["spec"].get("extra").is_none());
        assert!(out["spec"]["template"]["spec"]["containers"][0]
            .get("unknownField")
            .is_none());
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(out["metadata"]["name"], "x");
    }

    #[test]
    fn type_errors_read_like_go() {
        let info = find("apps", "v1", "deployments").unwrap();
        let cases = [
            (json!({"spec": {"replicas": "three"}}), "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
            (
                json!({"spec": {"template": {"spec": {"containers": {"name": "c"}}}}}),
                "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container",
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": 5}]}}}}),
                "json: cannot unmarshal number 5 into Go struct field Container.spec.template.spec.containers.image of type string",
            ),
            (json!({"metadata": {"labels": ["a"]}}), "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string"),
        ];
        for (obj, want) in cases {
            assert_eq!(normalize(info, obj).unwrap_err(), want);
        }
    }

    #[test]
    fn every_resource_has_a_type() {
        for info in k1s_proto::resources::RESOURCES {
            let out = normalize(info, json!({"metadata": {"name": "n"}, "zzz": 1})).unwrap();
            assert!(out.get("zzz").is_none(), "{}", info.kind);
        }
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;
    use k1s_proto::resources::find;
    use serde_json::json;

    #[test]
    fn times_and_bytes_round_trip() {
        let lease = find("coordination.k8s.io", "v1", "leases").unwrap();
        let out = normalize(
            lease,
            json!({"metadata": {"name": "l", "creationTimestamp": "2024-01-02T03:04:05Z"},
                "spec": {"renewTime": "2024-01-01T00:00:00.123456Z", "leaseDurationSeconds": 40}}),
        )
        .unwrap();
        assert_eq!(out["metadata"]["creationTimestamp"], "2024-01-02T03:04:05Z");
        assert_eq!(out["spec"]["renewTime"], "2024-01-01T00:00:00.123456Z");
        let secret = find("", "v1", "secrets").unwrap();
        let out = normalize(
            secret,
            json!({"metadata": {"name": "s"}, "data": {"a": "aGk="}, "stringData": {"b": "x"}}),
        )
        .unwrap();
        assert_eq!(out["data"]["a"], "aGk=");
        assert_eq!(out["stringData"]["b"], "x");
        let deploy = find("apps", "v1", "deployments").unwrap();
        let out = normalize(
            deploy,
            json!({"spec": {"template": {"metadata": {"creationTimestamp": null}}}}),
        )
        .unwrap();
        assert!(out["spec"]["template"]["metadata"].get("creationTimestamp").is_none());
    }
}
