//! ControllerRevisions: the snapshots of a controller's pod template that
//! StatefulSets and DaemonSets keep (Kubernetes' `pkg/controller/history`),
//! which `kubectl rollout history|undo` reads and applies.
//!
//! A revision's `data` is a strategic merge patch that puts the template back
//! (`{"spec": {"template": {…, "$patch": "replace"}}}`); its name is
//! `<owner>-<hash>`; `revision` numbers grow with each new template.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context;
use k1s_proto::meta::{parse_time, safe_encode, ObjectMeta};
use k1s_proto::patch::{schema_for, strategic_merge_patch};
use k1s_proto::ResourceInfo;
use serde_json::{json, Map, Value};

use super::controller_ref::owner_reference;
use super::resource;
use crate::client::Client;

/// The label holding a revision's hash (`ControllerRevisionHashLabel`).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// The ControllerRevision resource.
pub fn revisions() -> &'static ResourceInfo {
    resource("apps", "controllerrevisions")
}

/// 32-bit FNV-1 (Go's `hash/fnv.New32`).
fn fnv1_32(chunks: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in chunks.iter().flat_map(|c| c.iter()) {
        h = h.wrapping_mul(0x0100_0193);
        h ^= u32::from(*b);
    }
    h
}

/// 32-bit FNV-1a (Go's `hash/fnv.New32a`).
fn fnv1a_32(chunks: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in chunks.iter().flat_map(|c| c.iter()) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `value` as JSON with object keys sorted, so equal objects hash alike
/// whatever order their fields were written in.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// `controller.ComputeHash`: the hash of a pod template and collision count,
/// safe-encoded (the `pod-template-hash` of ReplicaSets, a DaemonSet's
/// `controller-revision-hash`). Kubernetes hashes the template as Go prints
/// it; k1s hashes its canonical JSON with the same FNV-1a.
pub fn compute_hash(template: &Value, collision_count: Option<i32>) -> String {
    let data = canonical_json(template);
    let sum = match collision_count {
        // Kubernetes writes the count as 8 little-endian bytes (the upper 4 zero).
        Some(c) => {
            let mut bytes = [0u8; 8];
            bytes[..4].copy_from_slice(&(c as u32).to_le_bytes());
            fnv1a_32(&[data.as_bytes(), &bytes])
        }
        None => fnv1a_32(&[data.as_bytes()]),
    };
    safe_encode(&sum.to_string())
}

/// `HashControllerRevision`: the hash of a revision's data and the collision count.
pub fn hash_revision(data: &Value, collision_count: Option<i32>) -> String {
    let raw = canonical_json(data);
    let sum = match collision_count {
        Some(c) => fnv1_32(&[raw.as_bytes(), c.to_string().as_bytes()]),
        None => fnv1_32(&[raw.as_bytes()]),
    };
    safe_encode(&sum.to_string())
}

/// `ControllerRevisionName`: `<prefix>-<hash>`, the prefix cut to 223 characters.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let prefix: String = prefix.chars().take(223).collect();
    format!("{prefix}-{hash}")
}

/// The patch that restores `owner`'s pod template (StatefulSet and DaemonSet `getPatch`).
pub fn template_patch(owner: &Value) -> Value {
    let mut template = owner["spec"]["template"].clone();
    if let Some(t) = template.as_object_mut() {
        t.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// `NewControllerRevision`: a revision of `parent` (which carries `apiVersion`
/// and `kind`) holding `data`, labelled with `template_labels` and its hash.
pub fn new_revision(
    parent: &Value,
    template_labels: Option<&Map<String, Value>>,
    data: Value,
    revision: i64,
    collision_count: Option<i32>,
) -> Value {
    let hash = hash_revision(&data, collision_count);
    let mut labels = template_labels.cloned().unwrap_or_default();
    labels.insert(HASH_LABEL.into(), json!(hash));
    json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(parent.name().unwrap_or(""), &hash),
            "namespace": parent.namespace().unwrap_or(""),
            "labels": labels,
            "ownerReferences": [owner_reference(parent)],
        },
        "data": data,
        "revision": revision,
    })
}

/// A revision's `revision` number.
pub fn number(revision: &Value) -> i64 {
    revision["revision"].as_i64().unwrap_or(0)
}

/// `SortControllerRevisions`: by revision number, then creation time, then name.
pub fn sort(revisions: &mut [Arc<Value>]) {
    let created = |r: &Value| r.meta_str("creationTimestamp").and_then(parse_time);
    revisions.sort_by(|a, b| {
        number(a)
            .cmp(&number(b))
            .then_with(|| created(a).cmp(&created(b)))
            .then_with(|| a.name().cmp(&b.name()))
    });
}

