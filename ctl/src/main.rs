//! `k1s`: the one binary. It parses flags and wires the other crates together.

mod bench;
mod kubectl;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use k1s_apiserver::server::{self, ServerOptions};
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
    /// Run the API server (and, later, the node).
    Server(ServerArgs),
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
    /// This node's name (default: the host name).
    #[arg(long)]
    node_name: Option<String>,
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
    let shutdown = shutdown_on_signals()?;
    let opts = ServerOptions {
        data_dir: args.data_dir,
        bind_address: args.bind_address,
        https_port: args.https_port,
        kubeconfig_path: args.write_kubeconfig,
        node_name: args.node_name.unwrap_or_else(host_name),
    };
    server::run(opts, shutdown).await
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Kubectl { args } => kubectl::exec(&args),
        Command::Bench(b) => match bench::run(b) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("k1s bench: {e:#}");
                ExitCode::FAILURE
            }
        },
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
        Command::Server(args) => {
            init_logging();
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("k1s: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run_server(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
