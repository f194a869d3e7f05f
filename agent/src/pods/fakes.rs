//! Fakes of the workers' dependencies for tests: an in-memory runtime on a fake
//! clock, images, config, probes and API.

#![allow(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod, Secret};
use serde_json::Value;

use crate::images::ImageInfo;
use crate::pods::backoff::{Clock, FakeClock};
use crate::pods::deps::{
    BoxFut, Deps, PodApi, PodConfig, PodImages, PodProbes, PodRuntime, ProbeState, SpecError, VolumeHandle,
};
use crate::pods::events::MemoryEvents;
use crate::pods::worker::{NodeFacts, Worker};
use crate::runtime::{ContainerInfo, ContainerKind, ContainerRunState, ContainerSpec, Resources, Sandbox};

#[derive(Default)]
pub struct FakeRuntime {
    pub containers: Mutex<Vec<ContainerInfo>>,
    pub sandboxes: Mutex<HashSet<String>>,
    pub removed_sandboxes: Mutex<Vec<String>>,
    pub stops: Mutex<Vec<(String, Duration)>>,
    pub clock: Mutex<Option<FakeClock>>,
}

impl FakeRuntime {
    pub fn now(&self) -> Timestamp {
        self.clock.lock().unwrap().as_ref().unwrap().now()
    }
    pub fn set_state(&self, id: &str, state: ContainerRunState) {
        for c in self.containers.lock().unwrap().iter_mut() {
            if c.id == id {
                c.state = state.clone();
            }
        }
    }
    pub fn exit(&self, name: &str, code: i32) {
        let id = self.latest(name).id;
        let now = self.now();
        self.set_state(
            &id,
            ContainerRunState::Exited {
                exit_code: code,
                reason: if code == 0 { "Completed" } else { "Error" }.into(),
                message: None,
                started_at: Some(now),
                finished_at: now,
            },
        );
    }
    pub fn latest(&self, name: &str) -> ContainerInfo {
        let v = self.containers.lock().unwrap();
        let mut mine: Vec<_> = v.iter().filter(|c| c.name == name).cloned().collect();
        mine.sort_by_key(|c| c.attempt);
        mine.pop().expect("an instance")
    }
    pub fn count(&self, name: &str) -> usize {
        self.containers
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.name == name)
            .count()
    }
}

impl PodRuntime for FakeRuntime {
    fn ensure_sandbox<'a>(&'a self, pod: &'a Pod) -> BoxFut<'a, anyhow::Result<Sandbox>> {
        Box::pin(async move {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            self.sandboxes.lock().unwrap().insert(uid.clone());
            Ok(Sandbox {
                pod_uid: uid,
                netns: PathBuf::new(),
                ipcns: PathBuf::new(),
                utsns: PathBuf::new(),
                hosts_file: PathBuf::new(),
                resolv_file: PathBuf::new(),
                hostname_file: PathBuf::new(),
                cgroup_parent: String::new(),
                pod_ips: vec!["10.42.0.7".parse().unwrap()],
                host_network: false,
                ..Default::default()
            })
        })
    }
    fn remove_sandbox<'a>(&'a self, pod_uid: &'a str) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.sandboxes.lock().unwrap().remove(pod_uid);
            self.removed_sandboxes.lock().unwrap().push(pod_uid.to_string());
            Ok(())
        })
    }
    fn list_sandboxes(&self) -> BoxFut<'_, anyhow::Result<Vec<String>>> {
        Box::pin(async move { Ok(self.sandboxes.lock().unwrap().iter().cloned().collect()) })
    }
    fn create_container<'a>(
        &'a self,
        _sandbox: &'a Sandbox,
        spec: &'a ContainerSpec,
    ) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.containers.lock().unwrap().push(ContainerInfo {
                id: spec.id.clone(),
                pod_uid: spec.pod_uid.clone(),
                pod_namespace: spec.pod_namespace.clone(),
                pod_name: spec.pod_name.clone(),
                name: spec.name.clone(),
                kind: spec.kind,
                attempt: spec.attempt,
                image_ref: spec.image_ref.clone(),
                image_id: spec.image.id.clone(),
                state: ContainerRunState::Created,
                log_path: spec.log_path.clone(),
            });
            Ok(())
        })
    }
    fn start_container<'a>(&'a self, id: &'a str) -> BoxFut<'a, anyhow::Result<Timestamp>> {
        Box::pin(async move {
            let now = self.now();
            self.set_state(id, ContainerRunState::Running { started_at: now });
            Ok(now)
        })
    }
    fn stop_container<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.stops.lock().unwrap().push((id.to_string(), grace));
            let now = self.now();
            let running = self
                .containers
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.id == id && matches!(c.state, ContainerRunState::Running { .. }));
            if running {
                self.set_state(
                    id,
                    ContainerRunState::Exited {
                        exit_code: 137,
                        reason: "Error".into(),
                        message: None,
                        started_at: Some(now),
                        finished_at: now,
                    },
                );
            }
            Ok(())
        })
    }
    fn remove_container<'a>(&'a self, id: &'a str) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.containers.lock().unwrap().retain(|c| c.id != id);
            Ok(())
        })
    }
    fn list_containers(&self) -> BoxFut<'_, anyhow::Result<Vec<ContainerInfo>>> {
        Box::pin(async move { Ok(self.containers.lock().unwrap().clone()) })
    }
}

