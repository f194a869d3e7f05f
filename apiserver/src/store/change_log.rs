//! The change log's on-disk format: one sled entry per revision.
//!
//! Key: the revision as 8 big-endian bytes (so sled orders entries by revision).
//! Value: `[type: u8][key len: u32 BE][key][object len: u32 BE][object JSON][prev JSON]`.
//! The key comes first so a watcher can skip entries outside its prefix without
//! parsing JSON. A delete stores no object: it is the previous object with
//! `metadata.resourceVersion` set to the deleting revision, rebuilt on decode.

use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use serde_json::Value;

use super::{EventType, StoreError, StoreEvent};

/// The sled key of revision `rev`.
pub(crate) fn rev_key(rev: u64) -> [u8; 8] {
    rev.to_be_bytes()
}

/// The revision of a change-log key, if it is one.
pub(crate) fn parse_rev_key(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

fn type_byte(event_type: EventType) -> u8 {
    match event_type {
        EventType::Added => 1,
        EventType::Modified => 2,
        EventType::Deleted => 3,
    }
}

/// Encodes one entry. `object` is ignored for deletes (it is rebuilt from `prev`).
pub(crate) fn encode(event_type: EventType, key: &str, object: &[u8], prev: Option<&[u8]>) -> Vec<u8> {
    let object: &[u8] = if event_type == EventType::Deleted { &[] } else { object };
    let prev = prev.unwrap_or_default();
    let mut out = Vec::with_capacity(9 + key.len() + object.len() + prev.len());
    out.push(type_byte(event_type));
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&(object.len() as u32).to_be_bytes());
    out.extend_from_slice(object);
    out.extend_from_slice(prev);
    out
}

/// One entry, decoded without parsing its JSON.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawEntry<'a> {
    /// What happened.
    pub event_type: EventType,
    /// The object's key.
    pub key: &'a str,
    /// The object's JSON (empty for deletes).
    pub object: &'a [u8],
    /// The previous object's JSON (`None` for adds).
    pub prev: Option<&'a [u8]>,
}

fn split_len(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Decodes the framing of an entry.
pub(crate) fn decode(bytes: &[u8]) -> Result<RawEntry<'_>, StoreError> {
    let corrupt = |what: &str| StoreError::Backend(format!("corrupt change-log entry: {what}"));
    let (&kind, rest) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
    let event_type = match kind {
        1 => EventType::Added,
        2 => EventType::Modified,
        3 => EventType::Deleted,
        other => return Err(corrupt(&format!("unknown event type {other}"))),
    };
    let (key, rest) = split_len(rest).ok_or_else(|| corrupt("truncated key"))?;
    let key = std::str::from_utf8(key).map_err(|_| corrupt("key is not UTF-8"))?;
    let (object, prev) = split_len(rest).ok_or_else(|| corrupt("truncated object"))?;
    let prev = match event_type {
        EventType::Added => None,
        _ if prev.is_empty() => return Err(corrupt("missing previous object")),
        _ => Some(prev),
    };
    Ok(RawEntry {
        event_type,
        key,
        object,
        prev,
    })
}

/// Parses a JSON object stored by the store.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Value, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Backend(format!("corrupt stored object: {e}")))
}

/// Sets `metadata.resourceVersion` to `rev`, as Kubernetes spells it (a decimal string).
pub(crate) fn set_revision(object: &mut Value, rev: u64) {
    object.set_meta("resourceVersion", Value::String(rev.to_string()));
}

/// The revision recorded in a stored object's `metadata.resourceVersion`.
pub(crate) fn revision_of(object: &Value) -> Result<u64, StoreError> {
    object
        .resource_version()
        .and_then(k1s_proto::meta::parse_resource_version)
        .ok_or_else(|| StoreError::Backend("stored object has no valid metadata.resourceVersion".into()))
}

/// Builds the event of revision `rev` from its entry.
pub(crate) fn to_event(rev: u64, raw: &RawEntry<'_>) -> Result<StoreEvent, StoreError> {
    let prev = raw.prev.map(parse_object).transpose()?;
    let object = match (raw.event_type, &prev) {
        (EventType::Deleted, Some(prev)) => {
            let mut last = prev.clone();
            set_revision(&mut last, rev);
            last
        }
        _ => parse_object(raw.object)?,
    };
    Ok(StoreEvent {
        revision: rev,
        event_type: raw.event_type,
        key: raw.key.to_string(),
        object: Arc::new(object),
        prev: prev.map(Arc::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rev_keys_sort_by_revision() {
        let keys: Vec<[u8; 8]> = [1u64, 255, 256, 70_000, u64::MAX].iter().map(|r| rev_key(*r)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(parse_rev_key(&rev_key(70_000)), Some(70_000));
        assert_eq!(parse_rev_key(b"oldest"), None);
    }

    #[test]
    fn entries_round_trip() {
        let obj = br#"{"metadata":{"name":"a","resourceVersion":"7"}}"#;
        let prev = br#"{"metadata":{"name":"a","resourceVersion":"5"}}"#;
        let cases: &[(EventType, Option<&[u8]>)] = &[
            (EventType::Added, None),
            (EventType::Modified, Some(prev)),
            (EventType::Deleted, Some(prev)),
        ];
        for (event_type, prev) in cases {
            let bytes = encode(*event_type, "/registry/core/pods/ns/a", obj, *prev);
            let raw = decode(&bytes).unwrap();
            assert_eq!(raw.event_type, *event_type);
            assert_eq!(raw.key, "/registry/core/pods/ns/a");
            assert_eq!(raw.prev, *prev);
            let ev = to_event(7, &raw).unwrap();
            assert_eq!(ev.object["metadata"]["resourceVersion"], json!("7"), "{event_type:?}");
            assert_eq!(ev.prev.is_some(), prev.is_some());
        }
    }

    #[test]
    fn delete_rebuilds_last_state_from_prev() {
        let prev = br#"{"metadata":{"name":"a","resourceVersion":"5"},"data":{"k":"v"}}"#;
        let bytes = encode(EventType::Deleted, "/k", b"ignored", Some(prev));
        let ev = to_event(9, &decode(&bytes).unwrap()).unwrap();
        assert_eq!(
            *ev.object,
            json!({"metadata": {"name": "a", "resourceVersion": "9"}, "data": {"k": "v"}})
        );
        assert_eq!(ev.prev.unwrap()["metadata"]["resourceVersion"], json!("5"));
    }

    #[test]
    fn corrupt_entries_are_errors() {
        let good = encode(EventType::Modified, "/k", b"{}", Some(b"{}"));
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![9, 0, 0, 0, 0],
            good[..3].to_vec(),
            good[..8].to_vec(),
            encode(EventType::Modified, "/k", b"{}", None),
        ];
        for bytes in cases {
            assert!(decode(&bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn revision_of_reads_resource_version() {
        let mut obj = json!({"metadata": {"name": "a"}});
        assert!(revision_of(&obj).is_err());
        set_revision(&mut obj, 42);
        assert_eq!(revision_of(&obj).unwrap(), 42);
    }
}
