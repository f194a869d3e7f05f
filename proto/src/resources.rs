//! The resource registry: every kind k1s serves, with its group, version,
//! plural, scope, short names, categories and subresources.
//!
//! This table is the one place that says which REST paths exist; the API
//! server's router, discovery and store keys are all derived from it.

/// One served resource (one group/version/plural).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; empty for the legacy core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Plural resource name used in paths, e.g. `deployments`.
    pub plural: &'static str,
    /// Singular name, e.g. `deployment`.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// Whether the `status` subresource is served.
    pub has_status: bool,
    /// Whether the `scale` subresource is served.
    pub has_scale: bool,
    /// Whether `deletecollection` is served (namespaces do not allow it).
    pub delete_collection: bool,
    /// Group under which objects are stored; several served versions share one.
    pub storage_group: &'static str,
    /// Resource under which objects are stored.
    pub storage_resource: &'static str,
    /// The version objects are stored in (others are converted on the way in and out).
    pub storage_version: &'static str,
}

impl ResourceInfo {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, or `pods` for the core group (as in Kubernetes messages).
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps`, or `Pod` for the core group (as in `is invalid` messages).
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// The list kind, e.g. `DeploymentList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The verbs served on the main resource, in Kubernetes' discovery order.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.delete_collection {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        } else {
            &["create", "delete", "get", "list", "patch", "update", "watch"]
        }
    }

    /// Store key prefix for all objects of this resource, ending in `/`.
    pub fn storage_prefix(&self) -> String {
        let group = if self.storage_group.is_empty() {
            "core"
        } else {
            self.storage_group
        };
        format!("/registry/{}/{}/", group, self.storage_resource)
    }

    /// Store key prefix for objects in one namespace (or all, when cluster-scoped).
    pub fn storage_prefix_in(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{}/", self.storage_prefix(), ns),
            _ => self.storage_prefix(),
        }
    }

    /// Store key of one object.
    pub fn storage_key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{}", self.storage_prefix_in(namespace), name)
    }

    /// Whether this entry is the version objects are stored in.
    pub fn is_storage_version(&self) -> bool {
        self.version == self.storage_version && self.group == self.storage_group
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

macro_rules! resource {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $namespaced:expr,
     short: $short:expr, cat: $cat:expr, status: $status:expr, scale: $scale:expr) => {
        ResourceInfo {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $namespaced,
            short_names: $short,
            categories: $cat,
            has_status: $status,
            has_scale: $scale,
            delete_collection: true,
            storage_group: $group,
            storage_resource: $plural,
            storage_version: $version,
        }
    };
}

