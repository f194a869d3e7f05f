//! `DELETE` of an object or a collection: preconditions, propagation policy
//! (via the `orphan` and `foregroundDeletion` finalizers the garbage collector
//! acts on), graceful pod deletion and namespace termination.

use http::StatusCode;
use k1s_proto::meta::{format_time, now_rfc3339, ObjectMeta};
use k1s_proto::status::success_status;
use k1s_proto::{ApiError, FieldError};
use serde_json::{json, Value};

use super::list::{list, strip_type};
use super::object::storage_info;
use super::{get_stored, key_of, name_of, store_error, stored_revision, to_response};
use crate::api::Api;
use crate::http::body::{decode_json, decode_object, MediaType};
use crate::http::query::{dry_run_errors, invalid_options, options_error, Query};
use crate::http::route::ResourcePath;
use crate::registry::strategy_for;
use crate::store::StoreError;

/// The finalizer that makes the garbage collector orphan dependents.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The finalizer that makes the garbage collector delete dependents first.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted in the background after the owner.
    Background,
    /// The owner waits (with `foregroundDeletion`) until blocking dependents are gone.
    Foreground,
    /// Dependents lose their ownerReference and stay.
    Orphan,
}

/// `DeleteOptions`, from the body and the query.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `propagationPolicy` (or `orphanDependents`).
    pub propagation: Option<Propagation>,
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_rv: Option<String>,
    /// `dryRun: [All]`.
    pub dry_run: bool,
}

fn parse_propagation(s: &str) -> Result<Propagation, ApiError> {
    match s {
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        "Orphan" => Ok(Propagation::Orphan),
        other => {
            let err = FieldError::not_supported(
                "propagationPolicy",
                other,
                &["Foreground", "Background", "Orphan", "nil"],
            );
            Err(options_error("DeleteOptions", &[err]))
        }
    }
}

impl DeleteOptions {
    /// Reads options from an optional `DeleteOptions` body and the query.
    pub fn from_request(body: &[u8], content_type: Option<&str>, query: &Query) -> Result<DeleteOptions, ApiError> {
        let mut o = DeleteOptions {
            dry_run: query.dry_run,
            grace_period_seconds: query.grace_period_seconds,
            ..Default::default()
        };
        let mut dry_run_values = query.dry_run_values.clone();
        if query.propagation_policy.is_some() && query.orphan_dependents.is_some() {
            return Err(both_propagations(query.propagation_policy.as_deref().unwrap_or("")));
        }
        if let Some(p) = &query.propagation_policy {
            o.propagation = Some(parse_propagation(p)?);
        } else if let Some(orphan) = query.orphan_dependents {
            o.propagation = Some(if orphan {
                Propagation::Orphan
            } else {
                Propagation::Background
            });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return finish(o, &dry_run_values);
        }
        let v = match MediaType::from_content_type(content_type)? {
            MediaType::Json => decode_json(body)?,
            media => decode_object(body, media)?,
        };
        if let (Some(p), Some(_)) = (v["propagationPolicy"].as_str(), v["orphanDependents"].as_bool()) {
            return Err(both_propagations(p));
        }
        if let Some(p) = v["propagationPolicy"].as_str() {
            o.propagation = Some(parse_propagation(p)?);
        } else if let Some(orphan) = v["orphanDependents"].as_bool() {
            o.propagation = Some(if orphan {
                Propagation::Orphan
            } else {
                Propagation::Background
            });
        }
        if let Some(g) = v["gracePeriodSeconds"].as_i64() {
            o.grace_period_seconds = Some(g);
        }
        o.precondition_uid = v["preconditions"]["uid"].as_str().map(String::from);
        o.precondition_rv = v["preconditions"]["resourceVersion"].as_str().map(String::from);
        if let Some(dry) = v["dryRun"].as_array() {
            dry_run_values.extend(dry.iter().map(|d| d.as_str().unwrap_or("").to_string()));
        }
        finish(o, &dry_run_values)
    }
}

/// Checks the `dryRun` values (query and body) as Kubernetes validates
/// `DeleteOptions`, and turns dry run on when any was given.
fn finish(mut o: DeleteOptions, dry_run_values: &[String]) -> Result<DeleteOptions, ApiError> {
    invalid_options("DeleteOptions", dry_run_errors(dry_run_values))?;
    o.dry_run = !dry_run_values.is_empty();
    Ok(o)
}

