//! containerd-side image storage: blobs through the Content service, Image
//! records, unpacking layers through Snapshots + Diff, leases and the GC labels
//! that keep everything alive once the lease ends.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use containerd_client::services::v1::{
    snapshots::{CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest},
    ApplyRequest, CreateImageRequest, CreateRequest, DeleteImageRequest, DeleteRequest, GetImageRequest, Image, Info,
    InfoRequest, ListImagesRequest, ReadContentRequest, UpdateImageRequest, UpdateRequest, WriteAction,
    WriteContentRequest, WriteContentResponse,
};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::oci::{self, Descriptor, Sha256};
use crate::containerd::Containerd;

/// Content is written in messages of this size.
const CHUNK: usize = 1 << 20;

/// Label containerd's GC follows from a manifest/index/config to other content.
pub const GC_REF_CONTENT: &str = "containerd.io/gc.ref.content";
/// Label on a layer blob naming its uncompressed digest (set by containerd's unpacker).
pub const LABEL_UNCOMPRESSED: &str = "containerd.io/uncompressed";
/// Label on images the CRI plugin manages (so `crictl` would show them too).
pub const LABEL_CRI_MANAGED: &str = "io.cri-containerd.image";

fn not_found(s: &tonic::Status) -> bool {
    s.code() == tonic::Code::NotFound
}

fn already_exists(s: &tonic::Status) -> bool {
    s.code() == tonic::Code::AlreadyExists
}

/// Image storage on one containerd and snapshotter.
#[derive(Clone)]
pub struct Store {
    cd: Containerd,
    snapshotter: String,
}

/// An image record as containerd keeps it.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// The name (`docker.io/library/busybox:1.36`).
    pub name: String,
    /// Manifest or index.
    pub target: Descriptor,
    /// Labels.
    pub labels: HashMap<String, String>,
}

fn record_from(img: Image) -> ImageRecord {
    let t = img.target.unwrap_or_default();
    ImageRecord {
        name: img.name,
        target: Descriptor {
            media_type: t.media_type,
            digest: t.digest,
            size: t.size,
            annotations: t.annotations.into_iter().collect(),
            platform: None,
        },
        labels: img.labels,
    }
}

impl Store {
    /// A store using `snapshotter` (`overlayfs`).
    pub fn new(cd: Containerd, snapshotter: &str) -> Store {
        Store {
            cd,
            snapshotter: snapshotter.to_string(),
        }
    }

    /// The snapshotter name.
    pub fn snapshotter(&self) -> &str {
        &self.snapshotter
    }

    /// The containerd handle.
    pub fn containerd(&self) -> &Containerd {
        &self.cd
    }

