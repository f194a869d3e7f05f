//! One protobuf message to the JSON that Kubernetes' Go types print for it.
//!
//! Go's protobuf encoder writes every plain (non-pointer) field, zero or not; its JSON
//! encoder then drops zero `omitempty` fields. [`Emit`] in the schema carries which rule
//! applies to each field, so the JSON here matches what the API would have been sent.

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::model::{self, Card, Emit, Field, Message, Special, Ty};
use super::wire::{Reader, WireValue};

/// Deeper nesting than this is refused (JSON schemas in CRDs are the deepest real objects).
const MAX_DEPTH: usize = 200;

/// What one field collected from the wire.
enum Slot<'a> {
    Absent,
    /// A singular field: the last value on the wire wins.
    One(WireValue<'a>),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

/// Transcodes the bytes of message `index` into its JSON value.
pub fn message_to_json(index: u16, bytes: &[u8], depth: usize) -> Result<Value, String> {
    let msg = model::message(index);
    if depth > MAX_DEPTH {
        return Err(format!("{}: nested deeper than {MAX_DEPTH} levels", msg.name));
    }
    let slots = collect(msg, bytes, depth).map_err(|e| format!("{}: {e}", msg.name))?;
    let out = match msg.special {
        Special::Plain => plain(msg, slots, depth),
        special => special_json(special, msg, bytes, &slots, depth),
    };
    out.map_err(|e| {
        if e.starts_with("k8s.io.") {
            e
        } else {
            format!("{}: {e}", msg.name)
        }
    })
}

/// Reads every field on the wire into per-field slots (unknown fields are skipped, as Go does).
fn collect<'a>(msg: &Message, bytes: &'a [u8], depth: usize) -> Result<Vec<Slot<'a>>, String> {
    let mut slots: Vec<Slot<'a>> = msg.fields.iter().map(|_| Slot::Absent).collect();
    let mut reader = Reader::new(bytes);
    while let Some((tag, value)) = reader.next_field()? {
        let Some(i) = msg.field_index(tag) else { continue };
        let field = &msg.fields[i];
        let ctx = |e: String| format!("field {} ({}): {e}", field.tag, field.json);
        match field.card {
            Card::O | Card::In => {
                check_wire(field.ty, &value).map_err(ctx)?;
                slots[i] = Slot::One(value);
            }
            Card::R => {
                let list = match &mut slots[i] {
                    Slot::List(list) => list,
                    slot => {
                        *slot = Slot::List(Vec::new());
                        let Slot::List(list) = slot else { unreachable!() };
                        list
                    }
                };
                repeated_value(field.ty, value, depth, list).map_err(ctx)?;
            }
            Card::Mp => {
                let WireValue::Bytes(entry) = value else {
                    return Err(ctx(format!("map entry with wire type {}", value.wire_type())));
                };
                let (key, val) = map_entry(field.ty, entry, depth).map_err(ctx)?;
                match &mut slots[i] {
                    Slot::Map(map) => {
                        map.insert(key, val);
                    }
                    slot => {
                        let mut map = Map::new();
                        map.insert(key, val);
                        *slot = Slot::Map(map);
                    }
                }
            }
        }
    }
    Ok(slots)
}