/// The 422 for a request that sets both `orphanDependents` and `propagationPolicy`.
fn both_propagations(policy: &str) -> ApiError {
    let err = FieldError::invalid(
        "propagationPolicy",
        policy,
        "orphanDependents and deletionPropagation cannot be both set",
    );
    options_error("DeleteOptions", &[err])
}

/// How many times a delete is retried when a concurrent write got in first.
const MAX_RETRIES: usize = 16;

/// Deletes one object; returns the status code and body to send.
pub async fn delete(api: &Api, path: &ResourcePath, options: &DeleteOptions) -> Result<(StatusCode, Value), ApiError> {
    let name = name_of(path)?;
    for attempt in 0..MAX_RETRIES {
        let current = get_stored(api, path)?;
        match delete_once(api, path, options, current).await {
            Err(DeleteError::Retry) => super::conflict_pause(attempt).await,
            Err(DeleteError::Api(e)) => return Err(e),
            Ok(done) => return Ok(done),
        }
    }
    Err(ApiError::conflict(path.info, name))
}

enum DeleteError {
    Retry,
    Api(ApiError),
}

impl From<ApiError> for DeleteError {
    fn from(e: ApiError) -> Self {
        DeleteError::Api(e)
    }
}

fn write_error(e: StoreError, path: &ResourcePath, name: &str) -> DeleteError {
    match e {
        StoreError::Conflict { .. } => DeleteError::Retry,
        other => DeleteError::Api(store_error(other, path.info, name)),
    }
}

async fn delete_once(
    api: &Api,
    path: &ResourcePath,
    options: &DeleteOptions,
    current: Value,
) -> Result<(StatusCode, Value), DeleteError> {
    let info = path.info;
    let name = name_of(path)?;
    let key = key_of(path)?;
    let rev = stored_revision(&current);
    if let Some(uid) = &options.precondition_uid {
        let actual = current.uid().unwrap_or("");
        if uid != actual {
            return Err(ApiError::conflict_msg(
                info,
                name,
                &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
            )
            .into());
        }
    }
    if let Some(rv) = &options.precondition_rv {
        let actual = current.resource_version().unwrap_or("");
        if rv != actual {
            return Err(ApiError::conflict_msg(
                info,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                ),
            )
            .into());
        }
    }

    let mut obj = current.clone();
    let mut finalizers = obj.finalizers();
    match options.propagation {
        Some(Propagation::Orphan) => add_finalizer(&mut finalizers, ORPHAN_FINALIZER),
        Some(Propagation::Foreground) => add_finalizer(&mut finalizers, FOREGROUND_FINALIZER),
        Some(Propagation::Background) => finalizers.retain(|f| f != ORPHAN_FINALIZER && f != FOREGROUND_FINALIZER),
        None => {}
    }
    let grace = pod_grace_period(info.plural, &current, options.grace_period_seconds);
    let namespace_finalizers =
        info.plural == "namespaces" && obj["spec"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());

    let already_deleting = current.deletion_timestamp().is_some();
    if finalizers.is_empty() && grace.is_none() && !namespace_finalizers {
        // Nothing holds the object back: remove it now (a dry run answers the same, keeping it).
        let deleted = if options.dry_run {
            current
        } else {
            let deleted = api
                .store
                .delete(&key, Some(rev))
                .await
                .map_err(|e| write_error(e, path, name))?;
            strategy_for(storage_info(info)).release(&api.allocators, &deleted);
            deleted
        };
        let body = if info.plural == "pods" || info.plural == "namespaces" {
            to_response(info, deleted)
        } else {
            success_status(info, name, deleted.uid())
        };
        return Ok((StatusCode::OK, body));
    }

    // Graceful or finalized deletion: mark the object and let others finish.
    if !already_deleting {
        let when = match grace {
            Some(g) if g > 0 => format_time(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(g)),
            _ => now_rfc3339(),
        };
        obj.set_meta("deletionTimestamp", json!(when));
        obj.set_meta("deletionGracePeriodSeconds", json!(grace.unwrap_or(0)));
        if info.plural == "namespaces" {
            obj["status"]["phase"] = json!("Terminating");
        }
    } else if let Some(g) = grace {
        // A later delete may only shorten the grace period.
        let old = current["metadata"]["deletionGracePeriodSeconds"].as_i64().unwrap_or(0);
        if g < old {
            obj.set_meta("deletionGracePeriodSeconds", json!(g));
        }
    }
    obj.set_finalizers(&finalizers);
    if obj == current {
        return Ok((StatusCode::OK, to_response(info, current)));
    }
    if options.dry_run {
        return Ok((StatusCode::OK, to_response(info, obj)));
    }
    let stored = api
        .store
        .update(&key, obj, Some(rev))
        .await
        .map_err(|e| write_error(e, path, name))?;
    let code = if options.propagation == Some(Propagation::Foreground) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, to_response(info, stored)))
}

