//! Reading an image archive (a tar stream) entry by entry on a blocking thread:
//! small files are kept in memory, big ones are streamed out in chunks together
//! with their digest (and, for gzip, the digest of the uncompressed data).

use std::io::{Read, Write};

use anyhow::{anyhow, Context};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::oci::{self, Sha256};

/// Files up to this size are held in memory (manifests, configs, small layers).
pub const SMALL_FILE: u64 = 1 << 20;
const CHUNK: usize = 1 << 20;

/// Import progress.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Bytes of the archive read so far.
    Read(u64),
    /// Unpacking an image's layers.
    Unpacking(String),
    /// An image was imported.
    Imported(String),
}

/// A progress callback (called from a blocking thread too).
pub type ProgressFn = std::sync::Arc<dyn Fn(Progress) + Send + Sync>;

/// What the reader thread sends.
#[derive(Debug)]
pub enum Msg {
    /// A file small enough to keep in memory.
    Small {
        /// Path in the archive (normalised, no leading `./`).
        path: String,
        /// Content.
        data: Vec<u8>,
    },
    /// A symlink (newer `docker save` links duplicate layers).
    Link {
        /// Path of the link.
        path: String,
        /// Resolved target path in the archive.
        target: String,
    },
    /// A big file begins.
    Start {
        /// Path in the archive.
        path: String,
        /// Its size.
        size: u64,
    },
    /// Part of the big file.
    Chunk(Bytes),
    /// The big file ended.
    End {
        /// `sha256:` of its bytes.
        digest: String,
        /// `sha256:` of its uncompressed bytes when it is gzip.
        gunzipped: Option<String>,
    },
}

/// Normalises a tar path (`./blobs/x` → `blobs/x`).
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Resolves a symlink target relative to the link's directory.
fn resolve_link(link: &str, target: &str) -> String {
    if target.starts_with('/') {
        return clean_path(target);
    }
    let dir = link.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    clean_path(&format!("{dir}/{target}"))
}

struct Counting<R> {
    inner: R,
    n: u64,
    last: u64,
    progress: Option<ProgressFn>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        if let Some(p) = &self.progress {
            if self.n - self.last >= 256 * 1024 || k == 0 {
                self.last = self.n;
                p(Progress::Read(self.n));
            }
        }
        Ok(k)
    }
}

/// Hashes a stream and, when it starts with the gzip magic, its gunzipped bytes too.
#[derive(Default)]
pub struct LayerHasher {
    raw: Sha256,
    gz: Option<flate2::write::GzDecoder<Sha256>>,
    decided: bool,
}

impl LayerHasher {
    /// Feeds bytes.
    pub fn update(&mut self, b: &[u8]) -> anyhow::Result<()> {
        if !self.decided && !b.is_empty() {
            self.decided = true;
            if oci::is_gzip(b) {
                self.gz = Some(flate2::write::GzDecoder::new(Sha256::default()));
            }
        }
        self.raw.update(b);
        if let Some(gz) = &mut self.gz {
            gz.write_all(b).context("invalid gzip data")?;
        }
        Ok(())
    }

    /// (digest, gunzipped digest if gzip).
    pub fn finish(self) -> anyhow::Result<(String, Option<String>)> {
        let raw = self.raw.finish();
        let gz = match self.gz {
            Some(gz) => Some(gz.finish().context("truncated gzip data")?.finish()),
            None => None,
        };
        Ok((raw, gz))
    }
}

/// Hashes bytes in memory like [`LayerHasher`].
pub fn hash_layer(data: &[u8]) -> anyhow::Result<(String, Option<String>)> {
    let mut h = LayerHasher::default();
    h.update(data)?;
    h.finish()
}

/// Reads the tar from `reader` on this (blocking) thread, sending entries to `tx`.
pub fn read_archive<R: Read>(
    reader: R,
    tx: mpsc::Sender<anyhow::Result<Msg>>,
    progress: Option<ProgressFn>,
) -> anyhow::Result<()> {
    let counting = Counting {
        inner: reader,
        n: 0,
        last: 0,
        progress: progress.clone(),
    };
    let mut ar = tar::Archive::new(counting);
    let send = |m: Msg| tx.blocking_send(Ok(m)).map_err(|_| anyhow!("import cancelled"));
    let mut any = false;
    for entry in ar.entries().context("cannot read the archive (not a tar file?)")? {
        let mut entry = entry.context("cannot read the archive (not a tar file?)")?;
        any = true;
        let path = entry
            .path()
            .context("bad path in the archive")?
            .to_string_lossy()
            .to_string();
        let path = clean_path(&path);
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Some(t) = entry.link_name().context("bad link in the archive")? {
                let t = t.to_string_lossy().to_string();
                let target = if kind.is_hard_link() {
                    clean_path(&t)
                } else {
                    resolve_link(&path, &t)
                };
                send(Msg::Link { path, target })?;
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.size();
        if size <= SMALL_FILE {
            let mut data = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut data)
                .with_context(|| format!("cannot read {path} from the archive"))?;
            send(Msg::Small { path, data })?;
            continue;
        }
        send(Msg::Start {
            path: path.clone(),
            size,
        })?;
        let mut hasher = LayerHasher::default();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = entry
                .read(&mut buf)
                .with_context(|| format!("cannot read {path} from the archive"))?;
            if n == 0 {
                break;
            }
            hasher
                .update(&buf[..n])
                .with_context(|| format!("{path} in the archive"))?;
            send(Msg::Chunk(Bytes::copy_from_slice(&buf[..n])))?;
        }
        let (digest, gunzipped) = hasher.finish().with_context(|| format!("{path} in the archive"))?;
        send(Msg::End { digest, gunzipped })?;
    }
    if !any {
        return Err(anyhow!("the archive is empty"));
    }
    // Drain the end of the stream so a pipe writer does not get SIGPIPE.
    let mut rest = ar.into_inner();
    let _ = std::io::copy(&mut rest, &mut std::io::sink());
    if let Some(p) = &progress {
        p(Progress::Read(rest.n));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(clean_path("./blobs/sha256/ab"), "blobs/sha256/ab");
        assert_eq!(clean_path("a/../b"), "b");
        assert_eq!(resolve_link("abc/layer.tar", "../def/layer.tar"), "def/layer.tar");
        assert_eq!(resolve_link("blobs/sha256/x", "/blobs/sha256/y"), "blobs/sha256/y");
    }

    #[test]
    fn hashes_gzip_layers_both_ways() {
        let raw = b"hello layer".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&raw).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let (d, u) = hash_layer(&gz).expect("hash");
        assert_eq!(d, oci::sha256_digest(&gz));
        assert_eq!(u, Some(oci::sha256_digest(&raw)));
        let (d, u) = hash_layer(&raw).expect("hash");
        assert_eq!(d, oci::sha256_digest(&raw));
        assert_eq!(u, None);
        assert!(hash_layer(&gz[..gz.len() / 2]).is_err());
    }
}
