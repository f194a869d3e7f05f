//! The VolumeBinding plugin's pod-level checks (PreFilter): every claim the
//! pod uses exists and is not being deleted; claims bound to a PV are checked
//! per node (the PV's node affinity); unbound claims of an `Immediate` class
//! stop the pod; unbound `WaitForFirstConsumer` claims wait for a node choice.

use k1s_proto::meta::ObjectMeta;
use serde_json::Value;

use super::filters::BoundVolumes;

/// The PVC annotation that tells provisioners (and the PV controller) which node a pod went to.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// What a pod's claims need before it can be bound.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// The PVs of bound claims (for the per-node filter).
    pub bound: BoundVolumes,
    /// Unbound `WaitForFirstConsumer` claims (names), bound once a node is chosen.
    pub delayed: Vec<String>,
}

/// Looks up what claim checks read (from the scheduler's caches).
pub trait VolumeLookup {
    /// A PVC in the pod's namespace.
    fn claim(&self, namespace: &str, name: &str) -> Option<Value>;
    /// A PV.
    fn volume(&self, name: &str) -> Option<Value>;
    /// A StorageClass.
    fn class(&self, name: &str) -> Option<Value>;
}

/// The claim a pod volume uses, and whether it is a generic ephemeral volume's.
fn claim_name(pod_name: &str, volume: &Value) -> Option<(String, bool)> {
    if let Some(name) = volume["persistentVolumeClaim"]["claimName"].as_str() {
        return Some((name.to_string(), false));
    }
    if volume["ephemeral"].is_object() {
        let vol = volume["name"].as_str().unwrap_or("");
        return Some((format!("{pod_name}-{vol}"), true));
    }
    None
}

/// Whether a claim's class delays binding until a pod uses it.
fn delays_binding(pvc: &Value, lookup: &impl VolumeLookup) -> bool {
    let class = pvc["spec"]["storageClassName"]
        .as_str()
        .or_else(|| pvc["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"].as_str())
        .unwrap_or("");
    !class.is_empty()
        && lookup
            .class(class)
            .is_some_and(|sc| sc["volumeBindingMode"] == "WaitForFirstConsumer")
}

/// Checks a pod's claims; `Err` carries the PreFilter message kube-scheduler gives.
pub fn check_claims(pod: &Value, lookup: &impl VolumeLookup) -> Result<Claims, String> {
    let namespace = pod.namespace().unwrap_or("default");
    let pod_name = pod.name().unwrap_or("");
    let mut claims = Claims::default();
    let mut unbound_immediate = false;
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let Some((name, ephemeral)) = claim_name(pod_name, volume) else {
            continue;
        };
        let Some(pvc) = lookup.claim(namespace, &name) else {
            return Err(if ephemeral {
                format!("waiting for ephemeral volume controller to create the persistentvolumeclaim \"{name}\"")
            } else {
                format!("persistentvolumeclaim \"{name}\" not found")
            });
        };
        if pvc.deletion_timestamp().is_some() {
            return Err(format!("persistentvolumeclaim \"{name}\" is being deleted"));
        }
        if ephemeral && !owned_by(&pvc, pod) {
            return Err(format!(
                "PVC {namespace}/{name} was not created for pod {namespace}/{pod_name} (pod is not owner)"
            ));
        }
        match pvc["spec"]["volumeName"].as_str().filter(|v| !v.is_empty()) {
            Some(pv) => claims.bound.pvs.push(lookup.volume(pv)),
            None if delays_binding(&pvc, lookup) => claims.delayed.push(name),
            None => unbound_immediate = true,
        }
    }
    if unbound_immediate {
        return Err("pod has unbound immediate PersistentVolumeClaims".into());
    }
    Ok(claims)
}

