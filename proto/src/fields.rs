//! Field selectors: Kubernetes' `fields.ParseSelector` syntax (with `\,` `\=`
//! `\\` escaping), the field labels each kind accepts (its registered
//! `AddFieldLabelConversionFunc`, or the metadata-only default) with their exact
//! 400 messages, and the values each kind exposes (`ToSelectableFields`).

use std::fmt;

use serde_json::Value;

use crate::meta::ObjectMeta;
use crate::resources::{self, ResourceInfo};

/// A term's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field label as the client wrote it, e.g. `spec.nodeName`.
    pub field: String,
    /// The operator.
    pub op: FieldOp,
    /// The unescaped value.
    pub value: String,
}

/// A field selector: the AND of its terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldRequirement>,
}

/// Splits on commas that are not backslash-escaped (the backslashes stay).
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at its first operator (`!=`, `==`, `=`); the left side has no escaping.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in [
            ("!=", FieldOp::NotEquals),
            ("==", FieldOp::Equals),
            ("=", FieldOp::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, value));
            }
        }
    }
    None
}

/// Removes `\` escapes from a value; bare `,` and `=` are errors, as in Kubernetes.
fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(format!("invalid field selector: invalid escape sequence: \\{c}")),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Kubernetes prints the rune with %v, i.e. as its code point number.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ))
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// Escapes `\`, `,` and `=` in a value (`fields.EscapeValue`).
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl FieldSelector {
    /// Parses `a=b,c==d,e!=f`; the empty string selects everything.
    pub fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut parts = split_terms(s);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let (field, op, raw) =
                split_term(part).ok_or_else(|| format!("invalid selector: '{s}'; can't understand '{part}'"))?;
            terms.push(FieldRequirement {
                field: field.to_string(),
                op,
                value: unescape_value(raw)?,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Checks every field is one the resource accepts, with Kubernetes' message for the first that is not.
    pub fn validate_for(&self, info: &ResourceInfo) -> Result<(), String> {
        match self.terms.iter().find(|t| !accepts(info, &t.field)) {
            Some(t) => Err(unsupported_message(info, &t.field)),
            None => Ok(()),
        }
    }

    /// Whether an object matches; its resource is found from its `apiVersion` and `kind`.
    pub fn matches(&self, obj: &Value) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        let info = match (obj["apiVersion"].as_str(), obj["kind"].as_str()) {
            (Some(av), Some(kind)) => resources::find_kind(av, kind),
            _ => None,
        };
        self.terms.iter().all(|t| {
            let have = match info {
                Some(info) => field_value(info, obj, &t.field),
                None => generic_value(obj, &t.field),
            }
            .unwrap_or_default();
            (have == t.value) == (t.op == FieldOp::Equals)
        })
    }

    /// Whether an object of resource `info` matches (missing fields read as "").
    pub fn matches_for(&self, info: &ResourceInfo, obj: &Value) -> bool {
        self.terms.iter().all(|t| {
            let have = field_value(info, obj, &t.field).unwrap_or_default();
            (have == t.value) == (t.op == FieldOp::Equals)
        })
    }

    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms, in Kubernetes' (sorted) order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.terms
    }

    /// The value the selector requires `field` to equal, if any (`RequiresExactMatch`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if t.op == FieldOp::Equals { "=" } else { "!=" };
            write!(f, "{}{op}{}", t.field, escape_value(&t.value))?;
        }
        Ok(())
    }
}

/// How a kind's field labels are registered in Kubernetes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Conversion {
    /// A kind-specific conversion function rejecting with `field label not supported: X`.
    Registered,
    /// batch/v1 Job's function, rejecting with `field label "X" not supported for Job`.
    Job,
    /// No function: `DefaultMetaV1FieldSelectorConversion` (metadata.name and metadata.namespace).
    Default,
}

const INVOLVED_OBJECT: &[&str] = &[
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
];

