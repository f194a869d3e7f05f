//! `POST pods/{name}/binding` and `POST namespaces/{ns}/bindings`: a `v1
//! Binding` assigns a pending pod to a node, once (Kubernetes' `BindingREST`).
//! The pod gets `spec.nodeName`, the Binding's annotations and
//! `PodScheduled=True`; the answer is a `Success` Status.

use k1s_proto::meta::{now_rfc3339, ObjectMeta};
use k1s_proto::{ApiError, FieldError};
use serde_json::{json, Value};

use super::update::{guaranteed_update, UpdateMode};
use crate::api::Api;
use crate::http::body::{decode_object, MediaType};
use crate::http::query::Query;
use crate::http::route::ResourcePath;
use crate::registry::update_pod_condition;

/// Decodes a Binding body (JSON, YAML or protobuf).
pub fn decode(bytes: &[u8], media: MediaType) -> Result<Value, ApiError> {
    let obj = decode_object(bytes, media)?;
    let kind = obj["kind"].as_str().unwrap_or("");
    if !kind.is_empty() && kind != "Binding" {
        return Err(ApiError::bad_request(format!("not a Binding object: kind {kind:?}")));
    }
    Ok(obj)
}

/// `ValidatePodBinding`: the target is a Node with a name.
pub fn validate(binding: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let kind = binding["target"]["kind"].as_str().unwrap_or("");
    if !kind.is_empty() && kind != "Node" {
        errs.push(FieldError::not_supported("target.kind", kind, &["Node", "<empty>"]));
    }
    if binding["target"]["name"].as_str().is_none_or(str::is_empty) {
        errs.push(FieldError::required("target.name", ""));
    }
    errs
}

/// A 409 about the binding of `name`, as `errors.NewConflict(pods/binding, …)` words it.
fn conflict(name: &str, why: &str) -> ApiError {
    let mut e = ApiError::new(
        409,
        "Conflict",
        format!("Operation cannot be fulfilled on pods/binding \"{name}\": {why}"),
    );
    e.name = Some(name.to_string());
    e.group = Some(String::new());
    e.kind = Some("pods/binding".into());
    e
}

/// 422 for an invalid Binding (Kubernetes answers these with a bare aggregate error).
fn invalid(name: &str, errors: &[FieldError]) -> ApiError {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let list = if list.len() == 1 {
        list.concat()
    } else {
        format!("[{}]", list.join(", "))
    };
    let mut e = ApiError::new(422, "Invalid", format!("Binding \"{name}\" is invalid: {list}"));
    e.name = Some(name.to_string());
    e.group = Some(String::new());
    e.kind = Some("Binding".into());
    e.causes = errors.iter().map(FieldError::cause).collect();
    e
}

/// What binding does to the stored pod, or why it may not.
pub fn bind_pod(pod: &Value, node: &str, annotations: Option<&Value>, now: &str) -> Result<Value, String> {
    let name = pod.name().unwrap_or_default();
    if pod.deletion_timestamp().is_some() {
        return Err(format!("pod {name} is being deleted, cannot be assigned to a host"));
    }
    if let Some(bound) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Err(format!("pod {name} is already assigned to node {bound:?}"));
    }
    if pod["spec"]["schedulingGates"].as_array().is_some_and(|g| !g.is_empty()) {
        return Err(format!("pod {name} has non-empty .spec.schedulingGates"));
    }
    let mut pod = pod.clone();
    pod["spec"]["nodeName"] = json!(node);
    if let Some(extra) = annotations.and_then(Value::as_object).filter(|a| !a.is_empty()) {
        let meta = &mut pod["metadata"];
        if !meta["annotations"].is_object() {
            meta["annotations"] = json!({});
        }
        for (k, v) in extra {
            meta["annotations"][k] = v.clone();
        }
    }
    update_pod_condition(&mut pod, json!({"type": "PodScheduled", "status": "True"}), now);
    Ok(pod)
}

