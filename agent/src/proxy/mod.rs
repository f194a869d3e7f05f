//! The service proxy (k1s's kube-proxy, iptables mode): Services and
//! EndpointSlices become nat/filter rules in kube-proxy's layout under k1s's
//! chain prefix (`K1S-SERVICES`, `K1S-SVC-…`, `K1S-SEP-…`), applied whole with
//! `iptables-restore --noflush`.
//!
//! - [`model`]: Services + EndpointSlices → service ports with their endpoints.
//! - [`names`]: chain names (kube-proxy's hashes).
//! - [`rules`]: the ruleset and the jump rules, as text (pure).
//! - [`iptables`]: back-end choice, restore, jumps.
//! - [`sync`]: the debounced sync loop.
//! - [`sysctl`]: route_localnet on the pod bridge.

pub mod iptables;
pub mod model;
pub mod names;
pub mod rules;
pub mod sync;
pub mod sysctl;

use k1s_apiserver::client::Client;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::AgentConfig;

/// The rule context from the agent's settings.
pub fn rule_context(config: &AgentConfig) -> rules::RuleContext {
    rules::RuleContext {
        chains: names::Chains::new(&config.proxy_chain_prefix),
        cluster_cidr: config.cluster_cidr.clone(),
        pod_cidr: config.pod_cidr.clone(),
        bridge: config.cni_bridge.clone(),
    }
}

/// Runs the service proxy until `shutdown`.
pub async fn run(client: Client, config: &AgentConfig, shutdown: watch::Receiver<bool>) {
    let ipt = match config.iptables_backend {
        Some(backend) => iptables::Iptables { backend },
        None => iptables::Iptables::detect().await,
    };
    info!(backend = ?ipt.backend, prefix = %config.proxy_chain_prefix, "service proxy starting");
    // Chains of an earlier run on the other back end would still see (and could
    // DNAT) every packet with stale endpoints: remove them.
    let other = iptables::Iptables {
        backend: ipt.backend.other(),
    };
    if other
        .holds_owned_chains(&names::Chains::new(&config.proxy_chain_prefix))
        .await
        == Some(true)
    {
        match sync::Proxier::new(other, rule_context(config)).cleanup().await {
            Ok(()) => info!(backend = ?other.backend, "removed the service rules of the other back end"),
            Err(e) => warn!(backend = ?other.backend, "cannot remove the service rules of the other back end: {e:#}"),
        }
    }
    let proxier = sync::Proxier::new(ipt, rule_context(config));
    sync::run(
        client,
        proxier,
        config.node_name.clone(),
        config.cni_bridge.clone(),
        shutdown,
    )
    .await;
}

/// Removes k1s's chains and jump rules from both back ends (`k1s server --cleanup`),
/// whichever `--iptables-backend` says: a failure is an error for the back end it
/// names (nft under auto), a warning for the other (whose tools may be missing).
pub async fn cleanup(config: &AgentConfig) -> anyhow::Result<()> {
    let mut result = Ok(());
    let must = config.iptables_backend.unwrap_or(iptables::Backend::Nft);
    for backend in [iptables::Backend::Nft, iptables::Backend::Legacy] {
        let proxier = sync::Proxier::new(iptables::Iptables { backend }, rule_context(config));
        if let Err(e) = proxier.cleanup().await {
            warn!(?backend, "cannot remove the service rules: {e:#}");
            if backend == must {
                result = Err(e);
            }
        }
    }
    result
}
