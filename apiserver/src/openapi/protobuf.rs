//! The OpenAPI v2 document as protobuf (gnostic's `openapi.v2.Document`,
//! `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`), which is
//! the only form kubectl asks `/openapi/v2` for (`kubectl explain --output
//! plaintext-openapiv2`, and apply's fallback when v3 is missing).
//!
//! Encoded from the JSON document of [`super::v2`]: every object the Swagger
//! 2.0 grammar defines maps to its gnostic message (field numbers from
//! gnostic's `OpenAPIv2.proto`), and vendor extensions travel as `Any.yaml`
//! text (JSON is valid YAML, which is how kubectl reads them back).

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Debug, Default)]
struct Msg(Vec<u8>);

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Msg {
    fn tag(&mut self, field: u32, wire_type: u8) {
        put_varint(&mut self.0, (u64::from(field) << 3) | u64::from(wire_type));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.tag(field, 2);
        put_varint(&mut self.0, bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    /// A string field (proto3: empty strings are not written).
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// The string at `key` of `obj`, if any.
    fn string_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(s) = obj.get(key).and_then(Value::as_str) {
            self.string(field, s);
        }
    }

    /// Every string of the array at `key`.
    fn strings_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        for s in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(s) = s.as_str() {
                self.bytes(field, s.as_bytes());
            }
        }
    }

    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.tag(field, 0);
            put_varint(&mut self.0, 1);
        }
    }

    fn bool_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        self.boolean(field, obj.get(key).and_then(Value::as_bool).unwrap_or(false));
    }

    fn int_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(n) = obj.get(key).and_then(Value::as_i64) {
            self.tag(field, 0);
            put_varint(&mut self.0, n as u64);
        }
    }

    fn double_of(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(n) = obj.get(key).and_then(Value::as_f64) {
            self.tag(field, 1);
            self.0.extend_from_slice(&n.to_le_bytes());
        }
    }

    /// A nested message (written even when empty: presence matters for oneofs).
    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }

    /// `Any{yaml}` for a value; JSON text is YAML.
    fn any(&mut self, field: u32, v: &Value) {
        let mut any = Msg::default();
        any.string(2, &v.to_string());
        self.message(field, any);
    }

    /// `repeated NamedAny vendor_extension` from the `x-` keys of `obj`.
    fn extensions(&mut self, field: u32, obj: &Map<String, Value>) {
        for (k, v) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Msg::default();
            named.string(1, k);
            named.any(2, v);
            self.message(field, named);
        }
    }
}

fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// `openapi.v2.Schema`.
fn schema(v: &Value) -> Msg {
    let o = obj(v);
    let mut m = Msg::default();
    m.string_of(1, &o, "$ref");
    m.string_of(2, &o, "format");
    m.string_of(3, &o, "title");
    m.string_of(4, &o, "description");
    if let Some(d) = o.get("default") {
        m.any(5, d);
    }
    m.double_of(6, &o, "multipleOf");
    m.double_of(7, &o, "maximum");
    m.bool_of(8, &o, "exclusiveMaximum");
    m.double_of(9, &o, "minimum");
    m.bool_of(10, &o, "exclusiveMinimum");
    m.int_of(11, &o, "maxLength");
    m.int_of(12, &o, "minLength");
    m.string_of(13, &o, "pattern");
    m.int_of(14, &o, "maxItems");
    m.int_of(15, &o, "minItems");
    m.bool_of(16, &o, "uniqueItems");
    m.strings_of(19, &o, "required");
    for e in o.get("enum").and_then(Value::as_array).into_iter().flatten() {
        m.any(20, e);
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut item = Msg::default();
            item.tag(2, 0);
            put_varint(&mut item.0, u64::from(*b));
            m.message(21, item);
        }
        Some(s @ Value::Object(_)) => {
            let mut item = Msg::default();
            item.message(1, schema(s));
            m.message(21, item);
        }
        _ => {}
    }
    match o.get("type") {
        Some(Value::String(t)) => {
            let mut item = Msg::default();
            item.string(1, t);
            m.message(22, item);
        }
        Some(Value::Array(ts)) => {
            let mut item = Msg::default();
            for t in ts.iter().filter_map(Value::as_str) {
                item.bytes(1, t.as_bytes());
            }
            m.message(22, item);
        }
        _ => {}
    }
    if let Some(items) = o.get("items") {
        let mut item = Msg::default();
        match items {
            Value::Array(list) => list.iter().for_each(|s| item.message(1, schema(s))),
            s => item.message(1, schema(s)),
        }
        m.message(23, item);
    }
    for s in o.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        m.message(24, schema(s));
    }
    if let Some(Value::Object(props)) = o.get("properties") {
        let mut p = Msg::default();
        for (name, s) in props {
            let mut named = Msg::default();
            named.string(1, name);
            named.message(2, schema(s));
            p.message(1, named);
        }
        m.message(25, p);
    }
    m.bool_of(27, &o, "readOnly");
    m.extensions(31, &o);
    m
}

