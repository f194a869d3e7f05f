//! The `kube-dns` Service in `kube-system` (labelled as k3s's CoreDNS Service,
//! so labs and tools that look for it find it) at `--cluster-dns`, with
//! Endpoints naming the node's DNS server. The Service has no selector (there
//! is no DNS pod); the EndpointSlice mirroring controller turns the Endpoints
//! into the slice the service proxy routes by.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use k1s_apiserver::client::Client;
use k1s_proto::ResourceInfo;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::{info, warn};

/// The Service's namespace.
pub const NAMESPACE: &str = "kube-system";
/// The Service's name.
pub const NAME: &str = "kube-dns";
/// How often the Service and Endpoints are checked (and put back if removed).
const RECHECK: Duration = Duration::from_secs(30);
/// How soon a failed check is retried.
const RETRY: Duration = Duration::from_secs(2);

fn labels() -> Value {
    json!({"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"})
}

fn ports(with_target: bool) -> Value {
    let port = |name: &str, protocol: &str| {
        let mut p = json!({"name": name, "port": 53, "protocol": protocol});
        if with_target {
            p["targetPort"] = json!(53);
        }
        p
    };
    json!([port("dns", "UDP"), port("dns-tcp", "TCP")])
}

/// The Service as k1s creates it.
pub fn service(cluster_dns: IpAddr) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels()},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_dns.to_string(),
            "clusterIPs": [cluster_dns.to_string()],
            "ports": ports(true),
        }
    })
}

/// The Endpoints' subsets: the DNS server's address and ports.
pub fn subsets(server: IpAddr) -> Value {
    json!([{"addresses": [{"ip": server.to_string()}], "ports": ports(false)}])
}

/// The Endpoints as k1s creates them.
pub fn endpoints(server: IpAddr) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels()},
        "subsets": subsets(server),
    })
}

fn find(plural: &str) -> anyhow::Result<&'static ResourceInfo> {
    k1s_proto::resources::find("", "v1", plural).ok_or_else(|| anyhow::anyhow!("the resource table has no {plural}"))
}

/// Creates the Service, or recreates it when its cluster IP is not `--cluster-dns`.
async fn ensure_service(client: &Client, cluster_dns: IpAddr) -> anyhow::Result<()> {
    let services = find("services")?;
    match client.get(services, Some(NAMESPACE), NAME).await {
        Ok(existing) if existing["spec"]["clusterIP"] == cluster_dns.to_string() => return Ok(()),
        Ok(existing) => {
            // A cluster IP cannot change: replace the Service (a previous run had another --cluster-dns).
            warn!(
                "Service {NAMESPACE}/{NAME} has cluster IP {}, not {cluster_dns}; recreating it",
                existing["spec"]["clusterIP"]
            );
            match client.delete(services, Some(NAMESPACE), NAME, &Value::Null).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e).context("cannot delete the kube-dns Service"),
            }
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e).context("cannot read the kube-dns Service"),
    }
    match client.create(services, Some(NAMESPACE), &service(cluster_dns)).await {
        Ok(_) => {
            info!(ip = %cluster_dns, "Service {NAMESPACE}/{NAME} created");
            Ok(())
        }
        Err(e) if e.is_already_exists() => Ok(()),
        Err(e) => Err(e).context("cannot create the kube-dns Service"),
    }
}

/// Creates the Endpoints, or puts their subsets back to the DNS server's.
async fn ensure_endpoints(client: &Client, server: IpAddr) -> anyhow::Result<()> {
    let info = find("endpoints")?;
    let want = subsets(server);
    match client.get(info, Some(NAMESPACE), NAME).await {
        Ok(existing) if existing["subsets"] == want => Ok(()),
        Ok(mut existing) => {
            existing["subsets"] = want;
            client
                .update(info, Some(NAMESPACE), &existing)
                .await
                .map(|_| ())
                .context("cannot update the kube-dns Endpoints")
        }
        Err(e) if e.is_not_found() => match client.create(info, Some(NAMESPACE), &endpoints(server)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_already_exists() => Ok(()),
            Err(e) => Err(e).context("cannot create the kube-dns Endpoints"),
        },
        Err(e) => Err(e).context("cannot read the kube-dns Endpoints"),
    }
}

/// Keeps the Service and its Endpoints in place until shutdown.
pub async fn keep(client: Client, cluster_dns: IpAddr, server: IpAddr, mut shutdown: watch::Receiver<bool>) {
    loop {
        let result = async {
            ensure_service(&client, cluster_dns).await?;
            ensure_endpoints(&client, server).await
        }
        .await;
        let wait = match result {
            Ok(()) => RECHECK,
            Err(e) => {
                warn!("cluster DNS Service: {e:#}");
                RETRY
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_and_endpoints() {
        let s = service("10.43.0.10".parse().unwrap());
        assert_eq!(s["spec"]["clusterIP"], "10.43.0.10");
        assert!(s["spec"].get("selector").is_none(), "no DNS pod to select");
        assert_eq!(s["metadata"]["labels"]["k8s-app"], "kube-dns");
        assert_eq!(
            s["spec"]["ports"][1],
            json!({"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53})
        );
        let e = endpoints("10.42.0.1".parse().unwrap());
        assert_eq!(e["subsets"][0]["addresses"], json!([{"ip": "10.42.0.1"}]));
        assert_eq!(
            e["subsets"][0]["ports"][0],
            json!({"name": "dns", "port": 53, "protocol": "UDP"})
        );
    }
}
