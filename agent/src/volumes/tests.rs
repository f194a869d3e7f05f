use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::*;
use crate::containers::source::fake::FakeSource;

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

const NODE: NodeAllocatable = NodeAllocatable {
    cpu_milli: 2000,
    memory: 1 << 30,
    ephemeral_storage: 1 << 40,
};

fn pod(volumes: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "dev", "uid": "uid-1"},
        "spec": {"serviceAccountName": "default", "containers": [{"name": "c"}], "volumes": volumes},
    }))
    .unwrap()
}

fn manager(dir: &Path) -> (Arc<FakeSource>, VolumeManager) {
    let src = Arc::new(FakeSource::default());
    src.add_config_map("dev", "cfg", &[("a", "1"), ("config.json", "{\"x\":1}")]);
    src.add_config_map("dev", "kube-root-ca.crt", &[("ca.crt", "CA")]);
    src.add_secret("dev", "creds", &[("pw", b"s3cret")]);
    let m = VolumeManager::with_source(src.clone(), Arc::new(config(dir)), NODE).memory_backed_secrets(false);
    (src, m)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn sets_up_each_type_and_refreshes() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, m) = manager(tmp.path());
    let host = tmp.path().join("host/dir");
    let p = pod(json!([
        {"name": "scratch", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": host, "type": "DirectoryOrCreate"}},
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "cfg-items", "configMap": {"name": "cfg", "items": [{"key": "config.json", "path": "app/c.json", "mode": 0o400}]}},
        {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o600}},
        {"name": "opt", "secret": {"secretName": "gone", "optional": true}},
        {"name": "info", "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}},
    ]));
    let vols = m.setup(&p).await.unwrap();
    let path = |n: &str| vols.volumes[n].host_path.clone();
    let base = tmp.path().join("pods/uid-1/volumes");
    assert_eq!(path("scratch"), base.join("kubernetes.io~empty-dir/scratch"));
    assert_eq!(mode(&path("scratch")), 0o777);
    assert_eq!(path("host"), host);
    assert!(host.is_dir());
    assert_eq!(path("cfg"), base.join("kubernetes.io~configmap/cfg"));
    assert_eq!(std::fs::read_to_string(path("cfg").join("a")).unwrap(), "1");
    assert_eq!(mode(&path("cfg").join("a")), 0o644);
    assert_eq!(
        std::fs::read_to_string(path("cfg-items").join("app/c.json")).unwrap(),
        "{\"x\":1}"
    );
    assert_eq!(mode(&path("cfg-items").join("app/c.json")), 0o400);
    assert!(!path("cfg-items").join("a").exists());
    assert_eq!(std::fs::read(path("sec").join("pw")).unwrap(), b"s3cret");
    assert_eq!(mode(&path("sec").join("pw")), 0o600);
    assert!(path("opt").join(atomic::DATA_DIR).is_dir());
    assert_eq!(std::fs::read_to_string(path("info").join("name")).unwrap(), "web");
    let sa = path("kube-api-access-abcde");
    assert_eq!(std::fs::read_to_string(sa.join("token")).unwrap(), "token-default-1");
    assert_eq!(std::fs::read_to_string(sa.join("ca.crt")).unwrap(), "CA");
    assert_eq!(std::fs::read_to_string(sa.join("namespace")).unwrap(), "dev");
    assert_eq!(vols.volumes["sec"].kind, VolumeKind::Secret);

    // Idempotent: same files, the token is reused.
    let data_link = std::fs::read_link(path("cfg").join(atomic::DATA_DIR)).unwrap();
    let again = m.setup(&p).await.unwrap();
    assert_eq!(again, vols);
    assert_eq!(
        std::fs::read_link(path("cfg").join(atomic::DATA_DIR)).unwrap(),
        data_link
    );
    assert_eq!(*src.tokens_issued.lock().unwrap(), 1);

    // A changed ConfigMap is picked up on the next setup.
    src.add_config_map("dev", "cfg", &[("a", "2"), ("config.json", "{}")]);
    m.setup(&p).await.unwrap();
    assert_eq!(std::fs::read_to_string(path("cfg").join("a")).unwrap(), "2");
    assert_ne!(
        std::fs::read_link(path("cfg").join(atomic::DATA_DIR)).unwrap(),
        data_link
    );

    m.teardown("uid-1").await.unwrap();
    assert!(!base.exists());
    assert!(host.is_dir(), "hostPath content is never removed");
}

