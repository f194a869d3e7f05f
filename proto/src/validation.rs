//! Name and metadata syntax, with Kubernetes' exact messages: the string
//! checks of `k8s.io/apimachinery/pkg/util/validation` (each returns the list
//! of problems, empty when valid), the per-kind name rules, and
//! `ValidateObjectMeta` / `ValidateObjectMetaUpdate` on objects held as JSON.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use crate::meta::ObjectMeta;
use crate::{FieldError, ResourceInfo};

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const C_IDENTIFIER_FMT: &str = "[A-Za-z_][A-Za-z0-9_]*";
const C_IDENTIFIER_MSG: &str =
    "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_'";
const ENV_VAR_NAME_FMT: &str = "[-._a-zA-Z][-._a-zA-Z0-9]*";
const ENV_VAR_NAME_MSG: &str = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit";
const RELAXED_ENV_VAR_NAME_MSG: &str =
    "a valid environment variable name must consist only of printable ASCII characters other than '='";
const CONFIG_MAP_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_MAP_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const PERCENT_FMT: &str = "[0-9]+%";
const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%'";

/// Maximum length of a DNS-1123 label (and of a DNS-1035 label).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Maximum length of a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Maximum length of a label value and of a qualified name's name part.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Maximum total size of all annotation keys and values (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// Kubernetes' message for a changed immutable field.
pub const FIELD_IMMUTABLE: &str = "field is immutable";

/// `must be no more than N characters`.
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// `msg (e.g. 'a',  or 'b', regex used for validation is 'fmt')`, spacing as Kubernetes writes it.
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

/// `must be non-empty`.
pub fn empty_error() -> String {
    "must be non-empty".to_string()
}

/// `must be between LO and HI, inclusive`.
pub fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Matches `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            is_lower_alnum(f) && is_lower_alnum(l) && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// Matches the DNS-1123 subdomain pattern (dot-separated labels).
fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

/// Matches `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
fn matches_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Checks a DNS-1123 label (namespace names, most generated names).
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            // A valid subdomain that is not a label: the length was checked, so it has dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Checks a DNS-1123 subdomain (most object names).
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Checks a DNS-1035 label (service names).
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    let b = value.as_bytes();
    let ok = match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            f.is_ascii_lowercase() && is_lower_alnum(l) && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    };
    if !ok {
        errs.push(regex_error(
            DNS1035_LABEL_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Checks a qualified name: label keys, annotation keys, finalizers (`[prefix/]name`).
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(format!("name part {}", max_len_error(LABEL_VALUE_MAX_LENGTH)));
    }
    if !matches_qualified_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Checks a label value (empty is valid).
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !matches_qualified_name(value) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Checks a name that must be usable as one URL path segment (`path.IsValidPathSegmentName`).
pub fn is_valid_path_segment_name(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    is_valid_path_segment_prefix(name)
}

/// Checks a `generateName` prefix for path-segment names (`path.IsValidPathSegmentPrefix`).
pub fn is_valid_path_segment_prefix(name: &str) -> Vec<String> {
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// Checks a C identifier (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_c_identifier(value: &str) -> Vec<String> {
    let b = value.as_bytes();
    let ok = match b.first() {
        Some(&f) => (f.is_ascii_alphabetic() || f == b'_') && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_'),
        None => false,
    };
    if ok {
        Vec::new()
    } else {
        vec![regex_error(
            C_IDENTIFIER_MSG,
            C_IDENTIFIER_FMT,
            &["my_name", "MY_NAME", "MyName"],
        )]
    }
}

fn has_chdir_prefix(value: &str) -> Vec<String> {
    if value == "." {
        vec!["must not be '.'".to_string()]
    } else if value == ".." {
        vec!["must not be '..'".to_string()]
    } else if value.starts_with("..") {
        vec!["must not start with '..'".to_string()]
    } else {
        Vec::new()
    }
}

/// Checks a strict environment variable name (`IsEnvVarName`).
pub fn is_env_var_name(value: &str) -> Vec<String> {
    let b = value.as_bytes();
    let ext = |c: u8| c.is_ascii_alphabetic() || matches!(c, b'-' | b'.' | b'_');
    let ok = match b.first() {
        Some(&f) => ext(f) && b.iter().all(|&c| ext(c) || c.is_ascii_digit()),
        None => false,
    };
    let mut errs = Vec::new();
    if !ok {
        errs.push(regex_error(
            ENV_VAR_NAME_MSG,
            ENV_VAR_NAME_FMT,
            &["my.env-name", "MY_ENV.NAME", "MyEnvName1"],
        ));
    }
    errs.extend(has_chdir_prefix(value));
    errs
}

/// Checks a relaxed environment variable name (printable ASCII but `=`; the 1.33 default).
pub fn is_relaxed_env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        errs.push(format!("environment variable name {}", empty_error()));
    }
    if value.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push(RELAXED_ENV_VAR_NAME_MSG.to_string());
    }
    errs
}

