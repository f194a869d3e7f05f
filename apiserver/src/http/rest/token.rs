//! `POST serviceaccounts/{name}/token`: the TokenRequest API. A token for the
//! ServiceAccount, optionally bound to a pod (and then only valid while that
//! pod exists), signed with the server's service account key.

use k1s_proto::meta::ObjectMeta;
use k1s_proto::resources::find;
use k1s_proto::{ApiError, FieldError};
use serde_json::{json, Value};

use super::{get_stored, name_of};
use crate::api::Api;
use crate::http::body::MediaType;
use crate::http::route::ResourcePath;
use crate::sa_token::{BoundPod, TokenClaims, EXTENDED_EXPIRATION_SECONDS, ISSUER, WARN_ONLY_EXPIRATION_SECONDS};

/// The default lifetime of a requested token.
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a TokenRequest may ask for.
const MIN_EXPIRATION_SECONDS: i64 = 600;

fn invalid(name: &str, errors: &[FieldError]) -> ApiError {
    let list = if errors.len() == 1 {
        errors[0].to_string()
    } else {
        format!(
            "[{}]",
            errors.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        )
    };
    let mut e = ApiError::new(
        422,
        "Invalid",
        format!("TokenRequest.authentication.k8s.io \"{name}\" is invalid: {list}"),
    );
    e.name = Some(name.to_string());
    e.group = Some("authentication.k8s.io".into());
    e.kind = Some("TokenRequest".into());
    e.causes = errors.iter().map(FieldError::cause).collect();
    e
}

/// Decodes a TokenRequest body (JSON, YAML, or protobuf as kubectl sends it).
pub fn decode(bytes: &[u8], media: MediaType) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    crate::http::body::decode_object(bytes, media)
}

/// Issues a token; returns the TokenRequest with `status.token` and `status.expirationTimestamp`.
pub fn create(api: &Api, path: &ResourcePath, body: Value) -> Result<Value, ApiError> {
    let keys = api
        .config
        .service_account_keys
        .as_ref()
        .ok_or_else(|| ApiError::internal("no service account signing key is configured"))?;
    let name = name_of(path)?.to_string();
    let namespace = path.namespace.clone().ok_or_else(ApiError::no_route)?;
    if body
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "TokenRequest")
    {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type TokenRequest): kind {:?}",
            body["kind"]
        )));
    }
    let sa = get_stored(api, path)?;
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let mut audiences: Vec<String> = spec["audiences"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences.push(ISSUER.to_string());
    }
    let requested = spec["expirationSeconds"].as_i64().unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let mut errors = Vec::new();
    if requested < MIN_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            "spec.expirationSeconds",
            requested,
            "may not specify a duration less than 10 minutes",
        ));
    }
    if requested > 1 << 32 {
        errors.push(FieldError::invalid(
            "spec.expirationSeconds",
            requested,
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let bound = &spec["boundObjectRef"];
    let mut pod = None;
    if bound.is_object() {
        let kind = bound["kind"].as_str().unwrap_or_default();
        let bound_name = bound["name"].as_str().unwrap_or_default();
        match kind {
            "Pod" => {
                let pods = find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
                let stored = api
                    .store
                    .get(&pods.storage_key(Some(&namespace), bound_name))
                    .map_err(ApiError::internal)?
                    .ok_or_else(|| ApiError::not_found(pods, bound_name))?;
                let uid = stored.uid().unwrap_or_default().to_string();
                if let Some(want) = bound["uid"].as_str().filter(|u| !u.is_empty()) {
                    if want != uid {
                        return Err(ApiError::conflict_msg(
                            pods,
                            bound_name,
                            &format!(
                                "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
                            ),
                        ));
                    }
                }
                pod = Some(BoundPod {
                    name: bound_name.to_string(),
                    uid,
                });
            }
            other => errors.push(FieldError::not_supported("spec.boundObjectRef.kind", other, &["Pod"])),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(&name, &errors));
    }
    let now = jiff::Timestamp::now().as_second();
    let (lifetime, warn_after) = if pod.is_some() && requested == WARN_ONLY_EXPIRATION_SECONDS {
        (EXTENDED_EXPIRATION_SECONDS, Some(now + requested))
    } else {
        (requested, None)
    };
    let claims = TokenClaims {
        namespace: namespace.clone(),
        name: name.clone(),
        uid: sa.uid().unwrap_or_default().to_string(),
        audiences: audiences.clone(),
        issued_at: now,
        expires_at: now + lifetime,
        warn_after,
        pod: pod.clone(),
    };
    let token = keys.sign(&claims.to_json()).map_err(ApiError::internal)?;
    let expiration = jiff::Timestamp::from_second(now + requested)
        .map_err(ApiError::internal)?
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let bound_ref = match &pod {
        Some(p) => json!({"kind": "Pod", "apiVersion": "v1", "name": p.name, "uid": p.uid}),
        None => Value::Null,
    };
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": requested, "boundObjectRef": bound_ref},
        "status": {"token": token, "expirationTimestamp": expiration},
    }))
}
