//! The applier: runs `iptables`, `iptables-save` and `iptables-restore` of the
//! chosen back end (nf_tables or legacy), inserts the jump rules idempotently and
//! removes everything k1s owns on cleanup.

use std::collections::BTreeSet;
use std::process::Stdio;

use anyhow::{bail, Context};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::names::Chains;
use super::rules::Jump;

/// Which iptables back end k1s's rules go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `iptables-nft` (nf_tables kernel API).
    Nft,
    /// `iptables-legacy` (x_tables).
    Legacy,
}

impl Backend {
    /// The other back end.
    pub fn other(self) -> Backend {
        match self {
            Backend::Nft => Backend::Legacy,
            Backend::Legacy => Backend::Nft,
        }
    }

    fn tool(self, what: &str) -> String {
        let mode = match self {
            Backend::Nft => "nft",
            Backend::Legacy => "legacy",
        };
        if what.is_empty() {
            format!("iptables-{mode}")
        } else {
            format!("iptables-{mode}-{what}")
        }
    }
}

/// Picks the back end as kube-proxy's iptables wrapper does: the one whose
/// tables already hold more rules (the system's firewall lives there), nf_tables on a tie.
pub fn choose_backend(nft_rules: usize, legacy_rules: usize) -> Backend {
    if legacy_rules > nft_rules {
        Backend::Legacy
    } else {
        Backend::Nft
    }
}

/// Counts the rules (`-A` lines) of an `iptables-save` output.
pub fn count_rules(save: &str) -> usize {
    save.lines().filter(|l| l.starts_with("-A ")).count()
}

/// The chains of `save` (one table's or several) that `chains` owns, as (table, chain).
pub fn owned_chains(save: &str, chains: &Chains) -> BTreeSet<(String, String)> {
    let mut table = String::new();
    let mut out = BTreeSet::new();
    for line in save.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_string();
        } else if let Some(rest) = line.strip_prefix(':') {
            if let Some(name) = rest.split_whitespace().next() {
                if chains.owns(name) {
                    out.insert((table.clone(), name.to_string()));
                }
            }
        }
    }
    out
}

/// One back end's commands.
#[derive(Debug, Clone, Copy)]
pub struct Iptables {
    /// The back end in use.
    pub backend: Backend,
}

impl Iptables {
    /// Detects the back end (see [`choose_backend`]).
    pub async fn detect() -> Iptables {
        let nft = save_all(Backend::Nft).await.map(|s| count_rules(&s)).unwrap_or(0);
        let legacy = save_all(Backend::Legacy).await.map(|s| count_rules(&s)).unwrap_or(0);
        Iptables {
            backend: choose_backend(nft, legacy),
        }
    }

    /// Whether the tables this back end has loaded hold a chain `chains` owns
    /// (an `iptables-save` without `-t`, which loads no table module); `None` when
    /// the tool is missing or fails.
    pub async fn holds_owned_chains(&self, chains: &Chains) -> Option<bool> {
        save_all(self.backend)
            .await
            .map(|s| !owned_chains(&s, chains).is_empty())
    }

    /// `iptables-save` of the filter and nat tables.
    pub async fn save(&self) -> anyhow::Result<String> {
        let mut out = run(&self.backend.tool("save"), &["-t", "filter"]).await?;
        out.push_str(&run(&self.backend.tool("save"), &["-t", "nat"]).await?);
        Ok(out)
    }

    /// Applies a restore text without flushing anything it does not name.
    pub async fn restore(&self, text: &str) -> anyhow::Result<()> {
        let tool = self.backend.tool("restore");
        let mut child = Command::new(&tool)
            .args(["-w", "5", "--noflush"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {tool}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes()).await?;
        }
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            bail!(
                "{tool} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Inserts `jump` at the head of its chain unless it is there (`-C` first).
    pub async fn ensure_jump(&self, jump: &Jump) -> anyhow::Result<()> {
        let tool = self.backend.tool("");
        let mut check = vec!["-w", "5", "-t", jump.table, "-C", jump.chain];
        check.extend(jump.args.iter().map(String::as_str));
        if status(&tool, &check).await? {
            return Ok(());
        }
        let mut insert = vec!["-w", "5", "-t", jump.table, "-I", jump.chain, "1"];
        insert.extend(jump.args.iter().map(String::as_str));
        run(&tool, &insert).await.map(|_| ())
    }

    /// Deletes every copy of `jump` (absent is fine).
    pub async fn delete_jump(&self, jump: &Jump) -> anyhow::Result<()> {
        let tool = self.backend.tool("");
        let mut delete = vec!["-w", "5", "-t", jump.table, "-D", jump.chain];
        delete.extend(jump.args.iter().map(String::as_str));
        for _ in 0..16 {
            if !status(&tool, &delete).await? {
                break;
            }
        }
        Ok(())
    }
}

/// `iptables-save` of everything, or `None` when the tool is missing or fails.
async fn save_all(backend: Backend) -> Option<String> {
    run(&backend.tool("save"), &[]).await.ok()
}

/// Runs a command, returning stdout; a failure carries stderr.
async fn run(tool: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {tool}"))?;
    if !out.status.success() {
        bail!(
            "{tool} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command for its exit status (true: success).
async fn status(tool: &str, args: &[&str]) -> anyhow::Result<bool> {
    let st = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .with_context(|| format!("cannot run {tool}"))?;
    Ok(st.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_choice() {
        assert_eq!(choose_backend(0, 0), Backend::Nft);
        assert_eq!(choose_backend(5, 5), Backend::Nft);
        assert_eq!(choose_backend(0, 3), Backend::Legacy);
        assert_eq!(choose_backend(10, 3), Backend::Nft);
        assert_eq!(Backend::Legacy.tool("restore"), "iptables-legacy-restore");
        assert_eq!(Backend::Nft.tool(""), "iptables-nft");
        assert_eq!(Backend::Nft.other(), Backend::Legacy);
        assert_eq!(Backend::Legacy.other(), Backend::Nft);
    }

    #[test]
    fn finds_owned_chains() {
        let save = "*filter\n:INPUT ACCEPT [0:0]\n:K1S-SERVICES - [0:0]\n:K1S250-SERVICES - [0:0]\n-A INPUT -j K1S-SERVICES\nCOMMIT\n\
                    *nat\n:K1S-SVC-ABC - [0:0]\n:CNI-HOSTPORT-DNAT - [0:0]\nCOMMIT\n";
        let got = owned_chains(save, &Chains::new("K1S"));
        let want: BTreeSet<(String, String)> = [("filter", "K1S-SERVICES"), ("nat", "K1S-SVC-ABC")]
            .into_iter()
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(count_rules(save), 1);
    }
}
