//! The kubelet endpoint's routes: `containerLogs`, `exec`, `attach`,
//! `portForward` and `healthz`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::debug;

use super::lookup::{log_container_id, running_container_id, PodLookup};
use super::{Body, KubeletServer};
use crate::logs::reader::{self, LogOptions, RunningCheck};
use crate::streaming::channel::Protocol;
use crate::streaming::remotecommand::{self, AttachIo, StreamOptions};
use crate::streaming::{portforward, websocket, ExecRequest};

/// A plain-text response.
pub fn text(code: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(msg.into())).boxed());
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Query parameters; repeated keys keep every value.
struct Query(HashMap<String, Vec<String>>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Query(map)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.0.get(key).cloned().unwrap_or_default()
    }

    /// A boolean as Go's strconv.ParseBool reads it; absent is false.
    fn flag(&self, keys: &[&str]) -> Result<bool, String> {
        for key in keys {
            if let Some(v) = self.get(key) {
                return match v {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                    "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Ok(false),
                    _ => Err(format!("invalid boolean value {v:?} for {key}")),
                };
            }
        }
        Ok(false)
    }

    fn int(&self, key: &str) -> Result<Option<i64>, String> {
        self.get(key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("invalid integer value {v:?} for {key}"))
            })
            .transpose()
    }
}

