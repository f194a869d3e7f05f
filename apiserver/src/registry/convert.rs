//! STUB (replaced by the `registry` branch): version conversion.
use k1s_proto::{ApiError, ResourceInfo};
use serde_json::Value;
/// To the storage version.
pub fn to_storage(_info: &ResourceInfo, obj: Value) -> Result<Value, ApiError> {
    Ok(obj)
}
/// From the storage version.
pub fn from_storage(_info: &ResourceInfo, obj: Value) -> Value {
    obj
}
