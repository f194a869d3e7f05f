//! Query parameters of REST requests (list, watch, write and delete options).

use k1s_proto::{ApiError, FieldError};
use serde_json::Value;

/// The query parameters k1s understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `limit` (0 = no limit).
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
    /// `watch=true`.
    pub watch: bool,
    /// `allowWatchBookmarks=true`.
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents=true`.
    pub send_initial_events: Option<bool>,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<u64>,
    /// Whether `dryRun` was given (only `All` is valid; see [`Query::check_write_options`]).
    pub dry_run: bool,
    /// Every `dryRun` value, as sent.
    pub dry_run_values: Vec<String>,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation`, as sent (checked by [`Query::check_write_options`]).
    pub field_validation: Option<String>,
    /// `propagationPolicy`.
    pub propagation_policy: Option<String>,
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `orphanDependents`.
    pub orphan_dependents: Option<bool>,
    /// `force` (server-side apply).
    pub force: bool,
    /// The request's `User-Agent` (the default field manager); not a query parameter.
    pub user_agent: Option<String>,
    /// Set while a server-side apply writes: its managedFields are already computed.
    pub applying: bool,
    /// `includeObject` of Table responses (`None`, `Metadata`, `Object`), checked when a Table is served.
    pub include_object: Option<String>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid value for {name}: {v:?}: expected a boolean"
        ))),
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ApiError> {
    v.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid value for {name}: {v:?}: expected a number")))
}

impl Query {
    /// Parses a raw query string; unknown parameters are ignored, as Kubernetes does.
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut q = Query::default();
        let Some(raw) = raw else { return Ok(q) };
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            let v = v.as_ref();
            match k.as_ref() {
                "labelSelector" => q.label_selector = Some(v.to_string()),
                "fieldSelector" => q.field_selector = Some(v.to_string()),
                "limit" => q.limit = Some(parse_num("limit", v)?),
                "continue" => q.continue_token = Some(v.to_string()).filter(|s| !s.is_empty()),
                "resourceVersion" => q.resource_version = Some(v.to_string()).filter(|s| !s.is_empty()),
                "resourceVersionMatch" => q.resource_version_match = Some(v.to_string()).filter(|s| !s.is_empty()),
                "watch" => q.watch = parse_bool("watch", v)?,
                "allowWatchBookmarks" => q.allow_watch_bookmarks = parse_bool("allowWatchBookmarks", v)?,
                "sendInitialEvents" => q.send_initial_events = Some(parse_bool("sendInitialEvents", v)?),
                "timeoutSeconds" => q.timeout_seconds = Some(parse_num("timeoutSeconds", v)?),
                "dryRun" => {
                    q.dry_run = true;
                    q.dry_run_values.push(v.to_string());
                }
                "fieldManager" => q.field_manager = Some(v.to_string()),
                "fieldValidation" => q.field_validation = Some(v.to_string()),
                "propagationPolicy" => q.propagation_policy = Some(v.to_string()),
                "gracePeriodSeconds" => q.grace_period_seconds = Some(parse_num("gracePeriodSeconds", v)?),
                "orphanDependents" => q.orphan_dependents = Some(parse_bool("orphanDependents", v)?),
                "force" => q.force = parse_bool("force", v)?,
                "includeObject" => q.include_object = Some(v.to_string()).filter(|s| !s.is_empty()),
                _ => {}
            }
        }
        Ok(q)
    }
}

/// The `dryRun` values Kubernetes accepts.
const DRY_RUN_VALUES: &[&str] = &["All"];

/// The `fieldValidation` values Kubernetes accepts (sorted, as it lists them).
const FIELD_VALIDATION_VALUES: &[&str] = &["", "Ignore", "Strict", "Warn"];

/// Longest `fieldManager` Kubernetes accepts.
const FIELD_MANAGER_MAX_LENGTH: usize = 128;

