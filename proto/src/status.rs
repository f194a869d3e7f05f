//! `metav1.Status` errors with Kubernetes' reasons, codes and messages, and
//! field errors (`field.Error`) as validation returns them.

use serde_json::{json, Value};

use crate::resources::ResourceInfo;

/// A `details.causes` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// e.g. `FieldValueRequired`.
    pub reason: String,
    /// e.g. `Required value`.
    pub message: String,
    /// e.g. `spec.containers[0].image`.
    pub field: String,
}

/// An error that the API returns as a `metav1.Status` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason, e.g. `NotFound`.
    pub reason: String,
    /// Human-readable message, exactly as Kubernetes words it.
    pub message: String,
    /// `details.name`.
    pub name: Option<String>,
    /// `details.group`.
    pub group: Option<String>,
    /// `details.kind`.
    pub kind: Option<String>,
    /// `details.causes`.
    pub causes: Vec<Cause>,
    /// `details.retryAfterSeconds`.
    pub retry_after_seconds: Option<u32>,
}

impl ApiError {
    /// A bare error with a code, reason and message.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            name: None,
            group: None,
            kind: None,
            causes: Vec::new(),
            retry_after_seconds: None,
        }
    }

    fn with_resource(mut self, info: &ResourceInfo, name: &str) -> Self {
        self.name = Some(name.to_string());
        self.group = Some(info.group.to_string());
        self.kind = Some(info.plural.to_string());
        self
    }

    /// 404 `pods "x" not found`.
    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", info.qualified_resource(), name),
        )
        .with_resource(info, name)
    }

    /// 404 for a path no resource is served at.
    pub fn no_route() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource")
    }

    /// 409 `pods "x" already exists`.
    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", info.qualified_resource(), name),
        )
        .with_resource(info, name)
    }

    /// 409 optimistic-concurrency conflict.
    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        Self::conflict_msg(
            info,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 conflict with a specific explanation.
    pub fn conflict_msg(info: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                info.qualified_resource(),
                name,
                why
            ),
        )
        .with_resource(info, name)
    }

    /// 422 `Pod "x" is invalid: …` with one cause per field error.
    pub fn invalid(info: &ResourceInfo, name: &str, errors: &[FieldError]) -> Self {
        let list = if errors.len() == 1 {
            errors[0].to_string()
        } else {
            format!(
                "[{}]",
                errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
            )
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} \"{}\" is invalid: {}", info.qualified_kind(), name, list),
        );
        e.name = Some(name.to_string());
        e.group = Some(info.group.to_string());
        e.kind = Some(info.kind.to_string());
        e.causes = errors.iter().map(FieldError::cause).collect();
        e
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 403 `pods "x" is forbidden: why`.
    pub fn forbidden(info: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{} \"{}\" is forbidden: {}", info.qualified_resource(), name, why),
        )
        .with_resource(info, name)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 410 Expired: a watch or list from a compacted revision.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, "RequestEntityTooLarge", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got {content_type}"))
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    /// 500 InternalError.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {message}"))
    }

    /// 504 Timeout.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    /// 503 ServiceUnavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// The `metav1.Status` JSON body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group {
            if !g.is_empty() {
                details.insert("group".into(), json!(g));
            }
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), json!(k));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| {
                    // `field` is omitted when empty, as Kubernetes' StatusCause encodes it.
                    let mut cause = json!({"reason": c.reason, "message": c.message});
                    if !c.field.is_empty() {
                        cause["field"] = json!(c.field);
                    }
                    cause
                })
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(s) = self.retry_after_seconds {
            details.insert("retryAfterSeconds".into(), json!(s));
        }
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        if self.reason.is_empty() {
            if let Some(o) = status.as_object_mut() {
                o.remove("reason");
            }
        }
        status
    }

    /// Rebuilds an error from a `metav1.Status` body (for in-process clients).
    pub fn from_status(v: &Value) -> Self {
        let mut e = Self::new(
            v["code"].as_u64().unwrap_or(500) as u16,
            v["reason"].as_str().unwrap_or(""),
            v["message"].as_str().unwrap_or(""),
        );
        let d = &v["details"];
        e.name = d["name"].as_str().map(String::from);
        // Core-group details omit `group`; keep it as "" when the details name an object.
        e.group = d["group"]
            .as_str()
            .map(String::from)
            .or_else(|| e.name.as_ref().map(|_| String::new()));
        e.kind = d["kind"].as_str().map(String::from);
        if let Some(causes) = d["causes"].as_array() {
            e.causes = causes
                .iter()
                .map(|c| Cause {
                    reason: c["reason"].as_str().unwrap_or("").into(),
                    message: c["message"].as_str().unwrap_or("").into(),
                    field: c["field"].as_str().unwrap_or("").into(),
                })
                .collect();
        }
        e
    }

    /// Whether this is a 404.
    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    /// Whether this is a 409 Conflict (not AlreadyExists).
    pub fn is_conflict(&self) -> bool {
        self.code == 409 && self.reason == "Conflict"
    }

    /// Whether this is a 409 AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        self.code == 409 && self.reason == "AlreadyExists"
    }
}

