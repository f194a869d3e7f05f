//! Serving `/openapi/v2`, `/openapi/v3` (the index) and the per-group/version
//! `/openapi/v3/{api/v1|apis/g/v}` documents as kube-apiserver does.
//!
//! Documents are built on first request, once, and kept as bytes with their
//! SHA-512 (upper-case hex, as Kubernetes writes it), which is both the
//! `ETag` and the index's `?hash=`. A request with the current hash gets
//! `Cache-Control: public, immutable`; a stale hash is redirected (301) to the
//! current one; `If-None-Match` with the current ETag gets 304. The v3
//! documents are JSON only (kubectl asks for JSON); `/openapi/v2` is served as
//! JSON or, for kubectl's `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`,
//! as gnostic protobuf. An `Accept` naming neither gets 406.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use k1s_proto::resources;
use k1s_proto::ApiError;
use serde_json::{json, Map, Value};

use super::{full, Body};
use crate::openapi::{self, Definitions};

/// One built document.
#[derive(Debug)]
pub struct CachedDoc {
    /// The JSON bytes served.
    pub json: Bytes,
    /// Upper-case hex SHA-512 of `json`.
    pub hash: String,
}

impl CachedDoc {
    fn new(mut value: Value) -> CachedDoc {
        // Kubernetes serves its documents with sorted keys.
        value.sort_all_objects();
        CachedDoc::from_bytes(Bytes::from(value.to_string()))
    }

    fn from_bytes(json: Bytes) -> CachedDoc {
        let digest = ring::digest::digest(&ring::digest::SHA512, &json);
        let hash = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
        CachedDoc { json, hash }
    }
}

/// The media type kubectl asks `/openapi/v2` for.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The `Content-Type` kube-apiserver answers it with.
const V2_PROTOBUF_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The v3 index and the per-group/version documents.
#[derive(Debug)]
pub struct V3Docs {
    /// `/openapi/v3`.
    pub index: CachedDoc,
    /// Documents by key (`api/v1`, `apis/apps/v1`).
    pub docs: BTreeMap<String, CachedDoc>,
}

/// The v3 documents, built on first use.
pub fn v3_docs() -> &'static V3Docs {
    static DOCS: OnceLock<V3Docs> = OnceLock::new();
    DOCS.get_or_init(|| {
        // The definitions are not kept: only the documents' bytes stay in memory.
        let defs = &Definitions::generate();
        let mut docs = BTreeMap::new();
        for (group, versions) in resources::group_versions() {
            for version in versions {
                let doc = CachedDoc::new(openapi::v3::document(defs, group, version));
                docs.insert(openapi::gv_key(group, version), doc);
            }
        }
        let paths: Map<String, Value> = docs
            .iter()
            .map(|(key, doc)| {
                let url = format!("/openapi/v3/{key}?hash={}", doc.hash);
                (key.clone(), json!({"serverRelativeURL": url}))
            })
            .collect();
        V3Docs {
            index: CachedDoc::new(json!({"paths": paths})),
            docs,
        }
    })
}

/// The v2 document as JSON, built on first use.
pub fn v2_doc() -> &'static CachedDoc {
    static DOC: OnceLock<CachedDoc> = OnceLock::new();
    DOC.get_or_init(|| CachedDoc::new(openapi::v2::document(&Definitions::generate())))
}

/// The v2 document as protobuf, built on first use (from the JSON one).
pub fn v2_protobuf() -> &'static CachedDoc {
    static DOC: OnceLock<CachedDoc> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc: Value = serde_json::from_slice(&v2_doc().json).unwrap_or(Value::Null);
        CachedDoc::from_bytes(Bytes::from(openapi::protobuf::encode_document(&doc)))
    })
}

/// The media types of an `Accept` header, without parameters (`*/*` when absent).
fn accepted(headers: &HeaderMap) -> Vec<String> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or("*/*");
    accept
        .split(',')
        .map(|clause| clause.split(';').next().unwrap_or("").trim().to_string())
        .collect()
}

/// Whether an `Accept` header allows `application/json`.
fn accepts_json(headers: &HeaderMap) -> bool {
    accepted(headers)
        .iter()
        .any(|m| matches!(m.as_str(), "application/json" | "application/*" | "*/*"))
}

/// Whether `If-None-Match` names the current ETag.
fn not_modified(headers: &HeaderMap, hash: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == hash)
}

fn query_hash(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "hash")
        .map(|(_, v)| v.into_owned())
}

fn set(resp: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn status_only(code: StatusCode) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = code;
    resp
}

fn not_acceptable() -> Response<Body> {
    let mut resp = status_only(StatusCode::NOT_ACCEPTABLE);
    set(&mut resp, header::VARY, "Accept");
    resp
}

/// Serves a cached JSON document: 406, 304 or 200 with its ETag; `immutable`
/// adds the caching headers of a hashed URL.
fn serve_doc(doc: &CachedDoc, headers: &HeaderMap, immutable: bool) -> Response<Body> {
    if !accepts_json(headers) {
        return not_acceptable();
    }
    serve_as(doc, "application/json", headers, immutable)
}

