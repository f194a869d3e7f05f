//! A JSON or YAML request document as it was sent, repeated keys included
//! (a `serde_json::Value` keeps only the last), so that field validation can
//! report duplicate fields the way Kubernetes' strict decoders do.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::path::Path;

/// A parsed document; objects keep every key in the order sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Doc>),
    /// An object, with repeated keys kept.
    Object(Vec<(String, Doc)>),
}

impl<'de> de::Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Doc, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Doc, E> {
        Ok(Doc::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Doc, E> {
        Ok(Doc::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Doc, E> {
        Ok(Doc::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Doc, E> {
        Ok(Number::from_f64(v).map_or(Doc::Null, Doc::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Doc, E> {
        Ok(Doc::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Doc, E> {
        Ok(Doc::String(v))
    }
    fn visit_unit<E>(self) -> Result<Doc, E> {
        Ok(Doc::Null)
    }
    fn visit_none<E>(self) -> Result<Doc, E> {
        Ok(Doc::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Doc, D::Error> {
        d.deserialize_any(DocVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Doc>()? {
            items.push(item);
        }
        Ok(Doc::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Doc>()?;
            entries.push((key, value));
        }
        Ok(Doc::Object(entries))
    }
}

/// Parses a JSON document (the whole input; trailing data is an error).
pub fn parse_json(bytes: &[u8]) -> Result<Doc, serde_json::Error> {
    let mut d = serde_json::Deserializer::from_slice(bytes);
    let doc = de::Deserialize::deserialize(&mut d)?;
    d.end()?;
    Ok(doc)
}

/// Parses a YAML document.
pub fn parse_yaml(bytes: &[u8]) -> Result<Doc, serde_norway::Error> {
    serde_norway::from_slice(bytes)
}

impl Doc {
    /// The document as a `Value`; of repeated keys the last wins (its value,
    /// at the first key's place), as Go's decoders keep the last.
    pub fn into_value(self) -> Value {
        match self {
            Doc::Null => Value::Null,
            Doc::Bool(b) => Value::Bool(b),
            Doc::Number(n) => Value::Number(n),
            Doc::String(s) => Value::String(s),
            Doc::Array(items) => Value::Array(items.into_iter().map(Doc::into_value).collect()),
            Doc::Object(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.insert(k, v.into_value());
                }
                Value::Object(map)
            }
        }
    }

    /// A document from a `Value`; with `sorted`, object keys in byte order
    /// (the order Go's JSON encoder writes map keys in).
    pub fn from_value(v: &Value, sorted: bool) -> Doc {
        match v {
            Value::Null => Doc::Null,
            Value::Bool(b) => Doc::Bool(*b),
            Value::Number(n) => Doc::Number(n.clone()),
            Value::String(s) => Doc::String(s.clone()),
            Value::Array(items) => Doc::Array(items.iter().map(|i| Doc::from_value(i, sorted)).collect()),
            Value::Object(map) => {
                let mut entries: Vec<(String, Doc)> = map
                    .iter()
                    .map(|(k, v)| (k.clone(), Doc::from_value(v, sorted)))
                    .collect();
                if sorted {
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Doc::Object(entries)
            }
        }
    }

    /// Duplicate keys anywhere in the document, worded as Go's strict JSON
    /// decoder reports them when decoding into a plain map
    /// (`duplicate field "spec.replicas"`), in document order.
    pub fn duplicate_fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_duplicates(Path::ROOT, &mut out);
        out
    }

    fn collect_duplicates(&self, path: Path<'_>, out: &mut Vec<String>) {
        match self {
            Doc::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.collect_duplicates(path.index(i), out);
                }
            }
            Doc::Object(entries) => {
                let mut seen = HashSet::with_capacity(entries.len());
                for (k, v) in entries {
                    let child = path.key(k);
                    if !seen.insert(k.as_str()) {
                        let msg = format!("duplicate field {}", go_quote(&child.to_string()));
                        if !out.contains(&msg) {
                            out.push(msg);
                        }
                    }
                    v.collect_duplicates(child, out);
                }
            }
            _ => {}
        }
    }

    /// How many keys repeat an earlier key of the same object.
    fn count_repeats(&self) -> usize {
        match self {
            Doc::Array(items) => items.iter().map(Doc::count_repeats).sum(),
            Doc::Object(entries) => {
                let mut seen = HashSet::with_capacity(entries.len());
                entries
                    .iter()
                    .map(|(k, v)| usize::from(!seen.insert(k.as_str())) + v.count_repeats())
                    .sum()
            }
            _ => 0,
        }
    }
}

/// The duplicate keys of a YAML document as go-yaml's strict decoder words
/// them: `line 7: key "replicas" already set in map` (the line of the repeated
/// key's value), in document order. `doc` is the document parsed from `bytes`.
pub fn yaml_duplicate_keys(bytes: &[u8], doc: &Doc) -> Vec<String> {
    let repeats = doc.count_repeats().min(MAX_YAML_REPEATS);
    (1..=repeats)
        .filter_map(|n| {
            let probe = Probe {
                target: n,
                seen: std::cell::Cell::new(0),
            };
            let err = match probe.run(bytes) {
                Ok(()) => return None,
                Err(e) => e,
            };
            let line = err.location().map(|l| l.line()).unwrap_or(0);
            let key = err.to_string();
            let key = key.split_once(PROBE_MARK)?.1.split(PROBE_END).next()?.to_string();
            Some(format!("line {line}: key {} already set in map", go_quote(&key)))
        })
        .collect()
}

/// Re-parsing once per repeated key costs a parse each; documents with more are cut off.
const MAX_YAML_REPEATS: usize = 100;
const PROBE_MARK: &str = "k1s-duplicate-key<";
const PROBE_END: &str = ">k1s";

/// Parses YAML until the `target`-th repeated key, then fails inside that
/// key's value so that the parser's error carries the value's position.
struct Probe {
    target: usize,
    seen: std::cell::Cell<usize>,
}

impl Probe {
    fn run(&self, bytes: &[u8]) -> Result<(), serde_norway::Error> {
        let d = serde_norway::Deserializer::from_slice(bytes);
        ProbeSeed(self).deserialize(d)
    }
}

#[derive(Clone, Copy)]
struct ProbeSeed<'a>(&'a Probe);

impl<'de> DeserializeSeed<'de> for ProbeSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ProbeSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(&key) {
                let n = self.0.seen.get() + 1;
                self.0.seen.set(n);
                if n == self.0.target {
                    return map.next_value_seed(Fail(key)).map(|_| ());
                }
            } else {
                keys.push(key);
            }
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// Fails as soon as the value's first event is read (so the error has its position).
struct Fail(String);

impl<'de> DeserializeSeed<'de> for Fail {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Fail {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PROBE_MARK}{}{PROBE_END}", self.0)
    }
    // Every visit fails through the default implementations, naming `expecting`.
}

pub use k1s_proto::patch::go_quote;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_repeated_keys_and_collapses_to_the_last() {
        let doc = parse_json(br#"{"a": 1, "b": {"c": true, "c": false}, "a": [null, "x"]}"#).unwrap();
        let Doc::Object(entries) = &doc else { panic!("object") };
        assert_eq!(entries.len(), 3);
        assert_eq!(doc.clone().into_value(), json!({"a": [null, "x"], "b": {"c": false}}));
        assert!(parse_json(b"{} x").is_err());
        assert!(parse_json(b"{").is_err());
        let y = parse_yaml(b"a: 1\nb:\n  - 2.5\n  - ~\n").unwrap();
        assert_eq!(y.into_value(), json!({"a": 1, "b": [2.5, null]}));
    }

    #[test]
    fn duplicate_fields_read_like_go() {
        let doc = parse_json(
            br#"{"spec": {"replicas": 1, "replicas": 2, "template": {"spec": {"containers": [{"name": "a", "name": "b"}]}}}, "spec": {}}"#,
        )
        .unwrap();
        assert_eq!(
            doc.duplicate_fields(),
            vec![
                r#"duplicate field "spec.replicas""#,
                r#"duplicate field "spec.template.spec.containers[0].name""#,
                r#"duplicate field "spec""#,
            ]
        );
        assert!(parse_json(br#"[{"a": 1}, {"a": 2}]"#)
            .unwrap()
            .duplicate_fields()
            .is_empty());
        assert_eq!(
            parse_json(br#"[{"op": "add", "op": "remove"}]"#)
                .unwrap()
                .duplicate_fields(),
            vec![r#"duplicate field "[0].op""#]
        );
    }

    #[test]
    fn yaml_duplicates_name_the_line_of_the_value() {
        let yaml = b"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 1\n  replicas: 2\n  template:\n    metadata:\n      labels: {a: b}\nspec:\n  paused: true\n";
        let doc = parse_yaml(yaml).unwrap();
        assert_eq!(
            yaml_duplicate_keys(yaml, &doc),
            vec![
                r#"line 5: key "replicas" already set in map"#,
                r#"line 10: key "spec" already set in map"#,
            ]
        );
        let clean = b"a: 1\nb: 2\n";
        assert!(yaml_duplicate_keys(clean, &parse_yaml(clean).unwrap()).is_empty());
    }

    #[test]
    fn from_value_sorts_when_asked() {
        let v = json!({"b": 1, "a": {"d": 1, "c": 2}});
        let Doc::Object(e) = Doc::from_value(&v, true) else {
            panic!()
        };
        assert_eq!(e[0].0, "a");
        let Doc::Object(inner) = &e[0].1 else { panic!() };
        assert_eq!(inner[0].0, "c");
        let Doc::Object(e) = Doc::from_value(&v, false) else {
            panic!()
        };
        assert_eq!(e[0].0, "b");
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("x\ny\u{1b}"), r#""x\ny\x1b""#);
        assert_eq!(go_quote("ünï"), "\"ünï\"");
    }
}
