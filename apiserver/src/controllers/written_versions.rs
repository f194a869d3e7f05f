//! Remembers what a controller wrote, so that it does not act on a cache that
//! has not yet seen its own last write.

use std::collections::HashMap;
use std::sync::Mutex;

use k1s_proto::meta::{parse_resource_version, ObjectMeta};
use serde_json::Value;

/// Remembers the resourceVersion of what a controller last wrote per object,
/// so a cache still showing an older version (or no object after a create,
/// or an object after a delete) is recognised as stale and the sync retried
/// (the stale-endpoints tracker). An informer forgets a key when it sees the
/// object deleted, so a deletion by someone else is not taken for staleness.
#[derive(Debug, Default)]
pub struct WrittenVersions {
    written: Mutex<HashMap<String, Option<u64>>>,
}

impl WrittenVersions {
    /// Records a write (`Some(resourceVersion)`) or a deletion (`None`) of `key`.
    pub fn record(&self, key: &str, written: Option<&Value>) {
        let rv = written.and_then(|o| o.resource_version().and_then(parse_resource_version));
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.insert(key.to_string(), rv);
    }

    /// Forgets `key` (its owner is gone).
    pub fn forget(&self, key: &str) {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.remove(key);
    }

    /// Whether `cached` (the cache's view of `key`) predates the last write.
    pub fn is_stale(&self, key: &str, cached: Option<&Value>) -> bool {
        let w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        match (w.get(key), cached) {
            (None, _) => false,
            // Deleted by us, still cached.
            (Some(None), Some(_)) => true,
            (Some(None), None) => false,
            // Written by us, not cached yet.
            (Some(Some(_)), None) => true,
            (Some(Some(rv)), Some(obj)) => obj
                .resource_version()
                .and_then(parse_resource_version)
                .is_some_and(|cached| cached < *rv),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn written_versions_detect_stale_caches() {
        let w = WrittenVersions::default();
        let v = |rv: &str| json!({"metadata": {"resourceVersion": rv}});
        assert!(!w.is_stale("k", None));
        w.record("k", Some(&v("10")));
        assert!(w.is_stale("k", None));
        assert!(w.is_stale("k", Some(&v("9"))));
        assert!(!w.is_stale("k", Some(&v("10"))));
        assert!(!w.is_stale("k", Some(&v("11"))));
        w.record("k", None);
        assert!(w.is_stale("k", Some(&v("11"))));
        assert!(!w.is_stale("k", None));
        w.forget("k");
        assert!(!w.is_stale("k", Some(&v("1"))));
    }
}
