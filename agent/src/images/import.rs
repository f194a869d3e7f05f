//! Importing `docker save` archives (legacy `manifest.json` + `<id>.json` +
//! `<id>/layer.tar`, and the newer OCI-based layout with `blobs/sha256/…`) and
//! OCI image layout archives (`oci-layout`, `index.json`, `blobs/`) from any
//! `Read`. The tar is streamed: big files go straight into containerd's content
//! store while being hashed; small ones stay in memory until the end.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{anyhow, bail, Context};
use tokio::sync::mpsc;

use super::archive::{self, Msg, ProgressFn};
use super::oci::{self, ConfigFile, Descriptor, Index, Manifest};
use super::reference;
use super::store::{BlobWriter, Store};

/// Where a file of the archive is.
#[derive(Debug, Clone)]
pub enum FileRef {
    /// Held in memory.
    Mem(Vec<u8>),
    /// Written to containerd's content store.
    Stored {
        /// Its digest.
        digest: String,
        /// Its size.
        size: u64,
        /// The digest of its uncompressed bytes when gzip.
        gunzipped: Option<String>,
    },
}

/// The files of an archive.
#[derive(Debug, Default)]
pub struct Files {
    map: HashMap<String, FileRef>,
    links: HashMap<String, String>,
}

impl Files {
    /// Adds a file.
    pub fn insert(&mut self, path: &str, f: FileRef) {
        self.map.insert(archive::clean_path(path), f);
    }

    /// Adds a link.
    pub fn link(&mut self, path: &str, target: &str) {
        self.links
            .insert(archive::clean_path(path), archive::clean_path(target));
    }

