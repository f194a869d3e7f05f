//! Pod fields by path (`metadata.name`, `metadata.labels['app']`…), as the
//! downward API (env `fieldRef` and downwardAPI volumes) reads them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

/// The value of a `metadata.*` field path; `Err` carries Kubernetes' message
/// for an unsupported path.
pub fn metadata_field(pod: &Pod, path: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    if let Some((field, key)) = subscript(path) {
        let map = match field {
            "metadata.labels" => &meta.labels,
            "metadata.annotations" => &meta.annotations,
            _ => return Err(format!("unsupported fieldPath: {path}")),
        };
        return Ok(map.as_ref().and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    match path {
        "metadata.name" => Ok(meta.name.clone().unwrap_or_default()),
        "metadata.namespace" => Ok(meta.namespace.clone().unwrap_or_default()),
        "metadata.uid" => Ok(meta.uid.clone().unwrap_or_default()),
        "metadata.labels" => Ok(format_map(meta.labels.as_ref())),
        "metadata.annotations" => Ok(format_map(meta.annotations.as_ref())),
        _ => Err(format!("unsupported fieldPath: {path}")),
    }
}

/// Splits `metadata.labels['key']` into the map path and the key.
fn subscript(path: &str) -> Option<(&str, &str)> {
    let open = path.find("['")?;
    let key = path[open + 2..].strip_suffix("']")?;
    Some((&path[..open], key))
}

/// A map as the downward API writes it: `key="value"` lines sorted by key, values quoted as Go's `%q`.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    let Some(map) = map else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

pub use k1s_proto::patch::go_quote;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "dev", "uid": "u-1",
                "labels": {"app": "web", "tier": "front"},
                "annotations": {"note": "say \"hi\"\n"}},
        }))
        .unwrap()
    }

    #[test]
    fn metadata_fields() {
        let p = pod();
        assert_eq!(metadata_field(&p, "metadata.name").unwrap(), "web");
        assert_eq!(metadata_field(&p, "metadata.namespace").unwrap(), "dev");
        assert_eq!(metadata_field(&p, "metadata.uid").unwrap(), "u-1");
        assert_eq!(metadata_field(&p, "metadata.labels['app']").unwrap(), "web");
        assert_eq!(metadata_field(&p, "metadata.labels['nope']").unwrap(), "");
        assert_eq!(
            metadata_field(&p, "metadata.labels").unwrap(),
            "app=\"web\"\ntier=\"front\""
        );
        assert_eq!(
            metadata_field(&p, "metadata.annotations").unwrap(),
            "note=\"say \\\"hi\\\"\\n\""
        );
        assert_eq!(
            metadata_field(&p, "spec.foo").unwrap_err(),
            "unsupported fieldPath: spec.foo"
        );
    }
}
