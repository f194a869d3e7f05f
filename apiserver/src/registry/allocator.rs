//! Service ClusterIP (10.43.0.0/16) and NodePort (30000–32767) allocation.

/// The allocation state, rebuilt from the stored Services at start.
#[derive(Debug, Default)]
pub struct Allocators {}

impl Allocators {
    /// STUB: rebuilds from stored services.
    pub fn rebuild<'a>(_services: impl Iterator<Item = &'a serde_json::Value>) -> Allocators {
        Allocators {}
    }
}
