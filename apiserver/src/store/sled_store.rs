//! The sled backend of the store.

/// The sled-backed store.
pub struct SledStore {}
