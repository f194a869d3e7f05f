//! Test images built at test time from the machine's Debian packages and
//! cached on disk as `docker save` archives (so the importer is exercised):
//!
//! - `busybox:1.36`: `/bin/busybox` from busybox-static, a symlink per applet,
//!   `/etc/passwd`+`/etc/group` (root, nobody), `/tmp`; `Cmd ["sh"]`.
//! - `python:3.11-slim`: Debian's python3.11 with its stdlib and the shared
//!   libraries it needs (`ldd`), plus busybox for `sh`; `Cmd ["python3"]`,
//!   `python` works too.
//!
//! Archives live in [`cache_dir`] and are built once under a lock file, so
//! parallel tests (and test binaries) do not race.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

/// Bump when the image contents change, so stale caches are rebuilt.
const FORMAT_VERSION: u32 = 1;

/// The name of the busybox test image.
pub const BUSYBOX: &str = "busybox:1.36";
/// The name of the Python test image.
pub const PYTHON: &str = "python:3.11-slim";

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where archives are cached (`$K1S_TEST_IMAGES` or `/var/tmp/k1s-test-images`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("K1S_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/k1s-test-images"))
}

/// The `busybox:1.36` archive (built on first use).
pub fn ensure_busybox() -> Result<PathBuf> {
    ensure("busybox-1.36", build_busybox)
}

/// The `python:3.11-slim` archive (built on first use).
pub fn ensure_python() -> Result<PathBuf> {
    ensure("python-3.11-slim", build_python)
}

/// A second tag of the Python image (same content), for rolling updates.
pub const PYTHON_SECOND_TAG: &str = "python:3.11-slim-bookworm";

/// The Python image tagged [`PYTHON_SECOND_TAG`] (built on first use).
pub fn ensure_python_second_tag() -> Result<PathBuf> {
    ensure("python-3.11-slim-bookworm", |out| {
        retag(&ensure_python()?, out, PYTHON_SECOND_TAG)
    })
}

/// Copies a `docker save` archive of one image, naming it `repo_tag` instead
/// (`manifest.json` and `repositories` rewritten, layers and config as they are).
fn retag(src: &Path, out: &Path, repo_tag: &str) -> Result<()> {
    let (repo, tag) = repo_tag.rsplit_once(':').unwrap_or((repo_tag, "latest"));
    let mut archive = tar::Archive::new(File::open(src).with_context(|| format!("cannot open {}", src.display()))?);
    let f = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(f));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data)?;
        match path.as_str() {
            "manifest.json" => {
                let mut m: serde_json::Value = serde_json::from_slice(&data)?;
                m[0]["RepoTags"] = serde_json::json!([repo_tag]);
                data = serde_json::to_vec(&m)?;
            }
            "repositories" => {
                let r: serde_json::Value = serde_json::from_slice(&data)?;
                let id = r
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(|tags| tags.as_object())
                    .and_then(|tags| tags.values().next())
                    .cloned()
                    .unwrap_or_default();
                data = serde_json::to_vec(&serde_json::json!({ repo: { tag: id } }))?;
            }
            _ => {}
        }
        let mut h = entry.header().clone();
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, &path, data.as_slice())?;
    }
    b.into_inner()?.flush()?;
    Ok(())
}

/// Imports archives into the k1s whose data dir is `data_dir` with `k1s image import`
/// (through its containerd socket `<data-dir>/containerd/containerd.sock`).
pub fn import_into(data_dir: &Path, archives: &[PathBuf]) -> Result<String> {
    let out = Command::new(crate::k1s_binary())
        .arg("image")
        .arg("import")
        .arg("--data-dir")
        .arg(data_dir)
        .args(archives)
        .output()
        .context("cannot run k1s image import")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("k1s image import failed: {text}");
    }
    Ok(text)
}

/// Builds both archives and imports them into a server's data dir.
pub fn import_test_images(data_dir: &Path) -> Result<String> {
    import_into(data_dir, &[ensure_busybox()?, ensure_python()?])
}

fn ensure(stem: &str, build: fn(&Path) -> Result<()>) -> Result<PathBuf> {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{stem}-v{FORMAT_VERSION}.tar"));
    if path.exists() {
        return Ok(path);
    }
    let lock_path = dir.join(format!("{stem}.lock"));
    let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
    let _locked = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow!("cannot lock {}: {e}", lock_path.display()))?;
    if path.exists() {
        return Ok(path);
    }
    let tmp = dir.join(format!(".{stem}-{}.tmp", std::process::id()));
    let r = build(&tmp);
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot build the {stem} test image")));
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot move the archive to {}", path.display()))?;
    Ok(path)
}

/// A layer being assembled: path → entry (sorted, parents created on demand).
#[derive(Default)]
struct Layer {
    entries: BTreeMap<String, Entry>,
}

enum Entry {
    Dir(u32),
    File { src: PathBuf, mode: u32 },
    Data { data: Vec<u8>, mode: u32 },
    Link(String),
}

