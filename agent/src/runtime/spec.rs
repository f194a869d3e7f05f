//! The OCI runtime spec of a container. containerd fills in no defaults, so the
//! whole document is built here: process, root, mounts, namespaces, cgroups,
//! resources, capabilities, seccomp, masked paths.

use serde_json::{json, Value};

use super::types::{ContainerSpec, Sandbox};
use super::user::User;

/// The annotation runc's v2 shim groups containers by: one shim per pod.
pub const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

/// The capabilities containers get by default (Docker's and containerd's set).
pub const DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability the kernel knows (for privileged containers and `ALL`).
pub const ALL_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// containerd's default masked paths.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// containerd's default read-only paths.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

/// The effective capability names (without `CAP_`) after add/drop; `ALL` works in both.
pub fn capabilities(spec: &ContainerSpec) -> Vec<String> {
    if spec.privileged {
        return ALL_CAPS.iter().map(|s| s.to_string()).collect();
    }
    let add: Vec<String> = spec.cap_add.iter().map(|c| normalize_cap(c)).collect();
    let drop: Vec<String> = spec.cap_drop.iter().map(|c| normalize_cap(c)).collect();
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    if add.iter().any(|c| c == "ALL") {
        caps = ALL_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drop.contains(c))
            .collect();
    }
    for c in add {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    caps
}

fn bind(dest: &str, source: &std::path::Path, read_only: bool) -> Value {
    json!({
        "destination": dest,
        "type": "bind",
        "source": source,
        "options": ["rbind", "rprivate", if read_only { "ro" } else { "rw" }],
    })
}

/// The oom_score_adj the kubelet gives a container of a QoS class.
pub fn oom_score_adj(qos_class: &str) -> i32 {
    match qos_class {
        "Guaranteed" => -997,
        "BestEffort" => 1000,
        _ => 999,
    }
}

/// Builds the complete runtime spec. No rlimits are set: containers inherit the
/// shim's limits, as with the CRI plugin.
pub fn build(spec: &ContainerSpec, sandbox: &Sandbox, user: &User, host_devices: &[Value]) -> Value {
    let caps = capabilities(spec);
    let caps_full: Vec<String> = caps.iter().map(|c| format!("CAP_{c}")).collect();

    let mut env: Vec<String> = Vec::new();
    if !spec.env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(DEFAULT_PATH.to_string());
    }
    if !sandbox.hostname.is_empty() && !spec.env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", sandbox.hostname));
    }
    env.extend(spec.env.iter().cloned());

    let mut additional_gids = user.additional_gids.clone();
    for g in &spec.supplemental_groups {
        if !additional_gids.contains(g) {
            additional_gids.push(*g);
        }
    }

    let cwd = if spec.working_dir.is_empty() {
        "/"
    } else {
        spec.working_dir.as_str()
    };
    let mut process = json!({
        "terminal": spec.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": additional_gids},
        "args": spec.args,
        "env": env,
        "cwd": cwd,
        "capabilities": {
            "bounding": caps_full,
            "effective": caps_full,
            "permitted": caps_full,
        },
        "noNewPrivileges": spec.no_new_privileges && !spec.privileged,
        "oomScoreAdj": oom_score_adj(&sandbox.qos_class),
    });
    if spec.tty {
        process["consoleSize"] = json!({"height": 24, "width": 80});
    }

    let sys_ro = !spec.privileged;
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", if sys_ro { "ro" } else { "rw" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", if sys_ro { "ro" } else { "rw" }]}),
    ];
    let has_mount = |dest: &str| spec.mounts.iter().any(|m| m.container_path == dest);
    if !sandbox.shm_dir.as_os_str().is_empty() && !has_mount("/dev/shm") {
        mounts.push(bind("/dev/shm", &sandbox.shm_dir, false));
    }
    for (dest, src) in [
        ("/etc/hosts", &sandbox.hosts_file),
        ("/etc/hostname", &sandbox.hostname_file),
        ("/etc/resolv.conf", &sandbox.resolv_file),
    ] {
        if !src.as_os_str().is_empty() && !has_mount(dest) {
            // As the kubelet/CRI do: hostname and resolv.conf follow readOnlyRootFilesystem, hosts stays rw.
            mounts.push(bind(dest, src, spec.read_only_rootfs && dest != "/etc/hosts"));
        }
    }
    let mut user_mounts: Vec<&super::types::Mount> = spec.mounts.iter().collect();
    user_mounts.sort_by_key(|m| m.container_path.trim_end_matches('/').matches('/').count());
    for m in user_mounts {
        mounts.push(bind(&m.container_path, &m.host_path, m.read_only));
    }

    let mut namespaces = vec![json!({"type": "mount"})];
    if !sandbox.host_pid {
        match (&sandbox.pidns, spec.share_pid) {
            (Some(p), true) => namespaces.push(json!({"type": "pid", "path": p})),
            _ => namespaces.push(json!({"type": "pid"})),
        }
    }
    if !sandbox.host_network {
        namespaces.push(json!({"type": "network", "path": sandbox.netns}));
        namespaces.push(json!({"type": "uts", "path": sandbox.utsns}));
    }
    if !sandbox.host_ipc {
        namespaces.push(json!({"type": "ipc", "path": sandbox.ipcns}));
    }

    let r = &spec.resources;
    let mut cpu = json!({"shares": r.cpu_shares.max(2)});
    if let Some(q) = r.cpu_quota {
        cpu["quota"] = json!(q);
        cpu["period"] = json!(if r.cpu_period == 0 { 100_000 } else { r.cpu_period });
    }
    let mut resources = json!({
        "devices": [if spec.privileged { json!({"allow": true, "access": "rwm"}) } else { json!({"allow": false, "access": "rwm"}) }],
        "cpu": cpu,
    });
    if let Some(m) = r.memory_limit {
        resources["memory"] = json!({"limit": m});
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": format!("{}/{}", sandbox.cgroup_parent.trim_end_matches('/'), spec.id),
        "resources": resources,
    });
    if spec.privileged {
        linux["devices"] = json!(host_devices);
    } else {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
        if spec.seccomp_runtime_default {
            linux["seccomp"] = super::seccomp::runtime_default(&caps);
        }
    }

    json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": "rootfs", "readonly": spec.read_only_rootfs},
        "mounts": mounts,
        "annotations": {
            SANDBOX_ID_ANNOTATION: spec.pod_uid,
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": spec.name,
            "io.kubernetes.cri.sandbox-name": spec.pod_name,
            "io.kubernetes.cri.sandbox-namespace": spec.pod_namespace,
            "io.kubernetes.cri.sandbox-uid": spec.pod_uid,
        },
        "linux": linux,
    })
}

