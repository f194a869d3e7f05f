//! Decodes a [`Doc`] into a k8s-openapi type through a deserializer that
//! notes what Kubernetes' strict JSON decoder (sigs.k8s.io/json) reports:
//! keys the type has no field for (k8s-openapi reads them as `IgnoredAny`)
//! and keys repeated within one object — in document order, each once.
//!
//! Objects decoded as opaque JSON (`RawExtension`, `FieldsV1`, which Go
//! decodes as raw bytes) are not looked into, as in Kubernetes.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

use super::doc::{go_quote, Doc};
use super::path::Path;

/// Kubernetes stops collecting strict errors after this many.
const MAX_ERRORS: usize = 100;

/// Decodes `doc` as a `T`: `Ok` with the strictness problems found (empty
/// when none), `Err` when the document does not decode as a `T` at all (a
/// type error, which the caller reports its own way).
pub fn strict_problems<T: DeserializeOwned>(doc: &Doc) -> Result<Vec<String>, String> {
    let found = Found::default();
    let walker = Walker {
        doc,
        path: Path::ROOT,
        repeated: false,
        found: &found,
    };
    T::deserialize(walker).map_err(|e| e.0)?;
    Ok(found.errors.into_inner())
}

#[derive(Default)]
struct Found {
    errors: RefCell<Vec<String>>,
    seen: RefCell<HashSet<String>>,
}

impl Found {
    fn push(&self, msg: String) {
        let mut errors = self.errors.borrow_mut();
        if errors.len() < MAX_ERRORS && self.seen.borrow_mut().insert(msg.clone()) {
            errors.push(msg);
        }
    }
}

/// A decoding failure (the document does not fit the type).
#[derive(Debug)]
pub struct WalkError(String);

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WalkError {}

impl de::Error for WalkError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        WalkError(msg.to_string())
    }
}

/// Deserializes one node of the document.
struct Walker<'a> {
    doc: &'a Doc,
    path: Path<'a>,
    /// The node is the value of a key seen before in the same object.
    repeated: bool,
    found: &'a Found,
}

impl<'a> Walker<'a> {
    /// Notes a repeated key once the target type shows it is a known field.
    fn known(&self) {
        if self.repeated {
            self.found
                .push(format!("duplicate field {}", go_quote(&self.path.to_string())));
        }
    }

    fn visit<'de, V: Visitor<'de>>(self, visitor: V, checked: bool) -> Result<V::Value, WalkError> {
        match self.doc {
            Doc::Null => visitor.visit_unit(),
            Doc::Bool(b) => visitor.visit_bool(*b),
            Doc::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Doc::String(s) => visitor.visit_str(s),
            Doc::Array(items) => visitor.visit_seq(Seq {
                items: items.iter(),
                index: 0,
                path: self.path,
                checked,
                found: self.found,
            }),
            Doc::Object(entries) => visitor.visit_map(Map {
                entries,
                next: 0,
                seen: HashSet::new(),
                path: self.path,
                checked,
                found: self.found,
            }),
        }
    }
}

