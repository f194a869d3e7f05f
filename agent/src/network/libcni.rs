//! Running a config list as libcni does: ADD through the plugins in order, each
//! given the previous one's result; CHECK and DEL with the cached result as
//! `prevResult`, DEL in reverse order; the cache written after ADD and removed after DEL.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;
use tracing::debug;

use super::cache::{Cache, CacheEntry};
use super::conf::ConfList;
use super::exec::{exec_plugin, RuntimeConf};

/// The plugin runner: where the plugins are and where results are cached.
#[derive(Debug, Clone)]
pub struct Cni {
    /// Plugin binaries (`/usr/lib/cni`).
    pub bin_dir: PathBuf,
    /// The result cache.
    pub cache: Cache,
}

impl Cni {
    /// ADD: runs every plugin in order, caches and returns the last result.
    pub async fn add_list(&self, list: &ConfList, rt: &RuntimeConf) -> anyhow::Result<Value> {
        let mut prev: Option<Value> = None;
        for i in 0..list.plugins.len() {
            let conf = list.plugin_config(i, prev.as_ref(), &rt.capability_args);
            let out = exec_plugin(&self.bin_dir, "ADD", &conf, rt).await?;
            // A plugin that prints nothing passes the previous result on.
            if !out.is_null() {
                prev = Some(out);
            }
        }
        let result = prev.unwrap_or(Value::Null);
        self.cache
            .save(&CacheEntry::new(list, rt, &result)?)
            .with_context(|| format!("cannot cache the result of network {}", list.name))?;
        Ok(result)
    }