/// The host's devices under `/dev` (for privileged containers), as OCI `linux.devices`.
pub fn host_devices() -> Vec<Value> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                let name = e.file_name();
                if !matches!(name.to_str(), Some("pts" | "shm" | "mqueue" | "fd")) {
                    stack.push(path);
                }
                continue;
            }
            let kind = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            if path == std::path::Path::new("/dev/console") || path == std::path::Path::new("/dev/ptmx") {
                continue;
            }
            let rdev = md.rdev();
            out.push(json!({
                "path": path,
                "type": kind,
                "major": nix::sys::stat::major(rdev),
                "minor": nix::sys::stat::minor(rdev),
                "fileMode": md.mode() & 0o7777,
                "uid": md.uid(),
                "gid": md.gid(),
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::types::{ContainerKind, Mount, Resources};
    use std::path::PathBuf;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            id: "c1".into(),
            pod_uid: "u1".into(),
            pod_name: "p".into(),
            pod_namespace: "default".into(),
            name: "app".into(),
            kind: ContainerKind::App,
            attempt: 0,
            image_ref: "busybox".into(),
            image: Default::default(),
            args: vec!["sh".into(), "-c".into(), "echo hi".into()],
            env: vec!["A=1".into()],
            working_dir: String::new(),
            mounts: vec![
                Mount {
                    host_path: "/v/b".into(),
                    container_path: "/data/sub".into(),
                    read_only: true,
                },
                Mount {
                    host_path: "/v/a".into(),
                    container_path: "/data".into(),
                    read_only: false,
                },
            ],
            user: None,
            supplemental_groups: vec![2000],
            image_user: None,
            cap_add: vec!["NET_ADMIN".into()],
            cap_drop: vec!["CAP_KILL".into()],
            privileged: false,
            read_only_rootfs: true,
            no_new_privileges: true,
            seccomp_runtime_default: true,
            resources: Resources {
                cpu_shares: 512,
                cpu_quota: Some(50_000),
                cpu_period: 100_000,
                memory_limit: Some(16 << 20),
            },
            tty: false,
            stdin: false,
            share_pid: false,
            log_path: "/l/0.log".into(),
            termination_message_file: None,
            termination_message_from_logs: false,
            labels: Default::default(),
        }
    }

    fn sandbox() -> Sandbox {
        Sandbox {
            pod_uid: "u1".into(),
            netns: "/run/netns/u1".into(),
            ipcns: "/run/ipcns/u1".into(),
            utsns: "/run/utsns/u1".into(),
            hosts_file: "/pods/u1/etc-hosts".into(),
            resolv_file: "/pods/u1/resolv.conf".into(),
            hostname_file: "/pods/u1/hostname".into(),
            cgroup_parent: "/k1s/burstable/podu1".into(),
            pod_ips: vec![],
            host_network: false,
            host_ipc: false,
            host_pid: false,
            pidns: None,
            pid_init: None,
            shm_dir: "/run/shm/u1".into(),
            hostname: "p".into(),
            qos_class: "Burstable".into(),
        }
    }

    fn user() -> User {
        User {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10],
        }
    }

    #[test]
    fn process_and_caps() {
        let s = build(&spec(), &sandbox(), &user(), &[]);
        let p = &s["process"];
        assert_eq!(p["args"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(p["env"][0], DEFAULT_PATH);
        assert_eq!(p["env"][1], "HOSTNAME=p");
        assert_eq!(p["env"][2], "A=1");
        assert_eq!(p["cwd"], "/");
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 2000]})
        );
        let caps = p["capabilities"]["bounding"].as_array().unwrap();
        assert!(caps.contains(&json!("CAP_NET_ADMIN")));
        assert!(!caps.contains(&json!("CAP_KILL")));
        assert!(caps.contains(&json!("CAP_CHOWN")));
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(s["root"], json!({"path": "rootfs", "readonly": true}));
        assert_eq!(s["annotations"][SANDBOX_ID_ANNOTATION], "u1");
    }

    #[test]
    fn linux_section() {
        let s = build(&spec(), &sandbox(), &user(), &[]);
        let l = &s["linux"];
        assert_eq!(l["cgroupsPath"], "/k1s/burstable/podu1/c1");
        assert_eq!(l["resources"]["memory"]["limit"], 16 << 20);
        assert_eq!(
            l["resources"]["cpu"],
            json!({"shares": 512, "quota": 50000, "period": 100000})
        );
        let ns = l["namespaces"].as_array().unwrap();
        assert!(ns.contains(&json!({"type": "network", "path": "/run/netns/u1"})));
        assert!(ns.contains(&json!({"type": "pid"})));
        assert!(l["seccomp"]["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .contains(&json!("mount")));
        assert!(l["maskedPaths"].as_array().unwrap().contains(&json!("/proc/kcore")));
    }

    #[test]
    fn mounts_sorted_and_sandbox_files() {
        let s = build(&spec(), &sandbox(), &user(), &[]);
        let dests: Vec<&str> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        let data = dests.iter().position(|d| *d == "/data").unwrap();
        let sub = dests.iter().position(|d| *d == "/data/sub").unwrap();
        assert!(data < sub);
        assert!(dests.contains(&"/etc/hosts"));
        assert!(dests.contains(&"/etc/resolv.conf"));
        assert!(dests.contains(&"/dev/shm"));
        let sub_m = &s["mounts"][sub];
        assert_eq!(sub_m["options"], json!(["rbind", "rprivate", "ro"]));
    }

    #[test]
    fn host_network_and_privileged() {
        let mut sb = sandbox();
        sb.host_network = true;
        let mut sp = spec();
        sp.privileged = true;
        let s = build(&sp, &sb, &user(), &[json!({"path": "/dev/null"})]);
        let ns = s["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns.iter().any(|n| n["type"] == "network" || n["type"] == "uts"));
        assert!(s["linux"].get("seccomp").is_none());
        assert!(s["linux"].get("maskedPaths").is_none());
        assert_eq!(
            s["process"]["capabilities"]["bounding"].as_array().unwrap().len(),
            ALL_CAPS.len()
        );
        assert_eq!(s["linux"]["resources"]["devices"][0]["allow"], true);
        assert_eq!(s["process"]["noNewPrivileges"], false);
    }

    #[test]
    fn shared_pid_namespace() {
        let mut sb = sandbox();
        sb.pidns = Some(PathBuf::from("/run/pidns/u1"));
        let mut sp = spec();
        sp.share_pid = true;
        let s = build(&sp, &sb, &user(), &[]);
        assert!(s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "pid", "path": "/run/pidns/u1"})));
    }
}