/// `openapi.v2.ParametersItem` for one parameter object.
fn parameter(v: &Value) -> Msg {
    let o = obj(v);
    let mut param = Msg::default();
    if o.get("in").and_then(Value::as_str) == Some("body") {
        let mut body = Msg::default();
        body.string_of(1, &o, "description");
        body.string_of(2, &o, "name");
        body.string_of(3, &o, "in");
        body.bool_of(4, &o, "required");
        if let Some(s) = o.get("schema") {
            body.message(5, schema(s));
        }
        body.extensions(6, &o);
        param.message(1, body);
    } else {
        // Query and path sub-schemas share their first fields; `type` and
        // the rest sit one number higher in the query one (after allowEmptyValue).
        let is_path = o.get("in").and_then(Value::as_str) == Some("path");
        let shift = u32::from(!is_path);
        let mut sub = Msg::default();
        sub.bool_of(1, &o, "required");
        sub.string_of(2, &o, "in");
        sub.string_of(3, &o, "description");
        sub.string_of(4, &o, "name");
        sub.string_of(5 + shift, &o, "type");
        sub.string_of(6 + shift, &o, "format");
        sub.bool_of(19 + shift, &o, "uniqueItems");
        sub.extensions(22 + shift, &o);
        let mut non_body = Msg::default();
        non_body.message(if is_path { 4 } else { 3 }, sub);
        param.message(2, non_body);
    }
    let mut item = Msg::default();
    item.message(1, param);
    item
}

/// `openapi.v2.Operation`.
fn operation(v: &Value) -> Msg {
    let o = obj(v);
    let mut m = Msg::default();
    m.strings_of(1, &o, "tags");
    m.string_of(2, &o, "summary");
    m.string_of(3, &o, "description");
    m.string_of(5, &o, "operationId");
    m.strings_of(6, &o, "produces");
    m.strings_of(7, &o, "consumes");
    for p in o.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.message(8, parameter(p));
    }
    if let Some(Value::Object(responses)) = o.get("responses") {
        let mut rs = Msg::default();
        for (code, r) in responses {
            let ro = obj(r);
            let mut response = Msg::default();
            response.string_of(1, &ro, "description");
            if let Some(s) = ro.get("schema") {
                let mut item = Msg::default();
                item.message(1, schema(s));
                response.message(2, item);
            }
            let mut value = Msg::default();
            value.message(1, response);
            let mut named = Msg::default();
            named.string(1, code);
            named.message(2, value);
            rs.message(1, named);
        }
        m.message(9, rs);
    }
    m.strings_of(10, &o, "schemes");
    m.extensions(13, &o);
    m
}

/// `openapi.v2.PathItem`.
fn path_item(v: &Value) -> Msg {
    let o = obj(v);
    let mut m = Msg::default();
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(op) = o.get(method) {
            m.message(field, operation(op));
        }
    }
    for p in o.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.message(9, parameter(p));
    }
    m.extensions(10, &o);
    m
}

