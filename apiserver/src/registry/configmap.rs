//! ConfigMaps and Secrets (pkg/registry/core/{configmap,secret}/strategy.go):
//! key syntax, the 1 MiB total size, `immutable`, Secret types and
//! `stringData` folded into `data`.

use base64::Engine;
use k1s_proto::FieldError;
use serde_json::{json, Map, Value};

use super::names;
use super::Strategy;

/// The ConfigMap strategy.
pub struct ConfigMapStrategy;
/// The Secret strategy.
pub struct SecretStrategy;

/// The largest total size of a ConfigMap's or Secret's data (1 MiB).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

fn validate_keys(
    map: Option<&Map<String, Value>>,
    path: &str,
    seen: &mut Vec<String>,
    errs: &mut Vec<FieldError>,
) -> usize {
    let mut size = 0;
    for (k, v) in map.into_iter().flatten() {
        for m in names::is_config_map_key(k) {
            errs.push(FieldError::invalid(format!("{path}[{k}]"), k.as_str(), m));
        }
        if seen.contains(k) {
            errs.push(FieldError::invalid(
                format!("{path}[{k}]"),
                k.as_str(),
                "duplicate of key present in data",
            ));
        }
        seen.push(k.clone());
        size += v.as_str().map(str::len).unwrap_or(0);
    }
    size
}

/// The `immutable` rule: once true, data may not change and the flag may not be unset.
fn validate_immutable(new: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old["immutable"] == json!(true) {
        if new["immutable"] != json!(true) {
            errs.push(FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
        for f in fields {
            if new.get(*f) != old.get(*f) {
                errs.push(FieldError::forbidden(*f, "field is immutable when `immutable` is set"));
            }
        }
    }
    errs
}

impl Strategy for ConfigMapStrategy {
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let mut seen = Vec::new();
        let mut size = validate_keys(obj["data"].as_object(), "data", &mut seen, &mut errs);
        size += validate_keys(obj["binaryData"].as_object(), "binaryData", &mut seen, &mut errs);
        if size > MAX_DATA_SIZE {
            errs.push(FieldError::too_long("", MAX_DATA_SIZE));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        errs.extend(validate_immutable(new, old, &["data", "binaryData"]));
        errs
    }
}

/// Secret types and the keys they require.
const REQUIRED_KEYS: &[(&str, &[&str])] = &[
    ("kubernetes.io/dockercfg", &[".dockercfg"]),
    ("kubernetes.io/dockerconfigjson", &[".dockerconfigjson"]),
    ("kubernetes.io/tls", &["tls.crt", "tls.key"]),
    ("kubernetes.io/ssh-auth", &["ssh-privatekey"]),
];

impl Strategy for SecretStrategy {
    fn default(&self, obj: &mut Value) {
        let Some(map) = obj.as_object_mut() else { return };
        if map.get("type").and_then(Value::as_str).is_none_or(str::is_empty) {
            map.insert("type".into(), json!("Opaque"));
        }
        // stringData is write-only: it is merged into data (winning over it) and dropped.
        if let Some(Value::Object(string_data)) = map.remove("stringData") {
            let data = map.entry("data").or_insert_with(|| json!({}));
            if !data.is_object() {
                *data = json!({});
            }
            if let Some(d) = data.as_object_mut() {
                for (k, v) in string_data {
                    let s = v.as_str().unwrap_or("");
                    d.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(s)));
                }
            }
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let data = obj["data"].as_object();
        let mut size = 0;
        for (k, v) in data.into_iter().flatten() {
            for m in names::is_config_map_key(k) {
                errs.push(FieldError::invalid(format!("data[{k}]"), k.as_str(), m));
            }
            let decoded = v
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
            size += decoded.map(|d| d.len()).unwrap_or(0);
        }
        if size > MAX_DATA_SIZE {
            errs.push(FieldError::too_long("data", MAX_DATA_SIZE));
        }
        let ty = obj["type"].as_str().unwrap_or("");
        if let Some((_, keys)) = REQUIRED_KEYS.iter().find(|(t, _)| *t == ty) {
            for key in *keys {
                if !data.is_some_and(|d| d.contains_key(*key)) {
                    errs.push(FieldError::required(format!("data[{key}]"), ""));
                }
            }
        }
        if ty == "kubernetes.io/service-account-token"
            && obj["metadata"]["annotations"]["kubernetes.io/service-account.name"]
                .as_str()
                .is_none_or(str::is_empty)
        {
            errs.push(FieldError::required(
                "metadata.annotations[kubernetes.io/service-account.name]",
                "",
            ));
        }
        if ty == "kubernetes.io/basic-auth"
            && !data.is_some_and(|d| d.contains_key("username") || d.contains_key("password"))
        {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        if new["type"] != old["type"] {
            errs.push(FieldError::invalid("type", new["type"].clone(), "field is immutable"));
        }
        errs.extend(validate_immutable(new, old, &["data"]));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_defaults_fold_string_data() {
        let mut s =
            json!({"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"a": "hello", "b": "world"}});
        SecretStrategy.default(&mut s);
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"], json!({"a": "aGVsbG8=", "b": "d29ybGQ="}));
        assert!(s.get("stringData").is_none());
        assert!(SecretStrategy.validate_create(&s).is_empty());
    }

    #[test]
    fn keys_size_type_and_immutability() {
        let cm = json!({"data": {"bad/key": "x", "ok.key": "y"}});
        let errs: Vec<String> = ConfigMapStrategy
            .validate_create(&cm)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec!["data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string()]);
        let big = json!({"data": {"a": "x".repeat(MAX_DATA_SIZE + 1)}});
        assert_eq!(
            ConfigMapStrategy.validate_create(&big),
            vec![FieldError::too_long("", MAX_DATA_SIZE)]
        );
        let old = json!({"immutable": true, "data": {"a": "1"}});
        let new = json!({"immutable": true, "data": {"a": "2"}});
        let errs: Vec<String> = ConfigMapStrategy
            .validate_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["data: Forbidden: field is immutable when `immutable` is set".to_string()]
        );
        let tls = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": ""}});
        let errs: Vec<String> = SecretStrategy
            .validate_create(&tls)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec!["data[tls.key]: Required value".to_string()]);
        let (old, new) = (
            json!({"type": "Opaque"}),
            json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
        );
        let errs: Vec<String> = SecretStrategy
            .validate_update(&new, &old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["type: Invalid value: \"kubernetes.io/tls\": field is immutable".to_string()]
        );
    }
}
