//! Warnings for pods and pod templates (Kubernetes' `pkg/api/pod/warnings.go`
//! as of v1.33): deprecated node labels and annotations, deprecated volume
//! plugins, overlapping volume paths, duplicates (host aliases, image pull
//! secrets, env vars, ports), fractional byte quantities, a negative
//! termination grace period, affinity terms that match no pod.

use std::collections::{HashMap, HashSet};

use k1s_proto::quantity::Quantity;
use serde_json::Value;

use super::{child, index, items, key, str_of};

/// Node labels Kubernetes has deprecated, with its message for each.
const DEPRECATED_NODE_LABELS: &[(&str, &str)] = &[
    (
        "beta.kubernetes.io/arch",
        r#"deprecated since v1.14; use "kubernetes.io/arch" instead"#,
    ),
    (
        "beta.kubernetes.io/os",
        r#"deprecated since v1.14; use "kubernetes.io/os" instead"#,
    ),
    (
        "failure-domain.beta.kubernetes.io/region",
        r#"deprecated since v1.17; use "topology.kubernetes.io/region" instead"#,
    ),
    (
        "failure-domain.beta.kubernetes.io/zone",
        r#"deprecated since v1.17; use "topology.kubernetes.io/zone" instead"#,
    ),
    (
        "beta.kubernetes.io/instance-type",
        r#"deprecated since v1.17; use "node.kubernetes.io/instance-type" instead"#,
    ),
    ("app.kubernetes.io/created-by", "deprecated since v1.9"),
    (
        "scheduler.alpha.kubernetes.io/preferAvoidPods",
        "deprecated since v1.22; use Taints and Tolerations instead",
    ),
    (
        "node-role.kubernetes.io/master",
        r#"use "node-role.kubernetes.io/control-plane" instead"#,
    ),
];

/// Pod annotations that no longer do anything.
const DEPRECATED_ANNOTATIONS: &[(&str, &str)] = &[
    (
        "scheduler.alpha.kubernetes.io/critical-pod",
        r#"non-functional in v1.16+; use the "priorityClassName" field instead"#,
    ),
    (
        "security.alpha.kubernetes.io/sysctls",
        r#"non-functional in v1.11+; use the "sysctls" field instead"#,
    ),
    (
        "security.alpha.kubernetes.io/unsafe-sysctls",
        r#"non-functional in v1.11+; use the "sysctls" field instead"#,
    ),
];

/// Volume plugins Kubernetes deprecated or removed: (JSON member, Go field name, message).
const DEPRECATED_VOLUMES: &[(&str, &str, &str)] = &[
    (
        "photonPersistentDisk",
        "photonPersistentDisk",
        "deprecated in v1.11, non-functional in v1.16+",
    ),
    ("gitRepo", "gitRepo", "deprecated in v1.11"),
    ("scaleIO", "scaleIO", "deprecated in v1.16, non-functional in v1.22+"),
    ("flocker", "flocker", "deprecated in v1.22, non-functional in v1.25+"),
    (
        "storageos",
        "storageOS",
        "deprecated in v1.22, non-functional in v1.25+",
    ),
    ("quobyte", "quobyte", "deprecated in v1.22, non-functional in v1.25+"),
    (
        "glusterfs",
        "glusterfs",
        "deprecated in v1.25, non-functional in v1.26+",
    ),
    ("cephfs", "cephfs", "deprecated in v1.28, non-functional in v1.31+"),
    ("rbd", "rbd", "deprecated in v1.28, non-functional in v1.31+"),
];

const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";
const APPARMOR_CONTAINER_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

fn deprecated_node_label(k: &str) -> Option<&'static str> {
    DEPRECATED_NODE_LABELS
        .iter()
        .find(|(label, _)| *label == k)
        .map(|(_, msg)| *msg)
}

/// Warnings for a Pod on create: the name warning, then the spec's.
pub fn pod_on_create(pod: &Value) -> Vec<String> {
    let mut out: Vec<String> = super::name_warning(pod, "the Pod's hostname").into_iter().collect();
    out.extend(spec_and_meta(None, pod));
    out
}

/// Warnings for a pod template (`template` holds `metadata` and `spec`) at `path`.
pub fn template_warnings(path: &str, template: &Value) -> Vec<String> {
    spec_and_meta(Some(path), template)
}

