//! Image references as Docker (and kubelet, through `distribution/reference`)
//! understand them: `busybox` → `docker.io/library/busybox:latest`, plus the
//! pull-policy decision kubelet makes before pulling.

use std::fmt;

/// The registry short names without a domain go to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag used when a name has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `localhost:5000`, `127.0.0.1:5000`, `[::1]:5000`…
    pub domain: String,
    /// `library/busybox`, `user/app`…
    pub path: String,
    /// The tag (`latest` when the name had neither tag nor digest).
    pub tag: Option<String>,
    /// `sha256:…` when the name pinned a digest.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalises a name the way `docker pull` and kubelet do.
    pub fn parse(name: &str) -> Result<Reference, InvalidReference> {
        parse_normalized(name)
    }

    /// `domain/path` (`docker.io/library/busybox`).
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The full name: `repo:tag`, `repo@digest` or `repo:tag@digest`.
    pub fn full_name(&self) -> String {
        let mut s = self.repository();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// `repo@digest` for a given digest (what `imageID`/RepoDigests show).
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{}", self.repository(), digest)
    }

    /// The name the image is stored under in containerd: the tag form when there
    /// is a tag, else the digest form.
    pub fn store_name(&self) -> String {
        self.full_name()
    }

    /// Whether the image is reached over plain HTTP: loopback registries always
    /// (as Docker does), others only when listed as insecure.
    pub fn is_insecure(&self, insecure_registries: &[String]) -> bool {
        let host = host_of(&self.domain);
        if host == "localhost" || host == "127.0.0.1" || host == "::1" || host.starts_with("127.") {
            return true;
        }
        insecure_registries.iter().any(|r| {
            let r = r.trim_start_matches("http://").trim_start_matches("https://");
            let r = r.trim_end_matches('/');
            r == self.domain || r == host
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_name())
    }
}

/// The host part of a domain (`[::1]:5000` → `::1`, `localhost:5000` → `localhost`).
fn host_of(domain: &str) -> &str {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    domain.split(':').next().unwrap_or(domain)
}

/// Why a name is not a valid image reference. Its `Display` is the text of
/// `distribution/reference`'s error (what kubelet wraps).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReference {
    /// The generic grammar failure.
    #[error("invalid reference format")]
    Format,
    /// Upper-case letters in the repository path.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// A bare 64-hex string (an image ID, not a name).
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    /// An empty name.
    #[error("repository name must have at least one component")]
    Empty,
    /// A name over 255 characters.
    #[error("repository name must not be more than 255 characters")]
    TooLong,
    /// A digest that does not parse.
    #[error("invalid checksum digest format")]
    Digest,
}

/// Normalises a name (`busybox` → `docker.io/library/busybox:latest`).
pub fn normalize(name: &str) -> Result<String, InvalidReference> {
    Ok(Reference::parse(name)?.full_name())
}

/// The message kubelet puts in an `InvalidImageName` event/status for `name`:
/// `Failed to apply default image tag "X": couldn't parse image name "X": <err>`.
pub fn invalid_name_message(name: &str, err: &InvalidReference) -> String {
    format!("Failed to apply default image tag {name:?}: couldn't parse image name {name:?}: {err}")
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Splits `domain/remainder` like Docker: the first component is a domain when it
/// contains `.` or `:`, is `localhost`, or has upper-case letters.
fn split_domain(name: &str) -> (String, String) {
    let (domain, mut remainder) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first => {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (domain, remainder)
}

fn parse_normalized(s: &str) -> Result<Reference, InvalidReference> {
    if s.is_empty() {
        return Err(InvalidReference::Format);
    }
    if is_hex64(s) {
        return Err(InvalidReference::HexName(s.to_string()));
    }
    let (domain, remainder) = split_domain(s);
    let remote = match remainder.find([':', '@']) {
        Some(i) => &remainder[..i],
        None => remainder.as_str(),
    };
    if remote.to_lowercase() != remote {
        return Err(InvalidReference::Uppercase(remote.to_string()));
    }
    let mut r = parse_strict(&format!("{domain}/{remainder}"))?;
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some(DEFAULT_TAG.to_string());
    }
    Ok(r)
}

/// Parses `domain/path[:tag][@digest]` with the grammar of `distribution/reference`.
fn parse_strict(s: &str) -> Result<Reference, InvalidReference> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        validate_digest(d)?;
    }
    // A tag follows the last ':' that comes after the last '/'.
    let last_slash = rest.rfind('/').ok_or(InvalidReference::Format)?;
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        if !valid_tag(t) {
            return Err(InvalidReference::Format);
        }
    }
    let (domain, path) = name.split_once('/').ok_or(InvalidReference::Format)?;
    if !valid_domain(domain) {
        return Err(InvalidReference::Format);
    }
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return Err(InvalidReference::Format);
    }
    if name.len() > 255 {
        return Err(InvalidReference::TooLong);
    }
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // A separator: '.', '_', '__' or '-'+.
        let sep_start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == sep_start || i == b.len() {
            return false;
        }
    }
}

/// Domain components (`[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?` joined by '.'), or an
/// IPv6 literal in brackets, with an optional `:port`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => return !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty() && b.len() <= 128 && word(b[0]) && b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
}

/// `algorithm:hex`, with sha256 needing exactly 64 lower-case hex digits.
fn validate_digest(d: &str) -> Result<(), InvalidReference> {
    let (alg, hex) = d.split_once(':').ok_or(InvalidReference::Format)?;
    let alg_ok = !alg.is_empty()
        && alg.as_bytes()[0].is_ascii_alphabetic()
        && alg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'.'));
    if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(InvalidReference::Format);
    }
    if alg == "sha256" && (hex.len() != 64 || hex.bytes().any(|b| b.is_ascii_uppercase())) {
        return Err(InvalidReference::Digest);
    }
    Ok(())
}

