//! `kubectl create token` and using the token as a bearer credential.

use std::time::Duration;

use k1s_e2e::{wait_for, Server};

#[test]
fn kubectl_create_token_and_use_it() {
    let server = Server::start().expect("server starts");
    wait_for("the default ServiceAccount", Duration::from_secs(20), || {
        server
            .kubectl(&["get", "serviceaccount", "default"])
            .status
            .success()
            .then_some(())
    });
    let token = server.kubectl_ok(&["create", "token", "default"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let short = server.kubectl_ok(&["create", "token", "default", "--duration=20m"]);
    assert_eq!(short.trim().split('.').count(), 3);
    let err = server.kubectl_err(&["create", "token", "nobody"]);
    assert!(err.contains("serviceaccounts \"nobody\" not found"), "{err}");

    let server_url = format!("https://127.0.0.1:{}", server.port);
    let as_token = |tok: &str| {
        std::process::Command::new("kubectl")
            .args([
                "--kubeconfig=/dev/null",
                "--server",
                &server_url,
                "--insecure-skip-tls-verify=true",
                "--token",
                tok,
                "get",
                "configmaps",
                "-n",
                "default",
                "-o",
                "name",
            ])
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl runs")
    };
    let out = as_token(&token);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("configmap/kube-root-ca.crt"));
    let bad = as_token("not-a-token");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("Unauthorized"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
