//! Helpers for reading and writing `metadata` on objects held as JSON.

use serde_json::{Map, Value};

/// The current time as Kubernetes writes it (`2024-01-02T03:04:05Z`).
pub fn now_rfc3339() -> String {
    format_time(jiff::Timestamp::now())
}

/// The current time with microseconds (`MicroTime`, used by Leases and events.k8s.io).
pub fn now_micro() -> String {
    let t = jiff::Timestamp::now();
    format!("{}", t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ"))
}

/// Formats a timestamp as an RFC 3339 time in UTC with second precision.
pub fn format_time(t: jiff::Timestamp) -> String {
    format!("{}", t.strftime("%Y-%m-%dT%H:%M:%SZ"))
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

/// Characters Kubernetes uses in generated names and hashes (apimachinery's
/// `util/rand` alphabet: no vowels, no look-alikes).
pub const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `rand.SafeEncodeString`: maps each byte of `s` into [`NAME_ALPHABET`], so a
/// hash printed in decimal never spells words (`pod-template-hash`, revision names).
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| NAME_ALPHABET[b as usize % NAME_ALPHABET.len()] as char)
        .collect()
}

/// Typed accessors on an object's JSON.
pub trait ObjectMeta {
    /// `metadata` as a map, if present.
    fn metadata(&self) -> Option<&Map<String, Value>>;
    /// `metadata`, created if missing.
    fn metadata_mut(&mut self) -> &mut Map<String, Value>;

    /// A string field of `metadata`.
    fn meta_str(&self, field: &str) -> Option<&str> {
        self.metadata().and_then(|m| m.get(field)).and_then(Value::as_str)
    }
    /// `metadata.name`.
    fn name(&self) -> Option<&str> {
        self.meta_str("name")
    }
    /// `metadata.namespace`.
    fn namespace(&self) -> Option<&str> {
        self.meta_str("namespace")
    }
    /// `metadata.uid`.
    fn uid(&self) -> Option<&str> {
        self.meta_str("uid")
    }
    /// `metadata.resourceVersion`.
    fn resource_version(&self) -> Option<&str> {
        self.meta_str("resourceVersion")
    }
    /// `metadata.deletionTimestamp`.
    fn deletion_timestamp(&self) -> Option<&str> {
        self.meta_str("deletionTimestamp")
    }
    /// `metadata.generation` (0 when unset).
    fn generation(&self) -> i64 {
        self.metadata()
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
    /// A string map of `metadata` (labels or annotations).
    fn meta_map(&self, field: &str) -> Option<&Map<String, Value>> {
        self.metadata().and_then(|m| m.get(field)).and_then(Value::as_object)
    }
    /// `metadata.labels`.
    fn labels(&self) -> Option<&Map<String, Value>> {
        self.meta_map("labels")
    }
    /// `metadata.annotations`.
    fn annotations(&self) -> Option<&Map<String, Value>> {
        self.meta_map("annotations")
    }
    /// One label's value.
    fn label(&self, key: &str) -> Option<&str> {
        self.labels().and_then(|l| l.get(key)).and_then(Value::as_str)
    }
    /// `metadata.finalizers`.
    fn finalizers(&self) -> Vec<String> {
        self.metadata()
            .and_then(|m| m.get("finalizers"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    }
    /// `metadata.ownerReferences`.
    fn owner_references(&self) -> Vec<Value> {
        self.metadata()
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets a field of `metadata`.
    fn set_meta(&mut self, field: &str, value: Value) {
        self.metadata_mut().insert(field.to_string(), value);
    }
    /// Removes a field of `metadata`.
    fn remove_meta(&mut self, field: &str) -> Option<Value> {
        self.metadata_mut().remove(field)
    }
    /// Sets `metadata.finalizers` (removing the field when empty).
    fn set_finalizers(&mut self, finalizers: &[String]) {
        if finalizers.is_empty() {
            self.remove_meta("finalizers");
        } else {
            self.set_meta("finalizers", Value::from(finalizers.to_vec()));
        }
    }
}

impl ObjectMeta for Value {
    fn metadata(&self) -> Option<&Map<String, Value>> {
        self.get("metadata").and_then(Value::as_object)
    }

    fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        if !self.is_object() {
            *self = Value::Object(Map::new());
        }
        let obj = self.as_object_mut().expect("made an object above");
        let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        meta.as_object_mut().expect("made an object above")
    }
}

/// Parses a `resourceVersion` string (empty or absent means "any").
pub fn parse_resource_version(rv: &str) -> Option<u64> {
    rv.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors() {
        let mut o = json!({"metadata": {"name": "a", "labels": {"app": "web"}, "generation": 3}});
        assert_eq!(o.name(), Some("a"));
        assert_eq!(o.label("app"), Some("web"));
        assert_eq!(o.generation(), 3);
        o.set_finalizers(&["x".into()]);
        assert_eq!(o.finalizers(), vec!["x".to_string()]);
        o.set_finalizers(&[]);
        assert!(o.metadata().unwrap().get("finalizers").is_none());
        let mut empty = json!(null);
        empty.set_meta("name", json!("b"));
        assert_eq!(empty.name(), Some("b"));
    }

    #[test]
    fn times() {
        let t: jiff::Timestamp = "2024-01-02T03:04:05.123Z".parse().unwrap();
        assert_eq!(format_time(t), "2024-01-02T03:04:05Z");
        assert!(now_micro().ends_with('Z'));
    }

    #[test]
    fn safe_encoding_as_apimachinery() {
        // '0' is byte 48 → 48 % 27 = 21 → '4'; '6' is 54 → 0 → 'b'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        assert_eq!(safe_encode(""), "");
    }
}
