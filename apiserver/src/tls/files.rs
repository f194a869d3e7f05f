//! Files holding secrets: a private directory, atomic writes with fixed modes, a lock.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};

/// Mode of private keys and kubeconfigs.
pub(crate) const SECRET_MODE: u32 = 0o600;
/// Mode of certificates.
pub(crate) const PUBLIC_MODE: u32 = 0o644;
/// Mode of the directory holding keys.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Creates `dir` (and parents) if needed and restricts it to its owner.
pub(crate) fn private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    let meta = fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    if meta.permissions().mode() & 0o777 != DIR_MODE {
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
            .with_context(|| format!("cannot restrict permissions of {} to {DIR_MODE:o}", dir.display()))?;
    }
    Ok(())
}

/// Holds an exclusive lock on `<dir>/.lock` until dropped, so two processes do not generate at once.
pub(crate) fn lock(dir: &Path) -> anyhow::Result<Flock<File>> {
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(SECRET_MODE)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", path.display()))
}

/// Reads a file as text, `None` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Replaces `path` with `contents` atomically (temporary file, fsync, rename) with the given mode.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} does not name a file", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = write_then_rename(&tmp, path, contents, mode);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename(tmp: &Path, path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    // The mode given at creation is narrowed by the umask and ignored for an existing file.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set permissions of {}", tmp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(file);
    fs::rename(tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    // Make the rename itself durable.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&path, b"new", SECRET_MODE).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), SECRET_MODE);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn private_dir_restricts_and_rejects_files() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/tls");
        private_dir(&sub).unwrap();
        assert_eq!(mode(&sub), DIR_MODE);
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&sub).unwrap();
        assert_eq!(mode(&sub), DIR_MODE);

        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let err = format!("{:#}", private_dir(&file.join("tls")).unwrap_err());
        assert!(err.contains(&file.join("tls").display().to_string()), "{err}");
        let err = format!("{:#}", private_dir(&file).unwrap_err());
        assert!(err.contains(&file.display().to_string()), "{err}");
    }

    #[test]
    fn read_optional_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_optional(&dir.path().join("x")).unwrap(), None);
        assert!(
            read_optional(dir.path()).is_err(),
            "a directory is not readable as text"
        );
    }
}
