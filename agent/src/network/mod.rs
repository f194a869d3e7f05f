//! The pod network on the standard CNI plugins, run the way the kubelet's
//! runtime and libcni run them:
//! - [`conf`]: k1s's config list (bridge + host-local, portmap) and per-plugin configs;
//! - [`exec`]: one plugin call with the CNI protocol;
//! - [`libcni`]: ADD/CHECK/DEL of a list with `prevResult` and the result [`cache`];
//! - [`ports`]: a pod's `hostPort`s as portmap's `portMappings`;
//! - [`ipam_gc`]: host-local reservations and which are stale;
//! - [`masq`]: the bridge plugin's masquerade rules (attachments an older k1s
//!   made with `ipMasq`) when it cannot remove them;
//! - [`node`]: forwarding sysctls, br_netfilter and the bridge at start.

pub mod cache;
pub mod conf;
pub mod exec;
pub mod ipam_gc;
pub mod libcni;
pub mod masq;
pub mod node;
pub mod ports;
pub mod types;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Map};
use tracing::{info, warn};

use crate::config::AgentConfig;
use cache::Cache;
use conf::{BridgeSettings, ConfList, CONFLIST_FILE};
use exec::RuntimeConf;
use libcni::Cni;
pub use ports::{port_mappings, PortMapping};
use types::CniResult;

/// The pod's interface name.
pub const POD_IFNAME: &str = "eth0";
/// The loopback interface name.
pub const LO_IFNAME: &str = "lo";

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
    /// The pod's `hostPort`s (set up and checked; teardown uses what setup cached).
    pub port_mappings: Vec<PortMapping>,
}

/// Attaches pods to the node's network.
pub trait PodNetwork: Send + Sync {
    /// Sets up the pod's interfaces in its (new) network namespace; returns its IPs.
    fn setup<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<Vec<IpAddr>>>;
    /// Checks the network of a sandbox that survived an agent restart; when the
    /// check fails the network is set up again (keeping the pod's address if it
    /// is still free). Returns the pod's IPs.
    fn adopt<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<Vec<IpAddr>>>;
    /// Releases the pod's addresses, interfaces and port mappings (idempotent).
    fn teardown<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// The CNI network of k1s: `loopback` for `lo`, then the `k1s` list for `eth0`.
#[derive(Debug, Clone)]
pub struct CniNetwork {
    cni: Cni,
    list: ConfList,
    loopback: ConfList,
    ipam_dir: PathBuf,
    conflist_path: PathBuf,
    bridge: String,
    pod_cidr: String,
}

impl CniNetwork {
    /// The network of this node's config; state under `<data-dir>/cni/`
    /// (`net.d/`, `cache/`, `networks/` for host-local).
    pub fn from_config(config: &AgentConfig) -> anyhow::Result<CniNetwork> {
        let base = config.data_dir.join("cni");
        let ipam_dir = base.join("networks");
        let list = ConfList::k1s(&BridgeSettings {
            bridge: config.cni_bridge.clone(),
            pod_cidr: config.pod_cidr.clone(),
            ipam_dir: ipam_dir.clone(),
        })?;
        Ok(CniNetwork {
            cni: Cni {
                bin_dir: config.cni_bin_dir.clone(),
                cache: Cache::new(base.join("cache")),
            },
            list,
            loopback: ConfList::loopback(),
            ipam_dir,
            conflist_path: base.join("net.d").join(CONFLIST_FILE),
            bridge: config.cni_bridge.clone(),
            pod_cidr: config.pod_cidr.clone(),
        })
    }

    /// The config list pods are attached with.
    pub fn conf_list(&self) -> &ConfList {
        &self.list
    }

    /// Where the config list is written.
    pub fn conflist_path(&self) -> &std::path::Path {
        &self.conflist_path
    }

    /// host-local's data dir.
    pub fn ipam_dir(&self) -> &std::path::Path {
        &self.ipam_dir
    }

    /// At agent start: node sysctls and bridge, and the config list written out.
    pub async fn prepare_node(&self) {
        node::setup(&self.bridge, &self.pod_cidr).await;
        if let Err(e) = self.list.write(&self.conflist_path) {
            warn!("pod network: {e:#}");
        }
    }

