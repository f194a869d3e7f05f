//! The data the pod workers, probes and streaming exchange with the runtime.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use jiff::Timestamp;

/// Labels k1s puts on every containerd container, so that the node's state can be
/// rebuilt from containerd alone after a restart.
pub mod labels {
    /// The pod's UID.
    pub const POD_UID: &str = "io.kubernetes.pod.uid";
    /// The pod's name.
    pub const POD_NAME: &str = "io.kubernetes.pod.name";
    /// The pod's namespace.
    pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
    /// The container's name in the pod spec.
    pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
    /// The restart count this instance was started with (0, 1, 2, …).
    pub const ATTEMPT: &str = "io.kubernetes.container.attempt";
    /// `init`, `app` (or `ephemeral`).
    pub const KIND: &str = "k1s.io/container-kind";
    /// The image as the pod spec names it.
    pub const IMAGE: &str = "k1s.io/image";
    /// The image's ID (`sha256:` of its config) the container was made from.
    pub const IMAGE_ID: &str = "k1s.io/image-id";
    /// Exit facts recorded on the container when its task ends (then the task is deleted).
    pub const EXIT_CODE: &str = "k1s.io/exit-code";
    /// RFC 3339 start time of the task.
    pub const STARTED_AT: &str = "k1s.io/started-at";
    /// RFC 3339 end time of the task.
    pub const FINISHED_AT: &str = "k1s.io/finished-at";
    /// `OOMKilled`, `Error`, `Completed`, `ContainerCannotRun`…
    pub const REASON: &str = "k1s.io/reason";
    /// The termination message read from `terminationMessagePath` (or the log tail).
    pub const MESSAGE: &str = "k1s.io/message";
    /// The container's CRI log file (host path).
    pub const LOG_PATH: &str = "k1s.io/log-path";
    /// Host path of the termination message file, read when the task ends.
    pub const TERMINATION_MESSAGE_PATH: &str = "k1s.io/termination-message-path";
    /// Set (`FallbackToLogsOnError`) when a failed container's log tail stands in for an empty message.
    pub const TERMINATION_MESSAGE_POLICY: &str = "k1s.io/termination-message-policy";
    /// `true` when the container was created with a stdin FIFO (`stdin: true`).
    pub const STDIN: &str = "k1s.io/stdin";
    /// `true` when the container has a TTY.
    pub const TTY: &str = "k1s.io/tty";
}

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    /// `spec.initContainers`.
    Init,
    /// `spec.containers`.
    App,
}

/// A pod's sandbox: the namespaces and files all its containers share.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Sandbox {
    /// The pod UID.
    pub pod_uid: String,
    /// Bind-mounted namespace files under the run dir (`net`, `ipc`, `uts`).
    pub netns: PathBuf,
    /// The IPC namespace file.
    pub ipcns: PathBuf,
    /// The UTS namespace file (hostname set).
    pub utsns: PathBuf,
    /// `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` for the containers.
    pub hosts_file: PathBuf,
    /// See `hosts_file`.
    pub resolv_file: PathBuf,
    /// See `hosts_file`.
    pub hostname_file: PathBuf,
    /// The pod's cgroup parent (e.g. `/k1s/burstable/pod<uid>`).
    pub cgroup_parent: String,
    /// The pod IP(s) from the network plugin (empty for a loopback-only sandbox).
    pub pod_ips: Vec<IpAddr>,
    /// Whether the pod uses the host's network namespace.
    pub host_network: bool,
    /// Whether the pod uses the host's IPC namespace (`hostIPC`).
    #[serde(default)]
    pub host_ipc: bool,
    /// Whether the pod uses the host's PID namespace (`hostPID`).
    #[serde(default)]
    pub host_pid: bool,
    /// The pod's shared PID namespace (`shareProcessNamespace`), held by a small init process.
    #[serde(default)]
    pub pidns: Option<PathBuf>,
    /// The pid of that init process.
    #[serde(default)]
    pub pid_init: Option<i32>,
    /// The pod's `/dev/shm` (a tmpfs shared by its containers; `/dev/shm` itself with hostIPC).
    #[serde(default)]
    pub shm_dir: PathBuf,
    /// The pod's hostname (set in its UTS namespace).
    #[serde(default)]
    pub hostname: String,
    /// The pod's QoS class (`Guaranteed`, `Burstable`, `BestEffort`).
    #[serde(default)]
    pub qos_class: String,
}

