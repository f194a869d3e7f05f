//! Which owning objects a pod change concerns — the add/update/deletePod
//! handlers of Kubernetes' workload controllers: a pod with a controller
//! reference wakes its controller (the old one too when the reference
//! changed); an orphan wakes every owner whose selector matches it, so one
//! of them may adopt it.

use std::collections::BTreeSet;
use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use k1s_proto::selector::LabelSelector;
use serde_json::Value;

use super::controller_ref::controller_of;
use super::runtime::{cache_key, Cache, Change};

/// The queue key of an object: `namespace/name`.
pub fn key_of(obj: &Value) -> String {
    cache_key(obj.namespace(), obj.name().unwrap_or(""))
}

/// The owner of `kind` a controller `reference` points at, if it is cached
/// (same name and uid).
pub fn resolve(owners: &Cache, kind: &str, namespace: Option<&str>, reference: &Value) -> Option<Arc<Value>> {
    if reference["kind"] != kind {
        return None;
    }
    let owner = owners.get(namespace, reference["name"].as_str()?)?;
    (owner.uid() == reference["uid"].as_str()).then_some(owner)
}

/// The owners in the pod's namespace whose (non-empty) selector matches it.
pub fn matching(owners: &Cache, pod: &Value) -> Vec<Arc<Value>> {
    let Some(ns) = pod.namespace() else {
        return Vec::new();
    };
    owners
        .list_in(ns)
        .into_iter()
        .filter(|o| {
            LabelSelector::from_json(&o["spec"]["selector"]).is_ok_and(|s| !s.is_empty() && s.matches(pod.labels()))
        })
        .collect()
}

/// The keys of the owners (of `kind`, cached in `owners`) a pod change concerns.
pub fn keys_for_change(owners: &Cache, kind: &str, change: &Change) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let owner_of = |pod: &Value, keys: &mut BTreeSet<String>| {
        if let Some(o) = controller_of(pod).and_then(|r| resolve(owners, kind, pod.namespace(), &r)) {
            keys.insert(key_of(&o));
        }
    };
    match change {
        Change::Applied { old: None, new } => {
            if controller_of(new).is_some() || new.deletion_timestamp().is_some() {
                owner_of(new, &mut keys);
            } else {
                keys.extend(matching(owners, new).iter().map(|o| key_of(o)));
            }
        }
        Change::Applied { old: Some(old), new } => {
            if old.resource_version() == new.resource_version() {
                return keys;
            }
            let (old_ref, new_ref) = (controller_of(old), controller_of(new));
            let ref_changed = old_ref != new_ref;
            if ref_changed {
                owner_of(old, &mut keys);
            }
            if new_ref.is_some() {
                owner_of(new, &mut keys);
            } else if ref_changed || old.labels() != new.labels() {
                keys.extend(matching(owners, new).iter().map(|o| key_of(o)));
            }
        }
        Change::Deleted(pod) => owner_of(pod, &mut keys),
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(name: &str, uid: &str, app: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "d", "uid": uid}, "spec": {"selector": {"matchLabels": {"app": app}}}})
    }

    fn pod(rv: &str, app: &str, owner: Option<(&str, &str)>) -> Arc<Value> {
        let mut p = json!({"metadata": {"name": "p", "namespace": "d", "resourceVersion": rv, "labels": {"app": app}}});
        if let Some((name, uid)) = owner {
            p["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name, "uid": uid, "controller": true}]);
        }
        Arc::new(p)
    }

    #[test]
    fn owners_and_orphans() {
        let owners = Cache::of([set("web", "u1", "web"), set("db", "u2", "db"), set("all", "u3", "web")]);
        let keys = |c: Change| {
            keys_for_change(&owners, "StatefulSet", &c)
                .into_iter()
                .collect::<Vec<_>>()
        };
        let owned = pod("1", "web", Some(("web", "u1")));
        assert_eq!(
            keys(Change::Applied {
                old: None,
                new: owned.clone()
            }),
            ["d/web"]
        );
        assert_eq!(keys(Change::Deleted(owned.clone())), ["d/web"]);
        // A stale uid or another kind resolves to nothing.
        assert!(keys(Change::Deleted(pod("1", "web", Some(("web", "old"))))).is_empty());
        assert!(keys_for_change(&owners, "DaemonSet", &Change::Deleted(owned.clone())).is_empty());
        // Orphans wake every matching owner.
        let orphan = pod("1", "web", None);
        assert_eq!(
            keys(Change::Applied {
                old: None,
                new: orphan.clone()
            }),
            ["d/all", "d/web"]
        );
        // An unchanged orphan wakes nobody; a relabelled one its new matches.
        let same = Change::Applied {
            old: Some(orphan.clone()),
            new: pod("2", "web", None),
        };
        assert!(keys(same).is_empty());
        let relabelled = Change::Applied {
            old: Some(orphan.clone()),
            new: pod("2", "db", None),
        };
        assert_eq!(keys(relabelled), ["d/db"]);
        // Released: the old owner hears of it, and the matching ones may adopt.
        let released = Change::Applied {
            old: Some(owned.clone()),
            new: pod("2", "web", None),
        };
        assert_eq!(keys(released), ["d/all", "d/web"]);
        let resync = Change::Applied {
            old: Some(owned.clone()),
            new: owned,
        };
        assert!(keys(resync).is_empty());
    }
}
