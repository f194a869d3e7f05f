//! A connection to containerd: a tonic channel over its unix socket plus the
//! `containerd-namespace` (and optional `containerd-lease`) headers every call carries.

use std::path::{Path, PathBuf};

use anyhow::Context;
use containerd_client::services::v1::{
    containers_client::ContainersClient, content_client::ContentClient, diff_client::DiffClient,
    events_client::EventsClient, images_client::ImagesClient, leases_client::LeasesClient,
    snapshots::snapshots_client::SnapshotsClient, tasks_client::TasksClient, version_client::VersionClient,
};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

/// The containerd namespace k1s keeps its images, containers and tasks in (as the CRI plugin does).
pub const NAMESPACE: &str = "k8s.io";

/// A cheap-to-clone handle on containerd's API.
#[derive(Clone)]
pub struct Containerd {
    channel: Channel,
    socket: PathBuf,
}

impl Containerd {
    /// Connects to the socket (the connection is made lazily again if containerd restarts).
    pub async fn connect(socket: &Path) -> anyhow::Result<Containerd> {
        let channel = containerd_client::connect(socket)
            .await
            .with_context(|| format!("cannot connect to containerd at {}", socket.display()))?;
        Ok(Containerd {
            channel,
            socket: socket.to_path_buf(),
        })
    }

    /// The socket this handle talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A request in the k1s namespace.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.metadata_mut()
            .insert("containerd-namespace", MetadataValue::from_static(NAMESPACE));
        req
    }

    /// A request in the k1s namespace under a lease (content and snapshots written
    /// under a lease are safe from containerd's garbage collector until it ends).
    pub fn request_with_lease<T>(&self, msg: T, lease: &str) -> tonic::Request<T> {
        let mut req = self.request(msg);
        if let Ok(v) = MetadataValue::try_from(lease) {
            req.metadata_mut().insert("containerd-lease", v);
        }
        req
    }

    /// The Containers service.
    pub fn containers(&self) -> ContainersClient<Channel> {
        ContainersClient::new(self.channel.clone())
    }

    /// The Tasks service.
    pub fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel.clone())
    }

    /// The Images service.
    pub fn images(&self) -> ImagesClient<Channel> {
        ImagesClient::new(self.channel.clone())
    }

    /// The Content service (blobs).
    pub fn content(&self) -> ContentClient<Channel> {
        ContentClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }

    /// The Snapshots service.
    pub fn snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::new(self.channel.clone())
    }

    /// The Diff service (applies layers to snapshots).
    pub fn diff(&self) -> DiffClient<Channel> {
        DiffClient::new(self.channel.clone())
    }

    /// The Leases service.
    pub fn leases(&self) -> LeasesClient<Channel> {
        LeasesClient::new(self.channel.clone())
    }

    /// The Events service (task exits, OOMs).
    pub fn events(&self) -> EventsClient<Channel> {
        EventsClient::new(self.channel.clone())
    }

    /// The Version service.
    pub fn version(&self) -> VersionClient<Channel> {
        VersionClient::new(self.channel.clone())
    }
}
