//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: checked
//! here, then proxied to the kubelet endpoint of the pod's node (the Node's
//! InternalIP and `status.daemonEndpoints.kubeletEndpoint.Port`) over TLS
//! with the API server's kubelet client certificate. Logs are streamed
//! through; upgrades (WebSocket, SPDY) are spliced like kube-apiserver's
//! UpgradeAwareHandler does.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper_util::rt::TokioIo;
use k1s_proto::{resources, ApiError};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::debug;
use url::form_urlencoded;

use super::get_stored;
use crate::api::Api;
use crate::http::route::ResourcePath;
use crate::http::Body;

/// The kubelet port when a Node does not say.
const DEFAULT_KUBELET_PORT: i64 = 10250;
/// How long connecting to a kubelet may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a kubelet's error body is read.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// The pod subresources served by the node.
pub fn is_node_subresource(sub: &str) -> bool {
    matches!(sub, "log" | "exec" | "attach" | "portforward")
}

/// Serves a node subresource of a pod.
pub async fn serve<B>(
    api: &Arc<Api>,
    req: Request<B>,
    path: &ResourcePath,
    sub: &str,
) -> Result<Response<Body>, ApiError>
where
    B: Send + 'static,
{
    let upgrade = sub != "log";
    match (sub, req.method()) {
        ("log", &Method::GET) => {}
        ("exec" | "attach" | "portforward", &Method::GET | &Method::POST) => {}
        _ => return Err(ApiError::method_not_allowed()),
    }
    let pod = get_stored(api, path)?;
    let pod_name = path.name.clone().unwrap_or_default();
    let namespace = path.namespace.clone().unwrap_or_default();
    let query: Vec<(String, String)> = form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());

    let kubelet_path = if sub == "portforward" {
        format!("/portForward/{}/{}", enc(&namespace), enc(&pod_name))
    } else {
        let container = pick_container(&pod, &pod_name, get("container"))?;
        let verb = match sub {
            "log" => "containerLogs",
            "exec" => "exec",
            _ => "attach",
        };
        format!("/{verb}/{}/{}/{}", enc(&namespace), enc(&pod_name), enc(&container))
    };
    let query = kubelet_query(sub, &query, &pod_name)?;
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if node_name.is_empty() {
        if !upgrade {
            // A pod not yet on a node has no logs: an empty answer.
            return Ok(Response::new(crate::http::full(Bytes::new())));
        }
        return Err(ApiError::bad_request(format!(
            "pod {pod_name} does not have a host assigned"
        )));
    }
    let (host, port) = kubelet_address(api, &node_name)?;
    let uri = if query.is_empty() {
        kubelet_path
    } else {
        format!("{kubelet_path}?{query}")
    };
    if upgrade {
        proxy_upgrade(api, req, &host, port, &uri).await
    } else {
        proxy_log(api, &host, port, &uri, &pod_name).await
    }
}