    /// Creates a lease that expires by itself after an hour (in case k1s dies mid-pull).
    pub async fn create_lease(&self) -> anyhow::Result<String> {
        let id = format!("k1s-image-{}", uuid::Uuid::new_v4());
        let expire = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(3600))
            .map(|t| t.to_string())
            .unwrap_or_default();
        let mut labels = HashMap::new();
        if !expire.is_empty() {
            labels.insert("containerd.io/gc.expire".to_string(), expire);
        }
        self.cd
            .leases()
            .create(self.cd.request(CreateRequest { id: id.clone(), labels }))
            .await
            .context("cannot create a containerd lease")?;
        Ok(id)
    }

    /// Ends a lease (what it protected must be referenced from an image by now).
    pub async fn delete_lease(&self, id: &str) {
        let req = self.cd.request(DeleteRequest {
            id: id.to_string(),
            sync: false,
        });
        if let Err(e) = self.cd.leases().delete(req).await {
            tracing::warn!("cannot delete lease {id}: {}", e.message());
        }
    }

    /// Content info, `None` when the blob is absent.
    pub async fn content_info(&self, digest: &str) -> anyhow::Result<Option<Info>> {
        match self
            .cd
            .content()
            .info(self.cd.request(InfoRequest {
                digest: digest.to_string(),
            }))
            .await
        {
            Ok(r) => Ok(r.into_inner().info),
            Err(s) if not_found(&s) => Ok(None),
            Err(s) => Err(anyhow!("content info {digest}: {}", s.message())),
        }
    }

    /// Reads a whole (small) blob and checks its digest.
    pub async fn read_blob(&self, digest: &str) -> anyhow::Result<Vec<u8>> {
        let mut stream = self
            .cd
            .content()
            .read(self.cd.request(ReadContentRequest {
                digest: digest.to_string(),
                offset: 0,
                size: 0,
            }))
            .await
            .map_err(|s| anyhow!("cannot read {digest}: {}", s.message()))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(msg) = stream.next().await {
            let msg = msg.map_err(|s| anyhow!("cannot read {digest}: {}", s.message()))?;
            out.extend_from_slice(&msg.data);
        }
        let got = oci::sha256_digest(&out);
        if got != digest {
            bail!("content {digest} has digest {got}");
        }
        Ok(out)
    }

    /// Adds labels to a blob (the others stay).
    pub async fn add_labels(&self, digest: &str, labels: &HashMap<String, String>) -> anyhow::Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        let req = UpdateRequest {
            info: Some(Info {
                digest: digest.to_string(),
                labels: labels.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths }),
        };
        self.cd
            .content()
            .update(self.cd.request(req))
            .await
            .map_err(|s| anyhow!("cannot label {digest}: {}", s.message()))?;
        Ok(())
    }

    /// Writes a blob held in memory unless it is there already (then only its labels are added).
    pub async fn write_bytes(
        &self,
        lease: &str,
        digest: &str,
        data: &[u8],
        labels: &HashMap<String, String>,
    ) -> anyhow::Result<()> {
        let got = oci::sha256_digest(data);
        if got != digest {
            bail!("blob {digest} has digest {got}");
        }
        if self.content_info(digest).await?.is_some() {
            return self.add_labels(digest, labels).await;
        }
        let mut w = self.writer(lease, Some(digest), data.len() as i64).await?;
        for c in data.chunks(CHUNK) {
            w.write(Bytes::copy_from_slice(c)).await?;
        }
        w.commit(Some(digest), labels.clone()).await?;
        Ok(())
    }

    /// Opens a content writer (Write stream) for a blob of `total` bytes (0 if unknown).
    pub async fn writer(&self, lease: &str, expected: Option<&str>, total: i64) -> anyhow::Result<BlobWriter> {
        let reference = format!("k1s-{}-{}", expected.unwrap_or("blob"), uuid::Uuid::new_v4());
        let (tx, rx) = mpsc::channel::<WriteContentRequest>(4);
        tx.send(WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: reference.clone(),
            total,
            expected: expected.unwrap_or_default().to_string(),
            ..Default::default()
        })
        .await
        .map_err(|_| anyhow!("content writer closed"))?;
        let mut client = self.cd.content();
        let resp = client
            .write(self.cd.request_with_lease(ReceiverStream::new(rx), lease))
            .await
            .map_err(|s| anyhow!("cannot write content {}: {}", expected.unwrap_or(""), s.message()))?;
        let mut stream = resp.into_inner();
        let drain = tokio::spawn(async move {
            let mut last: Option<WriteContentResponse> = None;
            while let Some(r) = stream.next().await {
                match r {
                    Ok(r) => last = Some(r),
                    Err(s) => return Err(s),
                }
            }
            Ok(last)
        });
        Ok(BlobWriter {
            tx: Some(tx),
            drain: Some(drain),
            reference,
            offset: 0,
            hash: Sha256::default(),
            total,
            cd: self.cd.clone(),
        })
    }

    /// The image record called `name`, if any.
    pub async fn get_image(&self, name: &str) -> anyhow::Result<Option<ImageRecord>> {
        match self
            .cd
            .images()
            .get(self.cd.request(GetImageRequest { name: name.to_string() }))
            .await
        {
            Ok(r) => Ok(r.into_inner().image.map(record_from)),
            Err(s) if not_found(&s) => Ok(None),
            Err(s) => Err(anyhow!("cannot get image {name}: {}", s.message())),
        }
    }

    /// All image records.
    pub async fn list_images(&self) -> anyhow::Result<Vec<ImageRecord>> {
        let r = self
            .cd
            .images()
            .list(self.cd.request(ListImagesRequest { filters: vec![] }))
            .await
            .map_err(|s| anyhow!("cannot list images: {}", s.message()))?;
        Ok(r.into_inner().images.into_iter().map(record_from).collect())
    }

    /// Creates the image record or points it at a new target.
    pub async fn put_image(&self, lease: &str, name: &str, target: &Descriptor) -> anyhow::Result<()> {
        let mut labels = HashMap::new();
        labels.insert(LABEL_CRI_MANAGED.to_string(), "managed".to_string());
        let image = Image {
            name: name.to_string(),
            labels,
            target: Some(target.to_proto()),
            created_at: None,
            updated_at: None,
        };
        let create = CreateImageRequest {
            image: Some(image.clone()),
            source_date_epoch: None,
        };
        match self.cd.images().create(self.cd.request_with_lease(create, lease)).await {
            Ok(_) => Ok(()),
            Err(s) if already_exists(&s) => {
                let update = UpdateImageRequest {
                    image: Some(image),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["target".to_string(), format!("labels.{LABEL_CRI_MANAGED}")],
                    }),
                    source_date_epoch: None,
                };
                self.cd
                    .images()
                    .update(self.cd.request_with_lease(update, lease))
                    .await
                    .map_err(|s| anyhow!("cannot update image {name}: {}", s.message()))?;
                Ok(())
            }
            Err(s) => Err(anyhow!("cannot create image {name}: {}", s.message())),
        }
    }

    /// Deletes an image record (its content and snapshots go with containerd's GC).
    pub async fn delete_image(&self, name: &str) -> anyhow::Result<bool> {
        let req = DeleteImageRequest {
            name: name.to_string(),
            sync: false,
            target: None,
        };
        match self.cd.images().delete(self.cd.request(req)).await {
            Ok(_) => Ok(true),
            Err(s) if not_found(&s) => Ok(false),
            Err(s) => Err(anyhow!("cannot delete image {name}: {}", s.message())),
        }
    }

    /// Whether a committed snapshot exists.
    pub async fn snapshot_exists(&self, key: &str) -> anyhow::Result<bool> {
        let req = StatSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.to_string(),
        };
        match self.cd.snapshots().stat(self.cd.request(req)).await {
            Ok(_) => Ok(true),
            Err(s) if not_found(&s) => Ok(false),
            Err(s) => Err(anyhow!("cannot stat snapshot {key}: {}", s.message())),
        }
    }

    /// Unpacks layers (base first) into snapshots named by chain ID, skipping
    /// those already there; labels each layer blob with its uncompressed digest.
    /// Returns the top chain ID.
    pub async fn unpack(&self, lease: &str, layers: &[Descriptor], diff_ids: &[String]) -> anyhow::Result<String> {
        if layers.len() != diff_ids.len() {
            bail!(
                "the image has {} layers but its config lists {} diff IDs",
                layers.len(),
                diff_ids.len()
            );
        }
        let chain = oci::chain_ids(diff_ids);
        for (i, layer) in layers.iter().enumerate() {
            let chain_id = &chain[i];
            let mut labels = HashMap::new();
            labels.insert(LABEL_UNCOMPRESSED.to_string(), diff_ids[i].clone());
            self.add_labels(&layer.digest, &labels).await?;
            if self.snapshot_exists(chain_id).await? {
                continue;
            }
            let parent = if i == 0 { String::new() } else { chain[i - 1].clone() };
            self.apply_layer(lease, layer, &diff_ids[i], chain_id, &parent)
                .await
                .with_context(|| format!("cannot unpack layer {}", layer.digest))?;
        }
        Ok(chain.last().cloned().unwrap_or_default())
    }

    async fn apply_layer(
        &self,
        lease: &str,
        layer: &Descriptor,
        diff_id: &str,
        chain_id: &str,
        parent: &str,
    ) -> anyhow::Result<()> {
        let key = format!(
            "extract-{}-{} {chain_id}",
            jiff::Timestamp::now().as_nanosecond(),
            uuid::Uuid::new_v4().simple()
        );
        let mut labels = HashMap::new();
        labels.insert("containerd.io/snapshot.ref".to_string(), chain_id.to_string());
        let prep = PrepareSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.clone(),
            parent: parent.to_string(),
            labels: labels.clone(),
        };
        let mounts = self
            .cd
            .snapshots()
            .prepare(self.cd.request_with_lease(prep, lease))
            .await
            .map_err(|s| anyhow!("cannot prepare snapshot: {}", s.message()))?
            .into_inner()
            .mounts;
        let applied = self
            .cd
            .diff()
            .apply(self.cd.request_with_lease(
                ApplyRequest {
                    diff: Some(layer.to_proto()),
                    mounts,
                    payloads: HashMap::new(),
                    sync_fs: false,
                },
                lease,
            ))
            .await;
        let applied = match applied {
            Ok(r) => r.into_inner().applied.unwrap_or_default(),
            Err(s) => {
                self.remove_snapshot(&key).await;
                bail!("cannot apply layer: {}", s.message());
            }
        };
        if applied.digest != diff_id {
            self.remove_snapshot(&key).await;
            bail!(
                "layer unpacked to {} but the image config says {diff_id}",
                applied.digest
            );
        }
        let commit = CommitSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            name: chain_id.to_string(),
            key: key.clone(),
            labels,
        };
        match self
            .cd
            .snapshots()
            .commit(self.cd.request_with_lease(commit, lease))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if already_exists(&s) => {
                // Someone else unpacked the same layer meanwhile.
                self.remove_snapshot(&key).await;
                Ok(())
            }
            Err(s) => {
                self.remove_snapshot(&key).await;
                Err(anyhow!("cannot commit snapshot {chain_id}: {}", s.message()))
            }
        }
    }

    async fn remove_snapshot(&self, key: &str) {
        let req = RemoveSnapshotRequest {
            snapshotter: self.snapshotter.clone(),
            key: key.to_string(),
        };
        if let Err(s) = self.cd.snapshots().remove(self.cd.request(req)).await {
            tracing::debug!("cannot remove snapshot {key}: {}", s.message());
        }
    }

    /// The GC labels of a manifest (config + layers).
    pub fn manifest_labels(manifest: &oci::Manifest) -> HashMap<String, String> {
        let mut l = HashMap::new();
        l.insert(format!("{GC_REF_CONTENT}.config"), manifest.config.digest.clone());
        for (i, layer) in manifest.layers.iter().enumerate() {
            l.insert(format!("{GC_REF_CONTENT}.l.{i}"), layer.digest.clone());
        }
        l
    }

    /// The GC labels of an index (its manifests).
    pub fn index_labels(index: &oci::Index) -> HashMap<String, String> {
        index
            .manifests
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("{GC_REF_CONTENT}.m.{i}"), m.digest.clone()))
            .collect()
    }

    /// The GC label of a config: the top snapshot of its unpacked layers.
    pub fn config_labels(&self, top_chain_id: &str) -> HashMap<String, String> {
        let mut l = HashMap::new();
        if !top_chain_id.is_empty() {
            l.insert(
                format!("containerd.io/gc.ref.snapshot.{}", self.snapshotter),
                top_chain_id.to_string(),
            );
        }
        l
    }
}

