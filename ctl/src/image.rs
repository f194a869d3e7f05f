//! `k1s image import|ls|pull|rm`: images in k1s's containerd (the `k8s.io`
//! namespace), talking to its socket directly.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use k1s_agent::containerd::Containerd;
use k1s_agent::images::{DockerConfigJson, ImageInfo, ImageOptions, ImageService, Progress, ProgressFn};

/// Where containerd is.
#[derive(Args, Clone)]
pub struct Endpoint {
    /// The k1s data dir (its containerd socket is `<data-dir>/containerd/containerd.sock`).
    #[arg(long, default_value = "/var/lib/k1s", env = "K1S_DATA_DIR")]
    data_dir: PathBuf,
    /// containerd's socket, when k1s uses an external containerd.
    #[arg(long)]
    container_runtime_endpoint: Option<String>,
}

impl Endpoint {
    fn socket(&self) -> PathBuf {
        match &self.container_runtime_endpoint {
            Some(e) => PathBuf::from(e.trim_start_matches("unix://")),
            None => self.data_dir.join("containerd").join("containerd.sock"),
        }
    }
}

/// `k1s image …`
#[derive(Subcommand)]
pub enum ImageCommand {
    /// Import `docker save` or OCI archives (files, or `-` for standard input).
    Import {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Archives (`-` reads standard input, e.g. `docker save app | k1s image import -`).
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// List images.
    #[command(alias = "list")]
    Ls {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Only print image names.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Pull an image from a registry.
    Pull {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Registries to reach over plain HTTP (besides localhost/127.0.0.1).
        #[arg(long)]
        insecure_registry: Vec<String>,
        /// `user:password` for the registry.
        #[arg(long)]
        creds: Option<String>,
        /// The image (`busybox:1.36`, `localhost:5000/app:dev`…).
        name: String,
    },
    /// Remove images.
    #[command(alias = "rmi")]
    Rm {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Image names.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// Runs a `k1s image` command.
pub fn run(cmd: ImageCommand) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(cmd))
}

async fn connect(endpoint: &Endpoint, insecure: Vec<String>) -> anyhow::Result<ImageService> {
    let socket = endpoint.socket();
    if !socket.exists() {
        return Err(anyhow!(
            "containerd socket {} does not exist (is k1s server running? see --data-dir, --container-runtime-endpoint)",
            socket.display()
        ));
    }
    let cd = Containerd::connect(&socket).await?;
    Ok(ImageService::with_options(
        cd,
        ImageOptions {
            insecure_registries: insecure,
            ..Default::default()
        },
    ))
}

async fn run_async(cmd: ImageCommand) -> anyhow::Result<()> {
    match cmd {
        ImageCommand::Import { endpoint, files } => {
            let svc = connect(&endpoint, Vec::new()).await?;
            for f in files {
                let names = import_one(&svc, &f)
                    .await
                    .with_context(|| format!("cannot import {f}"))?;
                for n in names {
                    println!("imported {n}");
                }
            }
            Ok(())
        }
        ImageCommand::Ls { endpoint, quiet } => {
            let svc = connect(&endpoint, Vec::new()).await?;
            let images = svc.list().await?;
            if quiet {
                for i in images {
                    println!("{}", i.name);
                }
            } else {
                print!("{}", format_table(&images));
            }
            Ok(())
        }
        ImageCommand::Pull {
            endpoint,
            insecure_registry,
            creds,
            name,
        } => {
            let svc = connect(&endpoint, insecure_registry).await?;
            let auth = match creds {
                Some(c) => {
                    let (u, p) = c
                        .split_once(':')
                        .ok_or_else(|| anyhow!("--creds must be user:password"))?;
                    let r = k1s_agent::images::Reference::parse(&name).map_err(|e| anyhow!("{e}"))?;
                    let mut d = DockerConfigJson::default();
                    d.auths.insert(
                        r.domain.clone(),
                        k1s_agent::images::Credential {
                            username: u.to_string(),
                            password: p.to_string(),
                        },
                    );
                    vec![d]
                }
                None => Vec::new(),
            };
            let spinner = spinner(&format!("pulling {name}"));
            let r = svc.pull(&name, &auth).await;
            spinner.finish_and_clear();
            let got = r.map_err(|e| anyhow!("{e}"))?;
            println!("Image is up to date for {}", got.info.id);
            Ok(())
        }
        ImageCommand::Rm { endpoint, names } => {
            let svc = connect(&endpoint, Vec::new()).await?;
            let mut missing = Vec::new();
            for n in names {
                if svc.remove(&n).await? {
                    println!("Deleted: {n}");
                } else {
                    missing.push(n);
                }
            }
            if !missing.is_empty() {
                return Err(anyhow!("no such image: {}", missing.join(", ")));
            }
            Ok(())
        }
    }
}

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, draw_target());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn draw_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

async fn import_one(svc: &ImageService, f: &str) -> anyhow::Result<Vec<String>> {
    let (reader, len): (Box<dyn Read + Send>, Option<u64>) = if f == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file = std::fs::File::open(Path::new(f)).with_context(|| format!("cannot open {f}"))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len)
    };
    let pb = ProgressBar::with_draw_target(len, draw_target());
    let style = match len {
        Some(_) => "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        None => "{spinner} {msg} {bytes} {bytes_per_sec}",
    };
    pb.set_style(
        ProgressStyle::with_template(style)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(format!("reading {}", if f == "-" { "stdin" } else { f }));
    pb.enable_steady_tick(Duration::from_millis(200));
    let reader = pb.wrap_read(reader);
    let pb2 = pb.clone();
    let progress: ProgressFn = Arc::new(move |p: Progress| match p {
        Progress::Unpacking(n) => pb2.set_message(format!("unpacking {n}")),
        Progress::Imported(_) | Progress::Read(_) => {}
    });
    let r = svc.import(reader, Some(progress)).await;
    pb.finish_and_clear();
    r
}

/// `crictl images`-style size: decimal units, 3 significant digits (`4.46MB`).
pub fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

/// The `k1s image ls` table (columns as `crictl images`).
pub fn format_table(images: &[ImageInfo]) -> String {
    let mut rows = vec![[
        "IMAGE".to_string(),
        "TAG".to_string(),
        "IMAGE ID".to_string(),
        "SIZE".to_string(),
    ]];
    for i in images {
        let (repo, tag) = match k1s_agent::images::Reference::parse(&i.name) {
            Ok(r) => (r.repository(), r.tag.unwrap_or_else(|| "<none>".to_string())),
            Err(_) => (i.name.clone(), "<none>".to_string()),
        };
        let id: String = i.id.trim_start_matches("sha256:").chars().take(13).collect();
        rows.push([repo, tag, id, human_size(i.size)]);
    }
    let mut widths = [0usize; 4];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    for r in rows {
        let line = format!(
            "{:<w0$}   {:<w1$}   {:<w2$}   {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_crictl() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_460_000), "4.46MB");
        assert_eq!(human_size(57_400), "57.4kB");
        assert_eq!(human_size(2_000_000), "2MB");
        assert_eq!(human_size(123_456_789), "123MB");
    }

    #[test]
    fn table() {
        let i = ImageInfo {
            name: "docker.io/library/busybox:1.36".to_string(),
            id: "sha256:0123456789abcdef0123".to_string(),
            size: 1_240_000,
            ..Default::default()
        };
        let t = format_table(&[i]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "IMAGE                       TAG    IMAGE ID        SIZE");
        assert_eq!(lines[1], "docker.io/library/busybox   1.36   0123456789abc   1.24MB");
    }
}
