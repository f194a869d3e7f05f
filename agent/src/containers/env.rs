//! A container's environment as the kubelet builds it: `envFrom` sources first,
//! then `env` in order (values `$(VAR)`-expanded, `valueFrom` resolved), then
//! the Service variables not already set.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};

use super::expand::expand;
use super::fieldpath::metadata_field;
use super::resources::{resource_field_value, NodeAllocatable};
use super::service_env::{service_env, services_for_pod};
use super::source::ObjectSource;
use super::ConfigError;

/// Node and pod facts the downward API exposes besides the pod object.
#[derive(Debug, Clone)]
pub struct PodNetwork {
    /// The node's addresses (`status.hostIP(s)`).
    pub host_ips: Vec<IpAddr>,
    /// The pod's addresses (`status.podIP(s)`).
    pub pod_ips: Vec<IpAddr>,
}

/// An ordered environment: setting an existing name keeps its place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvList {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl EnvList {
    /// Sets `name`, replacing its value in place if it is already there.
    pub fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push((name, value));
            }
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }

    /// Whether `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The variables in order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// `NAME=value` strings in order.
    pub fn to_strings(&self) -> Vec<String> {
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// Parses `NAME=value` strings (an image's `Env`).
    pub fn from_strings(list: &[String]) -> EnvList {
        let mut env = EnvList::default();
        for s in list {
            let (k, v) = s.split_once('=').unwrap_or((s.as_str(), ""));
            env.set(k.to_string(), v.to_string());
        }
        env
    }
}

/// Whether an `envFrom` key can be an environment variable name (Kubernetes'
/// relaxed rule: printable ASCII without `=`); other keys are skipped.
pub fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

/// ConfigMaps and Secrets read once per container.
#[derive(Default)]
struct Cache {
    config_maps: HashMap<String, Option<ConfigMap>>,
    secrets: HashMap<String, Option<Secret>>,
}

impl Cache {
    async fn config_map(
        &mut self,
        src: &dyn ObjectSource,
        ns: &str,
        name: &str,
    ) -> Result<Option<ConfigMap>, ConfigError> {
        if let Some(v) = self.config_maps.get(name) {
            return Ok(v.clone());
        }
        let v = src.config_map(ns, name).await.map_err(|e| ConfigError::Config(e.0))?;
        self.config_maps.insert(name.to_string(), v.clone());
        Ok(v)
    }

    async fn secret(&mut self, src: &dyn ObjectSource, ns: &str, name: &str) -> Result<Option<Secret>, ConfigError> {
        if let Some(v) = self.secrets.get(name) {
            return Ok(v.clone());
        }
        let v = src.secret(ns, name).await.map_err(|e| ConfigError::Config(e.0))?;
        self.secrets.insert(name.to_string(), v.clone());
        Ok(v)
    }
}

fn secret_data(s: &Secret) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = s
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    // `stringData` is merged into `data` by the API server; a raw object may still carry it.
    for (k, v) in s.string_data.iter().flatten() {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// The Service variables a pod gets.
pub async fn pod_service_env(src: &dyn ObjectSource, pod: &Pod) -> Result<Vec<(String, String)>, ConfigError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links).unwrap_or(true);
    let own = if links || ns == "default" {
        src.services(ns).await.map_err(|e| ConfigError::Config(e.0))?
    } else {
        Vec::new()
    };
    let defaults = if ns == "default" {
        own.clone()
    } else {
        src.services("default").await.map_err(|e| ConfigError::Config(e.0))?
    };
    Ok(service_env(&services_for_pod(ns, links, &own, &defaults)))
}

/// The value of an env `fieldRef` (metadata fields plus the node/pod facts).
pub fn env_field_value(pod: &Pod, path: &str, net: &PodNetwork) -> Result<String, String> {
    let join = |ips: &[IpAddr]| ips.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(",");
    let spec = pod.spec.as_ref();
    match path {
        "spec.nodeName" => Ok(spec.and_then(|s| s.node_name.clone()).unwrap_or_default()),
        "spec.serviceAccountName" => Ok(spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default()),
        "status.hostIP" => Ok(net.host_ips.first().map(IpAddr::to_string).unwrap_or_default()),
        "status.hostIPs" => Ok(join(&net.host_ips)),
        "status.podIP" => Ok(net.pod_ips.first().map(IpAddr::to_string).unwrap_or_default()),
        "status.podIPs" => Ok(join(&net.pod_ips)),
        _ => metadata_field(pod, path),
    }
}

