//! `k1s server`: prepares the data dir, certificates and store, creates the
//! built-in objects, writes the admin kubeconfig, starts the controllers and
//! serves HTTPS until told to stop.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::api::{Api, ApiConfig};
use crate::client::Client;
use crate::store::{SledStore, Store};
use crate::{bootstrap, controllers, kubeconfig, serve, tls};

/// What the server hands the node agent when the API is ready.
pub struct NodeContext {
    /// The API, for in-process clients.
    pub api: Arc<Api>,
    /// Turns true when the server stops.
    pub shutdown: watch::Receiver<bool>,
    /// The server's data dir (certificates are in `tls/`).
    pub data_dir: PathBuf,
    /// The HTTPS port of the API.
    pub https_port: u16,
}

/// Starts the node agent (the `k1s` binary passes one; tests of the API alone do not).
pub type NodeStarter = Box<dyn FnOnce(NodeContext) -> tokio::task::JoinHandle<()> + Send>;

/// Flags of `k1s server`.
pub struct ServerOptions {
    /// Where the store, certificates and node data live.
    pub data_dir: PathBuf,
    /// The address to listen on.
    pub bind_address: IpAddr,
    /// The HTTPS port.
    pub https_port: u16,
    /// Where to write the admin kubeconfig.
    pub kubeconfig_path: PathBuf,
    /// This node's name.
    pub node_name: String,
    /// Starts the node agent once the API serves, if any.
    pub start_node: Option<NodeStarter>,
    /// Which controllers run (`--controllers`).
    pub controllers: controllers::Selection,
    /// The Service range (`--service-cidr`).
    pub service_cidr: k1s_proto::cidr::Ipv4Cidr,
    /// The address published in the `kubernetes` Service's endpoints (kube-apiserver's
    /// `--advertise-address`); `None` publishes none.
    pub advertise_address: Option<IpAddr>,
}

/// Checks that `dir` exists (creating it) and is writable.
fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create data dir {}", dir.display()))?;
    let probe = dir.join(".k1s-write-test");
    std::fs::write(&probe, b"ok").with_context(|| format!("data dir {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Binds the HTTPS port, explaining the usual reason when it is taken.
async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            bail!("cannot listen on {addr}: the port is already in use (is another k1s or Kubernetes API server running?)")
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {addr}")),
    }
}

/// Runs the server until `shutdown` turns true.
pub async fn run(mut opts: ServerOptions, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let started = Instant::now();
    prepare_dir(&opts.data_dir)?;
    let listener = bind(SocketAddr::new(opts.bind_address, opts.https_port)).await?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(opts.https_port);

    let kubernetes_ip = crate::registry::allocator::kubernetes_service_ip(opts.service_cidr);
    let mut names = tls::SubjectNames::detect();
    names.ips.insert(IpAddr::V4(kubernetes_ip));
    let pki = tls::load_or_create(&opts.data_dir.join("tls"), &names)?;
    let tls_config = tls::server_config(&pki)?;
    let token_keys = crate::sa_token::TokenKeys::load_or_create(&opts.data_dir.join("tls"))?;

    let store: Arc<SledStore> = SledStore::open(&opts.data_dir.join("db"))
        .with_context(|| format!("cannot open the store in {}", opts.data_dir.join("db").display()))?;
    let compactor = crate::store::spawn_compactor(store.clone());
    let dyn_store: Arc<dyn Store> = store.clone();
    let api = Api::new(
        dyn_store,
        ApiConfig {
            node_name: opts.node_name.clone(),
            service_account_keys: Some(Arc::new(token_keys)),
            root_ca_pem: Some(pki.ca().cert_pem().to_string()),
            service_cidr: Some(opts.service_cidr),
        },
    )
    .map_err(|e| anyhow::anyhow!("cannot start the API: {e}"))?;

    let kubelet_tls = tls::kubelet_client_config(&opts.data_dir.join("tls"))?;
    let _ = api.kubelet_tls.set(kubelet_tls);

    let system = Client::for_controller(api.clone(), "k1s-bootstrap");
    bootstrap::ensure_builtins(&system, port, kubernetes_ip)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the built-in objects: {e}"))?;

    let server_url = format!("https://127.0.0.1:{port}");
    kubeconfig::write(&opts.kubeconfig_path, &kubeconfig::render(&server_url, &pki))
        .with_context(|| format!("cannot write the kubeconfig {}", opts.kubeconfig_path.display()))?;

    let endpoint_reconciler = opts.advertise_address.map(|ip| {
        tokio::spawn(crate::endpoint_reconciler::run(
            system.clone(),
            ip,
            port,
            shutdown.clone(),
        ))
    });
    let controllers = controllers::spawn_all(api.clone(), &opts.controllers, shutdown.clone());
    let node = opts.start_node.take().map(|start| {
        start(NodeContext {
            api: api.clone(),
            shutdown: shutdown.clone(),
            data_dir: opts.data_dir.clone(),
            https_port: port,
        })
    });
    info!(
        address = %SocketAddr::new(opts.bind_address, port),
        kubeconfig = %opts.kubeconfig_path.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "k1s server ready"
    );
    serve::serve_https(api, listener, tls_config, shutdown).await;

    // The node agent stops on the same signal (leaving containers running); give it
    // a moment to finish its writes before the store closes.
    if let Some(node) = node {
        if tokio::time::timeout(std::time::Duration::from_secs(10), node)
            .await
            .is_err()
        {
            tracing::warn!("the node agent did not stop within 10 s");
        }
    }

    // Controllers stop before the store closes, so none writes into a closed store.
    for c in controllers.into_iter().chain(endpoint_reconciler) {
        c.abort();
        let _ = c.await;
    }
    compactor.abort();
    store
        .close()
        .await
        .map_err(|e| anyhow::anyhow!("closing the store: {e}"))?;
    info!("k1s server stopped");
    Ok(())
}
