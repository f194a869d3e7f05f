//! Printers of the core (`v1`) kinds, after Kubernetes' `pkg/printers/internalversion`.
//! Pods live in [`super::pod`]; events in [`super::event`]. LimitRanges and
//! Bindings have no printer in Kubernetes and get the default columns.

use serde_json::Value;

use super::cells::{self, age, name, str_at, str_or};
use super::{event, pod, Column, PrintContext, Printer};
use crate::quantity::Quantity;

/// The printer of a core resource, by plural.
pub fn printer(plural: &str) -> Option<Printer> {
    Some(match plural {
        "pods" => pod::PRINTER,
        "namespaces" => NAMESPACE,
        "nodes" => NODE,
        "services" => SERVICE,
        "endpoints" => ENDPOINTS,
        "configmaps" => CONFIG_MAP,
        "secrets" => SECRET,
        "serviceaccounts" => SERVICE_ACCOUNT,
        "events" => event::PRINTER,
        "persistentvolumes" => PERSISTENT_VOLUME,
        "persistentvolumeclaims" => PERSISTENT_VOLUME_CLAIM,
        "resourcequotas" => RESOURCE_QUOTA,
        "replicationcontrollers" => REPLICATION_CONTROLLER,
        "podtemplates" => POD_TEMPLATE,
        "componentstatuses" => COMPONENT_STATUS,
        _ => return None,
    })
}

const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

// ---- namespaces ----

/// `NAME STATUS AGE`.
pub const NAMESPACE: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Status", "string", "The status of the namespace"),
        Column::age(),
    ],
    row: namespace_row,
};

fn namespace_row(ns: &Value, ctx: &PrintContext) -> Vec<Value> {
    vec![name(ns), Value::from(str_at(&ns["status"]["phase"])), age(ns, ctx)]
}

// ---- nodes ----

const ADDRESSES_DOC: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";