/// The field labels a resource accepts beyond the default, and how it rejects others.
fn labels_of(info: &ResourceInfo) -> (Conversion, &'static [&'static str]) {
    match (info.group, info.plural) {
        ("", "pods") => (
            Conversion::Registered,
            &[
                "metadata.name",
                "metadata.namespace",
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
                // Legacy alias of spec.nodeName.
                "spec.host",
            ],
        ),
        ("", "nodes") => (Conversion::Registered, &["metadata.name", "spec.unschedulable"]),
        ("", "namespaces") => (Conversion::Registered, &["status.phase", "metadata.name"]),
        ("", "secrets") => (Conversion::Registered, &["type", "metadata.namespace", "metadata.name"]),
        ("", "services") => (
            Conversion::Registered,
            &["metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"],
        ),
        ("", "replicationcontrollers") => (
            Conversion::Registered,
            &["metadata.name", "metadata.namespace", "status.replicas"],
        ),
        ("", "events") => (
            Conversion::Registered,
            &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
                "metadata.namespace",
                "metadata.name",
            ],
        ),
        ("events.k8s.io", "events") => (
            Conversion::Registered,
            &[
                "reason",
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "regarding.apiVersion",
                "regarding.resourceVersion",
                "regarding.fieldPath",
                "reportingController",
                "source",
                "type",
                "metadata.namespace",
                "metadata.name",
            ],
        ),
        ("batch", "jobs") => (
            Conversion::Job,
            &["metadata.name", "metadata.namespace", "status.successful"],
        ),
        _ => (Conversion::Default, &["metadata.name", "metadata.namespace"]),
    }
}

fn accepts(info: &ResourceInfo, field: &str) -> bool {
    labels_of(info).1.contains(&field)
}

/// The field labels a resource accepts in a field selector.
pub fn supported_fields(info: &ResourceInfo) -> &'static [&'static str] {
    labels_of(info).1
}

fn unsupported_message(info: &ResourceInfo, field: &str) -> String {
    match labels_of(info).0 {
        Conversion::Registered => format!("field label not supported: {field}"),
        Conversion::Job => format!("field label {field:?} not supported for Job"),
        Conversion::Default => {
            format!("{field:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")
        }
    }
}

/// Reads a dotted path.
fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, key| v.get(key))
}

