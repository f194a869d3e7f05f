//! `k1s check`: is this machine ready to run k1s's node? Each check says what
//! was found and, when something is missing, how to fix it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Whether k1s cannot run without it.
    pub required: bool,
    /// Whether it is fine.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it.
    pub fix: Option<String>,
}

fn find_binary(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(
        [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ]
        .iter()
        .map(PathBuf::from),
    );
    dirs.extend(extra.iter().map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn first_line(cmd: &Path, args: &[&str]) -> String {
    match Command::new(cmd).args(args).output() {
        Ok(o) => {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        }
        Err(e) => format!("cannot run: {e}"),
    }
}

fn binary_check(name: &'static str, bin: &str, args: &[&str], required: bool, fix: &str) -> Check {
    match find_binary(bin, &[]) {
        Some(p) => Check {
            name,
            required,
            ok: true,
            detail: format!("{} ({})", p.display(), first_line(&p, args)),
            fix: None,
        },
        None => Check {
            name,
            required,
            ok: false,
            detail: format!("{bin} not found"),
            fix: Some(fix.to_string()),
        },
    }
}

/// The CNI plugins k1s uses, checked in `dir`.
pub fn cni_check(dir: &Path) -> Check {
    let wanted = ["bridge", "host-local", "loopback", "portmap"];
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| !is_executable(&dir.join(p)))
        .collect();
    Check {
        name: "CNI plugins",
        required: true,
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            format!("{} ({})", dir.display(), wanted.join(", "))
        } else {
            format!("missing in {}: {}", dir.display(), missing.join(", "))
        },
        fix: (!missing.is_empty()).then(|| "apt-get install -y containernetworking-plugins".to_string()),
    }
}

/// cgroups: v2 (unified, with its controllers) or v1 (one hierarchy per controller).
pub fn cgroup_check(root: &Path) -> Check {
    let needed = ["cpu", "memory", "pids"];
    let controllers_file = root.join("cgroup.controllers");
    if let Ok(s) = std::fs::read_to_string(&controllers_file) {
        let have: Vec<&str> = s.split_whitespace().collect();
        let missing: Vec<&str> = needed.iter().copied().filter(|c| !have.contains(c)).collect();
        return Check {
            name: "cgroups",
            required: true,
            ok: missing.is_empty(),
            detail: if missing.is_empty() {
                format!("v2 (controllers: {})", have.join(" "))
            } else {
                format!("v2, missing controllers: {}", missing.join(", "))
            },
            fix: (!missing.is_empty())
                .then(|| "enable them: echo '+cpu +memory +pids' > /sys/fs/cgroup/cgroup.subtree_control".to_string()),
        };
    }
    let have: Vec<&str> = needed
        .iter()
        .copied()
        .chain(["cpuacct", "cpuset", "devices", "freezer", "blkio"])
        .filter(|c| root.join(c).is_dir())
        .collect();
    let missing: Vec<&str> = needed.iter().copied().filter(|c| !have.contains(c)).collect();
    Check {
        name: "cgroups",
        required: true,
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            format!("v1 (controllers: {})", have.join(" "))
        } else if have.is_empty() {
            format!("no cgroup hierarchy under {}", root.display())
        } else {
            format!("v1, missing controllers: {}", missing.join(", "))
        },
        fix: (!missing.is_empty()).then(|| {
            "mount the cgroup controllers (systemd does this), e.g. boot with systemd.unified_cgroup_hierarchy=1"
                .to_string()
        }),
    }
}

/// overlayfs in `/proc/filesystems`.
pub fn overlay_check(filesystems: &str) -> Check {
    let ok = filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    Check {
        name: "overlayfs",
        required: true,
        ok,
        detail: if ok {
            "overlay in /proc/filesystems".to_string()
        } else {
            "overlay not in /proc/filesystems".to_string()
        },
        fix: (!ok).then(|| "modprobe overlay (and add overlay to /etc/modules)".to_string()),
    }
}

/// Runs every check.
pub fn checks() -> Vec<Check> {
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    vec![
        binary_check(
            "containerd",
            "containerd",
            &["--version"],
            true,
            "apt-get install -y containerd",
        ),
        binary_check("runc", "runc", &["--version"], true, "apt-get install -y runc"),
        cni_check(Path::new("/usr/lib/cni")),
        binary_check(
            "iptables",
            "iptables",
            &["--version"],
            true,
            "apt-get install -y iptables",
        ),
        cgroup_check(Path::new("/sys/fs/cgroup")),
        overlay_check(&filesystems),
        binary_check(
            "kubectl",
            "kubectl",
            &["version", "--client"],
            false,
            "install kubectl (https://kubernetes.io/docs/tasks/tools/) for `k1s kubectl`",
        ),
    ]
}

/// Formats the report.
pub fn report(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let status = match (c.ok, c.required) {
            (true, _) => "ok",
            (false, true) => "MISSING",
            (false, false) => "missing (optional)",
        };
        out.push_str(&format!("{:<width$}  {status}: {}\n", c.name, c.detail));
        if let Some(f) = &c.fix {
            out.push_str(&format!("{:<width$}    fix: {f}\n", ""));
        }
    }
    out
}

/// `k1s check`: prints the report; exit 1 when something required is missing.
pub fn run() -> ExitCode {
    let cs = checks();
    print!("{}", report(&cs));
    if cs.iter().any(|c| c.required && !c.ok) {
        println!("\nk1s cannot run a node here until the MISSING items are fixed.");
        ExitCode::FAILURE
    } else {
        println!("\nall required components are present.");
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_detection() {
        assert!(overlay_check("nodev\tsysfs\nnodev\toverlay\n").ok);
        let c = overlay_check("nodev\tsysfs\n\text4\n");
        assert!(!c.ok);
        assert!(c.fix.is_some());
    }

    #[test]
    fn cgroup_versions() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("cgroup.controllers"), "cpuset cpu io memory pids\n").expect("write");
        let c = cgroup_check(d.path());
        assert!(c.ok, "{c:?}");
        assert!(c.detail.starts_with("v2"));
        std::fs::write(d.path().join("cgroup.controllers"), "cpuset io\n").expect("write");
        let c = cgroup_check(d.path());
        assert!(!c.ok);
        assert!(c.detail.contains("cpu, memory, pids"), "{}", c.detail);

        let v1 = tempfile::tempdir().expect("tempdir");
        for c in ["cpu", "memory"] {
            std::fs::create_dir(v1.path().join(c)).expect("mkdir");
        }
        let c = cgroup_check(v1.path());
        assert!(!c.ok);
        assert_eq!(c.detail, "v1, missing controllers: pids");
        std::fs::create_dir(v1.path().join("pids")).expect("mkdir");
        assert!(cgroup_check(v1.path()).ok);
    }

    #[test]
    fn cni_and_report() {
        let d = tempfile::tempdir().expect("tempdir");
        let c = cni_check(d.path());
        assert!(!c.ok);
        assert!(c.detail.contains("bridge, host-local, loopback, portmap"));
        let r = report(&[c]);
        assert!(r.contains("CNI plugins  MISSING"), "{r}");
        assert!(r.contains("fix: apt-get install -y containernetworking-plugins"), "{r}");
    }
}
