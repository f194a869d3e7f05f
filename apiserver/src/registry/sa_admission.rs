//! The ServiceAccount admission plugin's pod mutation: a new pod whose
//! ServiceAccount token is automounted gets the projected `kube-api-access-xxxxx`
//! volume (token, `ca.crt`, `namespace`) mounted read-only at
//! `/var/run/secrets/kubernetes.io/serviceaccount` in every container that
//! does not mount something there itself.

use serde_json::{json, Value};

use crate::api::Api;

/// Where the token volume is mounted.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The volume name prefix (a random 5-character suffix follows).
pub const VOLUME_PREFIX: &str = "kube-api-access-";
/// The lifetime the volume's token source asks for.
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

/// Whether the token is mounted: the pod's `automountServiceAccountToken`, else the ServiceAccount's, else yes.
fn should_automount(pod: &Value, sa: Option<&Value>) -> bool {
    if let Some(b) = pod["spec"]["automountServiceAccountToken"].as_bool() {
        return b;
    }
    sa.and_then(|sa| sa["automountServiceAccountToken"].as_bool())
        .unwrap_or(true)
}

/// The projected volume the plugin adds.
pub fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 420,
        },
    })
}

/// Adds the token volume and mounts to a pod being created. Mirror pods
/// (static pods) are left alone, as in Kubernetes.
pub fn admit_pod(api: &Api, pod: &mut Value) {
    if pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string() {
        return;
    }
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default").to_string();
    let sa_name = pod["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let sa = k1s_proto::resources::find("", "v1", "serviceaccounts")
        .and_then(|info| api.store.get(&info.storage_key(Some(&namespace), &sa_name)).ok())
        .flatten();
    if !should_automount(pod, sa.as_ref()) {
        return;
    }
    mount_token(pod, &crate::http::rest::generate_name(VOLUME_PREFIX));
}

/// The mutation itself, with the volume name to use when the pod has none yet.
pub fn mount_token(pod: &mut Value, new_name: &str) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .filter_map(|v| v["name"].as_str())
                .find(|n| n.starts_with(VOLUME_PREFIX))
        })
        .map(str::to_string);
    let volume_name = existing.clone().unwrap_or_else(|| new_name.to_string());
    let mount = json!({"name": volume_name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
    let mut needs_volume = false;
    for list in ["initContainers", "containers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let has = c["volumeMounts"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["mountPath"] == TOKEN_MOUNT_PATH));
            if has {
                continue;
            }
            let Some(obj) = c.as_object_mut() else { continue };
            let mounts = obj.entry("volumeMounts").or_insert_with(|| json!([]));
            if let Some(ms) = mounts.as_array_mut() {
                ms.push(mount.clone());
                needs_volume = true;
            }
        }
    }
    if existing.is_none() && needs_volume {
        let vols = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(vs) = vols.as_array_mut() {
            vs.push(token_volume(&volume_name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_volume_and_mounts() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "a", "volumeMounts": [{"name": "x", "mountPath": "/x"}]},
                           {"name": "b", "volumeMounts": [{"name": "own", "mountPath": TOKEN_MOUNT_PATH}]}],
            "volumes": [{"name": "x", "emptyDir": {}}]}});
        mount_token(&mut pod, "kube-api-access-abcde");
        let spec = &pod["spec"];
        assert_eq!(spec["volumes"][1], token_volume("kube-api-access-abcde"));
        assert_eq!(
            spec["initContainers"][0]["volumeMounts"][0]["mountPath"],
            TOKEN_MOUNT_PATH
        );
        assert_eq!(
            spec["containers"][0]["volumeMounts"][1]["name"],
            "kube-api-access-abcde"
        );
        assert_eq!(spec["containers"][0]["volumeMounts"][1]["readOnly"], true);
        assert_eq!(spec["containers"][1]["volumeMounts"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn no_volume_when_every_container_mounts_the_path() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "b", "volumeMounts": [{"name": "own", "mountPath": TOKEN_MOUNT_PATH}]}]}});
        mount_token(&mut pod, "kube-api-access-abcde");
        assert!(pod["spec"].get("volumes").is_none());
    }

    #[test]
    fn automount_settings() {
        let sa_off = json!({"automountServiceAccountToken": false});
        assert!(should_automount(&json!({"spec": {}}), None));
        assert!(!should_automount(&json!({"spec": {}}), Some(&sa_off)));
        assert!(should_automount(
            &json!({"spec": {"automountServiceAccountToken": true}}),
            Some(&sa_off)
        ));
        assert!(!should_automount(
            &json!({"spec": {"automountServiceAccountToken": false}}),
            None
        ));
    }
}