/// Binds the pod the path (or, for `bindings`, the body) names to the Binding's target node.
pub async fn create(api: &Api, path: &ResourcePath, binding: Value, query: &Query) -> Result<Value, ApiError> {
    let body_name = binding.name().unwrap_or_default().to_string();
    let name = match path.name.as_deref() {
        Some(url_name) if url_name != body_name => {
            return Err(ApiError::bad_request(
                "name in URL does not match name in Binding object",
            ));
        }
        Some(url_name) => url_name.to_string(),
        None if body_name.is_empty() => {
            return Err(invalid(
                "",
                &[FieldError::required(
                    "metadata.name",
                    "name or generateName is required",
                )],
            ));
        }
        None => body_name,
    };
    if let (Some(body_ns), Some(path_ns)) = (binding.namespace(), path.namespace.as_deref()) {
        if !body_ns.is_empty() && body_ns != path_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let errors = validate(&binding);
    if !errors.is_empty() {
        return Err(invalid(&name, &errors));
    }
    let node = binding["target"]["name"].as_str().unwrap_or_default().to_string();
    let want_uid = binding.uid().filter(|u| !u.is_empty()).map(str::to_string);
    let want_rv = binding.resource_version().filter(|r| !r.is_empty()).map(str::to_string);
    let annotations = binding["metadata"]["annotations"].clone();
    let pod_path = ResourcePath {
        info: path.info,
        namespace: path.namespace.clone(),
        name: Some(name.clone()),
        subresource: None,
        legacy_watch: false,
    };
    let now = now_rfc3339();
    guaranteed_update(api, &pod_path, UpdateMode::Internal, query, |current| {
        if let Some(uid) = &want_uid {
            let have = current.uid().unwrap_or_default();
            if have != uid {
                return Err(conflict(
                    &name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
                ));
            }
        }
        let mut pod = bind_pod(current, &node, Some(&annotations), &now).map_err(|why| conflict(&name, &why))?;
        match &want_rv {
            // A resourceVersion in the Binding is a precondition on the pod.
            Some(rv) => pod.set_meta("resourceVersion", json!(rv)),
            None => {
                pod.remove_meta("resourceVersion");
            }
        }
        Ok(pod)
    })
    .await?;
    Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"containers": []},
               "status": {"phase": "Pending", "conditions": [
                   {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available", "lastTransitionTime": "t0"}]}})
    }

    #[test]
    fn binding_sets_node_annotations_and_condition() {
        let bound = bind_pod(&pod(), "n1", Some(&json!({"a": "b"})), "t1").unwrap();
        assert_eq!(bound["spec"]["nodeName"], "n1");
        assert_eq!(bound["metadata"]["annotations"]["a"], "b");
        assert_eq!(
            bound["status"]["conditions"],
            json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": "t1"}])
        );
    }

    #[test]
    fn binding_refuses_bound_deleting_and_gated_pods() {
        let bound = bind_pod(&pod(), "n1", None, "t1").unwrap();
        assert_eq!(
            bind_pod(&bound, "n2", None, "t2").unwrap_err(),
            "pod web is already assigned to node \"n1\""
        );
        let mut deleting = pod();
        deleting["metadata"]["deletionTimestamp"] = json!("t");
        assert_eq!(
            bind_pod(&deleting, "n1", None, "t").unwrap_err(),
            "pod web is being deleted, cannot be assigned to a host"
        );
        let mut gated = pod();
        gated["spec"]["schedulingGates"] = json!([{"name": "g"}]);
        assert_eq!(
            bind_pod(&gated, "n1", None, "t").unwrap_err(),
            "pod web has non-empty .spec.schedulingGates"
        );
    }

    #[test]
    fn validation() {
        assert!(validate(&json!({"target": {"kind": "Node", "name": "n"}})).is_empty());
        assert!(validate(&json!({"target": {"name": "n"}})).is_empty());
        let errs = validate(&json!({"target": {"kind": "Pod"}}));
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[0].to_string(),
            "target.kind: Unsupported value: \"Pod\": supported values: \"Node\", \"<empty>\""
        );
        assert_eq!(errs[1].to_string(), "target.name: Required value");
    }
}
