use std::path::Path;

use serde_json::json;

use super::source::fake::FakeSource;
use super::*;
use crate::images::ImageConfig;
use crate::runtime::Mount;
use crate::volumes::{MountedVolume, VolumeKind};

fn config(dir: &Path) -> AgentConfig {
    AgentConfig {
        node_name: "n1".into(),
        data_dir: dir.to_path_buf(),
        containerd_socket: dir.join("containerd.sock"),
        manage_containerd: false,
        kubelet_port: 10250,
        node_ip: "192.168.1.10".parse().unwrap(),
        pod_log_dir: dir.join("logs"),
        service_cidr: "10.43.0.0/16".parse().unwrap(),
        proxy_chain_prefix: "K1S".into(),
        iptables_backend: None,
        cluster_dns: "10.43.0.10".parse().unwrap(),
        cluster_domain: "cluster.local".into(),
        cluster_cidr: "10.42.0.0/16".into(),
        pod_cidr: "10.42.0.0/24".into(),
        cni_bridge: "k1s0".into(),
        cni_bin_dir: "/usr/lib/cni".into(),
        insecure_registries: vec![],
        k1s_binary: "/usr/bin/k1s".into(),
        cgroup_root: "/k1s".into(),
        resolv_conf: "/etc/resolv.conf".into(),
    }
}

fn sandbox(dir: &Path) -> Sandbox {
    let hostname_file = dir.join("hostname");
    std::fs::write(&hostname_file, "web\n").unwrap();
    Sandbox {
        pod_uid: "uid-1".into(),
        netns: dir.join("net"),
        ipcns: dir.join("ipc"),
        utsns: dir.join("uts"),
        hosts_file: dir.join("hosts"),
        resolv_file: dir.join("resolv.conf"),
        hostname_file,
        cgroup_parent: "/k1s/besteffort/poduid-1".into(),
        pod_ips: vec!["10.42.0.7".parse().unwrap()],
        host_network: false,
        host_ipc: false,
        host_pid: false,
        pidns: None,
        pid_init: None,
        shm_dir: dir.join("shm"),
        hostname: "web".into(),
        qos_class: "BestEffort".into(),
    }
}

fn image() -> ImageInfo {
    ImageInfo {
        name: "docker.io/library/busybox:1.36".into(),
        config: ImageConfig {
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            env: vec!["PATH=/usr/bin:/bin".into(), "MODE=image".into()],
            working_dir: String::new(),
            user: String::new(),
        },
        ..Default::default()
    }
}

