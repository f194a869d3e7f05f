//! Pod status as the kubelet (v1.33) computes it: container statuses from the
//! container instances containerd has, the phase, the kubelet-owned conditions,
//! IPs, QoS class and start time. Pure functions: the worker gathers the inputs.
//!
//! Follows kubelet's `generateAPIPodStatus` → `convertToAPIContainerStatuses`,
//! `getPhase`, the probe manager's ready/started update, the `status` package's
//! condition generators and the status manager's transition-time handling.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use jiff::Timestamp;
use k1s_proto::quantity::Quantity;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    HostIP, Pod, PodCondition, PodIP, PodSpec, PodStatus, VolumeMountStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Map, Value};

use crate::runtime::{ContainerInfo, ContainerKind, ContainerRunState};

/// Default waiting reason of a container of a pod without init containers.
pub const CONTAINER_CREATING: &str = "ContainerCreating";
/// Default waiting reason of an app container of a pod with init containers.
pub const POD_INITIALIZING: &str = "PodInitializing";

/// The condition types the kubelet owns (regenerated on every status).
const KUBELET_CONDITIONS: [&str; 5] = [
    "PodScheduled",
    "Ready",
    "Initialized",
    "ContainersReady",
    "PodReadyToStartContainers",
];

/// Why a container is waiting, as the worker recorded it on its last attempt
/// (kubelet's reason cache): `CrashLoopBackOff`, `ErrImagePull`, …
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The reason (`ImagePullBackOff`).
    pub reason: String,
    /// The message shown with it.
    pub message: String,
}

/// What the probe workers say about one running container instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeView {
    /// The startup probe succeeded.
    pub started: bool,
    /// The readiness probe's last result is success.
    pub ready: bool,
}

/// How an image shows in a container status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The image's name (`docker.io/library/busybox:1.36`).
    pub name: String,
    /// `imageID`: the first repo digest (`docker.io/library/busybox@sha256:…`), else the image ID.
    pub image_id: String,
}

impl ImageRef {
    /// From an [`ImageInfo`](crate::images::ImageInfo), as containerd's CRI reports it.
    pub fn from_info(info: &crate::images::ImageInfo) -> ImageRef {
        ImageRef {
            name: info.name.clone(),
            image_id: info.repo_digests.first().cloned().unwrap_or_else(|| info.id.clone()),
        }
    }
}

/// Everything the status of one pod is computed from.
pub struct StatusInput<'a> {
    /// The pod (spec, metadata).
    pub pod: &'a Pod,
    /// The status the kubelet last wrote (or the API's), the basis for the new one.
    pub old: &'a PodStatus,
    /// Every container instance containerd has for the pod.
    pub containers: &'a [ContainerInfo],
    /// Waiting reasons recorded by the worker, by container name.
    pub waiting: &'a HashMap<String, Waiting>,
    /// Probe results by container ID (absent: no result yet).
    pub probes: &'a HashMap<String, ProbeView>,
    /// Images by image ID (`sha256:…`).
    pub images: &'a HashMap<String, ImageRef>,
    /// The sandbox exists with its network set up.
    pub sandbox_ready: bool,
    /// The sandbox's IPs.
    pub pod_ips: &'a [IpAddr],
    /// The node's IPs.
    pub host_ips: &'a [IpAddr],
    /// The pod is terminal (it was stopped for good: deleted or finished).
    pub terminal: bool,
    /// The time to stamp new transitions with.
    pub now: Timestamp,
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

/// `name_namespace(uid)` (kubelet's `format.Pod`).
pub fn format_pod(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or(""),
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.uid.as_deref().unwrap_or("")
    )
}

/// Whether an init container is a sidecar (`restartPolicy: Always`).
pub fn is_restartable_init(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The pod's restart policy (`Always` when unset).
pub fn restart_policy(spec: &PodSpec) -> &str {
    spec.restart_policy.as_deref().unwrap_or("Always")
}

/// A container's instances, newest (highest attempt) first.
pub fn instances_of<'a>(containers: &'a [ContainerInfo], name: &str, kind: ContainerKind) -> Vec<&'a ContainerInfo> {
    let mut v: Vec<&ContainerInfo> = containers.iter().filter(|c| c.name == name && c.kind == kind).collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.attempt));
    v
}

