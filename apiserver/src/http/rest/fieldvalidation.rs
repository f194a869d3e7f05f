//! `fieldValidation=Strict|Warn|Ignore` on create, update and patch: what
//! the request holds that the kind has no field for, or holds twice, is
//! rejected (Strict, kubectl's default), returned as warnings (Warn, the
//! server's default) or dropped silently (Ignore) — with Kubernetes' wording.
//!
//! Protobuf bodies cannot carry unknown JSON fields and are not checked.

use k1s_proto::patch::PatchType;
use k1s_proto::{ApiError, FieldError, ResourceInfo};
use serde_json::Value;

use crate::http::body::{self, MediaType};
use crate::http::query::Query;
use crate::http::warning;
use crate::registry::strict::{self, Doc};

/// What to do about unknown and duplicate fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// Drop them silently.
    Ignore,
    /// Accept the request and warn about each.
    Warn,
    /// Reject the request.
    Strict,
}

impl Directive {
    /// The request's directive; Kubernetes defaults to `Warn`.
    pub fn of(query: &Query) -> Directive {
        match query.field_validation.as_deref() {
            Some("Strict") => Directive::Strict,
            Some("Ignore") => Directive::Ignore,
            _ => Directive::Warn,
        }
    }
}

/// Where go-yaml's duplicate-key errors start (Kubernetes splits them into one warning per line).
const YAML_ERRORS_PREFIX: &str = "yaml: unmarshal errors:\n";

/// Decodes the object body of a create or update whose kind is `info`,
/// applying field validation.
pub fn decode_object(
    bytes: &[u8],
    media: MediaType,
    info: &ResourceInfo,
    directive: Directive,
) -> Result<Value, ApiError> {
    let checked = directive != Directive::Ignore && matches!(media, MediaType::Json | MediaType::Yaml);
    if !checked || bytes.iter().all(u8::is_ascii_whitespace) {
        return body::decode_object(bytes, media);
    }
    let doc = match media {
        MediaType::Yaml => strict::parse_yaml(bytes).map_err(body::yaml_error)?,
        _ => strict::parse_json(bytes).map_err(body::json_error)?,
    };
    if !matches!(doc, Doc::Object(_)) {
        return body::decode_object(bytes, media);
    }
    let mut problems = Vec::new();
    let value = if media == MediaType::Yaml {
        // Kubernetes reads YAML as JSON with the last of repeated keys kept and
        // object keys sorted, after go-yaml's strict pass reported the repeats.
        let dups = strict::yaml_duplicate_keys(bytes, &doc);
        if !dups.is_empty() {
            problems.push(format!("{YAML_ERRORS_PREFIX}  {}", dups.join("\n  ")));
        }
        let value = doc.into_value();
        match strict::object_problems(info, &Doc::from_value(&value, true)) {
            Some(found) => problems.extend(found),
            None => problems.clear(),
        }
        value
    } else {
        // A body that does not decode as the kind (wrong types, another kind
        // or version) has no strictness problems: the kind check and the typed
        // round trip report why.
        match strict::object_problems(info, &doc) {
            Some(found) => problems = found,
            None => problems.clear(),
        }
        doc.into_value()
    };
    if !problems.is_empty() {
        match directive {
            Directive::Strict => {
                return Err(ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                    info.kind,
                    info.version,
                    info.kind,
                    problems.join(", ")
                )));
            }
            Directive::Warn => warn(&problems),
            Directive::Ignore => {}
        }
    }
    Ok(value)
}

/// Field validation of a patch: repeated keys in the patch body, then what
/// the patched object (`patched`, of kind `info`) has that the kind does not.
/// Strict fails with Kubernetes' 422 on the `patch` field.
pub fn check_patch(
    info: &ResourceInfo,
    pt: PatchType,
    patch: &[u8],
    patched: &Value,
    directive: Directive,
) -> Result<(), ApiError> {
    if directive == Directive::Ignore || pt == PatchType::Apply {
        return Ok(());
    }
    let patch_doc = strict::parse_json(patch).ok();
    let mut problems = match (&patch_doc, pt) {
        (Some(doc), PatchType::Json) => strict::json_patch_problems(doc).unwrap_or_default(),
        (Some(doc), _) => doc.duplicate_fields(),
        (None, _) => Vec::new(),
    };
    // Go writes patched objects with sorted keys; a patched object that does
    // not decode is reported by the typed round trip instead.
    match strict::object_problems(info, &Doc::from_value(patched, true)) {
        Some(found) => problems.extend(found),
        None => return Ok(()),
    }
    if problems.is_empty() {
        return Ok(());
    }
    match directive {
        Directive::Strict => {
            // Strategic merge shows the patch as Go prints its map; the others the patched JSON.
            let shown = match (pt, patch_doc) {
                (PatchType::StrategicMerge, Some(doc)) => strict::go_print(&doc.into_value()),
                _ => serde_json::to_string(patched).unwrap_or_default(),
            };
            let detail = format!("strict decoding error: {}", problems.join(", "));
            Err(invalid_patch(FieldError::invalid("patch", shown, detail)))
        }
        Directive::Warn => {
            warn(&problems);
            Ok(())
        }
        Directive::Ignore => Ok(()),
    }
}