    /// A file, following links.
    pub fn get(&self, path: &str) -> Option<&FileRef> {
        let mut p = archive::clean_path(path);
        for _ in 0..16 {
            if let Some(f) = self.map.get(&p) {
                return Some(f);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }

    /// A small file's bytes.
    pub fn bytes(&self, path: &str) -> anyhow::Result<&[u8]> {
        match self.get(path) {
            Some(FileRef::Mem(b)) => Ok(b),
            Some(FileRef::Stored { .. }) => bail!("{path} in the archive is too big for a JSON document"),
            None => bail!("{path} is missing from the archive"),
        }
    }

    /// `blobs/<alg>/<hex>` of a digest.
    fn blob_path(digest: &str) -> String {
        format!("blobs/{}", digest.replacen(':', "/", 1))
    }

    /// Whether a file exists.
    pub fn contains(&self, path: &str) -> bool {
        self.get(path).is_some()
    }
}

/// A layer to store and unpack.
#[derive(Debug, Clone)]
pub struct PlannedLayer {
    /// The descriptor (media type by compression, digest, size).
    pub desc: Descriptor,
    /// The uncompressed digest.
    pub diff_id: String,
    /// Its bytes when still in memory.
    pub data: Option<Vec<u8>>,
}

/// One image found in an archive.
#[derive(Debug, Clone)]
pub struct PlannedImage {
    /// Normalised names to record.
    pub names: Vec<String>,
    /// An index to store (and make the target), when the archive had one.
    pub index: Option<(Descriptor, Vec<u8>, Index)>,
    /// The manifest (descriptor, exact bytes, parsed).
    pub manifest: (Descriptor, Vec<u8>, Manifest),
    /// The config bytes.
    pub config: Vec<u8>,
    /// Layers, base first.
    pub layers: Vec<PlannedLayer>,
}

impl PlannedImage {
    /// The descriptor the image record points at.
    pub fn target(&self) -> Descriptor {
        match &self.index {
            Some((d, _, _)) => d.clone(),
            None => self.manifest.0.clone(),
        }
    }
}

/// `docker save`'s `manifest.json` entries.
#[derive(serde::Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

fn normalize_names(names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for n in names {
        let norm = reference::normalize(n).map_err(|e| anyhow!("invalid image name {n:?} in the archive: {e}"))?;
        if !out.contains(&norm) {
            out.push(norm);
        }
    }
    Ok(out)
}

/// Works out the images of an archive from its files.
pub fn plan(files: &Files) -> anyhow::Result<Vec<PlannedImage>> {
    if files.contains("index.json") && files.contains("oci-layout") {
        let docker_tags = docker_tags_by_config(files);
        return plan_oci(files, &docker_tags);
    }
    if files.contains("manifest.json") {
        return plan_docker(files);
    }
    bail!("not an image archive: neither manifest.json (docker save) nor oci-layout/index.json (OCI) found")
}

/// `RepoTags` of `manifest.json` keyed by config digest (from the config's path).
fn docker_tags_by_config(files: &Files) -> HashMap<String, Vec<String>> {
    let mut m = HashMap::new();
    let Ok(b) = files.bytes("manifest.json") else {
        return m;
    };
    let Ok(entries) = serde_json::from_slice::<Vec<DockerEntry>>(b) else {
        return m;
    };
    for e in entries {
        let digest = match files.get(&e.config) {
            Some(FileRef::Mem(b)) => oci::sha256_digest(b),
            Some(FileRef::Stored { digest, .. }) => digest.clone(),
            None => continue,
        };
        m.insert(digest, e.repo_tags.unwrap_or_default());
    }
    m
}

fn layer_from_file(
    files: &Files,
    path: &str,
    diff_id: &str,
    gzip_type: &str,
    plain_type: &str,
) -> anyhow::Result<PlannedLayer> {
    let (digest, size, gunzipped, data) = match files.get(path) {
        Some(FileRef::Mem(b)) => {
            let (d, g) = archive::hash_layer(b).with_context(|| format!("layer {path}"))?;
            (d, b.len() as u64, g, Some(b.clone()))
        }
        Some(FileRef::Stored {
            digest,
            size,
            gunzipped,
        }) => (digest.clone(), *size, gunzipped.clone(), None),
        None => bail!("layer {path} is missing from the archive"),
    };
    let (media_type, computed) = match gunzipped {
        Some(u) => (gzip_type, u),
        None => (plain_type, digest.clone()),
    };
    if computed != diff_id {
        bail!("layer {path} has diff ID {computed} but the image config says {diff_id}");
    }
    Ok(PlannedLayer {
        desc: Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: size as i64,
            ..Default::default()
        },
        diff_id: diff_id.to_string(),
        data,
    })
}

fn plan_docker(files: &Files) -> anyhow::Result<Vec<PlannedImage>> {
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(files.bytes("manifest.json")?).context("invalid manifest.json")?;
    let mut out = Vec::new();
    for e in entries {
        let config = files.bytes(&e.config)?.to_vec();
        let cfg = ConfigFile::parse(&config).with_context(|| format!("config {}", e.config))?;
        if cfg.rootfs.diff_ids.len() != e.layers.len() {
            bail!(
                "{}: {} layers listed but the config has {} diff IDs",
                e.config,
                e.layers.len(),
                cfg.rootfs.diff_ids.len()
            );
        }
        let mut layers = Vec::new();
        for (path, diff_id) in e.layers.iter().zip(cfg.rootfs.diff_ids.iter()) {
            layers.push(layer_from_file(
                files,
                path,
                diff_id,
                oci::MT_DOCKER_LAYER_GZIP,
                oci::MT_DOCKER_LAYER,
            )?);
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(oci::MT_DOCKER_MANIFEST.to_string()),
            config: Descriptor {
                media_type: oci::MT_DOCKER_CONFIG.to_string(),
                digest: oci::sha256_digest(&config),
                size: config.len() as i64,
                ..Default::default()
            },
            layers: layers.iter().map(|l| l.desc.clone()).collect(),
        };
        let mbytes = serde_json::to_vec(&manifest).context("cannot encode the manifest")?;
        let mdesc = Descriptor {
            media_type: oci::MT_DOCKER_MANIFEST.to_string(),
            digest: oci::sha256_digest(&mbytes),
            size: mbytes.len() as i64,
            ..Default::default()
        };
        let names = normalize_names(&e.repo_tags.unwrap_or_default())?;
        out.push(PlannedImage {
            names,
            index: None,
            manifest: (mdesc, mbytes, manifest),
            config,
            layers,
        });
    }
    Ok(out)
}

fn blob_bytes(files: &Files, d: &Descriptor) -> anyhow::Result<Vec<u8>> {
    oci::validate_digest(&d.digest)?;
    let b = files.bytes(&Files::blob_path(&d.digest))?;
    let got = oci::sha256_digest(b);
    if got != d.digest {
        bail!("blob {} in the archive has digest {got}", d.digest);
    }
    Ok(b.to_vec())
}

/// Names from OCI annotations: containerd's full-name annotation, else
/// `org.opencontainers.image.ref.name` when it is a full reference.
fn oci_names(d: &Descriptor) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(n) = d.annotations.get("io.containerd.image.name") {
        names.push(n.clone());
    }
    if let Some(n) = d.annotations.get("org.opencontainers.image.ref.name") {
        // A bare tag ("1.36") names nothing by itself.
        if n.contains('/') || n.contains(':') || n.contains('@') {
            names.push(n.clone());
        }
    }
    names
}