/// Kubelet's `ShouldContainerBeRestarted`: whether the next sync would (re)start
/// this container, judged from its newest instance.
pub fn should_restart(container: &Container, pod: &Pod, latest: Option<&ContainerInfo>) -> bool {
    if pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(latest) = latest else {
        return true;
    };
    match &latest.state {
        ContainerRunState::Running { .. } => false,
        ContainerRunState::Created => true,
        ContainerRunState::Exited { exit_code, .. } => {
            if is_restartable_init(container) {
                return true;
            }
            let spec = pod.spec.clone().unwrap_or_default();
            match restart_policy(&spec) {
                "Never" => false,
                "OnFailure" => *exit_code != 0,
                _ => true,
            }
        }
    }
}

fn waiting_state(reason: Option<&str>, message: Option<&str>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: reason.map(String::from),
            message: message.filter(|m| !m.is_empty()).map(String::from),
        }),
        ..Default::default()
    }
}

fn volume_mounts(c: &Container) -> Option<Vec<VolumeMountStatus>> {
    let mounts = c.volume_mounts.as_ref()?;
    if mounts.is_empty() {
        return None;
    }
    Some(
        mounts
            .iter()
            .map(|m| {
                let ro = m.read_only.unwrap_or(false);
                VolumeMountStatus {
                    name: m.name.clone(),
                    mount_path: m.mount_path.clone(),
                    read_only: ro.then_some(true),
                    recursive_read_only: ro.then(|| "Disabled".to_string()),
                }
            })
            .collect(),
    )
}

/// The container ID as the API shows it.
pub fn container_id(id: &str) -> String {
    format!("containerd://{id}")
}

/// One instance → a container status (kubelet's `convertContainerStatus`).
fn convert_instance(info: &ContainerInfo, images: &HashMap<String, ImageRef>) -> ContainerStatus {
    let cid = container_id(&info.id);
    let (image, image_id) = match images.get(&info.image_id) {
        Some(r) => (r.name.clone(), r.image_id.clone()),
        None => (info.image_ref.clone(), info.image_id.clone()),
    };
    let state = match &info.state {
        ContainerRunState::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(time(*started_at)),
            }),
            ..Default::default()
        },
        ContainerRunState::Created => waiting_state(None, None),
        ContainerRunState::Exited {
            exit_code,
            reason,
            message,
            started_at,
            finished_at,
        } => ContainerState {
            terminated: Some(ContainerStateTerminated {
                container_id: Some(cid.clone()),
                exit_code: *exit_code,
                finished_at: Some(time(*finished_at)),
                message: message.clone().filter(|m| !m.is_empty()),
                reason: Some(reason.clone()).filter(|r| !r.is_empty()),
                signal: None,
                started_at: started_at.map(time),
            }),
            ..Default::default()
        },
    };
    ContainerStatus {
        name: info.name.clone(),
        restart_count: i32::try_from(info.attempt).unwrap_or(i32::MAX),
        image,
        image_id,
        container_id: Some(cid),
        state: Some(state),
        last_state: Some(ContainerState::default()),
        ..Default::default()
    }
}

fn is_running(s: &ContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.running.is_some())
}

fn terminated(s: &Option<ContainerState>) -> Option<&ContainerStateTerminated> {
    s.as_ref().and_then(|st| st.terminated.as_ref())
}

fn waiting_reason(s: &ContainerStatus) -> Option<&str> {
    s.state
        .as_ref()
        .and_then(|st| st.waiting.as_ref())
        .map(|w| w.reason.as_deref().unwrap_or(""))
}

/// Any app container has an instance that was created (kubelet's `HasAnyRegularContainerCreated`).
fn any_regular_created(input: &StatusInput) -> bool {
    input.containers.iter().any(|c| c.kind == ContainerKind::App)
}

