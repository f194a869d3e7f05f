//! Go's renderings of decoded JSON (`%v`, `%s`, `reflect.TypeOf`, `encoding/json`
//! kind names), so patch errors read exactly as the Kubernetes API server words them.

use serde_json::Value;

/// `fmt.Sprintf("%v", v)` of a value decoded into `interface{}` (maps print with sorted keys).
pub fn go_value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// `fmt.Sprintf("%s", v)`: strings as they are, anything else as Go's `%!s(type=value)`.
/// Go's `%q` / `strconv.Quote` of a string: double-quoted with Go's escapes
/// (shared by strict-decoding messages, probe and kubelet error texts).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn go_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".to_string(),
        Value::Object(_) | Value::Array(_) => go_value(v),
        other => format!("%!s({}={})", go_type(other), go_value(other)),
    }
}

/// `reflect.TypeOf(v).String()` of a decoded value (integers decode as `int64`).
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The JSON kind `encoding/json` names in "cannot unmarshal X into Go value of type T".
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&go_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                if let Some(value) = map.get(key) {
                    write_value(out, value);
                }
            }
            out.push(']');
        }
    }
}

/// `%v` of a float64: `%g` with the shortest digits, exponent form below 1e-4 or from 1e6.
fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_go() {
        let cases = [
            (
                json!({"image": "nginx:1.25", "env": [{"name": "A"}]}),
                "map[env:[map[name:A]] image:nginx:1.25]",
            ),
            (json!([1, "a", true, null]), "[1 a true <nil>]"),
            (json!(1.5), "1.5"),
            (json!(100000.0), "100000"),
            (json!(1000000.0), "1e+06"),
            (json!(0.00001), "1e-05"),
            (json!(0.0001), "0.0001"),
            (json!(1234567.5), "1.2345675e+06"),
        ];
        for (value, want) in cases {
            assert_eq!(go_value(&value), want, "{value}");
        }
    }

    #[test]
    fn names_types_and_kinds() {
        assert_eq!(go_type(&json!([])), "[]interface {}");
        assert_eq!(go_type(&json!(3)), "int64");
        assert_eq!(go_type(&json!(3.5)), "float64");
        assert_eq!(json_kind(&json!({})), "object");
        assert_eq!(go_string(&json!("merge")), "merge");
        assert_eq!(go_string(&json!(1)), "%!s(int64=1)");
    }
}