/// A Write stream failure with containerd's status code.
#[derive(Debug, thiserror::Error)]
#[error("content write failed: {0}")]
pub struct WriteFailed(String, tonic::Code);

/// An open Content Write stream.
pub struct BlobWriter {
    tx: Option<mpsc::Sender<WriteContentRequest>>,
    drain: Option<tokio::task::JoinHandle<Result<Option<WriteContentResponse>, tonic::Status>>>,
    reference: String,
    offset: i64,
    hash: Sha256,
    total: i64,
    cd: Containerd,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Sends data.
    pub async fn write(&mut self, data: Bytes) -> anyhow::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.hash.update(&data);
        let len = data.len() as i64;
        let req = WriteContentRequest {
            action: WriteAction::Write as i32,
            r#ref: self.reference.clone(),
            offset: self.offset,
            data: data.to_vec(),
            ..Default::default()
        };
        self.offset += len;
        self.send(req).await
    }

    async fn send(&mut self, req: WriteContentRequest) -> anyhow::Result<()> {
        let Some(tx) = &self.tx else {
            bail!("content writer already closed");
        };
        if tx.send(req).await.is_err() {
            // The stream ended early: the drain task has the reason.
            return Err(self
                .finish()
                .await
                .err()
                .unwrap_or_else(|| anyhow!("content write stream closed")));
        }
        Ok(())
    }

    async fn finish(&mut self) -> anyhow::Result<Option<WriteContentResponse>> {
        self.tx = None;
        match self.drain.take() {
            Some(h) => match h.await {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(s)) => Err(WriteFailed(s.message().to_string(), s.code()).into()),
                Err(e) => Err(anyhow!("content write task failed: {e}")),
            },
            None => Ok(None),
        }
    }

    /// Commits; `expected` (if given) must equal the digest of what was written.
    /// Content that exists already counts as success. Returns the digest.
    pub async fn commit(mut self, expected: Option<&str>, labels: HashMap<String, String>) -> anyhow::Result<String> {
        let hash = std::mem::take(&mut self.hash).finish();
        if let Some(e) = expected {
            if e != hash {
                self.abort().await;
                bail!("digest mismatch: expected {e}, got {hash}");
            }
        }
        if self.total > 0 && self.total != self.offset {
            self.abort().await;
            bail!(
                "size mismatch for {hash}: expected {} bytes, got {}",
                self.total,
                self.offset
            );
        }
        let req = WriteContentRequest {
            action: WriteAction::Commit as i32,
            r#ref: self.reference.clone(),
            // containerd truncates the ingest when a write/commit says offset 0.
            offset: self.offset,
            total: self.offset,
            expected: hash.clone(),
            labels: labels.clone(),
            ..Default::default()
        };
        self.send(req).await?;
        match self.finish().await {
            Ok(_) => Ok(hash),
            Err(e)
                if e.downcast_ref::<WriteFailed>()
                    .is_some_and(|w| w.1 == tonic::Code::AlreadyExists) =>
            {
                let store = Store::new(self.cd.clone(), "");
                store.add_labels(&hash, &labels).await?;
                Ok(hash)
            }
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    /// Drops the partial ingest.
    pub async fn abort(&mut self) {
        self.tx = None;
        if let Some(h) = self.drain.take() {
            h.abort();
        }
        let req = containerd_client::services::v1::AbortRequest {
            r#ref: self.reference.clone(),
        };
        let _ = self.cd.content().abort(self.cd.request(req)).await;
    }
}
