//! What a fresh cluster has: the four system namespaces, the system
//! PriorityClasses and the `kubernetes` Service in `default`. Runs on every start; existing objects are kept.

use std::net::Ipv4Addr;

use k1s_proto::resources::find;
use k1s_proto::ApiError;
use serde_json::json;

use crate::client::Client;
use crate::registry::SYSTEM_PRIORITY_CLASSES;

/// The namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates the built-in objects that are missing; the `kubernetes` Service gets
/// `kubernetes_ip` (the first address of the service range).
pub async fn ensure_builtins(client: &Client, https_port: u16, kubernetes_ip: Ipv4Addr) -> Result<(), ApiError> {
    let namespaces = find("", "v1", "namespaces").ok_or_else(ApiError::no_route)?;
    for ns in SYSTEM_NAMESPACES {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        ignore_exists(client.create(namespaces, None, &obj).await)?;
    }
    let priority_classes = find("scheduling.k8s.io", "v1", "priorityclasses").ok_or_else(ApiError::no_route)?;
    for (name, value, description) in SYSTEM_PRIORITY_CLASSES {
        let obj = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
        });
        ignore_exists(client.create(priority_classes, None, &obj).await)?;
    }
    let services = find("", "v1", "services").ok_or_else(ApiError::no_route)?;
    let svc = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": kubernetes_ip.to_string(),
            "clusterIPs": [kubernetes_ip.to_string()],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": https_port}],
            "sessionAffinity": "None",
        },
    });
    // Look first, as Kubernetes' bootstrap controller does: a create of an existing
    // Service that names its clusterIP fails on the allocation (422) before the store
    // could say AlreadyExists.
    match client.get(services, Some("default"), "kubernetes").await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => ignore_exists(client.create(services, Some("default"), &svc).await)?,
        Err(e) => return Err(e),
    }
    Ok(())
}

fn ignore_exists(r: Result<serde_json::Value, ApiError>) -> Result<(), ApiError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_already_exists() => Ok(()),
        Err(e) => Err(e),
    }
}
