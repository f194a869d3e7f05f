//! `k1s`: the one binary. It parses flags and wires the other crates together.

mod bench;
mod check;
mod image;
mod kubectl;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use k1s_apiserver::server::{self, ServerOptions};
use k1s_proto::cidr::Ipv4Cidr;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{error, info};

/// Default kubeconfig written by `k1s server` and read by `k1s kubectl`.
pub const DEFAULT_KUBECONFIG: &str = "/etc/k1s/k1s.yaml";

#[derive(Parser)]
#[command(
    name = "k1s",
    version,
    about = "A one-node Kubernetes: API server, controllers and node in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server, the controllers and the node agent.
    Server(ServerArgs),
    /// Run the node agent alone, against a k1s API server elsewhere.
    Agent(AgentArgs),
    /// Run the system kubectl against this k1s (with its admin kubeconfig).
    #[command(disable_help_flag = true)]
    Kubectl {
        /// Arguments passed to kubectl unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure startup, API throughput and latency, and store churn.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Manage images in k1s's containerd (import archives, list, pull, remove).
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Check that this machine has what k1s's node needs (containerd, runc, CNI, cgroups…).
    Check,
    /// (internal) The CRI log writer containerd's shim runs for each container.
    #[command(name = "container-logger", hide = true)]
    ContainerLogger {
        /// The log file (and nothing else: the shim passes the URI's query as arguments).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// (internal) The init process of a pod's shared PID namespace.
    #[command(hide = true)]
    Pause,
    /// Print the admin kubeconfig.
    Kubeconfig {
        /// The kubeconfig file k1s server wrote.
        #[arg(long, default_value = DEFAULT_KUBECONFIG)]
        path: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where the store, certificates and node data live.
    #[arg(long, default_value = "/var/lib/k1s", env = "K1S_DATA_DIR")]
    data_dir: PathBuf,
    /// The address the API listens on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// The HTTPS port of the API.
    #[arg(long, default_value_t = 6443)]
    https_port: u16,
    /// Where to write the admin kubeconfig.
    #[arg(long, default_value = DEFAULT_KUBECONFIG)]
    write_kubeconfig: PathBuf,
    /// Serve the API and controllers only; run no pods.
    #[arg(long)]
    disable_agent: bool,
    /// The controllers to run, as kube-controller-manager's flag: `*` for all,
    /// `name` to enable one, `-name` to disable one (e.g. `*,-replicaset-controller`).
    #[arg(long, default_value = "*")]
    controllers: String,
    /// Do not serve: stop and remove every pod container, pod sandbox, k1s's
    /// containerd and the pod bridge, then exit (before uninstalling).
    #[arg(long)]
    cleanup: bool,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(clap::Args)]
struct AgentArgs {
    /// The API server's URL (default: the kubeconfig's).
    #[arg(long)]
    server: Option<String>,
    /// Credentials and CA for the API server.
    #[arg(long, default_value = DEFAULT_KUBECONFIG)]
    kubeconfig: PathBuf,
    /// Where node data (containerd, pod volumes, images) lives.
    #[arg(long, default_value = "/var/lib/k1s", env = "K1S_DATA_DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
}

/// The node agent's flags (shared by `k1s server` and `k1s agent`).
#[derive(clap::Args)]
struct NodeArgs {
    /// This node's name (default: the host name).
    #[arg(long)]
    node_name: Option<String>,
    /// The address the node is reached at (default: the host's primary address).
    #[arg(long)]
    node_ip: Option<IpAddr>,
    /// Use this containerd socket instead of starting k1s's own containerd.
    #[arg(long)]
    container_runtime_endpoint: Option<PathBuf>,
    /// The kubelet HTTPS port (logs, exec, attach, port-forward).
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
    /// Where container logs are written.
    #[arg(long, default_value = "/var/log/pods")]
    pod_log_dir: PathBuf,
    /// The pod network.
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    /// This node's pod range (default: the first /24 of --cluster-cidr).
    #[arg(long, hide = true)]
    pod_cidr: Option<String>,
    /// The bridge pods attach to.
    #[arg(long, default_value = "k1s0", hide = true)]
    cni_bridge: String,
    /// Where the CNI plugins are.
    #[arg(long, default_value = "/usr/lib/cni")]
    cni_bin_dir: PathBuf,
    /// The Service range ClusterIPs come from (the `kubernetes` Service gets its first address).
    #[arg(long, default_value = k1s_apiserver::registry::allocator::DEFAULT_SERVICE_CIDR)]
    service_cidr: Ipv4Cidr,
    /// The cluster DNS address written into pods' resolv.conf (default: the tenth address of --service-cidr).
    #[arg(long)]
    cluster_dns: Option<IpAddr>,
    /// The cluster domain.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// A registry (host[:port]) reached over plain HTTP; localhost ones always are. Repeatable.
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// The cgroup pods are created under.
    #[arg(long, default_value = "/k1s", hide = true)]
    cgroup_root: String,
    /// The resolver file whose nameservers the cluster DNS forwards to and whose
    /// search domains pods inherit (as the kubelet's flag).
    #[arg(long, default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,
    /// The prefix of the service proxy's iptables chains (`K1S-SERVICES`, `K1S-SVC-…`).
    #[arg(long, default_value = "K1S", hide = true)]
    proxy_chain_prefix: String,
    /// The iptables back end of the service proxy: auto (the one holding more rules, nft on a tie), nft or legacy.
    #[arg(long, default_value = "auto", hide = true, value_parser = ["auto", "nft", "legacy"])]
    iptables_backend: String,
}

impl NodeArgs {
    /// This node's name.
    fn name(&self) -> String {
        self.node_name.clone().unwrap_or_else(host_name)
    }

    /// The cluster DNS address: `--cluster-dns`, else the tenth address of the service range.
    fn cluster_dns(&self) -> IpAddr {
        self.cluster_dns
            .unwrap_or_else(|| IpAddr::V4(k1s_apiserver::registry::allocator::cluster_dns_ip(self.service_cidr)))
    }

    /// The address the `kubernetes` Service's endpoints name: the bind address when it
    /// is a specific, non-loopback one, else the node's address (as kube-apiserver
    /// picks its advertise address).
    fn advertise_address(&self, bind: IpAddr) -> IpAddr {
        if bind.is_unspecified() || bind.is_loopback() {
            self.node_ip.unwrap_or_else(k1s_agent::config::detect_node_ip)
        } else {
            bind
        }
    }

    /// The node agent's settings from these flags.
    fn agent_config(&self, data_dir: &std::path::Path) -> anyhow::Result<k1s_agent::AgentConfig> {
        let pod_cidr = match &self.pod_cidr {
            Some(c) => c.clone(),
            None => k1s_agent::config::first_pod_subnet(&self.cluster_cidr).ok_or_else(|| {
                anyhow::anyhow!(
                    "--cluster-cidr {} is not an IPv4 range of /24 or larger",
                    self.cluster_cidr
                )
            })?,
        };
        let (containerd_socket, manage_containerd) = match &self.container_runtime_endpoint {
            Some(s) => (s.clone(), false),
            None => (data_dir.join("containerd").join("containerd.sock"), true),
        };
        Ok(k1s_agent::AgentConfig {
            node_name: self.name(),
            data_dir: data_dir.to_path_buf(),
            containerd_socket,
            manage_containerd,
            kubelet_port: self.kubelet_port,
            node_ip: self.node_ip.unwrap_or_else(k1s_agent::config::detect_node_ip),
            pod_log_dir: self.pod_log_dir.clone(),
            cluster_dns: self.cluster_dns(),
            cluster_domain: self.cluster_domain.clone(),
            cluster_cidr: self.cluster_cidr.clone(),
            pod_cidr,
            cni_bridge: self.cni_bridge.clone(),
            cni_bin_dir: self.cni_bin_dir.clone(),
            insecure_registries: self.insecure_registries.clone(),
            k1s_binary: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/local/bin/k1s")),
            cgroup_root: self.cgroup_root.clone(),
            resolv_conf: self.resolv_conf.clone(),
            service_cidr: self.service_cidr,
            proxy_chain_prefix: {
                k1s_agent::config::check_chain_prefix(&self.proxy_chain_prefix)?;
                self.proxy_chain_prefix.clone()
            },
            iptables_backend: k1s_agent::config::parse_iptables_backend(&self.iptables_backend)?,
        })
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("K1S_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.to_lowercase())
        .unwrap_or_else(|| "k1s-node".to_string())
}

/// Turns SIGTERM or SIGINT into a shutdown signal.
fn shutdown_on_signals() -> anyhow::Result<watch::Receiver<bool>> {
    let (tx, rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received, shutting down"),
            _ = int.recv() => info!("SIGINT received, shutting down"),
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    if args.cleanup {
        return k1s_agent::cleanup::cleanup(args.node.agent_config(&args.data_dir)?).await;
    }
    let shutdown = shutdown_on_signals()?;
    let node_name = args.node.name();
    let start_node: Option<server::NodeStarter> = if args.disable_agent {
        None
    } else {
        let config = args.node.agent_config(&args.data_dir)?;
        Some(Box::new(move |ctx| {
            tokio::spawn(k1s_agent::run_in_process(ctx, config))
        }))
    };
    let opts = ServerOptions {
        data_dir: args.data_dir,
        bind_address: args.bind_address,
        https_port: args.https_port,
        kubeconfig_path: args.write_kubeconfig,
        node_name,
        start_node,
        controllers: k1s_apiserver::controllers::Selection::parse(&args.controllers)?,
        service_cidr: args.node.service_cidr,
        advertise_address: Some(args.node.advertise_address(args.bind_address)),
    };
    server::run(opts, shutdown).await
}

async fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signals()?;
    let config = args.node.agent_config(&args.data_dir)?;
    let client = k1s_apiserver::client::Client::remote(&args.kubeconfig, args.server.as_deref(), &config.node_name)?;
    k1s_agent::run(client, std::sync::Arc::new(config), shutdown).await;
    Ok(())
}

/// Runs `f` on a multi-threaded runtime with logging, turning errors into exit code 1.
fn run_async<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("k1s: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Kubectl { args } => kubectl::exec(&args),
        Command::ContainerLogger { args } => match k1s_agent::logs::writer::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("k1s container-logger: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Pause => match k1s_agent::runtime::pause::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("k1s pause: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Bench(b) => match bench::run(b) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("k1s bench: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Image(cmd) => match image::run(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("k1s image: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Check => check::run(),
        Command::Kubeconfig { path } => match std::fs::read_to_string(&path) {
            Ok(s) => {
                print!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("k1s: cannot read {}: {e} (has k1s server run?)", path.display());
                ExitCode::FAILURE
            }
        },
        Command::Server(args) => run_async(run_server(args)),
        Command::Agent(args) => run_async(run_agent(args)),
    }
}
