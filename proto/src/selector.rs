//! Label selectors: Kubernetes' string syntax (`labels.Parse`, with its lexer,
//! parser and error messages), `metav1.LabelSelector` objects
//! (`LabelSelectorAsSelector`), matching and the canonical string form.

use std::fmt;

use serde_json::{Map, Value};

use crate::validation::{is_qualified_name, is_valid_label_value};

/// A requirement's operator (`selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `in (a,b)`.
    In,
    /// `notin (a,b)`.
    NotIn,
    /// `=`.
    Equals,
    /// `==`.
    DoubleEquals,
    /// `!=`.
    NotEquals,
    /// `key`.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `key>1`.
    GreaterThan,
    /// `key<1`.
    LessThan,
}

impl Operator {
    /// The operator's name as `selection.Operator` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One `key op values` term of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
}

/// Go's `%#v` of a `[]string`, as Kubernetes prints bad values.
fn go_string_slice(values: Option<&[String]>) -> String {
    match values {
        None => "[]string(nil)".to_string(),
        Some(v) => {
            let q: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
            format!("[]string{{{}}}", q.join(", "))
        }
    }
}

/// Joins messages like `utilerrors.Aggregate`: one as is, several as `[a, b]`, duplicates dropped.
fn aggregate(mut errs: Vec<String>) -> String {
    let mut seen = Vec::new();
    errs.retain(|e| {
        if seen.contains(e) {
            false
        } else {
            seen.push(e.clone());
            true
        }
    });
    if errs.len() == 1 {
        errs.remove(0)
    } else {
        format!("[{}]", errs.join(", "))
    }
}

/// `field.Invalid(path, value, detail).Error()` for a string value.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {value:?}: {detail}")
}

impl Requirement {
    /// Builds a validated requirement (`labels.NewRequirement`); `values` is `None` for a nil slice.
    pub fn new(key: &str, op: Operator, values: Option<Vec<String>>) -> Result<Requirement, String> {
        let mut errs = Vec::new();
        let key_errs = is_qualified_name(key);
        if !key_errs.is_empty() {
            errs.push(invalid("key", key, &key_errs.join("; ")));
        }
        let vals = values.as_deref().unwrap_or(&[]);
        let shown = || go_string_slice(values.as_deref());
        match op {
            Operator::In | Operator::NotIn if vals.is_empty() => errs.push(format!(
                "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
                shown()
            )),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if vals.len() != 1 => errs.push(format!(
                "values: Invalid value: {}: exact-match compatibility requires one single value",
                shown()
            )),
            Operator::Exists | Operator::DoesNotExist if !vals.is_empty() => errs.push(format!(
                "values: Invalid value: {}: values set must be empty for exists and does not exist",
                shown()
            )),
            Operator::GreaterThan | Operator::LessThan => {
                if vals.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                        shown()
                    ));
                }
                for (i, v) in vals.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(invalid(
                            &format!("values[{i}]"),
                            v,
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in vals.iter().enumerate() {
            let value_errs = is_valid_label_value(v);
            if !value_errs.is_empty() {
                errs.push(invalid(&format!("values[{i}][{key}]"), v, &value_errs.join("; ")));
            }
        }
        if errs.is_empty() {
            Ok(Requirement {
                key: key.to_string(),
                op,
                values: vals.to_vec(),
            })
        } else {
            Err(aggregate(errs))
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.op
    }

    /// The values (empty for Exists/DoesNotExist).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set satisfies this requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels.and_then(|l| l.get(&self.key)).and_then(Value::as_str);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            Operator::In | Operator::Equals | Operator::DoubleEquals => value.is_some_and(has),
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(has),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), [want]) = (value.and_then(|v| v.parse::<i64>().ok()), self.values.as_slice()) else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else {
                    return false;
                };
                if self.op == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (op, parens) = match self.op {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => ("=", false),
            Operator::DoubleEquals => ("==", false),
            Operator::NotEquals => ("!=", false),
            Operator::In => (" in ", true),
            Operator::NotIn => (" notin ", true),
            Operator::GreaterThan => (">", false),
            Operator::LessThan => ("<", false),
        };
        let mut values = self.values.clone();
        values.sort();
        if parens {
            write!(f, "{op}({})", values.join(","))
        } else {
            write!(f, "{op}{}", values.join(","))
        }
    }
}

