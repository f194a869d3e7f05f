//! Controller references: which object controls which (the owner reference
//! with `controller: true`), and claiming children by selector: a controller
//! adopts matching orphans and releases children that no longer match, as
//! Kubernetes' ControllerRefManager does.

use std::sync::Arc;

use anyhow::Context;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::patch::PatchType;
use k1s_proto::selector::LabelSelector;
use k1s_proto::ResourceInfo;
use serde_json::{json, Value};

use crate::client::Client;

/// The owner reference with `controller: true`, if any.
pub fn controller_of(obj: &Value) -> Option<Value> {
    obj.owner_references()
        .into_iter()
        .find(|r| r["controller"].as_bool() == Some(true))
}

/// The uid of `obj`'s controller, if any.
pub fn controller_uid(obj: &Value) -> Option<String> {
    controller_of(obj).and_then(|r| r["uid"].as_str().map(String::from))
}

/// The owner reference a controller puts on what it creates (`parent` carries
/// `apiVersion` and `kind`).
pub fn owner_reference(parent: &Value) -> Value {
    json!({
        "apiVersion": parent["apiVersion"],
        "kind": parent["kind"],
        "name": parent.name().unwrap_or(""),
        "uid": parent.uid().unwrap_or(""),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// What a controller does with one candidate child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Already controlled by the parent and still matching: keep it.
    Owned,
    /// An orphan that matches: take it.
    Adopt,
    /// Controlled by the parent but no longer matching: let it go.
    Release,
    /// Someone else's, or not a match: leave it alone.
    Ignore,
}

/// Decides what `parent` (selecting with `selector`) does with `child`.
pub fn decide(parent: &Value, selector: &LabelSelector, child: &Value) -> Claim {
    let matches = selector.matches(child.labels());
    match controller_uid(child) {
        Some(uid) if Some(uid.as_str()) == parent.uid() => {
            if matches {
                Claim::Owned
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        // Nothing is adopted by a parent going away, or when the child is going away.
        None if matches && parent.deletion_timestamp().is_none() && child.deletion_timestamp().is_none() => {
            Claim::Adopt
        }
        None => Claim::Ignore,
    }
}

/// Claims `candidates` (children in the parent's namespace) for `parent`:
/// adopts matching orphans and releases non-matching children through the
/// API, and returns the children the parent controls afterwards.
pub async fn claim(
    client: &Client,
    info: &ResourceInfo,
    parent: &Value,
    selector: &LabelSelector,
    candidates: Vec<Arc<Value>>,
) -> anyhow::Result<Vec<Arc<Value>>> {
    claim_with_finalizers(client, info, parent, selector, candidates, &[]).await
}

/// Like [`claim`], adding `finalizers` to the children it adopts (the Job
/// controller's tracking finalizer).
pub async fn claim_with_finalizers(
    client: &Client,
    info: &ResourceInfo,
    parent: &Value,
    selector: &LabelSelector,
    candidates: Vec<Arc<Value>>,
    finalizers: &[&str],
) -> anyhow::Result<Vec<Arc<Value>>> {
    let mut owned = Vec::new();
    for child in candidates {
        match decide(parent, selector, &child) {
            Claim::Owned => owned.push(child),
            Claim::Adopt => {
                if let Some(adopted) = adopt_with_finalizers(client, info, parent, &child, finalizers).await? {
                    owned.push(Arc::new(adopted));
                }
            }
            Claim::Release => release(client, info, parent, &child).await?,
            Claim::Ignore => {}
        }
    }
    Ok(owned)
}

/// Makes `parent` the controller of `child`; `None` when the child is gone.
pub async fn adopt(
    client: &Client,
    info: &ResourceInfo,
    parent: &Value,
    child: &Value,
) -> anyhow::Result<Option<Value>> {
    adopt_with_finalizers(client, info, parent, child, &[]).await
}

/// Makes `parent` the controller of `child` and adds `finalizers` to it.
pub async fn adopt_with_finalizers(
    client: &Client,
    info: &ResourceInfo,
    parent: &Value,
    child: &Value,
    finalizers: &[&str],
) -> anyhow::Result<Option<Value>> {
    let name = child.name().unwrap_or("");
    let mut patch = json!({"metadata": {
        "ownerReferences": [owner_reference(parent)],
        "uid": child.uid(),
    }});
    if !finalizers.is_empty() {
        patch["metadata"]["finalizers"] = json!(finalizers);
    }
    match client
        .patch(info, child.namespace(), name, None, PatchType::StrategicMerge, &patch)
        .await
    {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e).with_context(|| format!("adopting {} {name}", info.kind)),
    }
}

/// Removes `parent`'s owner reference from `child` (gone children are fine).
pub async fn release(client: &Client, info: &ResourceInfo, parent: &Value, child: &Value) -> anyhow::Result<()> {
    let name = child.name().unwrap_or("");
    let patch = json!({"metadata": {
        "ownerReferences": [{"$patch": "delete", "uid": parent.uid()}],
        "uid": child.uid(),
    }});
    match client
        .patch(info, child.namespace(), name, None, PatchType::StrategicMerge, &patch)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() || e.code == 422 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("releasing {} {name}", info.kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(uid: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "d", "uid": uid}})
    }

    fn pod(labels: Value, controller: Option<&str>) -> Value {
        let mut p = json!({"metadata": {"name": "p", "namespace": "d", "uid": "pu", "labels": labels}});
        if let Some(uid) = controller {
            p["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": uid, "controller": true}]);
        }
        p
    }

    #[test]
    fn claims_as_the_controller_ref_manager() {
        let sel = LabelSelector::parse("app=web").unwrap();
        let parent = rs("r1");
        assert_eq!(
            decide(&parent, &sel, &pod(json!({"app": "web"}), Some("r1"))),
            Claim::Owned
        );
        assert_eq!(
            decide(&parent, &sel, &pod(json!({"app": "db"}), Some("r1"))),
            Claim::Release
        );
        assert_eq!(decide(&parent, &sel, &pod(json!({"app": "web"}), None)), Claim::Adopt);
        assert_eq!(
            decide(&parent, &sel, &pod(json!({"app": "web"}), Some("r2"))),
            Claim::Ignore
        );
        assert_eq!(decide(&parent, &sel, &pod(json!({"app": "db"}), None)), Claim::Ignore);
        let mut going = parent.clone();
        going["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(decide(&going, &sel, &pod(json!({"app": "web"}), None)), Claim::Ignore);
    }

    #[test]
    fn owner_reference_is_a_blocking_controller_ref() {
        let r = owner_reference(&rs("r1"));
        assert_eq!(
            r,
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "r1",
                   "controller": true, "blockOwnerDeletion": true})
        );
        let p = pod(json!({}), Some("r1"));
        assert_eq!(controller_uid(&p).as_deref(), Some("r1"));
    }
}
