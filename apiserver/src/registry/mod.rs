//! One strategy per kind: defaulting, what create and update reset, how
//! validation works, which fields the `status` subresource may touch.
//!
//! The generic REST code (`crate::http::rest`) handles what every kind shares
//! (metadata, uid, timestamps, generation, name and label syntax, status
//! carry-over for kinds with a status subresource); a kind's strategy only
//! says what is particular to it. One file per kind: `registry/<kind>.rs`.

use k1s_proto::{ApiError, FieldError, ResourceInfo};
use serde_json::Value;

pub mod allocator;
pub mod convert;
pub mod strict;
pub mod typed;
pub mod warnings;

mod configmap;
mod controllerrevision;
pub mod cronjob;
pub mod daemonset;
pub mod default_tolerations;
mod deployment;
mod hpa;
pub mod job;
mod misc;
mod names;
mod namespace;
mod networking;
pub mod pdb;
mod pod;
mod pod_defaults;
mod pod_validation;
mod priorityclass;
mod quota;
mod rbac;
mod replicaset;
pub mod sa_admission;
mod service;
mod statefulset;
mod storageclass;
mod util;
mod volume;
mod workload;

pub use allocator::Allocators;
pub use pod::update_pod_condition;
pub use priorityclass::SYSTEM_PRIORITY_CLASSES;
pub use workload::scaled_int_or_percent;

/// What the REST layer asks of a kind.
pub trait Strategy: Send + Sync {
    /// Fills in Kubernetes' defaults (applied to every object written, on
    /// create and update, as Kubernetes defaults on decode).
    fn default(&self, _obj: &mut Value) {}

    /// Resets what a create may not set, beyond the generic rules.
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Carries over what an update of the main resource may not change,
    /// beyond the generic rules, given the stored object.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Kind-specific validation of a new object (metadata is checked by the caller).
    fn validate_create(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Kind-specific validation of an update (immutable fields and the like).
    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        self.validate_create(new)
    }

    /// Warnings for a new object that passed validation (Kubernetes'
    /// `WarningsOnCreate`); they reach the client as `Warning` headers.
    fn warnings_on_create(&self, _obj: &Value) -> Vec<String> {
        Vec::new()
    }

    /// Warnings for an update of the main resource that passed validation
    /// (`WarningsOnUpdate`); `new` has its `generation` already bumped.
    fn warnings_on_update(&self, _new: &Value, _old: &Value) -> Vec<String> {
        Vec::new()
    }

    /// Kind-specific validation of a write to the `status` subresource.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Fields of `metadata` that a write to the `status` subresource carries
    /// besides `status` (Kubernetes' status strategies reset the spec but take
    /// the new object's metadata; k1s keeps the stored metadata except these).
    fn status_metadata(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether `metadata.generation` tracks changes to this kind's spec.
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Claims what the object holds outside itself (Service ClusterIPs and
    /// NodePorts) after validation; `old` is the stored object on update.
    fn allocate(&self, _alloc: &Allocators, _new: &mut Value, _old: Option<&Value>) -> Result<(), ApiError> {
        Ok(())
    }

    /// Releases what `allocate` claimed (after a delete, or a failed write).
    fn release(&self, _alloc: &Allocators, _obj: &Value) {}
}

/// The strategy for a resource (looked up by the storage version's group and kind).
pub fn strategy_for(info: &ResourceInfo) -> &'static dyn Strategy {
    lookup(info).unwrap_or(&Plain)
}

fn lookup(info: &ResourceInfo) -> Option<&'static dyn Strategy> {
    Some(match (info.group, info.kind) {
        ("", "Pod") => &pod::PodStrategy,
        ("", "Service") => &service::ServiceStrategy,
        ("", "Namespace") => &namespace::NamespaceStrategy,
        ("", "ConfigMap") => &configmap::ConfigMapStrategy,
        ("", "Secret") => &configmap::SecretStrategy,
        ("", "PersistentVolume") => &volume::PersistentVolumeStrategy,
        ("", "PersistentVolumeClaim") => &volume::PersistentVolumeClaimStrategy,
        ("", "ResourceQuota") => &quota::ResourceQuotaStrategy,
        ("", "LimitRange") => &quota::LimitRangeStrategy,
        ("storage.k8s.io", "StorageClass") => &storageclass::StorageClassStrategy,
        ("autoscaling", "HorizontalPodAutoscaler") => &hpa::HpaStrategy,
        ("networking.k8s.io", "Ingress") => &networking::IngressStrategy,
        ("networking.k8s.io", "IngressClass") => &networking::IngressClassStrategy,
        ("networking.k8s.io", "NetworkPolicy") => &networking::NetworkPolicyStrategy,
        ("rbac.authorization.k8s.io", "Role") => &rbac::RoleStrategy { cluster: false },
        ("rbac.authorization.k8s.io", "ClusterRole") => &rbac::RoleStrategy { cluster: true },
        ("rbac.authorization.k8s.io", "RoleBinding") => &rbac::BindingStrategy { cluster: false },
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => &rbac::BindingStrategy { cluster: true },
        ("coordination.k8s.io", "Lease") => &misc::LeaseStrategy,
        ("scheduling.k8s.io", "PriorityClass") => &priorityclass::PriorityClassStrategy,
        ("policy", "PodDisruptionBudget") => &misc::PdbStrategy,
        ("", "Endpoints") => &misc::EndpointsStrategy,
        ("discovery.k8s.io", "EndpointSlice") => &misc::EndpointSliceStrategy,
        ("", "Node") => &misc::NodeStrategy,
        ("", "Event") | ("events.k8s.io", "Event") => &misc::EventStrategy,
        ("", "ServiceAccount") => &misc::ServiceAccountStrategy,
        ("apps", "Deployment") => &deployment::DeploymentStrategy,
        ("apps", "ReplicaSet") => &replicaset::ReplicaSetStrategy,
        ("apps", "StatefulSet") => &statefulset::StatefulSetStrategy,
        ("apps", "DaemonSet") => &daemonset::DaemonSetStrategy,
        ("apps", "ControllerRevision") => &controllerrevision::ControllerRevisionStrategy,
        ("batch", "Job") => &job::JobStrategy,
        ("batch", "CronJob") => &cronjob::CronJobStrategy,
        _ => return None,
    })
}

/// Kinds with no rules of their own.
struct Plain;
impl Strategy for Plain {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_resource_has_a_strategy() {
        for info in k1s_proto::resources::RESOURCES {
            assert!(lookup(info).is_some(), "{}/{} {}", info.group, info.version, info.kind);
            assert!(
                lookup(k1s_proto::resources::storage_of(info)).is_some(),
                "{}",
                info.kind
            );
        }
    }
}
