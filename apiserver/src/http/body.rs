//! Reading request bodies: the size limit and JSON/YAML decoding.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use k1s_proto::ApiError;
use serde_json::Value;

/// Largest request body accepted (Kubernetes' 3 MiB).
pub const MAX_REQUEST_BODY: usize = 3 * 1024 * 1024;

/// Largest object stored (etcd's default request limit is 1.5 MiB).
pub const MAX_OBJECT_SIZE: usize = 3 * 512 * 1024;

/// Reads a whole body, failing with 413 past [`MAX_REQUEST_BODY`].
pub async fn read_limited<B>(body: B) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!("error reading request body: {e}"))),
    }
}

/// The 413 Kubernetes returns for an oversized body.
pub fn too_large() -> ApiError {
    ApiError::too_large(format!("Request entity too large: limit is {MAX_REQUEST_BODY}"))
}

/// The media type of a body, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json` (and unspecified).
    Json,
    /// `application/yaml`.
    Yaml,
    /// `application/vnd.kubernetes.protobuf` (what kubectl's typed clients send).
    Protobuf,
}

impl MediaType {
    /// Reads a `Content-Type` for an object body; protobuf and others give 415.
    pub fn from_content_type(ct: Option<&str>) -> Result<MediaType, ApiError> {
        let essence = ct.unwrap_or("application/json").split(';').next().unwrap_or("").trim();
        match essence {
            "" | "application/json" | "*/*" => Ok(MediaType::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(MediaType::Yaml),
            "application/vnd.kubernetes.protobuf" => Ok(MediaType::Protobuf),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Decodes an object body; it must be a JSON object.
pub fn decode_object(bytes: &[u8], media: MediaType) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    let value: Value = match media {
        MediaType::Json => serde_json::from_slice(bytes).map_err(json_error)?,
        MediaType::Yaml => serde_norway::from_slice(bytes).map_err(yaml_error)?,
        MediaType::Protobuf => k1s_proto::protobuf::decode_object(bytes).map_err(ApiError::bad_request)?,
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: the body is not a JSON object",
        ));
    }
    Ok(value)
}

/// The 400 for a body that is not JSON.
pub fn json_error(e: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
}

/// The 400 for a body that is not YAML.
pub fn yaml_error(e: serde_norway::Error) -> ApiError {
    ApiError::bad_request(format!("error converting YAML to JSON: yaml: {e}"))
}

/// Decodes any JSON value (patch bodies).
pub fn decode_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("json parse error: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn limits_body_size() {
        let small = read_limited(Full::new(Bytes::from_static(b"{}"))).await.unwrap();
        assert_eq!(&small[..], b"{}");
        let big = Bytes::from(vec![b' '; MAX_REQUEST_BODY + 1]);
        let err = read_limited(Full::new(big)).await.unwrap_err();
        assert_eq!(err.code, 413);
    }

    #[test]
    fn decodes_json_and_yaml() {
        let j = decode_object(br#"{"a":1}"#, MediaType::Json).unwrap();
        assert_eq!(j["a"], 1);
        let y = decode_object(b"a: 1\nb: [x]\n", MediaType::Yaml).unwrap();
        assert_eq!(y["b"][0], "x");
        let e = decode_object(b"{not json", MediaType::Json).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("json parse error"), "{}", e.message);
        assert_eq!(decode_object(b"[1]", MediaType::Json).unwrap_err().code, 400);
        assert_eq!(decode_object(b"  ", MediaType::Json).unwrap_err().code, 400);
        assert_eq!(
            MediaType::from_content_type(Some("application/cbor")).unwrap_err().code,
            415
        );
        assert_eq!(decode_object(b"\x08\x01", MediaType::Protobuf).unwrap_err().code, 400);
        assert_eq!(
            MediaType::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
            MediaType::Json
        );
    }
}