/// The kubelet's query for a node subresource request (options checked as the API server does).
fn kubelet_query(sub: &str, query: &[(String, String)], pod_name: &str) -> Result<String, ApiError> {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut out = form_urlencoded::Serializer::new(String::new());
    match sub {
        "log" => {
            check_log_options(get, pod_name)?;
            for key in [
                "follow",
                "previous",
                "timestamps",
                "tailLines",
                "sinceSeconds",
                "sinceTime",
                "limitBytes",
            ] {
                if let Some(v) = get(key) {
                    out.append_pair(key, v);
                }
            }
        }
        "exec" | "attach" => {
            let flag = |k: &str| get(k).is_some_and(|v| matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True"));
            let (stdin, stdout, stderr, tty) = (flag("stdin"), flag("stdout"), flag("stderr"), flag("tty"));
            if !stdin && !stdout && !stderr {
                return Err(ApiError::bad_request(
                    "you must specify at least 1 of stdin, stdout, stderr",
                ));
            }
            if sub == "exec" {
                let commands: Vec<&str> = query
                    .iter()
                    .filter(|(k, _)| k == "command")
                    .map(|(_, v)| v.as_str())
                    .collect();
                if commands.is_empty() {
                    return Err(ApiError::bad_request("you must specify a command"));
                }
                for c in commands {
                    out.append_pair("command", c);
                }
            }
            for (key, on) in [("input", stdin), ("output", stdout), ("error", stderr), ("tty", tty)] {
                if on {
                    out.append_pair(key, "1");
                }
            }
        }
        _ => {
            for (k, v) in query.iter().filter(|(k, _)| k == "ports") {
                out.append_pair(k, v);
            }
        }
    }
    Ok(out.finish())
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The container a request addresses: the one named, or the only one.
fn pick_container(pod: &Value, pod_name: &str, requested: Option<&str>) -> Result<String, ApiError> {
    let names = |key: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (containers, init, ephemeral) = (
        names("containers"),
        names("initContainers"),
        names("ephemeralContainers"),
    );
    match requested.filter(|c| !c.is_empty()) {
        Some(c) => {
            if containers.iter().chain(&init).chain(&ephemeral).any(|n| n == c) {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {pod_name}"
                )))
            }
        }
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            if !ephemeral.is_empty() {
                msg.push_str(&format!(
                    " or one of the ephemeral containers: [{}]",
                    ephemeral.join(" ")
                ));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

/// `PodLogOptions` validation, as the API server does it before asking the node.
fn check_log_options<'a>(get: impl Fn(&str) -> Option<&'a str>, pod_name: &str) -> Result<(), ApiError> {
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        get(k)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "couldn't parse {k} {v:?}: strconv.ParseInt: parsing {v:?}: invalid syntax"
                    ))
                })
            })
            .transpose()
    };
    let info = resources::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
    let mut errors = Vec::new();
    if let Some(n) = int("tailLines")? {
        if n < 0 {
            errors.push(k1s_proto::status::FieldError::invalid(
                "tailLines",
                n,
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(n) = int("limitBytes")? {
        if n < 1 {
            errors.push(k1s_proto::status::FieldError::invalid(
                "limitBytes",
                n,
                "must be greater than 0",
            ));
        }
    }
    let since_seconds = int("sinceSeconds")?;
    if let Some(n) = since_seconds {
        if n < 1 {
            errors.push(k1s_proto::status::FieldError::invalid(
                "sinceSeconds",
                n,
                "must be greater than 0",
            ));
        }
    }
    if since_seconds.is_some() && get("sinceTime").is_some() {
        errors.push(k1s_proto::status::FieldError::forbidden(
            "",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    if let Some(t) = get("sinceTime") {
        if t.parse::<jiff::Timestamp>().is_err() {
            return Err(ApiError::bad_request(format!(
                "parsing time {t:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {t:?} as \"2006\""
            )));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let mut err = ApiError::invalid(info, pod_name, &errors);
    err.kind = Some("PodLogOptions".into());
    Err(err)
}

/// The kubelet endpoint of a node: its InternalIP (else its first address) and port.
fn kubelet_address(api: &Api, node_name: &str) -> Result<(String, u16), ApiError> {
    let nodes = resources::find("", "v1", "nodes").ok_or_else(ApiError::no_route)?;
    let node = api
        .store
        .get(&nodes.storage_key(None, node_name))
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(nodes, node_name))?;
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let address_of = |kind: &str| {
        addresses
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|a| a.get("address").and_then(Value::as_str))
            .map(str::to_string)
    };
    let host = address_of("InternalIP")
        .or_else(|| address_of("ExternalIP"))
        .or_else(|| address_of("Hostname"))
        .ok_or_else(|| ApiError::internal(format!("no preferred addresses found; known addresses: {addresses:?}")))?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_i64)
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    let port = u16::try_from(port).map_err(|_| ApiError::internal(format!("invalid kubelet port {port}")))?;
    Ok((host, port))
}

/// A TLS connection to the kubelet with the API server's client certificate;
/// the failure worded as Go's dialer words it.
async fn connect(api: &Api, host: &str, port: u16) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let tls = api
        .kubelet_tls
        .get()
        .cloned()
        .ok_or_else(|| "no client certificate for kubelets is configured".to_string())?;
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("dial tcp {addr}: i/o timeout"))?
        .map_err(|e| format!("dial tcp {addr}: connect: {}", go_error(&e)))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))
}

/// An OS error as Go prints it (`connection refused`).
fn go_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => e.to_string(),
    }
}

