//! Cluster DNS, as CoreDNS with its `kubernetes` plugin serves it in a k3s
//! cluster, run by the agent on the pod bridge's gateway address (port 53,
//! UDP and TCP); pods reach it at `--cluster-dns` through the `kube-dns`
//! Service, whose Endpoints name the gateway.
//!
//! - [`records`]: the snapshot of Services and EndpointSlices, and the pure lookup.
//! - [`server`]: the UDP/TCP server (hickory-server) answering from the snapshot.
//! - [`forward`]: everything outside the cluster goes to `--resolv-conf`'s nameservers.
//! - [`kube_dns`]: the `kube-dns` Service and Endpoints in `kube-system`.
//!
//! Answers come from informer caches (watch-fed); no query makes an API call.

pub mod forward;
pub mod kube_dns;
pub mod records;
pub mod server;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use k1s_apiserver::client::Client;
use k1s_apiserver::controllers::runtime::{Cache, Informer};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::AgentConfig;
use forward::Forwarder;
use records::Snapshot;
use server::{Handler, SharedSnapshot};

/// The cluster DNS port.
pub const DNS_PORT: u16 = 53;

/// The SOA serial for a snapshot built now (seconds since the epoch, as CoreDNS).
fn serial_now() -> u32 {
    let secs = jiff::Timestamp::now().as_second();
    u32::try_from(secs.rem_euclid(i64::from(u32::MAX))).unwrap_or(0)
}

/// Rebuilds the shared snapshot from the caches each time they change.
async fn keep_snapshot(
    zone: String,
    dns_ip: IpAddr,
    services: Cache,
    slices: Cache,
    changed: Arc<Notify>,
    shared: SharedSnapshot,
    mut shutdown: watch::Receiver<bool>,
) {
    // Answer nothing from the cluster before both caches are complete (as CoreDNS
    // waits for its first list), so that pods never cache a false NXDOMAIN.
    tokio::select! {
        _ = async { tokio::join!(services.wait_synced(), slices.wait_synced()) } => {}
        _ = shutdown.wait_for(|s| *s) => return,
    }
    loop {
        let snapshot = Snapshot::build(&zone, Some(dns_ip), &services.list(), &slices.list(), serial_now());
        shared.set(snapshot);
        tokio::select! {
            _ = changed.notified() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        // Coalesce a burst of changes into one rebuild.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Starts the cluster DNS server on `listen` with the Service and EndpointSlice
/// informers feeding it; runs until shutdown. Returns the task and the bound address.
pub fn spawn_server(
    client: Client,
    zone: &str,
    dns_ip: IpAddr,
    listen: SocketAddr,
    forwarder: Forwarder,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(JoinHandle<()>, SocketAddr)> {
    let find = |group: &str, version: &str, plural: &str| {
        k1s_proto::resources::find(group, version, plural)
            .ok_or_else(|| anyhow::anyhow!("the resource table has no {plural}"))
    };
    let changed = Arc::new(Notify::new());
    let (c1, c2) = (changed.clone(), changed.clone());
    let services = Informer::new(client.clone(), find("", "v1", "services")?).on_change(move |_| c1.notify_one());
    let slices =
        Informer::new(client, find("discovery.k8s.io", "v1", "endpointslices")?).on_change(move |_| c2.notify_one());
    let shared = SharedSnapshot::default();
    let (mut server, listen) = server::serve(listen, Handler::new(shared.clone(), forwarder))?;
    info!(%listen, "cluster DNS listening");
    let keeper = tokio::spawn(keep_snapshot(
        zone.to_string(),
        dns_ip,
        services.cache(),
        slices.cache(),
        changed,
        shared,
        shutdown.clone(),
    ));
    let services_task = tokio::spawn(services.run(shutdown.clone()));
    let slices_task = tokio::spawn(slices.run(shutdown.clone()));
    let mut shutdown = shutdown;
    let task = tokio::spawn(async move {
        let _ = shutdown.wait_for(|s| *s).await;
        if let Err(e) = server.shutdown_gracefully().await {
            warn!("cluster DNS stopped: {e}");
        }
        let _ = tokio::join!(keeper, services_task, slices_task);
    });
    Ok((task, listen))
}

/// Starts the node's cluster DNS: the server on the pod gateway and the
/// `kube-dns` Service pointing at it.
pub fn spawn(client: Client, config: &AgentConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<JoinHandle<()>> {
    let gateway = crate::network::conf::gateway(&config.pod_cidr)
        .ok_or_else(|| anyhow::anyhow!("no gateway address in the pod range {}", config.pod_cidr))?;
    let forwarder = match Forwarder::from_resolv_conf(&config.resolv_conf) {
        Ok(f) => f,
        Err(e) => {
            warn!("cluster DNS forwards nothing: {e:#}");
            Forwarder::default()
        }
    };
    info!(upstreams = ?forwarder.upstreams(), "cluster DNS upstream resolvers");
    let listen = SocketAddr::new(IpAddr::V4(gateway), DNS_PORT);
    let (server, _) = spawn_server(
        client.clone(),
        &config.cluster_domain,
        config.cluster_dns,
        listen,
        forwarder,
        shutdown.clone(),
    )?;
    let service = tokio::spawn(kube_dns::keep(
        client,
        config.cluster_dns,
        IpAddr::V4(gateway),
        shutdown,
    ));
    Ok(tokio::spawn(async move {
        let _ = tokio::join!(server, service);
    }))
}
