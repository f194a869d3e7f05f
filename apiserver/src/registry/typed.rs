//! STUB (replaced by the `registry` branch): typed round trip.
use k1s_proto::ResourceInfo;
use serde_json::Value;
/// Round-trips through the k8s-openapi type.
pub fn normalize(_info: &ResourceInfo, obj: Value) -> Result<Value, String> {
    Ok(obj)
}
