//! The k1s API server: the sled store, HTTPS serving of the Kubernetes REST
//! API, per-kind registry strategies, and the controllers that belong to the API.

pub mod api;
pub mod authn;
pub mod http;
pub mod registry;
pub mod store;

pub use api::{Api, ApiConfig};
