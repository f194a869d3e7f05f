//! Pod sandboxes without a pause container: network, IPC and UTS namespaces
//! created on a short-lived thread and kept alive by bind mounts under the run
//! dir; the pod's hosts/resolv.conf/hostname files; its cgroup parent; its
//! network (CNI); an optional shared PID namespace held by a tiny init process.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use tracing::{debug, warn};

use super::types::Sandbox;
use super::{dns, Runtime};
use crate::network::{port_mappings, NetworkRequest};

/// The file (in the pod's dir) the sandbox state is kept in.
pub const STATE_FILE: &str = "sandbox.json";
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// Whether `path` is a bind-mounted namespace file.
pub fn is_ns_mount(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into a zeroed struct we own; the path is a valid C string.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == NSFS_MAGIC
    }
}

/// The pod's QoS class, computed from its containers' requests and limits as Kubernetes does.
pub fn qos_class(pod: &Pod) -> &'static str {
    if let Some(q) = pod.status.as_ref().and_then(|s| s.qos_class.as_deref()) {
        match q {
            "Guaranteed" => return "Guaranteed",
            "Burstable" => return "Burstable",
            "BestEffort" => return "BestEffort",
            _ => {}
        }
    }
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let all = spec.containers.iter().chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let res = c.resources.clone().unwrap_or_default();
        let limits = res.limits.unwrap_or_default();
        let requests = res.requests.unwrap_or_default();
        let relevant = |k: &str| k == "cpu" || k == "memory";
        if limits.keys().any(|k| relevant(k)) || requests.keys().any(|k| relevant(k)) {
            any = true;
        }
        for r in ["cpu", "memory"] {
            match limits.get(r) {
                None => guaranteed = false,
                Some(l) => {
                    if let Some(q) = requests.get(r) {
                        if q != l {
                            guaranteed = false;
                        }
                    }
                }
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The pod's cgroup parent: `<root>/pod<uid>` for Guaranteed pods, else `<root>/<qos>/pod<uid>`.
pub fn cgroup_parent(root: &str, qos: &str, uid: &str) -> String {
    let root = root.trim_end_matches('/');
    let root = if root.is_empty() { "" } else { root };
    match qos {
        "Guaranteed" => format!("{root}/pod{uid}"),
        "Burstable" => format!("{root}/burstable/pod{uid}"),
        _ => format!("{root}/besteffort/pod{uid}"),
    }
}

/// Creates the requested namespaces on a dedicated thread and bind-mounts them.
fn create_namespaces(
    targets: Vec<(CloneFlags, &'static str, PathBuf)>,
    hostname: Option<String>,
) -> anyhow::Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    for (_, _, path) in &targets {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        if is_ns_mount(path) {
            let _ = umount2(path.as_path(), MntFlags::MNT_DETACH);
        }
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    let handle = std::thread::Builder::new()
        .name("sandbox-ns".into())
        .spawn(move || -> anyhow::Result<()> {
            let flags = targets.iter().fold(CloneFlags::empty(), |a, (f, _, _)| a | *f);
            unshare(flags).context("unshare of the pod's namespaces failed")?;
            if let Some(h) = hostname {
                nix::unistd::sethostname(&h).with_context(|| format!("cannot set hostname {h}"))?;
            }
            for (_, name, path) in &targets {
                let src = format!("/proc/thread-self/ns/{name}");
                mount(
                    Some(src.as_str()),
                    path.as_path(),
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .with_context(|| format!("cannot bind-mount {src} on {}", path.display()))?;
            }
            Ok(())
        })
        .context("cannot start the namespace thread")?;
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("namespace thread panicked"))?
}

fn unmount_and_remove(path: &Path) {
    if is_ns_mount(path) || path.is_dir() {
        if let Err(e) = umount2(path, MntFlags::MNT_DETACH) {
            if path.is_file() {
                debug!("umount {}: {e}", path.display());
            }
        }
    }
    let r = if path.is_dir() {
        std::fs::remove_dir(path)
    } else {
        std::fs::remove_file(path)
    };
    if let Err(e) = r {
        if e.kind() != std::io::ErrorKind::NotFound {
            warn!("cannot remove {}: {e}", path.display());
        }
    }
}

/// Removes the pod's cgroup from every hierarchy (v1 controllers and the unified one).
fn remove_cgroups(parent: &str) {
    let rel = parent.trim_start_matches('/');
    if rel.is_empty() {
        return;
    }
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut roots: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    roots.push(PathBuf::from("/sys/fs/cgroup"));
    for root in roots {
        let dir = root.join(rel);
        if dir.is_dir() {
            // Leftover child cgroups of removed containers first.
            if let Ok(children) = std::fs::read_dir(&dir) {
                for c in children.flatten() {
                    if c.path().is_dir() {
                        let _ = std::fs::remove_dir(c.path());
                    }
                }
            }
            if let Err(e) = std::fs::remove_dir(&dir) {
                debug!("cannot remove cgroup {}: {e}", dir.display());
            }
        }
    }
}

impl Runtime {
    fn pod_dir(&self, uid: &str) -> PathBuf {
        self.inner.config.pods_dir().join(uid)
    }

    fn ns_path(&self, kind: &str, uid: &str) -> PathBuf {
        self.inner.config.run_dir().join(kind).join(uid)
    }

    fn network_request(&self, uid: &str, name: &str, namespace: &str, netns: &Path) -> NetworkRequest {
        NetworkRequest {
            pod_uid: uid.to_string(),
            pod_name: name.to_string(),
            pod_namespace: namespace.to_string(),
            netns: netns.to_path_buf(),
            port_mappings: Vec::new(),
        }
    }

    fn pod_network_request(&self, pod: &Pod, uid: &str, netns: &Path) -> NetworkRequest {
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        NetworkRequest {
            port_mappings: port_mappings(pod),
            ..self.network_request(uid, name, namespace, netns)
        }
    }

    /// A surviving sandbox: its network is checked (and set up again if broken).
    async fn adopt_sandbox(&self, pod: &Pod, mut sb: Sandbox) -> anyhow::Result<Sandbox> {
        if sb.host_network {
            return Ok(sb);
        }
        let req = self.pod_network_request(pod, &sb.pod_uid, &sb.netns);
        let ips = self.inner.network.adopt(&req).await.with_context(|| {
            format!(
                "failed to set up the network of pod {}/{} again",
                req.pod_namespace, req.pod_name
            )
        })?;
        if ips != sb.pod_ips {
            sb.pod_ips = ips;
            let hosts = dns::hosts_file(pod, &sb.pod_ips, &self.inner.config.cluster_domain);
            write_file(&sb.hosts_file, hosts.as_bytes())?;
            self.save_sandbox(&sb)?;
        }
        Ok(sb)
    }

    fn load_sandbox(&self, uid: &str) -> Option<Sandbox> {
        let bytes = std::fs::read(self.pod_dir(uid).join(STATE_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn sandbox_alive(sb: &Sandbox) -> bool {
        (sb.host_network || (is_ns_mount(&sb.netns) && is_ns_mount(&sb.utsns)))
            && (sb.host_ipc || is_ns_mount(&sb.ipcns))
            && sb.pidns.as_ref().map(|p| is_ns_mount(p)).unwrap_or(true)
    }

    /// Creates or re-opens the pod's sandbox (idempotent; after a restart it finds the existing one).
    pub async fn ensure_sandbox(&self, pod: &Pod) -> anyhow::Result<Sandbox> {
        let uid = pod
            .metadata
            .uid
            .clone()
            .filter(|u| !u.is_empty())
            .context("pod has no UID")?;
        let lock = self.inner.pod_lock(&uid);
        let _guard = lock.lock().await;
        if let Some(sb) = self.load_sandbox(&uid) {
            if Self::sandbox_alive(&sb) {
                return self.adopt_sandbox(pod, sb).await;
            }
            warn!(pod_uid = %uid, "sandbox state found but its namespaces are gone; recreating it");
            self.teardown_sandbox(
                &sb,
                pod.metadata.name.as_deref().unwrap_or(""),
                pod.metadata.namespace.as_deref().unwrap_or(""),
            )
            .await;
        }
        let sb = self.create_sandbox(pod, &uid).await;
        if sb.is_err() {
            if let Some(partial) = self.load_sandbox(&uid) {
                self.teardown_sandbox(&partial, "", "").await;
            }
        }
        sb
    }

    async fn create_sandbox(&self, pod: &Pod, uid: &str) -> anyhow::Result<Sandbox> {
        let cfg = &self.inner.config;
        let spec = pod.spec.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let host_network = spec.host_network.unwrap_or(false);
        let host_ipc = spec.host_ipc.unwrap_or(false);
        let host_pid = spec.host_pid.unwrap_or(false);
        let share_pid = spec.share_process_namespace.unwrap_or(false) && !host_pid;
        let hostname = if host_network {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default()
        } else {
            dns::pod_hostname(pod)
        };
        let qos = qos_class(pod);
        let dir = self.pod_dir(uid);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

        let mut sb = Sandbox {
            pod_uid: uid.to_string(),
            netns: if host_network {
                PathBuf::from("/proc/self/ns/net")
            } else {
                self.ns_path("netns", uid)
            },
            ipcns: if host_ipc {
                PathBuf::from("/proc/self/ns/ipc")
            } else {
                self.ns_path("ipcns", uid)
            },
            utsns: if host_network {
                PathBuf::from("/proc/self/ns/uts")
            } else {
                self.ns_path("utsns", uid)
            },
            hosts_file: dir.join("etc-hosts"),
            resolv_file: dir.join("resolv.conf"),
            hostname_file: dir.join("hostname"),
            cgroup_parent: cgroup_parent(&cfg.cgroup_root, qos, uid),
            pod_ips: Vec::new(),
            host_network,
            host_ipc,
            host_pid,
            pidns: None,
            pid_init: None,
            shm_dir: if host_ipc {
                PathBuf::from("/dev/shm")
            } else {
                self.ns_path("shm", uid)
            },
            hostname: hostname.clone(),
            qos_class: qos.to_string(),
        };
        // Saved early so a failed creation can be cleaned up from it.
        self.save_sandbox(&sb)?;

        let mut targets = Vec::new();
        if !host_network {
            targets.push((CloneFlags::CLONE_NEWNET, "net", sb.netns.clone()));
            targets.push((CloneFlags::CLONE_NEWUTS, "uts", sb.utsns.clone()));
        }
        if !host_ipc {
            targets.push((CloneFlags::CLONE_NEWIPC, "ipc", sb.ipcns.clone()));
        }
        let host = if host_network { None } else { Some(hostname.clone()) };
        tokio::task::spawn_blocking(move || create_namespaces(targets, host))
            .await
            .context("namespace task failed")??;

        if !host_ipc {
            std::fs::create_dir_all(&sb.shm_dir)?;
            mount(
                Some("shm"),
                sb.shm_dir.as_path(),
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("mode=1777,size=65536k"),
            )
            .with_context(|| format!("cannot mount the pod's /dev/shm at {}", sb.shm_dir.display()))?;
        }

        if share_pid {
            let path = self.ns_path("pidns", uid);
            let pid = super::pause::spawn(&cfg.k1s_binary).await?;
            sb.pid_init = Some(pid);
            self.save_sandbox(&sb)?;
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::File::create(&path)?;
            let src = format!("/proc/{pid}/ns/pid");
            mount(
                Some(src.as_str()),
                path.as_path(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("cannot bind-mount {src} on {}", path.display()))?;
            sb.pidns = Some(path);
        }

        if !host_network {
            let req = self.pod_network_request(pod, uid, &sb.netns);
            sb.pod_ips = self
                .inner
                .network
                .setup(&req)
                .await
                .with_context(|| format!("failed to set up the network of pod {namespace}/{name}"))?;
        }

        let hosts = if host_network {
            let node_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            dns::host_network_hosts_file(pod, &node_hosts)
        } else {
            dns::hosts_file(pod, &sb.pod_ips, &cfg.cluster_domain)
        };
        let node_resolv = std::fs::read_to_string(&cfg.resolv_conf).unwrap_or_default();
        let resolv = dns::resolv_conf(pod, &node_resolv, cfg.cluster_dns, &cfg.cluster_domain).render();
        write_file(&sb.hosts_file, hosts.as_bytes())?;
        write_file(&sb.resolv_file, resolv.as_bytes())?;
        write_file(&sb.hostname_file, format!("{hostname}\n").as_bytes())?;
        self.save_sandbox(&sb)?;
        Ok(sb)
    }

    fn save_sandbox(&self, sb: &Sandbox) -> anyhow::Result<()> {
        let path = self.pod_dir(&sb.pod_uid).join(STATE_FILE);
        write_file(&path, &serde_json::to_vec_pretty(sb)?)
    }

    async fn teardown_sandbox(&self, sb: &Sandbox, name: &str, namespace: &str) {
        if !sb.host_network {
            let req = self.network_request(&sb.pod_uid, name, namespace, &sb.netns);
            if let Err(e) = self.inner.network.teardown(&req).await {
                warn!(pod_uid = %sb.pod_uid, "network teardown: {e:#}");
            }
            unmount_and_remove(&sb.netns);
            unmount_and_remove(&sb.utsns);
        }
        if !sb.host_ipc {
            unmount_and_remove(&sb.ipcns);
            if !sb.shm_dir.as_os_str().is_empty() {
                unmount_and_remove(&sb.shm_dir);
            }
        }
        if let Some(p) = &sb.pidns {
            unmount_and_remove(p);
        }
        if let Some(pid) = sb.pid_init {
            super::pause::kill(pid);
        }
        remove_cgroups(&sb.cgroup_parent);
        let dir = self.pod_dir(&sb.pod_uid);
        for f in [&sb.hosts_file, &sb.resolv_file, &sb.hostname_file] {
            let _ = std::fs::remove_file(f);
        }
        let _ = std::fs::remove_file(dir.join(STATE_FILE));
        let _ = std::fs::remove_dir(&dir);
    }

    /// Removes the pod's sandbox: network, namespaces, /dev/shm, cgroups, files (idempotent).
    pub async fn remove_sandbox(&self, pod_uid: &str) -> anyhow::Result<()> {
        let lock = self.inner.pod_lock(pod_uid);
        let _guard = lock.lock().await;
        if let Some(sb) = self.load_sandbox(pod_uid) {
            self.teardown_sandbox(&sb, "", "").await;
        } else {
            // No state: still release leftovers at the usual places.
            for kind in ["netns", "utsns", "ipcns", "pidns", "shm"] {
                let p = self.ns_path(kind, pod_uid);
                if p.exists() {
                    unmount_and_remove(&p);
                }
            }
        }
        self.inner
            .pod_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(pod_uid);
        Ok(())
    }

    /// Pod UIDs with a sandbox on disk.
    pub async fn list_sandboxes(&self) -> anyhow::Result<Vec<String>> {
        let dir = self.inner.config.pods_dir();
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            if e.path().join(STATE_FILE).is_file() {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// The sandbox of a pod, if one exists on disk.
    pub async fn get_sandbox(&self, pod_uid: &str) -> Option<Sandbox> {
        self.load_sandbox(pod_uid)
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn qos_classes() {
        let be = pod(serde_json::json!({"metadata": {}, "spec": {"containers": [{"name": "a"}]}}));
        assert_eq!(qos_class(&be), "BestEffort");
        let g = pod(serde_json::json!({"metadata": {}, "spec": {"containers": [{"name": "a",
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}));
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = pod(serde_json::json!({"metadata": {}, "spec": {"containers": [{"name": "a",
            "resources": {"requests": {"memory": "1Gi"}}}]}}));
        assert_eq!(qos_class(&b), "Burstable");
        let b2 = pod(serde_json::json!({"metadata": {}, "spec": {"containers": [{"name": "a",
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]}}));
        assert_eq!(qos_class(&b2), "Burstable");
    }

    #[test]
    fn cgroup_parents() {
        assert_eq!(cgroup_parent("/k1s", "Guaranteed", "u"), "/k1s/podu");
        assert_eq!(cgroup_parent("/k1s/", "Burstable", "u"), "/k1s/burstable/podu");
        assert_eq!(cgroup_parent("/k1s", "BestEffort", "u"), "/k1s/besteffort/podu");
    }
}