/// Every resource k1s serves, in discovery order (groups in Kubernetes' order).
pub static RESOURCES: &[ResourceInfo] = &[
    // core/v1
    ResourceInfo {
        delete_collection: false,
        ..resource!("", "v1", "Namespace", "namespaces", "namespace", false,
            short: &["ns"], cat: NONE, status: true, scale: false)
    },
    resource!("", "v1", "Pod", "pods", "pod", true, short: &["po"], cat: ALL, status: true, scale: false),
    resource!("", "v1", "Service", "services", "service", true, short: &["svc"], cat: ALL, status: true, scale: false),
    resource!("", "v1", "Endpoints", "endpoints", "endpoints", true, short: &["ep"], cat: NONE, status: false, scale: false),
    resource!("", "v1", "ConfigMap", "configmaps", "configmap", true, short: &["cm"], cat: NONE, status: false, scale: false),
    resource!("", "v1", "Secret", "secrets", "secret", true, short: NONE, cat: NONE, status: false, scale: false),
    resource!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, short: &["sa"], cat: NONE, status: false, scale: false),
    resource!("", "v1", "Node", "nodes", "node", false, short: &["no"], cat: NONE, status: true, scale: false),
    resource!("", "v1", "Event", "events", "event", true, short: &["ev"], cat: NONE, status: false, scale: false),
    resource!("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", false, short: &["pv"], cat: NONE, status: true, scale: false),
    resource!("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true, short: &["pvc"], cat: NONE, status: true, scale: false),
    resource!("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", true, short: &["quota"], cat: NONE, status: true, scale: false),
    resource!("", "v1", "LimitRange", "limitranges", "limitrange", true, short: &["limits"], cat: NONE, status: false, scale: false),
    // apps/v1
    resource!("apps", "v1", "Deployment", "deployments", "deployment", true, short: &["deploy"], cat: ALL, status: true, scale: true),
    resource!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", true, short: &["rs"], cat: ALL, status: true, scale: true),
    resource!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", true, short: &["sts"], cat: ALL, status: true, scale: true),
    resource!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", true, short: &["ds"], cat: ALL, status: true, scale: false),
    resource!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", true, short: NONE, cat: NONE, status: false, scale: false),
    // batch/v1
    resource!("batch", "v1", "Job", "jobs", "job", true, short: NONE, cat: ALL, status: true, scale: false),
    resource!("batch", "v1", "CronJob", "cronjobs", "cronjob", true, short: &["cj"], cat: ALL, status: true, scale: false),
    // autoscaling: stored as v2, served as v2 and v1
    resource!("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", true,
        short: &["hpa"], cat: ALL, status: true, scale: false),
    ResourceInfo {
        storage_version: "v2",
        ..resource!("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", true,
            short: &["hpa"], cat: ALL, status: true, scale: false)
    },
    // networking.k8s.io/v1
    resource!("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true, short: &["ing"], cat: NONE, status: true, scale: false),
    resource!("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", false, short: NONE, cat: NONE, status: false, scale: false),
    resource!("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", true, short: &["netpol"], cat: NONE, status: false, scale: false),
    // storage.k8s.io/v1
    resource!("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", false, short: &["sc"], cat: NONE, status: false, scale: false),
    // rbac.authorization.k8s.io/v1
    resource!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, short: NONE, cat: NONE, status: false, scale: false),
    resource!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false, short: NONE, cat: NONE, status: false, scale: false),
    resource!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true, short: NONE, cat: NONE, status: false, scale: false),
    resource!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false, short: NONE, cat: NONE, status: false, scale: false),
    // discovery.k8s.io/v1
    resource!("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", true, short: NONE, cat: NONE, status: false, scale: false),
    // coordination.k8s.io/v1
    resource!("coordination.k8s.io", "v1", "Lease", "leases", "lease", true, short: NONE, cat: NONE, status: false, scale: false),
    // scheduling.k8s.io/v1
    resource!("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", false, short: &["pc"], cat: NONE, status: false, scale: false),
    // events.k8s.io/v1: the same stored events as core/v1, converted
    ResourceInfo {
        storage_group: "",
        ..resource!("events.k8s.io", "v1", "Event", "events", "event", true, short: &["ev"], cat: NONE, status: false, scale: false)
    },
    // policy/v1
    resource!("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true, short: &["pdb"], cat: NONE, status: true, scale: false),
];

/// The group/versions served, in discovery order, with the preferred version first per group.
pub fn group_versions() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version);
                }
            }
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

/// The resources served in one group/version.
pub fn resources_in<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static ResourceInfo> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

/// Finds the resource served at `group/version/plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds the storage-version entry for a group and kind (e.g. for ownerReferences).
pub fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    let (group, version) = split_api_version(api_version);
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
        .or_else(|| {
            RESOURCES
                .iter()
                .find(|r| r.group == group && r.kind == kind && r.is_storage_version())
        })
}

/// The storage-version entry that holds objects of `info`.
pub fn storage_of(info: &ResourceInfo) -> &'static ResourceInfo {
    RESOURCES
        .iter()
        .find(|r| {
            r.group == info.storage_group && r.plural == info.storage_resource && r.version == info.storage_version
        })
        .unwrap_or_else(|| {
            // Every entry's storage fields name an entry of this table (checked by a test).
            RESOURCES
                .iter()
                .find(|r| r.plural == info.plural)
                .expect("resource table is consistent")
        })
}

/// Splits `apps/v1` into `("apps", "v1")` and `v1` into `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storage_target_exists() {
        for r in RESOURCES {
            let s = storage_of(r);
            assert_eq!(s.group, r.storage_group, "{}", r.plural);
            assert_eq!(s.version, r.storage_version, "{}", r.plural);
            assert_eq!(s.plural, r.storage_resource, "{}", r.plural);
        }
    }

    #[test]
    fn keys_and_names() {
        let deploy = find("apps", "v1", "deployments").unwrap();
        assert_eq!(
            deploy.storage_key(Some("default"), "web"),
            "/registry/apps/deployments/default/web"
        );
        assert_eq!(deploy.qualified_resource(), "deployments.apps");
        let ns = find("", "v1", "namespaces").unwrap();
        assert_eq!(
            ns.storage_key(Some("ignored"), "kube-system"),
            "/registry/core/namespaces/kube-system"
        );
        assert!(!ns.verbs().contains(&"deletecollection"));
        let hpa1 = find("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
        assert_eq!(storage_of(hpa1).version, "v2");
        let ev = find("events.k8s.io", "v1", "events").unwrap();
        assert_eq!(ev.storage_prefix(), "/registry/core/events/");
    }

    #[test]
    fn group_versions_keep_order() {
        let gv = group_versions();
        assert_eq!(gv[0], ("", vec!["v1"]));
        assert!(gv.iter().any(|(g, v)| *g == "autoscaling" && v == &vec!["v2", "v1"]));
    }
}
