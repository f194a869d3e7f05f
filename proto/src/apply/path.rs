//! Field paths: the steps from an object's root to one field, map key, list
//! item or set value, ordered and printed as structured-merge-diff does.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathElement {
    /// A struct field or map key (`f:name` in FieldsV1, `.name` when printed).
    Field(String),
    /// A list item identified by its key fields, sorted by name (`k:{…}`, `[name="x"]`).
    Key(Vec<(String, Value)>),
    /// A set item identified by its value (`v:…`, `[=value]`).
    Value(Value),
    /// A list item by position (`i:0`, `[0]`), for lists without keys.
    Index(usize),
}

impl Eq for PathElement {}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        use PathElement::*;
        let rank = |e: &PathElement| match e {
            Field(_) => 0,
            Key(_) => 1,
            Value(_) => 2,
            Index(_) => 3,
        };
        match (self, other) {
            (Field(a), Field(b)) => a.cmp(b),
            (Key(a), Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
                    let c = an.cmp(bn).then_with(|| compare_values(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (Value(a), Value(b)) => compare_values(a, b),
            (Index(a), Index(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

/// A total order on JSON values (by type, then by value), for sorting path elements.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                let c = compare_values(p, q);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let (xs, ys) = (
                serde_json::to_string(x).unwrap_or_default(),
                serde_json::to_string(y).unwrap_or_default(),
            );
            xs.cmp(&ys)
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A value as structured-merge-diff prints it in a path: strings quoted, the rest as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(keys) => {
                let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_text(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the root of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// A path of struct fields, e.g. `Path::fields(&["spec", "replicas"])`.
    pub fn fields(names: &[&str]) -> Path {
        Path(names.iter().map(|n| PathElement::Field((*n).to_string())).collect())
    }

    /// This path with one more step.
    pub fn child(&self, pe: PathElement) -> Path {
        let mut v = self.0.clone();
        v.push(pe);
        Path(v)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_print_as_structured_merge_diff_does() {
        let p = Path::fields(&["spec", "template", "spec", "containers"])
            .child(PathElement::Key(vec![("name".into(), json!("nginx"))]))
            .child(PathElement::Field("image".into()));
        assert_eq!(p.to_string(), ".spec.template.spec.containers[name=\"nginx\"].image");
        let ports = PathElement::Key(vec![
            ("containerPort".into(), json!(80)),
            ("protocol".into(), json!("TCP")),
        ]);
        assert_eq!(ports.to_string(), "[containerPort=80,protocol=\"TCP\"]");
        assert_eq!(PathElement::Value(json!("a")).to_string(), "[=\"a\"]");
        assert_eq!(PathElement::Index(3).to_string(), "[3]");
    }

    #[test]
    fn elements_order_by_kind_then_value() {
        let f = PathElement::Field("z".into());
        let k = PathElement::Key(vec![("name".into(), json!("a"))]);
        let v = PathElement::Value(json!(1));
        let i = PathElement::Index(0);
        assert!(f < k && k < v && v < i);
        assert!(PathElement::Value(json!(2)) < PathElement::Value(json!(10)));
        assert!(PathElement::Field("a".into()) < PathElement::Field("b".into()));
    }
}