    fn runtime_conf(&self, req: &NetworkRequest, ifname: &str, extra: &[(&str, String)]) -> RuntimeConf {
        let mut args = vec![
            ("IgnoreUnknown".to_string(), "1".to_string()),
            ("K8S_POD_NAMESPACE".to_string(), req.pod_namespace.clone()),
            ("K8S_POD_NAME".to_string(), req.pod_name.clone()),
            ("K8S_POD_INFRA_CONTAINER_ID".to_string(), req.pod_uid.clone()),
            ("K8S_POD_UID".to_string(), req.pod_uid.clone()),
        ];
        args.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let mut capability_args = Map::new();
        if ifname == POD_IFNAME && !req.port_mappings.is_empty() {
            capability_args.insert("portMappings".into(), json!(req.port_mappings));
        }
        RuntimeConf {
            container_id: req.pod_uid.clone(),
            netns: req.netns.clone(),
            ifname: ifname.to_string(),
            args,
            capability_args,
        }
    }

    /// DEL of one attachment with what its ADD cached (else the current list).
    /// `ips`: addresses known to be the attachment's besides the cached ones.
    async fn del_attachment(
        &self,
        list: &ConfList,
        container_id: &str,
        ifname: &str,
        netns: PathBuf,
        ips: &[IpAddr],
    ) -> anyhow::Result<()> {
        let cached = self.cni.cache.load(&list.name, container_id, ifname);
        // Only attachments made with ipMasq (by an older k1s) have masquerade
        // rules; without a cache entry there is no telling.
        let may_masquerade = cached
            .as_ref()
            .and_then(|c| c.conf_list().ok())
            .is_none_or(|l| l.masquerades());
        if netns.as_os_str().is_empty() && list.name == self.list.name && may_masquerade {
            // Without the namespace the bridge plugin cannot find the pod's
            // addresses, and leaves its masquerade rules behind.
            let mut all: Vec<IpAddr> = cached
                .as_ref()
                .and_then(|c| serde_json::from_value::<CniResult>(c.result.clone()).ok())
                .map(|r| r.ip_addrs())
                .unwrap_or_default();
            all.extend_from_slice(ips);
            masq::teardown(&list.name, container_id, &all).await;
        }
        let (list, rt) = match &cached {
            Some(c) => (c.conf_list().unwrap_or_else(|_| list.clone()), c.runtime_conf(&netns)),
            None => (
                list.clone(),
                RuntimeConf {
                    container_id: container_id.to_string(),
                    netns,
                    ifname: ifname.to_string(),
                    args: vec![("IgnoreUnknown".into(), "1".into())],
                    capability_args: Map::new(),
                },
            ),
        };
        self.cni.del_list(&list, &rt).await
    }

    async fn add(&self, req: &NetworkRequest, want_ip: Option<IpAddr>) -> anyhow::Result<Vec<IpAddr>> {
        std::fs::create_dir_all(&self.ipam_dir)
            .with_context(|| format!("cannot create {}", self.ipam_dir.display()))?;
        let lo = self.runtime_conf(req, LO_IFNAME, &[]);
        self.cni.add_list(&self.loopback, &lo).await?;
        let extra: Vec<(&str, String)> = want_ip.iter().map(|ip| ("IP", ip.to_string())).collect();
        let rt = self.runtime_conf(req, POD_IFNAME, &extra);
        let result = self.cni.add_list(&self.list, &rt).await?;
        let parsed: CniResult =
            serde_json::from_value(result.clone()).with_context(|| format!("unreadable CNI result: {result}"))?;
        let ips = parsed.ip_addrs();
        if ips.is_empty() {
            anyhow::bail!("the CNI network {} returned no IP address: {result}", self.list.name);
        }
        Ok(ips)
    }

    async fn check(&self, req: &NetworkRequest) -> anyhow::Result<Vec<IpAddr>> {
        let lo = self.runtime_conf(req, LO_IFNAME, &[]);
        self.cni.check_list(&self.loopback, &lo).await?;
        let rt = self.runtime_conf(req, POD_IFNAME, &[]);
        self.cni.check_list(&self.list, &rt).await?;
        let cached = self
            .cni
            .cache
            .load(&self.list.name, &req.pod_uid, POD_IFNAME)
            .context("no cached result")?;
        let parsed: CniResult = serde_json::from_value(cached.result)?;
        Ok(parsed.ip_addrs())
    }

