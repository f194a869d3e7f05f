//! The REST verbs on resources: dispatch by method, path shape and query.

mod apply;
pub mod binding;
mod create;
mod delete;
pub mod eviction;
mod fieldmanager;
mod fieldvalidation;
mod kubelet;
pub(crate) mod list;
mod object;
mod patch;
mod scale;
mod token;
mod update;

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use k1s_proto::meta::ObjectMeta;
use k1s_proto::{ApiError, ResourceInfo};
use serde_json::Value;

use super::body::{self, MediaType};
use super::query::Query;
use super::route::ResourcePath;
use super::table::{self, Conversion};
use super::{json_response, watch, Body};
use crate::api::Api;
use crate::authn::UserInfo;
use crate::registry::convert;
use crate::store::StoreError;

pub use create::generate_name;
pub use delete::DeleteOptions;
pub use object::NAMESPACE_TERMINATING_CAUSE;
pub use update::UpdateMode;

/// Serves a request addressed to a resource path.
pub async fn serve<B>(
    api: &Arc<Api>,
    req: Request<B>,
    path: ResourcePath,
    user: &UserInfo,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if let (Some(_), Some(sub)) = (&path.name, path.subresource.as_deref()) {
        if path.info.group.is_empty() && path.info.plural == "pods" && kubelet::is_node_subresource(sub) {
            let sub = sub.to_string();
            return kubelet::serve(api, req, &path, &sub).await;
        }
    }
    let mut query = Query::parse(req.uri().query())?;
    query.user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let method = req.method().clone();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = user;
    // What the response must look like is settled first: 406 before anything is done.
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let conversion = table::negotiate(accept, &query)?;
    let sub = path.subresource.as_deref();
    let reply = Reply {
        conversion,
        info: path.info,
        printer: if sub == Some("scale") {
            k1s_proto::printers::core::SCALE
        } else {
            k1s_proto::printers::printer_for(path.info)
        },
    };
    let ok = |v: Value| reply.send(StatusCode::OK, v);
    let is_watch = path.legacy_watch || query.watch;
    if path.legacy_watch && method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    match (&method, &path.name, sub) {
        (&Method::GET, None, None) if is_watch => watch::serve(api, &path, &query, conversion).await,
        (&Method::GET, None, None) => ok(list::list(api, &path, &query)?),
        (&Method::GET, Some(_), None) if is_watch => watch::serve_one(api, &path, &query, conversion).await,
        (&Method::GET, Some(_), None) | (&Method::GET, Some(_), Some("status")) => ok(object::get(api, &path)?),
        (&Method::GET, Some(_), Some("scale")) if path.info.has_scale => ok(scale::get(api, &path)?),
        (&Method::POST, None, None) => {
            query.check_write_options("CreateOptions")?;
            let obj = read_object(req, content_type.as_deref(), path.info, &query).await?;
            let created = create::create(api, &path, obj, &query).await?;
            reply.send(StatusCode::CREATED, created)
        }
        (&Method::POST, Some(_), Some("token")) if path.info.plural == "serviceaccounts" => {
            query.check_write_options("CreateOptions")?;
            let bytes = body::read_limited(req.into_body()).await?;
            let media = MediaType::from_content_type(content_type.as_deref())?;
            let obj = token::decode(&bytes, media)?;
            Ok(json_response(StatusCode::CREATED, &token::create(api, &path, obj)?))
        }
        (&Method::POST, _, Some("binding")) if is_pods(path.info) => {
            query.check_write_options("CreateOptions")?;
            let bytes = body::read_limited(req.into_body()).await?;
            let media = MediaType::from_content_type(content_type.as_deref())?;
            let obj = binding::decode(&bytes, media)?;
            Ok(json_response(
                StatusCode::CREATED,
                &binding::create(api, &path, obj, &query).await?,
            ))
        }
        (&Method::POST, Some(_), Some("eviction")) if is_pods(path.info) => {
            query.check_write_options("CreateOptions")?;
            let bytes = body::read_limited(req.into_body()).await?;
            let media = MediaType::from_content_type(content_type.as_deref())?;
            let obj = eviction::decode(&bytes, media)?;
            Ok(json_response(
                StatusCode::CREATED,
                &eviction::create(api, &path, obj, &query).await?,
            ))
        }
        (&Method::PUT, Some(_), None) => {
            query.check_write_options("UpdateOptions")?;
            let obj = read_object(req, content_type.as_deref(), path.info, &query).await?;
            ok(update::replace(api, &path, obj, UpdateMode::Main, &query).await?)
        }
        (&Method::PUT, Some(_), Some("status")) if path.info.has_status => {
            query.check_write_options("UpdateOptions")?;
            let obj = read_object(req, content_type.as_deref(), path.info, &query).await?;
            ok(update::replace(api, &path, obj, UpdateMode::Status, &query).await?)
        }
        (&Method::PUT, Some(_), Some("finalize")) if path.info.plural == "namespaces" => {
            query.check_write_options("UpdateOptions")?;
            let obj = read_object(req, content_type.as_deref(), path.info, &query).await?;
            ok(update::replace(api, &path, obj, UpdateMode::Finalize, &query).await?)
        }
        (&Method::PUT, Some(_), Some("scale")) if path.info.has_scale => {
            query.check_write_options("UpdateOptions")?;
            let obj = read_object(req, content_type.as_deref(), &scale::SCALE, &query).await?;
            ok(scale::replace(api, &path, obj, &query).await?)
        }
        (&Method::PATCH, Some(_), None | Some("status") | Some("scale")) => {
            query.check_write_options("PatchOptions")?;
            let mode = match sub {
                None => UpdateMode::Main,
                Some("status") if path.info.has_status => UpdateMode::Status,
                Some("scale") if path.info.has_scale => {
                    let bytes = body::read_limited(req.into_body()).await?;
                    return ok(scale::patch(api, &path, content_type.as_deref(), &bytes, &query).await?);
                }
                _ => return Err(ApiError::no_route()),
            };
            let bytes = body::read_limited(req.into_body()).await?;
            if apply::is_apply(content_type.as_deref()) {
                let (code, obj) = apply::apply_patch(api, &path, &bytes, mode, &query).await?;
                return Ok(json_response(code, &obj));
            }
            ok(patch::patch(api, &path, content_type.as_deref(), &bytes, mode, &query).await?)
        }
        (&Method::DELETE, Some(_), None) => {
            let bytes = body::read_limited(req.into_body()).await?;
            let options = DeleteOptions::from_request(&bytes, content_type.as_deref(), &query)?;
            let (code, body) = delete::delete(api, &path, &options).await?;
            reply.send(code, body)
        }
        (&Method::DELETE, None, None) if path.info.delete_collection => {
            let bytes = body::read_limited(req.into_body()).await?;
            let options = DeleteOptions::from_request(&bytes, content_type.as_deref(), &query)?;
            ok(delete::delete_collection(api, &path, &query, &options).await?)
        }
        (_, _, Some(s)) if !known_subresource(path.info, s) => Err(ApiError::no_route()),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn known_subresource(info: &ResourceInfo, sub: &str) -> bool {
    match sub {
        "status" => info.has_status,
        "scale" => info.has_scale,
        "finalize" => info.plural == "namespaces",
        "token" => info.plural == "serviceaccounts",
        "binding" | "eviction" => is_pods(info),
        _ => false,
    }
}

/// Whether `info` is core/v1 pods.
fn is_pods(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "pods"
}

/// How responses of one request are written: transformed as its `Accept` asked.
struct Reply {
    conversion: Conversion,
    info: &'static ResourceInfo,
    printer: k1s_proto::printers::Printer,
}

impl Reply {
    fn send(&self, code: StatusCode, v: Value) -> Result<Response<Body>, ApiError> {
        let v = self.conversion.apply(self.info, &self.printer, v)?;
        Ok(json_response(code, &v))
    }
}

/// Reads the object body of a create or update, whose kind is `kind`
/// (checking its fields as the request's `fieldValidation` says).
async fn read_object<B>(
    req: Request<B>,
    content_type: Option<&str>,
    kind: &ResourceInfo,
    query: &Query,
) -> Result<Value, ApiError>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let media = MediaType::from_content_type(content_type)?;
    let bytes = body::read_limited(req.into_body()).await?;
    fieldvalidation::decode_object(&bytes, media, kind, fieldvalidation::Directive::of(query))
}

/// The name from a path that addresses one object.
pub(crate) fn name_of(path: &ResourcePath) -> Result<&str, ApiError> {
    path.name.as_deref().ok_or_else(ApiError::method_not_allowed)
}

/// The namespace a path addresses, as the store key needs it.
fn namespace_of(path: &ResourcePath) -> Option<&str> {
    if path.info.namespaced {
        path.namespace.as_deref()
    } else {
        None
    }
}

/// The store key of the object a path addresses.
fn key_of(path: &ResourcePath) -> Result<String, ApiError> {
    if path.info.namespaced && path.namespace.is_none() {
        return Err(ApiError::no_route());
    }
    Ok(path.info.storage_key(namespace_of(path), name_of(path)?))
}

/// Turns a store error into the API error Kubernetes returns for it.
pub(crate) fn store_error(e: StoreError, info: &ResourceInfo, name: &str) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found(info, name),
        StoreError::AlreadyExists => ApiError::already_exists(info, name),
        StoreError::Conflict { .. } => ApiError::conflict(info, name),
        StoreError::Expired { requested, oldest } => ApiError::expired(requested, oldest),
        StoreError::Lagged => ApiError::internal("watch fell behind"),
        StoreError::Backend(msg) => ApiError::internal(msg),
    }
}