/// Kubelet's `convertToAPIContainerStatuses` for one list of the spec.
fn convert_statuses(
    input: &StatusInput,
    containers: &[Container],
    previous: &[ContainerStatus],
    kind: ContainerKind,
    has_init: bool,
) -> Vec<ContainerStatus> {
    let is_init = kind == ContainerKind::Init;
    let old: HashMap<&str, &ContainerStatus> = previous.iter().map(|s| (s.name.as_str(), s)).collect();
    let default_reason = if has_init { POD_INITIALIZING } else { CONTAINER_CREATING };

    let mut statuses: Vec<ContainerStatus> = Vec::with_capacity(containers.len());
    for c in containers {
        let mut st = ContainerStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            state: Some(waiting_state(Some(default_reason), None)),
            last_state: Some(ContainerState::default()),
            volume_mounts: volume_mounts(c),
            ..Default::default()
        };
        if let Some(o) = old.get(c.name.as_str()) {
            if terminated(&o.state).is_some() {
                st = (*o).clone();
            } else {
                st.restart_count = o.restart_count;
                st.last_state = o.last_state.clone().or_else(|| Some(ContainerState::default()));
            }
        }
        statuses.push(st);
    }

    // Containers that vanished from the runtime while they were running.
    for (i, c) in containers.iter().enumerate() {
        if !instances_of(input.containers, &c.name, kind).is_empty() {
            continue;
        }
        let Some(o) = old.get(c.name.as_str()) else { continue };
        if terminated(&o.state).is_some() || !is_running(o) {
            continue;
        }
        let st = &mut statuses[i];
        if waiting_reason(st) != Some(default_reason) || terminated(&st.last_state).is_some() {
            continue;
        }
        st.last_state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 137,
                reason: Some("ContainerStatusUnknown".into()),
                message: Some(
                    "The container could not be located when the pod was deleted.  The container used to be Running"
                        .into(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        });
        if input.pod.metadata.deletion_timestamp.is_none() {
            st.restart_count += 1;
        }
    }

    // The newest instance gives the state, the one before it the last state.
    for (i, c) in containers.iter().enumerate() {
        let inst = instances_of(input.containers, &c.name, kind);
        let Some(latest) = inst.first() else { continue };
        let mut st = convert_instance(latest, input.images);
        st.volume_mounts = volume_mounts(c);
        if is_running(&st) {
            if let Some(o) = old.get(c.name.as_str()) {
                st.started = o.started;
            }
        }
        // In-place resize is on by default in 1.33: statuses carry the resources.
        let res = c.resources.clone().unwrap_or_default();
        st.allocated_resources = res.requests.clone().filter(|r| !r.is_empty());
        st.resources = Some(res);
        if let Some(prev) = inst.get(1) {
            st.last_state = convert_instance(prev, input.images).state;
        }
        statuses[i] = st;
    }

    // Containers the next sync would (re)start show why they are waiting.
    for (i, c) in containers.iter().enumerate() {
        let inst = instances_of(input.containers, &c.name, kind);
        let latest = inst.first().copied();
        if is_init {
            if let Some(l) = latest {
                if matches!(l.state, ContainerRunState::Exited { exit_code: 0, .. }) {
                    continue;
                }
            }
            if latest.is_none()
                && any_regular_created(input)
                && !is_restartable_init(c)
                && waiting_reason(&statuses[i]).is_some()
            {
                statuses[i].state = Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: 0,
                        reason: Some("Completed".into()),
                        message: Some(
                            "Unable to get init container status from container runtime and pod has been initialized, treat it as exited normally".into(),
                        ),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                continue;
            }
        }
        if !should_restart(c, input.pod, latest) {
            continue;
        }
        let Some(w) = input.waiting.get(&c.name) else { continue };
        let st = &mut statuses[i];
        if terminated(&st.state).is_some() {
            st.last_state = st.state.clone();
        }
        st.state = Some(waiting_state(Some(&w.reason), Some(&w.message)));
    }

    // Ready and started, as the probe manager sets them.
    for (i, c) in containers.iter().enumerate() {
        let st = &mut statuses[i];
        let running = is_running(st);
        let probe = st
            .container_id
            .as_deref()
            .and_then(|id| id.strip_prefix("containerd://"))
            .and_then(|id| input.probes.get(id))
            .copied();
        if is_init && !is_restartable_init(c) {
            st.started = Some(running);
            st.ready = terminated(&st.state).is_some_and(|t| t.exit_code == 0);
            continue;
        }
        let started = running && (c.startup_probe.is_none() || probe.is_some_and(|p| p.started));
        st.started = Some(started);
        st.ready = started && (c.readiness_probe.is_none() || probe.is_some_and(|p| p.ready));
    }

    if !is_init {
        statuses.sort_by(|a, b| a.name.cmp(&b.name));
    }
    statuses
}

