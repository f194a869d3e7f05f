//! The sync loop: informers on Services and EndpointSlices wake it; it rebuilds
//! the model, generates the ruleset and applies it when it changed (at most one
//! apply per [`MIN_SYNC_INTERVAL`], so a burst of changes costs one write), with a
//! full resync (chains re-read, jump rules re-checked) on start and every [`RESYNC_PERIOD`].

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k1s_apiserver::client::Client;
use k1s_apiserver::controllers::runtime::{Cache, Informer};
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

use super::iptables::{owned_chains, Iptables};
use super::model::{self, ServicePort};
use super::rules::{self, Jump, RuleContext};

/// The shortest time between two applies (changes arriving meanwhile are batched).
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(20);
/// How often everything is checked and rewritten even without changes (kube-proxy's `--iptables-sync-period`).
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30);

/// Applies rulesets through one back end, remembering what it wrote.
pub struct Proxier {
    ipt: Iptables,
    ctx: RuleContext,
    jumps: Vec<Jump>,
    /// The chains k1s wrote last (None: unknown, read them from iptables-save).
    written: Option<BTreeSet<(String, String)>>,
    last_text: String,
}

impl Proxier {
    /// A proxier writing through `ipt` with `ctx`'s names and ranges.
    pub fn new(ipt: Iptables, ctx: RuleContext) -> Proxier {
        let jumps = rules::jumps(&ctx.chains);
        Proxier {
            ipt,
            ctx,
            jumps,
            written: None,
            last_text: String::new(),
        }
    }

    /// Applies the rules for `ports`; `full` re-reads the chains and re-checks the
    /// jumps even when nothing changed. Returns whether iptables was written.
    pub async fn sync(&mut self, ports: &[ServicePort], full: bool) -> anyhow::Result<bool> {
        let ruleset = rules::generate(&self.ctx, ports);
        let wanted = ruleset.chain_set();
        let written = match (&self.written, full) {
            (Some(w), false) => w.clone(),
            _ => owned_chains(&self.ipt.save().await?, &self.ctx.chains),
        };
        let stale: BTreeSet<(String, String)> = written.difference(&wanted).cloned().collect();
        let text = ruleset.restore_text(&stale);
        if !full && stale.is_empty() && text == self.last_text {
            return Ok(false);
        }
        self.written = None; // unknown until the restore succeeds
        self.ipt.restore(&text).await?;
        self.written = Some(wanted);
        self.last_text = text;
        if full {
            for j in &self.jumps {
                self.ipt.ensure_jump(j).await?;
            }
        }
        Ok(true)
    }

    /// Removes the jumps and every chain of k1s's prefix (nothing to do, and no
    /// table module loaded, when the loaded tables hold none of its chains: a jump
    /// cannot outlive the chain it targets).
    pub async fn cleanup(&self) -> anyhow::Result<()> {
        if self.ipt.holds_owned_chains(&self.ctx.chains).await == Some(false) {
            return Ok(());
        }
        for j in &self.jumps {
            self.ipt.delete_jump(j).await?;
        }
        let existing = owned_chains(&self.ipt.save().await?, &self.ctx.chains);
        if existing.is_empty() {
            return Ok(());
        }
        // Flush all first (chains may jump to each other), then delete.
        let empty = rules::Ruleset::default();
        self.ipt.restore(&empty.restore_text(&existing)).await
    }
}

/// Runs the proxy until `shutdown`: waits for both caches, then syncs on every change.
pub async fn run(
    client: Client,
    mut proxier: Proxier,
    node: String,
    bridge: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let (Some(svc_info), Some(slice_info)) = (
        k1s_proto::resources::find("", "v1", "services"),
        k1s_proto::resources::find("discovery.k8s.io", "v1", "endpointslices"),
    ) else {
        warn!("the resource table lacks services or endpointslices; no service proxy");
        return;
    };
    let wake = Arc::new(Notify::new());
    let (w1, w2) = (wake.clone(), wake.clone());
    let services = Informer::new(client.clone(), svc_info).on_change(move |_| w1.notify_one());
    let slices = Informer::new(client, slice_info).on_change(move |_| w2.notify_one());
    let (svc_cache, slice_cache) = (services.cache(), slices.cache());
    let tasks = [
        tokio::spawn(services.run(shutdown.clone())),
        tokio::spawn(slices.run(shutdown.clone())),
    ];
    tokio::select! {
        _ = async { svc_cache.wait_synced().await; slice_cache.wait_synced().await } => {}
        _ = shutdown.changed() => { tasks.iter().for_each(|t| t.abort()); return; }
    }

    let mut next_full = Instant::now();
    let mut retry = Duration::from_millis(200);
    loop {
        let full = Instant::now() >= next_full;
        let started = Instant::now();
        super::sysctl::route_localnet(&bridge);
        let ports = model_of(&svc_cache, &slice_cache, &node);
        match proxier.sync(&ports, full).await {
            Ok(wrote) => {
                if full {
                    next_full = Instant::now() + RESYNC_PERIOD;
                }
                if wrote {
                    debug!(
                        ports = ports.len(),
                        full,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "service rules applied"
                    );
                }
                retry = Duration::from_millis(200);
            }
            Err(e) => {
                warn!("cannot apply the service rules (retrying in {retry:?}): {e:#}");
                next_full = Instant::now(); // re-read everything next time
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = shutdown.changed() => break,
                }
                retry = (retry * 2).min(Duration::from_secs(10));
                continue;
            }
        }
        let until_full = next_full.saturating_duration_since(Instant::now());
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(until_full) => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        // Let a burst of changes land in the caches, then apply them together.
        let since = started.elapsed();
        if since < MIN_SYNC_INTERVAL {
            tokio::time::sleep(MIN_SYNC_INTERVAL - since).await;
        }
    }
    // The rules stay in place when k1s stops: open connections and services keep
    // working until the next start takes over (only `--cleanup` removes them).
    info!("service proxy stopped");
    for t in tasks {
        t.abort();
    }
}

fn model_of(services: &Cache, slices: &Cache, node: &str) -> Vec<ServicePort> {
    let services = services.list();
    let slices = slices.list();
    model::build(services.iter().map(|s| &**s), slices.iter().map(|s| &**s), node)
}