/// `EqualRevision`: the same data (k1s' hash labels are safe-encoded, which
/// Kubernetes cannot parse either, so only the data decides).
pub fn equal(a: &Value, b: &Value) -> bool {
    a["data"] == b["data"]
}

/// `nextRevision`: one more than the highest number of sorted `revisions` (1 for none).
pub fn next_number(sorted: &[Arc<Value>]) -> i64 {
    sorted.last().map_or(1, |r| number(r) + 1)
}

/// `ApplyRevision`: `owner` with the revision's patch applied (its template restored).
pub fn apply(owner: &Value, revision: &Value, info: &ResourceInfo) -> anyhow::Result<Value> {
    strategic_merge_patch(owner, &revision["data"], schema_for(info))
        .map_err(|e| anyhow::anyhow!("applying revision {}: {e}", revision.name().unwrap_or("")))
}

/// The revisions `truncateHistory` deletes: of the sorted `revisions` not in
/// `live`, the oldest beyond `limit`.
pub fn to_truncate(sorted: &[Arc<Value>], live: &HashSet<&str>, limit: i64) -> Vec<Arc<Value>> {
    let history: Vec<&Arc<Value>> = sorted
        .iter()
        .filter(|r| !r.name().is_some_and(|n| live.contains(n)))
        .collect();
    let limit = usize::try_from(limit).unwrap_or(0);
    let excess = history.len().saturating_sub(limit);
    history.into_iter().take(excess).cloned().collect()
}

/// `CreateControllerRevision`: creates `revision` for `parent`, renaming it
/// with a higher `collision_count` while its name is taken by other data.
pub async fn create(
    client: &Client,
    parent: &Value,
    revision: &Value,
    collision_count: &mut i32,
) -> anyhow::Result<Value> {
    let namespace = parent.namespace();
    loop {
        let hash = hash_revision(&revision["data"], Some(*collision_count));
        let mut clone = revision.clone();
        clone.set_meta("name", json!(revision_name(parent.name().unwrap_or(""), &hash)));
        let name = clone.name().unwrap_or("").to_string();
        match client.create(revisions(), namespace, &clone).await {
            Ok(created) => return Ok(created),
            Err(e) if e.is_already_exists() => {
                let existing = client
                    .get(revisions(), namespace, &name)
                    .await
                    .with_context(|| format!("reading ControllerRevision {name}"))?;
                if equal(&existing, &clone) {
                    return Ok(existing);
                }
                *collision_count += 1;
            }
            Err(e) => return Err(e).with_context(|| format!("creating ControllerRevision {name}")),
        }
    }
}

/// `UpdateControllerRevision`: gives an existing revision a new number (a rollback to it).
pub async fn renumber(client: &Client, revision: &Value, to: i64) -> anyhow::Result<Value> {
    if number(revision) == to {
        return Ok(revision.clone());
    }
    let mut clone = revision.clone();
    clone["revision"] = json!(to);
    client
        .update(revisions(), revision.namespace(), &clone)
        .await
        .with_context(|| format!("renumbering ControllerRevision {}", revision.name().unwrap_or("")))
}

