//! Whole requests as kubectl v1.32 sends them (`apply`, `patch`, `label`, `annotate`,
//! `scale`, `set image`, `edit`), through [`apply_patch`].

use serde_json::{json, Value};

use super::*;
use crate::resources::find;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn deployments() -> &'static ResourceInfo {
    find("apps", "v1", "deployments").expect("deployments are served")
}

fn patch(original: &Value, patch_type: PatchType, body: Value) -> Result<Value, PatchError> {
    apply_patch(original, patch_type, body.to_string().as_bytes(), deployments())
}

/// The manifest a user applies; `mode`, `image` and `ports` vary between applies.
fn manifest(image: &str, mode: &str, ports: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "web", "image": image, "ports": ports, "env": [{"name": "MODE", "value": mode}, {"name": "LOG_LEVEL", "value": "info"}]},
                    {"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "infinity"]}
                ]}
            }
        }
    })
}

/// The annotation kubectl writes: the applied manifest as compact JSON plus a newline.
fn last_applied(manifest: &Value) -> String {
    format!("{manifest}\n")
}

/// The live object after the first apply: server defaults, status, the annotation.
fn live(image: &str, mode: &str, ports: Value, annotation: &str) -> Value {
    let container_defaults = json!({
        "imagePullPolicy": "IfNotPresent", "resources": {},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
    });
    let mut web = json!({"name": "web", "image": image, "ports": ports, "env": [{"name": "MODE", "value": mode}, {"name": "LOG_LEVEL", "value": "info"}]});
    let mut sidecar = json!({"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "infinity"]});
    for container in [&mut web, &mut sidecar] {
        json_patch::merge(container, &container_defaults);
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "default", "uid": "6f1c1d9e-0000-4000-8000-000000000001",
            "resourceVersion": "41", "generation": 1, "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "1", LAST_APPLIED: annotation}
        },
        "spec": {
            "replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "containers": [web, sidecar],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "securityContext": {}, "schedulerName": "default-scheduler"
                }
            }
        },
        "status": {
            "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ]
        }
    })
}

fn two_ports() -> Value {
    json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443, "protocol": "TCP"}])
}

#[test]
fn client_side_apply_changes_env_and_image_and_removes_a_port() {
    let first = manifest(
        "nginx:1.25",
        "blue",
        json!([{"containerPort": 80}, {"containerPort": 443}]),
    );
    let second = manifest("nginx:1.27", "green", json!([{"containerPort": 80}]));
    let current = live("nginx:1.25", "blue", two_ports(), &last_applied(&first));
    // What `kubectl apply` computes from (last-applied, new manifest, live object).
    let body = json!({
        "metadata": {"annotations": {LAST_APPLIED: last_applied(&second)}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "MODE"}, {"name": "LOG_LEVEL"}],
                "$setElementOrder/ports": [{"containerPort": 80}],
                "env": [{"name": "MODE", "value": "green"}],
                "image": "nginx:1.27",
                "name": "web",
                "ports": [{"$patch": "delete", "containerPort": 443}]
            }]
        }}}
    });
    let want = live(
        "nginx:1.27",
        "green",
        json!([{"containerPort": 80, "protocol": "TCP"}]),
        &last_applied(&second),
    );
    assert_eq!(patch(&current, PatchType::StrategicMerge, body).expect("apply"), want);
}

#[test]
fn client_side_apply_switching_to_recreate_drops_rolling_update() {
    let current = live("nginx:1.25", "blue", two_ports(), "{}\n");
    let body = json!({
        "metadata": {"annotations": {LAST_APPLIED: "{\"spec\":{\"strategy\":{\"type\":\"Recreate\"}}}\n"}},
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}
    });
    let got = patch(&current, PatchType::StrategicMerge, body).expect("apply");
    assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(got["spec"]["template"], current["spec"]["template"]);
}

#[test]
fn set_image_and_edit_send_two_way_strategic_patches() {
    let current = live("nginx:1.25", "blue", two_ports(), "{}\n");
    // kubectl set image deployment/web web=nginx:1.27
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{"image": "nginx:1.27", "name": "web"}]
    }}}});
    let got = patch(&current, PatchType::StrategicMerge, body).expect("set image");
    let mut want = current.clone();
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    assert_eq!(got, want);

    // kubectl edit: replicas 2 → 3 and the MODE variable deleted.
    let body = json!({"spec": {"replicas": 3, "template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{"$setElementOrder/env": [{"name": "LOG_LEVEL"}], "env": [{"$patch": "delete", "name": "MODE"}], "name": "web"}]
    }}}});
    let got = patch(&current, PatchType::StrategicMerge, body).expect("edit");
    let mut want = current.clone();
    want["spec"]["replicas"] = json!(3);
    want["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "LOG_LEVEL", "value": "info"}]);
    assert_eq!(got, want);
}

