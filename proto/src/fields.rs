//! STUB (replaced by the `sel` branch): field selectors.
use crate::ResourceInfo;
use serde_json::Value;
/// A field selector.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector {}
impl FieldSelector {
    /// Parses a selector string.
    pub fn parse(_s: &str) -> Result<FieldSelector, String> { Ok(FieldSelector {}) }
    /// Checks the fields are supported for the resource.
    pub fn validate_for(&self, _info: &ResourceInfo) -> Result<(), String> { Ok(()) }
    /// Whether the object matches.
    pub fn matches(&self, _obj: &Value) -> bool { true }
    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool { true }
}
/// Reads a selectable field.
pub fn field_value(_info: &ResourceInfo, _obj: &Value, _field: &str) -> Option<String> { None }