fn plan_oci(files: &Files, docker_tags: &HashMap<String, Vec<String>>) -> anyhow::Result<Vec<PlannedImage>> {
    let index: Index = serde_json::from_slice(files.bytes("index.json")?).context("invalid index.json")?;
    let mut out = Vec::new();
    for top in &index.manifests {
        let (nested, mdesc) = if oci::is_index(&top.media_type) {
            let b = blob_bytes(files, top)?;
            let idx: Index = serde_json::from_slice(&b).context("invalid image index")?;
            let m = oci::select_platform(&idx)
                .cloned()
                .ok_or_else(|| anyhow!("index {} has no manifest for linux/{}", top.digest, oci::this_arch()))?;
            (Some((top.clone(), b, idx)), m)
        } else if oci::is_manifest(&top.media_type) {
            (None, top.clone())
        } else {
            continue;
        };
        let mbytes = blob_bytes(files, &mdesc)?;
        let manifest: Manifest = serde_json::from_slice(&mbytes).context("invalid image manifest")?;
        let config = blob_bytes(files, &manifest.config)?;
        let cfg = ConfigFile::parse(&config)?;
        if cfg.rootfs.diff_ids.len() != manifest.layers.len() {
            bail!(
                "manifest {} has {} layers but its config lists {} diff IDs",
                mdesc.digest,
                manifest.layers.len(),
                cfg.rootfs.diff_ids.len()
            );
        }
        let mut layers = Vec::new();
        for (l, diff_id) in manifest.layers.iter().zip(cfg.rootfs.diff_ids.iter()) {
            oci::validate_digest(&l.digest)?;
            let path = Files::blob_path(&l.digest);
            let data = match files.get(&path) {
                Some(FileRef::Mem(b)) => {
                    if oci::sha256_digest(b) != l.digest {
                        bail!("blob {} in the archive has another digest", l.digest);
                    }
                    Some(b.clone())
                }
                Some(FileRef::Stored { digest, .. }) if digest == &l.digest => None,
                Some(FileRef::Stored { digest, .. }) => bail!("blob {} in the archive has digest {digest}", l.digest),
                None => bail!("layer {} is missing from the archive", l.digest),
            };
            layers.push(PlannedLayer {
                desc: l.clone(),
                diff_id: diff_id.clone(),
                data,
            });
        }
        let mut names = oci_names(top);
        if names.is_empty() {
            names = oci_names(&mdesc);
        }
        if let Some(tags) = docker_tags.get(&manifest.config.digest) {
            names.extend(tags.iter().cloned());
        }
        out.push(PlannedImage {
            names: normalize_names(&names)?,
            index: nested,
            manifest: (mdesc, mbytes, manifest),
            config,
            layers,
        });
    }
    Ok(out)
}

/// Streams an archive from `reader` into containerd and records its images.
/// Returns the names imported.
pub async fn import<R: Read + Send + 'static>(
    store: &Store,
    reader: R,
    progress: Option<ProgressFn>,
) -> anyhow::Result<Vec<String>> {
    let lease = store.create_lease().await?;
    let r = import_under_lease(store, &lease, reader, progress).await;
    store.delete_lease(&lease).await;
    r
}