/// Encodes a Swagger 2.0 JSON document as `openapi.v2.Document`.
pub fn encode_document(doc: &Value) -> Vec<u8> {
    let o = obj(doc);
    let mut m = Msg::default();
    m.string_of(1, &o, "swagger");
    if let Some(info) = o.get("info") {
        let io = obj(info);
        let mut i = Msg::default();
        i.string_of(1, &io, "title");
        i.string_of(2, &io, "version");
        i.string_of(3, &io, "description");
        m.message(2, i);
    }
    if let Some(Value::Object(paths)) = o.get("paths") {
        let mut p = Msg::default();
        for (path, item) in paths {
            let mut named = Msg::default();
            named.string(1, path);
            named.message(2, path_item(item));
            p.message(2, named);
        }
        m.message(8, p);
    }
    if let Some(Value::Object(defs)) = o.get("definitions") {
        let mut d = Msg::default();
        for (name, s) in defs {
            let mut named = Msg::default();
            named.string(1, name);
            named.message(2, schema(s));
            d.message(1, named);
        }
        m.message(9, d);
    }
    for req in o.get("security").and_then(Value::as_array).into_iter().flatten() {
        let mut r = Msg::default();
        for (name, scopes) in obj(req) {
            let mut arr = Msg::default();
            for s in scopes.as_array().into_iter().flatten().filter_map(Value::as_str) {
                arr.bytes(1, s.as_bytes());
            }
            let mut named = Msg::default();
            named.string(1, &name);
            named.message(2, arr);
            r.message(1, named);
        }
        m.message(12, r);
    }
    if let Some(Value::Object(defs)) = o.get("securityDefinitions") {
        let mut d = Msg::default();
        for (name, def) in defs {
            let dobj = obj(def);
            let mut key = Msg::default();
            key.string_of(1, &dobj, "type");
            key.string_of(2, &dobj, "name");
            key.string_of(3, &dobj, "in");
            key.string_of(4, &dobj, "description");
            let mut item = Msg::default();
            item.message(2, key);
            let mut named = Msg::default();
            named.string(1, name);
            named.message(2, item);
            d.message(1, named);
        }
        m.message(13, d);
    }
    m.extensions(16, &o);
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads the length-delimited fields of one message: (field, bytes).
    fn fields(mut buf: &[u8]) -> Vec<(u32, Vec<u8>)> {
        fn varint(buf: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            for shift in (0..64).step_by(7) {
                let b = buf[0];
                *buf = &buf[1..];
                v |= u64::from(b & 0x7f) << shift;
                if b < 0x80 {
                    break;
                }
            }
            v
        }
        let mut out = Vec::new();
        while !buf.is_empty() {
            let key = varint(&mut buf);
            let (field, wt) = ((key >> 3) as u32, key & 7);
            match wt {
                0 => {
                    let v = varint(&mut buf);
                    out.push((field, vec![v as u8]));
                }
                1 => {
                    out.push((field, buf[..8].to_vec()));
                    buf = &buf[8..];
                }
                2 => {
                    let len = varint(&mut buf) as usize;
                    out.push((field, buf[..len].to_vec()));
                    buf = &buf[len..];
                }
                _ => panic!("wire type {wt}"),
            }
        }
        out
    }

    fn field(buf: &[u8], n: u32) -> Vec<u8> {
        fields(buf)
            .into_iter()
            .find(|(f, _)| *f == n)
            .map(|(_, b)| b)
            .unwrap_or_else(|| panic!("field {n}"))
    }

    #[test]
    fn document_schema_and_extensions_land_in_gnostic_fields() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "definitions": {
                "io.k8s.api.core.v1.Pod": {
                    "type": "object",
                    "properties": {"spec": {"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec", "description": "d"}},
                    "x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}],
                },
            },
            "paths": {"/api/v1/pods": {"get": {"operationId": "listCoreV1PodForAllNamespaces",
                "parameters": [{"in": "query", "name": "limit", "type": "integer", "uniqueItems": true}]}}},
        });
        let bytes = encode_document(&doc);
        assert_eq!(field(&bytes, 1), b"2.0");
        assert_eq!(field(&field(&bytes, 2), 2), b"v1.33.0");
        let named = field(&field(&bytes, 9), 1);
        assert_eq!(field(&named, 1), b"io.k8s.api.core.v1.Pod");
        let pod = field(&named, 2);
        assert_eq!(field(&field(&pod, 22), 1), b"object");
        let spec = field(&field(&field(&pod, 25), 1), 2);
        assert_eq!(field(&spec, 1), b"#/definitions/io.k8s.api.core.v1.PodSpec");
        assert_eq!(field(&spec, 4), b"d");
        let ext = field(&pod, 31);
        assert_eq!(field(&ext, 1), b"x-kubernetes-group-version-kind");
        assert_eq!(
            String::from_utf8(field(&field(&ext, 2), 2)).unwrap(),
            r#"[{"group":"","kind":"Pod","version":"v1"}]"#
        );
        let path = field(&field(&bytes, 8), 2);
        let get = field(&field(&path, 2), 2);
        assert_eq!(field(&get, 5), b"listCoreV1PodForAllNamespaces");
        let query = field(&field(&field(&field(&get, 8), 1), 2), 3);
        assert_eq!(field(&query, 4), b"limit");
        assert_eq!(field(&query, 6), b"integer");
        assert_eq!(field(&query, 20), vec![1]);
    }
}
