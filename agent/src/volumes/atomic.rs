//! Kubernetes' AtomicWriter layout for configMap, secret, downwardAPI and
//! projected volumes: the files live in a timestamped directory
//! (`..2024_01_02_15_04_05.123456789`), `..data` is a symlink to it swapped
//! with a rename, and the user-visible entries are symlinks into `..data`.
//! Readers see either the old or the new set of files, never a mix.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The symlink to the current timestamped directory.
pub const DATA_DIR: &str = "..data";
const DATA_DIR_TMP: &str = "..data_tmp";

/// One file of a volume's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    /// Its bytes.
    pub data: Vec<u8>,
    /// Its mode (e.g. 0644).
    pub mode: u32,
    /// Its owner, when one is asked for (`runAsUser` of a projected token).
    pub uid: Option<u32>,
}

/// Files by relative path.
pub type Payload = BTreeMap<String, FileProjection>;

/// Checks a payload path as Kubernetes does: relative, no `..` element, not starting with `..`.
pub fn validate_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("invalid path: must not be empty".into());
    }
    if Path::new(p).is_absolute() {
        return Err(format!("invalid path: must be relative path: {p}"));
    }
    if p.len() > 4096 {
        return Err(format!(
            "invalid path: must be less than or equal to 4096 characters: {p}"
        ));
    }
    if Path::new(p).components().any(|c| c == Component::ParentDir) {
        return Err(format!("invalid path: must not contain '..': {p}"));
    }
    if p.starts_with("..") {
        return Err(format!("invalid path: must not start with '..': {p}"));
    }
    Ok(())
}

fn io(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

/// The name of a new timestamped directory.
fn timestamped_name() -> String {
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC);
    format!(
        "..{}.{}",
        now.strftime("%Y_%m_%d_%H_%M_%S"),
        uuid::Uuid::new_v4().simple().to_string().get(..9).unwrap_or("0")
    )
}

/// The content currently visible through `..data` (path → bytes and mode).
fn current(dir: &Path) -> Option<BTreeMap<String, (Vec<u8>, u32)>> {
    let data = dir.join(DATA_DIR);
    let target = fs::read_link(&data).ok()?;
    let root = dir.join(target);
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).ok()? {
            let entry = entry.ok()?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).ok()?;
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&root).ok()?.to_string_lossy().into_owned();
                out.insert(rel, (fs::read(&path).ok()?, meta.permissions().mode() & 0o7777));
            }
        }
    }
    Some(out)
}

/// The user-visible top-level names of a payload.
fn top_level(payload: &Payload) -> BTreeSet<String> {
    payload
        .keys()
        .filter_map(|p| Path::new(p).components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect()
}

/// Writes `payload` into `dir` atomically. Returns whether anything changed.
/// `gid` (fsGroup) becomes the group of the new files and directories.
pub fn write(dir: &Path, payload: &Payload, gid: Option<u32>) -> Result<bool, String> {
    for p in payload.keys() {
        validate_path(p)?;
    }
    fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    let want: BTreeMap<String, (Vec<u8>, u32)> = payload
        .iter()
        .map(|(k, v)| (normalize(k), (v.data.clone(), v.mode & 0o7777)))
        .collect();
    let old_target = fs::read_link(dir.join(DATA_DIR)).ok();
    let visible_now: BTreeSet<String> = list_visible(dir);
    let visible_want = top_level(payload);
    let unchanged = current(dir).is_some_and(|cur| cur == want);
    if unchanged && visible_now == visible_want {
        return Ok(false);
    }
    if !unchanged {
        // 1. The new timestamped directory with every file.
        let ts = timestamped_name();
        let ts_dir = dir.join(&ts);
        fs::create_dir(&ts_dir).map_err(|e| io("cannot create", &ts_dir, e))?;
        fs::set_permissions(&ts_dir, fs::Permissions::from_mode(0o755)).map_err(|e| io("cannot chmod", &ts_dir, e))?;
        if let Err(e) = write_files(&ts_dir, payload, gid) {
            let _ = fs::remove_dir_all(&ts_dir);
            return Err(e);
        }
        // 2. `..data_tmp` → new dir, renamed over `..data`.
        let tmp = dir.join(DATA_DIR_TMP);
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&ts, &tmp).map_err(|e| io("cannot create symlink", &tmp, e))?;
        if let Some(g) = gid {
            let _ = std::os::unix::fs::lchown(&tmp, None, Some(g));
        }
        fs::rename(&tmp, dir.join(DATA_DIR)).map_err(|e| io("cannot rename", &tmp, e))?;
        // 3. The old timestamped directory goes.
        if let Some(old) = old_target.filter(|o| o.as_os_str() != ts.as_str()) {
            let old = dir.join(old);
            if old.starts_with(dir) {
                let _ = fs::remove_dir_all(old);
            }
        }
    }
    // 4. User-visible symlinks for new top-level names; old ones removed.
    for name in &visible_want {
        let link = dir.join(name);
        if fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA_DIR).join(name), &link)
                .map_err(|e| io("cannot create symlink", &link, e))?;
            if let Some(g) = gid {
                let _ = std::os::unix::fs::lchown(&link, None, Some(g));
            }
        }
    }
    for name in visible_now.difference(&visible_want) {
        let path = dir.join(name);
        let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
    }
    Ok(true)
}