impl Layer {
    fn parents(&mut self, path: &str) {
        let mut cur = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for p in &parts[..parts.len().saturating_sub(1)] {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(p);
            self.entries.entry(cur.clone()).or_insert(Entry::Dir(0o755));
        }
    }
    fn dir(&mut self, path: &str, mode: u32) {
        self.parents(path);
        self.entries.insert(path.to_string(), Entry::Dir(mode));
    }
    fn file(&mut self, path: &str, src: &Path) -> Result<()> {
        let mode = std::fs::metadata(src)
            .with_context(|| format!("cannot stat {}", src.display()))?
            .permissions()
            .mode()
            & 0o7777;
        self.parents(path);
        self.entries.insert(
            path.to_string(),
            Entry::File {
                src: src.to_path_buf(),
                mode,
            },
        );
        Ok(())
    }
    fn data(&mut self, path: &str, data: &[u8], mode: u32) {
        self.parents(path);
        self.entries.insert(
            path.to_string(),
            Entry::Data {
                data: data.to_vec(),
                mode,
            },
        );
    }
    fn link(&mut self, path: &str, target: &str) {
        self.parents(path);
        self.entries
            .entry(path.to_string())
            .or_insert(Entry::Link(target.to_string()));
    }

    /// The layer as an uncompressed tar (fixed mtimes and owners: reproducible).
    fn tar(&self) -> Result<Vec<u8>> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, e) in &self.entries {
            let mut h = tar::Header::new_ustar();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            match e {
                Entry::Dir(mode) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
                }
                Entry::File { src, mode } => {
                    let data = std::fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, data.as_slice())?;
                }
                Entry::Data { data, mode } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, data.as_slice())?;
                }
                Entry::Link(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, path, target)?;
                }
            }
        }
        Ok(b.into_inner()?)
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut s = String::with_capacity(64);
    for b in d.as_ref() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Writes a `docker save` (legacy layout) archive of one single-layer image.
fn write_docker_save(out: &Path, repo_tag: &str, layer: &[u8], config: serde_json::Value) -> Result<()> {
    let diff = sha256_hex(layer);
    let mut config = config;
    config["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": [format!("sha256:{diff}")]});
    config["created"] = serde_json::json!("2023-11-14T22:13:20Z");
    config["history"] =
        serde_json::json!([{"created": "2023-11-14T22:13:20Z", "created_by": "k1s test image builder"}]);
    let config_bytes = serde_json::to_vec(&config)?;
    let config_id = sha256_hex(&config_bytes);
    let layer_id = diff.clone();
    let manifest = serde_json::json!([{
        "Config": format!("{config_id}.json"),
        "RepoTags": [repo_tag],
        "Layers": [format!("{layer_id}/layer.tar")],
    }]);
    let (repo, tag) = repo_tag.rsplit_once(':').unwrap_or((repo_tag, "latest"));
    let repositories = serde_json::json!({ repo: { tag: layer_id } });
    let f = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(f));
    let mut add = |path: &str, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data)?;
        Ok(())
    };
    // The order of `docker save`: layers first, manifest.json near the end.
    add(&format!("{layer_id}/VERSION"), b"1.0")?;
    add(&format!("{layer_id}/json"), br#"{"id":"k1s"}"#)?;
    add(&format!("{layer_id}/layer.tar"), layer)?;
    add(&format!("{config_id}.json"), &config_bytes)?;
    add("manifest.json", &serde_json::to_vec(&manifest)?)?;
    add("repositories", &serde_json::to_vec(&repositories)?)?;
    b.into_inner()?.flush()?;
    Ok(())
}

fn busybox_binary() -> Result<PathBuf> {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    bail!("busybox is not installed (apt-get install -y busybox-static)")
}