/// One bind mount into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Path on the host.
    pub host_path: PathBuf,
    /// Path in the container.
    pub container_path: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Resource settings, already turned into cgroup values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `cpu.shares` (from requests.cpu; 2 when unset, as the kubelet does).
    pub cpu_shares: u64,
    /// CFS quota in µs per `cpu_period` (from limits.cpu), if limited.
    pub cpu_quota: Option<i64>,
    /// CFS period in µs (100000).
    pub cpu_period: u64,
    /// Memory limit in bytes, if limited.
    pub memory_limit: Option<i64>,
}

/// Everything needed to create and start one container instance.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// containerd container ID (unique per instance).
    pub id: String,
    /// Pod identity.
    pub pod_uid: String,
    /// Pod name.
    pub pod_name: String,
    /// Pod namespace.
    pub pod_namespace: String,
    /// Container name in the pod spec.
    pub name: String,
    /// Init or app.
    pub kind: ContainerKind,
    /// Restart count of this instance.
    pub attempt: u32,
    /// The image as named in the pod spec.
    pub image_ref: String,
    /// The resolved image (containerd name), its ID and the snapshot parent (chain ID).
    pub image: crate::images::ImageInfo,
    /// Final argv (command/args resolved against the image's entrypoint/cmd, `$(VAR)` expanded).
    pub args: Vec<String>,
    /// Final environment (`NAME=value`), image env first, then the pod's.
    pub env: Vec<String>,
    /// Working directory (spec, else the image's, else `/`).
    pub working_dir: String,
    /// Volume and file mounts (hosts, resolv.conf, hostname, termination log, volumes).
    pub mounts: Vec<Mount>,
    /// uid/gid/supplementary groups (from securityContext, else the image's user).
    pub user: Option<(u32, u32)>,
    /// Supplementary groups.
    pub supplemental_groups: Vec<u32>,
    /// The image's user string when it names a user that must be looked up in /etc/passwd.
    pub image_user: Option<String>,
    /// Capabilities to add/drop (names without `CAP_`).
    pub cap_add: Vec<String>,
    /// See `cap_add`.
    pub cap_drop: Vec<String>,
    /// Privileged container.
    pub privileged: bool,
    /// Read-only root filesystem.
    pub read_only_rootfs: bool,
    /// `no_new_privileges` (allowPrivilegeEscalation false).
    pub no_new_privileges: bool,
    /// Apply the RuntimeDefault seccomp profile.
    pub seccomp_runtime_default: bool,
    /// cgroup settings.
    pub resources: Resources,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open (FIFO) for attach.
    pub stdin: bool,
    /// Join the pod's shared PID namespace (`shareProcessNamespace`).
    pub share_pid: bool,
    /// The CRI log file for this instance.
    pub log_path: PathBuf,
    /// Host path of the file mounted at `terminationMessagePath`.
    pub termination_message_file: Option<PathBuf>,
    /// `terminationMessagePolicy: FallbackToLogsOnError`.
    pub termination_message_from_logs: bool,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
}

/// What containerd knows of one container instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerRunState {
    /// Created, task not started (or start failed).
    Created,
    /// The task is running.
    Running {
        /// When it started.
        started_at: Timestamp,
    },
    /// The task ended.
    Exited {
        /// Exit code.
        exit_code: i32,
        /// `Completed`, `Error`, `OOMKilled`…
        reason: String,
        /// Termination message, if any.
        message: Option<String>,
        /// When it started.
        started_at: Option<Timestamp>,
        /// When it ended.
        finished_at: Timestamp,
    },
}

/// One container instance as listed from containerd (labels + task state).
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    /// containerd container ID.
    pub id: String,
    /// Pod UID (label).
    pub pod_uid: String,
    /// Pod namespace (label).
    pub pod_namespace: String,
    /// Pod name (label).
    pub pod_name: String,
    /// Container name (label).
    pub name: String,
    /// Init or app (label).
    pub kind: ContainerKind,
    /// Restart count of this instance (label).
    pub attempt: u32,
    /// Image as named in the spec (label).
    pub image_ref: String,
    /// Image ID (label).
    pub image_id: String,
    /// Run state.
    pub state: ContainerRunState,
    /// Its CRI log file.
    pub log_path: PathBuf,
}

/// A task exit reported by containerd's event stream.
#[derive(Debug, Clone)]
pub struct ExitEvent {
    /// containerd container ID.
    pub container_id: String,
    /// Exit code.
    pub exit_code: i32,
    /// When.
    pub exited_at: Timestamp,
}

/// An exec request (probes, hooks, `kubectl exec`).
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// argv.
    pub command: Vec<String>,
    /// Allocate a TTY.
    pub tty: bool,
    /// Attach stdin.
    pub stdin: bool,
    /// Attach stdout.
    pub stdout: bool,
    /// Attach stderr (ignored with a TTY).
    pub stderr: bool,
}
