//! The revisions tree: one entry per revision, which is both the change log
//! and the store of object versions.
//!
//! Key: the revision as 8 big-endian bytes (so sled orders entries by revision).
//! Value: `[type: u8][previous revision: u64 BE, 0 = none][key len: u32 BE][key][object JSON]`.
//! An object is stored once, in the entry of the revision that wrote it; the
//! index tree maps each key to that revision. An entry names the revision it
//! replaced instead of copying the previous object, so a Lease renewal writes
//! one copy of the Lease. A delete stores no object: its event carries the
//! previous object with `metadata.resourceVersion` set to the deleting revision.
//! The key comes before the JSON so that a watcher can skip entries outside its
//! prefix without parsing.

use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use serde_json::Value;

use super::sled_store::backend;
use super::{EventType, StoreError, StoreEvent};

/// The sled key of revision `rev`.
pub(crate) fn rev_key(rev: u64) -> [u8; 8] {
    rev.to_be_bytes()
}

/// The revision of a revisions-tree key (or an index value), if it is one.
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

/// Encodes one entry. `object` is ignored for deletes.
pub(crate) fn encode(event_type: EventType, key: &str, prev: Option<u64>, object: &[u8]) -> Vec<u8> {
    let object: &[u8] = if event_type == EventType::Deleted { &[] } else { object };
    let mut out = Vec::with_capacity(13 + key.len() + object.len());
    out.push(type_byte(event_type));
    out.extend_from_slice(&prev.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(object);
    out
}

/// One entry, decoded without parsing its JSON.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawEntry<'a> {
    /// What happened.
    pub event_type: EventType,
    /// The revision this one replaced (`None` for adds).
    pub prev: Option<u64>,
    /// The object's key.
    pub key: &'a str,
    /// The object's JSON (empty for deletes).
    pub object: &'a [u8],
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("corrupt store entry: {what}"))
}

/// Decodes the framing of an entry.
pub(crate) fn decode(bytes: &[u8]) -> Result<RawEntry<'_>, StoreError> {
    let (&kind, rest) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
    let event_type = match kind {
        1 => EventType::Added,
        2 => EventType::Modified,
        3 => EventType::Deleted,
        other => return Err(corrupt(&format!("unknown event type {other}"))),
    };
    let (prev, rest) = rest.split_first_chunk::<8>().ok_or_else(|| corrupt("truncated"))?;
    let prev = match (event_type, u64::from_be_bytes(*prev)) {
        (EventType::Added, _) => None,
        (_, 0) => return Err(corrupt("missing previous revision")),
        (_, prev) => Some(prev),
    };
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(|| corrupt("truncated"))?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(corrupt("truncated key"));
    }
    let (key, object) = rest.split_at(len);
    let key = std::str::from_utf8(key).map_err(|_| corrupt("key is not UTF-8"))?;
    Ok(RawEntry {
        event_type,
        prev,
        key,
        object,
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

/// The object version written at revision `rev`.
pub(crate) fn object_at(revisions: &sled::Tree, rev: u64) -> Result<Value, StoreError> {
    let bytes = revisions
        .get(rev_key(rev))
        .map_err(backend)?
        .ok_or(StoreError::Backend(format!(
            "the object version of revision {rev} is missing"
        )))?;
    let entry = decode(&bytes)?;
    if entry.event_type == EventType::Deleted {
        return Err(corrupt(&format!("revision {rev} is a delete, not an object version")));
    }
    parse_object(entry.object)
}

/// Builds the event of revision `rev` from its entry, reading the previous
/// version from `revisions`.
pub(crate) fn event_at(revisions: &sled::Tree, rev: u64, raw: &RawEntry<'_>) -> Result<StoreEvent, StoreError> {
    let prev = raw.prev.map(|p| object_at(revisions, p)).transpose()?;
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
        let obj = br#"{"metadata":{"name":"a"}}"#;
        let cases = [
            (EventType::Added, None, &obj[..]),
            (EventType::Modified, Some(5), &obj[..]),
            (EventType::Deleted, Some(7), &b""[..]),
        ];
        for (event_type, prev, object) in cases {
            let bytes = encode(event_type, "/registry/core/pods/ns/a", prev, obj);
            let raw = decode(&bytes).unwrap();
            assert_eq!(
                raw,
                RawEntry {
                    event_type,
                    prev,
                    key: "/registry/core/pods/ns/a",
                    object
                },
                "{event_type:?}"
            );
        }
        // An add never names a previous revision.
        assert_eq!(
            decode(&encode(EventType::Added, "/k", Some(3), b"{}")).unwrap().prev,
            None
        );
    }

    #[test]
    fn corrupt_entries_are_errors() {
        let good = encode(EventType::Modified, "/k", Some(1), b"{}");
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![9; 20],
            good[..5].to_vec(),
            good[..12].to_vec(),
            good[..13].to_vec(),
            encode(EventType::Modified, "/k", None, b"{}"),
        ];
        for bytes in cases {
            assert!(decode(&bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn events_read_previous_versions() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("revisions").unwrap();
        let v1 = json!({"metadata": {"name": "a", "resourceVersion": "1"}, "data": {"k": "1"}});
        let v2 = json!({"metadata": {"name": "a", "resourceVersion": "2"}, "data": {"k": "2"}});
        let entries = [
            encode(EventType::Added, "/a", None, &serde_json::to_vec(&v1).unwrap()),
            encode(EventType::Modified, "/a", Some(1), &serde_json::to_vec(&v2).unwrap()),
            encode(EventType::Deleted, "/a", Some(2), b""),
        ];
        for (i, e) in entries.iter().enumerate() {
            tree.insert(rev_key(i as u64 + 1), e.as_slice()).unwrap();
        }
        let event = |rev: u64| {
            let bytes = tree.get(rev_key(rev)).unwrap().unwrap();
            event_at(&tree, rev, &decode(&bytes).unwrap()).unwrap()
        };
        let added = event(1);
        assert_eq!((*added.object).clone(), v1);
        assert!(added.prev.is_none());
        let modified = event(2);
        assert_eq!((*modified.object).clone(), v2);
        assert_eq!(modified.prev.as_deref(), Some(&v1));
        let deleted = event(3);
        assert_eq!(
            *deleted.object,
            json!({"metadata": {"name": "a", "resourceVersion": "3"}, "data": {"k": "2"}})
        );
        assert_eq!(deleted.prev.as_deref(), Some(&v2));
        assert!(object_at(&tree, 3).is_err(), "a delete is no object version");
        assert!(object_at(&tree, 4).is_err(), "missing");
    }
}