fn busybox_applets(bin: &Path) -> Result<Vec<String>> {
    let out = Command::new(bin)
        .arg("--list")
        .output()
        .context("cannot run busybox --list")?;
    if !out.status.success() {
        bail!("busybox --list failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains('/'))
        .map(str::to_string)
        .collect())
}

fn base_files(l: &mut Layer) {
    l.data(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    );
    l.data("etc/group", b"root:x:0:\nnobody:x:65534:\n", 0o644);
    l.dir("tmp", 0o1777);
    l.dir("root", 0o700);
    l.dir("etc", 0o755);
    l.dir("proc", 0o755);
    l.dir("sys", 0o755);
    l.dir("dev", 0o755);
    l.dir("var", 0o755);
    l.dir("home", 0o755);
}

fn build_busybox(out: &Path) -> Result<()> {
    let bin = busybox_binary()?;
    let mut l = Layer::default();
    base_files(&mut l);
    l.dir("bin", 0o755);
    l.file("bin/busybox", &bin)?;
    for a in busybox_applets(&bin)? {
        if a != "busybox" {
            l.link(&format!("bin/{a}"), "busybox");
        }
    }
    l.dir("usr/bin", 0o755);
    l.dir("usr/sbin", 0o755);
    l.link("sbin", "bin");
    l.link("usr/bin/env", "../../bin/busybox");
    let config = serde_json::json!({
        "architecture": arch(),
        "os": "linux",
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
    });
    write_docker_save(out, "busybox:1.36", &l.tar()?, config)
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The shared libraries (as `ldd` names them) that `files` need.
fn ldd_libs(files: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    let mut libs = BTreeSet::new();
    for chunk in files.chunks(64) {
        let out = Command::new("ldd").args(chunk).output().context("cannot run ldd")?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let line = line.trim();
            // With several files ldd prints a `file:` header before each list.
            if line.ends_with(':') {
                continue;
            }
            let path = if let Some((_, rest)) = line.split_once("=>") {
                rest.split_whitespace().next().unwrap_or("")
            } else {
                line.split_whitespace().next().unwrap_or("")
            };
            if path.starts_with('/') {
                libs.insert(PathBuf::from(path));
            }
        }
    }
    Ok(libs)
}

/// Adds a host file at its canonical path, plus the path it was named by as a symlink.
fn add_host_file(l: &mut Layer, named: &Path) -> Result<()> {
    let real = std::fs::canonicalize(named).with_context(|| format!("cannot resolve {}", named.display()))?;
    let rel = real.to_string_lossy().trim_start_matches('/').to_string();
    l.file(&rel, &real)?;
    // `/lib/x86_64-linux-gnu/libz.so.1` → `usr/lib/x86_64-linux-gnu/libz.so.1.2.13`: link the soname.
    let named_canon_dir = named
        .parent()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .unwrap_or_default();
    if let Some(name) = named.file_name() {
        let link = named_canon_dir.join(name);
        if link != real {
            let link_rel = link.to_string_lossy().trim_start_matches('/').to_string();
            let target = real
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            if link.parent() == real.parent() {
                l.link(&link_rel, &target);
            } else {
                l.link(&link_rel, &real.to_string_lossy());
            }
        }
    }
    Ok(())
}

fn walk(dir: &Path, skip: &[&str], out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if skip.contains(&name.as_str()) {
            continue;
        }
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk(&p, skip, out)?;
        } else if ft.is_file() || ft.is_symlink() {
            out.push(p);
        }
    }
    Ok(())
}

fn build_python(out: &Path) -> Result<()> {
    let python = Path::new("/usr/bin/python3.11");
    if !python.exists() {
        bail!("python3.11 is not installed (apt-get install -y python3.11-minimal libpython3.11-stdlib)");
    }
    let stdlib = Path::new("/usr/lib/python3.11");
    let mut l = Layer::default();
    base_files(&mut l);
    // Debian's merged /usr.
    l.dir("usr/bin", 0o755);
    l.dir("usr/lib", 0o755);
    l.dir("usr/local/bin", 0o755);
    l.link("bin", "usr/bin");
    l.link("lib", "usr/lib");
    l.link("lib64", "usr/lib64");
    l.link("sbin", "usr/sbin");
    l.file("usr/bin/python3.11", python)?;
    l.link("usr/bin/python3", "python3.11");
    l.link("usr/bin/python", "python3");
    let mut files = Vec::new();
    walk(
        stdlib,
        &[
            "test",
            "idlelib",
            "tkinter",
            "turtledemo",
            "ensurepip",
            "lib2to3",
            "config-3.11-x86_64-linux-gnu",
            "site-packages",
            "dist-packages",
        ],
        &mut files,
    )?;
    let mut elf = vec![python.to_path_buf()];
    for f in &files {
        let rel = f.to_string_lossy().trim_start_matches('/').to_string();
        let meta = std::fs::symlink_metadata(f)?;
        if meta.file_type().is_symlink() {
            let t = std::fs::read_link(f)?;
            l.link(&rel, &t.to_string_lossy());
            continue;
        }
        l.file(&rel, f)?;
        if rel.ends_with(".so") {
            elf.push(f.clone());
        }
    }
    for lib in ldd_libs(&elf)? {
        add_host_file(&mut l, &lib)?;
    }
    // busybox for `sh` and the usual tools (never over python's own names).
    let bb = busybox_binary()?;
    l.file("usr/bin/busybox", &bb)?;
    for a in busybox_applets(&bb)? {
        if a != "busybox" && !a.starts_with("python") {
            l.link(&format!("usr/bin/{a}"), "busybox");
        }
    }
    let config = serde_json::json!({
        "architecture": arch(),
        "os": "linux",
        "config": {
            "Env": [PATH_ENV, "LANG=C.UTF-8", "PYTHON_VERSION=3.11.2"],
            "Cmd": ["python3"],
        },
    });
    write_docker_save(out, "python:3.11-slim", &l.tar()?, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_has_parents_and_sorted_entries() {
        let mut l = Layer::default();
        l.data("a/b/c.txt", b"x", 0o644);
        l.link("a/l", "b/c.txt");
        let t = l.tar().expect("tar");
        let mut ar = tar::Archive::new(t.as_slice());
        let names: Vec<String> = ar
            .entries()
            .expect("entries")
            .map(|e| e.expect("entry").path().expect("path").to_string_lossy().to_string())
            .collect();
        assert_eq!(names, ["a/", "a/b/", "a/b/c.txt", "a/l"]);
    }
}