/// An object of the fields, in tag order, with Go's JSON rules for absent and zero values.
fn plain(msg: &Message, slots: Vec<Slot<'_>>, depth: usize) -> Result<Value, String> {
    let mut out = Map::new();
    for (field, slot) in msg.fields.iter().zip(slots) {
        let ctx = |e: String| format!("field {} ({}): {e}", field.tag, field.json);
        match (field.card, slot) {
            (Card::In, slot) => {
                let bytes = match slot {
                    Slot::One(WireValue::Bytes(b)) => b,
                    _ => &[],
                };
                let Ty::M(index) = field.ty else {
                    return Err(ctx("inline field is not a message".into()));
                };
                if let Value::Object(inner) = message_to_json(index, bytes, depth + 1)? {
                    out.extend(inner);
                }
            }
            (_, Slot::One(value)) => {
                if field.emit == Emit::Z && is_zero(&value) {
                    continue;
                }
                out.insert(
                    field.json.to_string(),
                    single_value(field.ty, value, depth).map_err(ctx)?,
                );
            }
            (_, Slot::List(list)) => {
                out.insert(field.json.to_string(), Value::Array(list));
            }
            (_, Slot::Map(map)) => {
                out.insert(field.json.to_string(), Value::Object(sorted(map)));
            }
            (_, Slot::Absent) => {
                if field.emit == Emit::A {
                    out.insert(field.json.to_string(), zero_value(field, depth)?);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// What Go prints for a required field that was not on the wire (its zero value).
fn zero_value(field: &Field, depth: usize) -> Result<Value, String> {
    Ok(match (field.card, field.ty) {
        (Card::R | Card::Mp, _) | (_, Ty::B) => Value::Null,
        (_, Ty::S) => Value::String(String::new()),
        (_, Ty::Bo) => Value::Bool(false),
        (_, Ty::I32 | Ty::I64 | Ty::F64) => Value::from(0),
        (_, Ty::M(index)) => message_to_json(index, &[], depth + 1)?,
    })
}

/// Go's zero value test for `omitempty` on a plain scalar.
fn is_zero(value: &WireValue<'_>) -> bool {
    match value {
        WireValue::Varint(v) | WireValue::Fixed64(v) => *v == 0 || *v == 1 << 63, // 1<<63 is -0.0
        WireValue::Fixed32(v) => *v == 0,
        WireValue::Bytes(b) => b.is_empty(),
    }
}

/// Checks that a singular value has the wire type of its field.
fn check_wire(ty: Ty, value: &WireValue<'_>) -> Result<(), String> {
    let want = match ty {
        Ty::S | Ty::B | Ty::M(_) => 2,
        Ty::Bo | Ty::I32 | Ty::I64 => 0,
        Ty::F64 => 1,
    };
    if value.wire_type() == want {
        Ok(())
    } else {
        Err(format!("wire type {}, expected {want}", value.wire_type()))
    }
}

/// One value of a field as JSON.
fn single_value(ty: Ty, value: WireValue<'_>, depth: usize) -> Result<Value, String> {
    check_wire(ty, &value)?;
    Ok(match (ty, value) {
        (Ty::S, WireValue::Bytes(b)) => Value::String(String::from_utf8_lossy(b).into_owned()),
        (Ty::B, WireValue::Bytes(b)) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        (Ty::M(index), WireValue::Bytes(b)) => message_to_json(index, b, depth + 1)?,
        (Ty::Bo, WireValue::Varint(v)) => Value::Bool(v != 0),
        // Go truncates to the field's width, as these casts do.
        (Ty::I32, WireValue::Varint(v)) => Value::from(v as i32),
        (Ty::I64, WireValue::Varint(v)) => Value::from(v as i64),
        (Ty::F64, WireValue::Fixed64(v)) => double(f64::from_bits(v))?,
        _ => return Err("wire type does not match the field".to_string()),
    })
}

/// A float64 as encoding/json prints it: integral values without a fraction; NaN and ±Inf are errors.
fn double(x: f64) -> Result<Value, String> {
    if !x.is_finite() {
        return Err(format!("unsupported float value {x}"));
    }
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        return Ok(Value::from(x as i64));
    }
    Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| format!("unsupported float value {x}"))
}

/// Appends one wire occurrence of a repeated field: a value, or a packed run of numbers.
fn repeated_value(ty: Ty, value: WireValue<'_>, depth: usize, list: &mut Vec<Value>) -> Result<(), String> {
    match (ty, value) {
        (Ty::Bo | Ty::I32 | Ty::I64, WireValue::Bytes(packed)) => {
            let mut r = Reader::new(packed);
            while !r.at_end() {
                list.push(single_value(ty, WireValue::Varint(r.varint()?), depth)?);
            }
        }
        (Ty::F64, WireValue::Bytes(packed)) => {
            let mut r = Reader::new(packed);
            while !r.at_end() {
                list.push(single_value(ty, WireValue::Fixed64(r.fixed64()?), depth)?);
            }
        }
        (ty, value) => list.push(single_value(ty, value, depth)?),
    }
    Ok(())
}

/// One `map<string, ty>` entry {key = 1, value = 2}; a missing part is its zero value.
fn map_entry(ty: Ty, entry: &[u8], depth: usize) -> Result<(String, Value), String> {
    let mut key = String::new();
    let mut value = None;
    let mut r = Reader::new(entry);
    while let Some((tag, v)) = r.next_field()? {
        match (tag, v) {
            (1, WireValue::Bytes(b)) => key = String::from_utf8_lossy(b).into_owned(),
            (1, v) => return Err(format!("map key with wire type {}", v.wire_type())),
            (2, v) => value = Some(single_value(ty, v, depth)?),
            _ => {}
        }
    }
    let value = match value {
        Some(v) => v,
        None => single_value(ty, WireValue::Bytes(&[]), depth)?,
    };
    Ok((key, value))
}

/// Go's encoding/json prints map keys sorted.
fn sorted(map: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

/// The slot of the field with this tag.
fn slot<'s, 'a>(msg: &Message, slots: &'s [Slot<'a>], tag: u32) -> &'s Slot<'a> {
    msg.field_index(tag).map_or(&Slot::Absent, |i| &slots[i])
}

fn varint_of(msg: &Message, slots: &[Slot<'_>], tag: u32) -> u64 {
    match slot(msg, slots, tag) {
        Slot::One(WireValue::Varint(v)) => *v,
        _ => 0,
    }
}

fn bytes_of<'a>(msg: &Message, slots: &[Slot<'a>], tag: u32) -> Option<&'a [u8]> {
    match slot(msg, slots, tag) {
        Slot::One(WireValue::Bytes(b)) => Some(b),
        _ => None,
    }
}

fn list_of(msg: &Message, slots: &[Slot<'_>], tag: u32) -> Option<Vec<Value>> {
    match slot(msg, slots, tag) {
        Slot::List(list) if !list.is_empty() => Some(list.clone()),
        _ => None,
    }
}

/// A sub-message field of a special message, decoded.
fn sub_message(msg: &Message, slots: &[Slot<'_>], tag: u32, depth: usize) -> Result<Option<Value>, String> {
    let (Some(bytes), Some(i)) = (bytes_of(msg, slots, tag), msg.field_index(tag)) else {
        return Ok(None);
    };
    match msg.fields[i].ty {
        Ty::M(index) => message_to_json(index, bytes, depth + 1).map(Some),
        _ => Err(format!("field {tag} is not a message")),
    }
}

fn special_json(
    special: Special,
    msg: &Message,
    bytes: &[u8],
    slots: &[Slot<'_>],
    depth: usize,
) -> Result<Value, String> {
    Ok(match special {
        Special::Plain => unreachable!("plain messages are handled by `plain`"),
        // metav1.Time drops nanoseconds when decoding protobuf; empty bytes are the zero time.
        Special::Time if bytes.is_empty() => Value::Null,
        Special::Time => Value::String(rfc3339(varint_of(msg, slots, 1) as i64, 0, false)?),
        Special::MicroTime if bytes.is_empty() => Value::Null,
        Special::MicroTime => Value::String(rfc3339(
            varint_of(msg, slots, 1) as i64,
            varint_of(msg, slots, 2) as i32,
            true,
        )?),
        Special::Duration => Value::String(go_duration(varint_of(msg, slots, 1) as i64)),
        Special::Quantity => match bytes_of(msg, slots, 1) {
            Some(s) if !s.is_empty() => Value::String(String::from_utf8_lossy(s).into_owned()),
            _ => Value::String("0".to_string()),
        },
        Special::IntOrString => {
            if varint_of(msg, slots, 1) == 1 {
                let s = bytes_of(msg, slots, 3).unwrap_or_default();
                Value::String(String::from_utf8_lossy(s).into_owned())
            } else {
                Value::from(varint_of(msg, slots, 2) as i32)
            }
        }
        Special::RawExtension => match bytes_of(msg, slots, 1) {
            Some(raw) if raw.starts_with(super::MAGIC) => super::decode_object_at(raw, depth + 1)?,
            raw => embedded_json(raw)?,
        },
        Special::EmbeddedJson => embedded_json(bytes_of(msg, slots, 1))?,
        Special::StringList => Value::Array(list_of(msg, slots, 1).unwrap_or_default()),
        Special::SchemaOrArray => match list_of(msg, slots, 2) {
            Some(list) => Value::Array(list),
            None => sub_message(msg, slots, 1, depth)?.unwrap_or(Value::Null),
        },
        Special::SchemaOrBool => match sub_message(msg, slots, 2, depth)? {
            Some(schema) => schema,
            None => Value::Bool(varint_of(msg, slots, 1) != 0),
        },
        Special::SchemaOrStringArray => match list_of(msg, slots, 2) {
            Some(list) => Value::Array(list),
            None => sub_message(msg, slots, 1, depth)?.unwrap_or(Value::Null),
        },
    })
}

/// Embedded raw JSON; absent or empty is `null`.
fn embedded_json(raw: Option<&[u8]>) -> Result<Value, String> {
    match raw {
        None | Some([]) => Ok(Value::Null),
        Some(raw) => serde_json::from_slice(raw).map_err(|e| format!("embedded JSON is invalid: {e}")),
    }
}

/// `2024-01-02T03:04:05Z`, or with `micro` `2024-01-02T03:04:05.123456Z` (Go truncates, so do we).
fn rfc3339(seconds: i64, nanos: i32, micro: bool) -> Result<String, String> {
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    let secs = total.div_euclid(1_000_000_000);
    let frac = total.rem_euclid(1_000_000_000);
    let ts = i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .ok_or_else(|| format!("time {seconds}s is out of range"))?;
    let date = ts.to_zoned(jiff::tz::TimeZone::UTC);
    if !(0..=9999).contains(&date.year()) {
        return Err(format!("time {seconds}s: year outside of range [0,9999]"));
    }
    let base = date.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    Ok(if micro {
        format!("{base}.{:06}Z", frac / 1000)
    } else {
        format!("{base}Z")
    })
}

/// Go's `time.Duration.String`: `1h0m0s`, `1m30s`, `1.5s`, `500ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < 1_000_000_000 {
        let (unit, scale) = match u {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", decimal(u, scale));
    }
    let secs = u / 1_000_000_000;
    let mut out = format!(
        "{}s",
        decimal(secs % 60 * 1_000_000_000 + u % 1_000_000_000, 1_000_000_000)
    );
    let minutes = secs / 60;
    if minutes > 0 {
        out = format!("{}m{out}", minutes % 60);
        let hours = minutes / 60;
        if hours > 0 {
            out = format!("{hours}h{out}");
        }
    }
    format!("{sign}{out}")
}

/// `value / scale` with the fraction's trailing zeros trimmed: (1500, 1000) -> `1.5`.
fn decimal(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (500_000_000, "500ms"),
            (5_000_000_000, "5s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_661_000_000_001, "1h1m1.000000001s"),
            (-5_000_000_000, "-5s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (ns, want) in cases {
            assert_eq!(go_duration(ns), want, "{ns}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(1_704_164_645, 0, false).as_deref(), Ok("2024-01-02T03:04:05Z"));
        assert_eq!(rfc3339(0, 0, false).as_deref(), Ok("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339(1_704_164_645, 123_456_789, true).as_deref(),
            Ok("2024-01-02T03:04:05.123456Z")
        );
        assert_eq!(
            rfc3339(-1, 500_000_000, true).as_deref(),
            Ok("1969-12-31T23:59:59.500000Z")
        );
        assert!(rfc3339(i64::MAX, 0, false).is_err());
        assert!(rfc3339(-62_167_219_201, 0, false).is_err()); // year -1
    }

    #[test]
    fn doubles_print_like_go() {
        assert_eq!(double(1.0), Ok(Value::from(1)));
        assert_eq!(double(-2.0), Ok(Value::from(-2)));
        assert_eq!(double(0.5), Ok(serde_json::json!(0.5)));
        assert!(double(f64::NAN).is_err());
        assert!(double(f64::INFINITY).is_err());
    }
}
