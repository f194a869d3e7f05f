//! `POST pods/{name}/eviction` (a `policy/v1` Eviction): deletes the pod
//! unless that would break the PodDisruptionBudget guarding it
//! (Kubernetes' `EvictionREST`). A budget with no disruption left answers 429
//! `Cannot evict pod as it would violate the pod's disruption budget.`; an
//! allowed eviction takes one disruption from the budget's status and records
//! the pod in `status.disruptedPods`, marks the pod `DisruptionTarget` and
//! deletes it with the Eviction's `deleteOptions`.

use k1s_proto::meta::{now_rfc3339, ObjectMeta};
use k1s_proto::resources::find;
use k1s_proto::status::Cause;
use k1s_proto::ApiError;
use serde_json::{json, Value};

use super::delete::{self, DeleteOptions};
use super::update::{guaranteed_update, UpdateMode};
use super::{get_stored, name_of};
use crate::api::Api;
use crate::http::body::{decode_object, MediaType};
use crate::http::query::Query;
use crate::http::route::ResourcePath;
use crate::registry::pdb::{self, DISRUPTION_TARGET, MAX_DISRUPTED_PODS};
use crate::registry::update_pod_condition;

const VIOLATES: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// Decodes an Eviction body (JSON, YAML or protobuf; `policy/v1` or `v1beta1`).
pub fn decode(bytes: &[u8], media: MediaType) -> Result<Value, ApiError> {
    let obj = decode_object(bytes, media)?;
    let kind = obj["kind"].as_str().unwrap_or("");
    if !kind.is_empty() && kind != "Eviction" {
        return Err(ApiError::bad_request(format!("not a Eviction object: kind {kind:?}")));
    }
    Ok(obj)
}

/// 429 TooManyRequests with a `DisruptionBudget` cause.
fn too_many_requests(cause: String, retry_after: Option<u32>) -> ApiError {
    let mut e = ApiError::new(429, "TooManyRequests", VIOLATES);
    e.causes = vec![Cause {
        reason: "DisruptionBudget".into(),
        message: cause,
        field: String::new(),
    }];
    e.retry_after_seconds = retry_after;
    e
}

/// The 429 for a budget the controller has not caught up with (or a lost race).
fn still_processing(pdb: &str) -> ApiError {
    too_many_requests(
        format!("The disruption budget {pdb} is still being processed by the server."),
        Some(10),
    )
}

fn forbidden(pdb: &str, why: &str) -> ApiError {
    match find("policy", "v1", "poddisruptionbudgets") {
        Some(info) => ApiError::forbidden(info, pdb, why),
        None => ApiError::new(403, "Forbidden", why),
    }
}

/// Whether the pod may go without asking its budget: it is finished, not yet
/// running, or already being deleted (`canIgnorePDB`).
fn can_ignore_budget(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed" | "Pending")
    ) || pod.deletion_timestamp().is_some()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Takes one disruption from the budget for `pod` (`checkAndDecrement`), on
/// the budget as it is now: the status write and the check are one step.
pub fn check_and_decrement(pdb: &Value, pod: &str, now: &str) -> Result<Value, ApiError> {
    let name = pdb.name().unwrap_or("");
    let status = &pdb["status"];
    if status["observedGeneration"].as_i64().unwrap_or(0) < pdb.generation() {
        return Err(still_processing(name));
    }
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed < 0 {
        return Err(forbidden(name, "pdb disruptions allowed is negative"));
    }
    if pdb::disrupted_pods(status).len() > MAX_DISRUPTED_PODS {
        return Err(forbidden(
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(
            format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                status["desiredHealthy"].as_i64().unwrap_or(0),
                status["currentHealthy"].as_i64().unwrap_or(0)
            ),
            None,
        ));
    }
    let mut updated = pdb.clone();
    let s = &mut updated["status"];
    s["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        pdb::update_disruption_allowed(s, now);
    }
    if !s["disruptedPods"].is_object() {
        s["disruptedPods"] = json!({});
    }
    s["disruptedPods"][pod] = json!(now);
    Ok(updated)
}

