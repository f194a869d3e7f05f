//! The API server's endpoint reconciler: the `kubernetes` Service in `default`
//! gets an Endpoints and an EndpointSlice naming the address and port pods reach
//! the API on, as kube-apiserver's bootstrap controller writes them (the
//! Endpoints labelled `endpointslice.kubernetes.io/skip-mirror`, the slice named
//! like the Service with only the `kubernetes.io/service-name` label), and put
//! back every [`INTERVAL`] when someone changes them.

use std::net::IpAddr;
use std::time::Duration;

use k1s_proto::resources::find;
use k1s_proto::ApiError;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::warn;

use crate::client::Client;

/// How often the objects are checked (kube-apiserver's `--endpoint-reconciler` interval, 10 s).
pub const INTERVAL: Duration = Duration::from_secs(10);

const NAMESPACE: &str = "default";
const NAME: &str = "kubernetes";

/// The Endpoints' `subsets`: one address, the `https` port.
fn desired_subsets(ip: IpAddr, port: u16) -> Value {
    json!([{
        "addresses": [{"ip": ip.to_string()}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }])
}

fn endpoints_labels() -> Value {
    json!({"endpointslice.kubernetes.io/skip-mirror": "true"})
}

fn slice_labels() -> Value {
    json!({"kubernetes.io/service-name": NAME})
}

fn address_type(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// The EndpointSlice's `endpoints` and `ports`.
fn desired_slice_parts(ip: IpAddr, port: u16) -> (Value, Value) {
    (
        json!([{"addresses": [ip.to_string()], "conditions": {"ready": true}}]),
        json!([{"name": "https", "port": port, "protocol": "TCP"}]),
    )
}

/// The Endpoints as they should be: `current` (if any) with labels and subsets put right.
/// `None` when `current` already is.
pub fn endpoints_update(current: Option<&Value>, ip: IpAddr, port: u16) -> Option<Value> {
    let subsets = desired_subsets(ip, port);
    match current {
        Some(cur) if cur["subsets"] == subsets && cur["metadata"]["labels"] == endpoints_labels() => None,
        Some(cur) => {
            let mut next = cur.clone();
            next["metadata"]["labels"] = endpoints_labels();
            next["subsets"] = subsets;
            Some(next)
        }
        None => Some(json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": endpoints_labels()},
            "subsets": subsets,
        })),
    }
}

/// The EndpointSlice as it should be; `None` when `current` already is.
pub fn slice_update(current: Option<&Value>, ip: IpAddr, port: u16) -> Option<Value> {
    let (endpoints, ports) = desired_slice_parts(ip, port);
    match current {
        Some(cur)
            if cur["endpoints"] == endpoints
                && cur["ports"] == ports
                && cur["metadata"]["labels"] == slice_labels()
                && cur["addressType"] == address_type(ip) =>
        {
            None
        }
        Some(cur) => {
            let mut next = cur.clone();
            next["metadata"]["labels"] = slice_labels();
            next["endpoints"] = endpoints;
            next["ports"] = ports;
            Some(next)
        }
        None => Some(json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": slice_labels()},
            "addressType": address_type(ip),
            "endpoints": endpoints,
            "ports": ports,
        })),
    }
}

/// Reads both objects and makes the writes that put them right.
pub async fn sync(client: &Client, ip: IpAddr, port: u16) -> Result<(), ApiError> {
    let endpoints = find("", "v1", "endpoints").ok_or_else(ApiError::no_route)?;
    let current = optional(client.get(endpoints, Some(NAMESPACE), NAME).await)?;
    if let Some(next) = endpoints_update(current.as_ref(), ip, port) {
        match current {
            Some(_) => client.update(endpoints, Some(NAMESPACE), &next).await?,
            None => client.create(endpoints, Some(NAMESPACE), &next).await?,
        };
    }
    let slices = find("discovery.k8s.io", "v1", "endpointslices").ok_or_else(ApiError::no_route)?;
    let mut current = optional(client.get(slices, Some(NAMESPACE), NAME).await)?;
    // The address type cannot change on update: a slice of the other family goes.
    if current.as_ref().is_some_and(|c| c["addressType"] != address_type(ip)) {
        ignore_not_found(client.delete(slices, Some(NAMESPACE), NAME, &Value::Null).await)?;
        current = None;
    }
    if let Some(next) = slice_update(current.as_ref(), ip, port) {
        match current {
            Some(_) => client.update(slices, Some(NAMESPACE), &next).await?,
            None => client.create(slices, Some(NAMESPACE), &next).await?,
        };
    }
    Ok(())
}

