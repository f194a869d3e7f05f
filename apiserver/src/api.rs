//! The request pipeline: authentication result in, routing, the REST verbs,
//! a response out. TLS serving and the in-process client both call [`Api::handle`].

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use k1s_proto::ApiError;
use tracing::debug;

use crate::authn::UserInfo;
use crate::http::route::{self, Route};
use crate::http::{discovery, error_response, openapi, rest, text_response, warning, Body};
use crate::registry::Allocators;
use crate::store::Store;

/// Settings of the API that come from the server's flags.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// This node's name.
    pub node_name: String,
    /// The key that signs and verifies ServiceAccount tokens (TokenRequest, bearer authentication).
    pub service_account_keys: Option<Arc<crate::sa_token::TokenKeys>>,
    /// The cluster CA certificate (PEM) published in every namespace as `kube-root-ca.crt`.
    pub root_ca_pem: Option<String>,
    /// The Service range (`--service-cidr`); `None` for the default 10.43.0.0/16.
    pub service_cidr: Option<k1s_proto::cidr::Ipv4Cidr>,
}

impl ApiConfig {
    /// The Service range ClusterIPs come from.
    pub fn service_cidr(&self) -> k1s_proto::cidr::Ipv4Cidr {
        self.service_cidr
            .unwrap_or_else(crate::registry::allocator::default_service_cidr)
    }
}

/// The shared state of the API: the store and what the strategies need.
pub struct Api {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Service ClusterIP and NodePort allocation.
    pub allocators: Allocators,
    /// Flag-derived settings.
    pub config: ApiConfig,
    /// TLS towards kubelets (`pods/log`, `exec`, `attach`, `portforward`), set once at start.
    pub kubelet_tls: std::sync::OnceLock<Arc<rustls::ClientConfig>>,
    /// The list+watch caches shared by the in-process informers.
    pub informers: crate::controllers::runtime::SharedInformers,
}

impl Api {
    /// Builds the API over a store, rebuilding allocation state from stored Services.
    pub fn new(store: Arc<dyn Store>, config: ApiConfig) -> Result<Arc<Api>, ApiError> {
        let services = k1s_proto::resources::find("", "v1", "services").ok_or_else(ApiError::no_route)?;
        let listed = store
            .list(&services.storage_prefix(), &Default::default())
            .map_err(ApiError::internal)?;
        let allocators = Allocators::rebuild(config.service_cidr(), listed.items.iter());
        Ok(Arc::new(Api {
            store,
            allocators,
            config,
            kubelet_tls: std::sync::OnceLock::new(),
            informers: Default::default(),
        }))
    }

    /// Serves one request for an authenticated (or anonymous) user.
    pub async fn handle<B>(self: &Arc<Self>, req: Request<B>, user: &UserInfo) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let (result, warnings) = warning::collect(self.route(req, user)).await;
        let mut resp = match result {
            Ok(resp) => resp,
            Err(e) => error_response(&e),
        };
        warning::apply(resp.headers_mut(), &warnings);
        debug!(%method, %path, user = %user.name, status = resp.status().as_u16(), "request");
        resp
    }

    async fn route<B>(self: &Arc<Self>, req: Request<B>, user: &UserInfo) -> Result<Response<Body>, ApiError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let route = route::parse(req.uri().path());
        // Health and version are open to anonymous users, as in Kubernetes' default RBAC.
        match route {
            Ok(Route::Health) => return Ok(text_response(StatusCode::OK, "ok")),
            Ok(Route::Version) if req.method() == Method::GET => return Ok(discovery::version()),
            _ => {}
        }
        if user.is_anonymous() {
            return Err(ApiError::unauthorized());
        }
        match route? {
            Route::Health => Ok(text_response(StatusCode::OK, "ok")),
            Route::Version => Err(ApiError::method_not_allowed()),
            Route::CoreVersions | Route::Groups | Route::Group(_) | Route::ResourceList { .. } => {
                if req.method() != Method::GET {
                    return Err(ApiError::method_not_allowed());
                }
                discovery::serve(&route::parse(req.uri().path())?, req.headers())
            }
            Route::OpenApiV2 if req.method() == Method::GET => Ok(openapi::serve_v2(req.headers())),
            Route::OpenApiV3(rest) if req.method() == Method::GET => {
                openapi::serve_v3(&rest, req.uri().query(), req.headers())
            }
            Route::OpenApiV2 | Route::OpenApiV3(_) => Err(ApiError::method_not_allowed()),
            Route::Resource(path) => rest::serve(self, req, path, user).await,
        }
    }
}
