//! What the Endpoints and EndpointSlice controllers share (Kubernetes'
//! `pkg/controller/util/endpoint` and `k8s.io/endpointslice/util`): which
//! pods belong in a Service's endpoints, their address and ports, which
//! Services a pod change touches, the last-change trigger time, and a
//! tracker that notices a cache older than the controller's own writes.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use k1s_proto::meta::{parse_time, ObjectMeta};
use k1s_proto::selector::LabelSelector;
use serde_json::Value;

use super::podutil;
use super::runtime::{cache_key, Cache};

/// The annotation holding when the change behind an Endpoints(Slice) write happened.
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// The label Endpoints and EndpointSlices of headless Services carry.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// `ShouldPodBeInEndpoints`: not finished, has an IP, and (unless terminating
/// pods are included) not being deleted.
pub fn should_pod_be_in_endpoints(pod: &Value, include_terminating: bool) -> bool {
    if matches!(podutil::phase(pod), "Succeeded" | "Failed") {
        return false;
    }
    let has_ip = pod["status"]["podIP"].as_str().is_some_and(|s| !s.is_empty())
        || pod["status"]["podIPs"].as_array().is_some_and(|a| !a.is_empty());
    if !has_ip {
        return false;
    }
    include_terminating || pod.deletion_timestamp().is_none()
}

/// `ShouldSetHostname`: the pod has a hostname and its subdomain is this Service.
pub fn should_set_hostname(pod: &Value, service: &Value) -> bool {
    pod["spec"]["hostname"].as_str().is_some_and(|h| !h.is_empty())
        && pod["spec"]["subdomain"].as_str() == service.name()
        && pod.namespace() == service.namespace()
}

/// Whether a Service has a cluster IP (`IsServiceIPSet`): not headless.
pub fn is_service_ip_set(service: &Value) -> bool {
    service["spec"]["clusterIP"]
        .as_str()
        .is_some_and(|ip| !ip.is_empty() && ip != "None")
}