/// Reads a kubelet error answer into the error Kubernetes gives for it.
async fn kubelet_error(resp: Response<hyper::body::Incoming>, pod_name: &str) -> ApiError {
    let code = resp.status().as_u16();
    let mut body = Vec::new();
    let mut incoming = resp.into_body();
    while let Some(Ok(frame)) = incoming.frame().await {
        if let Some(data) = frame.data_ref() {
            body.extend_from_slice(data);
            if body.len() >= MAX_ERROR_BODY {
                body.truncate(MAX_ERROR_BODY);
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    match code {
        400 => ApiError::bad_request(text),
        500 => ApiError::internal(text),
        404 => {
            let mut e = ApiError::new(404, "NotFound", "the server could not find the requested resource");
            e.name = Some(pod_name.to_string());
            e.kind = Some("pods/log".into());
            e
        }
        _ => ApiError::new(
            code,
            "",
            format!("the server responded with the status code {code} but did not return more information"),
        ),
    }
}

async fn proxy_log(api: &Api, host: &str, port: u16, uri: &str, pod_name: &str) -> Result<Response<Body>, ApiError> {
    // A failed dial is reported as Go's HTTP client words it, with no reason.
    let io = connect(api, host, port)
        .await
        .map_err(|e| ApiError::new(500, "", format!("Get \"https://{host}:{port}{uri}\": {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| ApiError::internal(format!("error dialing backend: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            debug!(error = %e, "kubelet log connection ended");
        }
    });
    let req = Request::get(uri)
        .header(header::HOST, format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())
        .map_err(ApiError::internal)?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| ApiError::internal(format!("error reading from the kubelet: {e}")))?;
    if !resp.status().is_success() {
        return Err(kubelet_error(resp, pod_name).await);
    }
    // The log streams through; a broken kubelet connection just ends it.
    let body = resp
        .into_body()
        .into_data_stream()
        .take_while(|r| futures::future::ready(r.is_ok()))
        .filter_map(|r| futures::future::ready(r.ok().map(|b| Ok::<_, Infallible>(http_body::Frame::data(b)))));
    let mut out = Response::new(BodyExt::boxed(StreamBody::new(body)));
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    out.headers_mut()
        .insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    Ok(out)
}

/// Headers not passed on to the kubelet.
fn skip_header(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "authorization" | "content-length" | "transfer-encoding" | "proxy-connection" | "keep-alive"
    ) || name.as_str().starts_with("impersonate-")
}

async fn proxy_upgrade<B>(
    api: &Api,
    mut req: Request<B>,
    host: &str,
    port: u16,
    uri: &str,
) -> Result<Response<Body>, ApiError>
where
    B: Send + 'static,
{
    let wants_upgrade = req
        .headers()
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    if !wants_upgrade {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let client_upgrade = hyper::upgrade::on(&mut req);
    let io = connect(api, host, port)
        .await
        .map_err(|e| ApiError::internal(format!("error dialing backend: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| ApiError::internal(format!("error dialing backend: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            debug!(error = %e, "kubelet upgrade connection ended");
        }
    });
    let mut builder = Request::builder().method(req.method().clone()).uri(uri);
    for (name, value) in req.headers() {
        if !skip_header(name) {
            builder = builder.header(name, value);
        }
    }
    let backend_req = builder
        .header(header::HOST, format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())
        .map_err(ApiError::internal)?;
    let mut resp = sender
        .send_request(backend_req)
        .await
        .map_err(|e| ApiError::internal(format!("error proxying to the kubelet: {e}")))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The kubelet's refusal goes back as it is (clients read its body).
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let mut out = Response::new(crate::http::full(bytes));
        *out.status_mut() = parts.status;
        for (name, value) in parts.headers.iter() {
            if !matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection") {
                out.headers_mut().append(name, value.clone());
            }
        }
        return Ok(out);
    }
    let backend_upgrade = hyper::upgrade::on(&mut resp);
    let mut out = Response::new(crate::http::full(Bytes::new()));
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in resp.headers() {
        if name != header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    tokio::spawn(async move {
        let (client, backend) = match tokio::join!(client_upgrade, backend_upgrade) {
            (Ok(c), Ok(b)) => (c, b),
            (c, b) => {
                debug!(client = ?c.err(), backend = ?b.err(), "upgrade proxy: an upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut backend = TokioIo::new(backend);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
            debug!(error = %e, "upgrade proxy ended");
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_choice() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(pick_container(&pod, "p", Some("b")).unwrap(), "b");
        assert_eq!(pick_container(&pod, "p", Some("i")).unwrap(), "i");
        assert_eq!(
            pick_container(&pod, "p", Some("x")).unwrap_err().message,
            "container x is not valid for pod p"
        );
        assert_eq!(
            pick_container(&pod, "p", None).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        let one = json!({"spec": {"containers": [{"name": "only"}]}});
        assert_eq!(pick_container(&one, "p", None).unwrap(), "only");
    }

    #[test]
    fn log_option_checks() {
        let q = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        };
        assert!(check_log_options(q(&[("tailLines", "5")]), "p").is_ok());
        let e = check_log_options(q(&[("tailLines", "-1")]), "p").unwrap_err();
        assert_eq!(e.code, 422);
        let e = check_log_options(q(&[("sinceSeconds", "5"), ("sinceTime", "2024-01-01T00:00:00Z")]), "p").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(check_log_options(q(&[("limitBytes", "x")]), "p").unwrap_err().code, 400);
    }
}
