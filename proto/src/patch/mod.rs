//! STUB (replaced by the `patch` branch): patches.
use crate::ResourceInfo;
use serde_json::Value;
/// Patch types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType { Json, Merge, StrategicMerge, Apply }
impl PatchType {
    /// From a content type.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }
}
/// Patch errors.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// 400
    #[error("{0}")] BadRequest(String),
    /// 422
    #[error("{0}")] Invalid(String),
    /// 415
    #[error("{0}")] Unsupported(String),
}
/// Applies a patch.
pub fn apply_patch(original: &Value, _t: PatchType, patch: &[u8], _kind: &ResourceInfo) -> Result<Value, PatchError> {
    let p: Value = serde_json::from_slice(patch).map_err(|e| PatchError::BadRequest(e.to_string()))?;
    let mut o = original.clone();
    json_patch::merge(&mut o, &p);
    Ok(o)
}
