//! Running one CNI plugin with the CNI protocol: the command and the container
//! in environment variables, the config on stdin, a result or an error object on stdout.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use super::types::CniError;

/// The container-side facts of one CNI call (libcni's `RuntimeConf`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConf {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS` (empty on a DEL whose namespace is gone).
    pub netns: PathBuf,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS` pairs.
    pub args: Vec<(String, String)>,
    /// Capability arguments, handed to the plugins that declare them (`portMappings`).
    pub capability_args: Map<String, Value>,
}

impl RuntimeConf {
    /// `CNI_ARGS` as `K=V;K=V`.
    pub fn cni_args(&self) -> String {
        self.args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Runs `<bin_dir>/<type>` with `command` (`ADD`, `DEL`, `CHECK`) and `config` on
/// stdin; returns the parsed stdout (`Null` when the plugin printed nothing).
pub async fn exec_plugin(bin_dir: &Path, command: &str, config: &Value, rt: &RuntimeConf) -> anyhow::Result<Value> {
    let plugin = config["type"].as_str().context("CNI config without a type")?;
    let path = bin_dir.join(plugin);
    let mut child = tokio::process::Command::new(&path)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &rt.container_id)
        .env("CNI_NETNS", &rt.netns)
        .env("CNI_IFNAME", &rt.ifname)
        .env("CNI_PATH", bin_dir)
        .env("CNI_ARGS", rt.cni_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run CNI plugin {}", path.display()))?;
    let body = serde_json::to_vec(config)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .await
            .with_context(|| format!("cannot write the config to CNI plugin {plugin}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .with_context(|| format!("CNI plugin {plugin} did not finish"))?;
    if !out.status.success() {
        let err: CniError = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut msg = format!("plugin type=\"{plugin}\" failed ({command}): {}", err.msg);
        if !err.details.is_empty() {
            msg.push_str(&format!(": {}", err.details));
        }
        if err.msg.is_empty() && !stderr.trim().is_empty() {
            msg.push_str(stderr.trim());
        }
        anyhow::bail!(msg);
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "CNI plugin {plugin} {command} printed no JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn rt() -> RuntimeConf {
        RuntimeConf {
            container_id: "c1".into(),
            netns: "/run/ns".into(),
            ifname: "eth0".into(),
            args: vec![
                ("IgnoreUnknown".into(), "1".into()),
                ("K8S_POD_NAME".into(), "p".into()),
            ],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn passes_env_and_stdin_and_parses_the_result() {
        let d = tempfile::tempdir().unwrap();
        // Echo the environment and stdin back as a result.
        script(
            d.path(),
            "echo",
            r#"conf=$(cat); printf '{"cniVersion":"1.0.0","cmd":"%s","id":"%s","ns":"%s","if":"%s","args":"%s","conf":%s}' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$conf""#,
        );
        let conf = json!({"type": "echo", "name": "k1s"});
        let out = exec_plugin(d.path(), "ADD", &conf, &rt()).await.unwrap();
        assert_eq!(out["cmd"], "ADD");
        assert_eq!(out["id"], "c1");
        assert_eq!(out["ns"], "/run/ns");
        assert_eq!(out["if"], "eth0");
        assert_eq!(out["args"], "IgnoreUnknown=1;K8S_POD_NAME=p");
        assert_eq!(out["conf"], conf);
    }

    #[tokio::test]
    async fn empty_output_and_errors() {
        let d = tempfile::tempdir().unwrap();
        script(d.path(), "quiet", "cat >/dev/null");
        script(
            d.path(),
            "fails",
            r#"cat >/dev/null; echo '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"try later"}'; exit 1"#,
        );
        assert_eq!(
            exec_plugin(d.path(), "DEL", &json!({"type": "quiet"}), &rt())
                .await
                .unwrap(),
            Value::Null
        );
        let e = exec_plugin(d.path(), "ADD", &json!({"type": "fails"}), &rt())
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(e, "plugin type=\"fails\" failed (ADD): busy: try later");
        assert!(exec_plugin(d.path(), "ADD", &json!({"type": "missing"}), &rt())
            .await
            .is_err());
        assert!(exec_plugin(d.path(), "ADD", &json!({}), &rt()).await.is_err());
    }
}
