//! The OpenAPI documents of the served API, generated from the k8s-openapi
//! types (never hand-written): `/openapi/v2` ([`v2::document`]) and one
//! `/openapi/v3/{api/v1|apis/group/version}` document per group/version
//! ([`v3::document`]); the v2 document also as protobuf ([`protobuf`]).
//! Serving and caching live in [`crate::http::openapi`].

pub mod definitions;
pub mod extensions;
pub mod paths;
pub mod protobuf;
pub mod special;
pub mod v2;
pub mod v3;

pub use definitions::Definitions;

/// The key of a group/version under `/openapi/v3/`: `api/v1` or `apis/{group}/{version}`.
pub fn gv_key(group: &str, version: &str) -> String {
    paths::gv_prefix(group, version).trim_start_matches('/').to_string()
}