    async fn del(&self, req: &NetworkRequest) -> anyhow::Result<()> {
        let netns = if req.netns.exists() {
            req.netns.clone()
        } else {
            PathBuf::new()
        };
        let eth = self
            .del_attachment(&self.list, &req.pod_uid, POD_IFNAME, netns.clone(), &[])
            .await;
        let lo = self
            .del_attachment(&self.loopback, &req.pod_uid, LO_IFNAME, netns, &[])
            .await;
        eth.and(lo)
    }

    /// Releases what containers not in `live` (pod UIDs with a sandbox) still hold:
    /// cached attachments (DEL with their cached config: addresses, portmap and
    /// masquerade rules) and host-local reservations. Returns the addresses released.
    pub async fn garbage_collect(&self, live: &HashSet<String>) -> Vec<IpAddr> {
        for entry in self.cni.cache.list() {
            if live.contains(&entry.container_id) {
                continue;
            }
            let list = if entry.network_name == self.loopback.name {
                &self.loopback
            } else {
                &self.list
            };
            if let Err(e) = self
                .del_attachment(list, &entry.container_id, &entry.if_name, PathBuf::new(), &[])
                .await
            {
                warn!(
                    container = entry.container_id,
                    network = entry.network_name,
                    "releasing a stale attachment: {e:#}"
                );
            }
        }
        let reservations = ipam_gc::reservations(&self.ipam_dir, &self.list.name);
        let mut released = Vec::new();
        for r in ipam_gc::stale(&reservations, live) {
            let ifname = r.ifname.as_deref().unwrap_or(POD_IFNAME);
            if let Err(e) = self
                .del_attachment(&self.list, &r.container_id, ifname, PathBuf::new(), &[r.ip])
                .await
            {
                warn!(ip = %r.ip, container = r.container_id, "host-local release: {e:#}");
            }
            if r.path.exists() {
                // host-local did not release it (an owner it does not match): drop the file.
                if let Err(e) = std::fs::remove_file(&r.path) {
                    warn!(ip = %r.ip, "cannot remove {}: {e}", r.path.display());
                    continue;
                }
            }
            info!(ip = %r.ip, container = r.container_id, "released the address of a pod that is gone");
            released.push(r.ip);
        }
        released
    }

    /// `--cleanup`: releases every attachment still cached or reserved, then
    /// removes k1s's CNI cache and its host-local network dir.
    pub async fn cleanup(&self) {
        let released = self.garbage_collect(&HashSet::new()).await;
        if !released.is_empty() {
            info!(count = released.len(), "pod addresses released");
        }
        for dir in [self.cni.cache.dir().to_path_buf(), self.ipam_dir.join(&self.list.name)] {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!("cannot remove {}: {e}", dir.display());
                }
            }
        }
    }
}

impl PodNetwork for CniNetwork {
    fn setup<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            if self.cni.cache.load(&self.list.name, &req.pod_uid, POD_IFNAME).is_some() {
                // An earlier attachment of this pod was never torn down.
                self.del(req).await?;
            }
            self.add(req, None).await
        })
    }

    fn adopt<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let err = match self.check(req).await {
                Ok(ips) if !ips.is_empty() => return Ok(ips),
                Ok(_) => anyhow::anyhow!("no address cached"),
                Err(e) => e,
            };
            let cached = self.cni.cache.load(&self.list.name, &req.pod_uid, POD_IFNAME);
            let may_masquerade = cached
                .as_ref()
                .and_then(|c| c.conf_list().ok())
                .is_none_or(|l| l.masquerades());
            let old = cached
                .and_then(|c| serde_json::from_value::<CniResult>(c.result).ok())
                .and_then(|r| r.ip_addrs().into_iter().next());
            warn!(
                pod = format!("{}/{}", req.pod_namespace, req.pod_name),
                "network check failed, setting the pod network up again: {err:#}"
            );
            self.del(req).await?;
            if may_masquerade {
                // A pod whose interface is gone keeps its masquerade rules through DEL.
                masq::teardown(&self.list.name, &req.pod_uid, &old.into_iter().collect::<Vec<_>>()).await;
            }
            match self.add(req, old).await {
                Ok(ips) => Ok(ips),
                Err(e) if old.is_some() => {
                    warn!("address {old:?} not available again ({e:#}); taking a new one");
                    let _ = self.del(req).await;
                    self.add(req, None).await
                }
                Err(e) => Err(e),
            }
        })
    }

    fn teardown<'a>(&'a self, req: &'a NetworkRequest) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(self.del(req))
    }
}
