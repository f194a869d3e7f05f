//! host-local's reservations on disk (`<dataDir>/<network>/<ip>`, each holding
//! the owner's container ID and interface) and the garbage decision: which of
//! them belong to containers that no longer exist.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// One reserved address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The address (the file's name).
    pub ip: IpAddr,
    /// The owner's `CNI_CONTAINERID` (empty when the file is unreadable or empty).
    pub container_id: String,
    /// The owner's `CNI_IFNAME` (older host-local versions wrote none).
    pub ifname: Option<String>,
    /// The reservation file.
    pub path: PathBuf,
}

/// Parses a reservation file's content: `<id>\r\n<ifname>` (or just `<id>`).
pub fn parse_owner(content: &str) -> (String, Option<String>) {
    let mut lines = content.lines().map(str::trim);
    let id = lines.next().unwrap_or("").to_string();
    let ifname = lines.next().filter(|s| !s.is_empty()).map(str::to_string);
    (id, ifname)
}

/// The reservations of `network` under host-local's `data_dir` (files named by
/// an IP; `lock` and `last_reserved_ip.*` are not reservations).
pub fn reservations(data_dir: &Path, network: &str) -> Vec<Reservation> {
    let dir = data_dir.join(network);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<Reservation> = entries
        .flatten()
        .filter_map(|e| {
            let ip: IpAddr = e.file_name().to_str()?.parse().ok()?;
            let content = std::fs::read_to_string(e.path()).unwrap_or_default();
            let (container_id, ifname) = parse_owner(&content);
            Some(Reservation {
                ip,
                container_id,
                ifname,
                path: e.path(),
            })
        })
        .collect();
    out.sort_by_key(|r| r.ip);
    out
}

/// The reservations to release: those whose owner is not a live container.
/// One without a readable owner is kept (it cannot be proven stale).
pub fn stale<'a>(reservations: &'a [Reservation], live: &HashSet<String>) -> Vec<&'a Reservation> {
    reservations
        .iter()
        .filter(|r| !r.container_id.is_empty() && !live.contains(&r.container_id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners() {
        for (content, id, ifname) in [
            ("abc\r\neth0", "abc", Some("eth0")),
            ("abc\neth0\n", "abc", Some("eth0")),
            ("abc", "abc", None),
            ("  abc  \n", "abc", None),
            ("", "", None),
        ] {
            assert_eq!(
                parse_owner(content),
                (id.to_string(), ifname.map(str::to_string)),
                "{content:?}"
            );
        }
    }

    #[test]
    fn reads_the_dir_and_decides() {
        let d = tempfile::tempdir().unwrap();
        let net = d.path().join("k1s");
        std::fs::create_dir_all(&net).unwrap();
        std::fs::write(net.join("10.42.0.2"), "live-pod\r\neth0").unwrap();
        std::fs::write(net.join("10.42.0.3"), "gone-pod\r\neth0").unwrap();
        std::fs::write(net.join("10.42.0.4"), "").unwrap();
        std::fs::write(net.join("10.42.0.10"), "old-format").unwrap();
        std::fs::write(net.join("last_reserved_ip.0"), "10.42.0.10").unwrap();
        std::fs::write(net.join("lock"), "").unwrap();
        let all = reservations(d.path(), "k1s");
        let ips: Vec<String> = all.iter().map(|r| r.ip.to_string()).collect();
        assert_eq!(ips, ["10.42.0.2", "10.42.0.3", "10.42.0.4", "10.42.0.10"]);
        assert!(reservations(d.path(), "other").is_empty());

        let live: HashSet<String> = ["live-pod".to_string()].into();
        let gone: Vec<(String, Option<String>)> = stale(&all, &live)
            .iter()
            .map(|r| (r.container_id.clone(), r.ifname.clone()))
            .collect();
        assert_eq!(
            gone,
            [
                ("gone-pod".to_string(), Some("eth0".to_string())),
                ("old-format".to_string(), None)
            ]
        );
        // Everything live: nothing released; nothing live: every owned one.
        let every: HashSet<String> = ["live-pod", "gone-pod", "old-format"].map(String::from).into();
        assert!(stale(&all, &every).is_empty());
        assert_eq!(stale(&all, &HashSet::new()).len(), 3);
    }
}