/// Kubernetes' `warningsForPodSpecAndMeta`; `path` is `None` for a Pod.
fn spec_and_meta(path: Option<&str>, obj: &Value) -> Vec<String> {
    let base = path.unwrap_or("");
    let spec_path = child(base, "spec");
    let spec = &obj["spec"];
    let annotations = obj["metadata"]["annotations"].as_object();
    let has_annotation = |k: &str| annotations.is_some_and(|a| a.contains_key(k));
    let mut w = Vec::new();

    // Deprecated node labels in selectors, affinity and topology spread.
    if let Some(sel) = spec["nodeSelector"].as_object() {
        for k in sel.keys() {
            if let Some(msg) = deprecated_node_label(k) {
                w.push(format!("{}: {msg}", key(&child(&spec_path, "nodeSelector"), k)));
            }
        }
    }
    let node_affinity = &spec["affinity"]["nodeAffinity"];
    let required = child(
        &child(&child(&spec_path, "affinity"), "nodeAffinity"),
        "requiredDuringSchedulingIgnoredDuringExecution",
    );
    let terms_path = child(&required, "nodeSelectorTerms");
    for (i, term) in items(
        &node_affinity["requiredDuringSchedulingIgnoredDuringExecution"],
        "nodeSelectorTerms",
    )
    .iter()
    .enumerate()
    {
        node_selector_term(&index(&terms_path, i), term, &mut w);
    }
    let preferred = child(
        &child(&child(&spec_path, "affinity"), "nodeAffinity"),
        "preferredDuringSchedulingIgnoredDuringExecution",
    );
    for (i, term) in items(node_affinity, "preferredDuringSchedulingIgnoredDuringExecution")
        .iter()
        .enumerate()
    {
        node_selector_term(&child(&index(&preferred, i), "preference"), &term["preference"], &mut w);
    }
    for (i, t) in items(spec, "topologySpreadConstraints").iter().enumerate() {
        let p = index(&child(&spec_path, "topologySpreadConstraints"), i);
        let topology_key = str_of(t, "topologyKey");
        if let Some(msg) = deprecated_node_label(topology_key) {
            w.push(format!("{}: {topology_key} is {msg}", child(&p, "topologyKey")));
        }
        if t["labelSelector"].is_null() {
            w.push(format!(
                "{}: a null labelSelector results in matching no pod",
                child(&p, "labelSelector")
            ));
        }
    }

    // Deprecated annotations.
    let annotations_path = child(&child(base, "metadata"), "annotations");
    for (k, msg) in DEPRECATED_ANNOTATIONS {
        if has_annotation(k) {
            w.push(format!("{}: {msg}", key(&annotations_path, k)));
        }
    }

    // Deprecated and removed volume plugins.
    let volumes_path = child(&spec_path, "volumes");
    for (i, v) in items(spec, "volumes").iter().enumerate() {
        for (json_name, go_name, msg) in DEPRECATED_VOLUMES {
            if v.get(*json_name).is_some_and(|x| !x.is_null()) {
                w.push(format!("{}: {msg}", child(&index(&volumes_path, i), go_name)));
            }
        }
    }
    w.extend(overlapping_volume_paths(items(spec, "volumes")));

    // Duplicate host aliases and image pull secrets.
    if items(spec, "hostAliases").len() > 1 {
        let mut seen = HashSet::new();
        for (i, a) in items(spec, "hostAliases").iter().enumerate() {
            let ip = str_of(a, "ip");
            if !seen.insert(ip) {
                w.push(format!(
                    "{}: duplicate ip {ip:?}",
                    child(&index(&child(&spec_path, "hostAliases"), i), "ip")
                ));
            }
        }
    }
    let secrets_path = child(&spec_path, "imagePullSecrets");
    if items(spec, "imagePullSecrets").len() > 1 {
        let mut seen = HashSet::new();
        for (i, s) in items(spec, "imagePullSecrets").iter().enumerate() {
            let name = str_of(s, "name");
            if !seen.insert(name) {
                w.push(format!(
                    "{}: duplicate name {name:?}",
                    child(&index(&secrets_path, i), "name")
                ));
            }
        }
    }
    for (i, s) in items(spec, "imagePullSecrets").iter().enumerate() {
        if str_of(s, "name").is_empty() {
            w.push(format!(
                "{}: invalid empty name \"\"",
                child(&index(&secrets_path, i), "name")
            ));
        }
    }

    // Fractional byte quantities in the pod overhead.
    for resource in ["memory", "ephemeral-storage"] {
        if let Some(shown) = fractional_bytes(&spec["overhead"][resource]) {
            w.push(format!(
                "{}: fractional byte value {shown:?} is invalid, must be an integer",
                key(&child(&spec_path, "overhead"), resource)
            ));
        }
    }

    // Seccomp and AppArmor annotations without the fields that replaced them.
    if spec["securityContext"]["seccompProfile"].is_null() && has_annotation(SECCOMP_POD_ANNOTATION) {
        w.push(format!(
            r#"{}: non-functional in v1.27+; use the "seccompProfile" field instead"#,
            key(&annotations_path, SECCOMP_POD_ANNOTATION)
        ));
    }
    let pod_apparmor = !spec["securityContext"]["appArmorProfile"].is_null();
    for (c, p) in containers(spec, &spec_path) {
        let name = str_of(c, "name");
        let seccomp_key = format!("{SECCOMP_CONTAINER_PREFIX}{name}");
        if c["securityContext"]["seccompProfile"].is_null() && has_annotation(&seccomp_key) {
            w.push(format!(
                r#"{}: non-functional in v1.27+; use the "seccompProfile" field instead"#,
                key(&annotations_path, &seccomp_key)
            ));
        }
        // Pods get AppArmor warnings elsewhere in Kubernetes; templates get them here.
        let apparmor_key = format!("{APPARMOR_CONTAINER_PREFIX}{name}");
        let has_apparmor_field = pod_apparmor || !c["securityContext"]["appArmorProfile"].is_null();
        if path.is_some() && !has_apparmor_field && has_annotation(&apparmor_key) {
            w.push(format!(
                r#"{}: deprecated since v1.30; use the "appArmorProfile" field instead"#,
                key(&annotations_path, &apparmor_key)
            ));
        }
        for (kind, resource) in [
            ("limits", "memory"),
            ("requests", "memory"),
            ("limits", "ephemeral-storage"),
            ("requests", "ephemeral-storage"),
        ] {
            if let Some(shown) = fractional_bytes(&c["resources"][kind][resource]) {
                w.push(format!(
                    "{}: fractional byte value {shown:?} is invalid, must be an integer",
                    key(&child(&child(&p, "resources"), kind), resource)
                ));
            }
        }
        duplicate_env(c, &p, &mut w);
    }
    port_warnings(spec, &spec_path, &mut w);

    if spec["terminationGracePeriodSeconds"].as_i64().is_some_and(|g| g < 0) {
        w.push(format!(
            "{}: must be >= 0; negative values are invalid and will be treated as 1",
            child(&spec_path, "terminationGracePeriodSeconds")
        ));
    }

    let affinity_path = child(&spec_path, "affinity");
    for kind in ["podAffinity", "podAntiAffinity"] {
        let a = &spec["affinity"][kind];
        if a.is_null() {
            continue;
        }
        let p = child(&affinity_path, kind);
        let required = child(&p, "requiredDuringSchedulingIgnoredDuringExecution");
        for (i, t) in items(a, "requiredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            if t["labelSelector"].is_null() {
                w.push(format!(
                    "{}: a null labelSelector results in matching no pod",
                    child(&index(&required, i), "labelSelector")
                ));
            }
        }
        let preferred = child(&p, "preferredDuringSchedulingIgnoredDuringExecution");
        for (i, t) in items(a, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            if t["podAffinityTerm"]["labelSelector"].is_null() {
                w.push(format!(
                    "{}: a null labelSelector results in matching no pod",
                    child(&child(&index(&preferred, i), "podAffinityTerm"), "labelSelector")
                ));
            }
        }
    }
    w
}