/// Kubelet's `getPhase` (v1.33: restart rules per container are not there yet).
pub fn phase(pod: &Pod, statuses: &[&ContainerStatus], terminal: bool, has_initialized: bool) -> &'static str {
    let spec = pod.spec.clone().unwrap_or_default();
    let find = |name: &str| statuses.iter().find(|s| s.name == name).copied();
    let policy = restart_policy(&spec);
    let mut pending_restartable_init = 0;
    let mut pending_regular_init = 0;
    let mut failed_init = 0;
    let inits = spec.init_containers.clone().unwrap_or_default();
    for c in inits.iter().filter(|c| !is_restartable_init(c)) {
        let Some(s) = find(&c.name) else {
            pending_regular_init += 1;
            continue;
        };
        let st = s.state.clone().unwrap_or_default();
        if st.running.is_some() {
            pending_regular_init += 1;
        } else if let Some(t) = &st.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if st.waiting.is_some() {
            match terminated(&s.last_state) {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_regular_init += 1,
            }
        } else {
            pending_regular_init += 1;
        }
    }
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in inits.iter().filter(|c| is_restartable_init(c)) {
        let Some(s) = find(&c.name) else {
            unknown += 1;
            continue;
        };
        let st = s.state.clone().unwrap_or_default();
        if st.running.is_some() {
            if s.started != Some(true) {
                pending_restartable_init += 1;
            }
            running += 1;
        } else if st.terminated.is_some() {
        } else if st.waiting.is_some() {
            if terminated(&s.last_state).is_none() {
                pending_restartable_init += 1;
                waiting += 1;
            }
        } else {
            pending_restartable_init += 1;
            unknown += 1;
        }
    }
    for c in &spec.containers {
        let Some(s) = find(&c.name) else {
            unknown += 1;
            continue;
        };
        let st = s.state.clone().unwrap_or_default();
        if st.running.is_some() {
            running += 1;
        } else if let Some(t) = &st.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if st.waiting.is_some() {
            if terminated(&s.last_state).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if pending_regular_init > 0 || (pending_restartable_init > 0 && !has_initialized) || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded { "Succeeded" } else { "Failed" };
        }
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn condition(type_: &str, status: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.map(String::from),
        message,
        ..Default::default()
    }
}

fn go_list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

/// `ContainersReady` (kubelet's `GenerateContainersReadyCondition`).
pub fn containers_ready_condition(pod: &Pod, statuses: &[&ContainerStatus], phase: &str) -> PodCondition {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut unknown = Vec::new();
    let mut unready = Vec::new();
    let sidecars = spec.init_containers.iter().flatten().filter(|c| is_restartable_init(c));
    for c in sidecars.chain(spec.containers.iter()) {
        match statuses.iter().find(|s| s.name == c.name) {
            Some(s) if !s.ready => unready.push(c.name.clone()),
            Some(_) => {}
            None => unknown.push(c.name.clone()),
        }
    }
    if (phase == "Succeeded" && unknown.is_empty()) || phase == "Failed" {
        let reason = if phase == "Failed" { "PodFailed" } else { "PodCompleted" };
        return condition("ContainersReady", false, Some(reason), None);
    }
    let mut messages = Vec::new();
    if !unknown.is_empty() {
        messages.push(format!("containers with unknown status: {}", go_list(&unknown)));
    }
    if !unready.is_empty() {
        messages.push(format!("containers with unready status: {}", go_list(&unready)));
    }
    if messages.is_empty() {
        condition("ContainersReady", true, None, None)
    } else {
        condition(
            "ContainersReady",
            false,
            Some("ContainersNotReady"),
            Some(messages.join(", ")),
        )
    }
}

/// `Ready` (kubelet's `GeneratePodReadyCondition`, with readiness gates).
pub fn pod_ready_condition(
    pod: &Pod,
    conditions: &[PodCondition],
    statuses: &[&ContainerStatus],
    phase: &str,
) -> PodCondition {
    let cr = containers_ready_condition(pod, statuses, phase);
    if cr.status != "True" {
        return PodCondition {
            type_: "Ready".into(),
            ..cr
        };
    }
    let mut messages = Vec::new();
    let gates = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.clone())
        .unwrap_or_default();
    for g in gates {
        match conditions.iter().find(|c| c.type_ == g.condition_type) {
            None => messages.push(format!(
                "corresponding condition of pod readiness gate \"{}\" does not exist.",
                g.condition_type
            )),
            Some(c) if c.status != "True" => messages.push(format!(
                "the status of pod readiness gate \"{}\" is not \"True\", but {}",
                g.condition_type, c.status
            )),
            Some(_) => {}
        }
    }
    if messages.is_empty() {
        condition("Ready", true, None, None)
    } else {
        condition(
            "Ready",
            false,
            Some("ReadinessGatesNotReady"),
            Some(messages.join(", ")),
        )
    }
}

