//! Lab L04 — ConfigMaps and Secrets: created from literals, files and
//! manifests; consumed through env (valueFrom, envFrom with prefix) and volumes
//! (items, subPath, modes); mounted files follow edits (subPath ones do not);
//! a missing key keeps the pod in CreateContainerConfigError with an event.

use std::time::Duration;

use k1s_e2e::{wait_for, Server};

const CONFIG: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  APP_MODE: production
  LOG_LEVEL: info
  config.json: |
    {"feature": "blue"}
"#;

const CONFIG_EDITED: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  APP_MODE: production
  LOG_LEVEL: info
  config.json: |
    {"feature": "green"}
"#;

const STRING_DATA: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: api-key
stringData:
  key: plain-text-value
"#;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: consumer
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
    env:
    - name: MODE
      valueFrom: {configMapKeyRef: {name: app-config, key: APP_MODE}}
    - name: DB_USER
      valueFrom: {secretKeyRef: {name: db-secret, key: username}}
    envFrom:
    - prefix: CFG_
      configMapRef: {name: app-config}
    - prefix: SEC_
      secretRef: {name: db-secret}
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret, readOnly: true}
    - {name: config, mountPath: /etc/app.json, subPath: app/config.json}
    - {name: files, mountPath: /etc/files}
  volumes:
  - name: config
    configMap:
      name: app-config
      items:
      - {key: config.json, path: app/config.json}
  - name: secret
    secret:
      secretName: db-secret
      defaultMode: 0400
  - name: files
    configMap: {name: files-cm}
"#;

const BROKEN: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: broken
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sleep", "3600"]
    env:
    - name: MISSING
      valueFrom: {configMapKeyRef: {name: app-config, key: NO_SUCH_KEY}}
"#;

#[test]
fn lab_04_configmaps_and_secrets() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    let dir = tempfile::tempdir().expect("tempdir");

    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(CONFIG));
    server.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "db-secret",
        "--from-literal=username=admin",
        "--from-literal=password=s3cr3t",
    ]);
    let token = dir.path().join("token.txt");
    std::fs::write(&token, "t0k3n").expect("write");
    let from_file = format!("--from-file={}", token.display());
    server.kubectl_ok(&["create", "secret", "generic", "file-secret", &from_file]);
    let settings = dir.path().join("settings.ini");
    std::fs::write(&settings, "[main]\ncolour=red\n").expect("write");
    let from_file = format!("--from-file={}", settings.display());
    server.kubectl_ok(&["create", "configmap", "files-cm", &from_file]);

    // Secrets are shown base64-encoded; stringData is stored as data.
    let yaml = server.kubectl_ok(&["get", "secret", "db-secret", "-o", "yaml"]);
    assert!(yaml.contains("username: YWRtaW4="), "{yaml}");
    let yaml = server.kubectl_ok(&["get", "secret", "file-secret", "-o", "yaml"]);
    assert!(yaml.contains("token.txt: dDBrM24="), "{yaml}");
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(STRING_DATA));
    let key = server.kubectl_ok(&["get", "secret", "api-key", "-o", "jsonpath={.data.key}"]);
    assert_eq!(key, "cGxhaW4tdGV4dC12YWx1ZQ==");

    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(POD));
    server.wait_pod("default", "consumer", "1/1", "Running", Duration::from_secs(30));

    let env = server.kubectl_ok(&["exec", "consumer", "--", "env"]);
    for want in [
        "MODE=production",
        "DB_USER=admin",
        "CFG_APP_MODE=production",
        "CFG_LOG_LEVEL=info",
        "SEC_username=admin",
        "SEC_password=s3cr3t",
    ] {
        assert!(env.lines().any(|l| l == want), "env lacks {want}:\n{env}");
    }

    let exec = |cmd: &str| server.kubectl_ok(&["exec", "consumer", "--", "sh", "-c", cmd]);
    assert_eq!(exec("cat /etc/config/app/config.json").trim(), r#"{"feature": "blue"}"#);
    assert_eq!(exec("cat /etc/app.json").trim(), r#"{"feature": "blue"}"#);
    assert_eq!(exec("cat /etc/secret/password"), "s3cr3t");
    assert_eq!(exec("stat -L -c %a /etc/secret/password").trim(), "400");
    assert_eq!(exec("stat -L -c %a /etc/config/app/config.json").trim(), "644");
    assert!(exec("cat /etc/files/settings.ini").contains("colour=red"));
    // Only the listed item is projected.
    assert!(!exec("ls /etc/config/").contains("APP_MODE"));

    // An edit reaches the mounted file (not the subPath copy) within 90 s.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(CONFIG_EDITED));
    wait_for("the mounted config.json to change", Duration::from_secs(90), || {
        exec("cat /etc/config/app/config.json").contains("green").then_some(())
    });
    assert!(
        exec("cat /etc/app.json").contains("blue"),
        "subPath mounts do not follow edits"
    );

    // A missing key: CreateContainerConfigError, and an event that names it.
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(BROKEN));
    server.wait_pod(
        "default",
        "broken",
        "0/1",
        "CreateContainerConfigError",
        Duration::from_secs(30),
    );
    let describe = server.kubectl_ok(&["describe", "pod", "broken"]);
    assert!(
        describe.contains("couldn't find key NO_SUCH_KEY in ConfigMap default/app-config"),
        "{describe}"
    );
}
