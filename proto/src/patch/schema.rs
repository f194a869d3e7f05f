//! Strategic-merge-patch metadata of the served kinds: for each Go type, the fields
//! whose `patchStrategy` / `patchMergeKey` struct tags (and `+listType`) change how a
//! patch merges. Written by hand from `k8s.io/api`; each type is described once and
//! reached from every place it appears (PodSpec from Pod, the workload templates and
//! CronJob's job template).
//!
//! Fields not listed behave like JSON merge patch: objects merge key by key and lists
//! are replaced whole, which is what Kubernetes does for fields without a strategy.

use crate::ResourceInfo;

/// How a field's value is patched (its `patchStrategy` tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// No strategy: objects merge key by key, lists are replaced whole (`+listType=atomic`).
    Default,
    /// `patchStrategy:"replace"`: the value is replaced whole, objects included.
    Replace,
    /// `patchStrategy:"merge"` on a list of primitives: merged as a set (e.g. `finalizers`).
    MergeSet,
    /// `patchStrategy:"merge"` with `patchMergeKey`: list items are merged by this key.
    MergeByKey(&'static str),
}

impl Strategy {
    /// Whether lists with this strategy are merged rather than replaced.
    pub fn merges(self) -> bool {
        matches!(self, Strategy::MergeSet | Strategy::MergeByKey(_))
    }

    /// The `patchMergeKey`, empty when there is none.
    pub fn merge_key(self) -> &'static str {
        match self {
            Strategy::MergeByKey(key) => key,
            _ => "",
        }
    }
}

/// One field of a type and how it patches.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The JSON field name.
    pub name: &'static str,
    /// How the value merges.
    pub strategy: Strategy,
    /// The tag also says `retainKeys` (clients send `$retainKeys` for the field).
    pub retain_keys: bool,
    /// The value's type; for lists, the type of each item.
    pub schema: SchemaRef,
}

impl Field {
    /// The metadata of a field the schema does not describe.
    pub const UNKNOWN: Field = Field {
        name: "",
        strategy: Strategy::Default,
        retain_keys: false,
        schema: SchemaRef::ANY,
    };
}

/// A Go struct type: the fields whose patch behaviour is not the default.
#[derive(Debug)]
pub struct TypeSchema {
    /// The Go type name, e.g. `PodSpec`.
    pub name: &'static str,
    /// The fields with patch metadata (or leading to fields that have it).
    pub fields: &'static [Field],
}

/// A handle on a type's patch metadata; [`SchemaRef::ANY`] for an undescribed type.
#[derive(Debug, Clone, Copy)]
pub struct SchemaRef(Option<&'static TypeSchema>);

impl SchemaRef {
    /// A type without metadata: every field behaves as in JSON merge patch.
    pub const ANY: SchemaRef = SchemaRef(None);

    /// The metadata of `schema`.
    pub const fn of(schema: &'static TypeSchema) -> SchemaRef {
        SchemaRef(Some(schema))
    }

    /// The Go type name, or `interface{}` for an undescribed type.
    pub fn name(self) -> &'static str {
        self.0.map_or("interface{}", |s| s.name)
    }

    /// The fields this type describes (none for an undescribed type).
    pub fn fields(self) -> &'static [Field] {
        self.0.map_or(&[], |s| s.fields)
    }

    /// The metadata of field `name` ([`Field::UNKNOWN`] when not described).
    pub fn field(self, name: &str) -> Field {
        self.0
            .and_then(|s| s.fields.iter().find(|f| f.name == name))
            .copied()
            .unwrap_or(Field::UNKNOWN)
    }
}

/// The patch metadata of a served kind ([`SchemaRef::ANY`] for kinds not described here).
pub fn schema_for(kind: &ResourceInfo) -> SchemaRef {
    let schema: &'static TypeSchema = match (kind.group, kind.kind) {
        ("", "Pod") => &POD,
        ("", "Service") => &SERVICE,
        ("", "Node") => &NODE,
        ("", "Namespace") => &NAMESPACE,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "PersistentVolumeClaim") => &PERSISTENT_VOLUME_CLAIM,
        ("", "Endpoints" | "ConfigMap" | "Secret" | "Event" | "PersistentVolume" | "ResourceQuota" | "LimitRange") => {
            &METADATA_ONLY
        }
        ("apps", "Deployment") => &DEPLOYMENT,
        ("apps", "ReplicaSet") => &REPLICA_SET,
        ("apps", "StatefulSet") => &STATEFUL_SET,
        ("apps", "DaemonSet") => &DAEMON_SET,
        ("apps", "ControllerRevision") => &METADATA_ONLY,
        ("batch", "Job") => &JOB,
        ("batch", "CronJob") => &CRON_JOB,
        ("autoscaling", "HorizontalPodAutoscaler") if kind.version == "v1" => &METADATA_ONLY,
        ("autoscaling", "HorizontalPodAutoscaler") => &HORIZONTAL_POD_AUTOSCALER,
        ("policy", "PodDisruptionBudget") => &POD_DISRUPTION_BUDGET,
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => &RBAC_ROLE,
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => &RBAC_BINDING,
        ("networking.k8s.io", "Ingress" | "IngressClass" | "NetworkPolicy")
        | ("storage.k8s.io", "StorageClass")
        | ("discovery.k8s.io", "EndpointSlice")
        | ("coordination.k8s.io", "Lease")
        | ("events.k8s.io", "Event")
        | ("scheduling.k8s.io", "PriorityClass") => &METADATA_ONLY,
        _ => return SchemaRef::ANY,
    };
    SchemaRef::of(schema)
}