#[test]
fn label_annotate_and_scale_send_merge_patches() {
    let current = live("nginx:1.25", "blue", two_ports(), "{}\n");
    // kubectl label deploy web tier=frontend; kubectl label deploy web app-
    let got = patch(
        &current,
        PatchType::Merge,
        json!({"metadata": {"labels": {"tier": "frontend"}}}),
    )
    .expect("label");
    assert_eq!(got["metadata"]["labels"], json!({"app": "web", "tier": "frontend"}));
    let got = patch(&got, PatchType::Merge, json!({"metadata": {"labels": {"app": null}}})).expect("unlabel");
    assert_eq!(got["metadata"]["labels"], json!({"tier": "frontend"}));
    // kubectl annotate deploy web note=hi --overwrite --resource-version=41
    let got = patch(
        &current,
        PatchType::Merge,
        json!({"metadata": {"annotations": {"note": "hi"}, "resourceVersion": "41"}}),
    )
    .expect("annotate");
    assert_eq!(got["metadata"]["annotations"]["note"], "hi");
    assert_eq!(got["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");

    // kubectl scale deploy web --replicas=5 patches the scale subresource.
    let scale = json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "41"},
        "spec": {"replicas": 2}, "status": {"replicas": 2, "selector": "app=web"}
    });
    let got = patch(&scale, PatchType::Merge, json!({"spec": {"replicas": 5}})).expect("scale");
    assert_eq!(got["spec"], json!({"replicas": 5}));
    assert_eq!(got["status"], scale["status"]);
}

#[test]
fn merge_patch_replaces_lists_and_prunes_nulls_in_them() {
    let current = live("nginx:1.25", "blue", two_ports(), "{}\n");
    let body = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27", "resources": null}]}}}});
    let got = patch(&current, PatchType::Merge, body).expect("merge patch");
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"],
        json!([{"name": "web", "image": "nginx:1.27"}])
    );
}

#[test]
fn kubectl_patch_type_json() {
    let current = live("nginx:1.25", "blue", two_ports(), "{}\n");
    let body = json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "NEW", "value": "1"}},
        {"op": "remove", "path": "/spec/template/spec/containers/1"},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
        {"op": "move", "from": "/metadata/labels/copied", "path": "/metadata/labels/moved"}
    ]);
    let got = patch(&current, PatchType::Json, body).expect("json patch");
    let mut want = current.clone();
    want["spec"]["replicas"] = json!(4);
    let containers = &mut want["spec"]["template"]["spec"]["containers"];
    containers[0]["env"] = json!([{"name": "MODE", "value": "blue"}, {"name": "LOG_LEVEL", "value": "info"}, {"name": "NEW", "value": "1"}]);
    *containers = json!([containers[0].clone()]);
    want["metadata"]["labels"] = json!({"app": "web", "moved": "web"});
    assert_eq!(got, want);

    let failing = json!([{"op": "test", "path": "/spec/replicas", "value": 3}, {"op": "replace", "path": "/spec/replicas", "value": 4}]);
    match patch(&current, PatchType::Json, failing) {
        Err(PatchError::Invalid(message)) => {
            assert_eq!(message, "testing value /spec/replicas failed: test failed")
        }
        other => panic!("expected a failed test, got {other:?}"),
    }
}

#[test]
fn bodies_that_are_not_patches() {
    let current = live("nginx:1.25", "blue", two_ports(), "{}\n");
    let info = deployments();
    for patch_type in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
        match apply_patch(&current, patch_type, b"{not json", info) {
            Err(PatchError::BadRequest(message)) => assert_eq!(message, "invalid JSON patch"),
            other => panic!("{patch_type:?}: {other:?}"),
        }
    }
    assert!(
        matches!(apply_patch(&current, PatchType::Merge, b"[1]", info), Err(PatchError::BadRequest(m)) if m == "Invalid JSON Patch")
    );
    assert!(matches!(
        apply_patch(&current, PatchType::StrategicMerge, b"{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"nginx:1.25\"}]}}}}", info),
        Err(PatchError::BadRequest(m)) if m == "map: map[image:nginx:1.25] does not contain declared merge key: name"
    ));
    assert_eq!(
        apply_patch(&current, PatchType::StrategicMerge, b"null", info).expect("null body"),
        current
    );
    match apply_patch(&current, PatchType::Apply, b"apiVersion: apps/v1", info) {
        Err(PatchError::Unsupported(message)) => {
            assert!(message.starts_with("the body of the request was in an unknown format"))
        }
        other => panic!("apply: {other:?}"),
    }
}

#[test]
fn content_types() {
    let cases = [
        ("application/json-patch+json", Some(PatchType::Json)),
        ("application/merge-patch+json", Some(PatchType::Merge)),
        (
            "application/strategic-merge-patch+json",
            Some(PatchType::StrategicMerge),
        ),
        (
            "application/strategic-merge-patch+json; charset=utf-8",
            Some(PatchType::StrategicMerge),
        ),
        ("application/apply-patch+yaml", Some(PatchType::Apply)),
        ("application/json", None),
        ("", None),
    ];
    for (content_type, want) in cases {
        assert_eq!(PatchType::from_content_type(content_type), want, "{content_type}");
    }
}
