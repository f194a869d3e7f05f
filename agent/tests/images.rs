//! Images against a real, private containerd (temp root/state/socket) and a
//! real registry (Debian's `docker-registry` on 127.0.0.1).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use k1s_agent::containerd::Containerd;
use k1s_agent::images::store::Store;
use k1s_agent::images::{DockerConfigJson, ImageError, ImageOptions, ImageService, PullPolicy};
use k1s_e2e::registry::Registry;

/// A private containerd, killed on drop.
struct PrivateContainerd {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Unmount anything the snapshotter left mounted before the temp dir goes.
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path())
            .stderr(Stdio::null())
            .status();
    }
}

fn start_containerd() -> PrivateContainerd {
    let dir = tempfile::Builder::new().prefix("k1s-ctd-").tempdir().expect("tempdir");
    let d = dir.path();
    let socket = d.join("c.sock");
    let config = format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{d}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#,
        root = d.join("root").display(),
        state = d.join("state").display(),
        sock = socket.display(),
        d = d.display(),
    );
    std::fs::write(d.join("config.toml"), config).expect("config");
    let log = std::fs::File::create(d.join("containerd.log")).expect("log");
    let child = Command::new("/usr/bin/containerd")
        .arg("--config")
        .arg(d.join("config.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("containerd starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "containerd did not create its socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    PrivateContainerd { child, dir, socket }
}

async fn service(c: &PrivateContainerd) -> (ImageService, Store) {
    let cd = Containerd::connect(&c.socket).await.expect("connect");
    let svc = ImageService::with_options(
        cd.clone(),
        ImageOptions {
            state_dir: Some(c.dir.path().to_path_buf()),
            ..Default::default()
        },
    );
    (svc, Store::new(cd, "overlayfs"))
}

/// Runs containerd's garbage collector now (a lease deleted with sync=true does).
async fn force_gc(store: &Store) {
    let cd = store.containerd();
    let id = store.create_lease().await.expect("lease");
    cd.leases()
        .delete(cd.request(containerd_client::services::v1::DeleteRequest { id, sync: true }))
        .await
        .expect("gc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_busybox_list_and_survive_gc() {
    let archive = k1s_e2e::images::ensure_busybox().expect("busybox archive");
    let ctd = start_containerd();
    let (svc, store) = service(&ctd).await;

    let f = std::fs::File::open(&archive).expect("open");
    let names = svc.import(f, None).await.expect("import");
    assert_eq!(names, ["docker.io/library/busybox:1.36"]);

    force_gc(&store).await;

    let info = svc.get("busybox:1.36").await.expect("get").expect("present");
    assert_eq!(info.name, "docker.io/library/busybox:1.36");
    assert_eq!(info.config.cmd, ["sh"]);
    assert!(info.id.starts_with("sha256:"));
    assert!(info.repo_digests[0].starts_with("docker.io/library/busybox@sha256:"));
    assert!(
        store.snapshot_exists(&info.chain_id).await.expect("stat"),
        "snapshot {} missing after GC",
        info.chain_id
    );
    assert!(
        store.content_info(&info.id).await.expect("info").is_some(),
        "config gone after GC"
    );

    let all = svc.list().await.expect("list");
    assert!(
        all.iter().any(|i| i.name == "docker.io/library/busybox:1.36"),
        "{all:?}"
    );

    // Importing again (from a pipe-like reader) is idempotent.
    let bytes = std::fs::read(&archive).expect("read");
    let names = svc.import(std::io::Cursor::new(bytes), None).await.expect("re-import");
    assert_eq!(names, ["docker.io/library/busybox:1.36"]);

    let e = svc
        .ensure("busybox:1.36", PullPolicy::Never, &[])
        .await
        .expect("present");
    assert!(!e.pulled);
    let err = svc
        .ensure("busybox:0.0", PullPolicy::Never, &[])
        .await
        .expect_err("missing");
    assert!(matches!(err, ImageError::NeverPull { .. }));
    assert_eq!(
        err.to_string(),
        "Container image \"busybox:0.0\" is not present with pull policy of Never"
    );
    let err = svc
        .ensure("Busybox", PullPolicy::Always, &[])
        .await
        .expect_err("invalid");
    assert_eq!(err.reason(), "InvalidImageName");

    // The air-gap folder: imported once, skipped the next time.
    let airgap = ctd.dir.path().join("airgap");
    std::fs::create_dir_all(&airgap).expect("mkdir");
    std::fs::copy(&archive, airgap.join("busybox.tar")).expect("copy");
    assert_eq!(
        svc.import_dir(&airgap).await.expect("import_dir"),
        ["docker.io/library/busybox:1.36"]
    );
    assert!(svc.import_dir(&airgap).await.expect("import_dir").is_empty());

    // An OCI layout archive (what `ctr images export` writes) round-trips.
    let oci_archive = ctd.dir.path().join("busybox-oci.tar");
    let st = Command::new("ctr")
        .arg("-a")
        .arg(&ctd.socket)
        .args(["-n", "k8s.io", "images", "export"])
        .arg(&oci_archive)
        .arg("docker.io/library/busybox:1.36")
        .status()
        .expect("ctr export");
    assert!(st.success());

    assert!(svc.remove("busybox:1.36").await.expect("remove"));
    assert!(svc.get("busybox:1.36").await.expect("get").is_none());
    force_gc(&store).await;

    let f = std::fs::File::open(&oci_archive).expect("open");
    let names = svc.import(f, None).await.expect("import OCI layout");
    assert_eq!(names, ["docker.io/library/busybox:1.36"]);
    force_gc(&store).await;
    let again = svc.get("busybox:1.36").await.expect("get").expect("present");
    assert_eq!(again.id, info.id);
    assert!(store.snapshot_exists(&again.chain_id).await.expect("stat"));
}

fn start_registry(auth: Option<(&str, &str)>) -> Registry {
    Registry::start(auth).expect("docker-registry on 127.0.0.1")
}

fn sha256(data: &[u8]) -> String {
    k1s_agent::images::oci::sha256_digest(data)
}

/// Pushes a one-layer (gzip) image with a `hello` file to the registry.
async fn push_image(port: u16, repo: &str, tag: &str, auth: oci_client::secrets::RegistryAuth) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    tb.append_data(&mut h, "hello", &b"hello"[..]).expect("tar");
    let layer = tb.into_inner().expect("tar");
    let diff_id = sha256(&layer);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).expect("gz");
    let gz = gz.finish().expect("gz");
    let config = format!(
        r#"{{"architecture":"{}","os":"linux","config":{{"Cmd":["/hello"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#,
        k1s_agent::images::oci::this_arch()
    );
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let reference = oci_client::Reference::with_tag(format!("127.0.0.1:{port}"), repo.to_string(), tag.to_string());
    let layers = vec![oci_client::client::ImageLayer::new(
        gz,
        oci_client::manifest::IMAGE_LAYER_GZIP_MEDIA_TYPE.to_string(),
        None,
    )];
    let cfg = oci_client::client::Config::new(
        config.into_bytes(),
        oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE.to_string(),
        None,
    );
    client.push(&reference, &layers, cfg, &auth, None).await.expect("push");
}