/// Deprecated node labels in a node selector term's expressions.
fn node_selector_term(path: &str, term: &Value, w: &mut Vec<String>) {
    for (i, e) in items(term, "matchExpressions").iter().enumerate() {
        let k = str_of(e, "key");
        if let Some(msg) = deprecated_node_label(k) {
            w.push(format!(
                "{}: {k} is {msg}",
                child(&index(&child(path, "matchExpressions"), i), "key")
            ));
        }
    }
}

/// Every container with its path, in Kubernetes' visiting order.
fn containers<'a>(spec: &'a Value, spec_path: &str) -> Vec<(&'a Value, String)> {
    let mut out = Vec::new();
    for field in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in items(spec, field).iter().enumerate() {
            out.push((c, index(&child(spec_path, field), i)));
        }
    }
    out
}

/// The canonical form of a byte quantity that is not a whole number of bytes.
fn fractional_bytes(v: &Value) -> Option<String> {
    let q = Quantity::from_json(v).ok()?;
    (q.as_milli() % 1000 != 0).then(|| q.canonical())
}

/// Env vars that redefine an earlier one in a way `kubectl apply` may drop.
fn duplicate_env(c: &Value, path: &str, w: &mut Vec<String>) {
    let env = items(c, "env");
    if env.len() < 2 {
        return;
    }
    let mut seen = HashSet::new();
    for (i, e) in env.iter().enumerate() {
        let name = str_of(e, "name");
        if seen.insert(name) {
            continue;
        }
        let reference = format!("$({name})");
        let value = str_of(e, "value");
        let bad = !e["valueFrom"].is_null() || value == reference || !value.contains(&reference);
        if bad {
            w.push(format!(
                "{}: hides previous definition of {name:?}, which may be dropped when using apply",
                index(&child(path, "env"), i)
            ));
        }
    }
}