// Field constructors, named after the tags they stand for.

/// A nested struct (merged key by key).
const fn nested(name: &'static str, schema: &'static TypeSchema) -> Field {
    Field {
        name,
        strategy: Strategy::Default,
        retain_keys: false,
        schema: SchemaRef::of(schema),
    }
}

/// A struct with `patchStrategy:"retainKeys"` (a union whose other members a patch clears).
const fn retain_keys(name: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::Default,
        retain_keys: true,
        schema: SchemaRef::ANY,
    }
}

/// A field with `patchStrategy:"replace"`.
const fn replace(name: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::Replace,
        retain_keys: false,
        schema: SchemaRef::ANY,
    }
}

/// A list with `+listType=atomic` and no strategy: replaced whole (listed for the record).
const fn atomic(name: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::Default,
        retain_keys: false,
        schema: SchemaRef::ANY,
    }
}

/// A list of primitives with `patchStrategy:"merge"` (a set).
const fn set(name: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::MergeSet,
        retain_keys: false,
        schema: SchemaRef::ANY,
    }
}

/// A list with `patchStrategy:"merge"` and `patchMergeKey:key` whose items are `schema`.
const fn keyed(name: &'static str, key: &'static str, schema: SchemaRef) -> Field {
    Field {
        name,
        strategy: Strategy::MergeByKey(key),
        retain_keys: false,
        schema,
    }
}

/// A list with `patchStrategy:"merge,retainKeys"` and `patchMergeKey:key`.
const fn keyed_retain(name: &'static str, key: &'static str) -> Field {
    Field {
        name,
        strategy: Strategy::MergeByKey(key),
        retain_keys: true,
        schema: SchemaRef::ANY,
    }
}

/// Items of a keyed list that need no further metadata.
const LEAF: SchemaRef = SchemaRef::ANY;

// metav1

/// `metav1.ObjectMeta`.
pub static OBJECT_META: TypeSchema = TypeSchema {
    name: "ObjectMeta",
    fields: &[
        set("finalizers"),
        keyed("ownerReferences", "uid", LEAF),
        atomic("managedFields"),
    ],
};

/// A kind whose only patch metadata is its `metadata`.
static METADATA_ONLY: TypeSchema = TypeSchema {
    name: "Object",
    fields: &[nested("metadata", &OBJECT_META)],
};

/// A status whose `conditions` merge by `type` (most kinds' status).
static CONDITIONS_STATUS: TypeSchema = TypeSchema {
    name: "Status",
    fields: &[keyed("conditions", "type", LEAF)],
};

// core/v1: pods

/// `core/v1.Container` (also `EphemeralContainer`, which inlines the same fields).
pub static CONTAINER: TypeSchema = TypeSchema {
    name: "Container",
    fields: &[
        keyed("ports", "containerPort", LEAF),
        keyed("env", "name", LEAF),
        keyed("volumeMounts", "mountPath", LEAF),
        keyed("volumeDevices", "devicePath", LEAF),
        atomic("envFrom"),
        atomic("resizePolicy"),
        atomic("command"),
        atomic("args"),
    ],
};

/// `core/v1.PodSpec`.
pub static POD_SPEC: TypeSchema = TypeSchema {
    name: "PodSpec",
    fields: &[
        keyed_retain("volumes", "name"),
        keyed("initContainers", "name", SchemaRef::of(&CONTAINER)),
        keyed("containers", "name", SchemaRef::of(&CONTAINER)),
        keyed("ephemeralContainers", "name", SchemaRef::of(&CONTAINER)),
        keyed("imagePullSecrets", "name", LEAF),
        keyed("hostAliases", "ip", LEAF),
        keyed("topologySpreadConstraints", "topologyKey", LEAF),
        keyed("schedulingGates", "name", LEAF),
        keyed_retain("resourceClaims", "name"),
        atomic("tolerations"),
        atomic("readinessGates"),
    ],
};