async fn import_under_lease<R: Read + Send + 'static>(
    store: &Store,
    lease: &str,
    reader: R,
    progress: Option<ProgressFn>,
) -> anyhow::Result<Vec<String>> {
    let (tx, mut rx) = mpsc::channel::<anyhow::Result<Msg>>(8);
    let p = progress.clone();
    let reader_task = tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        // `docker save | gzip` works too: a gzip stream is unwrapped first.
        let mut buffered = std::io::BufReader::with_capacity(1 << 20, reader);
        let gz = std::io::BufRead::fill_buf(&mut buffered)
            .map(oci::is_gzip)
            .unwrap_or(false);
        let source: Box<dyn Read> = if gz {
            Box::new(flate2::read::GzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        if let Err(e) = archive::read_archive(source, tx, p) {
            let _ = err_tx.blocking_send(Err(e));
        }
    });
    let mut files = Files::default();
    let mut current: Option<(String, u64, Option<BlobWriter>)> = None;
    while let Some(msg) = rx.recv().await {
        match msg? {
            Msg::Small { path, data } => files.insert(&path, FileRef::Mem(data)),
            Msg::Link { path, target } => files.link(&path, &target),
            Msg::Start { path, size } => {
                let expected = path
                    .strip_prefix("blobs/sha256/")
                    .map(|h| format!("sha256:{h}"))
                    .filter(|d| oci::validate_digest(d).is_ok());
                let skip = match &expected {
                    Some(d) => store.content_info(d).await?.is_some(),
                    None => false,
                };
                let writer = if skip {
                    None
                } else {
                    Some(store.writer(lease, expected.as_deref(), size as i64).await?)
                };
                current = Some((path, size, writer));
            }
            Msg::Chunk(b) => {
                if let Some((_, _, Some(w))) = &mut current {
                    w.write(b).await?;
                }
            }
            Msg::End { digest, gunzipped } => {
                let Some((path, size, writer)) = current.take() else {
                    bail!("archive reader sent an end without a start");
                };
                if let Some(h) = path.strip_prefix("blobs/sha256/") {
                    if digest != format!("sha256:{h}") {
                        bail!("{path} in the archive has digest {digest}");
                    }
                }
                if let Some(w) = writer {
                    w.commit(Some(&digest), HashMap::new())
                        .await
                        .with_context(|| format!("cannot store {path}"))?;
                }
                files.insert(
                    &path,
                    FileRef::Stored {
                        digest,
                        size,
                        gunzipped,
                    },
                );
            }
        }
    }
    reader_task.await.context("archive reader failed")?;
    let images = plan(&files)?;
    if images.iter().all(|i| i.names.is_empty()) {
        bail!("the archive names no image (no RepoTags / image name annotations)");
    }
    let mut names = Vec::new();
    for img in images {
        if img.names.is_empty() {
            continue;
        }
        if let Some(p) = &progress {
            p(archive::Progress::Unpacking(img.names[0].clone()));
        }
        store_image(store, lease, &img).await?;
        for n in &img.names {
            if let Some(p) = &progress {
                p(archive::Progress::Imported(n.clone()));
            }
            names.push(n.clone());
        }
    }
    Ok(names)
}