/// `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull every time a container starts.
    Always,
    /// Pull only when the image is missing.
    IfNotPresent,
    /// Never pull: a missing image is `ErrImageNeverPull`.
    Never,
}

impl PullPolicy {
    /// The policy from the pod spec's field; when absent, the apiserver's default
    /// rule (`Always` for `:latest` or no tag, else `IfNotPresent`).
    pub fn from_spec(policy: Option<&str>, image: &str) -> PullPolicy {
        match policy {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            Some("IfNotPresent") => PullPolicy::IfNotPresent,
            _ => PullPolicy::default_for(image),
        }
    }

    /// The apiserver's default for an image name.
    pub fn default_for(image: &str) -> PullPolicy {
        // Kubernetes looks at the tag as written, without normalisation.
        let after_slash = image.rsplit('/').next().unwrap_or(image);
        let no_digest = after_slash.split('@').next().unwrap_or(after_slash);
        match no_digest.split_once(':') {
            None if image.contains('@') => PullPolicy::IfNotPresent,
            None => PullPolicy::Always,
            Some((_, "latest")) => PullPolicy::Always,
            Some(_) => PullPolicy::IfNotPresent,
        }
    }

    /// kubelet's decision: `Some(true)` pull, `Some(false)` use what is there,
    /// `None` the image is missing and may not be pulled.
    pub fn should_pull(self, present: bool) -> Option<bool> {
        match (self, present) {
            (PullPolicy::Always, _) => Some(true),
            (PullPolicy::IfNotPresent, present) => Some(!present),
            (PullPolicy::Never, true) => Some(false),
            (PullPolicy::Never, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        match normalize(s) {
            Ok(v) => v,
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn docker_hub_short_names() {
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(n("user/app"), "docker.io/user/app:latest");
        assert_eq!(n("docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("index.docker.io/library/busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(n("a/b/c:v1"), "docker.io/a/b/c:v1");
    }

    #[test]
    fn registries_with_domains() {
        assert_eq!(n("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(n("localhost/app"), "localhost/app:latest");
        assert_eq!(n("127.0.0.1:5000/team/app:v2"), "127.0.0.1:5000/team/app:v2");
        assert_eq!(n("quay.io/coreos/etcd:v3"), "quay.io/coreos/etcd:v3");
        assert_eq!(n("[::1]:5000/app:1"), "[::1]:5000/app:1");
        assert_eq!(n("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause:3.10");
    }

    #[test]
    fn digests() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        assert_eq!(n(&format!("busybox@{d}")), format!("docker.io/library/busybox@{d}"));
        assert_eq!(
            n(&format!("busybox:1.36@{d}")),
            format!("docker.io/library/busybox:1.36@{d}")
        );
        let r = Reference::parse(&format!("localhost:5000/app@{d}")).expect("parses");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert!(normalize("busybox@sha256:abc").is_err());
    }

    #[test]
    fn invalid_names() {
        assert_eq!(
            n("Busybox"),
            "ERR invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(n(""), "ERR invalid reference format");
        assert_eq!(n("busy box"), "ERR invalid reference format");
        assert_eq!(n("busybox:"), "ERR invalid reference format");
        assert_eq!(n("-busybox"), "ERR invalid reference format");
        assert_eq!(n("busybox:tag!"), "ERR invalid reference format");
        assert!(n(&"a".repeat(64)).starts_with("ERR invalid repository name"));
        let e = Reference::parse("bad//name").expect_err("invalid");
        assert_eq!(
            invalid_name_message("bad//name", &e),
            "Failed to apply default image tag \"bad//name\": couldn't parse image name \"bad//name\": invalid reference format"
        );
    }

    #[test]
    fn insecure_registries() {
        let r = |s: &str| Reference::parse(s).expect("parses");
        assert!(r("localhost:5000/a").is_insecure(&[]));
        assert!(r("127.0.0.1:5000/a").is_insecure(&[]));
        assert!(r("[::1]:5000/a").is_insecure(&[]));
        assert!(!r("busybox").is_insecure(&[]));
        assert!(!r("reg.lan:5000/a").is_insecure(&[]));
        assert!(r("reg.lan:5000/a").is_insecure(&["reg.lan:5000".to_string()]));
        assert!(r("reg.lan/a").is_insecure(&["http://reg.lan".to_string()]));
    }

    #[test]
    fn pull_policy() {
        assert_eq!(PullPolicy::from_spec(None, "busybox"), PullPolicy::Always);
        assert_eq!(PullPolicy::from_spec(None, "busybox:latest"), PullPolicy::Always);
        assert_eq!(PullPolicy::from_spec(None, "busybox:1.36"), PullPolicy::IfNotPresent);
        assert_eq!(PullPolicy::from_spec(None, "localhost:5000/app"), PullPolicy::Always);
        assert_eq!(
            PullPolicy::from_spec(None, "localhost:5000/app:v1"),
            PullPolicy::IfNotPresent
        );
        let d = "sha256:".to_string() + &"a".repeat(64);
        assert_eq!(
            PullPolicy::from_spec(None, &format!("busybox@{d}")),
            PullPolicy::IfNotPresent
        );
        assert_eq!(PullPolicy::from_spec(Some("Never"), "busybox"), PullPolicy::Never);
        assert_eq!(PullPolicy::Always.should_pull(true), Some(true));
        assert_eq!(PullPolicy::IfNotPresent.should_pull(true), Some(false));
        assert_eq!(PullPolicy::IfNotPresent.should_pull(false), Some(true));
        assert_eq!(PullPolicy::Never.should_pull(true), Some(false));
        assert_eq!(PullPolicy::Never.should_pull(false), None);
    }
}
