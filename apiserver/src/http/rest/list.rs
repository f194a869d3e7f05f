//! `GET` of a collection: list with label and field selectors and
//! `limit`/`continue` pagination; and the selection filter watch shares.

use base64::Engine;
use k1s_proto::fields::FieldSelector;
use k1s_proto::meta::ObjectMeta;
use k1s_proto::selector::LabelSelector;
use k1s_proto::{ApiError, ResourceInfo};
use serde_json::{json, Value};

use super::{namespace_of, to_response};
use crate::api::Api;
use crate::http::query::Query;
use crate::http::route::ResourcePath;
use crate::store::ListOptions;

/// Which objects a list or watch selects.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    info: Option<&'static ResourceInfo>,
    labels: LabelSelector,
    fields: FieldSelector,
    name: Option<String>,
}

impl Selection {
    /// Reads the selectors of a request (400 when malformed or unsupported).
    pub fn from_query(info: &'static ResourceInfo, query: &Query) -> Result<Selection, ApiError> {
        let labels = match &query.label_selector {
            Some(s) => LabelSelector::parse(s).map_err(ApiError::bad_request)?,
            None => LabelSelector::default(),
        };
        let fields = match &query.field_selector {
            Some(s) => {
                let f = FieldSelector::parse(s).map_err(ApiError::bad_request)?;
                f.validate_for(info).map_err(ApiError::bad_request)?;
                f
            }
            None => FieldSelector::default(),
        };
        Ok(Selection {
            info: Some(info),
            labels,
            fields,
            name: None,
        })
    }

    /// Restricts the selection to one object name (watch on an object path).
    pub fn with_name(mut self, name: &str) -> Selection {
        self.name = Some(name.to_string());
        self
    }

    /// Whether an object (in the request's version) is selected.
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(n) = &self.name {
            if obj.name() != Some(n.as_str()) {
                return false;
            }
        }
        let fields = match self.info {
            Some(info) => self.fields.matches_for(info, obj),
            None => self.fields.matches(obj),
        };
        self.labels.matches(obj.labels()) && fields
    }

    /// Whether everything is selected.
    pub fn is_everything(&self) -> bool {
        self.name.is_none() && self.labels.is_empty() && self.fields.is_empty()
    }
}

/// The store key prefix of a collection path.
pub fn prefix_of(path: &ResourcePath) -> String {
    path.info.storage_prefix_in(namespace_of(path))
}

fn encode_continue(revision: u64, after: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": after});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(token: &str, prefix: &str) -> Result<String, ApiError> {
    let invalid = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| invalid("malformed token"))?;
    if v["v"] != "meta.k8s.io/v1" {
        return Err(invalid("server does not recognize this encoded version"));
    }
    let start = v["start"].as_str().ok_or_else(|| invalid("malformed token"))?;
    if start.contains("..") || start.starts_with('/') {
        return Err(invalid("path traversal attempt"));
    }
    Ok(format!("{prefix}{start}"))
}

/// Lists a collection as a `…List` object in the request's version.
pub fn list(api: &Api, path: &ResourcePath, query: &Query) -> Result<Value, ApiError> {
    let info = path.info;
    check_resource_version(api, query)?;
    let selection = Selection::from_query(info, query)?;
    let prefix = prefix_of(path);
    let limit = query.limit.filter(|l| *l > 0);
    let mut start_after = match &query.continue_token {
        Some(t) => Some(decode_continue(t, &prefix)?),
        None => None,
    };
    let mut items = Vec::new();
    let mut revision = None;
    let mut continue_after = None;
    let mut remaining = None;
    // Fill the page from store chunks, skipping what the selectors reject.
    loop {
        let want = limit.map(|l| l - items.len());
        let chunk = api
            .store
            .list(
                &prefix,
                &ListOptions {
                    start_after: start_after.clone(),
                    limit: want,
                },
            )
            .map_err(ApiError::internal)?;
        revision.get_or_insert(chunk.revision);
        for item in chunk.items {
            let obj = to_response(info, item);
            if selection.matches(&obj) {
                items.push(strip_type(obj));
            }
        }
        match chunk.continue_after {
            Some(after) if limit.is_some_and(|l| items.len() < l) => start_after = Some(after),
            Some(after) => {
                continue_after = Some(after);
                remaining = chunk.remaining.filter(|_| selection.is_everything());
                break;
            }
            None => break,
        }
    }
    let revision = revision.unwrap_or_else(|| api.store.current_revision());
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(after) = continue_after {
        let rel = after.strip_prefix(&prefix).unwrap_or(&after);
        metadata["continue"] = json!(encode_continue(revision, rel));
        if let Some(r) = remaining {
            metadata["remainingItemCount"] = json!(r);
        }
    }
    Ok(json!({
        "kind": info.list_kind(),
        "apiVersion": info.api_version(),
        "metadata": metadata,
        "items": items,
    }))
}

/// Checks `resourceVersion`/`resourceVersionMatch` of a list. Lists are served
/// at the latest revision, which satisfies "any" (`0`) and `NotOlderThan`;
/// an `Exact` older revision is not kept as a snapshot, so it is answered
/// 410 Expired and the client lists again, as for a compacted revision.
fn check_resource_version(api: &Api, query: &Query) -> Result<(), ApiError> {
    let rv = query.resource_version.as_deref();
    let parsed = match rv {
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid value for resourceVersion: {s:?}: expected a number"))
        })?),
        None => None,
    };
    let current = api.store.current_revision();
    match (query.resource_version_match.as_deref(), parsed) {
        (None, _) => {}
        (Some(_), None) => {
            return Err(ApiError::new(
                422,
                "Invalid",
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
            ))
        }
        (Some(_), Some(_)) if query.continue_token.is_some() => {
            return Err(ApiError::new(
                422,
                "Invalid",
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided",
            ))
        }
        (Some("NotOlderThan"), _) => {}
        (Some("Exact"), Some(0)) => return Err(ApiError::new(
            422,
            "Invalid",
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        )),
        (Some("Exact"), Some(r)) if r != current => {
            return Err(ApiError::expired(r, api.store.oldest_revision().max(current)));
        }
        (Some("Exact"), Some(_)) => {}
        (Some(other), _) => {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                ),
            ))
        }
    }
    if let Some(r) = parsed {
        if r > current {
            return Err(ApiError::timeout(format!(
                "Too large resource version: {r}, current: {current}"
            )));
        }
    }
    Ok(())
}

/// List items carry no apiVersion/kind in Kubernetes' JSON.
pub fn strip_type(mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.shift_remove("apiVersion");
        m.shift_remove("kind");
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_type_keeps_field_order() {
        let obj = serde_json::json!({"kind": "Pod", "apiVersion": "v1", "metadata": {}, "spec": {}, "status": {}});
        let keys: Vec<String> = strip_type(obj)
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["metadata", "spec", "status"]);
    }

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, "default/web");
        assert_eq!(
            decode_continue(&t, "/registry/core/pods/").unwrap(),
            "/registry/core/pods/default/web"
        );
        assert_eq!(decode_continue("!!!", "/p/").unwrap_err().code, 400);
        let evil = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"v": "meta.k8s.io/v1", "rv": 1, "start": "../x"}).to_string());
        assert_eq!(decode_continue(&evil, "/p/").unwrap_err().code, 400);
    }
}
