//! Resolving an image's `USER` (`name`, `uid`, `name:group`, `uid:gid`) against the
//! container's root filesystem (`/etc/passwd`, `/etc/group`), as containerd does.

use std::path::{Path, PathBuf};

/// The resolved identity of a container's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids from `/etc/group` memberships.
    pub additional_gids: Vec<u32>,
}

/// A root filesystem made of layered directories: the first that has a file wins.
#[derive(Debug, Clone, Default)]
pub struct Rootfs {
    /// Directories from top (upper) to bottom.
    pub layers: Vec<PathBuf>,
}

impl Rootfs {
    /// The layers of containerd snapshot mounts (`bind` source, or overlay `upperdir`/`lowerdir`).
    pub fn from_mounts(mounts: &[containerd_client::types::Mount]) -> Rootfs {
        let mut layers = Vec::new();
        for m in mounts {
            if m.r#type == "bind" || m.r#type == "rbind" {
                layers.push(PathBuf::from(&m.source));
            } else if m.r#type == "overlay" {
                let mut upper = None;
                let mut lower = Vec::new();
                for o in &m.options {
                    if let Some(u) = o.strip_prefix("upperdir=") {
                        upper = Some(PathBuf::from(u));
                    } else if let Some(l) = o.strip_prefix("lowerdir=") {
                        lower.extend(l.split(':').map(PathBuf::from));
                    }
                }
                layers.extend(upper);
                layers.extend(lower);
            }
        }
        Rootfs { layers }
    }

    /// Reads a file of the merged root (`etc/passwd`), if present.
    pub fn read(&self, rel: &str) -> Option<String> {
        self.layers
            .iter()
            .map(|l| l.join(rel.trim_start_matches('/')))
            .find(|p| p.symlink_metadata().is_ok())
            .and_then(|p| std::fs::read_to_string(p).ok())
    }
}

fn passwd_lookup(passwd: &str, by: &str) -> Option<(String, u32, u32)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        if f[0] == by || f[2] == by {
            Some((f[0].to_string(), f[2].parse().ok()?, f[3].parse().ok()?))
        } else {
            None
        }
    })
}

fn group_lookup(group: &str, by: &str) -> Option<u32> {
    group.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 3 && (f[0] == by || f[2] == by) {
            f[2].parse().ok()
        } else {
            None
        }
    })
}

fn memberships(group: &str, user: &str) -> Vec<u32> {
    group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() >= 4 && f[3].split(',').any(|m| m == user) {
                f[2].parse().ok()
            } else {
                None
            }
        })
        .collect()
}

/// Resolves `user` (the image's `USER` string) in `root`.
pub fn resolve(user: &str, root: &Rootfs) -> anyhow::Result<User> {
    let passwd = root.read("etc/passwd").unwrap_or_default();
    let group = root.read("etc/group").unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let (name, uid, pgid) = if u.is_empty() {
        ("root".to_string(), 0, 0)
    } else if let Some(found) = passwd_lookup(&passwd, u) {
        found
    } else if let Ok(uid) = u.parse::<u32>() {
        (String::new(), uid, 0)
    } else {
        anyhow::bail!("unable to find user {u}: no matching entries in passwd file");
    };
    let gid = match g {
        None | Some("") => pgid,
        Some(g) => match group_lookup(&group, g) {
            Some(gid) => gid,
            None => g
                .parse::<u32>()
                .map_err(|_| anyhow::anyhow!("unable to find group {g}: no matching entries in group file"))?,
        },
    };
    let mut additional_gids = if name.is_empty() || g.is_some() {
        Vec::new()
    } else {
        memberships(&group, &name)
    };
    additional_gids.retain(|x| *x != gid);
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

/// Looks up the primary gid of a uid in the image (for `runAsUser` without `runAsGroup`).
pub fn primary_gid(uid: u32, root: &Rootfs) -> u32 {
    let passwd = root.read("etc/passwd").unwrap_or_default();
    passwd_lookup(&passwd, &uid.to_string()).map(|(_, _, g)| g).unwrap_or(0)
}

/// A root for tests: one directory.
pub fn single(dir: &Path) -> Rootfs {
    Rootfs {
        layers: vec![dir.to_path_buf()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, Rootfs) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nwheel:x:10:app\nnogroup:x:65534:\n",
        )
        .unwrap();
        let r = single(d.path());
        (d, r)
    }

    #[test]
    fn names_and_numbers() {
        let (_d, r) = root();
        assert_eq!(
            resolve("", &r).unwrap(),
            User {
                uid: 0,
                gid: 0,
                additional_gids: vec![]
            }
        );
        assert_eq!(
            resolve("app", &r).unwrap(),
            User {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10]
            }
        );
        assert_eq!(
            resolve("nobody:wheel", &r).unwrap(),
            User {
                uid: 65534,
                gid: 10,
                additional_gids: vec![]
            }
        );
        assert_eq!(
            resolve("1234:5678", &r).unwrap(),
            User {
                uid: 1234,
                gid: 5678,
                additional_gids: vec![]
            }
        );
        assert_eq!(resolve("1000", &r).unwrap().gid, 1000);
        assert!(resolve("ghost", &r).is_err());
        assert_eq!(primary_gid(65534, &r), 65534);
    }

    #[test]
    fn overlay_layers() {
        let m = containerd_client::types::Mount {
            r#type: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options: vec!["workdir=/w".into(), "upperdir=/u".into(), "lowerdir=/l1:/l2".into()],
        };
        let r = Rootfs::from_mounts(&[m]);
        assert_eq!(
            r.layers,
            vec![PathBuf::from("/u"), PathBuf::from("/l1"), PathBuf::from("/l2")]
        );
    }
}
