//! STUB (replaced by the `sel` branch): metadata validation.
use crate::{FieldError, ResourceInfo};
use serde_json::Value;
/// Validates metadata of a new object.
pub fn validate_object_meta(_obj: &Value, _info: &ResourceInfo) -> Vec<FieldError> { Vec::new() }
/// Validates metadata changes.
pub fn validate_object_meta_update(_new: &Value, _old: &Value) -> Vec<FieldError> { Vec::new() }