/// Checks a ConfigMap or Secret data key.
pub fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'));
    if !ok {
        errs.push(regex_error(
            CONFIG_MAP_KEY_MSG,
            CONFIG_MAP_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    errs.extend(has_chdir_prefix(value));
    errs
}

/// Checks an IANA service port name (container and service port names).
pub fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push(max_len_error(15));
    }
    if port.is_empty() || !port.bytes().all(|c| is_lower_alnum(c) || c == b'-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string());
    }
    if !port.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// Checks a port number (1–65535).
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    is_in_range(port, 1, 65535)
}

/// Checks that a number lies in an inclusive range.
pub fn is_in_range(value: i64, min: i64, max: i64) -> Vec<String> {
    if (min..=max).contains(&value) {
        Vec::new()
    } else {
        vec![inclusive_range_error(min, max)]
    }
}

/// Checks a percent string such as `25%`.
pub fn is_valid_percent(value: &str) -> Vec<String> {
    match value.strip_suffix('%') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) => Vec::new(),
        _ => vec![regex_error(PERCENT_MSG, PERCENT_FMT, &["1%", "93%"])],
    }
}

/// Parses an IPv4 address allowing leading zeros, as Kubernetes' `ParseIPSloppy` does.
fn parse_ipv4_sloppy(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(&parts) {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let digits = p.trim_start_matches('0');
        if digits.len() > 3 {
            return None;
        }
        *o = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    }
    Some(Ipv4Addr::from(octets))
}

/// Parses an IP address the way Kubernetes validation does (IPv4 may have leading zeros).
pub fn parse_ip_sloppy(s: &str) -> Option<std::net::IpAddr> {
    if let Some(v4) = parse_ipv4_sloppy(s) {
        return Some(v4.into());
    }
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(Into::into);
    }
    None
}

/// Checks an IP address (detail only; wrap in a field error).
pub fn is_valid_ip(value: &str) -> Vec<String> {
    match parse_ip_sloppy(value) {
        Some(_) => Vec::new(),
        None => vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string()],
    }
}