/// The Eviction's `deleteOptions` with the request's dry run.
fn delete_options(eviction: &Value, query: &Query) -> Result<DeleteOptions, ApiError> {
    let opts = &eviction["deleteOptions"];
    if let (Some(body), false) = (opts["dryRun"].as_array(), query.dry_run_values.is_empty()) {
        let body: Vec<&str> = body.iter().filter_map(Value::as_str).collect();
        if body != query.dry_run_values.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(ApiError::internal(format!(
                "Non-matching dry-run options in request and content: {:?} and {:?}",
                query.dry_run_values, body
            )));
        }
    }
    let bytes = if opts.is_object() {
        serde_json::to_vec(opts).map_err(ApiError::internal)?
    } else {
        Vec::new()
    };
    let dry_run_only = Query {
        dry_run: query.dry_run,
        dry_run_values: query.dry_run_values.clone(),
        ..Default::default()
    };
    DeleteOptions::from_request(&bytes, Some("application/json"), &dry_run_only)
}

/// Marks the pod `DisruptionTarget` and deletes it (`addConditionAndDeletePod`).
async fn mark_and_delete(api: &Api, pod_path: &ResourcePath, mut options: DeleteOptions) -> Result<(), ApiError> {
    if !options.dry_run {
        let (uid, rv) = (options.precondition_uid.clone(), options.precondition_rv.clone());
        let now = now_rfc3339();
        let status_query = Query::default();
        let updated = guaranteed_update(api, pod_path, UpdateMode::Status, &status_query, |current| {
            let name = current.name().unwrap_or("");
            let pods = pod_path.info;
            if let Some(uid) = uid.as_deref().filter(|u| !u.is_empty()) {
                let have = current.uid().unwrap_or("");
                if have != uid {
                    return Err(ApiError::conflict_msg(
                        pods,
                        name,
                        &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
                    ));
                }
            }
            if let Some(rv) = rv.as_deref().filter(|r| !r.is_empty()) {
                let have = current.resource_version().unwrap_or("");
                if have != rv {
                    return Err(ApiError::conflict_msg(
                        pods,
                        name,
                        &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}"),
                    ));
                }
            }
            let mut pod = current.clone();
            let condition = json!({"type": DISRUPTION_TARGET, "status": "True",
                "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"});
            update_pod_condition(&mut pod, condition, &now);
            Ok(pod)
        })
        .await?;
        if options.precondition_rv.as_deref().is_some_and(|r| !r.is_empty()) {
            // We changed the pod: the precondition now names our own write.
            options.precondition_rv = updated.resource_version().map(str::to_string);
        }
    }
    delete::delete(api, pod_path, &options).await.map(|_| ())
}

fn success() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

