//! A container's mounts: its volumeMounts (with subPath/subPathExpr), the
//! sandbox's /etc/hosts, /etc/resolv.conf and /etc/hostname, and the
//! termination message file.

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, VolumeMount};

use super::expand::expand;
use super::ConfigError;
use crate::runtime::{Mount, Sandbox};
use crate::volumes::PodVolumes;

/// Expands a `subPathExpr` with the container's environment; undefined or
/// empty variables are an error, as in the kubelet.
pub fn expand_sub_path_expr(expr: &str, env: &HashMap<String, String>) -> Result<String, ConfigError> {
    let mut missing = BTreeSet::new();
    let expanded = expand(expr, |name| match env.get(name) {
        Some(v) if !v.is_empty() => Some(v.clone()),
        _ => {
            missing.insert(name.to_string());
            Some(String::new())
        }
    });
    if !missing.is_empty() {
        return Err(ConfigError::Create(format!(
            "missing value for {}",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(expanded)
}

/// Checks a subPath as the kubelet does: relative and without `..`.
fn check_sub_path(sub: &str) -> Result<(), ConfigError> {
    if Path::new(sub).is_absolute() {
        return Err(ConfigError::Create(format!(
            "error SubPath `{sub}` must not be an absolute path"
        )));
    }
    if Path::new(sub).components().any(|c| c == Component::ParentDir) {
        return Err(ConfigError::Create(format!(
            "unable to provision SubPath `{sub}`: must not contain '..'"
        )));
    }
    Ok(())
}

/// The host path of a subPath of a volume, created (as a directory with the
/// volume's mode) when missing; it must stay inside the volume after symlinks.
pub fn prepare_sub_path(volume: &Path, sub: &str) -> Result<PathBuf, ConfigError> {
    check_sub_path(sub)?;
    let path = volume.join(sub);
    if std::fs::symlink_metadata(&path).is_err() {
        let mode = std::fs::metadata(volume)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o755);
        std::fs::create_dir_all(&path)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)))
            .map_err(|e| ConfigError::Create(format!("failed to create subPath directory for volumeMount: {e}")))?;
    }
    let root = volume
        .canonicalize()
        .map_err(|e| ConfigError::Create(format!("cannot resolve volume path {}: {e}", volume.display())))?;
    let real = path
        .canonicalize()
        .map_err(|e| ConfigError::Create(format!("cannot resolve subPath {}: {e}", path.display())))?;
    if !real.starts_with(&root) {
        return Err(ConfigError::Create(format!(
            "subpath {:?} not within volume path {:?}",
            real.display().to_string(),
            root.display().to_string()
        )));
    }
    Ok(real)
}

/// Everything the mounts depend on.
pub struct MountInputs<'a> {
    /// The container.
    pub container: &'a Container,
    /// The pod's volumes.
    pub volumes: &'a PodVolumes,
    /// The container's environment (for `subPathExpr`).
    pub env: &'a HashMap<String, String>,
    /// The sandbox (hosts, resolv.conf, hostname files).
    pub sandbox: &'a Sandbox,
    /// The host file backing `terminationMessagePath`, if any.
    pub termination_file: Option<&'a Path>,
    /// Whether the root filesystem is read-only (resolv.conf and hostname follow it).
    pub read_only_rootfs: bool,
}

/// The container's mounts, in the kubelet's order.
pub fn container_mounts(inp: &MountInputs<'_>) -> Result<Vec<Mount>, ConfigError> {
    let c = inp.container;
    let vms: &[VolumeMount] = c.volume_mounts.as_deref().unwrap_or_default();
    let mut mounts = Vec::new();
    for vm in vms {
        let vol = inp.volumes.volumes.get(&vm.name).ok_or_else(|| {
            ConfigError::Create(format!(
                "cannot find volume {:?} to mount into container {:?}",
                vm.name, c.name
            ))
        })?;
        let mut sub = vm.sub_path.clone().unwrap_or_default();
        if let Some(expr) = vm.sub_path_expr.as_deref().filter(|e| !e.is_empty()) {
            sub = expand_sub_path_expr(expr, inp.env)?;
        }
        let host_path = if sub.is_empty() {
            vol.host_path.clone()
        } else {
            prepare_sub_path(&vol.host_path, &sub)?
        };
        mounts.push(Mount {
            host_path,
            container_path: vm.mount_path.clone(),
            read_only: vm.read_only == Some(true) || vol.kind.always_read_only(),
        });
    }
    let mounted = |p: &str| vms.iter().any(|vm| vm.mount_path.trim_end_matches('/') == p);
    let sb = inp.sandbox;
    if !mounted("/etc/hosts") {
        mounts.push(Mount {
            host_path: sb.hosts_file.clone(),
            container_path: "/etc/hosts".into(),
            read_only: false,
        });
    }
    if let (Some(file), Some(path)) = (
        inp.termination_file,
        c.termination_message_path.as_deref().filter(|p| !p.is_empty()),
    ) {
        if !mounted(path) {
            mounts.push(Mount {
                host_path: file.to_path_buf(),
                container_path: path.to_string(),
                read_only: false,
            });
        }
    }
    if !mounted("/etc/hostname") {
        mounts.push(Mount {
            host_path: sb.hostname_file.clone(),
            container_path: "/etc/hostname".into(),
            read_only: inp.read_only_rootfs,
        });
    }
    if !mounted("/etc/resolv.conf") {
        mounts.push(Mount {
            host_path: sb.resolv_file.clone(),
            container_path: "/etc/resolv.conf".into(),
            read_only: inp.read_only_rootfs,
        });
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_path_expr() {
        let env: HashMap<String, String> = [
            ("POD".to_string(), "web-1".to_string()),
            ("E".to_string(), String::new()),
        ]
        .into();
        assert_eq!(expand_sub_path_expr("logs/$(POD)", &env).unwrap(), "logs/web-1");
        assert_eq!(
            expand_sub_path_expr("$(E)/$(X)", &env).unwrap_err().to_string(),
            "missing value for E, X"
        );
    }

    #[test]
    fn sub_paths_are_created_and_confined() {
        let dir = tempfile::tempdir().unwrap();
        let vol = dir.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        std::fs::set_permissions(&vol, std::fs::Permissions::from_mode(0o777)).unwrap();
        let p = prepare_sub_path(&vol, "a/b").unwrap();
        assert!(p.is_dir());
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o777);
        assert_eq!(
            prepare_sub_path(&vol, "../x").unwrap_err().to_string(),
            "unable to provision SubPath `../x`: must not contain '..'"
        );
        assert_eq!(
            prepare_sub_path(&vol, "/etc").unwrap_err().to_string(),
            "error SubPath `/etc` must not be an absolute path"
        );
        std::os::unix::fs::symlink("/etc", vol.join("escape")).unwrap();
        assert!(prepare_sub_path(&vol, "escape").is_err());
        std::fs::write(vol.join("file"), b"x").unwrap();
        assert!(prepare_sub_path(&vol, "file").unwrap().is_file());
    }
}
