//! The network configuration lists k1s runs, and each plugin's stdin config
//! built from a list the way libcni does it (name and version from the list,
//! `prevResult`, `runtimeConfig` from the capabilities a plugin declares).

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The CNI spec version k1s speaks (Debian's plugins support up to 1.0.0).
pub const CNI_VERSION: &str = "1.0.0";
/// The pod network's name (host-local keeps its reservations under `<dataDir>/<name>`).
pub const NETWORK_NAME: &str = "k1s";
/// The loopback network's name (a separate list, as containerd's CRI runs it).
pub const LOOPBACK_NAME: &str = "cni-loopback";
/// The file name of k1s's config list in `<data-dir>/cni/net.d`.
pub const CONFLIST_FILE: &str = "10-k1s.conflist";

/// A CNI network configuration list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfList {
    /// Spec version of the list (and of every plugin run from it).
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// Network name.
    pub name: String,
    /// The plugins, run in order on ADD and in reverse on DEL.
    pub plugins: Vec<Value>,
}

/// What the pod network looks like on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSettings {
    /// The Linux bridge (`k1s0`).
    pub bridge: String,
    /// This node's pod range (`10.42.0.0/24`).
    pub pod_cidr: String,
    /// host-local's data dir.
    pub ipam_dir: std::path::PathBuf,
}

/// The first host address of an IPv4 CIDR (`10.42.0.0/24` → `10.42.0.1`): the
/// bridge's (gateway's) address, which is also where the cluster DNS listens.
pub fn gateway(cidr: &str) -> Option<Ipv4Addr> {
    let (addr, bits) = cidr.split_once('/')?;
    let ip: Ipv4Addr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    if bits > 30 {
        return None;
    }
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    Some(Ipv4Addr::from((u32::from(ip) & mask) + 1))
}

/// The prefix length of a CIDR (`10.42.0.0/24` → 24).
pub fn prefix_len(cidr: &str) -> Option<u8> {
    cidr.split_once('/')?.1.parse().ok().filter(|b| *b <= 32)
}