/// Evicts the pod the path names.
pub async fn create(api: &Api, path: &ResourcePath, eviction: Value, query: &Query) -> Result<Value, ApiError> {
    let name = name_of(path)?.to_string();
    if eviction.name().unwrap_or("") != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let options = delete_options(&eviction, query)?;
    let pod_path = ResourcePath {
        info: path.info,
        namespace: path.namespace.clone(),
        name: Some(name.clone()),
        subresource: None,
        legacy_watch: false,
    };
    let pod = get_stored(api, &pod_path)?;
    if can_ignore_budget(&pod) {
        let mut opts = options;
        // A pending pod could start meanwhile: delete only the version looked at.
        let terminal = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
        if !terminal && opts.precondition_rv.is_none() {
            opts.precondition_rv = pod.resource_version().map(str::to_string);
        }
        mark_and_delete(api, &pod_path, opts).await?;
        return Ok(success());
    }

    let pdbs_info = find("policy", "v1", "poddisruptionbudgets").ok_or_else(ApiError::no_route)?;
    let namespace = path.namespace.clone().unwrap_or_default();
    let listed = api
        .store
        .list(&pdbs_info.storage_prefix_in(Some(&namespace)), &Default::default())
        .map_err(ApiError::internal)?;
    let budgets: Vec<&Value> = listed.items.iter().filter(|b| pdb::guards(b, &pod)).collect();
    if budgets.len() > 1 {
        return Err(ApiError::new(
            500,
            "",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    let mut options = options;
    let mut unhealthy_allowed = false;
    if let Some(budget) = budgets.first() {
        let budget_name = budget.name().unwrap_or("").to_string();
        let status = &budget["status"];
        if !is_ready(&pod) {
            let always = budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow";
            let desired = status["desiredHealthy"].as_i64().unwrap_or(0);
            let healthy_budget = status["currentHealthy"].as_i64().unwrap_or(0) >= desired && desired > 0;
            // An unready pod of a budget that is not disrupted goes without taking a disruption.
            unhealthy_allowed = always || healthy_budget;
        }
        if unhealthy_allowed {
            if options.precondition_rv.is_none() {
                options.precondition_rv = pod.resource_version().map(str::to_string);
            }
        } else {
            let budget_path = ResourcePath {
                info: pdbs_info,
                namespace: Some(namespace.clone()),
                name: Some(budget_name.clone()),
                subresource: Some("status".into()),
                legacy_watch: false,
            };
            let now = now_rfc3339();
            let status_query = Query {
                dry_run: options.dry_run,
                ..Default::default()
            };
            guaranteed_update(api, &budget_path, UpdateMode::Status, &status_query, |current| {
                check_and_decrement(current, &name, &now)
            })
            .await?;
        }
        if unhealthy_allowed {
            return match mark_and_delete(api, &pod_path, options).await {
                // The pod changed (perhaps became ready) since it was judged: try again.
                Err(e) if e.is_conflict() => Err(too_many_requests(
                    format!("The disruption budget {budget_name} is still being processed by the server."),
                    Some(10),
                )),
                other => other.map(|_| success()),
            };
        }
    }
    mark_and_delete(api, &pod_path, options).await?;
    Ok(success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(allowed: i64, generation: i64, observed: i64) -> Value {
        json!({"metadata": {"name": "web", "namespace": "d", "generation": generation},
               "status": {"disruptionsAllowed": allowed, "currentHealthy": 3, "desiredHealthy": 2,
                          "expectedPods": 3, "observedGeneration": observed,
                          "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                                          "message": "", "observedGeneration": observed, "lastTransitionTime": "t0"}]}})
    }

    #[test]
    fn decrement_takes_one_disruption_and_records_the_pod() {
        let after = check_and_decrement(&budget(2, 1, 1), "p1", "t1").unwrap();
        assert_eq!(after["status"]["disruptionsAllowed"], 1);
        assert_eq!(after["status"]["disruptedPods"], json!({"p1": "t1"}));
        assert_eq!(after["status"]["conditions"][0]["status"], "True");
        let last = check_and_decrement(&after, "p2", "t2").unwrap();
        assert_eq!(last["status"]["disruptionsAllowed"], 0);
        assert_eq!(last["status"]["conditions"][0]["reason"], "InsufficientPods");
        assert_eq!(last["status"]["disruptedPods"], json!({"p1": "t1", "p2": "t2"}));
    }

    #[test]
    fn refusals() {
        let none = check_and_decrement(&budget(0, 1, 1), "p", "t").unwrap_err();
        assert_eq!(
            (none.code, none.reason.as_str(), none.message.as_str()),
            (429, "TooManyRequests", VIOLATES)
        );
        assert_eq!(none.causes[0].reason, "DisruptionBudget");
        assert_eq!(
            none.causes[0].message,
            "The disruption budget web needs 2 healthy pods and has 3 currently"
        );
        assert_eq!(none.retry_after_seconds, None);
        let stale = check_and_decrement(&budget(1, 2, 1), "p", "t").unwrap_err();
        assert_eq!((stale.code, stale.retry_after_seconds), (429, Some(10)));
        assert_eq!(
            stale.causes[0].message,
            "The disruption budget web is still being processed by the server."
        );
        let negative = check_and_decrement(&budget(-1, 1, 1), "p", "t").unwrap_err();
        assert_eq!(negative.code, 403);
        assert_eq!(
            negative.message,
            "poddisruptionbudgets.policy \"web\" is forbidden: pdb disruptions allowed is negative"
        );
    }

    #[test]
    fn pods_that_need_no_budget() {
        let pod = |phase: &str| json!({"metadata": {"name": "p"}, "status": {"phase": phase}});
        assert!(can_ignore_budget(&pod("Pending")));
        assert!(can_ignore_budget(&pod("Succeeded")));
        assert!(!can_ignore_budget(&pod("Running")));
        let mut deleting = pod("Running");
        deleting["metadata"]["deletionTimestamp"] = json!("t");
        assert!(can_ignore_budget(&deleting));
    }
}