    /// CHECK: every plugin in order with the cached result; an attachment with no
    /// cached result fails.
    pub async fn check_list(&self, list: &ConfList, rt: &RuntimeConf) -> anyhow::Result<()> {
        let cached = self
            .cache
            .load(&list.name, &rt.container_id, &rt.ifname)
            .with_context(|| format!("no cached result for network {} of {}", list.name, rt.container_id))?;
        for i in 0..list.plugins.len() {
            let conf = list.plugin_config(i, Some(&cached.result), &rt.capability_args);
            if let Err(e) = exec_plugin(&self.bin_dir, "CHECK", &conf, rt).await {
                let plugin = list.plugin_type(i).unwrap_or("");
                if known_false_check_failure(plugin, &format!("{e:#}"), &cached.result) {
                    debug!(plugin, "ignoring a known false CHECK failure: {e:#}");
                    continue;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// DEL: every plugin in reverse order with the cached result (if any), then
    /// drops the cache entry. Idempotent.
    pub async fn del_list(&self, list: &ConfList, rt: &RuntimeConf) -> anyhow::Result<()> {
        let cached = self.cache.load(&list.name, &rt.container_id, &rt.ifname);
        let prev = cached.as_ref().map(|c| &c.result).filter(|r| !r.is_null());
        for i in (0..list.plugins.len()).rev() {
            let conf = list.plugin_config(i, prev, &rt.capability_args);
            exec_plugin(&self.bin_dir, "DEL", &conf, rt).await?;
        }
        self.cache.remove(&list.name, &rt.container_id, &rt.ifname)
    }
}

/// A CHECK failure that says nothing about the attachment: portmap before
/// v1.2 checks its IPv4 DNAT chain in ip6tables too, and so fails for every pod
/// without an IPv6 address (containernetworking/plugins#819).
pub fn known_false_check_failure(plugin: &str, error: &str, result: &Value) -> bool {
    let has_v6 = result["ips"].as_array().is_some_and(|ips| {
        ips.iter()
            .any(|ip| ip["address"].as_str().is_some_and(|a| a.contains(':')))
    });
    plugin == "portmap" && error.contains("could not check ipv6 dnat") && !has_v6
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// A fake plugin that logs `<command> <type> <stdin>` and prints a result
    /// naming itself on ADD (so the next plugin's prevResult shows who ran before).
    fn fake(dir: &Path, name: &str) {
        let log = dir.join("calls.log");
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\nconf=$(cat)\necho \"$CNI_COMMAND {name} $conf\" >> {}\n[ \"$CNI_COMMAND\" = ADD ] && printf '{{\"cniVersion\":\"1.0.0\",\"ips\":[{{\"address\":\"10.0.0.%s/24\"}}]}}' \"$(echo {name} | wc -c)\"\nexit 0\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn calls(dir: &Path) -> Vec<(String, String, Value)> {
        std::fs::read_to_string(dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut it = l.splitn(3, ' ');
                let cmd = it.next().unwrap().to_string();
                let name = it.next().unwrap().to_string();
                (cmd, name, serde_json::from_str(it.next().unwrap()).unwrap())
            })
            .collect()
    }

    #[test]
    fn portmap_ipv6_check_bug() {
        let v4 = json!({"ips": [{"address": "10.42.0.5/24"}]});
        let dual = json!({"ips": [{"address": "10.42.0.5/24"}, {"address": "fd00::5/64"}]});
        let msg = "plugin type=\"portmap\" failed (CHECK): could not check ipv6 dnat: chain CNI-DN-x not found";
        for (plugin, error, result, known) in [
            ("portmap", msg, &v4, true),
            ("portmap", msg, &dual, false),
            (
                "portmap",
                "could not check ipv4 dnat: chain CNI-DN-x not found",
                &v4,
                false,
            ),
            ("bridge", msg, &v4, false),
        ] {
            assert_eq!(
                known_false_check_failure(plugin, error, result),
                known,
                "{plugin} {error} {result}"
            );
        }
    }

    #[tokio::test]
    async fn add_chains_prev_results_check_and_del_use_the_cache() {
        let d = tempfile::tempdir().unwrap();
        fake(d.path(), "first");
        fake(d.path(), "second");
        let cni = Cni {
            bin_dir: d.path().into(),
            cache: Cache::new(d.path().join("cache")),
        };
        let list = ConfList {
            cni_version: "1.0.0".into(),
            name: "net".into(),
            plugins: vec![
                json!({"type": "first"}),
                json!({"type": "second", "capabilities": {"portMappings": true}}),
            ],
        };
        let mut rt = RuntimeConf {
            container_id: "c1".into(),
            netns: "/ns".into(),
            ifname: "eth0".into(),
            ..Default::default()
        };
        rt.capability_args
            .insert("portMappings".into(), json!([{"hostPort": 1}]));

        // CHECK before ADD: nothing cached.
        assert!(cni.check_list(&list, &rt).await.is_err());

        let result = cni.add_list(&list, &rt).await.unwrap();
        assert_eq!(result["ips"][0]["address"], "10.0.0.7/24"); // "second\n" is 7 bytes
        let c = calls(d.path());
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].0.as_str(), c[0].1.as_str()), ("ADD", "first"));
        assert!(c[0].2.get("prevResult").is_none());
        assert!(c[0].2.get("runtimeConfig").is_none());
        assert_eq!(c[1].2["prevResult"]["ips"][0]["address"], "10.0.0.6/24");
        assert_eq!(c[1].2["runtimeConfig"]["portMappings"], json!([{"hostPort": 1}]));
        assert_eq!(cni.cache.load("net", "c1", "eth0").unwrap().result, result);

        cni.check_list(&list, &rt).await.unwrap();
        // DEL in reverse with the cached result, then the cache is gone.
        cni.del_list(&list, &rt).await.unwrap();
        let c = calls(d.path());
        let tail: Vec<_> = c[2..].iter().map(|(cmd, n, _)| format!("{cmd} {n}")).collect();
        assert_eq!(tail, ["CHECK first", "CHECK second", "DEL second", "DEL first"]);
        for (_, _, conf) in &c[2..] {
            assert_eq!(conf["prevResult"], result);
        }
        assert!(cni.cache.load("net", "c1", "eth0").is_none());
        // A second DEL still runs (idempotent) without a prevResult.
        cni.del_list(&list, &rt).await.unwrap();
        let c = calls(d.path());
        assert!(c[c.len() - 1].2.get("prevResult").is_none());
    }
}
