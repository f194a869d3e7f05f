//! The [`ContainerSpec`] for one container of a pod, built as the kubelet (and
//! containerd's CRI plugin) would: argv from command/args and the image's
//! Entrypoint/Cmd, the environment (image env, `envFrom`, `env` with
//! `valueFrom` and `$(VAR)` expansion, Service variables), securityContext,
//! cgroup values from resources, and the mounts.

pub mod env;
pub mod expand;
pub mod fieldpath;
pub mod mounts;
pub mod resources;
pub mod security;
pub mod service_env;
pub mod source;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Pod};

pub use env::{EnvList, PodNetwork};
pub use resources::NodeAllocatable;
pub use source::{ApiSource, IssuedToken, ObjectSource, SourceError, TokenRequest};

use crate::config::AgentConfig;
use crate::images::ImageInfo;
use crate::runtime::{ContainerKind, ContainerSpec, Sandbox};
use crate::volumes::PodVolumes;

/// Why a container cannot be created from its spec. Its `Display` is the
/// message the kubelet puts in the waiting state; [`ConfigError::reason`] the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A reference that cannot be resolved (missing ConfigMap, Secret, key…): `CreateContainerConfigError`.
    #[error("{0}")]
    Config(String),
    /// A spec the runtime cannot create (no command, bad subPath…): `CreateContainerError`.
    #[error("{0}")]
    Create(String),
}

impl ConfigError {
    /// The waiting reason the pod status shows.
    pub fn reason(&self) -> &'static str {
        match self {
            ConfigError::Config(_) => "CreateContainerConfigError",
            ConfigError::Create(_) => "CreateContainerError",
        }
    }
}

/// What building specs needs besides the pod: the API objects, the agent's
/// settings and the node's allocatable resources.
#[derive(Clone)]
pub struct SpecContext {
    /// ConfigMaps, Secrets, Services.
    pub source: Arc<dyn ObjectSource>,
    /// The agent's settings (directories, node IP).
    pub config: Arc<AgentConfig>,
    /// Default limits for `resourceFieldRef`.
    pub node: NodeAllocatable,
}

/// A new containerd container ID (64 hex digits, like the CRI plugin's).
pub fn new_container_id() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// `argv` as containerd's CRI plugin makes it: the container's command (else the
/// image's Entrypoint) followed by its args (else, without a command, the image's Cmd).
pub fn resolve_argv(command: &[String], args: &[String], entrypoint: &[String], cmd: &[String]) -> Vec<String> {
    let mut argv: Vec<String> = if command.is_empty() {
        entrypoint.to_vec()
    } else {
        command.to_vec()
    };
    if command.is_empty() && args.is_empty() {
        argv.extend(cmd.iter().cloned());
    } else {
        argv.extend(args.iter().cloned());
    }
    argv
}

/// The pod's hostname: the sandbox's, else what it wrote, else `spec.hostname`
/// or the pod name cut to 63 characters.
fn hostname(pod: &Pod, sandbox: &Sandbox) -> String {
    if !sandbox.hostname.is_empty() {
        return sandbox.hostname.clone();
    }
    if let Ok(s) = std::fs::read_to_string(&sandbox.hostname_file) {
        let s = s.trim();
        if !s.is_empty() {
            return s.to_string();
        }
    }
    let spec_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty());
    let name = spec_name.unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    let cut: String = name.chars().take(63).collect();
    cut.trim_end_matches(['-', '.']).to_string()
}

/// `<pod_log_dir>/<ns>_<pod>_<uid>/<container>/<attempt>.log`.
pub fn log_path(config: &AgentConfig, pod: &Pod, container: &str, attempt: u32) -> PathBuf {
    let m = &pod.metadata;
    config
        .pod_log_dir
        .join(format!(
            "{}_{}_{}",
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default(),
            m.uid.as_deref().unwrap_or_default()
        ))
        .join(container)
        .join(format!("{attempt}.log"))
}

