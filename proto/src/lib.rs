//! The Kubernetes wire protocol shared by every part of k1s: the resource
//! registry, object metadata helpers, label and field selectors, patches and
//! `metav1.Status` errors. No I/O lives here.

// `ApiError` carries a full `metav1.Status`; errors are the cold path, so size is fine.
#![allow(clippy::result_large_err)]

pub mod meta;
pub mod resources;
pub mod status;

pub use resources::ResourceInfo;
pub use status::{ApiError, FieldError};
pub mod apply;
pub mod cidr;
pub mod fields;
pub mod patch;
pub mod printers;
pub mod protobuf;
pub mod quantity;
pub mod schema;
pub mod selector;
pub mod validation;