/// Kubernetes' `errors.NewInvalid(schema.GroupKind{}, "", …)` for a patch.
fn invalid_patch(err: FieldError) -> ApiError {
    let mut e = ApiError::new(422, "Invalid", format!(" \"\" is invalid: {err}"));
    e.causes = vec![err.cause()];
    e
}

/// One warning per problem; go-yaml's combined error gives one per line.
fn warn(problems: &[String]) {
    for p in problems {
        match p.strip_prefix(YAML_ERRORS_PREFIX) {
            Some(lines) => warning::add_all(lines.split('\n').map(|l| l.trim().to_string())),
            None => warning::add(p.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k1s_proto::resources::find;
    use serde_json::json;

    fn deploy() -> &'static ResourceInfo {
        find("apps", "v1", "deployments").unwrap()
    }

    const BODY: &str = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replica": 2, "replicas": 1, "replicas": 3, "x": 1}}"#;

    #[test]
    fn strict_rejects_with_kubernetes_message() {
        let e = decode_object(BODY.as_bytes(), MediaType::Json, deploy(), Directive::Strict).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica", duplicate field "spec.replicas", unknown field "spec.x""#
        );
    }

    #[tokio::test]
    async fn warn_accepts_and_warns_ignore_is_silent() {
        let (out, warnings) =
            warning::collect(async { decode_object(BODY.as_bytes(), MediaType::Json, deploy(), Directive::Warn) })
                .await;
        assert_eq!(out.unwrap()["spec"]["replicas"], 3);
        assert_eq!(
            warnings,
            vec![
                r#"unknown field "spec.replica""#,
                r#"duplicate field "spec.replicas""#,
                r#"unknown field "spec.x""#
            ]
        );
        let (out, warnings) =
            warning::collect(async { decode_object(BODY.as_bytes(), MediaType::Json, deploy(), Directive::Ignore) })
                .await;
        assert!(out.is_ok());
        assert!(warnings.is_empty());
    }

    #[tokio::test]
    async fn yaml_reports_lines_and_sorted_unknowns() {
        let yaml = b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  zeta: 1\n  replicas: 1\n  replicas: 2\n  alpha: 1\n";
        let e = decode_object(yaml, MediaType::Yaml, deploy(), Directive::Strict).unwrap_err();
        assert_eq!(
            e.message,
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: yaml: unmarshal errors:\n  line 8: key \"replicas\" already set in map, unknown field \"spec.alpha\", unknown field \"spec.zeta\""
        );
        let (_, warnings) =
            warning::collect(async { decode_object(yaml, MediaType::Yaml, deploy(), Directive::Warn) }).await;
        assert_eq!(
            warnings,
            vec![
                r#"line 8: key "replicas" already set in map"#,
                r#"unknown field "spec.alpha""#,
                r#"unknown field "spec.zeta""#
            ]
        );
    }

    #[test]
    fn type_errors_and_kind_mismatches_win() {
        let bad_type = br#"{"spec": {"replicas": "x", "bogus": 1}}"#;
        // The strict pass stays quiet; the typed round trip reports the type error later.
        assert!(decode_object(bad_type, MediaType::Json, deploy(), Directive::Strict).is_ok());
        // A body of another kind is not a strictness problem either: the kind check reports it.
        let wrong_kind = br#"{"kind": "Pod", "spec": {"bogus": 1}}"#;
        assert!(decode_object(wrong_kind, MediaType::Json, deploy(), Directive::Strict).is_ok());
        let wrong_version = br#"{"apiVersion": "apps/v2", "kind": "Deployment", "spec": {"bogus": 1}}"#;
        assert!(decode_object(wrong_version, MediaType::Json, deploy(), Directive::Strict).is_ok());
    }

    #[tokio::test]
    async fn patches_report_on_the_patch_field() {
        let patched =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replica": 3}});
        let patch = br#"{"spec": {"replica": 3, "replica": 3}}"#;
        let e = check_patch(deploy(), PatchType::Merge, patch, &patched, Directive::Strict).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            r#" "" is invalid: patch: Invalid value: "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"replica\":3}}": strict decoding error: duplicate field "spec.replica", unknown field "spec.replica""#
        );
        assert_eq!(e.causes[0].field, "patch");
        let e = check_patch(
            deploy(),
            PatchType::StrategicMerge,
            br#"{"spec": {"replica": 3}}"#,
            &patched,
            Directive::Strict,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            r#" "" is invalid: patch: Invalid value: "map[spec:map[replica:3]]": strict decoding error: unknown field "spec.replica""#
        );
        let (out, warnings) = warning::collect(async {
            check_patch(
                deploy(),
                PatchType::Json,
                br#"[{"op": "add", "path": "/spec/replica", "value": 3, "valu": 1}]"#,
                &patched,
                Directive::Warn,
            )
        })
        .await;
        assert!(out.is_ok());
        assert_eq!(
            warnings,
            vec![
                r#"json patch unknown field "[0].valu""#,
                r#"unknown field "spec.replica""#
            ]
        );
        assert!(check_patch(deploy(), PatchType::Merge, b"{}", &patched, Directive::Ignore).is_ok());
    }
}
