//! Pod networking behind a small trait: the default implementation calls the
//! standard CNI plugins (loopback + bridge with host-local IPAM) with the CNI
//! protocol; the networking issue can wrap or replace it (portmap, policies…).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// What a network plugin needs to know about the pod.
#[derive(Debug, Clone)]
pub struct NetworkRequest {
    /// The pod UID (used as the CNI container ID).
    pub pod_uid: String,
    /// Pod name.
    pub pod_name: String,
    /// Pod namespace.
    pub pod_namespace: String,
    /// The pod's network namespace file.
    pub netns: PathBuf,
    /// A directory the plugin may keep state in (the pod's sandbox dir).
    pub state_dir: PathBuf,
}

/// Attaches pods to the node's network.
pub trait PodNetwork: Send + Sync {
    /// Sets up the pod's interfaces; returns its IPs. Must be idempotent: a second
    /// call for the same pod returns the same addresses without allocating again.
    fn setup<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<Vec<IpAddr>>>;
    /// Releases the pod's addresses and interfaces (idempotent).
    fn teardown<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// The CNI bridge network: `loopback` for `lo`, then `bridge` + `host-local` for `eth0`.
#[derive(Debug, Clone)]
pub struct CniBridge {
    /// Where the plugin binaries are.
    pub bin_dir: PathBuf,
    /// The Linux bridge name.
    pub bridge: String,
    /// The node's pod CIDR.
    pub pod_cidr: String,
    /// host-local's data dir (`<data-dir>/cni/networks`).
    pub ipam_dir: PathBuf,
}

/// The file the CNI result is kept in, inside the request's state dir.
pub const RESULT_FILE: &str = "cni-result.json";
/// The CNI spec version used.
pub const CNI_VERSION: &str = "1.0.0";

impl CniBridge {
    /// The bridge network's config (sent on stdin to the plugin).
    pub fn bridge_config(&self) -> Value {
        json!({
            "cniVersion": CNI_VERSION,
            "name": "k1s",
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": self.pod_cidr}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": self.ipam_dir,
            }
        })
    }

    fn loopback_config() -> Value {
        json!({"cniVersion": CNI_VERSION, "name": "k1s-lo", "type": "loopback"})
    }
}

/// Runs one CNI plugin command and returns its parsed stdout.
pub async fn invoke(
    bin_dir: &Path,
    command: &str,
    config: &Value,
    req: &NetworkRequest,
    ifname: &str,
) -> anyhow::Result<Value> {
    let plugin = config["type"].as_str().context("CNI config without a type")?;
    let path = bin_dir.join(plugin);
    let args = format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
        req.pod_namespace, req.pod_name, req.pod_uid, req.pod_uid
    );
    let mut child = tokio::process::Command::new(&path)
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &req.pod_uid)
        .env("CNI_NETNS", &req.netns)
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", bin_dir)
        .env("CNI_ARGS", args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run CNI plugin {}", path.display()))?;
    let body = serde_json::to_vec(config)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body).await?;
    }
    let out = child.wait_with_output().await?;
    let parsed: Value = if out.stdout.iter().all(|b| b.is_ascii_whitespace()) {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    if !out.status.success() {
        let msg = parsed["msg"].as_str().unwrap_or("").to_string();
        let details = parsed["details"].as_str().unwrap_or("").to_string();
        anyhow::bail!(
            "CNI plugin {plugin} {command} failed ({}): {msg} {details} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parsed)
}

/// The IPs in a CNI result (`ips[].address`, `10.42.0.5/24` → `10.42.0.5`).
pub fn result_ips(result: &Value) -> Vec<IpAddr> {
    result["ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|ip| ip["address"].as_str())
                .filter_map(|s| s.split('/').next())
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

impl PodNetwork for CniBridge {
    fn setup<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let result_path = req.state_dir.join(RESULT_FILE);
            if let Ok(bytes) = std::fs::read(&result_path) {
                if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                    let ips = result_ips(&v);
                    if !ips.is_empty() {
                        return Ok(ips);
                    }
                }
            }
            std::fs::create_dir_all(&self.ipam_dir)
                .with_context(|| format!("cannot create {}", self.ipam_dir.display()))?;
            invoke(&self.bin_dir, "ADD", &Self::loopback_config(), req, "lo").await?;
            let result = invoke(&self.bin_dir, "ADD", &self.bridge_config(), req, "eth0").await?;
            let ips = result_ips(&result);
            if ips.is_empty() {
                anyhow::bail!("CNI bridge plugin returned no IP address: {result}");
            }
            std::fs::create_dir_all(&req.state_dir)?;
            std::fs::write(&result_path, serde_json::to_vec(&result)?)
                .with_context(|| format!("cannot write {}", result_path.display()))?;
            Ok(ips)
        })
    }

    fn teardown<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let result_path = req.state_dir.join(RESULT_FILE);
            let mut del_req = req.clone();
            if !req.netns.exists() {
                del_req.netns = PathBuf::new();
            }
            invoke(&self.bin_dir, "DEL", &self.bridge_config(), &del_req, "eth0").await?;
            let _ = std::fs::remove_file(&result_path);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result_ips() {
        let v = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.42.0.5/24", "gateway": "10.42.0.1"},
                       {"address": "fd00::5/64"}]});
        assert_eq!(
            result_ips(&v),
            vec![
                "10.42.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse::<IpAddr>().unwrap()
            ]
        );
    }

    #[test]
    fn bridge_config_shape() {
        let b = CniBridge {
            bin_dir: "/usr/lib/cni".into(),
            bridge: "k1s0".into(),
            pod_cidr: "10.42.0.0/24".into(),
            ipam_dir: "/d/cni/networks".into(),
        };
        let c = b.bridge_config();
        assert_eq!(c["type"], "bridge");
        assert_eq!(c["bridge"], "k1s0");
        assert_eq!(c["isGateway"], true);
        assert_eq!(c["ipMasq"], false);
        assert_eq!(c["hairpinMode"], true);
        assert_eq!(c["ipam"]["ranges"][0][0]["subnet"], "10.42.0.0/24");
        assert_eq!(c["ipam"]["dataDir"], "/d/cni/networks");
    }
}
