//! The per-attachment cache libcni keeps (`<cacheDir>/results/<network>-<containerID>-<ifname>`):
//! the config list, arguments and result of a successful ADD, so DEL and CHECK
//! run with what ADD ran with (portmap needs its mappings back to remove its rules).

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::warn;

use super::conf::ConfList;
use super::exec::RuntimeConf;

/// The cache format's kind (as libcni writes it).
pub const CACHE_KIND: &str = "cniCacheV1";

/// One cached attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheEntry {
    /// Always [`CACHE_KIND`].
    pub kind: String,
    /// `CNI_CONTAINERID` of the ADD.
    pub container_id: String,
    /// The config list that was run, base64 of its JSON.
    pub config: String,
    /// `CNI_IFNAME` of the ADD.
    pub if_name: String,
    /// The list's name.
    pub network_name: String,
    /// `CNI_ARGS` pairs.
    #[serde(default)]
    pub cni_args: Vec<(String, String)>,
    /// Capability arguments (`portMappings`).
    #[serde(default)]
    pub capability_args: Map<String, Value>,
    /// The result of the last plugin.
    #[serde(default)]
    pub result: Value,
}

impl CacheEntry {
    /// An entry for a finished ADD.
    pub fn new(list: &ConfList, rt: &RuntimeConf, result: &Value) -> anyhow::Result<CacheEntry> {
        Ok(CacheEntry {
            kind: CACHE_KIND.into(),
            container_id: rt.container_id.clone(),
            config: base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(list)?),
            if_name: rt.ifname.clone(),
            network_name: list.name.clone(),
            cni_args: rt.args.clone(),
            capability_args: rt.capability_args.clone(),
            result: result.clone(),
        })
    }

    /// The cached config list.
    pub fn conf_list(&self) -> anyhow::Result<ConfList> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.config)
            .context("cached CNI config is not base64")?;
        serde_json::from_slice(&bytes).context("cached CNI config is not a config list")
    }

    /// The runtime config the ADD ran with, for `netns`.
    pub fn runtime_conf(&self, netns: &Path) -> RuntimeConf {
        RuntimeConf {
            container_id: self.container_id.clone(),
            netns: netns.to_path_buf(),
            ifname: self.if_name.clone(),
            args: self.cni_args.clone(),
            capability_args: self.capability_args.clone(),
        }
    }
}

/// The cache directory (`<data-dir>/cni/cache`).
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache rooted at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// The cache root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, network: &str, container_id: &str, ifname: &str) -> PathBuf {
        self.dir
            .join("results")
            .join(format!("{network}-{container_id}-{ifname}"))
    }

    /// Stores an entry (atomically).
    pub fn save(&self, e: &CacheEntry) -> anyhow::Result<()> {
        let path = self.path(&e.network_name, &e.container_id, &e.if_name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(e)?).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot rename {}", tmp.display()))
    }

    /// The entry of one attachment, if cached and readable.
    pub fn load(&self, network: &str, container_id: &str, ifname: &str) -> Option<CacheEntry> {
        let path = self.path(network, container_id, ifname);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<CacheEntry>(&bytes) {
            Ok(e) if e.kind == CACHE_KIND => Some(e),
            Ok(e) => {
                warn!(path = %path.display(), kind = e.kind, "unknown CNI cache kind");
                None
            }
            Err(err) => {
                warn!(path = %path.display(), "unreadable CNI cache entry: {err}");
                None
            }
        }
    }

    /// Removes an attachment's entry (idempotent).
    pub fn remove(&self, network: &str, container_id: &str, ifname: &str) -> anyhow::Result<()> {
        let path = self.path(network, container_id, ifname);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Every readable entry.
    pub fn list(&self) -> Vec<CacheEntry> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("results")) else {
            return Vec::new();
        };
        let mut out: Vec<CacheEntry> = entries
            .flatten()
            .filter(|e| e.path().extension().is_none_or(|x| x != "tmp"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<CacheEntry>(&b).ok())
            .filter(|e| e.kind == CACHE_KIND)
            .collect();
        out.sort_by(|a, b| (&a.container_id, &a.network_name).cmp(&(&b.container_id, &b.network_name)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_list_and_remove() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::new(d.path());
        let list = ConfList::loopback();
        let mut caps = Map::new();
        caps.insert(
            "portMappings".into(),
            json!([{"hostPort": 1, "containerPort": 2, "protocol": "tcp"}]),
        );
        let rt = RuntimeConf {
            container_id: "uid-1".into(),
            netns: "/ns".into(),
            ifname: "lo".into(),
            args: vec![("K8S_POD_NAME".into(), "p".into())],
            capability_args: caps,
        };
        let e = CacheEntry::new(&list, &rt, &json!({"cniVersion": "1.0.0"})).unwrap();
        cache.save(&e).unwrap();
        assert!(d.path().join("results").join("cni-loopback-uid-1-lo").is_file());
        let back = cache.load("cni-loopback", "uid-1", "lo").unwrap();
        assert_eq!(back, e);
        assert_eq!(back.conf_list().unwrap(), list);
        assert_eq!(back.runtime_conf(Path::new("/ns")), rt);
        // The on-disk keys are libcni's.
        let raw: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("results/cni-loopback-uid-1-lo")).unwrap()).unwrap();
        for k in [
            "kind",
            "containerId",
            "config",
            "ifName",
            "networkName",
            "cniArgs",
            "capabilityArgs",
            "result",
        ] {
            assert!(raw.get(k).is_some(), "{k}");
        }
        assert_eq!(cache.list(), vec![e]);
        cache.remove("cni-loopback", "uid-1", "lo").unwrap();
        cache.remove("cni-loopback", "uid-1", "lo").unwrap();
        assert!(cache.load("cni-loopback", "uid-1", "lo").is_none());
        assert!(cache.list().is_empty());
    }
}