/// Syncs now and every [`INTERVAL`] until `shutdown`; errors (a conflict with
/// another writer, say) are logged and retried on the next round.
pub async fn run(client: Client, ip: IpAddr, port: u16, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = sync(&client, ip, port).await {
            warn!(error = %e, "cannot reconcile the kubernetes Service's endpoints");
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

fn optional(r: Result<Value, ApiError>) -> Result<Option<Value>, ApiError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn ignore_not_found(r: Result<Value, ApiError>) -> Result<(), ApiError> {
    match r {
        Err(e) if !e.is_not_found() => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::TestEnv;

    const IP: &str = "192.168.1.20";

    #[test]
    fn updates_only_what_differs() {
        let ip: IpAddr = IP.parse().unwrap();
        let fresh = endpoints_update(None, ip, 6443).unwrap();
        assert_eq!(
            fresh["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"],
            "true"
        );
        assert_eq!(fresh["subsets"][0]["addresses"][0]["ip"], IP);
        assert_eq!(
            fresh["subsets"][0]["ports"][0],
            json!({"name": "https", "port": 6443, "protocol": "TCP"})
        );
        assert_eq!(endpoints_update(Some(&fresh), ip, 6443), None);
        let moved = endpoints_update(Some(&fresh), ip, 7443).unwrap();
        assert_eq!(moved["subsets"][0]["ports"][0]["port"], 7443);

        let slice = slice_update(None, ip, 6443).unwrap();
        assert_eq!(
            slice["metadata"]["labels"],
            json!({"kubernetes.io/service-name": "kubernetes"})
        );
        assert_eq!(slice["addressType"], "IPv4");
        assert_eq!(
            slice["endpoints"][0],
            json!({"addresses": [IP], "conditions": {"ready": true}})
        );
        assert_eq!(slice_update(Some(&slice), ip, 6443), None);
        let mut tampered = slice.clone();
        tampered["endpoints"] = json!([]);
        assert_eq!(
            slice_update(Some(&tampered), ip, 6443).unwrap()["endpoints"],
            slice["endpoints"]
        );
    }

    #[tokio::test]
    async fn writes_and_restores_the_objects() {
        let env = TestEnv::new().await;
        let client = env.client();
        let ip: IpAddr = IP.parse().unwrap();
        sync(&client, ip, 6443).await.unwrap();
        let endpoints = find("", "v1", "endpoints").unwrap();
        let slices = find("discovery.k8s.io", "v1", "endpointslices").unwrap();
        let ep = client.get(endpoints, Some("default"), "kubernetes").await.unwrap();
        assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], IP);
        let slice = client.get(slices, Some("default"), "kubernetes").await.unwrap();
        assert_eq!(slice["endpoints"][0]["addresses"][0], IP);
        assert_eq!(slice["ports"][0]["port"], 6443);

        // A second round writes nothing.
        let rv = slice["metadata"]["resourceVersion"].clone();
        sync(&client, ip, 6443).await.unwrap();
        let again = client.get(slices, Some("default"), "kubernetes").await.unwrap();
        assert_eq!(again["metadata"]["resourceVersion"], rv);

        // Someone empties the Endpoints: the next round puts the address back.
        let mut ep = ep;
        ep["subsets"] = json!([]);
        client.update(endpoints, Some("default"), &ep).await.unwrap();
        sync(&client, ip, 6443).await.unwrap();
        let ep = client.get(endpoints, Some("default"), "kubernetes").await.unwrap();
        assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], IP);
    }
}