/// One container port as the warnings compare them.
struct Port<'a> {
    path: String,
    host_ip: &'a str,
    host_port: i64,
}

/// Ports given twice, overlapping or ambiguous across all containers, and
/// host IPs without a host port.
fn port_warnings(spec: &Value, spec_path: &str, w: &mut Vec<String>) {
    let mut all: HashMap<String, Vec<Port<'_>>> = HashMap::new();
    for (c, p) in containers(spec, spec_path) {
        for (i, port) in items(c, "ports").iter().enumerate() {
            let port_path = index(&child(&p, "ports"), i);
            let host_ip = str_of(port, "hostIP");
            let host_port = port["hostPort"].as_i64().unwrap_or(0);
            let container_port = port["containerPort"].as_i64().unwrap_or(0);
            let protocol = str_of(port, "protocol");
            if !host_ip.is_empty() && host_port == 0 {
                w.push(format!(
                    "{port_path}: hostIP set without hostPort: {{Name:{} HostPort:{host_port} ContainerPort:{container_port} Protocol:{protocol} HostIP:{host_ip}}}",
                    str_of(port, "name")
                ));
            }
            let others = all.entry(format!("{container_port}/{protocol}")).or_default();
            for other in others.iter() {
                let shown = &other.path;
                if host_ip == other.host_ip && host_port == other.host_port {
                    w.push(format!("{port_path}: duplicate port definition with {shown}"));
                } else if host_port == 0 || other.host_port == 0 {
                    w.push(format!("{port_path}: overlapping port definition with {shown}"));
                } else if host_port == other.host_port && (host_ip.is_empty() != other.host_ip.is_empty()) {
                    w.push(format!(
                        "{port_path}: dangerously ambiguous port definition with {shown}"
                    ));
                }
            }
            others.push(Port {
                path: port_path,
                host_ip,
                host_port,
            });
        }
    }
}

/// The paths a volume's items map keys to (`items[].path`).
fn item_paths(items_of: &Value) -> Vec<String> {
    items_of
        .as_array()
        .map(|a| a.iter().map(|i| str_of(i, "path").to_string()).collect())
        .unwrap_or_default()
}