#[derive(Default)]
pub struct FakeImages {
    pub present: Mutex<HashSet<String>>,
    pub fail_pull: Mutex<Option<String>>,
    pub pulls: Mutex<usize>,
}

pub fn image_info(name: &str) -> ImageInfo {
    ImageInfo {
        name: format!("docker.io/library/{name}"),
        id: "sha256:cfg".into(),
        repo_digests: vec!["docker.io/library/busybox@sha256:dgst".into()],
        size: 1234,
        ..Default::default()
    }
}

impl PodImages for FakeImages {
    fn present<'a>(&'a self, image: &'a str) -> BoxFut<'a, anyhow::Result<Option<ImageInfo>>> {
        Box::pin(async move { Ok(self.present.lock().unwrap().contains(image).then(|| image_info(image))) })
    }
    fn pull<'a>(&'a self, image: &'a str, _secrets: &'a [Secret]) -> BoxFut<'a, Result<ImageInfo, String>> {
        Box::pin(async move {
            *self.pulls.lock().unwrap() += 1;
            if let Some(e) = self.fail_pull.lock().unwrap().clone() {
                return Err(e);
            }
            self.present.lock().unwrap().insert(image.to_string());
            Ok(image_info(image))
        })
    }
}

#[derive(Default)]
pub struct FakeConfig {
    pub fail: Mutex<Option<String>>,
    pub torn_down: Mutex<Vec<String>>,
}

impl PodConfig for FakeConfig {
    fn setup_volumes<'a>(&'a self, _pod: &'a Pod) -> BoxFut<'a, Result<VolumeHandle, String>> {
        Box::pin(async move { Ok(Arc::new(()) as VolumeHandle) })
    }
    fn teardown_volumes<'a>(&'a self, pod_uid: &'a str) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.torn_down.lock().unwrap().push(pod_uid.to_string());
            Ok(())
        })
    }
    fn build_spec<'a>(
        &'a self,
        pod: &'a Pod,
        container: &'a Container,
        kind: ContainerKind,
        attempt: u32,
        image: &'a ImageInfo,
        _sandbox: &'a Sandbox,
        _volumes: &'a VolumeHandle,
    ) -> BoxFut<'a, Result<ContainerSpec, SpecError>> {
        Box::pin(async move {
            if let Some(e) = self.fail.lock().unwrap().clone() {
                return Err(SpecError::config(e));
            }
            Ok(ContainerSpec {
                id: String::new(),
                pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
                pod_name: pod.metadata.name.clone().unwrap_or_default(),
                pod_namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                name: container.name.clone(),
                kind,
                attempt,
                image_ref: container.image.clone().unwrap_or_default(),
                image: image.clone(),
                args: vec![],
                env: vec![],
                working_dir: "/".into(),
                mounts: vec![],
                user: None,
                supplemental_groups: vec![],
                image_user: None,
                cap_add: vec![],
                cap_drop: vec![],
                privileged: false,
                read_only_rootfs: false,
                no_new_privileges: false,
                seccomp_runtime_default: false,
                resources: Resources::default(),
                tty: false,
                stdin: false,
                share_pid: false,
                log_path: PathBuf::from(format!("/logs/{}/{attempt}.log", container.name)),
                termination_message_file: None,
                termination_message_from_logs: false,
                labels: Default::default(),
            })
        })
    }
}