/// Deletes a revision (one already gone is fine).
pub async fn delete(client: &Client, revision: &Value) -> anyhow::Result<()> {
    let name = revision.name().unwrap_or("");
    match client
        .delete(revisions(), revision.namespace(), name, &Value::Null)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("deleting ControllerRevision {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(name: &str, n: i64, created: &str) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": name, "creationTimestamp": created}, "revision": n}))
    }

    fn names(revs: &[Arc<Value>]) -> Vec<&str> {
        revs.iter().filter_map(|r| r.name()).collect()
    }

    #[test]
    fn fnv_matches_the_reference_vectors() {
        // Test vectors of the FNV reference implementation.
        assert_eq!(fnv1_32(&[b""]), 0x811c_9dc5);
        assert_eq!(fnv1_32(&[b"a"]), 0x050c_5d7e);
        assert_eq!(fnv1a_32(&[b"a"]), 0xe40c_292c);
        assert_eq!(fnv1a_32(&[b"foo"]), 0xa9f3_7ed7);
        assert_eq!(fnv1a_32(&[b"fo", b"o"]), fnv1a_32(&[b"foo"]));
    }

    #[test]
    fn hashes_ignore_field_order_and_change_with_collisions() {
        let a = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}, "spec": {"containers": []}});
        let b = json!({"spec": {"containers": []}, "metadata": {"labels": {"tier": "fe", "app": "web"}}});
        assert_eq!(compute_hash(&a, None), compute_hash(&b, None));
        assert_eq!(hash_revision(&a, Some(0)), hash_revision(&b, Some(0)));
        assert_ne!(compute_hash(&a, None), compute_hash(&a, Some(1)));
        assert_ne!(hash_revision(&a, Some(0)), hash_revision(&a, Some(1)));
        let h = compute_hash(&a, Some(0));
        assert!(h.bytes().all(|c| k1s_proto::meta::NAME_ALPHABET.contains(&c)), "{h}");
        let other = json!({"spec": {"containers": [{"name": "c"}]}});
        assert_ne!(compute_hash(&a, None), compute_hash(&other, None));
    }

    #[test]
    fn names_are_prefix_and_hash() {
        assert_eq!(revision_name("web", "5d8f"), "web-5d8f");
        assert_eq!(revision_name(&"x".repeat(300), "h").len(), 225);
    }

    #[test]
    fn new_revisions_carry_the_template_patch_labels_and_owner() {
        let set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "d", "uid": "u1"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let data = template_patch(&set);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        assert_eq!(data["spec"]["template"]["spec"]["containers"][0]["image"], "i");
        let r = new_revision(
            &set,
            set["spec"]["template"]["metadata"]["labels"].as_object(),
            data.clone(),
            3,
            Some(0),
        );
        let hash = hash_revision(&data, Some(0));
        assert_eq!(r["metadata"]["name"], format!("web-{hash}"));
        assert_eq!(r["metadata"]["namespace"], "d");
        assert_eq!(r["metadata"]["labels"], json!({"app": "web", HASH_LABEL: hash}));
        assert_eq!(r["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(r["revision"], 3);
        assert!(equal(&r, &json!({"data": data})));

        // Applying the revision to a changed set restores the template.
        let mut changed = set.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("j");
        changed["spec"]["template"]["metadata"]["labels"]["extra"] = json!("x");
        let restored = apply(&changed, &r, resource("apps", "statefulsets")).unwrap();
        assert_eq!(restored["spec"]["template"], set["spec"]["template"]);
    }

    #[test]
    fn sorting_and_next_numbers() {
        let mut revs = vec![
            rev("c", 2, "2026-01-01T00:00:05Z"),
            rev("b", 1, "2026-01-01T00:00:09Z"),
            rev("a", 2, "2026-01-01T00:00:05Z"),
            rev("d", 2, "2026-01-01T00:00:01Z"),
        ];
        sort(&mut revs);
        assert_eq!(names(&revs), ["b", "d", "a", "c"]);
        assert_eq!(next_number(&revs), 3);
        assert_eq!(next_number(&[]), 1);
    }

    #[test]
    fn truncation_keeps_live_and_the_newest_history() {
        let revs: Vec<Arc<Value>> = (1..=6)
            .map(|n| rev(&format!("r{n}"), n, "2026-01-01T00:00:00Z"))
            .collect();
        let live: HashSet<&str> = ["r2", "r6"].into_iter().collect();
        let cases: [(i64, &[&str]); 4] = [(10, &[]), (4, &[]), (2, &["r1", "r3"]), (0, &["r1", "r3", "r4", "r5"])];
        for (limit, want) in cases {
            assert_eq!(names(&to_truncate(&revs, &live, limit)), want, "limit {limit}");
        }
    }

    #[tokio::test]
    async fn creation_renames_on_collisions_and_reuses_equal_revisions() {
        use crate::controllers::testing::TestEnv;
        let env = TestEnv::new().await;
        let c = env.client();
        let set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let data = template_patch(&set);
        let wanted = new_revision(&set, None, data.clone(), 1, Some(0));
        // Someone else's revision already holds the name this one hashes to.
        let mut squatter = wanted.clone();
        squatter["data"] = json!({"other": true});
        squatter["metadata"].as_object_mut().unwrap().remove("ownerReferences");
        c.create(revisions(), Some("default"), &squatter).await.unwrap();

        let mut collisions = 0;
        let created = create(&c, &set, &wanted, &mut collisions).await.unwrap();
        assert_eq!(collisions, 1);
        assert_eq!(
            created.name().unwrap(),
            format!("web-{}", hash_revision(&data, Some(1)))
        );
        assert_eq!(created["data"], data);

        // The same data again is the same revision.
        let again = create(&c, &set, &wanted, &mut collisions).await.unwrap();
        assert_eq!(again.uid(), created.uid());
        assert_eq!(collisions, 1);

        let renumbered = renumber(&c, &created, 5).await.unwrap();
        assert_eq!(number(&renumbered), 5);
        delete(&c, &renumbered).await.unwrap();
        delete(&c, &renumbered).await.unwrap();
    }
}