/// A label selector: the AND of its requirements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// The selector that matches no object (a null `metav1.LabelSelector`).
    pub fn nothing() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the string syntax (`a=b,c in (x,y),!d`); the empty string selects everything.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut requirements = Parser::new(s).parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Builds a selector from a `metav1.LabelSelector` object; null selects nothing, `{}` everything.
    pub fn from_json(v: &Value) -> Result<LabelSelector, String> {
        let obj = match v {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(o) => o,
            other => return Err(format!("a label selector must be an object, got {other}")),
        };
        let mut requirements = Vec::new();
        if let Some(labels) = obj.get("matchLabels").filter(|m| !m.is_null()) {
            let labels = labels.as_object().ok_or("matchLabels must be an object of strings")?;
            for (k, v) in labels {
                let v = v.as_str().ok_or_else(|| format!("matchLabels[{k}] must be a string"))?;
                requirements.push(Requirement::new(k, Operator::Equals, Some(vec![v.to_string()]))?);
            }
        }
        if let Some(exprs) = obj.get("matchExpressions").filter(|m| !m.is_null()) {
            let exprs = exprs.as_array().ok_or("matchExpressions must be a list")?;
            for expr in exprs {
                let op_name = expr["operator"].as_str().unwrap_or("");
                let op = match op_name {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => return Err(format!("{other:?} is not a valid label selector operator")),
                };
                let values = match expr["values"].as_array() {
                    Some(vs) if !vs.is_empty() => Some(
                        vs.iter()
                            .map(|v| {
                                v.as_str()
                                    .map(str::to_string)
                                    .ok_or("matchExpressions values must be strings")
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    _ => None,
                };
                requirements.push(Requirement::new(expr["key"].as_str().unwrap_or(""), op, values)?);
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// A selector requiring exactly these labels (`SelectorFromSet`); empty selects everything.
    pub fn from_labels(labels: &Map<String, Value>) -> LabelSelector {
        let mut requirements: Vec<Requirement> = labels
            .iter()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                op: Operator::Equals,
                values: vec![v.as_str().unwrap_or_default().to_string()],
            })
            .collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether this selector does not restrict the selection (matches everything).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether this selector matches no object at all.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// The single value a selector requires for `key` (`RequiresExactMatch`), if any.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.op, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Whether `labels` match a `metav1.LabelSelector` object (an invalid selector matches nothing).
pub fn matches_json_selector(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    LabelSelector::from_json(selector).is_ok_and(|s| s.matches(labels))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits a selector string into tokens, as Kubernetes' lexer does.
fn lex(s: &str) -> Vec<(Token, String)> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < b.len() && is_whitespace(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            out.push((Token::EndOfString, String::new()));
            return out;
        }
        let start = pos;
        if is_special(b[pos]) {
            // Longest run of special characters that still forms an operator.
            let mut last: Option<(Token, usize)> = None;
            while pos < b.len() && is_special(b[pos]) {
                match keyword(&s[start..=pos]) {
                    Some(t) => last = Some((t, pos + 1)),
                    None if last.is_some() => break,
                    None => {}
                }
                pos += 1;
            }
            match last {
                Some((t, end)) => {
                    pos = end;
                    out.push((t, s[start..end].to_string()));
                }
                None => out.push((
                    Token::Error,
                    format!("error expected: keyword found '{}'", &s[start..pos]),
                )),
            }
        } else {
            while pos < b.len() && !is_special(b[pos]) && !is_whitespace(b[pos]) {
                pos += 1;
            }
            let word = &s[start..pos];
            out.push((keyword(word).unwrap_or(Token::Identifier), word.to_string()));
        }
    }
}

/// Whether `in`/`notin` read as operators or as plain values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn new(s: &str) -> Parser {
        Parser {
            items: lex(s),
            position: 0,
        }
    }

    fn at(&self, i: usize, ctx: Context) -> (Token, String) {
        let (t, lit) = self
            .items
            .get(i)
            .or(self.items.last())
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        match t {
            Token::In | Token::NotIn if ctx == Context::Values => (Token::Identifier, lit),
            _ => (t, lit),
        }
    }

    fn lookahead(&self, ctx: Context) -> (Token, String) {
        self.at(self.position, ctx)
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let item = self.at(self.position, ctx);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!("found '{l2}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => return Err(format!("found '{lit}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op) = op {
            return Requirement::new(&key, op, Some(Vec::new()));
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, Some(values))
    }

    /// Reads `[!]key`; returns Exists/DoesNotExist when no binary operator follows.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let errs = is_qualified_name(&lit);
        if !errs.is_empty() {
            // Kubernetes validates the key with a nil field path here.
            return Err(invalid("<nil>", &lit, &errs.join("; ")));
        }
        let (next, _) = self.lookahead(Context::Values);
        if (next == Token::EndOfString || next == Token::Comma) && op.is_none() {
            op = Some(Operator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{lit}', expected: in, notin, =, ==, !=, gt, lt")),
        })
    }

    /// Reads `(a,b,...)` into a sorted set; `()` and empty slots mean the empty value.
    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        let mut set = match tok {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                if self.consume(Context::Values).0 != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                set
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                vec![String::new()]
            }
            _ => return Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        };
        set.sort();
        set.dedup();
        Ok(set)
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut set: Vec<String> = Vec::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    set.push(lit);
                    let (t2, l2) = self.lookahead(Context::Values);
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.push(String::new());
                    }
                    let (t2, _) = self.lookahead(Context::Values);
                    if t2 == Token::ClosedPar {
                        set.push(String::new());
                        return Ok(set);
                    }
                    if t2 == Token::Comma {
                        set.push(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(vec![lit])
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAME_PART_ERR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn parses_to_canonical_strings() {
        let cases = [
            ("", ""),
            ("   ", ""),
            ("a=b", "a=b"),
            ("a==b", "a==b"),
            ("a!=b", "a!=b"),
            ("a = b", "a=b"),
            ("a=", "a="),
            ("a", "a"),
            ("!a", "!a"),
            (" ! a ", "!a"),
            ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
            ("a in (y,x,y)", "a in (x,y)"),
            ("a in (x),b notin (x,y)", "a in (x),b notin (x,y)"),
            ("b=1,a=2", "a=2,b=1"),
            ("in in (in,notin)", "in in (in,notin)"),
            ("a>1,b<2", "a>1,b<2"),
            ("a in (,)", "a in ()"),
            ("example.com/key=v_1.2", "example.com/key=v_1.2"),
        ];
        for (input, want) in cases {
            let s = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(s.to_string(), want, "{input:?}");
        }
    }

    #[test]
    fn reports_errors_like_kubernetes() {
        let cases = [
            ("a=b c", "found 'c', expected: ',' or 'end of string'"),
            ("a,", "found '', expected: identifier after ','"),
            (",a", "found ',', expected: !, identifier, or 'end of string'"),
            ("a in", "unable to parse requirement: found '' expected: '('"),
            ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
            ("a in x", "unable to parse requirement: found 'x' expected: '('"),
            ("a in (", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
            ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
            ("a in (x,", "unable to parse requirement: found '', expected: ',', or identifier"),
            ("a!b", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
            ("a==!b", "unable to parse requirement: found '!', expected: identifier"),
            ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
            ("!", "unable to parse requirement: found '', expected: identifier"),
            ("!a=b", "found '=', expected: ',' or 'end of string'"),
            ("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"),
        ];
        for (input, want) in cases {
            assert_eq!(LabelSelector::parse(input).unwrap_err(), want, "{input:?}");
        }
    }

    #[test]
    fn rejects_invalid_keys_and_values() {
        assert_eq!(
            LabelSelector::parse("-a=b").unwrap_err(),
            format!("unable to parse requirement: <nil>: Invalid value: \"-a\": {NAME_PART_ERR}")
        );
        assert_eq!(
            LabelSelector::parse("a=b&c").unwrap_err(),
            format!("unable to parse requirement: values[0][a]: Invalid value: \"b&c\": {VALUE_ERR}")
        );
        let long = "x".repeat(64);
        assert_eq!(
            LabelSelector::parse(&format!("a in (ok,{long})")).unwrap_err(),
            format!(
                "unable to parse requirement: values[1][a]: Invalid value: \"{long}\": must be no more than 63 characters"
            )
        );
    }

    #[test]
    fn matches_label_sets() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db,web)", true),
            ("app notin (db,web)", false),
            ("missing notin (x)", true),
            ("missing in (x)", false),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("n>4", true),
            ("n<5", false),
            ("app>1", false),
            ("missing=", false),
        ];
        for (sel, want) in cases {
            let s = LabelSelector::parse(sel).unwrap();
            assert_eq!(s.matches(Some(&l)), want, "{sel:?}");
        }
        assert!(LabelSelector::parse("!a").unwrap().matches(None));
        assert!(!LabelSelector::parse("a").unwrap().matches(None));
        assert!(LabelSelector::default().matches(None));
        assert!(LabelSelector::default().is_empty());
        assert!(!LabelSelector::parse("a").unwrap().is_empty());
    }

    #[test]
    fn builds_from_json_selectors() {
        let sel = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "api"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "app", "operator": "Exists"}
            ]
        });
        let s = LabelSelector::from_json(&sel).unwrap();
        assert_eq!(
            s.to_string(),
            "app=web,app,!canary,env notin (prod),tier in (api,front)"
        );
        assert!(s.matches(Some(&labels(json!({"app": "web", "tier": "api"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "web", "tier": "api", "canary": "1"})))));
        assert!(!s.matches(Some(&labels(json!({"app": "web", "tier": "back"})))));

        let empty = LabelSelector::from_json(&json!({})).unwrap();
        assert!(empty.is_empty() && empty.matches(None));
        let none = LabelSelector::from_json(&Value::Null).unwrap();
        assert!(!none.is_empty() && !none.matches(Some(&labels(json!({"a": "b"})))) && none.matches_nothing());
        assert_eq!(none.to_string(), "");
        assert_eq!(s.requires_exact_match("app"), Some("web"));
        assert!(matches_json_selector(
            &json!({"matchLabels": {"a": "b"}}),
            Some(&labels(json!({"a": "b"})))
        ));
        assert!(!matches_json_selector(
            &json!({"matchLabels": {"a": "-"}}),
            Some(&labels(json!({"a": "-"})))
        ));
    }

    #[test]
    fn json_selector_errors() {
        let cases = [
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Near"}]}),
                "\"Near\" is not a valid label selector operator",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
                "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist",
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(LabelSelector::from_json(&sel).unwrap_err(), want, "{sel}");
        }
        let err = LabelSelector::from_json(&json!({"matchLabels": {"a b": "c d"}})).unwrap_err();
        assert_eq!(
            err,
            format!(
                "[key: Invalid value: \"a b\": {NAME_PART_ERR}, values[0][a b]: Invalid value: \"c d\": {VALUE_ERR}]"
            )
        );
    }

    #[test]
    fn selector_from_label_map() {
        let s = LabelSelector::from_labels(&labels(json!({"b": "2", "a": "1"})));
        assert_eq!(s.to_string(), "a=1,b=2");
        assert!(LabelSelector::from_labels(&Map::new()).is_empty());
    }
}