/// An object as the client asked for it: in the request's version, with apiVersion and kind.
pub(crate) fn to_response(info: &ResourceInfo, stored: Value) -> Value {
    let mut obj = convert::from_storage(info, stored);
    if let Some(map) = obj.as_object_mut() {
        // apiVersion and kind lead, as in Kubernetes' encoding.
        let mut out = serde_json::Map::with_capacity(map.len() + 2);
        out.insert("kind".into(), Value::from(info.kind));
        out.insert("apiVersion".into(), Value::from(info.api_version()));
        for (k, v) in std::mem::take(map) {
            if k != "kind" && k != "apiVersion" {
                out.insert(k, v);
            }
        }
        *map = out;
    }
    obj
}

/// Checks the body's apiVersion/kind against the path, as Kubernetes' decoder does.
fn check_type(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !kind.is_empty() && kind != info.kind {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: kind {kind:?} does not match {:?}",
            info.kind, info.kind
        )));
    }
    if !api_version.is_empty() && api_version != info.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    Ok(())
}

/// Reads the stored object a path addresses (404 when missing).
fn get_stored(api: &Api, path: &ResourcePath) -> Result<Value, ApiError> {
    let name = name_of(path)?;
    api.store
        .get(&key_of(path)?)
        .map_err(|e| store_error(e, path.info, name))?
        .ok_or_else(|| ApiError::not_found(path.info, name))
}

/// Waits before retry `attempt` of a write that met a newer revision: the
/// store checks preconditions against writes still being made durable, which
/// reads do not show yet, so an immediate re-read could meet the same conflict.
async fn conflict_pause(attempt: usize) {
    if attempt > 0 {
        let ms = (1u64 << attempt.min(6)).min(50);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    } else {
        tokio::task::yield_now().await;
    }
}

/// The numeric resourceVersion of a stored object.
fn stored_revision(obj: &Value) -> u64 {
    obj.resource_version().and_then(|rv| rv.parse().ok()).unwrap_or(0)
}