#[tokio::test]
async fn missing_sources_fail_like_kubelet() {
    let tmp = tempfile::tempdir().unwrap();
    let (_src, m) = manager(tmp.path());
    let cases = [
        (
            json!({"name": "v", "configMap": {"name": "gone"}}),
            "configmap \"gone\" not found",
        ),
        (
            json!({"name": "v", "secret": {"secretName": "gone"}}),
            "secret \"gone\" not found",
        ),
        (
            json!({"name": "v", "configMap": {"name": "cfg", "items": [{"key": "nope", "path": "x"}]}}),
            "configmap references non-existent config key: nope",
        ),
        (
            json!({"name": "v", "projected": {"sources": [{"configMap": {"name": "gone"}}, {"secret": {"name": "gone"}}]}}),
            "[configmap \"gone\" not found, secret \"gone\" not found]",
        ),
    ];
    for (vol, want) in cases {
        let err = m.setup(&pod(json!([vol]))).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("MountVolume.SetUp failed for volume \"v\" : {want}")
        );
        assert_eq!(err.reason(), "FailedMount");
    }
    let file = tmp.path().join("f");
    std::fs::write(&file, "").unwrap();
    let err = m
        .setup(&pod(
            json!([{"name": "h", "hostPath": {"path": file, "type": "Directory"}}]),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "MountVolume.SetUp failed for volume \"h\" : hostPath type check failed: {} is not a directory",
            file.display()
        )
    );
}

#[tokio::test]
async fn fs_group_owns_volumes() {
    let tmp = tempfile::tempdir().unwrap();
    let (_src, m) = manager(tmp.path());
    let mut p = pod(
        json!([{"name": "scratch", "emptyDir": {}}, {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}}]),
    );
    p.spec.as_mut().unwrap().security_context = Some(serde_json::from_value(json!({"fsGroup": 2345})).unwrap());
    let vols = m.setup(&p).await.unwrap();
    use std::os::unix::fs::MetadataExt;
    let scratch = &vols.volumes["scratch"].host_path;
    assert_eq!(std::fs::metadata(scratch).unwrap().gid(), 2345);
    assert_eq!(mode(scratch), 0o2777);
    let pw = vols.volumes["sec"].host_path.join("pw");
    assert_eq!(std::fs::metadata(&pw).unwrap().gid(), 2345);
    assert_eq!(mode(&pw), 0o440);
}

#[tokio::test]
async fn tokens_renew_after_80_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, m) = manager(tmp.path());
    let req = TokenRequest {
        namespace: "dev".into(),
        service_account: "default".into(),
        audiences: vec![],
        expiration_seconds: 3600,
        pod_name: "web".into(),
        pod_uid: "uid-1".into(),
    };
    let t1 = m.token(&req).await.unwrap();
    assert_eq!(m.token(&req).await.unwrap(), t1);
    // Pretend the cached token is at 85% of its life.
    let aged = IssuedToken {
        token: t1.token.clone(),
        expires: Timestamp::now().checked_add(SignedDuration::from_secs(540)).unwrap(),
    };
    m.tokens.lock().unwrap().insert(req.clone(), aged);
    let t2 = m.token(&req).await.unwrap();
    assert_ne!(t2.token, t1.token);
    assert_eq!(*src.tokens_issued.lock().unwrap(), 2);
}
