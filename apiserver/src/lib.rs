//! The k1s API server: the sled store, HTTPS serving of the Kubernetes REST
//! API, per-kind registry strategies, and the controllers that belong to the API.

// `ApiError` carries a full `metav1.Status`; errors are the cold path, so size is fine.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod authn;
pub mod bootstrap;
pub mod client;
pub mod controllers;
pub mod endpoint_reconciler;
pub mod events;
pub mod http;
pub mod kubeconfig;
pub mod openapi;
pub mod registry;
pub mod remote;
pub mod sa_token;
pub mod serve;
pub mod server;
pub mod store;
pub mod tls;

pub use api::{Api, ApiConfig};