/// Checks an IPv4 address.
pub fn is_valid_ipv4_address(value: &str) -> Vec<String> {
    match parse_ip_sloppy(value) {
        Some(std::net::IpAddr::V4(_)) => Vec::new(),
        Some(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some() => Vec::new(),
        _ => vec!["must be a valid IPv4 address".to_string()],
    }
}

/// Checks an IPv6 address.
pub fn is_valid_ipv6_address(value: &str) -> Vec<String> {
    match parse_ip_sloppy(value) {
        Some(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => Vec::new(),
        _ => vec!["must be a valid IPv6 address".to_string()],
    }
}

/// Checks a CIDR such as `10.0.0.0/8`.
pub fn is_valid_cidr(value: &str) -> Vec<String> {
    let ok = value.split_once('/').is_some_and(|(addr, bits)| {
        let max = match parse_ip_sloppy(addr) {
            Some(std::net::IpAddr::V4(_)) => 32,
            Some(std::net::IpAddr::V6(_)) => 128,
            None => return false,
        };
        !bits.is_empty() && bits.bytes().all(|c| c.is_ascii_digit()) && bits.parse::<u32>().is_ok_and(|n| n <= max)
    });
    if ok {
        Vec::new()
    } else {
        vec!["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)".to_string()]
    }
}

/// The rule an object's name must follow, per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `NameIsDNSSubdomain`: most kinds.
    Dns1123Subdomain,
    /// `NameIsDNSLabel`: namespaces, statefulsets.
    Dns1123Label,
    /// `NameIsDNS1035Label`: services.
    Dns1035Label,
    /// Only the generic path-segment rule: RBAC kinds, core/v1 events, PodDisruptionBudgets.
    PathSegment,
}

impl NameRule {
    /// Checks a name, or a `generateName` prefix when `prefix` is set (a trailing `-` is allowed).
    pub fn validate(self, name: &str, prefix: bool) -> Vec<String> {
        match self {
            NameRule::PathSegment if prefix => is_valid_path_segment_prefix(name),
            NameRule::PathSegment => is_valid_path_segment_name(name),
            _ => {
                let masked;
                let name = if prefix && name.len() > 1 && name.ends_with('-') {
                    masked = format!("{}a", &name[..name.len() - 1]);
                    masked.as_str()
                } else {
                    name
                };
                match self {
                    NameRule::Dns1123Label => is_dns1123_label(name),
                    NameRule::Dns1035Label => is_dns1035_label(name),
                    _ => is_dns1123_subdomain(name),
                }
            }
        }
    }
}

/// The name rule Kubernetes' validation applies to a kind (1.33).
pub fn name_rule_for(info: &ResourceInfo) -> NameRule {
    match (info.group, info.kind) {
        ("", "Namespace") | ("apps", "StatefulSet") => NameRule::Dns1123Label,
        ("", "Service") => NameRule::Dns1035Label,
        // core/v1 events keep the legacy rules; events.k8s.io/v1 creates are strict.
        ("", "Event") | ("policy", "PodDisruptionBudget") => NameRule::PathSegment,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Dns1123Subdomain,
    }
}

/// `metadata.labels` (or any label map): keys are qualified names, values label values.
pub fn validate_labels(labels: &Map<String, Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels {
        errs.extend(
            is_qualified_name(k)
                .into_iter()
                .map(|m| FieldError::invalid(path, k.as_str(), m)),
        );
        match v.as_str() {
            Some(s) => errs.extend(
                is_valid_label_value(s)
                    .into_iter()
                    .map(|m| FieldError::invalid(path, s, m)),
            ),
            None => errs.push(FieldError::invalid(path, v.clone(), "must be a string")),
        }
    }
    errs
}

/// `metadata.annotations`: keys are (case-insensitive) qualified names; at most 256 KiB in total.
pub fn validate_annotations(annotations: &Map<String, Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations {
        errs.extend(
            is_qualified_name(&k.to_lowercase())
                .into_iter()
                .map(|m| FieldError::invalid(path, k.as_str(), m)),
        );
        match v.as_str() {
            Some(s) => total += k.len() + s.len(),
            None => errs.push(FieldError::invalid(path, v.clone(), "must be a string")),
        }
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// A `metav1.LabelSelector` (`ValidateLabelSelector`): matchLabels and matchExpressions syntax.
pub fn validate_label_selector(selector: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if selector.is_null() {
        return errs;
    }
    if let Some(labels) = selector["matchLabels"].as_object() {
        errs.extend(validate_labels(labels, &format!("{path}.matchLabels")));
    }
    let exprs = selector["matchExpressions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, expr) in exprs.iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let values = expr["values"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let op = expr["operator"].as_str().unwrap_or("");
        match op {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                format!("{p}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                format!("{p}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => errs.push(FieldError::invalid(
                format!("{p}.operator"),
                op,
                "not a valid selector operator",
            )),
        }
        let key = expr["key"].as_str().unwrap_or("");
        errs.extend(
            is_qualified_name(key)
                .into_iter()
                .map(|m| FieldError::invalid(format!("{p}.key"), key, m)),
        );
        for (vi, v) in values.iter().enumerate() {
            let s = v.as_str().unwrap_or("");
            errs.extend(
                is_valid_label_value(s)
                    .into_iter()
                    .map(|m| FieldError::invalid(format!("{p}.values[{vi}]"), s, m)),
            );
        }
    }
    errs
}

/// `must be greater than or equal to 0` for a negative number.
pub fn validate_nonnegative(value: i64, path: &str) -> Vec<FieldError> {
    if value < 0 {
        vec![FieldError::invalid(path, value, "must be greater than or equal to 0")]
    } else {
        Vec::new()
    }
}

/// Splits `apps/v1` into group and version like `schema.ParseGroupVersion`; `None` if malformed.
fn parse_group_version(api_version: &str) -> Option<(&str, &str)> {
    if api_version.is_empty() || api_version == "/" {
        return Some(("", ""));
    }
    match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [v] => Some(("", v)),
        [g, v] => Some((g, v)),
        _ => None,
    }
}

fn validate_owner_references(refs: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = r["apiVersion"].as_str().unwrap_or("");
        let kind = r["kind"].as_str().unwrap_or("");
        let name = r["name"].as_str().unwrap_or("");
        let uid = r["uid"].as_str().unwrap_or("");
        let (group, version) = parse_group_version(api_version).unwrap_or(("", ""));
        if version.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(format!("{path}.kind"), kind, "must not be empty"));
        }
        if name.is_empty() {
            errs.push(FieldError::invalid(format!("{path}.name"), name, "must not be empty"));
        }
        if uid.is_empty() {
            errs.push(FieldError::invalid(format!("{path}.uid"), uid, "must not be empty"));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r["controller"].as_bool() == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    Value::Array(refs.to_vec()),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

fn validate_finalizers(finalizers: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in finalizers {
        match f.as_str() {
            Some(s) => errs.extend(
                is_qualified_name(s)
                    .into_iter()
                    .map(|m| FieldError::invalid(path, s, m)),
            ),
            None => errs.push(FieldError::invalid(path, f.clone(), "must be a string")),
        }
    }
    let has = |name: &str| finalizers.iter().any(|f| f.as_str() == Some(name));
    if has("orphan") && has("foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            Value::Array(finalizers.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// `ValidateObjectMeta` for a new object of kind `info`: name (by the kind's rule),
/// namespace, generation, labels, annotations, ownerReferences and finalizers.
pub fn validate_object_meta(obj: &Value, info: &ResourceInfo) -> Vec<FieldError> {
    let rule = name_rule_for(info);
    let mut errs = Vec::new();
    let generate_name = obj.meta_str("generateName").unwrap_or("");
    if !generate_name.is_empty() {
        errs.extend(
            rule.validate(generate_name, true)
                .into_iter()
                .map(|m| FieldError::invalid("metadata.generateName", generate_name, m)),
        );
    }
    match obj.name().unwrap_or("") {
        // The server fills the name from generateName before it validates.
        "" if !generate_name.is_empty() => {}
        "" => errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )),
        name => errs.extend(
            rule.validate(name, false)
                .into_iter()
                .map(|m| FieldError::invalid("metadata.name", name, m)),
        ),
    }
    let namespace = obj.namespace().unwrap_or("");
    if info.namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            errs.extend(
                is_dns1123_label(namespace)
                    .into_iter()
                    .map(|m| FieldError::invalid("metadata.namespace", namespace, m)),
            );
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }
    errs.extend(validate_nonnegative(obj.generation(), "metadata.generation"));
    errs.extend(validate_meta_maps(obj));
    errs
}

/// Labels, annotations, ownerReferences and finalizers (shared by create and update).
fn validate_meta_maps(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(labels) = obj.labels() {
        errs.extend(validate_labels(labels, "metadata.labels"));
    }
    if let Some(annotations) = obj.annotations() {
        errs.extend(validate_annotations(annotations, "metadata.annotations"));
    }
    let meta = obj.metadata();
    let list = |field: &str| {
        meta.and_then(|m| m.get(field))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    errs.extend(validate_owner_references(
        list("ownerReferences"),
        "metadata.ownerReferences",
    ));
    errs.extend(validate_finalizers(list("finalizers"), "metadata.finalizers"));
    errs
}

/// `ValidateObjectMetaUpdate`'s checks beyond create validation: identity and timestamps are
/// immutable, generation never decreases, and a deleting object takes no new finalizers.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.deletion_timestamp().is_some() {
        let old_finalizers = old.finalizers();
        let mut extra: Vec<String> = new
            .finalizers()
            .into_iter()
            .filter(|f| !old_finalizers.contains(f))
            .collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|f| format!("{f:?}")).collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    if new.generation() < old.generation() {
        errs.push(FieldError::invalid(
            "metadata.generation",
            new.generation(),
            "must not be decremented",
        ));
    }
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        let get = |o: &Value| o.metadata().and_then(|m| m.get(field)).cloned().unwrap_or(Value::Null);
        let (n, o) = (get(new), get(old));
        if !same_meta_value(&n, &o) {
            errs.push(FieldError::invalid(format!("metadata.{field}"), n, FIELD_IMMUTABLE));
        }
    }
    errs
}