impl Query {
    /// Validates the options of a write as Kubernetes validates
    /// `CreateOptions`, `UpdateOptions` and `PatchOptions` (`options_kind`):
    /// 422 naming each bad option.
    pub fn check_write_options(&self, options_kind: &str) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        if let Some(manager) = &self.field_manager {
            errors.extend(field_manager_errors(manager));
        }
        errors.extend(dry_run_errors(&self.dry_run_values));
        if let Some(v) = &self.field_validation {
            if !FIELD_VALIDATION_VALUES.contains(&v.as_str()) {
                errors.push(FieldError::not_supported(
                    "fieldValidation",
                    v.as_str(),
                    FIELD_VALIDATION_VALUES,
                ));
            }
        }
        invalid_options(options_kind, errors)
    }
}

/// `dryRun` values other than `All`.
pub fn dry_run_errors(values: &[String]) -> Vec<FieldError> {
    if values.iter().all(|v| DRY_RUN_VALUES.contains(&v.as_str())) {
        return Vec::new();
    }
    let shown: Vec<Value> = values.iter().map(|v| Value::from(v.as_str())).collect();
    vec![FieldError::not_supported("dryRun", Value::Array(shown), DRY_RUN_VALUES)]
}

fn field_manager_errors(manager: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errors.push(FieldError::too_long("fieldManager", FIELD_MANAGER_MAX_LENGTH));
    }
    for (i, c) in manager.char_indices() {
        // Go's unicode.IsPrint: graphic characters and the ASCII space.
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            errors.push(FieldError::invalid(
                "fieldManager",
                manager,
                format!("invalid character U+{:04X} (at position {i})", c as u32),
            ));
        }
    }
    errors
}

/// Fails with [`options_error`] when there are errors.
pub fn invalid_options(options_kind: &str, errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(options_error(options_kind, &errors))
    }
}

/// The 422 Kubernetes returns for invalid request options:
/// `CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: …`.
pub fn options_error(options_kind: &str, errors: &[FieldError]) -> ApiError {
    let list = match errors {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut e = ApiError::new(
        422,
        "Invalid",
        format!("{options_kind}.meta.k8s.io \"\" is invalid: {list}"),
    );
    e.group = Some("meta.k8s.io".into());
    e.kind = Some(options_kind.into());
    e.causes = errors.iter().map(FieldError::cause).collect();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_and_watch_options() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+(a)&limit=5&continue=abc&watch=1&allowWatchBookmarks=true&timeoutSeconds=30",
        ))
        .unwrap();
        assert_eq!(q.label_selector.as_deref(), Some("app=web,tier in (a)"));
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.continue_token.as_deref(), Some("abc"));
        assert!(q.watch && q.allow_watch_bookmarks);
        assert_eq!(q.timeout_seconds, Some(30));
        assert!(Query::parse(Some("limit=x")).is_err());
        assert!(Query::parse(Some("dryRun=All")).unwrap().dry_run);
        assert_eq!(Query::parse(None).unwrap(), Query::default());
    }

    #[test]
    fn write_options_are_checked_as_kubernetes_does() {
        let ok = Query::parse(Some(
            "dryRun=All&fieldValidation=Strict&fieldManager=kubectl-client-side-apply",
        ))
        .unwrap();
        assert!(ok.check_write_options("CreateOptions").is_ok());
        // Invalid values are only rejected by writes (a GET ignores them).
        let q = Query::parse(Some("dryRun=Some")).unwrap();
        let e = q.check_write_options("CreateOptions").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            r#"CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Some"}: supported values: "All""#
        );
        assert_eq!(e.causes[0].field, "dryRun");
        let q = Query::parse(Some("fieldValidation=strict&dryRun=All&dryRun=x")).unwrap();
        let e = q.check_write_options("PatchOptions").unwrap_err();
        assert_eq!(
            e.message,
            r#"PatchOptions.meta.k8s.io "" is invalid: [dryRun: Unsupported value: []string{"All", "x"}: supported values: "All", fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn"]"#
        );
        let q = Query::parse(Some(&format!("fieldManager={}", "m".repeat(129)))).unwrap();
        assert_eq!(
            q.check_write_options("UpdateOptions").unwrap_err().message,
            r#"UpdateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: must have at most 128 bytes"#
        );
    }
}