fn docker_config(registry: &str, user: &str, pass: &str) -> DockerConfigJson {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let j = format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#);
    let mut data = BTreeMap::new();
    data.insert(".dockerconfigjson".to_string(), j.into_bytes());
    DockerConfigJson::from_secret_data(&data).expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_from_local_registries() {
    let ctd = start_containerd();
    let (svc, store) = service(&ctd).await;

    // Anonymous registry: push, then pull through the service.
    let reg = start_registry(None);
    push_image(
        reg.port,
        "team/hello",
        "v1",
        oci_client::secrets::RegistryAuth::Anonymous,
    )
    .await;
    let name = format!("127.0.0.1:{}/team/hello:v1", reg.port);
    let got = svc.ensure(&name, PullPolicy::IfNotPresent, &[]).await.expect("pull");
    assert!(got.pulled);
    assert!(got.size > 0);
    assert_eq!(got.info.config.cmd, ["/hello"]);
    force_gc(&store).await;
    assert!(store.snapshot_exists(&got.info.chain_id).await.expect("stat"));
    let again = svc.ensure(&name, PullPolicy::IfNotPresent, &[]).await.expect("present");
    assert!(!again.pulled);

    // A missing tag: the registry's reason is kept.
    let missing = format!("127.0.0.1:{}/team/hello:nope", reg.port);
    let err = svc
        .ensure(&missing, PullPolicy::Always, &[])
        .await
        .expect_err("not found");
    assert_eq!(err.reason(), "ErrImagePull");
    assert!(err.to_string().contains("not found"), "{err}");

    // htpasswd registry: unauthorized without credentials, fine with them.
    let sec = start_registry(Some(("alice", "s3cret")));
    push_image(
        sec.port,
        "private/app",
        "v2",
        oci_client::secrets::RegistryAuth::Basic("alice".to_string(), "s3cret".to_string()),
    )
    .await;
    let name = format!("127.0.0.1:{}/private/app:v2", sec.port);
    let err = svc
        .ensure(&name, PullPolicy::Always, &[])
        .await
        .expect_err("unauthorized");
    assert!(err.to_string().contains("401 Unauthorized"), "{err}");
    let wrong = docker_config(&format!("127.0.0.1:{}", sec.port), "alice", "wrong");
    let err = svc
        .ensure(&name, PullPolicy::Always, &[wrong])
        .await
        .expect_err("bad password");
    assert!(err.to_string().contains("401 Unauthorized"), "{err}");
    let good = docker_config(&format!("127.0.0.1:{}", sec.port), "alice", "s3cret");
    let got = svc
        .ensure(&name, PullPolicy::Always, &[good])
        .await
        .expect("pull with auth");
    assert!(got.pulled);
    assert_eq!(got.info.name, name);

    // A closed port: connection refused.
    let err = svc
        .ensure("127.0.0.1:1/none:1", PullPolicy::IfNotPresent, &[])
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("connection refused"), "{err}");
}
