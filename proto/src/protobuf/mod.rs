//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) to JSON.
//!
//! kubectl sends the bodies of its typed-client calls (create namespace|configmap|…,
//! run, auth can-i, create token, typed deletes) as protobuf. A body is the magic
//! `k8s\0` followed by a `runtime.Unknown` envelope {typeMeta{apiVersion, kind}, raw,
//! contentEncoding, contentType}; `raw` is the object's message. [`decode_object`]
//! turns it into exactly the JSON that Kubernetes' Go types print for the same object,
//! so the rest of the server sees what a JSON client would have sent.

mod model;
#[rustfmt::skip]
mod schema;
mod transcode;
mod wire;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};
use wire::{Reader, WireValue};

/// The 4 bytes that start every Kubernetes protobuf object.
pub const MAGIC: &[u8] = b"k8s\0";

/// Decodes a Kubernetes protobuf object into its JSON form, with `apiVersion` and `kind` set.
///
/// Errors are plain sentences, suitable for the message of a 400 BadRequest.
pub fn decode_object(bytes: &[u8]) -> Result<Value, String> {
    decode_object_at(bytes, 0)
}

/// [`decode_object`] for an object nested `depth` messages deep (inside a `RawExtension`).
fn decode_object_at(bytes: &[u8], depth: usize) -> Result<Value, String> {
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or("the protobuf body does not start with the Kubernetes magic number \"k8s\\x00\"")?;
    let envelope = Envelope::read(body).map_err(|e| format!("invalid protobuf envelope (runtime.Unknown): {e}"))?;
    if !envelope.content_encoding.is_empty() {
        return Err(format!(
            "unsupported protobuf content encoding {:?}",
            envelope.content_encoding
        ));
    }
    if envelope.kind.is_empty() {
        return Err("the protobuf envelope names no kind".to_string());
    }
    let index = model::message_for_kind(&envelope.api_version, &envelope.kind).ok_or_else(|| {
        format!(
            "no protobuf schema for apiVersion {:?} kind {:?}",
            envelope.api_version, envelope.kind
        )
    })?;
    let object = transcode::message_to_json(index, envelope.raw, depth)
        .map_err(|e| format!("invalid protobuf {} {}: {e}", envelope.api_version, envelope.kind))?;
    let Value::Object(fields) = object else {
        return Err(format!("{} is not an object kind", envelope.kind));
    };
    let mut out = Map::new();
    out.insert("kind".to_string(), Value::String(envelope.kind));
    out.insert("apiVersion".to_string(), Value::String(envelope.api_version));
    out.extend(fields);
    Ok(Value::Object(out))
}

/// The parts of `runtime.Unknown` that matter here.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    /// Reads `runtime.Unknown` {typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4}.
    fn read(bytes: &'a [u8]) -> Result<Self, String> {
        let mut env = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        let mut r = Reader::new(bytes);
        while let Some((tag, value)) = r.next_field()? {
            match (tag, value) {
                (1, WireValue::Bytes(type_meta)) => {
                    let mut t = Reader::new(type_meta);
                    while let Some((tag, value)) = t.next_field()? {
                        match (tag, value) {
                            (1, WireValue::Bytes(v)) => env.api_version = utf8(v, "apiVersion")?,
                            (2, WireValue::Bytes(v)) => env.kind = utf8(v, "kind")?,
                            (1 | 2, _) => return Err("typeMeta field with the wrong wire type".to_string()),
                            _ => {}
                        }
                    }
                }
                (2, WireValue::Bytes(raw)) => env.raw = raw,
                (3, WireValue::Bytes(v)) => env.content_encoding = utf8(v, "contentEncoding")?,
                (4, WireValue::Bytes(_)) => {}
                (1..=4, v) => return Err(format!("field {tag} with wire type {}", v.wire_type())),
                _ => {}
            }
        }
        Ok(env)
    }
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}