/// Creates the empty, world-writable host file of a container's termination
/// message: `<pods-dir>/<uid>/containers/<name>/<id-prefix>`.
fn termination_file(config: &AgentConfig, pod_uid: &str, name: &str, id: &str) -> Result<PathBuf, ConfigError> {
    let dir = config.pods_dir().join(pod_uid).join("containers").join(name);
    let path = dir.join(&id[..8.min(id.len())]);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, b""))
        .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)))
        .map_err(|e| {
            ConfigError::Create(format!(
                "cannot create termination message file {}: {e}",
                path.display()
            ))
        })?;
    Ok(path)
}

/// Builds the spec of one container instance (a new container ID each call).
#[allow(clippy::too_many_arguments)]
pub async fn build_spec(
    ctx: &SpecContext,
    pod: &Pod,
    container: &Container,
    kind: ContainerKind,
    attempt: u32,
    image: &ImageInfo,
    sandbox: &Sandbox,
    volumes: &PodVolumes,
) -> Result<ContainerSpec, ConfigError> {
    let spec = pod.spec.as_ref();
    let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
    let host_ips = vec![ctx.config.node_ip];
    let pod_ips = if sandbox.host_network && sandbox.pod_ips.is_empty() {
        host_ips.clone()
    } else {
        sandbox.pod_ips.clone()
    };
    let net = PodNetwork { host_ips, pod_ips };
    let env = env::container_env(ctx.source.as_ref(), pod, container, &ctx.node, &net).await?;
    let env_map: HashMap<String, String> = env.vars().iter().cloned().collect();
    let lookup = |name: &str| env_map.get(name).cloned();
    let expand_all = |list: &Option<Vec<String>>| -> Vec<String> {
        list.iter().flatten().map(|s| expand::expand(s, lookup)).collect()
    };
    let args = resolve_argv(
        &expand_all(&container.command),
        &expand_all(&container.args),
        &image.config.entrypoint,
        &image.config.cmd,
    );
    if args.is_empty() {
        return Err(ConfigError::Create(
            "failed to generate container spec: no command specified".into(),
        ));
    }

    // containerd's CRI plugin: HOSTNAME first, then the image's env, then the container's.
    let mut full_env = EnvList::default();
    full_env.set("HOSTNAME".into(), hostname(pod, sandbox));
    for (k, v) in EnvList::from_strings(&image.config.env).vars() {
        full_env.set(k.clone(), v.clone());
    }
    for (k, v) in env.vars() {
        full_env.set(k.clone(), v.clone());
    }

    let sec = security::security(
        spec.and_then(|s| s.security_context.as_ref()),
        container,
        &image.config.user,
    );
    let id = new_container_id();
    let termination_message_file = match container.termination_message_path.as_deref() {
        Some(p) if !p.is_empty() => Some(termination_file(&ctx.config, &pod_uid, &container.name, &id)?),
        _ => None,
    };
    let mounts = mounts::container_mounts(&mounts::MountInputs {
        container,
        volumes,
        env: &env_map,
        sandbox,
        termination_file: termination_message_file.as_deref(),
        read_only_rootfs: sec.read_only_rootfs,
    })?;
    let working_dir = container
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| Some(image.config.working_dir.clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());

    Ok(ContainerSpec {
        id,
        pod_uid,
        pod_name: pod.metadata.name.clone().unwrap_or_default(),
        pod_namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: container.name.clone(),
        kind,
        attempt,
        image_ref: container.image.clone().unwrap_or_default(),
        image: image.clone(),
        args,
        env: full_env.to_strings(),
        working_dir,
        mounts,
        user: sec.user,
        supplemental_groups: sec.supplemental_groups,
        image_user: sec.image_user,
        cap_add: sec.cap_add,
        cap_drop: sec.cap_drop,
        privileged: sec.privileged,
        read_only_rootfs: sec.read_only_rootfs,
        no_new_privileges: sec.no_new_privileges,
        seccomp_runtime_default: sec.seccomp_runtime_default,
        resources: resources::cgroup_resources(container),
        tty: container.tty == Some(true),
        stdin: container.stdin == Some(true),
        share_pid: spec.and_then(|s| s.share_process_namespace) == Some(true),
        log_path: log_path(&ctx.config, pod, &container.name, attempt),
        termination_message_file,
        termination_message_from_logs: container.termination_message_policy.as_deref() == Some("FallbackToLogsOnError"),
        labels: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests;
