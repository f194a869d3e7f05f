//! `httpGet` probes and hooks (`pkg/probe/http`): a GET over HTTP or HTTPS
//! (certificates not verified), the kubelet's headers, redirects followed only
//! to the same host, at most 10 KiB of the body read.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, HTTPGetAction};
use tokio::io::{AsyncRead, AsyncWrite};

use super::dial::PodNet;
use super::format::{go_quote, join_host_port};
use super::prober::{resolve_port, Outcome};
use super::KUBE_VERSION;

/// The kubelet reads at most 10 KiB of a probe's response body.
const MAX_BODY: usize = 10 * 1024;
/// Go's HTTP client gives up after this many redirects.
const MAX_REDIRECTS: usize = 10;

/// One GET as the kubelet builds it from an `HTTPGetAction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The `path` as written in the spec (may hold a query).
    pub path: String,
    /// Headers in order, `User-Agent` and `Accept` defaults applied; `Host`
    /// is kept apart.
    pub headers: Vec<(String, String)>,
    /// An explicit `Host` header from `httpHeaders`.
    pub host_header: Option<String>,
}

impl Request {
    /// The kubelet's `NewRequestForHTTPGetAction`: host defaults to the pod
    /// IP (or the pod's loopback without one), the port may be named.
    /// `purpose` is `probe` or `lifecycle` (`User-Agent: kube-<purpose>/1.33`).
    pub fn from_action(
        action: &HTTPGetAction,
        container: &Container,
        net: &PodNet,
        purpose: &str,
    ) -> Result<Request, String> {
        let scheme = action.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
        let scheme = if scheme.is_empty() { "http".to_string() } else { scheme };
        let host = action
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| net.default_host());
        let port = resolve_port(&action.port, container)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut host_header = None;
        for h in action.http_headers.iter().flatten() {
            if h.name.eq_ignore_ascii_case("host") {
                host_header.get_or_insert_with(|| h.value.clone());
            } else {
                headers.push((h.name.clone(), h.value.clone()));
            }
        }
        let has = |headers: &[(String, String)], name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !has(&headers, "User-Agent") {
            headers.push(("User-Agent".into(), format!("kube-{purpose}/{KUBE_VERSION}")));
        }
        if !has(&headers, "Accept") {
            headers.push(("Accept".into(), "*/*".into()));
        } else {
            // An Accept header overridden with an empty value is removed.
            headers.retain(|(n, v)| !(n.eq_ignore_ascii_case("Accept") && v.is_empty()));
        }
        Ok(Request {
            scheme,
            host,
            port,
            path: action.path.clone().unwrap_or_default(),
            headers,
            host_header: host_header.filter(|h| !h.is_empty()),
        })
    }

    /// The URL as Go prints it in errors (`http://10.42.0.5:8080/healthz`).
    pub fn url(&self) -> String {
        let base = format!("{}://{}", self.scheme, join_host_port(&self.host, self.port));
        let path = self.path.split('#').next().unwrap_or_default();
        if path.is_empty() {
            base
        } else if path.starts_with('/') {
            format!("{base}{path}")
        } else {
            format!("{base}/{path}")
        }
    }

    /// The request target sent on the wire (`/` for an empty path).
    fn target(&self) -> String {
        let path = self.path.split('#').next().unwrap_or_default();
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        }
    }
}

/// A response: status and up to 10 KiB of the body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: String,
}

/// The probe: 2xx healthy, 3xx healthy with a warning, others unhealthy with
/// `HTTP probe failed with statuscode: N`; transport errors and timeouts
/// unhealthy with Go's `Get "URL": …` text.
pub(crate) async fn probe(req: &Request, net: &PodNet, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, get(req, net, timeout)).await {
        Err(_) => Outcome::Failure(format!(
            "Get {}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
            go_quote(&req.url())
        )),
        Ok(Err(message)) => Outcome::Failure(message),
        Ok(Ok(resp)) if (200..300).contains(&resp.status) => Outcome::Success(resp.body),
        Ok(Ok(resp)) if (300..400).contains(&resp.status) => {
            Outcome::Warning(format!("Probe terminated redirects, Response body: {}", resp.body))
        }
        Ok(Ok(resp)) => Outcome::Failure(format!("HTTP probe failed with statuscode: {}", resp.status)),
    }
}