/// Renders a scalar as Kubernetes' field sets do (strings as is, `true`, `3`).
fn render(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn string_at(obj: &Value, path: &str) -> String {
    render(lookup(obj, path))
}

/// Go's `strconv.FormatBool` of a field that defaults to false.
fn bool_at(obj: &Value, path: &str) -> String {
    lookup(obj, path).and_then(Value::as_bool).unwrap_or(false).to_string()
}

/// Go's `strconv.Itoa` of a field that defaults to 0.
fn int_at(obj: &Value, path: &str) -> String {
    lookup(obj, path).and_then(Value::as_i64).unwrap_or(0).to_string()
}

fn first_non_empty(a: String, b: String) -> String {
    if a.is_empty() {
        b
    } else {
        a
    }
}

/// The value a field selector compares for `field` on `obj` (in `info`'s version):
/// `None` when the resource neither accepts the field nor aliases it, `""` for unset strings.
pub fn field_value(info: &ResourceInfo, obj: &Value, field: &str) -> Option<String> {
    let involved = |prefix: &str| {
        field
            .strip_prefix("involvedObject.")
            .or_else(|| field.strip_prefix("regarding."))
            .filter(|rest| INVOLVED_OBJECT.contains(rest))
            .map(|rest| string_at(obj, &format!("{prefix}.{rest}")))
    };
    let specific = match (info.group, info.plural, field) {
        (_, _, "metadata.name") => Some(obj.name().unwrap_or("").to_string()),
        (_, _, "metadata.namespace") if info.namespaced => Some(obj.namespace().unwrap_or("").to_string()),
        // Cluster-scoped kinds that accept the label never set it.
        (_, _, "metadata.namespace") if accepts(info, field) => Some(String::new()),
        ("", "pods", "spec.host") => Some(string_at(obj, "spec.nodeName")),
        ("", "pods", "spec.hostNetwork") => Some(bool_at(obj, "spec.hostNetwork")),
        // Kubernetes reads podIPs[0]; status.podIP mirrors it.
        ("", "pods", "status.podIP") => Some(first_non_empty(
            render(obj["status"]["podIPs"].get(0).and_then(|p| p.get("ip"))),
            string_at(obj, "status.podIP"),
        )),
        // Accepted but never set by Kubernetes' pod field set.
        ("", "pods", "status.podIPs") => Some(String::new()),
        ("", "nodes", "spec.unschedulable") => Some(bool_at(obj, "spec.unschedulable")),
        ("", "replicationcontrollers", "status.replicas") => Some(int_at(obj, "status.replicas")),
        ("batch", "jobs", "status.successful") => Some(int_at(obj, "status.succeeded")),
        ("", "events", "source") => Some(first_non_empty(
            string_at(obj, "source.component"),
            string_at(obj, "reportingComponent"),
        )),
        ("", "events", f) if f.starts_with("involvedObject.") => involved("involvedObject"),
        ("events.k8s.io", "events", "source") => Some(first_non_empty(
            string_at(obj, "deprecatedSource.component"),
            string_at(obj, "reportingController"),
        )),
        ("events.k8s.io", "events", "reportingController" | "reportingComponent") => {
            Some(string_at(obj, "reportingController"))
        }
        ("events.k8s.io", "events", f) if f.starts_with("regarding.") || f.starts_with("involvedObject.") => {
            involved("regarding")
        }
        _ => None,
    };
    if specific.is_some() {
        return specific;
    }
    // The remaining accepted fields are plain paths into the object.
    accepts(info, field).then(|| string_at(obj, field))
}

/// Reading of a field on an object whose resource is unknown: metadata and plain paths.
fn generic_value(obj: &Value, field: &str) -> Option<String> {
    match field {
        "metadata.name" => Some(obj.name().unwrap_or("").to_string()),
        "metadata.namespace" => Some(obj.namespace().unwrap_or("").to_string()),
        _ => lookup(obj, field).map(|v| render(Some(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;
    use serde_json::json;

    fn info(group: &str, plural: &str) -> &'static ResourceInfo {
        find(group, "v1", plural).unwrap()
    }

    #[test]
    fn parses_and_renders() {
        let cases = [
            ("", ""),
            (",", ""),
            ("a=b", "a=b"),
            ("a==b", "a=b"),
            ("a!=b", "a!=b"),
            ("b=1,a=2", "a=2,b=1"),
            ("a=", "a="),
            (r"a=x\,y", r"a=x\,y"),
            (r"a=x\=y\\z", r"a=x\=y\\z"),
            (
                "spec.nodeName=,status.phase!=Running",
                "spec.nodeName=,status.phase!=Running",
            ),
        ];
        for (input, want) in cases {
            let s = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(s.to_string(), want, "{input:?}");
        }
        let s = FieldSelector::parse(r"a=x\,y\=z\\").unwrap();
        assert_eq!(s.requirements()[0].value, r"x,y=z\");
        assert_eq!(
            FieldSelector::parse("a==b").unwrap().requires_exact_match("a"),
            Some("b")
        );
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
            ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
            ("a!b", "invalid selector: 'a!b'; can't understand 'a!b'"),
            ("a=b=c", "invalid field selector: unescaped character in value: 61"),
            (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
            (r"a=b\", r"invalid field selector: invalid escape sequence: \"),
        ];
        for (input, want) in cases {
            assert_eq!(FieldSelector::parse(input).unwrap_err(), want, "{input:?}");
        }
    }

    #[test]
    fn supported_labels_per_resource() {
        let cases = [
            ("", "pods", "spec.nodeName", Ok(())),
            ("", "pods", "spec.host", Ok(())),
            ("", "pods", "status.podIPs", Ok(())),
            ("", "pods", "spec.foo", Err("field label not supported: spec.foo")),
            ("", "nodes", "spec.unschedulable", Ok(())),
            (
                "",
                "nodes",
                "metadata.namespace",
                Err("field label not supported: metadata.namespace"),
            ),
            ("", "namespaces", "status.phase", Ok(())),
            ("", "secrets", "type", Ok(())),
            ("", "services", "spec.clusterIP", Ok(())),
            ("", "events", "involvedObject.name", Ok(())),
            (
                "",
                "events",
                "regarding.name",
                Err("field label not supported: regarding.name"),
            ),
            ("events.k8s.io", "events", "regarding.name", Ok(())),
            ("events.k8s.io", "events", "reportingController", Ok(())),
            (
                "events.k8s.io",
                "events",
                "involvedObject.name",
                Err("field label not supported: involvedObject.name"),
            ),
            ("batch", "jobs", "status.successful", Ok(())),
            (
                "batch",
                "jobs",
                "status.active",
                Err("field label \"status.active\" not supported for Job"),
            ),
            ("apps", "replicasets", "metadata.name", Ok(())),
            (
                "apps",
                "replicasets",
                "status.replicas",
                Err(
                    "\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                ),
            ),
            ("", "configmaps", "metadata.namespace", Ok(())),
            ("storage.k8s.io", "storageclasses", "metadata.namespace", Ok(())),
        ];
        for (group, plural, field, want) in cases {
            let sel = FieldSelector::parse(&format!("{field}=x")).unwrap();
            assert_eq!(
                sel.validate_for(info(group, plural)),
                want.map_err(String::from),
                "{plural} {field}"
            );
        }
        // The first unsupported term in sorted order is reported.
        let sel = FieldSelector::parse("z.b=1,metadata.name=a,spec.a=2").unwrap();
        assert_eq!(
            sel.validate_for(info("", "pods")),
            Err("field label not supported: spec.a".into())
        );
    }

    #[test]
    fn pod_field_values() {
        let pods = info("", "pods");
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": true},
            "status": {"phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}]}
        });
        let cases = [
            ("metadata.name", Some("web")),
            ("metadata.namespace", Some("default")),
            ("spec.nodeName", Some("n1")),
            ("spec.host", Some("n1")),
            ("spec.restartPolicy", Some("Always")),
            ("spec.schedulerName", Some("")),
            ("spec.hostNetwork", Some("true")),
            ("status.phase", Some("Running")),
            ("status.podIP", Some("10.42.0.5")),
            ("status.podIPs", Some("")),
            ("status.nominatedNodeName", Some("")),
            ("spec.containers", None),
        ];
        for (field, want) in cases {
            assert_eq!(field_value(pods, &pod, field).as_deref(), want, "{field}");
        }
        let bare = json!({"metadata": {"name": "x"}});
        assert_eq!(field_value(pods, &bare, "spec.hostNetwork").as_deref(), Some("false"));
    }

    #[test]
    fn other_kinds_field_values() {
        let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        assert_eq!(
            field_value(info("", "nodes"), &node, "spec.unschedulable").as_deref(),
            Some("true")
        );
        assert_eq!(
            field_value(info("", "nodes"), &json!({}), "spec.unschedulable").as_deref(),
            Some("false")
        );
        assert_eq!(field_value(info("", "nodes"), &node, "metadata.namespace"), None);
        let job = json!({"metadata": {"name": "j"}, "status": {"succeeded": 3}});
        assert_eq!(
            field_value(info("batch", "jobs"), &job, "status.successful").as_deref(),
            Some("3")
        );
        assert_eq!(
            field_value(info("batch", "jobs"), &json!({}), "status.successful").as_deref(),
            Some("0")
        );
        let sc = json!({"metadata": {"name": "local", "namespace": "ignored"}});
        assert_eq!(
            field_value(info("storage.k8s.io", "storageclasses"), &sc, "metadata.namespace").as_deref(),
            Some("")
        );
        let secret = json!({"metadata": {"name": "s"}, "type": "Opaque"});
        assert_eq!(
            field_value(info("", "secrets"), &secret, "type").as_deref(),
            Some("Opaque")
        );
        let svc = json!({"spec": {"type": "NodePort", "clusterIP": "10.43.0.9"}});
        assert_eq!(
            field_value(info("", "services"), &svc, "spec.type").as_deref(),
            Some("NodePort")
        );
        let ns = json!({"status": {"phase": "Terminating"}});
        assert_eq!(
            field_value(info("", "namespaces"), &ns, "status.phase").as_deref(),
            Some("Terminating")
        );
    }

    #[test]
    fn event_field_values() {
        let core = info("", "events");
        let ev = json!({
            "involvedObject": {"kind": "Pod", "name": "web", "uid": "u1"},
            "reason": "Started", "type": "Normal", "reportingComponent": "kubelet"
        });
        assert_eq!(field_value(core, &ev, "involvedObject.kind").as_deref(), Some("Pod"));
        assert_eq!(field_value(core, &ev, "involvedObject.fieldPath").as_deref(), Some(""));
        assert_eq!(field_value(core, &ev, "source").as_deref(), Some("kubelet"));
        let with_source = json!({"source": {"component": "scheduler"}, "reportingComponent": "x"});
        assert_eq!(field_value(core, &with_source, "source").as_deref(), Some("scheduler"));

        let new = find("events.k8s.io", "v1", "events").unwrap();
        let ev = json!({
            "regarding": {"kind": "Pod", "name": "web"},
            "reason": "Started", "type": "Warning", "reportingController": "k1s"
        });
        assert_eq!(field_value(new, &ev, "regarding.name").as_deref(), Some("web"));
        assert_eq!(field_value(new, &ev, "reportingController").as_deref(), Some("k1s"));
        assert_eq!(field_value(new, &ev, "source").as_deref(), Some("k1s"));
        assert_eq!(field_value(new, &ev, "type").as_deref(), Some("Warning"));
    }

    #[test]
    fn matches_objects() {
        let pod = |name: &str, node: Option<&str>, phase: &str| {
            let mut p = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {}, "status": {"phase": phase}
            });
            if let Some(n) = node {
                p["spec"]["nodeName"] = json!(n);
            }
            p
        };
        let a = pod("a", Some("n1"), "Running");
        let b = pod("b", None, "Pending");
        let cases = [
            ("", true, true),
            ("metadata.name=a", true, false),
            ("metadata.name!=a", false, true),
            ("spec.nodeName=", false, true),
            ("spec.nodeName=n1,status.phase=Running", true, false),
            ("status.phase!=Running", false, true),
            ("spec.hostNetwork=false", true, true),
            ("status.podIPs=10.0.0.1", false, false),
        ];
        for (sel, want_a, want_b) in cases {
            let s = FieldSelector::parse(sel).unwrap();
            assert_eq!((s.matches(&a), s.matches(&b)), (want_a, want_b), "{sel:?}");
            let pods = info("", "pods");
            assert_eq!(
                (s.matches_for(pods, &a), s.matches_for(pods, &b)),
                (want_a, want_b),
                "{sel:?}"
            );
        }
        // Objects without apiVersion/kind fall back to metadata and plain paths.
        let untyped = json!({"metadata": {"name": "x", "namespace": "d"}, "spec": {"replicas": 3}});
        assert!(FieldSelector::parse("metadata.namespace=d,spec.replicas=3")
            .unwrap()
            .matches(&untyped));
    }
}