/// Writes an image's small blobs, unpacks its layers, labels everything for GC
/// and records its names.
pub async fn store_image(store: &Store, lease: &str, img: &PlannedImage) -> anyhow::Result<()> {
    let no_labels = HashMap::new();
    for l in &img.layers {
        if let Some(d) = &l.data {
            store.write_bytes(lease, &l.desc.digest, d, &no_labels).await?;
        }
    }
    let diff_ids: Vec<String> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
    let descs: Vec<Descriptor> = img.layers.iter().map(|l| l.desc.clone()).collect();
    let top = store.unpack(lease, &descs, &diff_ids).await?;
    let (mdesc, mbytes, manifest) = &img.manifest;
    store
        .write_bytes(lease, &manifest.config.digest, &img.config, &store.config_labels(&top))
        .await?;
    store
        .write_bytes(lease, &mdesc.digest, mbytes, &Store::manifest_labels(manifest))
        .await?;
    if let Some((idesc, ibytes, index)) = &img.index {
        store
            .write_bytes(lease, &idesc.digest, ibytes, &Store::index_labels(index))
            .await?;
    }
    let target = img.target();
    for n in &img.names {
        store.put_image(lease, n, &target).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(layer_files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, d) in layer_files {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(0o755);
            h.set_cksum();
            b.append_data(&mut h, p, *d).expect("tar");
        }
        b.into_inner().expect("tar")
    }

    fn docker_files(gzip: bool) -> (Files, String) {
        let layer = tar_of(&[("bin/hello", b"hi")]);
        let diff_id = oci::sha256_digest(&layer);
        let layer_bytes = if gzip {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&layer).expect("gz");
            gz.finish().expect("gz")
        } else {
            layer.clone()
        };
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        );
        let cfg_id = oci::sha256_digest(config.as_bytes());
        let hex = cfg_id.trim_start_matches("sha256:").to_string();
        let manifest = format!(
            r#"[{{"Config":"{hex}.json","RepoTags":["busybox:1.36","localhost:5000/bb:v1"],"Layers":["abc/layer.tar"]}}]"#
        );
        let mut f = Files::default();
        f.insert("manifest.json", FileRef::Mem(manifest.into_bytes()));
        f.insert(&format!("{hex}.json"), FileRef::Mem(config.into_bytes()));
        f.insert("abc/layer.tar", FileRef::Mem(layer_bytes));
        (f, diff_id)
    }

    #[test]
    fn plans_docker_save_archives() {
        for gzip in [false, true] {
            let (f, diff_id) = docker_files(gzip);
            let imgs = plan(&f).expect("plans");
            assert_eq!(imgs.len(), 1);
            let i = &imgs[0];
            assert_eq!(i.names, ["docker.io/library/busybox:1.36", "localhost:5000/bb:v1"]);
            assert_eq!(i.layers[0].diff_id, diff_id);
            let want = if gzip {
                oci::MT_DOCKER_LAYER_GZIP
            } else {
                oci::MT_DOCKER_LAYER
            };
            assert_eq!(i.layers[0].desc.media_type, want);
            assert_eq!(i.manifest.2.config.digest, oci::sha256_digest(&i.config));
            assert_eq!(i.target().media_type, oci::MT_DOCKER_MANIFEST);
            assert_eq!(i.target().digest, oci::sha256_digest(&i.manifest.1));
        }
    }

    #[test]
    fn rejects_wrong_diff_ids_and_non_archives() {
        let (mut f, _) = docker_files(false);
        f.insert("abc/layer.tar", FileRef::Mem(b"other".to_vec()));
        let e = plan(&f).expect_err("mismatch");
        assert!(e.to_string().contains("diff ID"), "{e}");
        let mut g = Files::default();
        g.insert("hello.txt", FileRef::Mem(b"x".to_vec()));
        assert!(plan(&g)
            .expect_err("not an archive")
            .to_string()
            .contains("not an image archive"));
    }

    #[test]
    fn plans_oci_layouts_with_ref_names_and_links() {
        let layer = tar_of(&[("a", b"1")]);
        let ld = oci::sha256_digest(&layer);
        let config = format!(r#"{{"os":"linux","rootfs":{{"type":"layers","diff_ids":["{ld}"]}}}}"#);
        let cd = oci::sha256_digest(config.as_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"{}","digest":"{ld}","size":{}}}]}}"#,
            oci::MT_OCI_MANIFEST,
            oci::MT_OCI_CONFIG,
            config.len(),
            oci::MT_OCI_LAYER,
            layer.len()
        );
        let md = oci::sha256_digest(manifest.as_bytes());
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{md}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"example.com/app:v1"}}}}]}}"#,
            oci::MT_OCI_MANIFEST,
            manifest.len()
        );
        let mut f = Files::default();
        f.insert(
            "oci-layout",
            FileRef::Mem(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        );
        f.insert("index.json", FileRef::Mem(index.into_bytes()));
        f.insert(&Files::blob_path(&md), FileRef::Mem(manifest.into_bytes()));
        f.insert(&Files::blob_path(&cd), FileRef::Mem(config.into_bytes()));
        // The layer is a link to a file elsewhere, as newer docker save does.
        f.insert("other/layer", FileRef::Mem(layer));
        f.link(&Files::blob_path(&ld), "other/layer");
        let imgs = plan(&f).expect("plans");
        assert_eq!(imgs.len(), 1);
        assert_eq!(imgs[0].names, ["example.com/app:v1"]);
        assert_eq!(imgs[0].target().digest, md);
        assert_eq!(imgs[0].layers[0].diff_id, ld);
    }
}
