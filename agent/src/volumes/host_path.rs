//! `hostPath` volumes: the `type` checks (and creations) with the kubelet's messages.

use std::fs;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Checks (or creates) `path` as the volume's `type` asks.
pub fn check_type(path: &Path, ty: Option<&str>) -> Result<(), String> {
    let p = path.display();
    let meta = fs::metadata(path).ok();
    let exists = meta.is_some();
    let is = |f: &dyn Fn(&fs::Metadata) -> bool| meta.as_ref().is_some_and(f);
    match ty.unwrap_or("") {
        "" => Ok(()),
        "DirectoryOrCreate" if !exists => {
            fs::create_dir_all(path).map_err(|e| format!("failed to create directory {p}: {e}"))?;
            fs::set_permissions(path, fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("failed to chmod {p}: {e}"))
        }
        "DirectoryOrCreate" | "Directory" => {
            if is(&|m| m.is_dir()) {
                Ok(())
            } else {
                Err(format!("hostPath type check failed: {p} is not a directory"))
            }
        }
        "FileOrCreate" if !exists => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| format!("failed to create directory {}: {e}", parent.display()))?;
            }
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o644)
                .open(path)
                .map(drop)
                .map_err(|e| format!("failed to create file {p}: {e}"))
        }
        "FileOrCreate" | "File" => {
            if is(&|m| m.is_file()) {
                Ok(())
            } else {
                Err(format!("hostPath type check failed: {p} is not a file"))
            }
        }
        "Socket" => {
            if is(&|m| m.file_type().is_socket()) {
                Ok(())
            } else {
                Err(format!("hostPath type check failed: {p} is not a socket file"))
            }
        }
        "CharDevice" => {
            if is(&|m| m.file_type().is_char_device()) {
                Ok(())
            } else {
                Err(format!("hostPath type check failed: {p} is not a character device"))
            }
        }
        "BlockDevice" => {
            if is(&|m| m.file_type().is_block_device()) {
                Ok(())
            } else {
                Err(format!("hostPath type check failed: {p} is not a block device"))
            }
        }
        other => Err(format!("{other} is an invalid volume type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_checks() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("new/dir");
        check_type(&d, Some("DirectoryOrCreate")).unwrap();
        assert!(d.is_dir());
        check_type(&d, Some("Directory")).unwrap();
        let f = tmp.path().join("a/b/file");
        check_type(&f, Some("FileOrCreate")).unwrap();
        assert!(f.is_file());
        check_type(&f, Some("File")).unwrap();
        check_type(&f, None).unwrap();
        let missing = tmp.path().join("missing");
        check_type(&missing, Some("")).unwrap();
        let m = missing.display();
        assert_eq!(
            check_type(&missing, Some("Directory")).unwrap_err(),
            format!("hostPath type check failed: {m} is not a directory")
        );
        assert_eq!(
            check_type(&d, Some("File")).unwrap_err(),
            format!("hostPath type check failed: {} is not a file", d.display())
        );
        assert_eq!(
            check_type(&f, Some("DirectoryOrCreate")).unwrap_err(),
            format!("hostPath type check failed: {} is not a directory", f.display())
        );
        assert_eq!(
            check_type(&f, Some("Socket")).unwrap_err(),
            format!("hostPath type check failed: {} is not a socket file", f.display())
        );
        let sock = tmp.path().join("s.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        check_type(&sock, Some("Socket")).unwrap();
        check_type(Path::new("/dev/null"), Some("CharDevice")).unwrap();
        assert_eq!(
            check_type(Path::new("/dev/null"), Some("BlockDevice")).unwrap_err(),
            "hostPath type check failed: /dev/null is not a block device"
        );
        assert_eq!(
            check_type(&f, Some("Weird")).unwrap_err(),
            "Weird is an invalid volume type"
        );
    }
}