fn serve_as(doc: &CachedDoc, content_type: &str, headers: &HeaderMap, immutable: bool) -> Response<Body> {
    let mut resp = if not_modified(headers, &doc.hash) {
        status_only(StatusCode::NOT_MODIFIED)
    } else {
        let mut r = Response::new(full(doc.json.clone()));
        set(&mut r, header::CONTENT_TYPE, content_type);
        r
    };
    set(&mut resp, header::ETAG, &format!("\"{}\"", doc.hash));
    set(&mut resp, header::VARY, "Accept");
    if immutable {
        set(&mut resp, header::CACHE_CONTROL, "public, immutable");
        let year = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24 * 365));
        if let Ok(expires) =
            year.and_then(|t| jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&t))
        {
            set(&mut resp, header::EXPIRES, &expires);
        }
    }
    resp
}

/// Serves `/openapi/v3` (the index) and `/openapi/v3/{api/v1|apis/g/v}`.
pub fn serve_v3(rest: &str, query: Option<&str>, headers: &HeaderMap) -> Result<Response<Body>, ApiError> {
    let want = rest.trim_matches('/');
    let docs = v3_docs();
    if want.is_empty() {
        return Ok(serve_doc(&docs.index, headers, false));
    }
    let doc = docs.docs.get(want).ok_or_else(ApiError::no_route)?;
    match query_hash(query) {
        Some(hash) if hash != doc.hash => {
            let mut resp = status_only(StatusCode::MOVED_PERMANENTLY);
            set(
                &mut resp,
                header::LOCATION,
                &format!("/openapi/v3/{want}?hash={}", doc.hash),
            );
            Ok(resp)
        }
        Some(_) => Ok(serve_doc(doc, headers, true)),
        None => Ok(serve_doc(doc, headers, false)),
    }
}

/// Serves `/openapi/v2` as JSON or gnostic protobuf, as `Accept` asks.
pub fn serve_v2(headers: &HeaderMap) -> Response<Body> {
    for media in accepted(headers) {
        match media.as_str() {
            "application/json" | "application/*" | "*/*" => {
                return serve_as(v2_doc(), "application/json", headers, false)
            }
            V2_PROTOBUF | V2_PROTOBUF_CONTENT_TYPE => {
                return serve_as(v2_protobuf(), V2_PROTOBUF_CONTENT_TYPE, headers, false)
            }
            _ => {}
        }
    }
    not_acceptable()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    async fn body(resp: Response<Body>) -> Value {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn index_lists_hashed_urls_that_serve_immutable_documents() {
        let index = body(serve_v3("", None, &HeaderMap::new()).unwrap()).await;
        let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap();
        let (path, query) = url.split_once('?').unwrap();
        let hash = query.strip_prefix("hash=").unwrap();
        assert_eq!(hash.len(), 128);
        assert!(hash.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        let rest = path.strip_prefix("/openapi/v3").unwrap();
        let resp = serve_v3(rest, Some(query), &HeaderMap::new()).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, immutable");
        assert!(resp.headers().contains_key(header::EXPIRES));
        assert_eq!(resp.headers()[header::ETAG], format!("\"{hash}\"").as_str());
        let doc = body(resp).await;
        assert!(doc["components"]["schemas"]
            .get("io.k8s.api.apps.v1.Deployment")
            .is_some());
    }

    #[test]
    fn etag_stale_hash_and_accept() {
        let docs = v3_docs();
        let hash = &docs.docs["api/v1"].hash;
        let cached = headers(&[(header::IF_NONE_MATCH, &format!("\"{hash}\""))]);
        assert_eq!(
            serve_v3("api/v1", None, &cached).unwrap().status(),
            StatusCode::NOT_MODIFIED
        );
        let stale = serve_v3("api/v1", Some("hash=ABC"), &HeaderMap::new()).unwrap();
        assert_eq!(stale.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            stale.headers()[header::LOCATION],
            format!("/openapi/v3/api/v1?hash={hash}").as_str()
        );
        assert!(serve_v3("apis/nope/v1", None, &HeaderMap::new()).is_err());
        let pb = headers(&[(header::ACCEPT, V2_PROTOBUF)]);
        let resp = serve_v2(&pb);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], V2_PROTOBUF_CONTENT_TYPE);
        let yaml = headers(&[(header::ACCEPT, "application/yaml")]);
        assert_eq!(serve_v2(&yaml).status(), StatusCode::NOT_ACCEPTABLE);
        assert_eq!(
            serve_v3("api/v1", None, &yaml).unwrap().status(),
            StatusCode::NOT_ACCEPTABLE
        );
        let json = headers(&[(header::ACCEPT, "application/json, */*")]);
        assert_eq!(serve_v2(&json).status(), StatusCode::OK);
    }
}
