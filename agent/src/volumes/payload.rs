//! The files of configMap, secret and downwardAPI volumes (and projected
//! sources), as the kubelet's `MakePayload`/`CollectData` compute them.

use k8s_openapi::api::core::v1::{ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, Secret};

use super::atomic::{FileProjection, Payload};
use crate::containers::fieldpath::metadata_field;
use crate::containers::resources::{resource_field_value, NodeAllocatable};

/// The default `defaultMode` (0644).
pub const DEFAULT_MODE: u32 = 0o644;

fn mode_of(m: Option<i32>, default: u32) -> u32 {
    m.map_or(default, |m| m as u32 & 0o7777)
}

fn make(
    entries: impl Fn(&str) -> Option<Vec<u8>>,
    all: Vec<(String, Vec<u8>)>,
    items: Option<&[KeyToPath]>,
    default_mode: u32,
    optional: bool,
    what: &str,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, data) in all {
                out.insert(
                    k,
                    FileProjection {
                        data,
                        mode: default_mode,
                        uid: None,
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                let Some(data) = entries(&item.key) else {
                    if optional {
                        continue;
                    }
                    return Err(format!(
                        "{what} references non-existent {}key: {}",
                        if what == "configmap" { "config " } else { "secret " },
                        item.key
                    ));
                };
                out.insert(
                    item.path.clone(),
                    FileProjection {
                        data,
                        mode: mode_of(item.mode, default_mode),
                        uid: None,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// A configMap volume's (or projected source's) files: `data` and `binaryData`.
pub fn config_map(
    cm: &ConfigMap,
    items: Option<&[KeyToPath]>,
    default_mode: u32,
    optional: bool,
) -> Result<Payload, String> {
    let get = |k: &str| {
        cm.data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| cm.binary_data.as_ref().and_then(|d| d.get(k)).map(|b| b.0.clone()))
    };
    let mut all: Vec<(String, Vec<u8>)> = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    all.extend(cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())));
    make(get, all, items, default_mode, optional, "configmap")
}

/// A secret volume's (or projected source's) files.
pub fn secret(s: &Secret, items: Option<&[KeyToPath]>, default_mode: u32, optional: bool) -> Result<Payload, String> {
    let get = |k: &str| {
        s.data.as_ref().and_then(|d| d.get(k)).map(|b| b.0.clone()).or_else(|| {
            s.string_data
                .as_ref()
                .and_then(|d| d.get(k))
                .map(|v| v.as_bytes().to_vec())
        })
    };
    let mut all: Vec<(String, Vec<u8>)> = s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    all.extend(
        s.string_data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_bytes().to_vec())),
    );
    make(get, all, items, default_mode, optional, "secret")
}

/// A downwardAPI volume's (or projected source's) files; errors joined as Kubernetes aggregates them.
pub fn downward_api(
    items: &[DownwardAPIVolumeFile],
    pod: &Pod,
    default_mode: u32,
    node: &NodeAllocatable,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    let mut errors = Vec::new();
    for item in items {
        let data = if let Some(f) = &item.field_ref {
            metadata_field(pod, &f.field_path)
        } else if let Some(r) = &item.resource_field_ref {
            let spec = pod.spec.as_ref();
            let name = r.container_name.as_deref().unwrap_or_default();
            match spec.and_then(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
                    .find(|c| c.name == name)
            }) {
                Some(c) => resource_field_value(r, c, node),
                None => Err(format!("container {name} not found")),
            }
        } else {
            Ok(String::new())
        };
        match data {
            Ok(v) => {
                let path = item.path.trim_start_matches("./").to_string();
                out.insert(
                    path,
                    FileProjection {
                        data: v.into_bytes(),
                        mode: mode_of(item.mode, default_mode),
                        uid: None,
                    },
                );
            }
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(out),
        1 => Err(errors.remove(0)),
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm() -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": "cfg"},
            "data": {"a": "1", "config.json": "{}"}, "binaryData": {"bin": "AAE="}}))
        .unwrap()
    }

    fn items(v: serde_json::Value) -> Vec<KeyToPath> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn config_map_payloads() {
        let all = config_map(&cm(), None, 0o644, false).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all["bin"].data, [0, 1]);
        assert_eq!(all["a"].mode, 0o644);
        let i = items(json!([{"key": "config.json", "path": "conf/app.json", "mode": 0o400}]));
        let some = config_map(&cm(), Some(&i), 0o644, false).unwrap();
        assert_eq!(some.keys().collect::<Vec<_>>(), ["conf/app.json"]);
        assert_eq!(some["conf/app.json"].mode, 0o400);
        let missing = items(json!([{"key": "nope", "path": "x"}]));
        assert_eq!(
            config_map(&cm(), Some(&missing), 0o644, false).unwrap_err(),
            "configmap references non-existent config key: nope"
        );
        assert!(config_map(&cm(), Some(&missing), 0o644, true).unwrap().is_empty());
    }

    #[test]
    fn secret_payloads() {
        let s: Secret = serde_json::from_value(json!({"data": {"pw": "czNjcmV0"}})).unwrap();
        let p = secret(&s, None, 0o600, false).unwrap();
        assert_eq!(p["pw"].data, b"s3cret");
        assert_eq!(p["pw"].mode, 0o600);
        let missing = items(json!([{"key": "nope", "path": "x"}]));
        assert_eq!(
            secret(&s, Some(&missing), 0o644, false).unwrap_err(),
            "secret references non-existent secret key: nope"
        );
    }

    #[test]
    fn downward_payloads() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "dev", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}]}}))
        .unwrap();
        let node = NodeAllocatable {
            cpu_milli: 1000,
            memory: 1 << 30,
            ephemeral_storage: 0,
        };
        let files: Vec<DownwardAPIVolumeFile> = serde_json::from_value(json!([
            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}, "mode": 0o600},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
        ]))
        .unwrap();
        let p = downward_api(&files, &pod, 0o644, &node).unwrap();
        assert_eq!(p["namespace"].data, b"dev");
        assert_eq!(p["labels"].data, b"a=\"b\"");
        assert_eq!(p["labels"].mode, 0o600);
        assert_eq!(p["mem"].data, b"64");
    }
}