/// Kubernetes' `warningsForOverlappingVirtualPaths`: items of one configMap,
/// secret, downwardAPI or projected volume that map to the same file, or to a
/// file inside another's directory.
fn overlapping_volume_paths(volumes: &[Value]) -> Vec<String> {
    let mut w = Vec::new();
    for v in volumes {
        let name = str_of(v, "name");
        if let Some(cm) = v.get("configMap").filter(|c| c["items"].is_array()) {
            let msg = format!(
                "volume {name:?} (ConfigMap {:?}): overlapping paths",
                str_of(cm, "name")
            );
            w.extend(check_overlap(&item_paths(&cm["items"]), &msg));
        }
        if let Some(s) = v.get("secret").filter(|s| s["items"].is_array()) {
            let msg = format!(
                "volume {name:?} (Secret {:?}): overlapping paths",
                str_of(s, "secretName")
            );
            w.extend(check_overlap(&item_paths(&s["items"]), &msg));
        }
        if let Some(d) = v.get("downwardAPI").filter(|d| d["items"].is_array()) {
            let msg = format!("volume {name:?} (DownwardAPI): overlapping paths");
            w.extend(check_overlap(&item_paths(&d["items"]), &msg));
        }
        let Some(projected) = v.get("projected").filter(|p| !p.is_null()) else {
            continue;
        };
        // As in Kubernetes, a source that matches no case re-checks the previous source's paths.
        let mut source_paths: Vec<String> = Vec::new();
        let mut message = String::new();
        let mut all_paths: Vec<String> = Vec::new();
        for source in items(projected, "sources") {
            if source.as_object().is_none_or(|o| o.values().all(Value::is_null)) {
                w.push(format!("volume {name:?} (Projected) has no sources provided"));
                continue;
            }
            if source["configMap"]["items"].is_array() {
                source_paths = item_paths(&source["configMap"]["items"]);
                message = format!(
                    "volume {name:?} (Projected ConfigMap {:?}): overlapping paths",
                    str_of(&source["configMap"], "name")
                );
            } else if source["secret"]["items"].is_array() {
                source_paths = item_paths(&source["secret"]["items"]);
                message = format!(
                    "volume {name:?} (Projected Secret {:?}): overlapping paths",
                    str_of(&source["secret"], "name")
                );
            } else if source["downwardAPI"]["items"].is_array() {
                source_paths = item_paths(&source["downwardAPI"]["items"]);
                message = format!("volume {name:?} (Projected DownwardAPI): overlapping paths");
            } else if source["serviceAccountToken"].is_object() {
                source_paths = vec![str_of(&source["serviceAccountToken"], "path").to_string()];
                message = format!("volume {name:?} (Projected ServiceAccountToken): overlapping paths");
            } else if source["clusterTrustBundle"].is_object() {
                let b = &source["clusterTrustBundle"];
                source_paths = vec![str_of(b, "path").to_string()];
                let shown = b["name"].as_str().unwrap_or_else(|| str_of(b, "signerName"));
                message = format!("volume {name:?} (Projected ClusterTrustBundle {shown:?}): overlapping paths");
            }
            if source_paths.is_empty() {
                continue;
            }
            w.extend(check_overlap(&source_paths, &message));
            let mut unique: Vec<String> = Vec::new();
            for p in &source_paths {
                if !unique.contains(p) {
                    unique.push(p.clone());
                }
            }
            let mut ordered = unique.clone();
            ordered.extend(all_paths.iter().cloned());
            ordered.sort();
            w.extend(check_overlap(&ordered, &message));
            for p in unique {
                if !all_paths.contains(&p) {
                    all_paths.push(p);
                }
            }
        }
    }
    w
}

fn check_overlap(paths: &[String], message: &str) -> Vec<String> {
    let mut w = Vec::new();
    let mut unique: Vec<String> = Vec::new();
    for path in paths {
        let normalized = path.trim_end_matches('/').to_string();
        if let Some(collision) = overlap(&unique, &normalized) {
            w.push(format!("{message}: {normalized:?} with {collision:?}"));
        }
        if !unique.contains(&normalized) {
            unique.push(normalized);
        }
    }
    w
}