/// The container's environment (without the image's), in the kubelet's order.
pub async fn container_env(
    src: &dyn ObjectSource,
    pod: &Pod,
    container: &Container,
    node: &NodeAllocatable,
    net: &PodNetwork,
) -> Result<EnvList, ConfigError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let service_vars = pod_service_env(src, pod).await?;
    let services: HashMap<&str, &str> = service_vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut cache = Cache::default();
    let mut env = EnvList::default();

    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        let data = if let Some(r) = &from.config_map_ref {
            let optional = r.optional == Some(true);
            match cache.config_map(src, ns, &r.name).await? {
                Some(cm) => cm.data.unwrap_or_default(),
                None if optional => continue,
                None => return Err(ConfigError::Config(format!("configmap \"{}\" not found", r.name))),
            }
        } else if let Some(r) = &from.secret_ref {
            let optional = r.optional == Some(true);
            match cache.secret(src, ns, &r.name).await? {
                Some(s) => secret_data(&s),
                None if optional => continue,
                None => return Err(ConfigError::Config(format!("secret \"{}\" not found", r.name))),
            }
        } else {
            continue;
        };
        for (k, v) in data {
            let name = format!("{prefix}{k}");
            if valid_env_name(&name) {
                env.set(name, v);
            }
        }
    }

    for var in container.env.iter().flatten() {
        let value = var.value.as_deref().unwrap_or("");
        let resolved = if !value.is_empty() {
            expand(value, |name| {
                env.get(name)
                    .or_else(|| services.get(name).copied())
                    .map(str::to_string)
            })
        } else if let Some(from) = &var.value_from {
            if let Some(f) = &from.field_ref {
                env_field_value(pod, &f.field_path, net).map_err(ConfigError::Config)?
            } else if let Some(r) = &from.resource_field_ref {
                let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
                    Some(name) => find_container(pod, name).unwrap_or(container),
                    None => container,
                };
                resource_field_value(r, target, node).map_err(ConfigError::Config)?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional == Some(true);
                let cm = match cache.config_map(src, ns, &r.name).await? {
                    Some(cm) => cm,
                    None if optional => continue,
                    None => return Err(ConfigError::Config(format!("configmap \"{}\" not found", r.name))),
                };
                match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                    Some(v) => v.clone(),
                    None if optional => continue,
                    None => {
                        return Err(ConfigError::Config(format!(
                            "couldn't find key {} in ConfigMap {ns}/{}",
                            r.key, r.name
                        )))
                    }
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional == Some(true);
                let s = match cache.secret(src, ns, &r.name).await? {
                    Some(s) => s,
                    None if optional => continue,
                    None => return Err(ConfigError::Config(format!("secret \"{}\" not found", r.name))),
                };
                match secret_data(&s).remove(&r.key) {
                    Some(v) => v,
                    None if optional => continue,
                    None => {
                        return Err(ConfigError::Config(format!(
                            "couldn't find key {} in Secret {ns}/{}",
                            r.key, r.name
                        )))
                    }
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        env.set(var.name.clone(), resolved);
    }

    for (k, v) in service_vars {
        if !env.contains(&k) {
            env.set(k, v);
        }
    }
    Ok(env)
}

fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::super::source::fake::FakeSource;
    use super::*;
    use serde_json::json;

    const NODE: NodeAllocatable = NodeAllocatable {
        cpu_milli: 2000,
        memory: 1 << 30,
        ephemeral_storage: 1 << 40,
    };

    fn net() -> PodNetwork {
        PodNetwork {
            host_ips: vec!["192.168.1.10".parse().unwrap()],
            pod_ips: vec!["10.42.0.7".parse().unwrap(), "fd00::7".parse().unwrap()],
        }
    }

    fn make_pod(container: serde_json::Value) -> (Pod, Container) {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "dev", "uid": "uid-1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "default", "containers": [container]},
        }))
        .unwrap();
        let c = pod.spec.as_ref().unwrap().containers[0].clone();
        (pod, c)
    }

    fn source() -> FakeSource {
        let src = FakeSource::default();
        src.add_config_map("dev", "cfg", &[("MODE", "fast"), ("LEVEL", "3"), ("bad=key", "x")]);
        src.add_secret("dev", "creds", &[("PASSWORD", b"s3cret")]);
        src.add_service(json!({"metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443}]}}));
        src.add_service(json!({"metadata": {"name": "db", "namespace": "dev"},
            "spec": {"clusterIP": "10.43.0.9", "ports": [{"port": 5432}]}}));
        src
    }

    fn map(env: &EnvList) -> BTreeMap<String, String> {
        env.vars().iter().cloned().collect()
    }

    #[tokio::test]
    async fn env_from_env_and_services() {
        let src = source();
        let (pod, c) = make_pod(json!({"name": "c", "image": "busybox",
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}}],
        "env": [
            {"name": "A", "value": "x-$(CFG_MODE)-$(DB_SERVICE_HOST)-$(NOPE)-$$(A)"},
            {"name": "CFG_LEVEL", "value": "override"},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
            {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
            {"name": "EMPTY"},
        ]}));
        let env = container_env(&src, &pod, &c, &NODE, &net()).await.unwrap();
        let m = map(&env);
        assert_eq!(m["A"], "x-fast-10.43.0.9-$(NOPE)-$(A)");
        assert_eq!(m["CFG_MODE"], "fast");
        assert_eq!(m["CFG_LEVEL"], "override");
        assert!(!m.contains_key("CFG_bad=key"));
        assert_eq!(m["PASSWORD"], "s3cret");
        assert_eq!(m["MODE"], "fast");
        assert_eq!(m["PW"], "s3cret");
        assert_eq!(m["POD"], "web");
        assert_eq!(m["APP"], "web");
        assert_eq!(m["IPS"], "10.42.0.7,fd00::7");
        assert_eq!(m["HOST"], "192.168.1.10");
        assert_eq!(m["NODE"], "n1");
        assert_eq!(m["CPU"], "2");
        assert_eq!(m["EMPTY"], "");
        assert!(!m.contains_key("OPT"));
        assert_eq!(m["KUBERNETES_SERVICE_HOST"], "10.43.0.1");
        assert_eq!(m["KUBERNETES_PORT_443_TCP"], "tcp://10.43.0.1:443");
        assert_eq!(m["DB_SERVICE_PORT"], "5432");
        // envFrom first, then env in order (a re-set keeps its place), then services.
        let names: Vec<&str> = env.vars().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(&names[..4], ["CFG_LEVEL", "CFG_MODE", "PASSWORD", "A"]);
        assert!(names.iter().position(|n| *n == "EMPTY") < names.iter().position(|n| *n == "DB_SERVICE_HOST"));
    }

    #[tokio::test]
    async fn service_links_off_keeps_kubernetes() {
        let src = source();
        let (mut pod, c) = make_pod(json!({"name": "c", "image": "busybox"}));
        pod.spec.as_mut().unwrap().enable_service_links = Some(false);
        let m = map(&container_env(&src, &pod, &c, &NODE, &net()).await.unwrap());
        assert!(m.contains_key("KUBERNETES_SERVICE_HOST"));
        assert!(!m.contains_key("DB_SERVICE_HOST"));
    }

    #[tokio::test]
    async fn errors_are_kubelets() {
        let src = source();
        let cases = [
            (
                json!({"configMapKeyRef": {"name": "cfg", "key": "NOPE"}}),
                "couldn't find key NOPE in ConfigMap dev/cfg",
            ),
            (
                json!({"configMapKeyRef": {"name": "gone", "key": "k"}}),
                "configmap \"gone\" not found",
            ),
            (
                json!({"secretKeyRef": {"name": "gone", "key": "k"}}),
                "secret \"gone\" not found",
            ),
            (
                json!({"secretKeyRef": {"name": "creds", "key": "k"}}),
                "couldn't find key k in Secret dev/creds",
            ),
            (
                json!({"fieldRef": {"fieldPath": "spec.x"}}),
                "unsupported fieldPath: spec.x",
            ),
        ];
        for (from, want) in cases {
            let (pod, c) = make_pod(json!({"name": "c", "env": [{"name": "X", "valueFrom": from}]}));
            let err = container_env(&src, &pod, &c, &NODE, &net()).await.unwrap_err();
            assert_eq!(err.to_string(), want);
            assert_eq!(err.reason(), "CreateContainerConfigError");
        }
        let (pod, c) = make_pod(json!({"name": "c", "envFrom": [{"configMapRef": {"name": "gone"}}]}));
        let err = container_env(&src, &pod, &c, &NODE, &net()).await.unwrap_err();
        assert_eq!(err.to_string(), "configmap \"gone\" not found");
        let (pod, c) = make_pod(json!({"name": "c", "envFrom": [{"secretRef": {"name": "gone", "optional": true}}]}));
        assert!(container_env(&src, &pod, &c, &NODE, &net()).await.is_ok());
    }
}