/// `core/v1.PodStatus`.
static POD_STATUS: TypeSchema = TypeSchema {
    name: "PodStatus",
    fields: &[
        keyed("conditions", "type", LEAF),
        keyed("podIPs", "ip", LEAF),
        keyed("hostIPs", "ip", LEAF),
        keyed_retain("resourceClaimStatuses", "name"),
        atomic("containerStatuses"),
        atomic("initContainerStatuses"),
        atomic("ephemeralContainerStatuses"),
    ],
};

/// `core/v1.PodTemplateSpec`.
pub static POD_TEMPLATE_SPEC: TypeSchema = TypeSchema {
    name: "PodTemplateSpec",
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC)],
};

static POD: TypeSchema = TypeSchema {
    name: "Pod",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &POD_SPEC),
        nested("status", &POD_STATUS),
    ],
};

// core/v1: the rest

static SERVICE_SPEC: TypeSchema = TypeSchema {
    name: "ServiceSpec",
    fields: &[
        keyed("ports", "port", LEAF),
        atomic("clusterIPs"),
        atomic("externalIPs"),
        atomic("ipFamilies"),
    ],
};

static SERVICE: TypeSchema = TypeSchema {
    name: "Service",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &SERVICE_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static NODE_SPEC: TypeSchema = TypeSchema {
    name: "NodeSpec",
    fields: &[set("podCIDRs"), atomic("taints")],
};

static NODE_STATUS: TypeSchema = TypeSchema {
    name: "NodeStatus",
    fields: &[
        keyed("conditions", "type", LEAF),
        keyed("addresses", "type", LEAF),
        atomic("images"),
    ],
};

static NODE: TypeSchema = TypeSchema {
    name: "Node",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &NODE_SPEC),
        nested("status", &NODE_STATUS),
    ],
};

static NAMESPACE_SPEC: TypeSchema = TypeSchema {
    name: "NamespaceSpec",
    fields: &[atomic("finalizers")],
};

