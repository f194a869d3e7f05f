//! HTTP serving of the Kubernetes REST API: routing, request decoding,
//! the REST verbs, watch streams and discovery.

pub mod body;
pub mod discovery;
pub mod openapi;
pub mod query;
pub mod rest;
pub mod route;
pub mod table;
pub mod warning;
pub mod watch;

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use k1s_proto::ApiError;
use serde_json::Value;

/// The response body type: a complete buffer or a stream (watch).
pub type Body = BoxBody<Bytes, Infallible>;

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON response with the given status code.
pub fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
    // Serializing a Value cannot fail.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = code;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A `metav1.Status` error response.
pub fn error_response(err: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(code, &err.to_status());
    if let Some(secs) = err.retry_after_seconds {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// A plain-text response (health endpoints).
pub fn text_response(code: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(text));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
