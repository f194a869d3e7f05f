//! STUB (replaced by the `sel` branch): label selectors.
use serde_json::{Map, Value};
/// A label selector.
#[derive(Debug, Clone, Default)]
pub struct LabelSelector {}
impl LabelSelector {
    /// Parses a selector string.
    pub fn parse(_s: &str) -> Result<LabelSelector, String> { Ok(LabelSelector {}) }
    /// Whether labels match.
    pub fn matches(&self, _labels: Option<&Map<String, Value>>) -> bool { true }
    /// From a metav1.LabelSelector.
    pub fn from_json(_v: &Value) -> Result<LabelSelector, String> { Ok(LabelSelector {}) }
    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool { true }
}
impl std::fmt::Display for LabelSelector {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { Ok(()) }
}