/// `NAME STATUS ROLES AGE VERSION` (+ `INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME`).
pub const NODE: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Status", "string", "The status of the node"),
        Column::new("Roles", "string", "The roles of the node"),
        Column::age(),
        Column::new("Version", "string", "Kubelet Version reported by the node."),
        Column::new("Internal-IP", "string", ADDRESSES_DOC).wide(),
        Column::new("External-IP", "string", ADDRESSES_DOC).wide(),
        Column::new(
            "OS-Image",
            "string",
            "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        )
        .wide(),
        Column::new(
            "Kernel-Version",
            "string",
            "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        )
        .wide(),
        Column::new(
            "Container-Runtime",
            "string",
            "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        )
        .wide(),
    ],
    row: node_row,
};

/// The STATUS of a node: `Ready`/`NotReady`/`Unknown`, plus `SchedulingDisabled`.
pub fn node_status(node: &Value) -> String {
    // The last Ready condition wins, as Kubernetes indexes conditions by type.
    let ready = list(&node["status"]["conditions"])
        .iter()
        .rev()
        .find(|c| c["type"] == "Ready");
    let mut status = match ready {
        Some(c) if c["status"] == "True" => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if node["spec"]["unschedulable"] == true {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// The ROLES of a node: `node-role.kubernetes.io/<role>` and `kubernetes.io/role`
/// labels, sorted; `<none>` when there are none.
pub fn node_roles(node: &Value) -> String {
    let mut roles: Vec<&str> = Vec::new();
    if let Some(labels) = node["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            let role = match k.strip_prefix("node-role.kubernetes.io/") {
                Some(role) => role,
                None if k == "kubernetes.io/role" => str_at(v),
                None => continue,
            };
            if !role.is_empty() && !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    roles.sort_unstable();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn node_address(node: &Value, kind: &str) -> String {
    list(&node["status"]["addresses"])
        .iter()
        .find(|a| a["type"] == kind)
        .map(|a| str_at(&a["address"]).to_string())
        .unwrap_or_else(|| "<none>".into())
}

fn node_row(node: &Value, ctx: &PrintContext) -> Vec<Value> {
    let info = &node["status"]["nodeInfo"];
    vec![
        name(node),
        Value::from(node_status(node)),
        Value::from(node_roles(node)),
        age(node, ctx),
        Value::from(str_at(&info["kubeletVersion"])),
        Value::from(node_address(node, "InternalIP")),
        Value::from(node_address(node, "ExternalIP")),
        Value::from(str_or(&info["osImage"], "<unknown>")),
        Value::from(str_or(&info["kernelVersion"], "<unknown>")),
        Value::from(str_or(&info["containerRuntimeVersion"], "<unknown>")),
    ]
}

// ---- services ----

/// `NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE` (+ `SELECTOR`).
pub const SERVICE: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Type", "string", "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types"),
        Column::new("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"),
        Column::new("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system."),
        Column::new("Port(s)", "string", "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"),
        Column::age(),
        Column::new("Selector", "string", "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/").wide(),
    ],
    row: service_row,
};

fn strings(v: &Value) -> Vec<&str> {
    list(v).iter().map(str_at).collect()
}

/// The load balancer's ingress points: IPs (or host names), sorted and de-duplicated.
fn load_balancer_ingress(status: &Value) -> Vec<String> {
    let mut out: Vec<String> = list(&status["loadBalancer"]["ingress"])
        .iter()
        .map(|i| str_or(&i["ip"], str_at(&i["hostname"])).to_string())
        .filter(|s| !s.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The EXTERNAL-IP of a service (server-side tables are always rendered wide, so
/// load balancer addresses are not shortened).
pub fn service_external_ip(svc: &Value) -> String {
    let external = strings(&svc["spec"]["externalIPs"]);
    match str_at(&svc["spec"]["type"]) {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".into(),
        "LoadBalancer" => {
            let mut all = load_balancer_ingress(&svc["status"]);
            all.extend(external.iter().map(|s| s.to_string()));
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_at(&svc["spec"]["externalName"]).to_string(),
        _ => "<unknown>".into(),
    }
}

/// The PORT(S) of a service: `80/TCP`, `80:30080/TCP`, comma-separated; `<none>`.
pub fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = list(&svc["spec"]["ports"])
        .iter()
        .map(|p| {
            let port = cells::int_at(&p["port"]);
            let protocol = str_at(&p["protocol"]);
            match cells::int_at(&p["nodePort"]) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

fn service_row(svc: &Value, ctx: &PrintContext) -> Vec<Value> {
    vec![
        name(svc),
        Value::from(str_at(&svc["spec"]["type"])),
        Value::from(str_or(&svc["spec"]["clusterIPs"][0], "<none>")),
        Value::from(service_external_ip(svc)),
        Value::from(service_ports(svc)),
        age(svc, ctx),
        Value::from(cells::format_labels(svc["spec"]["selector"].as_object())),
    ]
}

// ---- endpoints ----

/// `NAME ENDPOINTS AGE`.
pub const ENDPOINTS: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Endpoints", "string", "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service."),
        Column::age(),
    ],
    row: endpoints_row,
};

/// `ip` or `ip:port`, bracketing IPv6 addresses (Go's `net.JoinHostPort`).
fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The ENDPOINTS cell: up to three `ip:port` and `+ N more...`; `<none>` without subsets.
pub fn format_endpoints(ep: &Value) -> String {
    const MAX: usize = 3;
    let subsets = list(&ep["subsets"]);
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut shown: Vec<String> = Vec::new();
    let mut count = 0;
    for ss in subsets {
        let addresses = list(&ss["addresses"]);
        let ports = list(&ss["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for a in addresses.iter().take(MAX.saturating_sub(shown.len())) {
                shown.push(str_at(&a["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses.iter().take(MAX.saturating_sub(shown.len())) {
                shown.push(host_port(str_at(&a["ip"]), cells::int_at(&port["port"])));
            }
        }
    }
    let joined = shown.join(",");
    if count > MAX {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

fn endpoints_row(ep: &Value, ctx: &PrintContext) -> Vec<Value> {
    vec![name(ep), Value::from(format_endpoints(ep)), age(ep, ctx)]
}

// ---- configmaps, secrets, serviceaccounts ----

/// `NAME DATA AGE`.
pub const CONFIG_MAP: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Data", "string", "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process."),
        Column::age(),
    ],
    row: config_map_row,
};

fn config_map_row(cm: &Value, ctx: &PrintContext) -> Vec<Value> {
    let data = cells::count(&cm["data"]) + cells::count(&cm["binaryData"]);
    vec![name(cm), Value::from(data), age(cm, ctx)]
}

/// `NAME TYPE DATA AGE`.
pub const SECRET: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Type", "string", "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
        Column::new("Data", "string", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4"),
        Column::age(),
    ],
    row: secret_row,
};

fn secret_row(s: &Value, ctx: &PrintContext) -> Vec<Value> {
    // stringData is folded into data on write, so data holds every key.
    vec![
        name(s),
        Value::from(str_at(&s["type"])),
        Value::from(cells::count(&s["data"])),
        age(s, ctx),
    ]
}

/// `NAME SECRETS AGE`.
pub const SERVICE_ACCOUNT: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret"),
        Column::age(),
    ],
    row: service_account_row,
};

fn service_account_row(sa: &Value, ctx: &PrintContext) -> Vec<Value> {
    vec![name(sa), Value::from(cells::count(&sa["secrets"])), age(sa, ctx)]
}

// ---- persistent volumes and claims ----

/// `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order, each once.
pub fn access_modes(modes: &Value) -> String {
    let modes = strings(modes);
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// A quantity as Kubernetes prints it (canonical form); `0` when absent.
fn quantity(v: &Value) -> String {
    match v {
        Value::Null => "0".into(),
        other => Quantity::from_json(other)
            .map(|q| q.canonical())
            .unwrap_or_else(|_| str_at(other).to_string()),
    }
}

/// The storage class of a PV or PVC: the beta annotation wins over the field.
fn storage_class(obj: &Value) -> &str {
    match obj["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"].as_str() {
        Some(class) => class,
        None => str_at(&obj["spec"]["storageClassName"]),
    }
}

fn phase_or_terminating(obj: &Value) -> &str {
    if obj["metadata"]["deletionTimestamp"].is_string() {
        "Terminating"
    } else {
        str_at(&obj["status"]["phase"])
    }
}

/// `NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS
/// VOLUMEATTRIBUTESCLASS REASON AGE` (+ `VOLUMEMODE`).
pub const PERSISTENT_VOLUME: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity"),
        Column::new("Access Modes", "string", "accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes"),
        Column::new("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming"),
        Column::new("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase"),
        Column::new("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding"),
        Column::new("StorageClass", "string", "StorageClass of the pv"),
        Column::new("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
        Column::new("Reason", "string", "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
        Column::age(),
        Column::new("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.").wide(),
    ],
    row: persistent_volume_row,
};

fn persistent_volume_row(pv: &Value, ctx: &PrintContext) -> Vec<Value> {
    let spec = &pv["spec"];
    let claim = match &spec["claimRef"] {
        Value::Object(c) => format!(
            "{}/{}",
            str_at(c.get("namespace").unwrap_or(&Value::Null)),
            str_at(c.get("name").unwrap_or(&Value::Null))
        ),
        _ => String::new(),
    };
    vec![
        name(pv),
        Value::from(quantity(&spec["capacity"]["storage"])),
        Value::from(access_modes(&spec["accessModes"])),
        Value::from(str_at(&spec["persistentVolumeReclaimPolicy"])),
        Value::from(phase_or_terminating(pv)),
        Value::from(claim),
        Value::from(storage_class(pv)),
        Value::from(spec["volumeAttributesClassName"].as_str().unwrap_or("<unset>")),
        Value::from(str_at(&pv["status"]["reason"])),
        age(pv, ctx),
        Value::from(spec["volumeMode"].as_str().unwrap_or("<unset>")),
    ]
}

/// `NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE` (+ `VOLUMEMODE`).
pub const PERSISTENT_VOLUME_CLAIM: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
        Column::new("Volume", "string", "volumeName is the binding reference to the PersistentVolume backing this claim."),
        Column::new("Capacity", "string", "capacity represents the actual resources of the underlying volume."),
        Column::new("Access Modes", "string", "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1"),
        Column::new("StorageClass", "string", "StorageClass of the pvc"),
        Column::new("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
        Column::age(),
        Column::new("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.").wide(),
    ],
    row: persistent_volume_claim_row,
};

fn persistent_volume_claim_row(pvc: &Value, ctx: &PrintContext) -> Vec<Value> {
    let spec = &pvc["spec"];
    let volume = str_at(&spec["volumeName"]);
    // Capacity and access modes are shown once the claim names its volume.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(&pvc["status"]["capacity"]["storage"]),
            access_modes(&pvc["status"]["accessModes"]),
        )
    };
    vec![
        name(pvc),
        Value::from(phase_or_terminating(pvc)),
        Value::from(volume),
        Value::from(capacity),
        Value::from(modes),
        Value::from(storage_class(pvc)),
        Value::from(spec["volumeAttributesClassName"].as_str().unwrap_or("<unset>")),
        age(pvc, ctx),
        Value::from(spec["volumeMode"].as_str().unwrap_or("<unset>")),
    ]
}

// ---- resource quotas ----

/// `NAME REQUEST LIMIT AGE`.
pub const RESOURCE_QUOTA: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
        Column::new("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
        Column::age(),
    ],
    row: resource_quota_row,
};

/// The REQUEST and LIMIT cells: `resource: used/hard` for every hard limit,
/// sorted by name; `limits.*` resources go to LIMIT.
pub fn quota_usage(rq: &Value) -> (String, String) {
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    if let Some(hard) = rq["status"]["hard"].as_object() {
        let mut names: Vec<&String> = hard.keys().collect();
        names.sort();
        for resource in names {
            let used = quantity(&rq["status"]["used"][resource.as_str()]);
            let entry = format!("{resource}: {used}/{}", quantity(&hard[resource.as_str()]));
            match resource.split_once('.') {
                Some(("limits", _)) => limits.push(entry),
                _ => requests.push(entry),
            }
        }
    }
    (requests.join(", "), limits.join(", "))
}

fn resource_quota_row(rq: &Value, ctx: &PrintContext) -> Vec<Value> {
    let (requests, limits) = quota_usage(rq);
    vec![name(rq), Value::from(requests), Value::from(limits), age(rq, ctx)]
}

// ---- replication controllers, pod templates, component statuses ----

/// `NAME DESIRED CURRENT READY AGE` (+ `CONTAINERS IMAGES SELECTOR`).
pub const REPLICATION_CONTROLLER: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Desired", "integer", "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller"),
        Column::new("Current", "integer", "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller"),
        Column::new("Ready", "integer", "The number of ready replicas for this replication controller."),
        Column::age(),
        Column::new("Containers", "string", CONTAINERS_DOC).wide(),
        Column::new("Images", "string", IMAGES_DOC).wide(),
        Column::new("Selector", "string", "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors").wide(),
    ],
    row: replication_controller_row,
};

fn replication_controller_row(rc: &Value, ctx: &PrintContext) -> Vec<Value> {
    let (containers, images) = cells::layout_containers(&rc["spec"]["template"]["spec"]["containers"]);
    vec![
        name(rc),
        Value::from(cells::int_at(&rc["spec"]["replicas"])),
        Value::from(cells::int_at(&rc["status"]["replicas"])),
        Value::from(cells::int_at(&rc["status"]["readyReplicas"])),
        age(rc, ctx),
        Value::from(containers),
        Value::from(images),
        Value::from(cells::format_labels(rc["spec"]["selector"].as_object())),
    ]
}

/// `NAME CONTAINERS IMAGES POD LABELS`.
pub const POD_TEMPLATE: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Containers", "string", CONTAINERS_DOC),
        Column::new("Images", "string", IMAGES_DOC),
        Column::new("Pod Labels", "string", "The labels for the pod template."),
    ],
    row: pod_template_row,
};