/// Equality where an absent or null field equals the empty string, as Go's zero values do.
fn same_meta_value(a: &Value, b: &Value) -> bool {
    let norm = |v: &Value| match v {
        Value::String(s) if s.is_empty() => Value::Null,
        other => other.clone(),
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;
    use serde_json::json;

    const SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const DNS1035_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    const NAME_PART_ERR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    #[test]
    fn dns1123_subdomain() {
        let long = "a".repeat(254);
        let cases: &[(&str, Vec<String>)] = &[
            ("example.com", vec![]),
            ("a", vec![]),
            ("0-1.b-2", vec![]),
            ("", vec![SUBDOMAIN_ERR.into()]),
            ("A", vec![SUBDOMAIN_ERR.into()]),
            ("a_b", vec![SUBDOMAIN_ERR.into()]),
            ("-a", vec![SUBDOMAIN_ERR.into()]),
            ("a.", vec![SUBDOMAIN_ERR.into()]),
            ("a..b", vec![SUBDOMAIN_ERR.into()]),
            (&long, vec!["must be no more than 253 characters".into()]),
        ];
        for (input, want) in cases {
            assert_eq!(&is_dns1123_subdomain(input), want, "{input:?}");
        }
    }

    #[test]
    fn dns1123_label() {
        let long = "a".repeat(64);
        let cases: &[(&str, Vec<String>)] = &[
            ("my-name", vec![]),
            ("123-abc", vec![]),
            ("a.b", vec!["must not contain dots".into()]),
            ("My", vec![LABEL_ERR.into()]),
            ("a-", vec![LABEL_ERR.into()]),
            ("", vec![LABEL_ERR.into()]),
            (&long, vec!["must be no more than 63 characters".into()]),
        ];
        for (input, want) in cases {
            assert_eq!(&is_dns1123_label(input), want, "{input:?}");
        }
    }

    #[test]
    fn dns1035_label() {
        let cases: &[(&str, usize)] = &[
            ("my-name", 0),
            ("abc-123", 0),
            ("1abc", 1),
            ("a.b", 1),
            ("a-", 1),
            ("", 1),
        ];
        for (input, n) in cases {
            assert_eq!(is_dns1035_label(input).len(), *n, "{input:?}");
        }
        assert_eq!(is_dns1035_label("9x"), vec![DNS1035_ERR.to_string()]);
    }

    #[test]
    fn qualified_names() {
        let cases: &[(&str, Vec<String>)] = &[
            ("app", vec![]),
            ("app.kubernetes.io/name", vec![]),
            ("My_Name.1", vec![]),
            ("a/b/c", vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into()]),
            ("/a", vec!["prefix part must be non-empty".into()]),
            ("Example.com/a", vec![format!("prefix part {SUBDOMAIN_ERR}")]),
            ("", vec!["name part must be non-empty".into(), NAME_PART_ERR.into()]),
            ("-a", vec![NAME_PART_ERR.into()]),
            ("a b", vec![NAME_PART_ERR.into()]),
        ];
        for (input, want) in cases {
            assert_eq!(&is_qualified_name(input), want, "{input:?}");
        }
        assert_eq!(
            is_qualified_name(&"a".repeat(64)),
            vec!["name part must be no more than 63 characters"]
        );
    }

    #[test]
    fn label_values() {
        let cases: &[(&str, Vec<String>)] = &[
            ("", vec![]),
            ("v1.2_3-x", vec![]),
            ("-x", vec![LABEL_VALUE_ERR.into()]),
            ("a b", vec![LABEL_VALUE_ERR.into()]),
        ];
        for (input, want) in cases {
            assert_eq!(&is_valid_label_value(input), want, "{input:?}");
        }
        assert_eq!(
            is_valid_label_value(&"a".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
    }

    #[test]
    fn small_checks() {
        assert_eq!(is_valid_path_segment_name(".."), vec!["may not be '..'"]);
        assert_eq!(
            is_valid_path_segment_name("a/b%c"),
            vec!["may not contain '/'", "may not contain '%'"]
        );
        assert!(is_valid_path_segment_name("system:controller:x").is_empty());
        assert!(is_c_identifier("MY_VAR1").is_empty());
        assert_eq!(is_c_identifier("1x").len(), 1);
        assert!(is_env_var_name("my.env-name").is_empty());
        assert_eq!(is_env_var_name("..x"), vec!["must not start with '..'"]);
        assert_eq!(is_env_var_name("1A").len(), 1);
        assert!(is_relaxed_env_var_name("1 A:b").is_empty());
        assert_eq!(is_relaxed_env_var_name("A=B"), vec![RELAXED_ENV_VAR_NAME_MSG]);
        assert_eq!(
            is_relaxed_env_var_name(""),
            vec!["environment variable name must be non-empty"]
        );
        assert!(is_config_map_key("key.name").is_empty());
        assert_eq!(is_config_map_key("a/b").len(), 1);
        assert!(is_valid_port_name("http").is_empty());
        assert_eq!(
            is_valid_port_name("-80"),
            vec![
                "must contain at least one letter (a-z)",
                "must not begin or end with a hyphen"
            ]
        );
        assert_eq!(is_valid_port_name("a--b"), vec!["must not contain consecutive hyphens"]);
        assert_eq!(
            is_valid_port_name("abcdefghijklmnop"),
            vec!["must be no more than 15 characters"]
        );
        assert_eq!(is_valid_port_num(0), vec!["must be between 1 and 65535, inclusive"]);
        assert!(is_valid_port_num(65535).is_empty());
        assert!(is_valid_percent("25%").is_empty());
        assert_eq!(is_valid_percent("x%").len(), 1);
    }

    #[test]
    fn ip_checks() {
        for ok in ["10.9.8.7", "010.001.0.1", "2001:db8::ffff", "::1"] {
            assert!(is_valid_ip(ok).is_empty(), "{ok}");
        }
        for bad in ["", "1.2.3", "1.2.3.256", "a.b.c.d", "1.2.3.4/8", "example.com"] {
            assert_eq!(
                is_valid_ip(bad),
                vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"],
                "{bad}"
            );
        }
        assert!(is_valid_ipv4_address("1.2.3.4").is_empty());
        assert_eq!(is_valid_ipv4_address("::1").len(), 1);
        assert!(is_valid_ipv6_address("::1").is_empty());
        assert!(is_valid_cidr("10.0.0.0/8").is_empty());
        assert!(is_valid_cidr("2001:db8::/64").is_empty());
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/", "x/8"] {
            assert_eq!(is_valid_cidr(bad).len(), 1, "{bad}");
        }
    }

    #[test]
    fn name_rules_per_kind() {
        let cases = [
            ("", "namespaces", NameRule::Dns1123Label),
            ("", "services", NameRule::Dns1035Label),
            ("", "pods", NameRule::Dns1123Subdomain),
            ("", "events", NameRule::PathSegment),
            ("events.k8s.io", "events", NameRule::Dns1123Subdomain),
            ("apps", "statefulsets", NameRule::Dns1123Label),
            ("apps", "deployments", NameRule::Dns1123Subdomain),
            ("rbac.authorization.k8s.io", "clusterroles", NameRule::PathSegment),
            ("policy", "poddisruptionbudgets", NameRule::PathSegment),
        ];
        for (group, plural, want) in cases {
            let info = find(group, "v1", plural).unwrap();
            assert_eq!(name_rule_for(info), want, "{plural}");
        }
        // generateName prefixes may end in '-'.
        assert!(NameRule::Dns1123Subdomain.validate("web-", true).is_empty());
        assert_eq!(NameRule::Dns1123Subdomain.validate("web-", false).len(), 1);
        assert!(NameRule::PathSegment.validate("..", true).is_empty());
    }

    fn pod(meta: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta})
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn object_meta_create() {
        let pods = find("", "v1", "pods").unwrap();
        let nodes = find("", "v1", "nodes").unwrap();
        let long_annotation = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let cases: Vec<(&ResourceInfo, Value, Vec<String>)> = vec![
            (pods, pod(json!({"name": "web", "namespace": "default"})), vec![]),
            (
                pods,
                pod(json!({"namespace": "default"})),
                vec!["metadata.name: Required value: name or generateName is required".into()],
            ),
            (pods, pod(json!({"generateName": "web-", "namespace": "default"})), vec![]),
            (
                pods,
                pod(json!({"name": "Web", "namespace": "default"})),
                vec![format!("metadata.name: Invalid value: \"Web\": {SUBDOMAIN_ERR}")],
            ),
            (pods, pod(json!({"name": "web"})), vec!["metadata.namespace: Required value".into()]),
            (
                pods,
                pod(json!({"name": "web", "namespace": "a.b"})),
                vec!["metadata.namespace: Invalid value: \"a.b\": must not contain dots".into()],
            ),
            (
                nodes,
                json!({"metadata": {"name": "n1", "namespace": "default"}}),
                vec!["metadata.namespace: Forbidden: not allowed on this type".into()],
            ),
            (
                pods,
                pod(json!({"name": "web", "namespace": "default", "labels": {"-bad": "ok", "app": "a b"}})),
                vec![
                    format!("metadata.labels: Invalid value: \"-bad\": {NAME_PART_ERR}"),
                    format!("metadata.labels: Invalid value: \"a b\": {LABEL_VALUE_ERR}"),
                ],
            ),
            (
                pods,
                pod(json!({"name": "web", "namespace": "default", "annotations": {"Example.COM/Key": "ok"}})),
                vec![],
            ),
            (
                pods,
                pod(json!({"name": "web", "namespace": "default", "annotations": {"a": long_annotation}})),
                vec!["metadata.annotations: Too long: must have at most 262144 bytes".into()],
            ),
            (
                pods,
                pod(json!({"name": "web", "namespace": "default", "finalizers": ["example.com/x", "bad/x/y"]})),
                vec!["metadata.finalizers: Invalid value: \"bad/x/y\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into()],
            ),
            (
                pods,
                pod(json!({"name": "web", "namespace": "default", "generation": -1})),
                vec!["metadata.generation: Invalid value: -1: must be greater than or equal to 0".into()],
            ),
            (
                pods,
                pod(json!({"name": "web", "namespace": "default", "ownerReferences": [{"apiVersion": "apps/", "kind": "", "name": "", "uid": ""}]})),
                vec![
                    "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty".into(),
                    "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty".into(),
                    "metadata.ownerReferences.name: Invalid value: \"\": must not be empty".into(),
                    "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty".into(),
                ],
            ),
        ];
        for (info, obj, want) in cases {
            assert_eq!(messages(&validate_object_meta(&obj, info)), want, "{obj}");
        }
    }

    #[test]
    fn owner_reference_controllers_and_banned_owners() {
        let pods = find("", "v1", "pods").unwrap();
        let r = |kind: &str, name: &str| json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": true});
        let obj = pod(
            json!({"name": "web", "namespace": "d", "ownerReferences": [r("ReplicaSet", "a"), r("StatefulSet", "b")]}),
        );
        let errs = validate_object_meta(&obj, pods);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].body().ends_with(
            "Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and StatefulSet/b"
        ));
        let ev = json!({"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u"});
        let errs = validate_object_meta(
            &pod(json!({"name": "web", "namespace": "d", "ownerReferences": [ev]})),
            pods,
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0]
            .body()
            .ends_with("/v1, Kind=Event is disallowed from being an owner"));
        let both = pod(json!({"name": "web", "namespace": "d", "finalizers": ["orphan", "foregroundDeletion"]}));
        assert!(validate_object_meta(&both, pods)[0]
            .body()
            .ends_with("finalizer orphan and foregroundDeletion cannot be both set"));
    }

    #[test]
    fn object_meta_update() {
        let old = pod(
            json!({"name": "web", "namespace": "d", "uid": "1", "generation": 2, "creationTimestamp": "2024-01-01T00:00:00Z"}),
        );
        let cases: Vec<(Value, Value, Vec<String>)> = vec![
            (old.clone(), old.clone(), vec![]),
            (
                pod(json!({"name": "web2", "namespace": "d", "uid": "1", "generation": 2, "creationTimestamp": "2024-01-01T00:00:00Z"})),
                old.clone(),
                vec!["metadata.name: Invalid value: \"web2\": field is immutable".into()],
            ),
            (
                pod(json!({"name": "web", "namespace": "e", "uid": "2", "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z"})),
                old.clone(),
                vec![
                    "metadata.generation: Invalid value: 1: must not be decremented".into(),
                    "metadata.namespace: Invalid value: \"e\": field is immutable".into(),
                    "metadata.uid: Invalid value: \"2\": field is immutable".into(),
                ],
            ),
            (
                pod(json!({"name": "web", "namespace": "d", "uid": "1", "generation": 2, "finalizers": ["b", "a"], "deletionTimestamp": "2024-01-02T00:00:00Z", "creationTimestamp": "2024-01-01T00:00:00Z"})),
                pod(json!({"name": "web", "namespace": "d", "uid": "1", "generation": 2, "deletionTimestamp": "2024-01-02T00:00:00Z", "creationTimestamp": "2024-01-01T00:00:00Z"})),
                vec!["metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"a\", \"b\"}".into()],
            ),
        ];
        for (new, old, want) in cases {
            assert_eq!(messages(&validate_object_meta_update(&new, &old)), want, "{new}");
        }
    }

    #[test]
    fn label_selector_validation() {
        let sel = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": []},
                {"key": "env", "operator": "Exists", "values": ["x"]},
                {"key": "-k", "operator": "Near"}
            ]
        });
        assert_eq!(
            messages(&validate_label_selector(&sel, "spec.selector")),
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'".to_string(),
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'".to_string(),
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid selector operator".to_string(),
                format!("spec.selector.matchExpressions[2].key: Invalid value: \"-k\": {NAME_PART_ERR}"),
            ]
        );
        assert!(validate_label_selector(&Value::Null, "spec.selector").is_empty());
    }
}
