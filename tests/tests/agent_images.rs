//! Images on the node (issue 4): `imagePullPolicy: Never` with a missing image
//! (`ErrImageNeverPull`), a pull from a closed loopback port (`ErrImagePull`,
//! then `ImagePullBackOff` with events saying why), the air-gap folder
//! `<data-dir>/images/`, pulls from Debian's `docker-registry` on 127.0.0.1
//! (anonymous, and htpasswd auth with and without `imagePullSecrets`),
//! `k1s image ls` and the node's `status.images`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k1s_e2e::registry::Registry;
use k1s_e2e::{wait_for, Server};

/// An event of a pod, as `kubectl get events -o json` gives it.
#[derive(Debug, Clone)]
struct Event {
    kind: String,
    reason: String,
    message: String,
    component: String,
    field_path: String,
}

/// The events whose involved object is the pod `name` (oldest first, as listed).
fn pod_events(server: &Server, name: &str) -> Vec<Event> {
    let out = server.kubectl_ok(&["get", "events", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("events json");
    let s = |e: &serde_json::Value, p: &str| e.pointer(p).and_then(|x| x.as_str()).unwrap_or_default().to_string();
    v["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["involvedObject"]["name"] == name && e["involvedObject"]["kind"] == "Pod")
                .map(|e| Event {
                    kind: s(e, "/type"),
                    reason: s(e, "/reason"),
                    message: s(e, "/message"),
                    component: s(e, "/source/component"),
                    field_path: s(e, "/involvedObject/fieldPath"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits for an event of the pod with this reason whose message satisfies `f`.
fn wait_event(server: &Server, pod: &str, reason: &str, f: impl Fn(&str) -> bool) -> Event {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let events = pod_events(server, pod);
        if let Some(e) = events.iter().find(|e| e.reason == reason && f(&e.message)) {
            assert_eq!(e.component, "kubelet", "{e:?}");
            return e.clone();
        }
        if Instant::now() > deadline {
            panic!(
                "no {reason} event as expected for pod {pod}; events: {events:#?}\n{}",
                server.kubectl_ok(&["describe", "pod", pod])
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn waiting(server: &Server, pod: &str) -> (String, String) {
    let out = server.kubectl_ok(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].state.waiting.message}",
    ]);
    let (r, m) = out.split_once('|').unwrap_or((&out, ""));
    (r.to_string(), m.to_string())
}

fn pod_with_image(name: &str, image: &str, extra_container: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 2
{extra_spec}  containers:
  - name: app
    image: {image}
    command: ["sh", "-c", "echo running {name}; trap 'exit 0' TERM; while true; do sleep 1; done"]
{extra_container}"#
    )
}

#[test]
fn never_pull_pull_failures_and_air_gap_folder() {
    let mut server = Server::start_node().expect("server");

    // (a) `Never` and an image that is not there.
    server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        Some(&pod_with_image(
            "never",
            "k1s-e2e/absent:1.0",
            "    imagePullPolicy: Never\n",
            "",
        )),
    );
    server.wait_pod("default", "never", "0/1", "ErrImageNeverPull", Duration::from_secs(60));
    let want = r#"Container image "k1s-e2e/absent:1.0" is not present with pull policy of Never"#;
    let (reason, message) = waiting(&server, "never");
    assert_eq!((reason.as_str(), message.as_str()), ("ErrImageNeverPull", want));
    let e = wait_event(&server, "never", "ErrImageNeverPull", |m| m == want);
    assert_eq!(e.kind, "Warning");
    assert_eq!(e.field_path, "spec.containers{app}");
    wait_event(&server, "never", "Failed", |m| m == "Error: ErrImageNeverPull");
    let describe = server.kubectl_ok(&["describe", "pod", "never"]);
    for want in [
        "ErrImageNeverPull",
        r#"Container image "k1s-e2e/absent:1.0" is not present with pull policy of Never"#,
        "Error: ErrImageNeverPull",
        "kubelet",
    ] {
        assert!(describe.contains(want), "describe lacks {want:?}:\n{describe}");
    }
    assert!(
        !pod_events(&server, "never").iter().any(|e| e.reason == "Pulling"),
        "a Never pod must not pull"
    );

    // (b) A closed loopback port: ErrImagePull, then ImagePullBackOff.
    server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        Some(&pod_with_image("unreachable", "127.0.0.1:1/none:1", "", "")),
    );
    wait_event(&server, "unreachable", "Pulling", |m| {
        m == r#"Pulling image "127.0.0.1:1/none:1""#
    });
    let failed = wait_event(&server, "unreachable", "Failed", |m| {
        m.starts_with(r#"Failed to pull image "127.0.0.1:1/none:1": "#)
    });
    assert_eq!(failed.kind, "Warning");
    assert!(failed.message.contains("connection refused"), "{failed:?}");
    wait_event(&server, "unreachable", "Failed", |m| m == "Error: ErrImagePull");
    let backoff = wait_event(&server, "unreachable", "BackOff", |m| {
        m == r#"Back-off pulling image "127.0.0.1:1/none:1""#
    });
    assert_eq!(backoff.kind, "Normal");
    wait_event(&server, "unreachable", "Failed", |m| m == "Error: ImagePullBackOff");
    server.wait_pod(
        "default",
        "unreachable",
        "0/1",
        "ImagePullBackOff",
        Duration::from_secs(60),
    );
    let (reason, message) = waiting(&server, "unreachable");
    assert_eq!(reason, "ImagePullBackOff");
    assert!(
        message.starts_with(r#"Back-off pulling image "127.0.0.1:1/none:1""#),
        "waiting message: {message}"
    );
    let phase = server.kubectl_ok(&["get", "pod", "unreachable", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Pending");
    let describe = server.kubectl_ok(&["describe", "pod", "unreachable"]);
    for want in [
        "Failed to pull image",
        "connection refused",
        "Back-off pulling image",
        "ImagePullBackOff",
    ] {
        assert!(describe.contains(want), "describe lacks {want:?}:\n{describe}");
    }

    // (e) Air gap: archives in `<data-dir>/images/` are imported at start.
    server.stop().expect("stop the server");
    let images = server.data_dir.join("images");
    std::fs::create_dir_all(&images).expect("create the images folder");
    let busybox = k1s_e2e::images::ensure_busybox().expect("busybox archive");
    std::fs::copy(&busybox, images.join("busybox.tar")).expect("copy the archive");
    server.launch().expect("start again");
    server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        Some(&pod_with_image(
            "air-gapped",
            "busybox:1.36",
            "    imagePullPolicy: Never\n",
            "",
        )),
    );
    server.wait_pod("default", "air-gapped", "1/1", "Running", Duration::from_secs(90));
    wait_event(&server, "air-gapped", "Pulled", |m| {
        m == r#"Container image "busybox:1.36" already present on machine"#
    });
    let ls = k1s_image_ls(&server.data_dir, true);
    assert!(ls.lines().any(|l| l == "docker.io/library/busybox:1.36"), "{ls}");
}

/// `k1s image ls [-q] --data-dir DIR`.
fn k1s_image_ls(data_dir: &Path, quiet: bool) -> String {
    let mut cmd = Command::new(k1s_e2e::k1s_binary());
    cmd.args(["image", "ls", "--data-dir"]).arg(data_dir);
    if quiet {
        cmd.arg("-q");
    }
    let out = cmd.output().expect("run k1s image ls");
    assert!(
        out.status.success(),
        "k1s image ls failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_registry(auth: Option<(&str, &str)>) -> Registry {
    Registry::start(auth).expect("docker-registry on 127.0.0.1")
}

/// The config and the (only) layer of a `docker save` archive.
fn read_docker_save(archive: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut files = std::collections::BTreeMap::new();
    let f = std::fs::File::open(archive).expect("open the archive");
    let mut ar = tar::Archive::new(f);
    for entry in ar.entries().expect("archive entries") {
        let mut entry = entry.expect("archive entry");
        let path = entry.path().expect("entry path").to_string_lossy().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read entry");
        files.insert(path, data);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest.json");
    let config = manifest[0]["Config"].as_str().expect("Config");
    let layers = manifest[0]["Layers"].as_array().expect("Layers");
    assert_eq!(layers.len(), 1, "the test image has one layer");
    let layer = layers[0].as_str().expect("layer path");
    (files[config].clone(), files[layer].clone())
}

/// Pushes the busybox test image to `127.0.0.1:<port>/busybox:1.36` (gzip layer, OCI manifest).
fn push_busybox(port: u16, auth: oci_client::secrets::RegistryAuth) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let archive = k1s_e2e::images::ensure_busybox().expect("busybox archive");
    let (config, layer) = read_docker_save(&archive);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let reference = oci_client::Reference::with_tag(format!("127.0.0.1:{port}"), "busybox".into(), "1.36".into());
    let layers = vec![oci_client::client::ImageLayer::new(
        gz,
        oci_client::manifest::IMAGE_LAYER_GZIP_MEDIA_TYPE.to_string(),
        None,
    )];
    let cfg = oci_client::client::Config::new(config, oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE.to_string(), None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(client.push(&reference, &layers, cfg, &auth, None))
        .expect("push busybox to the registry");
}

#[test]
fn pulls_from_a_local_registry_with_and_without_auth() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");

    // (d) `k1s image ls` and the node's `status.images` list the imported images.
    let table = k1s_image_ls(&server.data_dir, false);
    let header = table.lines().next().unwrap_or_default();
    assert!(header.starts_with("IMAGE") && header.contains("TAG"), "{table}");
    for (repo, tag) in [
        ("docker.io/library/busybox", "1.36"),
        ("docker.io/library/python", "3.11-slim"),
    ] {
        assert!(
            table.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.first() == Some(&repo) && cols.get(1) == Some(&tag)
            }),
            "k1s image ls lacks {repo} {tag}:\n{table}"
        );
    }
    let node_images =
        |s: &Server| s.kubectl_ok(&["get", "node", "e2e-node", "-o", "jsonpath={.status.images[*].names}"]);
    wait_for(
        "status.images to list the imported images",
        Duration::from_secs(60),
        || {
            let names = node_images(&server);
            (names.contains("docker.io/library/busybox:1.36") && names.contains("docker.io/library/python:3.11-slim"))
                .then_some(())
        },
    );

    // (c) Anonymous registry.
    let open = start_registry(None);
    push_busybox(open.port, oci_client::secrets::RegistryAuth::Anonymous);
    let image = format!("127.0.0.1:{}/busybox:1.36", open.port);
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&pod_with_image("pulled", &image, "", "")));
    server.wait_pod("default", "pulled", "1/1", "Running", Duration::from_secs(120));
    wait_event(&server, "pulled", "Pulling", |m| {
        m == format!("Pulling image {image:?}")
    });
    let pulled = wait_event(&server, "pulled", "Pulled", |m| {
        m.starts_with(&format!("Successfully pulled image {image:?} in "))
    });
    assert!(pulled.message.contains("Image size: "), "{pulled:?}");
    let logs = wait_for("the pulled pod's output", Duration::from_secs(30), || {
        let l = server.kubectl_ok(&["logs", "pulled"]);
        l.contains("running pulled").then_some(l)
    });
    assert_eq!(logs.trim(), "running pulled");
    let image_id = server.kubectl_ok(&[
        "get",
        "pod",
        "pulled",
        "-o",
        "jsonpath={.status.containerStatuses[0].imageID}",
    ]);
    assert!(
        image_id.starts_with(&format!("127.0.0.1:{}/busybox@sha256:", open.port)),
        "imageID {image_id:?}"
    );
    let ls = k1s_image_ls(&server.data_dir, true);
    assert!(ls.lines().any(|l| l == image), "k1s image ls -q lacks {image}:\n{ls}");

    // htpasswd registry: without a pull secret the pull is unauthorized…
    let private = start_registry(Some(("alice", "s3cret")));
    push_busybox(
        private.port,
        oci_client::secrets::RegistryAuth::Basic("alice".into(), "s3cret".into()),
    );
    let image = format!("127.0.0.1:{}/busybox:1.36", private.port);
    server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        Some(&pod_with_image("no-secret", &image, "", "")),
    );
    let failed = wait_event(&server, "no-secret", "Failed", |m| {
        m.starts_with(&format!("Failed to pull image {image:?}: "))
    });
    assert!(failed.message.to_lowercase().contains("unauthorized"), "{failed:?}");
    wait_for(
        "no-secret in ErrImagePull or ImagePullBackOff",
        Duration::from_secs(60),
        || {
            server
                .pod_columns("default", "no-secret")
                .filter(|(r, s, _)| r == "0/1" && (s == "ErrImagePull" || s == "ImagePullBackOff"))
        },
    );
    server.kubectl_ok(&["delete", "pod", "no-secret", "--timeout=60s"]);

    // …and with one in `imagePullSecrets` it runs.
    server.kubectl_ok(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server=127.0.0.1:{}", private.port),
        "--docker-username=alice",
        "--docker-password=s3cret",
    ]);
    server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        Some(&pod_with_image(
            "with-secret",
            &image,
            "",
            "  imagePullSecrets: [{name: regcred}]\n",
        )),
    );
    server.wait_pod("default", "with-secret", "1/1", "Running", Duration::from_secs(120));
    wait_event(&server, "with-secret", "Pulled", |m| {
        m.starts_with(&format!("Successfully pulled image {image:?} in "))
    });
}