/// `Initialized` (kubelet's `GeneratePodInitializedCondition`).
pub fn initialized_condition(pod: &Pod, statuses: &[&ContainerStatus], phase: &str) -> PodCondition {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut unknown = Vec::new();
    let mut incomplete = Vec::new();
    for c in spec.init_containers.iter().flatten() {
        let Some(s) = statuses.iter().find(|s| s.name == c.name) else {
            unknown.push(c.name.clone());
            continue;
        };
        let done = if is_restartable_init(c) {
            s.started == Some(true)
        } else {
            s.ready
        };
        if !done {
            incomplete.push(c.name.clone());
        }
    }
    if phase == "Succeeded" && unknown.is_empty() {
        return condition("Initialized", true, Some("PodCompleted"), None);
    }
    let any_regular_started = spec.containers.iter().any(|c| {
        statuses
            .iter()
            .find(|s| s.name == c.name)
            .is_some_and(|s| s.started == Some(true))
    });
    if any_regular_started {
        return condition("Initialized", true, None, None);
    }
    let mut messages = Vec::new();
    if !unknown.is_empty() {
        messages.push(format!("containers with unknown status: {}", go_list(&unknown)));
    }
    if !incomplete.is_empty() {
        messages.push(format!("containers with incomplete status: {}", go_list(&incomplete)));
    }
    if messages.is_empty() {
        condition("Initialized", true, None, None)
    } else {
        condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(messages.join(", ")),
        )
    }
}

/// The pod's QoS class (Kubernetes' `GetPodQOS`). Requests default to limits
/// per container, as the API server's defaulting stores them.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let parse = |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| Quantity::parse(&q.0).ok();
    let add = |m: &mut BTreeMap<&str, Quantity>, name: &'static str, q: Quantity| {
        let sum = match m.get(name) {
            Some(old) => old.checked_add(&q).unwrap_or(q),
            None => q,
        };
        m.insert(name, sum);
    };
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        let res = c.resources.clone().unwrap_or_default();
        let lim = res.limits.unwrap_or_default();
        let mut req = res.requests.unwrap_or_default();
        for (k, v) in &lim {
            req.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut found = 0;
        for name in ["cpu", "memory"] {
            if let Some(q) = req.get(name).and_then(parse).filter(|q| q.signum() > 0) {
                add(&mut requests, name, q);
            }
            if let Some(q) = lim.get(name).and_then(parse).filter(|q| q.signum() > 0) {
                found += 1;
                add(&mut limits, name, q);
            }
        }
        if found < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.iter().all(|(k, v)| limits.get(k) == Some(v)) && requests.len() == limits.len() {
        return "Guaranteed";
    }
    "Burstable"
}

/// Orders pod IPs as the kubelet does: the first IPv4 (the node's family), then the first IPv6.
fn sort_ips(ips: &[IpAddr], host_v6: bool) -> Vec<String> {
    let first = |v6: bool| ips.iter().find(|ip| ip.is_ipv6() == v6).map(ToString::to_string);
    [first(host_v6), first(!host_v6)].into_iter().flatten().collect()
}

