//! ControllerRevisions (pkg/registry/apps/controllerrevision/strategy.go).

use k1s_proto::FieldError;
use serde_json::Value;

use super::util::non_negative;
use super::Strategy;

/// The ControllerRevision strategy: `revision` non-negative, `data` immutable.
pub struct ControllerRevisionStrategy;

impl Strategy for ControllerRevisionStrategy {
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        non_negative(obj.get("revision").and_then(Value::as_i64), "revision")
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        if new.get("data") != old.get("data") {
            errs.push(FieldError::invalid_shown(
                "data",
                "runtime.RawExtension{...}",
                "field is immutable",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_is_immutable() {
        let old = json!({"revision": 1, "data": {"a": 1}});
        let new = json!({"revision": 1, "data": {"a": 2}});
        assert_eq!(ControllerRevisionStrategy.validate_update(&new, &old).len(), 1);
        assert_eq!(
            ControllerRevisionStrategy
                .validate_create(&json!({"revision": -1}))
                .len(),
            1
        );
    }
}
