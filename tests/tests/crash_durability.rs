//! End-to-end: `kill -9` the server during concurrent writes from 32 clients;
//! after a restart every write that was acknowledged with a 2xx is present.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k1s_e2e::Server;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::Mutex;

const WRITERS: usize = 32;
/// How long the writers run before the kill (the issue asks for 30 s).
const WRITE_PHASE: Duration = Duration::from_secs(30);

async fn client(server: &Server) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("client config");
    kube::Client::try_from(config).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let mut server = Server::start().expect("server starts");
    let client = client(&server).await;
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let stop_at = Instant::now() + WRITE_PHASE;

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            // Bounded: each writer stops at the deadline or when the server dies.
            while Instant::now() < stop_at + Duration::from_secs(5) && i < 100_000 {
                let name = format!("w{w}-{i}");
                let mut cm = ConfigMap::default();
                cm.metadata.name = Some(name.clone());
                cm.data = Some([("payload".to_string(), "x".repeat(512))].into_iter().collect());
                match api.create(&PostParams::default(), &cm).await {
                    Ok(_) => {
                        acked.lock().await.insert(name);
                    }
                    Err(_) => return,
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep_until(stop_at.into()).await;
    server.kill().expect("kill -9");
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().await.clone();
    assert!(acked.len() > 100, "too few writes acknowledged: {}", acked.len());

    server.launch().expect("restart after kill -9");
    let client = crate::client(&server).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let present: BTreeSet<String> = api
        .list(&ListParams::default())
        .await
        .expect("list after restart")
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    let lost: Vec<&String> = acked.difference(&present).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!("{} acknowledged writes, all present after kill -9", acked.len());
}