/// The first earlier path that `path` collides with (Kubernetes' prefix test, kept as is).
fn overlap<'a>(earlier: &'a [String], path: &str) -> Option<&'a str> {
    for item in earlier {
        if item.is_empty() || path.is_empty() {
            return None;
        }
        if item == path || format!("{item}/").starts_with(path) || format!("{path}/").starts_with(item.as_str()) {
            return Some(item);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deprecated_node_labels_everywhere() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {
            "nodeSelector": {"beta.kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"},
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "failure-domain.beta.kubernetes.io/zone", "operator": "Exists"}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 1, "preference": {"matchExpressions": [{"key": "beta.kubernetes.io/os", "operator": "Exists"}]}}]}},
            "topologySpreadConstraints": [{"topologyKey": "failure-domain.beta.kubernetes.io/region", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}],
            "containers": [{"name": "c", "image": "i"}]}});
        assert_eq!(
            pod_on_create(&pod),
            vec![
                r#"spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "kubernetes.io/arch" instead"#,
                r#"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key: failure-domain.beta.kubernetes.io/zone is deprecated since v1.17; use "topology.kubernetes.io/zone" instead"#,
                r#"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].key: beta.kubernetes.io/os is deprecated since v1.14; use "kubernetes.io/os" instead"#,
                r#"spec.topologySpreadConstraints[0].topologyKey: failure-domain.beta.kubernetes.io/region is deprecated since v1.17; use "topology.kubernetes.io/region" instead"#,
                "spec.topologySpreadConstraints[0].labelSelector: a null labelSelector results in matching no pod",
            ]
        );
    }

    #[test]
    fn template_paths_and_annotations() {
        let template = json!({
            "metadata": {"annotations": {
                "scheduler.alpha.kubernetes.io/critical-pod": "",
                "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
                "container.seccomp.security.alpha.kubernetes.io/c": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/c": "runtime/default"}},
            "spec": {"containers": [{"name": "c", "image": "i"}], "terminationGracePeriodSeconds": -5,
                "volumes": [{"name": "g", "gitRepo": {"repository": "r"}}]}});
        assert_eq!(
            template_warnings("spec.template", &template),
            vec![
                r#"spec.template.metadata.annotations[scheduler.alpha.kubernetes.io/critical-pod]: non-functional in v1.16+; use the "priorityClassName" field instead"#,
                "spec.template.spec.volumes[0].gitRepo: deprecated in v1.11",
                r#"spec.template.metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: non-functional in v1.27+; use the "seccompProfile" field instead"#,
                r#"spec.template.metadata.annotations[container.seccomp.security.alpha.kubernetes.io/c]: non-functional in v1.27+; use the "seccompProfile" field instead"#,
                r#"spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]: deprecated since v1.30; use the "appArmorProfile" field instead"#,
                "spec.template.spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1",
            ]
        );
        // A Pod gets no AppArmor warning from here.
        let pod = json!({"metadata": template["metadata"].clone(), "spec": {"containers": [{"name": "c"}]}});
        assert!(!pod_on_create(&pod).iter().any(|w| w.contains("apparmor")));
    }

    #[test]
    fn duplicates_and_fractions() {
        let pod = json!({"metadata": {"name": "p.x"}, "spec": {
            "hostAliases": [{"ip": "1.2.3.4"}, {"ip": "1.2.3.4"}],
            "imagePullSecrets": [{"name": "a"}, {"name": "a"}, {"name": ""}],
            "initContainers": [{"name": "i", "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
            "containers": [{"name": "c",
                "resources": {"limits": {"memory": "1.5"}, "requests": {"memory": "1Gi"}},
                "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}, {"name": "B", "value": "x"}, {"name": "B", "value": "$(B)y"}],
                "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81, "protocol": "TCP", "hostIP": "10.0.0.1"}]}]}});
        assert_eq!(
            pod_on_create(&pod),
            vec![
                "metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]",
                r#"spec.hostAliases[1].ip: duplicate ip "1.2.3.4""#,
                r#"spec.imagePullSecrets[1].name: duplicate name "a""#,
                r#"spec.imagePullSecrets[2].name: invalid empty name """#,
                r#"spec.containers[0].resources.limits[memory]: fractional byte value "1500m" is invalid, must be an integer"#,
                r#"spec.containers[0].env[1]: hides previous definition of "A", which may be dropped when using apply"#,
                "spec.containers[0].ports[0]: duplicate port definition with spec.initContainers[0].ports[0]",
                "spec.containers[0].ports[1]: hostIP set without hostPort: {Name: HostPort:0 ContainerPort:81 Protocol:TCP HostIP:10.0.0.1}",
            ]
        );
    }

    #[test]
    fn overlapping_paths() {
        let pod = json!({"spec": {"volumes": [
            {"name": "v", "configMap": {"name": "cm", "items": [{"key": "a", "path": "p"}, {"key": "b", "path": "p/q"}]}},
            {"name": "s", "projected": {"sources": [{}, {"serviceAccountToken": {"path": "token"}},
                {"secret": {"name": "sec", "items": [{"key": "k", "path": "token"}]}}]}}]}});
        assert_eq!(
            spec_and_meta(None, &pod),
            vec![
                r#"volume "v" (ConfigMap "cm"): overlapping paths: "p/q" with "p""#,
                r#"volume "s" (Projected) has no sources provided"#,
                r#"volume "s" (Projected Secret "sec"): overlapping paths: "token" with "token""#,
            ]
        );
    }

    #[test]
    fn affinity_terms_without_selectors() {
        let pod = json!({"spec": {"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "k"}],
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": {"topologyKey": "k"}}]}}}});
        assert_eq!(
            spec_and_meta(None, &pod),
            vec![
                "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector: a null labelSelector results in matching no pod",
                "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector: a null labelSelector results in matching no pod",
            ]
        );
    }
}