fn add_finalizer(finalizers: &mut Vec<String>, f: &str) {
    if !finalizers.iter().any(|x| x == f) {
        finalizers.push(f.to_string());
    }
}

/// The grace period of a pod that a node must stop first; `None` when it can go at once.
fn pod_grace_period(plural: &str, pod: &Value, requested: Option<i64>) -> Option<i64> {
    if plural != "pods" {
        return None;
    }
    let scheduled = pod["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty());
    let finished = matches!(pod["status"]["phase"].as_str(), Some("Succeeded") | Some("Failed"));
    if !scheduled || finished {
        return None;
    }
    // Kubernetes treats a negative grace period (requested or from the spec) as 1 second.
    let grace = requested
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30);
    match grace {
        0 => None,
        g if g < 0 => Some(1),
        g => Some(g),
    }
}

/// `DELETE` on a collection: deletes every object the selectors match.
pub async fn delete_collection(
    api: &Api,
    path: &ResourcePath,
    query: &Query,
    options: &DeleteOptions,
) -> Result<Value, ApiError> {
    let mut list_query = query.clone();
    list_query.limit = None;
    list_query.continue_token = None;
    let listed = list(api, path, &list_query)?;
    let mut deleted = Vec::new();
    for item in listed["items"].as_array().cloned().unwrap_or_default() {
        let mut one = path.clone();
        one.name = item.name().map(String::from);
        if path.info.namespaced {
            one.namespace = item.namespace().map(String::from);
        }
        match delete(api, &one, options).await {
            // The list holds the objects themselves, as Kubernetes returns them.
            Ok((_, body)) if body["kind"] != "Status" => deleted.push(strip_type(body)),
            Ok(_) => deleted.push(item),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    let mut out = listed;
    out["items"] = Value::Array(deleted);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_body_and_query() {
        let q = Query::parse(Some("propagationPolicy=Orphan&gracePeriodSeconds=5")).unwrap();
        let o = DeleteOptions::from_request(b"", None, &q).unwrap();
        assert_eq!(o.propagation, Some(Propagation::Orphan));
        assert_eq!(o.grace_period_seconds, Some(5));
        let body = br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground","preconditions":{"uid":"u1"},"dryRun":["All"]}"#;
        let o = DeleteOptions::from_request(body, None, &Query::default()).unwrap();
        assert_eq!(o.propagation, Some(Propagation::Foreground));
        assert_eq!(o.precondition_uid.as_deref(), Some("u1"));
        assert!(o.dry_run);
        let bad = Query::parse(Some("propagationPolicy=Sideways")).unwrap();
        let e = DeleteOptions::from_request(b"", None, &bad).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            r#"DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan", "nil""#
        );
        let bad = br#"{"dryRun":["Everything"]}"#;
        let e = DeleteOptions::from_request(bad, None, &Query::default()).unwrap_err();
        assert_eq!(
            e.message,
            r#"DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Everything"}: supported values: "All""#
        );
        let q = Query::parse(Some("dryRun=All")).unwrap();
        assert!(DeleteOptions::from_request(b"", None, &q).unwrap().dry_run);
        let both = Query::parse(Some("propagationPolicy=Orphan&orphanDependents=true")).unwrap();
        assert_eq!(
            DeleteOptions::from_request(b"", None, &both).unwrap_err().message,
            r#"DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set"#
        );
    }

    #[test]
    fn pods_on_a_node_get_a_grace_period() {
        let unscheduled = json!({"spec": {}});
        assert_eq!(pod_grace_period("pods", &unscheduled, None), None);
        let running =
            json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 10}, "status": {"phase": "Running"}});
        assert_eq!(pod_grace_period("pods", &running, None), Some(10));
        assert_eq!(pod_grace_period("pods", &running, Some(0)), None);
        assert_eq!(pod_grace_period("pods", &running, Some(-5)), Some(1));
        let negative = json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": -3}});
        assert_eq!(pod_grace_period("pods", &negative, None), Some(1));
        let done = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert_eq!(pod_grace_period("pods", &done, None), None);
        assert_eq!(pod_grace_period("configmaps", &running, None), None);
    }
}