fn pod_template_row(pt: &Value, _ctx: &PrintContext) -> Vec<Value> {
    let (containers, images) = cells::layout_containers(&pt["template"]["spec"]["containers"]);
    vec![
        name(pt),
        Value::from(containers),
        Value::from(images),
        Value::from(cells::format_labels(pt["template"]["metadata"]["labels"].as_object())),
    ]
}

/// `NAME STATUS MESSAGE ERROR`.
pub const COMPONENT_STATUS: Printer = Printer {
    columns: &[
        Column::name(),
        Column::new("Status", "string", "Status of the component conditions"),
        Column::new("Message", "string", "Message of the component conditions"),
        Column::new("Error", "string", "Error of the component conditions"),
    ],
    row: component_status_row,
};

fn component_status_row(cs: &Value, _ctx: &PrintContext) -> Vec<Value> {
    let healthy = list(&cs["conditions"]).iter().find(|c| c["type"] == "Healthy");
    let (status, message, error) = match healthy {
        Some(c) => (
            if c["status"] == "True" { "Healthy" } else { "Unhealthy" },
            str_at(&c["message"]),
            str_at(&c["error"]),
        ),
        None => ("Unknown", "", ""),
    };
    vec![name(cs), Value::from(status), Value::from(message), Value::from(error)]
}

// ---- the scale subresource ----

/// `NAME DESIRED AVAILABLE AGE` of an `autoscaling/v1` Scale (any `…/scale` subresource).
pub const SCALE: Printer = Printer {
    columns: &[
        Column {
            format: "",
            ..Column::name()
        },
        Column::new(
            "Desired",
            "integer",
            "replicas is the desired number of instances for the scaled object.",
        ),
        Column::new(
            "Available",
            "integer",
            "replicas is the actual number of observed instances of the scaled object.",
        ),
        Column::age(),
    ],
    row: scale_row,
};

fn scale_row(scale: &Value, ctx: &PrintContext) -> Vec<Value> {
    vec![
        name(scale),
        Value::from(cells::int_at(&scale["spec"]["replicas"])),
        Value::from(cells::int_at(&scale["status"]["replicas"])),
        age(scale, ctx),
    ]
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