static NAMESPACE: TypeSchema = TypeSchema {
    name: "Namespace",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &NAMESPACE_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static SERVICE_ACCOUNT: TypeSchema = TypeSchema {
    name: "ServiceAccount",
    fields: &[
        nested("metadata", &OBJECT_META),
        keyed("secrets", "name", LEAF),
        atomic("imagePullSecrets"),
    ],
};

static PERSISTENT_VOLUME_CLAIM: TypeSchema = TypeSchema {
    name: "PersistentVolumeClaim",
    fields: &[nested("metadata", &OBJECT_META), nested("status", &CONDITIONS_STATUS)],
};

// apps/v1

static DEPLOYMENT_SPEC: TypeSchema = TypeSchema {
    name: "DeploymentSpec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC), retain_keys("strategy")],
};

static DEPLOYMENT: TypeSchema = TypeSchema {
    name: "Deployment",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &DEPLOYMENT_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// The spec of ReplicaSet and DaemonSet, as far as patching goes: a pod template.
static TEMPLATE_SPEC: TypeSchema = TypeSchema {
    name: "Spec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

static REPLICA_SET: TypeSchema = TypeSchema {
    name: "ReplicaSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATE_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static DAEMON_SET: TypeSchema = TypeSchema {
    name: "DaemonSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATE_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static STATEFUL_SET_SPEC: TypeSchema = TypeSchema {
    name: "StatefulSetSpec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC), atomic("volumeClaimTemplates")],
};

static STATEFUL_SET: TypeSchema = TypeSchema {
    name: "StatefulSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &STATEFUL_SET_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

// batch/v1

/// `batch/v1.JobSpec`.
static JOB_SPEC: TypeSchema = TypeSchema {
    name: "JobSpec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

static JOB: TypeSchema = TypeSchema {
    name: "Job",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &JOB_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static JOB_TEMPLATE_SPEC: TypeSchema = TypeSchema {
    name: "JobTemplateSpec",
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &JOB_SPEC)],
};

static CRON_JOB_SPEC: TypeSchema = TypeSchema {
    name: "CronJobSpec",
    fields: &[nested("jobTemplate", &JOB_TEMPLATE_SPEC)],
};

static CRON_JOB_STATUS: TypeSchema = TypeSchema {
    name: "CronJobStatus",
    fields: &[atomic("active")],
};

static CRON_JOB: TypeSchema = TypeSchema {
    name: "CronJob",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &CRON_JOB_SPEC),
        nested("status", &CRON_JOB_STATUS),
    ],
};

// autoscaling/v2, policy/v1, rbac/v1

static HPA_SPEC: TypeSchema = TypeSchema {
    name: "HorizontalPodAutoscalerSpec",
    fields: &[atomic("metrics")],
};

static HORIZONTAL_POD_AUTOSCALER: TypeSchema = TypeSchema {
    name: "HorizontalPodAutoscaler",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &HPA_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static PDB_SPEC: TypeSchema = TypeSchema {
    name: "PodDisruptionBudgetSpec",
    fields: &[replace("selector")],
};

static POD_DISRUPTION_BUDGET: TypeSchema = TypeSchema {
    name: "PodDisruptionBudget",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &PDB_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

static RBAC_ROLE: TypeSchema = TypeSchema {
    name: "Role",
    fields: &[nested("metadata", &OBJECT_META), atomic("rules")],
};

static RBAC_BINDING: TypeSchema = TypeSchema {
    name: "RoleBinding",
    fields: &[nested("metadata", &OBJECT_META), atomic("subjects")],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{find, RESOURCES};

    /// Follows a path of field names from a kind's root.
    fn lookup(kind: &str, path: &[&str]) -> Field {
        let info = RESOURCES.iter().find(|r| r.kind == kind).expect("kind is served");
        let mut schema = schema_for(info);
        let mut field = Field::UNKNOWN;
        for name in path {
            field = schema.field(name);
            schema = field.schema;
        }
        field
    }

    #[test]
    fn pod_spec_is_reached_from_every_template() {
        let paths: &[(&str, &[&str])] = &[
            ("Pod", &["spec", "containers"]),
            ("Deployment", &["spec", "template", "spec", "containers"]),
            ("ReplicaSet", &["spec", "template", "spec", "containers"]),
            ("StatefulSet", &["spec", "template", "spec", "containers"]),
            ("DaemonSet", &["spec", "template", "spec", "containers"]),
            ("Job", &["spec", "template", "spec", "containers"]),
            (
                "CronJob",
                &["spec", "jobTemplate", "spec", "template", "spec", "containers"],
            ),
        ];
        for (kind, path) in paths {
            let field = lookup(kind, path);
            assert_eq!(field.strategy, Strategy::MergeByKey("name"), "{kind} {path:?}");
            assert_eq!(
                field.schema.field("env").strategy,
                Strategy::MergeByKey("name"),
                "{kind}"
            );
        }
    }

    #[test]
    fn tags_match_kubernetes() {
        let cases: &[(&str, &[&str], Strategy, bool)] = &[
            ("Pod", &["metadata", "finalizers"], Strategy::MergeSet, false),
            (
                "Pod",
                &["metadata", "ownerReferences"],
                Strategy::MergeByKey("uid"),
                false,
            ),
            ("Pod", &["spec", "volumes"], Strategy::MergeByKey("name"), true),
            ("Pod", &["spec", "tolerations"], Strategy::Default, false),
            ("Pod", &["spec", "hostAliases"], Strategy::MergeByKey("ip"), false),
            (
                "Pod",
                &["spec", "containers", "ports"],
                Strategy::MergeByKey("containerPort"),
                false,
            ),
            (
                "Pod",
                &["spec", "containers", "volumeMounts"],
                Strategy::MergeByKey("mountPath"),
                false,
            ),
            (
                "Pod",
                &["spec", "containers", "volumeDevices"],
                Strategy::MergeByKey("devicePath"),
                false,
            ),
            ("Pod", &["spec", "containers", "resizePolicy"], Strategy::Default, false),
            ("Pod", &["status", "conditions"], Strategy::MergeByKey("type"), false),
            ("Service", &["spec", "ports"], Strategy::MergeByKey("port"), false),
            ("Node", &["status", "addresses"], Strategy::MergeByKey("type"), false),
            ("Node", &["spec", "podCIDRs"], Strategy::MergeSet, false),
            ("Deployment", &["spec", "strategy"], Strategy::Default, true),
            (
                "Deployment",
                &["status", "conditions"],
                Strategy::MergeByKey("type"),
                false,
            ),
            ("PodDisruptionBudget", &["spec", "selector"], Strategy::Replace, false),
            ("ClusterRole", &["rules"], Strategy::Default, false),
            ("ServiceAccount", &["secrets"], Strategy::MergeByKey("name"), false),
        ];
        for (kind, path, strategy, retain) in cases {
            let field = lookup(kind, path);
            assert_eq!(field.strategy, *strategy, "{kind} {path:?}");
            assert_eq!(field.retain_keys, *retain, "{kind} {path:?}");
        }
    }

    #[test]
    fn every_served_kind_merges_finalizers() {
        for info in RESOURCES {
            let finalizers = schema_for(info).field("metadata").schema.field("finalizers");
            assert_eq!(
                finalizers.strategy,
                Strategy::MergeSet,
                "{}/{}",
                info.api_version(),
                info.kind
            );
        }
        let unknown = ResourceInfo {
            kind: "Widget",
            group: "example.com",
            ..*find("", "v1", "pods").expect("pods")
        };
        assert!(matches!(schema_for(&unknown), SchemaRef(None)));
    }
}