#[derive(Default)]
pub struct FakeProbes {
    pub states: Mutex<HashMap<String, ProbeState>>,
    pub added: Mutex<Vec<String>>,
    pub hooks: Mutex<Vec<String>>,
}

impl PodProbes for FakeProbes {
    fn add_container(
        &self,
        _pod: &Pod,
        _container: &str,
        container_id: &str,
        _started_at: Timestamp,
        _sandbox: &Sandbox,
    ) {
        self.added.lock().unwrap().push(container_id.to_string());
    }
    fn remove_container(&self, container_id: &str) {
        self.states.lock().unwrap().remove(container_id);
    }
    fn status(&self, container_id: &str) -> Option<ProbeState> {
        self.states.lock().unwrap().get(container_id).cloned()
    }
    fn run_hook<'a>(
        &'a self,
        _sandbox: &'a Sandbox,
        _pod: &'a Pod,
        _container: &'a Container,
        container_id: &'a str,
        _handler: &'a LifecycleHandler,
        _timeout: Duration,
    ) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            self.hooks.lock().unwrap().push(container_id.to_string());
            Ok(())
        })
    }
}

#[derive(Default)]
pub struct FakeApi {
    pub patches: Mutex<Vec<Value>>,
    pub deleted: Mutex<Vec<String>>,
}

impl PodApi for FakeApi {
    fn patch_status<'a>(&'a self, _ns: &'a str, _name: &'a str, patch: &'a Value) -> BoxFut<'a, anyhow::Result<Value>> {
        Box::pin(async move {
            self.patches.lock().unwrap().push(patch.clone());
            Ok(Value::Null)
        })
    }
    fn delete_pod<'a>(&'a self, _ns: &'a str, _name: &'a str, uid: &'a str) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.deleted.lock().unwrap().push(uid.to_string());
            Ok(())
        })
    }
    fn get_secret<'a>(&'a self, _ns: &'a str, _name: &'a str) -> BoxFut<'a, anyhow::Result<Option<Secret>>> {
        Box::pin(async move { Ok(None) })
    }
}

pub struct Env {
    pub clock: FakeClock,
    pub runtime: Arc<FakeRuntime>,
    pub images: Arc<FakeImages>,
    pub config: Arc<FakeConfig>,
    pub probes: Arc<FakeProbes>,
    pub api: Arc<FakeApi>,
    pub events: MemoryEvents,
    pub deps: Deps,
}

impl Env {
    pub fn new() -> Env {
        let clock = FakeClock::new("2026-01-01T00:00:00Z".parse().unwrap());
        let runtime = Arc::new(FakeRuntime::default());
        *runtime.clock.lock().unwrap() = Some(clock.clone());
        let images = Arc::new(FakeImages::default());
        images.present.lock().unwrap().insert("busybox:1.36".into());
        let config = Arc::new(FakeConfig::default());
        let probes = Arc::new(FakeProbes::default());
        let api = Arc::new(FakeApi::default());
        let events = MemoryEvents::default();
        let deps = Deps {
            runtime: runtime.clone(),
            images: images.clone(),
            config: config.clone(),
            probes: probes.clone(),
            api: api.clone(),
            events: Arc::new(events.clone()),
            clock: Arc::new(clock.clone()),
        };
        Env {
            clock,
            runtime,
            images,
            config,
            probes,
            api,
            events,
            deps,
        }
    }

    pub fn worker(&self) -> Worker {
        Worker::new(
            self.deps.clone(),
            NodeFacts {
                name: "node1".into(),
                ips: vec!["192.168.1.10".parse().unwrap()],
            },
            "u1".into(),
            Arc::new(Mutex::new(HashMap::new())),
        )
    }

    pub fn last_status(&self) -> Value {
        self.api.patches.lock().unwrap().last().cloned().unwrap_or(Value::Null)
    }
}
