//! Types whose published schema Kubernetes writes by hand rather than from Go
//! structs (`IntOrString`, `Quantity`): k8s-openapi marks both with
//! `x-kubernetes-int-or-string`, kube-apiserver publishes them as below. The
//! v3 form has no `type`, which is why `kubectl explain` prints
//! `<IntOrString>` and `<map[string]Quantity>`.

use serde_json::{json, Value};

const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

fn with_description(mut v: Value, generated: &Value) -> Value {
    if let Some(d) = generated.get("description") {
        v["description"] = d.clone();
    }
    v
}

/// The OpenAPI v2 schema of a special type (`None` for ordinary types);
/// `generated` is k8s-openapi's schema, whose description is kept.
pub fn v2(name: &str, generated: &Value) -> Option<Value> {
    let v = match name {
        INT_OR_STRING => json!({"format": "int-or-string", "type": "string"}),
        QUANTITY => json!({"type": "string"}),
        _ => return None,
    };
    Some(with_description(v, generated))
}

/// The OpenAPI v3 schema of a special type (`None` for ordinary types).
pub fn v3(name: &str, generated: &Value) -> Option<Value> {
    let v = match name {
        INT_OR_STRING => json!({"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}),
        QUANTITY => json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
        _ => return None,
    };
    Some(with_description(v, generated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_or_string_and_quantity() {
        let generated = json!({"description": "d", "x-kubernetes-int-or-string": true});
        assert_eq!(
            v2(INT_OR_STRING, &generated),
            Some(json!({"description": "d", "format": "int-or-string", "type": "string"}))
        );
        let q = v3(QUANTITY, &generated).unwrap();
        assert!(q.get("type").is_none());
        assert!(q.get("x-kubernetes-int-or-string").is_none());
        assert_eq!(q["description"], "d");
        assert!(v2("io.k8s.api.core.v1.Pod", &generated).is_none());
    }
}
