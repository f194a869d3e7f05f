//! Resource arithmetic of the scheduler (the NodeResourcesFit plugin's
//! bookkeeping): what a pod requests, what a node can allocate, and what the
//! pods already on a node hold.

use std::collections::BTreeMap;

use k1s_proto::quantity::Quantity;
use serde_json::Value;

/// Amounts of the resources the scheduler accounts for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Extended resources and hugepages (`example.com/gpu`, `hugepages-2Mi`).
    pub scalar: BTreeMap<String, i64>,
}

/// `IsScalarResourceName`: extended (domain-prefixed, outside `kubernetes.io/`),
/// hugepages and attachable-volumes resources.
fn is_scalar(name: &str) -> bool {
    let extended = name.contains('/') && !name.starts_with("kubernetes.io/") && !name.contains(".kubernetes.io/");
    extended || name.starts_with("hugepages-") || name.starts_with("attachable-volumes-")
}

fn quantity(v: &Value) -> Option<Quantity> {
    v.as_str().and_then(|s| Quantity::parse(s).ok())
}

impl Resources {
    /// A `ResourceList` (`{"cpu": "500m", "memory": "1Gi", …}`); unknown or malformed entries are skipped.
    pub fn from_list(list: &Value) -> Resources {
        let mut r = Resources::default();
        r.add_list(list);
        r
    }

    fn add_list(&mut self, list: &Value) {
        let Some(map) = list.as_object() else { return };
        for (name, v) in map {
            let Some(q) = quantity(v) else { continue };
            match name.as_str() {
                "cpu" => self.milli_cpu += q.as_milli(),
                "memory" => self.memory += q.value(),
                "ephemeral-storage" => self.ephemeral_storage += q.value(),
                n if is_scalar(n) => *self.scalar.entry(n.to_string()).or_default() += q.value(),
                _ => {}
            }
        }
    }

    /// Adds another amount.
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Raises each amount to at least `other`'s (`SetMaxResource`).
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// Whether nothing is asked for.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0 && self.memory == 0 && self.ephemeral_storage == 0 && self.scalar.values().all(|v| *v == 0)
    }
}

/// A container's `resources.requests`.
fn container_requests(c: &Value) -> Resources {
    Resources::from_list(&c["resources"]["requests"])
}

/// What a pod requests (`resourcehelper.PodRequests`): the sum of its
/// containers and sidecars, or the largest init container step if larger, plus
/// the pod overhead.
pub fn pod_requests(pod: &Value) -> Resources {
    let spec = &pod["spec"];
    let mut total = Resources::default();
    for c in spec["containers"].as_array().into_iter().flatten() {
        total.add(&container_requests(c));
    }
    // Sidecars (restartable init containers) run alongside everything after them;
    // each plain init container runs alone next to the sidecars started before it.
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec["initContainers"].as_array().into_iter().flatten() {
        let own = container_requests(c);
        let step = if c["restartPolicy"] == "Always" {
            total.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut step = own;
            step.add(&sidecars);
            step
        };
        init_peak.max_with(&step);
    }
    total.max_with(&init_peak);
    total.add(&Resources::from_list(&spec["overhead"]));
    total
}

/// What a node offers pods: `status.allocatable`, and how many pods it takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocatable {
    /// Resources pods may request in total.
    pub resources: Resources,
    /// `allocatable.pods`.
    pub pods: i64,
}

/// A node's allocatable resources.
pub fn node_allocatable(node: &Value) -> Allocatable {
    let list = &node["status"]["allocatable"];
    Allocatable {
        resources: Resources::from_list(list),
        pods: quantity(&list["pods"]).map(|q| q.value()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(requests: Value) -> Value {
        json!({"name": "c", "resources": {"requests": requests}})
    }

    #[test]
    fn pod_requests_follow_kubernetes_rules() {
        let cases = [
            // Containers add up.
            (
                json!({"containers": [c(json!({"cpu": "100m", "memory": "64Mi"})), c(json!({"cpu": "0.5"}))]}),
                (600, 64 << 20),
            ),
            // A larger init container wins.
            (
                json!({"containers": [c(json!({"cpu": "100m"}))], "initContainers": [c(json!({"cpu": "1", "memory": "1Gi"}))]}),
                (1000, 1 << 30),
            ),
            // A sidecar adds to the total and to later init steps.
            (
                json!({"containers": [c(json!({"cpu": "100m"}))],
                       "initContainers": [
                           {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m"}}},
                           c(json!({"cpu": "250m"}))]}),
                (450, 0),
            ),
            // Overhead is added on top.
            (
                json!({"containers": [c(json!({"cpu": "100m"}))], "overhead": {"cpu": "50m", "memory": "10Mi"}}),
                (150, 10 << 20),
            ),
            // No requests at all.
            (json!({"containers": [{"name": "c"}]}), (0, 0)),
        ];
        for (spec, (cpu, mem)) in cases {
            let r = pod_requests(&json!({"spec": spec}));
            assert_eq!((r.milli_cpu, r.memory), (cpu, mem), "{spec}");
        }
    }

    #[test]
    fn scalar_resources_and_allocatable() {
        let r = pod_requests(&json!({"spec": {"containers": [c(json!({
            "example.com/gpu": "2", "hugepages-2Mi": "4Mi", "ephemeral-storage": "1Gi"}))]}}));
        assert_eq!(r.scalar.get("example.com/gpu"), Some(&2));
        assert_eq!(r.scalar.get("hugepages-2Mi"), Some(&(4 << 20)));
        assert_eq!(r.ephemeral_storage, 1 << 30);
        assert!(!r.is_zero());
        let node = json!({"status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110",
            "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"}}});
        let a = node_allocatable(&node);
        assert_eq!(a.pods, 110);
        assert_eq!(a.resources.milli_cpu, 4000);
        assert_eq!(a.resources.memory, 8 << 30);
        assert_eq!(a.resources.scalar.get("hugepages-2Mi"), Some(&0));
    }
}