impl ConfList {
    /// k1s's pod network: `bridge` (gateway, hairpin) with `host-local` IPAM,
    /// then `portmap` for hostPorts. No `ipMasq`: the plugin would add a
    /// masquerade chain per pod (several iptables calls on every ADD and DEL);
    /// the service proxy's one node-wide rule masquerades pod traffic leaving
    /// the cluster network instead.
    pub fn k1s(s: &BridgeSettings) -> anyhow::Result<ConfList> {
        let gw = gateway(&s.pod_cidr).with_context(|| format!("invalid pod CIDR {}", s.pod_cidr))?;
        Ok(ConfList {
            cni_version: CNI_VERSION.into(),
            name: NETWORK_NAME.into(),
            plugins: vec![
                json!({
                    "type": "bridge",
                    "bridge": s.bridge,
                    "isGateway": true,
                    "ipMasq": false,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": s.pod_cidr, "gateway": gw.to_string()}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": s.ipam_dir,
                    }
                }),
                json!({"type": "portmap", "snat": true, "capabilities": {"portMappings": true}}),
            ],
        })
    }

    /// Whether a bridge plugin of the list masquerades (`ipMasq`), so leaves a
    /// per-attachment chain (lists cached by an older k1s do).
    pub fn masquerades(&self) -> bool {
        self.plugins
            .iter()
            .any(|p| p["type"] == "bridge" && p["ipMasq"].as_bool() == Some(true))
    }

    /// The loopback list (`lo` up inside the pod).
    pub fn loopback() -> ConfList {
        ConfList {
            cni_version: CNI_VERSION.into(),
            name: LOOPBACK_NAME.into(),
            plugins: vec![json!({"type": "loopback"})],
        }
    }

    /// Writes the list to `path` (so users can read what the pods get), atomically.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {}", tmp.display()))
    }

    /// The stdin config of plugin `index`: the plugin's own keys plus the list's
    /// `name` and `cniVersion`, `prevResult` when given, and `runtimeConfig` with
    /// the capability arguments the plugin asks for in `capabilities`.
    pub fn plugin_config(
        &self,
        index: usize,
        prev_result: Option<&Value>,
        capability_args: &Map<String, Value>,
    ) -> Value {
        let mut conf = match self.plugins.get(index) {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        conf.insert("name".into(), json!(self.name));
        conf.insert("cniVersion".into(), json!(self.cni_version));
        if let Some(prev) = prev_result {
            conf.insert("prevResult".into(), prev.clone());
        }
        let wanted: Vec<String> = conf
            .get("capabilities")
            .and_then(Value::as_object)
            .map(|caps| {
                caps.iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        let mut runtime = Map::new();
        for cap in wanted {
            if let Some(v) = capability_args.get(&cap) {
                runtime.insert(cap, v.clone());
            }
        }
        if !runtime.is_empty() {
            conf.insert("runtimeConfig".into(), Value::Object(runtime));
        }
        Value::Object(conf)
    }

    /// The plugin type of entry `index`.
    pub fn plugin_type(&self, index: usize) -> Option<&str> {
        self.plugins.get(index)?.get("type")?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BridgeSettings {
        BridgeSettings {
            bridge: "k1s0".into(),
            pod_cidr: "10.42.0.0/24".into(),
            ipam_dir: "/d/cni/networks".into(),
        }
    }

    #[test]
    fn gateways() {
        for (cidr, gw) in [
            ("10.42.0.0/24", Some("10.42.0.1")),
            ("10.42.7.0/24", Some("10.42.7.1")),
            ("10.42.0.77/24", Some("10.42.0.1")),
            ("10.42.0.0/16", Some("10.42.0.1")),
            ("10.42.0.0/31", None),
            ("nonsense", None),
            ("10.42.0.0", None),
        ] {
            assert_eq!(gateway(cidr).map(|g| g.to_string()).as_deref(), gw, "{cidr}");
        }
        assert_eq!(prefix_len("10.42.0.0/24"), Some(24));
        assert_eq!(prefix_len("10.42.0.0/33"), None);
    }

    #[test]
    fn k1s_list_shape() {
        let l = ConfList::k1s(&settings()).unwrap();
        assert_eq!((l.name.as_str(), l.cni_version.as_str()), ("k1s", "1.0.0"));
        let types: Vec<_> = (0..l.plugins.len()).filter_map(|i| l.plugin_type(i)).collect();
        assert_eq!(types, ["bridge", "portmap"]);
        let b = &l.plugins[0];
        assert_eq!(b["bridge"], "k1s0");
        assert_eq!(
            (b["isGateway"].clone(), b["ipMasq"].clone(), b["hairpinMode"].clone()),
            (json!(true), json!(false), json!(true))
        );
        assert!(
            !l.masquerades(),
            "pod egress is masqueraded by the proxy's node-wide rule"
        );
        let mut older = l.clone();
        older.plugins[0]["ipMasq"] = json!(true);
        assert!(older.masquerades());
        assert!(!ConfList::loopback().masquerades());
        assert_eq!(b["ipam"]["type"], "host-local");
        assert_eq!(
            b["ipam"]["ranges"][0][0],
            json!({"subnet": "10.42.0.0/24", "gateway": "10.42.0.1"})
        );
        assert_eq!(b["ipam"]["dataDir"], "/d/cni/networks");
        assert_eq!(l.plugins[1]["capabilities"], json!({"portMappings": true}));
        assert!(ConfList::k1s(&BridgeSettings {
            pod_cidr: "x".into(),
            ..settings()
        })
        .is_err());
    }

    #[test]
    fn plugin_config_injects_name_version_prev_result_and_runtime_config() {
        let l = ConfList::k1s(&settings()).unwrap();
        let mut caps = Map::new();
        caps.insert(
            "portMappings".into(),
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]),
        );
        caps.insert("bandwidth".into(), json!({"ingressRate": 1}));
        let prev = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.42.0.5/24"}]});

        // bridge: no capabilities, no prevResult as the first plugin.
        let c0 = l.plugin_config(0, None, &caps);
        assert_eq!(c0["name"], "k1s");
        assert_eq!(c0["cniVersion"], "1.0.0");
        assert!(c0.get("prevResult").is_none());
        assert!(c0.get("runtimeConfig").is_none());

        // portmap: prevResult passed on, only the capability it declares.
        let c1 = l.plugin_config(1, Some(&prev), &caps);
        assert_eq!(c1["type"], "portmap");
        assert_eq!(c1["prevResult"], prev);
        assert_eq!(
            c1["runtimeConfig"],
            json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
        );

        // No mappings: no runtimeConfig at all.
        let c2 = l.plugin_config(1, Some(&prev), &Map::new());
        assert!(c2.get("runtimeConfig").is_none());
        // Out of range: only the list's keys.
        assert_eq!(
            l.plugin_config(9, None, &Map::new()),
            json!({"name": "k1s", "cniVersion": "1.0.0"})
        );
    }

    #[test]
    fn writes_the_list() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("net.d").join(CONFLIST_FILE);
        let l = ConfList::k1s(&settings()).unwrap();
        l.write(&p).unwrap();
        let back: ConfList = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(back, l);
    }
}