fn pod(container: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-1"},
        "spec": {"containers": [container], "securityContext": {"fsGroup": 2000}},
    }))
    .unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    ctx: SpecContext,
    sandbox: Sandbox,
    volumes: PodVolumes,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let src = FakeSource::default();
    src.add_config_map("default", "cfg", &[("MODE", "cm")]);
    src.add_service(json!({"metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443}]}}));
    let vol = dir.path().join("vols/data");
    std::fs::create_dir_all(&vol).unwrap();
    let cfg_vol = dir.path().join("vols/cfg");
    std::fs::create_dir_all(&cfg_vol).unwrap();
    let mut volumes = PodVolumes::default();
    volumes.volumes.insert(
        "data".into(),
        MountedVolume {
            host_path: vol,
            kind: VolumeKind::EmptyDir,
        },
    );
    volumes.volumes.insert(
        "cfg".into(),
        MountedVolume {
            host_path: cfg_vol,
            kind: VolumeKind::ConfigMap,
        },
    );
    Fixture {
        sandbox: sandbox(dir.path()),
        ctx: SpecContext {
            source: Arc::new(src),
            config: Arc::new(config(dir.path())),
            node: NodeAllocatable {
                cpu_milli: 2000,
                memory: 1 << 30,
                ephemeral_storage: 1 << 40,
            },
        },
        volumes,
        _dir: dir,
    }
}

#[test]
fn argv_rules() {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (ep, cmd) = (s(&["/entry"]), s(&["default-arg"]));
    assert_eq!(resolve_argv(&[], &[], &ep, &cmd), ["/entry", "default-arg"]);
    assert_eq!(resolve_argv(&[], &s(&["x"]), &ep, &cmd), ["/entry", "x"]);
    assert_eq!(resolve_argv(&s(&["/bin/sh"]), &[], &ep, &cmd), ["/bin/sh"]);
    assert_eq!(
        resolve_argv(&s(&["/bin/sh"]), &s(&["-c", "x"]), &ep, &cmd),
        ["/bin/sh", "-c", "x"]
    );
    assert!(resolve_argv(&[], &[], &[], &[]).is_empty());
}

#[tokio::test]
async fn builds_a_full_spec() {
    let f = fixture();
    let p = pod(json!({
        "name": "app", "image": "busybox:1.36",
        "command": ["sh", "-c"], "args": ["echo $(MODE) $(POD) $$(MODE)"],
        "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "500m", "memory": "64Mi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"},
                         {"name": "data", "mountPath": "/logs", "subPathExpr": "$(POD)"},
                         {"name": "cfg", "mountPath": "/etc/cfg"}],
        "terminationMessagePath": "/dev/termination-log",
        "securityContext": {"runAsUser": 1000, "allowPrivilegeEscalation": false},
    }));
    let c = p.spec.as_ref().unwrap().containers[0].clone();
    let spec = build_spec(&f.ctx, &p, &c, ContainerKind::App, 2, &image(), &f.sandbox, &f.volumes)
        .await
        .unwrap();
    assert_eq!(spec.args, ["sh", "-c", "echo cm web $(MODE)"]);
    assert_eq!(spec.env[0], "HOSTNAME=web");
    assert_eq!(spec.env[1], "PATH=/usr/bin:/bin");
    // The container's MODE replaces the image's in place.
    assert_eq!(spec.env[2], "MODE=cm");
    assert!(spec.env.contains(&"KUBERNETES_SERVICE_HOST=10.43.0.1".to_string()));
    assert_eq!(spec.working_dir, "/");
    assert_eq!(spec.user, Some((1000, 0)));
    assert_eq!(spec.supplemental_groups, [2000]);
    assert!(spec.no_new_privileges);
    assert_eq!(spec.resources.cpu_shares, 512);
    assert_eq!(spec.resources.cpu_quota, Some(50_000));
    assert_eq!(spec.resources.memory_limit, Some(64 << 20));
    assert_eq!(spec.id.len(), 64);
    assert_eq!(spec.attempt, 2);
    assert!(spec.log_path.ends_with("logs/default_web_uid-1/app/2.log"));
    let term = spec.termination_message_file.clone().unwrap();
    assert!(term.starts_with(f.ctx.config.pods_dir().join("uid-1/containers/app")));
    assert!(term.is_file());
    let vols = f._dir.path().join("vols");
    let paths: Vec<(&str, bool)> = spec
        .mounts
        .iter()
        .map(|m: &Mount| (m.container_path.as_str(), m.read_only))
        .collect();
    assert_eq!(
        paths,
        [
            ("/data", false),
            ("/logs", false),
            ("/etc/cfg", true),
            ("/etc/hosts", false),
            ("/dev/termination-log", false),
            ("/etc/hostname", false),
            ("/etc/resolv.conf", false)
        ]
    );
    assert_eq!(spec.mounts[1].host_path, vols.join("data/web").canonicalize().unwrap());
    assert!(vols.join("data/web").is_dir());
}

#[tokio::test]
async fn errors_carry_kubelet_reasons() {
    let f = fixture();
    let p = pod(json!({"name": "app", "image": "busybox",
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "NOPE"}}}]}));
    let c = p.spec.as_ref().unwrap().containers[0].clone();
    let err = build_spec(&f.ctx, &p, &c, ContainerKind::App, 0, &image(), &f.sandbox, &f.volumes)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "CreateContainerConfigError");
    assert_eq!(err.to_string(), "couldn't find key NOPE in ConfigMap default/cfg");

    let p = pod(json!({"name": "app", "image": "busybox",
        "volumeMounts": [{"name": "missing", "mountPath": "/x"}]}));
    let c = p.spec.as_ref().unwrap().containers[0].clone();
    let err = build_spec(&f.ctx, &p, &c, ContainerKind::App, 0, &image(), &f.sandbox, &f.volumes)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "CreateContainerError");
    assert_eq!(
        err.to_string(),
        "cannot find volume \"missing\" to mount into container \"app\""
    );

    let mut no_cmd = image();
    no_cmd.config.cmd.clear();
    let p = pod(json!({"name": "app", "image": "scratch"}));
    let c = p.spec.as_ref().unwrap().containers[0].clone();
    let err = build_spec(&f.ctx, &p, &c, ContainerKind::App, 0, &no_cmd, &f.sandbox, &f.volumes)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "CreateContainerError");
}

#[tokio::test]
async fn container_mounts_over_sandbox_files() {
    let f = fixture();
    let p = pod(json!({"name": "app", "image": "busybox",
        "volumeMounts": [{"name": "data", "mountPath": "/etc/hosts", "subPath": "hosts"}]}));
    let c = p.spec.as_ref().unwrap().containers[0].clone();
    let spec = build_spec(&f.ctx, &p, &c, ContainerKind::Init, 0, &image(), &f.sandbox, &f.volumes)
        .await
        .unwrap();
    let hosts: Vec<&Mount> = spec
        .mounts
        .iter()
        .filter(|m| m.container_path == "/etc/hosts")
        .collect();
    assert_eq!(hosts.len(), 1);
    assert!(hosts[0].host_path.ends_with("data/hosts"));
    assert!(spec.termination_message_file.is_none());
}