/// The kind of a field error, as in Kubernetes' `field.ErrorType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldErrorType {
    /// `Required value`.
    Required,
    /// `Invalid value: <value>: <detail>`.
    Invalid(Value),
    /// `Unsupported value: <value>: supported values: …`.
    NotSupported(Value, Vec<String>),
    /// `Duplicate value: <value>`.
    Duplicate(Value),
    /// `Forbidden: <detail>`.
    Forbidden,
    /// `Too long: must have at most N bytes`.
    TooLong(usize),
    /// `Too many: N: must have at most M items`.
    TooMany(usize, usize),
    /// `Not found: <value>`.
    NotFound(Value),
    /// `Invalid value: <shown>`, with the value already shown as Go's `%#v`
    /// would (e.g. `v1.LabelSelector{…}`), printed without quoting.
    InvalidShown(String),
}

/// One validation error on one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field path, e.g. `spec.containers[0].name`.
    pub field: String,
    /// What is wrong.
    pub kind: FieldErrorType,
    /// Extra explanation (may be empty).
    pub detail: String,
}

impl FieldError {
    /// `field: Required value`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::Required,
            detail: detail.into(),
        }
    }

    /// `field: Invalid value: "v": detail`.
    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::Invalid(value.into()),
            detail: detail.into(),
        }
    }

    /// `field: Unsupported value: "v": supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: impl Into<Value>, supported: &[&str]) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::NotSupported(value.into(), supported.iter().map(|s| s.to_string()).collect()),
            detail: String::new(),
        }
    }

    /// `field: Invalid value: <shown>: detail`, the value printed as given.
    pub fn invalid_shown(field: impl Into<String>, shown: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::InvalidShown(shown.into()),
            detail: detail.into(),
        }
    }

    /// `field: Not found: "v"`.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::NotFound(value.into()),
            detail: String::new(),
        }
    }

    /// `field: Duplicate value: "v"`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::Duplicate(value.into()),
            detail: String::new(),
        }
    }

    /// `field: Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::Forbidden,
            detail: detail.into(),
        }
    }

    /// `field: Too long: must have at most N bytes`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::TooLong(max),
            detail: String::new(),
        }
    }

    /// `field: Too many: n: must have at most max items`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::TooMany(actual, max),
            detail: String::new(),
        }
    }

    /// The `StatusCause` reason.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            FieldErrorType::Required => "FieldValueRequired",
            FieldErrorType::Invalid(_) | FieldErrorType::InvalidShown(_) => "FieldValueInvalid",
            FieldErrorType::NotFound(_) => "FieldValueNotFound",
            FieldErrorType::NotSupported(..) => "FieldValueNotSupported",
            FieldErrorType::Duplicate(_) => "FieldValueDuplicate",
            FieldErrorType::Forbidden => "FieldValueForbidden",
            FieldErrorType::TooLong(_) => "FieldValueTooLong",
            FieldErrorType::TooMany(..) => "FieldValueTooMany",
        }
    }

    /// The message without the field path (Kubernetes' `ErrorBody`).
    pub fn body(&self) -> String {
        let with_detail = |s: String| {
            if self.detail.is_empty() {
                s
            } else {
                format!("{s}: {}", self.detail)
            }
        };
        match &self.kind {
            FieldErrorType::Required => with_detail("Required value".into()),
            FieldErrorType::Invalid(v) => with_detail(format!("Invalid value: {}", show_value(v))),
            FieldErrorType::NotSupported(v, supported) => {
                let mut s = format!("Unsupported value: {}", show_value(v));
                if !supported.is_empty() {
                    let q: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
                    s.push_str(&format!(": supported values: {}", q.join(", ")));
                }
                with_detail(s)
            }
            FieldErrorType::InvalidShown(s) => with_detail(format!("Invalid value: {s}")),
            FieldErrorType::NotFound(v) => with_detail(format!("Not found: {}", show_value(v))),
            FieldErrorType::Duplicate(v) => with_detail(format!("Duplicate value: {}", show_value(v))),
            FieldErrorType::Forbidden => with_detail("Forbidden".into()),
            FieldErrorType::TooLong(max) => format!("Too long: must have at most {max} bytes"),
            FieldErrorType::TooMany(actual, max) => {
                format!("Too many: {actual}: must have at most {max} items")
            }
        }
    }

    /// The `details.causes` entry.
    pub fn cause(&self) -> Cause {
        Cause {
            reason: self.reason().into(),
            message: self.body(),
            field: self.field.clone(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Shows a value as Go's `%#v`-like quoting does for the common cases:
/// strings quoted, string lists as `[]string{…}`, string maps as
/// `map[string]string{…}` (keys sorted, as Go prints maps).
fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let shown: Vec<String> = items.iter().map(show_value).collect();
            format!("[]string{{{}}}", shown.join(", "))
        }
        Value::Object(map) if !map.is_empty() && map.values().all(Value::is_string) => {
            let mut pairs: Vec<(&String, &Value)> = map.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}:{}", show_value(v))).collect();
            format!("map[string]string{{{}}}", shown.join(", "))
        }
        other => other.to_string(),
    }
}