/// Whether `obj` has `owner` as its controller.
fn owned_by(obj: &Value, owner: &Value) -> bool {
    let uid = owner.uid().unwrap_or("");
    obj["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid && r["controller"] == true))
}

/// Whether a claim is bound (`spec.volumeName` set).
pub fn is_bound(pvc: &Value) -> bool {
    pvc["spec"]["volumeName"].as_str().is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        claims: HashMap<String, Value>,
        volumes: HashMap<String, Value>,
        classes: HashMap<String, Value>,
    }

    impl VolumeLookup for Fake {
        fn claim(&self, namespace: &str, name: &str) -> Option<Value> {
            self.claims.get(&format!("{namespace}/{name}")).cloned()
        }
        fn volume(&self, name: &str) -> Option<Value> {
            self.volumes.get(name).cloned()
        }
        fn class(&self, name: &str) -> Option<Value> {
            self.classes.get(name).cloned()
        }
    }

    fn pod(volumes: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "d", "uid": "pod-uid"}, "spec": {"volumes": volumes}})
    }

    fn fake() -> Fake {
        let mut f = Fake::default();
        f.classes.insert(
            "local-path".into(),
            json!({"volumeBindingMode": "WaitForFirstConsumer"}),
        );
        f.classes
            .insert("fast".into(), json!({"volumeBindingMode": "Immediate"}));
        f.claims
            .insert("d/bound".into(), json!({"spec": {"volumeName": "pv1"}}));
        f.claims
            .insert("d/lost".into(), json!({"spec": {"volumeName": "gone"}}));
        f.claims
            .insert("d/wffc".into(), json!({"spec": {"storageClassName": "local-path"}}));
        f.claims
            .insert("d/now".into(), json!({"spec": {"storageClassName": "fast"}}));
        f.claims.insert(
            "d/dying".into(),
            json!({"metadata": {"deletionTimestamp": "t"}, "spec": {}}),
        );
        f.claims.insert(
            "d/p-scratch".into(),
            json!({"metadata": {"ownerReferences": [{"uid": "pod-uid", "controller": true}]},
                   "spec": {"storageClassName": "local-path"}}),
        );
        f.volumes.insert("pv1".into(), json!({"metadata": {"name": "pv1"}}));
        f
    }

    fn claim(name: &str) -> Value {
        json!({"name": name, "persistentVolumeClaim": {"claimName": name}})
    }

    #[test]
    fn claim_checks() {
        let f = fake();
        let ok = check_claims(
            &pod(json!([claim("bound"), claim("wffc"), {"name": "e", "emptyDir": {}}])),
            &f,
        )
        .unwrap();
        assert_eq!(ok.bound.pvs.len(), 1);
        assert!(ok.bound.pvs[0].is_some());
        assert_eq!(ok.delayed, vec!["wffc"]);
        let lost = check_claims(&pod(json!([claim("lost")])), &f).unwrap();
        assert!(lost.bound.pvs[0].is_none());
        let eph = check_claims(&pod(json!([{"name": "scratch", "ephemeral": {}}])), &f).unwrap();
        assert_eq!(eph.delayed, vec!["p-scratch"]);

        let errs = [
            (json!([claim("missing")]), "persistentvolumeclaim \"missing\" not found"),
            (
                json!([claim("dying")]),
                "persistentvolumeclaim \"dying\" is being deleted",
            ),
            (
                json!([claim("bound"), claim("now")]),
                "pod has unbound immediate PersistentVolumeClaims",
            ),
            (
                json!([{"name": "other", "ephemeral": {}}]),
                "waiting for ephemeral volume controller to create the persistentvolumeclaim \"p-other\"",
            ),
        ];
        for (volumes, want) in errs {
            assert_eq!(check_claims(&pod(volumes.clone()), &f).unwrap_err(), want, "{volumes}");
        }
        // A claim with the ephemeral name that the pod does not own.
        let mut f = fake();
        f.claims.insert("d/p-foreign".into(), json!({"spec": {}}));
        assert_eq!(
            check_claims(&pod(json!([{"name": "foreign", "ephemeral": {}}])), &f).unwrap_err(),
            "PVC d/p-foreign was not created for pod d/p (pod is not owner)"
        );
    }
}