/// `FindPort`: the pod port a Service port targets; a named `targetPort` is
/// looked up (with the protocol) in the containers and restartable init containers.
pub fn find_port(pod: &Value, service_port: &Value) -> Option<i64> {
    let protocol = service_port["protocol"].as_str().unwrap_or("TCP");
    match &service_port["targetPort"] {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => {
            let spec = &pod["spec"];
            let sidecars = spec["initContainers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["restartPolicy"] == "Always");
            spec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(sidecars)
                .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                .find(|p| p["name"].as_str() == Some(name) && p["protocol"].as_str().unwrap_or("TCP") == protocol)
                .and_then(|p| p["containerPort"].as_i64())
        }
        // Defaulted to `port` by the API; a missing one means the same number.
        _ => service_port["port"].as_i64(),
    }
}

/// Whether the Service's (first) IP family is IPv6.
pub fn service_is_ipv6(service: &Value, pod: &Value) -> bool {
    if let Some(family) = service["spec"]["ipFamilies"].as_array().and_then(|f| f.first()) {
        return family == "IPv6";
    }
    let ip = if is_service_ip_set(service) {
        service["spec"]["clusterIP"].as_str()
    } else {
        pod["status"]["podIP"].as_str()
    };
    ip.is_some_and(|ip| ip.contains(':'))
}

/// The pod's IP of the Service's family (`podToEndpointAddressForService`).
pub fn pod_ip_for_service(service: &Value, pod: &Value) -> Option<String> {
    let ipv6 = service_is_ipv6(service, pod);
    let ips: Vec<&str> = match pod["status"]["podIPs"].as_array() {
        Some(list) if !list.is_empty() => list.iter().filter_map(|p| p["ip"].as_str()).collect(),
        _ => pod["status"]["podIP"].as_str().into_iter().collect(),
    };
    ips.into_iter()
        .find(|ip| ip.contains(':') == ipv6 && !ip.is_empty())
        .map(String::from)
}

/// The pods a Service selects (its `spec.selector` as a set; none for a missing selector).
pub fn selected_pods(service: &Value, pods: &Cache) -> Vec<Arc<Value>> {
    let Some(selector) = service["spec"]["selector"].as_object() else {
        return Vec::new();
    };
    let selector = LabelSelector::from_labels(selector);
    let ns = service.namespace().unwrap_or("");
    pods.list_in(ns)
        .into_iter()
        .filter(|p| selector.matches(p.labels()))
        .collect()
}

/// `GetPodServiceMemberships`: keys of the Services in the pod's namespace
/// whose selector matches it (a Service without selector selects nothing).
pub fn services_of_pod(services: &Cache, pod: &Value) -> BTreeSet<String> {
    let ns = pod.namespace().unwrap_or("");
    services
        .list_in(ns)
        .iter()
        .filter(|svc| {
            svc["spec"]["selector"]
                .as_object()
                .is_some_and(|sel| LabelSelector::from_labels(sel).matches(pod.labels()))
        })
        .filter_map(|svc| svc.name().map(|n| cache_key(Some(ns), n)))
        .collect()
}

fn pod_ips(pod: &Value) -> Vec<&str> {
    pod["status"]["podIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["ip"].as_str())
        .collect()
}

/// `podEndpointsChanged`: (whether what endpoints show of the pod changed,
/// whether its labels or hostname/subdomain changed).
pub fn pod_endpoints_changed(old: &Value, new: &Value) -> (bool, bool) {
    let labels_changed = old.labels() != new.labels()
        || old["spec"]["hostname"] != new["spec"]["hostname"]
        || old["spec"]["subdomain"] != new["spec"]["subdomain"];
    let changed = old.deletion_timestamp() != new.deletion_timestamp()
        || podutil::is_ready(old) != podutil::is_ready(new)
        || pod_ips(old) != pod_ips(new)
        || old["status"]["podIP"] != new["status"]["podIP"];
    (changed, labels_changed)
}

/// `GetServicesToUpdateOnPodChange`: keys of the Services to sync after a pod
/// changed from `old` (absent when added or deleted) to `new`.
pub fn services_to_update(services: &Cache, old: Option<&Value>, new: &Value) -> BTreeSet<String> {
    let Some(old) = old else {
        return services_of_pod(services, new);
    };
    if old.resource_version() == new.resource_version() {
        return BTreeSet::new();
    }
    let (changed, labels_changed) = pod_endpoints_changed(old, new);
    if !changed && !labels_changed {
        return BTreeSet::new();
    }
    let current = services_of_pod(services, new);
    if !labels_changed {
        return current;
    }
    let before = services_of_pod(services, old);
    if changed {
        current.union(&before).cloned().collect()
    } else {
        current.symmetric_difference(&before).cloned().collect()
    }
}

/// What the trigger-time tracker remembers of one Service.
#[derive(Debug, Default, Clone)]
struct ServiceState {
    pods: HashMap<String, jiff::Timestamp>,
    service: Option<jiff::Timestamp>,
}

/// `TriggerTimeTracker`: when the change that makes an Endpoints(Slice)
/// update happened — the earliest pod readiness change (or the Service's
/// creation) not seen at the previous sync.
#[derive(Debug, Default)]
pub struct TriggerTimes {
    services: Mutex<HashMap<String, ServiceState>>,
}

impl TriggerTimes {
    /// The trigger time for syncing `service` with `pods`; `None` when nothing new happened.
    pub fn compute(&self, service: &Value, pods: &[Arc<Value>]) -> Option<jiff::Timestamp> {
        let key = cache_key(service.namespace(), service.name().unwrap_or(""));
        let mut all = self.services.lock().unwrap_or_else(|p| p.into_inner());
        let known = all.get(&key).cloned();
        let state = known.clone().unwrap_or_default();
        let mut min_changed: Option<jiff::Timestamp> = None;
        let mut fresh = HashMap::new();
        for pod in pods {
            let Some(t) = podutil::condition(pod, "Ready")
                .and_then(|c| c["lastTransitionTime"].as_str())
                .and_then(parse_time)
            else {
                continue;
            };
            let name = pod.name().unwrap_or("").to_string();
            if state.pods.get(&name).is_none_or(|last| t > *last) {
                min_changed = Some(min_changed.map_or(t, |m| m.min(t)));
            }
            fresh.insert(name, t);
        }
        let created = service.meta_str("creationTimestamp").and_then(parse_time);
        if let Some(c) = created {
            if state.service.is_none_or(|last| c > last) {
                min_changed = Some(min_changed.map_or(c, |m| m.min(c)));
            }
        }
        all.insert(
            key,
            ServiceState {
                pods: fresh,
                service: created,
            },
        );
        if known.is_none() {
            // A Service seen for the first time: its creation.
            return created;
        }
        min_changed
    }

    /// Forgets a deleted Service.
    pub fn forget(&self, namespace: &str, name: &str) {
        let mut all = self.services.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(&cache_key(Some(namespace), name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, labels: Value, ready: bool) -> Value {
        json!({"metadata": {"name": name, "namespace": "d", "labels": labels, "resourceVersion": "1"},
            "spec": {"containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
            "status": {"phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                    "lastTransitionTime": "2026-01-01T00:00:10Z"}]}})
    }

    #[test]
    fn which_pods_belong_in_endpoints() {
        let p = pod("a", json!({}), true);
        assert!(should_pod_be_in_endpoints(&p, false));
        let mut done = p.clone();
        done["status"]["phase"] = json!("Succeeded");
        assert!(!should_pod_be_in_endpoints(&done, true));
        let mut no_ip = p.clone();
        no_ip["status"] = json!({"phase": "Pending"});
        assert!(!should_pod_be_in_endpoints(&no_ip, true));
        let mut deleting = p.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(!should_pod_be_in_endpoints(&deleting, false));
        assert!(should_pod_be_in_endpoints(&deleting, true));
    }

    #[test]
    fn ports_by_number_and_name() {
        let p = pod("a", json!({}), true);
        let cases = [
            (json!({"port": 80, "targetPort": 9376, "protocol": "TCP"}), Some(9376)),
            (json!({"port": 80, "targetPort": "http", "protocol": "TCP"}), Some(8080)),
            (json!({"port": 53, "targetPort": "dns", "protocol": "UDP"}), Some(53)),
            (json!({"port": 53, "targetPort": "dns", "protocol": "TCP"}), None),
            (json!({"port": 80, "targetPort": "nope", "protocol": "TCP"}), None),
        ];
        for (sp, want) in cases {
            assert_eq!(find_port(&p, &sp), want, "{sp}");
        }
        let mut sidecar = p.clone();
        sidecar["spec"]["initContainers"] = json!([{"name": "s", "restartPolicy": "Always",
            "ports": [{"name": "metrics", "containerPort": 9090}]}]);
        assert_eq!(
            find_port(&sidecar, &json!({"port": 1, "targetPort": "metrics"})),
            Some(9090)
        );
    }

    #[test]
    fn hostnames_and_addresses() {
        let svc = json!({"metadata": {"name": "web", "namespace": "d"}, "spec": {"clusterIP": "None", "ipFamilies": ["IPv4"]}});
        let mut p = pod("web-0", json!({}), true);
        assert!(!should_set_hostname(&p, &svc));
        p["spec"]["hostname"] = json!("web-0");
        p["spec"]["subdomain"] = json!("web");
        assert!(should_set_hostname(&p, &svc));
        assert!(!is_service_ip_set(&svc));
        assert_eq!(pod_ip_for_service(&svc, &p).as_deref(), Some("10.42.0.5"));
        let v6 = json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "fd00::1"}});
        assert!(is_service_ip_set(&v6));
        assert_eq!(pod_ip_for_service(&v6, &p), None);
    }

    #[test]
    fn pod_changes_touch_old_and_new_services() {
        let svc = |name: &str, selector: Value| json!({"metadata": {"name": name, "namespace": "d"}, "spec": {"selector": selector}});
        let cache = Cache::of([
            svc("web", json!({"app": "web"})),
            svc("api", json!({"app": "api"})),
            svc("all", json!({})),
            json!({"metadata": {"name": "manual", "namespace": "d"}, "spec": {}}),
            json!({"metadata": {"name": "elsewhere", "namespace": "e"}, "spec": {"selector": {}}}),
        ]);
        let keys = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
        let old = pod("a", json!({"app": "web"}), false);
        let mut relabelled = old.clone();
        relabelled["metadata"]["labels"] = json!({"app": "api"});
        relabelled["metadata"]["resourceVersion"] = json!("2");
        let mut ready = old.clone();
        ready["status"]["conditions"][0]["status"] = json!("True");
        ready["metadata"]["resourceVersion"] = json!("2");
        let mut annotated = old.clone();
        annotated["metadata"]["annotations"] = json!({"x": "y"});
        annotated["metadata"]["resourceVersion"] = json!("2");

        assert_eq!(pod_endpoints_changed(&old, &relabelled), (false, true));
        assert_eq!(pod_endpoints_changed(&old, &ready), (true, false));
        assert_eq!(pod_endpoints_changed(&old, &annotated), (false, false));

        assert_eq!(services_of_pod(&cache, &old), keys(&["d/all", "d/web"]));
        assert_eq!(services_to_update(&cache, None, &old), keys(&["d/all", "d/web"]));
        assert_eq!(
            services_to_update(&cache, Some(&old), &ready),
            keys(&["d/all", "d/web"])
        );
        assert!(services_to_update(&cache, Some(&old), &annotated).is_empty());
        assert!(services_to_update(&cache, Some(&old), &old).is_empty());
        // Only the membership that changed, unless the pod changed too.
        assert_eq!(
            services_to_update(&cache, Some(&old), &relabelled),
            keys(&["d/api", "d/web"])
        );
        let mut both = relabelled.clone();
        both["status"]["conditions"][0]["status"] = json!("True");
        assert_eq!(
            services_to_update(&cache, Some(&old), &both),
            keys(&["d/all", "d/api", "d/web"])
        );
    }

    #[test]
    fn trigger_times_are_the_earliest_new_change() {
        let t = TriggerTimes::default();
        let svc = json!({"metadata": {"name": "web", "namespace": "d", "creationTimestamp": "2026-01-01T00:00:00Z"}});
        let a = Arc::new(pod("a", json!({}), true));
        // First sight: the Service's creation.
        assert_eq!(
            t.compute(&svc, std::slice::from_ref(&a)).unwrap().to_string(),
            "2026-01-01T00:00:00Z"
        );
        // Nothing new.
        assert_eq!(t.compute(&svc, std::slice::from_ref(&a)), None);
        let mut b = pod("b", json!({}), true);
        b["status"]["conditions"][0]["lastTransitionTime"] = json!("2026-01-01T00:00:30Z");
        let mut a2 = (*a).clone();
        a2["status"]["conditions"][0]["lastTransitionTime"] = json!("2026-01-01T00:00:20Z");
        assert_eq!(
            t.compute(&svc, &[Arc::new(a2), Arc::new(b)]).unwrap().to_string(),
            "2026-01-01T00:00:20Z"
        );
        t.forget("d", "web");
        assert!(t.compute(&svc, &[]).is_some());
    }
}