/// GETs `req`, following redirects to the same host name (at most 10).
/// The error is Go's `*url.Error` text.
pub(crate) async fn get(req: &Request, net: &PodNet, dial_timeout: Duration) -> Result<Response, String> {
    let first_host = req.host.clone();
    let mut current = req.clone();
    let mut hops = 0;
    loop {
        let url = current.url();
        let resp = fetch_once(&current, net, dial_timeout)
            .await
            .map_err(|e| format!("Get {}: {e}", go_quote(&url)))?;
        let (status, location) = resp;
        let Some(location) = location.filter(|_| matches!(status.status, 301 | 302 | 303 | 307 | 308)) else {
            return Ok(status);
        };
        let Some(next) = redirect(&current, &location) else {
            return Ok(status);
        };
        if !next.host.eq_ignore_ascii_case(&first_host) {
            // Not followed: the redirect itself is the answer.
            return Ok(status);
        }
        hops += 1;
        if hops >= MAX_REDIRECTS {
            return Err(format!("Get {}: stopped after 10 redirects", go_quote(&next.url())));
        }
        current = next;
    }
}

/// The request a `Location` leads to, when it parses.
fn redirect(from: &Request, location: &str) -> Option<Request> {
    let base = url::Url::parse(&from.url()).ok()?;
    let next = base.join(location).ok()?;
    let scheme = next.scheme().to_string();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = match next.host()? {
        url::Host::Domain(d) => d.to_string(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    };
    let port = next.port_or_known_default()?;
    let mut path = next.path().to_string();
    if let Some(q) = next.query() {
        path.push('?');
        path.push_str(q);
    }
    let relative = url::Url::parse(location).is_err();
    Some(Request {
        scheme,
        host,
        port,
        path,
        headers: from.headers.clone(),
        host_header: if relative { from.host_header.clone() } else { None },
    })
}

/// One request on a fresh connection: the response and its `Location`.
async fn fetch_once(req: &Request, net: &PodNet, dial_timeout: Duration) -> Result<(Response, Option<String>), String> {
    let tcp = net.connect(&req.host, req.port, dial_timeout).await?;
    let host_header = req
        .host_header
        .clone()
        .unwrap_or_else(|| join_host_port(&req.host, req.port));
    let mut builder = http::Request::builder()
        .method("GET")
        .uri(req.target())
        .header(http::header::HOST, &host_header);
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder = builder.header(http::header::CONNECTION, "close");
    let request = builder
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("net/http: invalid request: {e}"))?;
    if req.scheme == "https" {
        let server_name = rustls::pki_types::ServerName::try_from(req.host.clone())
            .map_err(|e| format!("tls: invalid server name {}: {e}", req.host))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        send(tls, request).await
    } else {
        send(tcp, request).await
    }
}

async fn send<S>(io: S, request: http::Request<Empty<Bytes>>) -> Result<(Response, Option<String>), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(hyper_error)?;
    let conn = tokio::spawn(conn);
    let _stop = AbortOnDrop(conn.abort_handle());
    let resp = sender.send_request(request).await.map_err(hyper_error)?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = resp.into_body();
    let mut data: Vec<u8> = Vec::new();
    while data.len() < MAX_BODY {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(chunk) = frame.data_ref() {
                    data.extend_from_slice(chunk);
                }
            }
            Some(Err(e)) => return Err(hyper_error(e)),
            None => break,
        }
    }
    data.truncate(MAX_BODY);
    Ok((
        Response {
            status,
            body: String::from_utf8_lossy(&data).into_owned(),
        },
        location,
    ))
}

/// hyper's errors in the words Go's client uses where they differ.
fn hyper_error(e: hyper::Error) -> String {
    if e.is_incomplete_message() || e.is_closed() {
        "EOF".to_string()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        text
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// TLS without certificate verification (`InsecureSkipVerify`), as the
/// kubelet's prober.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            k1s_apiserver::tls::insecure_client_config()
                .map(Arc::new)
                .map_err(|e| format!("tls: {e}"))
        })
        .clone()
}

#[cfg(test)]
mod tests;