fn normalize(p: &str) -> String {
    Path::new(p)
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The user-visible entries of `dir` (everything not starting with `..`).
fn list_visible(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(".."))
        .collect()
}

fn write_files(root: &Path, payload: &Payload, gid: Option<u32>) -> Result<(), String> {
    for (rel, file) in payload {
        let path: PathBuf = root.join(normalize(rel));
        if let Some(parent) = path.parent() {
            if parent != root {
                fs::create_dir_all(parent).map_err(|e| io("cannot create", parent, e))?;
                let mut d = parent;
                while d != root {
                    let _ = fs::set_permissions(d, fs::Permissions::from_mode(0o755));
                    if let Some(g) = gid {
                        let _ = std::os::unix::fs::chown(d, None, Some(g));
                    }
                    d = match d.parent() {
                        Some(p) => p,
                        None => break,
                    };
                }
            }
        }
        let mut f = fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(file.mode & 0o7777)
            .open(&path)
            .map_err(|e| io("cannot create", &path, e))?;
        f.write_all(&file.data).map_err(|e| io("cannot write", &path, e))?;
        drop(f);
        // The mode given at creation is narrowed by the umask.
        fs::set_permissions(&path, fs::Permissions::from_mode(file.mode & 0o7777))
            .map_err(|e| io("cannot chmod", &path, e))?;
        if file.uid.is_some() || gid.is_some() {
            std::os::unix::fs::chown(&path, file.uid, gid).map_err(|e| io("cannot chown", &path, e))?;
        }
    }
    if let Some(g) = gid {
        let _ = std::os::unix::fs::chown(root, None, Some(g));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &str, mode: u32) -> FileProjection {
        FileProjection {
            data: data.as_bytes().to_vec(),
            mode,
            uid: None,
        }
    }

    fn payload(items: &[(&str, &str, u32)]) -> Payload {
        items.iter().map(|(p, d, m)| (p.to_string(), file(d, *m))).collect()
    }

    #[test]
    fn layout_and_updates() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        let p1 = payload(&[("a", "one", 0o644), ("sub/b.json", "{}", 0o400)]);
        assert!(write(&dir, &p1, None).unwrap());
        let data_target = fs::read_link(dir.join(DATA_DIR)).unwrap();
        assert!(data_target.to_string_lossy().starts_with("..20"), "{data_target:?}");
        assert_eq!(fs::read_link(dir.join("a")).unwrap(), Path::new("..data/a"));
        assert_eq!(fs::read_link(dir.join("sub")).unwrap(), Path::new("..data/sub"));
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "one");
        assert_eq!(fs::read_to_string(dir.join("sub/b.json")).unwrap(), "{}");
        let mode = fs::metadata(dir.join("sub/b.json")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);

        // Same content: nothing written.
        assert!(!write(&dir, &p1, None).unwrap());
        assert_eq!(fs::read_link(dir.join(DATA_DIR)).unwrap(), data_target);

        // New content: a new timestamped dir, the old one removed, `sub` gone.
        let p2 = payload(&[("a", "two", 0o644), ("c", "three", 0o600)]);
        assert!(write(&dir, &p2, None).unwrap());
        let new_target = fs::read_link(dir.join(DATA_DIR)).unwrap();
        assert_ne!(new_target, data_target);
        assert!(!dir.join(&data_target).exists());
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "two");
        assert_eq!(fs::read_to_string(dir.join("c")).unwrap(), "three");
        assert!(fs::symlink_metadata(dir.join("sub")).is_err());
        let names: BTreeSet<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}"); // a, c, ..data, ..<ts>

        // A mode change alone is a change.
        let p3 = payload(&[("a", "two", 0o600), ("c", "three", 0o600)]);
        assert!(write(&dir, &p3, None).unwrap());
        // Empty payload leaves an empty ..data.
        assert!(write(&dir, &Payload::new(), None).unwrap());
        assert!(fs::symlink_metadata(dir.join("a")).is_err());
        assert!(dir.join(DATA_DIR).is_dir());
    }

    #[test]
    fn rejects_bad_paths() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in ["/abs", "../up", "a/../../b", "..hidden", ""] {
            let p = payload(&[(bad, "x", 0o644)]);
            assert!(write(tmp.path(), &p, None).is_err(), "{bad}");
        }
        assert!(validate_path("a/b..c").is_ok());
    }
}
