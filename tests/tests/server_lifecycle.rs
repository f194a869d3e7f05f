//! End-to-end: `k1s server` start-up and shutdown — health endpoints,
//! anonymous access, clean SIGTERM, clear refusals for a taken port or an
//! unusable data dir, certificates reused across restarts, `k1s kubectl`.

use std::process::Command;

use k1s_e2e::{k1s_binary, Server};

fn run_server(args: &[&str]) -> std::process::Output {
    let out = Command::new(k1s_binary()).arg("server").args(args).output();
    match out {
        Ok(o) => o,
        Err(e) => panic!("cannot run k1s: {e}"),
    }
}

#[test]
fn health_endpoints_and_clean_shutdown() {
    let mut server = Server::start().expect("server starts");
    for path in ["/healthz", "/livez", "/readyz"] {
        let body = server.kubectl_ok(&["get", "--raw", path]);
        assert_eq!(body.trim(), "ok", "{path}");
    }
    let ca_before = std::fs::read(server.data_dir.join("tls/ca.crt")).expect("CA written");
    let status = server.stop().expect("stop");
    assert!(status.success(), "SIGTERM should exit 0, got {status}");
    server.launch().expect("restart");
    let ca_after = std::fs::read(server.data_dir.join("tls/ca.crt")).expect("CA kept");
    assert_eq!(ca_before, ca_after, "the CA is reused across restarts");
    server.kubectl_ok(&["get", "ns", "default"]);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&server.kubeconfig).expect("kubeconfig").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn refuses_a_taken_port_and_an_unusable_data_dir() {
    let server = Server::start().expect("server starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = server.port.to_string();
    let data = dir.path().join("data");
    let kubeconfig = dir.path().join("k.yaml");
    let out = run_server(&[
        "--bind-address",
        "127.0.0.1",
        "--https-port",
        &port,
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--write-kubeconfig",
        kubeconfig.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in use"), "{err}");

    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let out = run_server(&[
        "--bind-address",
        "127.0.0.1",
        "--https-port",
        &k1s_e2e::free_port().to_string(),
        "--data-dir",
        file.to_str().expect("utf-8"),
        "--write-kubeconfig",
        kubeconfig.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data dir") && err.contains("not-a-dir"), "{err}");
}

#[test]
fn k1s_kubectl_uses_the_kubeconfig() {
    let server = Server::start().expect("server starts");
    let out = Command::new(k1s_binary())
        .args(["kubectl", "get", "ns", "kube-system", "-o", "name"])
        .env("KUBECONFIG", &server.kubeconfig)
        .output()
        .expect("k1s kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "namespace/kube-system");
}

#[test]
fn anonymous_requests_are_unauthorized() {
    let server = Server::start().expect("server starts");
    let url = format!("https://127.0.0.1:{}", server.port);
    // No client certificate (curl, not kubectl, which would prompt for a password).
    let anon = |path: &str| {
        let out = Command::new("curl")
            .args([
                "-sk",
                "-o",
                "/dev/stderr",
                "-w",
                "%{http_code}",
                &format!("{url}{path}"),
            ])
            .output()
            .expect("curl");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(anon("/readyz").0, "200");
    assert_eq!(anon("/version").0, "200");
    let (code, body) = anon("/api/v1/namespaces");
    assert_eq!(code, "401", "{body}");
    assert!(body.contains("\"reason\":\"Unauthorized\""), "{body}");
}