/// Routes one request.
pub async fn route<B: Send + 'static>(server: &Arc<KubeletServer>, req: Request<B>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let get_or_post = req.method() == Method::GET || req.method() == Method::POST;
    match seg.as_slice() {
        ["healthz"] if req.method() == Method::GET => text(StatusCode::OK, "ok"),
        ["containerLogs", ns, pod, container] if req.method() == Method::GET => {
            container_logs(server, ns, pod, container, req.uri().query()).await
        }
        ["exec", ns, pod, container] | ["exec", ns, pod, _, container] if get_or_post => {
            let uid = if seg.len() == 5 { seg[3] } else { "" };
            exec(server, ns, pod, uid, container, req).await
        }
        ["attach", ns, pod, container] | ["attach", ns, pod, _, container] if get_or_post => {
            let uid = if seg.len() == 5 { seg[3] } else { "" };
            attach(server, ns, pod, uid, container, req).await
        }
        ["portForward", ns, pod] | ["portForward", ns, pod, _] if get_or_post => {
            let uid = seg.get(3).copied().unwrap_or_default();
            port_forward(server, ns, pod, uid, req).await
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// The pod, or the kubelet's 404.
async fn find_pod(lookup: &dyn PodLookup, ns: &str, name: &str, uid: &str) -> Result<Pod, Response<Body>> {
    match lookup.pod(ns, name).await {
        Some(pod) if uid.is_empty() || pod.metadata.uid.as_deref() == Some(uid) => Ok(pod),
        _ => Err(text(StatusCode::NOT_FOUND, "pod does not exist")),
    }
}

/// Parses the log options of a `containerLogs` query (as `PodLogOptions`).
pub fn log_options(query: Option<&str>) -> Result<(LogOptions, bool), String> {
    let q = Query::parse(query);
    let mut opts = LogOptions {
        follow: q.flag(&["follow"])?,
        timestamps: q.flag(&["timestamps"])?,
        ..Default::default()
    };
    if let Some(n) = q.int("tailLines")? {
        if n < 0 {
            return Err(format!(
                "tailLines: Invalid value: {n}: must be greater than or equal to 0"
            ));
        }
        opts.tail_lines = Some(n as u64);
    }
    if let Some(n) = q.int("limitBytes")? {
        if n < 1 {
            return Err(format!("limitBytes: Invalid value: {n}: must be greater than 0"));
        }
        opts.limit_bytes = Some(n as u64);
    }
    if let Some(secs) = q.int("sinceSeconds")? {
        if secs < 1 {
            return Err(format!("sinceSeconds: Invalid value: {secs}: must be greater than 0"));
        }
        let now = jiff::Timestamp::now();
        opts.since = Some(now.checked_sub(jiff::SignedDuration::from_secs(secs)).unwrap_or(now));
    } else if let Some(t) = q.get("sinceTime") {
        let ts: jiff::Timestamp = t.parse().map_err(|e| format!("invalid sinceTime {t:?}: {e}"))?;
        opts.since = Some(ts);
    }
    Ok((opts, q.flag(&["previous"])?))
}

async fn container_logs(
    server: &Arc<KubeletServer>,
    ns: &str,
    pod_name: &str,
    container: &str,
    query: Option<&str>,
) -> Response<Body> {
    let (opts, previous) = match log_options(query) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let lookup = server.lookup.clone();
    let pod = match find_pod(lookup.as_ref(), ns, pod_name, "").await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let id = match log_container_id(&pod, container, previous) {
        Ok(id) => id,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let Some(path) = lookup.log_path(&id).await else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("failed to get container status {id:?}: container not found"),
        );
    };
    if let Err(e) = tokio::fs::metadata(&path).await {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "failed to try resolving symlinks in path {:?}: lstat {}: {}",
                path.display().to_string(),
                path.display(),
                std::io::Error::from(e.kind()).to_string().to_lowercase()
            ),
        );
    }
    let running = running_check(lookup, id);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        if let Err(e) = reader::read_log(&path, &opts, Some(&running), &tx).await {
            debug!(error = %format!("{e:#}"), "reading a container log failed");
        }
    });
    let body =
        StreamBody::new(ReceiverStream::new(rx).map(|(_, data)| Ok::<_, Infallible>(http_body::Frame::data(data))));
    let mut resp = Response::new(BodyExt::boxed(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn running_check(lookup: Arc<dyn PodLookup>, id: String) -> RunningCheck {
    Box::new(move || {
        let lookup = lookup.clone();
        let id = id.clone();
        Box::pin(async move { lookup.is_running(&id).await })
    })
}

/// The streams a remotecommand request asks for.
fn stream_options(query: Option<&str>) -> Result<(StreamOptions, Vec<String>), String> {
    let q = Query::parse(query);
    let tty = q.flag(&["tty"])?;
    let opts = StreamOptions {
        stdin: q.flag(&["input", "stdin"])?,
        stdout: q.flag(&["output", "stdout"])?,
        stderr: q.flag(&["error", "stderr"])? && !tty,
        tty,
    };
    if !opts.stdin && !opts.stdout && !opts.stderr {
        return Err("you must specify at least 1 of stdin, stdout, stderr".into());
    }
    Ok((opts, q.all("command")))
}

/// Accepts a WebSocket remotecommand upgrade, or says why not.
#[allow(clippy::result_large_err)]
fn accept_channel_socket<B>(req: &Request<B>) -> Result<(Protocol, Response<Body>), Response<Body>> {
    if !websocket::is_websocket(req.headers()) {
        let msg = if websocket::is_spdy(req.headers()) {
            "SPDY remotecommand streams are not supported by this node; use a WebSocket (v5.channel.k8s.io)"
        } else {
            "Upgrade request required"
        };
        return Err(text(StatusCode::BAD_REQUEST, msg));
    }
    let offered = websocket::offered_protocols(req.headers());
    let Some(protocol) = Protocol::negotiate(offered.iter().map(String::as_str)) else {
        return Err(text(
            StatusCode::BAD_REQUEST,
            format!("unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [v5.channel.k8s.io v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io]"),
        ));
    };
    let chosen = if offered.is_empty() {
        None
    } else {
        Some(protocol.name())
    };
    match websocket::accept_response::<Body>(req.headers(), chosen) {
        Some(resp) => Ok((protocol, resp)),
        None => Err(text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key")),
    }
}

async fn exec<B>(
    server: &Arc<KubeletServer>,
    ns: &str,
    pod_name: &str,
    uid: &str,
    container: &str,
    req: Request<B>,
) -> Response<Body>
where
    B: Send + 'static,
{
    let (opts, command) = match stream_options(req.uri().query()) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    if command.is_empty() {
        return text(StatusCode::BAD_REQUEST, "you must specify a command");
    }
    let pod = match find_pod(server.lookup.as_ref(), ns, pod_name, uid).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let id = match running_container_id(&pod, container) {
        Ok(id) => id,
        Err(msg) => return text(StatusCode::INTERNAL_SERVER_ERROR, msg),
    };
    let (protocol, resp) = match accept_channel_socket(&req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let backend = server.exec.clone();
    tokio::spawn(async move {
        let io = match websocket::upgraded(req).await {
            Ok(io) => io,
            Err(e) => return debug!(error = %e, "exec: upgrade failed"),
        };
        let ws = websocket::server_socket(io).await;
        let session = backend
            .exec(
                &id,
                ExecRequest {
                    command,
                    tty: opts.tty,
                    stdin: opts.stdin,
                    stdout: opts.stdout,
                    stderr: opts.stderr,
                },
            )
            .await;
        remotecommand::serve_exec(ws, protocol, session).await;
    });
    resp
}

async fn attach<B>(
    server: &Arc<KubeletServer>,
    ns: &str,
    pod_name: &str,
    uid: &str,
    container: &str,
    req: Request<B>,
) -> Response<Body>
where
    B: Send + 'static,
{
    let (opts, _) = match stream_options(req.uri().query()) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let pod = match find_pod(server.lookup.as_ref(), ns, pod_name, uid).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let id = match running_container_id(&pod, container) {
        Ok(id) => id,
        Err(msg) => return text(StatusCode::INTERNAL_SERVER_ERROR, msg),
    };
    let Some(log_path) = server.lookup.log_path(&id).await else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("container not found ({container:?})"),
        );
    };
    let (protocol, resp) = match accept_channel_socket(&req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let backend = server.exec.clone();
    let lookup = server.lookup.clone();
    tokio::spawn(async move {
        let io = match websocket::upgraded(req).await {
            Ok(io) => io,
            Err(e) => return debug!(error = %e, "attach: upgrade failed"),
        };
        let ws = websocket::server_socket(io).await;
        let session = backend.attach(&id, opts.stdin, opts.tty).await.map(|s| AttachIo {
            stdin: s.stdin,
            resize: s.resize,
            log_path,
            running: running_check(lookup, id.clone()),
        });
        remotecommand::serve_attach(ws, protocol, opts, session).await;
    });
    resp
}

async fn port_forward<B>(
    server: &Arc<KubeletServer>,
    ns: &str,
    pod_name: &str,
    uid: &str,
    req: Request<B>,
) -> Response<Body>
where
    B: Send + 'static,
{
    let pod = match find_pod(server.lookup.as_ref(), ns, pod_name, uid).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
    let Some(netns) = server.lookup.netns(&pod_uid).await else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to find sandbox for pod {pod_name:?}"),
        );
    };
    let target = portforward::Target {
        namespace: ns.to_string(),
        name: pod_name.to_string(),
        uid: uid.to_string(),
        netns,
    };
    let dialer = server.dialer.clone();
    if websocket::is_websocket(req.headers()) {
        let offered = websocket::offered_protocols(req.headers());
        if !offered.iter().any(|p| p == portforward::TUNNEL_PROTOCOL) {
            return text(
                StatusCode::BAD_REQUEST,
                format!("unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [{}]", portforward::TUNNEL_PROTOCOL),
            );
        }
        let Some(resp) = websocket::accept_response::<Body>(req.headers(), Some(portforward::TUNNEL_PROTOCOL)) else {
            return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
        };
        tokio::spawn(async move {
            let io = match websocket::upgraded(req).await {
                Ok(io) => io,
                Err(e) => return debug!(error = %e, "port-forward: upgrade failed"),
            };
            let ws = websocket::server_socket(io).await;
            portforward::serve(websocket::byte_stream(ws), target, dialer).await;
        });
        return resp;
    }
    if websocket::is_spdy(req.headers()) {
        let wanted: Vec<&str> = req
            .headers()
            .get_all(websocket::STREAM_PROTOCOL_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        if !wanted.is_empty() && !wanted.contains(&portforward::PROTOCOL) {
            return text(
                StatusCode::FORBIDDEN,
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {wanted:?}, server supports [{}]",
                    portforward::PROTOCOL
                ),
            );
        }
        let resp = websocket::spdy_accept_response::<Body>(portforward::PROTOCOL);
        tokio::spawn(async move {
            match websocket::upgraded(req).await {
                Ok(io) => portforward::serve(io, target, dialer).await,
                Err(e) => debug!(error = %e, "port-forward: upgrade failed"),
            }
        });
        return resp;
    }
    text(StatusCode::BAD_REQUEST, "Upgrade request required")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_query() {
        let (o, prev) = log_options(Some("follow=true&tailLines=10&timestamps=1&limitBytes=5&previous=true")).unwrap();
        assert!(o.follow && o.timestamps && prev);
        assert_eq!(o.tail_lines, Some(10));
        assert_eq!(o.limit_bytes, Some(5));
        let (o, _) = log_options(Some("sinceTime=2024-01-01T00:00:00Z")).unwrap();
        assert_eq!(o.since, Some("2024-01-01T00:00:00Z".parse().unwrap()));
        let (o, _) = log_options(Some("sinceSeconds=60")).unwrap();
        assert!(o.since.unwrap() < jiff::Timestamp::now());
        assert!(log_options(Some("tailLines=x")).is_err());
        assert!(log_options(Some("follow=maybe")).is_err());
        assert!(log_options(Some("limitBytes=0")).is_err());
    }

    #[test]
    fn stream_query() {
        let (o, cmd) = stream_options(Some("command=sh&command=-c&command=echo%20hi&output=1&error=1")).unwrap();
        assert_eq!(cmd, ["sh", "-c", "echo hi"]);
        assert!(o.stdout && o.stderr && !o.stdin && !o.tty);
        let (o, _) = stream_options(Some("command=sh&input=1&output=1&error=1&tty=1")).unwrap();
        assert!(o.tty && !o.stderr, "no stderr with a TTY");
        assert!(stream_options(Some("command=sh")).is_err());
    }
}