/// Computes the pod's status.
pub fn generate(input: &StatusInput) -> PodStatus {
    let pod = input.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let old = input.old;
    let mut s = PodStatus::default();

    let host_v6 = input.host_ips.first().is_some_and(IpAddr::is_ipv6);
    let host_network = spec.host_network.unwrap_or(false);
    let ips = if host_network {
        sort_ips(input.host_ips, host_v6)
    } else {
        sort_ips(input.pod_ips, host_v6)
    };
    if !ips.is_empty() {
        s.pod_ip = ips.first().cloned();
        s.pod_ips = Some(ips.into_iter().map(|ip| PodIP { ip }).collect());
    } else if host_network || old.pod_ip.is_some() {
        s.pod_ip = old.pod_ip.clone();
        s.pod_ips = old.pod_ips.clone();
    }
    s.qos_class = Some(qos_class(&spec).to_string());

    let inits = spec.init_containers.clone().unwrap_or_default();
    let has_init = !inits.is_empty();
    let app = convert_statuses(
        input,
        &spec.containers,
        old.container_statuses.as_deref().unwrap_or_default(),
        ContainerKind::App,
        has_init,
    );
    let init = convert_statuses(
        input,
        &inits,
        old.init_container_statuses.as_deref().unwrap_or_default(),
        ContainerKind::Init,
        has_init,
    );

    let all: Vec<&ContainerStatus> = app.iter().chain(init.iter()).collect();
    let has_initialized = input
        .containers
        .iter()
        .any(|c| c.kind == ContainerKind::App && matches!(c.state, ContainerRunState::Running { .. }));
    let mut ph = phase(pod, &all, input.terminal, has_initialized).to_string();
    let old_phase = old.phase.clone().unwrap_or_default();
    let old_terminal = old_phase == "Succeeded" || old_phase == "Failed";
    if ph != "Failed" && ph != "Succeeded" && old_terminal {
        ph = old_phase.clone();
    }
    if ph == old_phase {
        s.reason = old.reason.clone();
        s.message = old.message.clone();
    }
    // Pods never leave a terminal phase.
    if old_terminal && ph != old_phase {
        ph = old_phase.clone();
    }

    let mut conditions: Vec<PodCondition> = old
        .conditions
        .iter()
        .flatten()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    conditions.push(condition("PodReadyToStartContainers", input.sandbox_ready, None, None));
    let all_init_first: Vec<&ContainerStatus> = init.iter().chain(app.iter()).collect();
    conditions.push(initialized_condition(pod, &all_init_first, &ph));
    let ready = pod_ready_condition(pod, &conditions, &all_init_first, &ph);
    conditions.push(ready);
    conditions.push(containers_ready_condition(pod, &all_init_first, &ph));
    conditions.push(condition("PodScheduled", true, None, None));
    for c in conditions.iter_mut() {
        if !KUBELET_CONDITIONS.contains(&c.type_.as_str()) {
            continue;
        }
        let prev = old.conditions.iter().flatten().find(|o| o.type_ == c.type_);
        c.last_transition_time = match prev {
            Some(p) if p.status == c.status && p.last_transition_time.is_some() => p.last_transition_time.clone(),
            _ => Some(time(input.now)),
        };
    }
    s.conditions = Some(conditions);
    s.phase = Some(ph);

    if let Some(first) = input.host_ips.first() {
        s.host_ip = Some(first.to_string());
        s.host_ips = Some(
            input
                .host_ips
                .iter()
                .take(2)
                .map(|ip| HostIP { ip: ip.to_string() })
                .collect(),
        );
    }
    s.start_time = old.start_time.clone().or_else(|| Some(time(input.now)));
    s.container_statuses = Some(app);
    s.init_container_statuses = (!init.is_empty()).then_some(init);
    s
}

/// The status as JSON, with `lastProbeTime: null` on conditions as the kubelet writes them.
pub fn to_value(status: &PodStatus) -> Value {
    let mut v = serde_json::to_value(status).unwrap_or(Value::Null);
    if let Some(conds) = v.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conds {
            if let Some(o) = c.as_object_mut() {
                o.entry("lastProbeTime").or_insert(Value::Null);
            }
        }
    }
    v
}

/// A JSON merge patch turning `old` into `new` (`None` when they are equal):
/// changed keys, removed keys as `null`, arrays replaced whole.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, nv) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(new.clone()),
    }
}

/// The merge patch for `pods/status` that writes `new` over the pod's current
/// status, or `None` when nothing changed. The UID guards against a recreated pod.
pub fn status_patch(pod_uid: &str, current: &Value, new: &Value) -> Option<Value> {
    let current = if current.is_null() {
        &Value::Object(Map::new())
    } else {
        current
    };
    let diff = merge_diff(current, new)?;
    Some(serde_json::json!({"metadata": {"uid": pod_uid}, "status": diff}))
}

#[cfg(test)]
mod tests;
