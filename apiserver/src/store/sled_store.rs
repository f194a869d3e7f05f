//! The sled backend of the store.

/// The sled-backed store.
pub struct SledStore {}
impl SledStore {
    /// STUB: opens the store.
    pub fn open(_path: &std::path::Path) -> Result<std::sync::Arc<SledStore>, super::StoreError> { Err(super::StoreError::Backend("stub".into())) }
    /// STUB: closes.
    pub async fn close(&self) -> Result<(), super::StoreError> { Ok(()) }
}
use futures::future::BoxFuture;
use serde_json::Value;
use super::*;
impl Store for SledStore {
    fn create(&self, _key: &str, _object: Value) -> BoxFuture<'_, Result<Value, StoreError>> { unimplemented!() }
    fn update(&self, _key: &str, _object: Value, _p: Option<u64>) -> BoxFuture<'_, Result<Value, StoreError>> { unimplemented!() }
    fn delete(&self, _key: &str, _p: Option<u64>) -> BoxFuture<'_, Result<Value, StoreError>> { unimplemented!() }
    fn get(&self, _key: &str) -> Result<Option<Value>, StoreError> { unimplemented!() }
    fn list(&self, _prefix: &str, _o: &ListOptions) -> Result<ListResult, StoreError> { unimplemented!() }
    fn watch(&self, _prefix: &str, _after: u64) -> Result<WatchStream, StoreError> { unimplemented!() }
    fn current_revision(&self) -> u64 { 0 }
    fn oldest_revision(&self) -> u64 { 0 }
    fn compact(&self, _r: u64) -> Result<(), StoreError> { Ok(()) }
    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> { unimplemented!() }
}