/// A `metav1.Status` for a successful delete of a non-returned object.
pub fn success_status(info: &ResourceInfo, name: &str, uid: Option<&str>) -> Value {
    let mut details = json!({"name": name, "kind": info.plural});
    if !info.group.is_empty() {
        details["group"] = json!(info.group);
    }
    if let Some(uid) = uid {
        details["uid"] = json!(uid);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;

    #[test]
    fn not_found_matches_kubernetes() {
        let d = find("apps", "v1", "deployments").unwrap();
        let s = ApiError::not_found(d, "web").to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["kind"], "deployments");
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn invalid_lists_causes() {
        let p = find("", "v1", "pods").unwrap();
        let one = ApiError::invalid(p, "x", &[FieldError::required("spec.containers[0].image", "")]);
        assert_eq!(
            one.message,
            "Pod \"x\" is invalid: spec.containers[0].image: Required value"
        );
        let two = ApiError::invalid(
            p,
            "x",
            &[
                FieldError::required("spec.containers", ""),
                FieldError::invalid("metadata.name", "A_b", "a lowercase RFC 1123 subdomain"),
            ],
        );
        assert_eq!(
            two.message,
            "Pod \"x\" is invalid: [spec.containers: Required value, metadata.name: Invalid value: \"A_b\": a lowercase RFC 1123 subdomain]"
        );
        let s = two.to_status();
        assert_eq!(s["details"]["causes"][1]["reason"], "FieldValueInvalid");
        assert_eq!(s["details"]["kind"], "Pod");
        assert_eq!(ApiError::from_status(&s), two);
    }

    #[test]
    fn go_like_values() {
        let e = FieldError::invalid("spec.clusterIPs", json!(["10.43.0.5"]), "failed");
        assert_eq!(
            e.to_string(),
            "spec.clusterIPs: Invalid value: []string{\"10.43.0.5\"}: failed"
        );
        let e = FieldError::invalid("l", json!({"b": "2", "a": "1"}), "x");
        assert_eq!(
            e.to_string(),
            "l: Invalid value: map[string]string{\"a\":\"1\", \"b\":\"2\"}: x"
        );
        let e = FieldError::invalid_shown("spec.selector", "v1.LabelSelector{}", "field is immutable");
        assert_eq!(
            e.to_string(),
            "spec.selector: Invalid value: v1.LabelSelector{}: field is immutable"
        );
        assert_eq!(e.reason(), "FieldValueInvalid");
        let e = FieldError::not_found("spec.containers[0].volumeMounts[0].name", "data");
        assert_eq!(
            e.to_string(),
            "spec.containers[0].volumeMounts[0].name: Not found: \"data\""
        );
        assert_eq!(e.reason(), "FieldValueNotFound");
    }

    #[test]
    fn not_supported_lists_values() {
        let e = FieldError::not_supported("spec.restartPolicy", "Sometimes", &["Always", "Never", "OnFailure"]);
        assert_eq!(
            e.to_string(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\""
        );
    }
}