impl<'de> de::Deserializer<'de> for Walker<'_> {
    type Error = WalkError;

    /// Untyped JSON (`serde_json::Value` inside `RawExtension`): not looked into.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.known();
        self.visit(visitor, false)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.known();
        self.visit(visitor, true)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.known();
        self.visit(visitor, true)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.known();
        self.visit(visitor, true)
    }

    /// A key the type has no field for.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.found
            .push(format!("unknown field {}", go_quote(&self.path.to_string())));
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        match self.doc {
            Doc::Null => {
                self.known();
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.known();
        match self.doc {
            Doc::String(s) => {
                let d: StrDeserializer<'_, WalkError> = s.as_str().into_deserializer();
                visitor.visit_enum(d)
            }
            _ => Err(de::Error::custom("expected a string enum")),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct identifier
    }
}

/// The elements of an array.
struct Seq<'a> {
    items: std::slice::Iter<'a, Doc>,
    index: usize,
    path: Path<'a>,
    checked: bool,
    found: &'a Found,
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = WalkError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, WalkError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let path = self.path.index(self.index);
        self.index += 1;
        let walker = Walker {
            doc: item,
            path,
            repeated: false,
            found: self.found,
        };
        if self.checked {
            seed.deserialize(walker).map(Some)
        } else {
            seed.deserialize(Opaque(walker)).map(Some)
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The members of an object, repeated keys included.
struct Map<'a> {
    entries: &'a [(String, Doc)],
    next: usize,
    seen: HashSet<&'a str>,
    path: Path<'a>,
    checked: bool,
    found: &'a Found,
}

impl<'de> MapAccess<'de> for Map<'_> {
    type Error = WalkError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, WalkError> {
        let Some((key, _)) = self.entries.get(self.next) else {
            return Ok(None);
        };
        let d: StrDeserializer<'_, WalkError> = key.as_str().into_deserializer();
        seed.deserialize(d).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, WalkError> {
        let Some((key, value)) = self.entries.get(self.next) else {
            return Err(de::Error::custom("value without a key"));
        };
        self.next += 1;
        let repeated = !self.seen.insert(key.as_str());
        let path = self.path.key(key);
        let walker = Walker {
            doc: value,
            path,
            repeated: repeated && self.checked,
            found: self.found,
        };
        if self.checked {
            seed.deserialize(walker)
        } else {
            seed.deserialize(Opaque(walker))
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.next)
    }
}

/// A node inside untyped JSON: decoded without notes.
struct Opaque<'a>(Walker<'a>);

impl<'de> de::Deserializer<'de> for Opaque<'_> {
    type Error = WalkError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        self.0.visit(visitor, false)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        match self.0.doc {
            Doc::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct identifier seq map struct
        newtype_struct enum ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::strict::doc::parse_json;
    use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};

    fn problems<T: DeserializeOwned>(json: &str) -> Vec<String> {
        strict_problems::<T>(&parse_json(json.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn finds_unknown_fields_with_kubernetes_paths() {
        let got = problems::<Deployment>(
            r#"{"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "x", "labelz": {"a": "b"}},
                "spec": {"replica": 3, "selector": {"matchLabels": {"a": "b"}},
                    "template": {"spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d", "imagee": "i"}]}},
                    "x": null}}"#,
        );
        assert_eq!(
            got,
            vec![
                r#"unknown field "metadata.labelz""#,
                r#"unknown field "spec.replica""#,
                r#"unknown field "spec.template.spec.containers[1].imagee""#,
                r#"unknown field "spec.x""#,
            ]
        );
        assert!(problems::<Deployment>(r#"{"spec": {"replicas": 1}}"#).is_empty());
    }

    #[test]
    fn finds_duplicates_of_known_fields_in_document_order() {
        let got = problems::<Deployment>(
            r#"{"spec": {"replicas": 1, "bogus": 1, "replicas": 2, "bogus": 2},
                "metadata": {"labels": {"a": "1", "a": "2"}},
                "spec": {"paused": true, "zzz": 1}}"#,
        );
        assert_eq!(
            got,
            vec![
                r#"unknown field "spec.bogus""#,
                r#"duplicate field "spec.replicas""#,
                r#"duplicate field "metadata.labels.a""#,
                r#"duplicate field "spec""#,
                r#"unknown field "spec.zzz""#,
            ]
        );
    }

    #[test]
    fn does_not_look_into_raw_json() {
        let got = problems::<ControllerRevision>(
            r#"{"metadata": {"name": "r"}, "revision": 1, "data": {"anything": {"a": 1, "a": 2}}}"#,
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn type_errors_are_not_strictness_problems() {
        let doc = parse_json(br#"{"spec": {"replicas": "three", "bogus": 1}}"#).unwrap();
        assert!(strict_problems::<Deployment>(&doc).is_err());
    }
}
