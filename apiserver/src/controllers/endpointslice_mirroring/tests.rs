use super::*;
use crate::controllers::testing::{eventually, TestEnv};

fn endpoints(subsets: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": "db", "namespace": "shop", "uid": "u-1",
                        "labels": {"app": "db"},
                        "annotations": {"note": "kept", LAST_CHANGE_TRIGGER_TIME: "2026-01-01T00:00:00Z",
                                        LAST_APPLIED: "{}"}},
           "subsets": subsets})
}

fn ports() -> Value {
    json!([{"name": "pg", "port": 5432, "protocol": "TCP"}])
}

#[test]
fn a_new_endpoints_gets_one_slice_per_address_type() {
    let e = endpoints(json!([{
        "addresses": [{"ip": "192.168.1.10", "hostname": "db-0", "nodeName": "n1"}, {"ip": "fd00::1"}],
        "notReadyAddresses": [{"ip": "192.168.1.11", "targetRef": {"kind": "Pod", "name": "p"}}],
        "ports": [{"name": "pg", "port": 5432}]}]));
    let p = plan(&e, &[], 100);
    assert!(p.update.is_empty() && p.delete.is_empty());
    assert_eq!(p.create.len(), 2);
    let v4 = &p.create[0];
    assert_eq!(v4["addressType"], "IPv4");
    assert_eq!(v4["metadata"]["generateName"], "db-");
    assert_eq!(v4["metadata"]["namespace"], "shop");
    assert_eq!(
        v4["metadata"]["labels"],
        json!({"app": "db", SERVICE_NAME_LABEL: "db", MANAGED_BY_LABEL: MANAGED_BY})
    );
    assert_eq!(v4["metadata"]["annotations"], json!({"note": "kept"}));
    assert_eq!(
        v4["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Endpoints", "name": "db", "uid": "u-1",
                "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(v4["ports"], ports());
    assert_eq!(
        v4["endpoints"],
        json!([
            {"addresses": ["192.168.1.10"], "conditions": {"ready": true}, "hostname": "db-0", "nodeName": "n1"},
            {"addresses": ["192.168.1.11"], "conditions": {"ready": false}, "targetRef": {"kind": "Pod", "name": "p"}},
        ])
    );
    assert_eq!(p.create[1]["addressType"], "IPv6");
    assert_eq!(
        p.create[1]["endpoints"],
        json!([{"addresses": ["fd00::1"], "conditions": {"ready": true}}])
    );
}

fn existing(name: &str, address_type: &str, ports: Value, eps: Value) -> Arc<Value> {
    Arc::new(json!({
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "7",
                     "labels": {"app": "db", SERVICE_NAME_LABEL: "db", MANAGED_BY_LABEL: MANAGED_BY},
                     "annotations": {"note": "kept"}},
        "addressType": address_type, "ports": ports, "endpoints": eps}))
}

#[test]
fn existing_slices_are_kept_updated_or_deleted() {
    let e = endpoints(json!([{"addresses": [{"ip": "192.168.1.10"}], "ports": [{"name": "pg", "port": 5432}]}]));
    let same = existing(
        "db-a",
        "IPv4",
        ports(),
        json!([{"addresses": ["192.168.1.10"], "conditions": {"ready": true}}]),
    );
    assert_eq!(plan(&e, std::slice::from_ref(&same), 100), Plan::default());

    let old = existing(
        "db-a",
        "IPv4",
        ports(),
        json!([{"addresses": ["192.168.1.9"], "conditions": {"ready": true}}]),
    );
    let p = plan(&e, &[old], 100);
    assert!(p.create.is_empty() && p.delete.is_empty());
    assert_eq!(p.update.len(), 1);
    assert_eq!(p.update[0]["metadata"]["name"], "db-a");
    assert_eq!(p.update[0]["metadata"]["resourceVersion"], "7");
    assert_eq!(p.update[0]["endpoints"][0]["addresses"][0], "192.168.1.10");

    // Other ports: a new slice replaces the old one.
    let other = existing(
        "db-b",
        "IPv4",
        json!([{"name": "pg", "port": 5433, "protocol": "TCP"}]),
        json!([]),
    );
    let p = plan(&e, &[same, other], 100);
    assert!(p.create.is_empty() && p.update.is_empty());
    assert_eq!(p.delete.len(), 1);
    assert_eq!(p.delete[0]["metadata"]["name"], "db-b");
}

#[test]
fn addresses_are_chunked_and_deduplicated() {
    let addresses: Vec<Value> = (0..250)
        .map(|i| json!({"ip": format!("10.0.{}.{}", i / 200, i % 200)}))
        .collect();
    let e = endpoints(json!([
        {"addresses": addresses, "ports": [{"name": "pg", "port": 5432}]},
        // The same address again in another subset with the same ports: once.
        {"addresses": [{"ip": "10.0.0.0"}], "ports": [{"name": "pg", "port": 5432}]},
    ]));
    let p = plan(&e, &[], 100);
    let sizes: Vec<usize> = p
        .create
        .iter()
        .map(|s| s["endpoints"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![100, 100, 50]);
}

#[tokio::test]
async fn selectorless_services_get_mirrored_slices() {
    let env = TestEnv::new().await;
    let c = env.client();
    env.create_namespace("shop").await;
    env.keep(spawn(env.api.clone(), Config::default(), env.shutdown()));
    let (svcs, eps) = (resource("", "services"), resource("", "endpoints"));
    let list = |name: &'static str| {
        let c = c.clone();
        async move {
            let q = format!("labelSelector=kubernetes.io%2Fservice-name%3D{name}");
            c.list(slices(), Some("shop"), &q)
                .await
                .map(|l| l["items"].as_array().cloned().unwrap_or_default())
                .unwrap_or_default()
        }
    };
    c.create(
        svcs,
        Some("shop"),
        &json!({"metadata": {"name": "db"}, "spec": {"ports": [{"name": "pg", "port": 5432}]}}),
    )
    .await
    .unwrap();
    c.create(
        eps,
        Some("shop"),
        &json!({"metadata": {"name": "db"},
                "subsets": [{"addresses": [{"ip": "192.168.1.10"}], "ports": [{"name": "pg", "port": 5432}]}]}),
    )
    .await
    .unwrap();
    eventually("a mirrored slice", || async {
        let l = list("db").await;
        l.len() == 1
            && l[0]["endpoints"] == json!([{"addresses": ["192.168.1.10"], "conditions": {"ready": true}}])
            && l[0]["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY
            && l[0]["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
    })
    .await;

    // Endpoints changes follow.
    let mut e = c.get(eps, Some("shop"), "db").await.unwrap();
    e["subsets"][0]["notReadyAddresses"] = json!([{"ip": "192.168.1.11"}]);
    c.update(eps, Some("shop"), &e).await.unwrap();
    eventually("the not-ready address mirrored", || async {
        let l = list("db").await;
        l.len() == 1 && l[0]["endpoints"][1]["conditions"]["ready"] == false
    })
    .await;

    // A Service with a selector is the EndpointSlice controller's: no mirroring.
    c.create(
        svcs,
        Some("shop"),
        &json!({"metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .await
    .unwrap();
    c.create(
        eps,
        Some("shop"),
        &json!({"metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": "10.42.0.5"}], "ports": [{"port": 80}]}]}),
    )
    .await
    .unwrap();
    // Endpoints that ask not to be mirrored (as the kubernetes Service's do) are not.
    c.create(
        svcs,
        Some("shop"),
        &json!({"metadata": {"name": "api"}, "spec": {"ports": [{"port": 443}]}}),
    )
    .await
    .unwrap();
    c.create(
        eps,
        Some("shop"),
        &json!({"metadata": {"name": "api", "labels": {SKIP_MIRROR_LABEL: "true"}},
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 443}]}]}),
    )
    .await
    .unwrap();
    // Deleting the Endpoints removes its slices.
    c.delete(eps, Some("shop"), "db", &Value::Null).await.unwrap();
    eventually("the mirrored slice gone", || async { list("db").await.is_empty() }).await;
    assert!(list("web").await.is_empty());
    assert!(list("api").await.is_empty());
}
