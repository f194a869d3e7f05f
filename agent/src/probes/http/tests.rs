use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, ContainerPort, HTTPGetAction, HTTPHeader};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;

async fn handle(req: hyper::Request<hyper::body::Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    let (status, location, body) = match req.uri().path() {
        "/ok" => (200, None, "ok".to_string()),
        "/fail" => (500, None, "broken".to_string()),
        "/headers" => (
            200,
            None,
            format!(
                "ua={} accept={} custom={} host={} query={}",
                header("user-agent"),
                header("accept"),
                header("x-custom"),
                header("host"),
                req.uri().query().unwrap_or("-")
            ),
        ),
        "/redirect-same" => (302, Some("/ok".to_string()), String::new()),
        "/redirect-other" => (302, Some("http://other.invalid:1/ok".to_string()), "moved".to_string()),
        "/loop" => (302, Some("/loop".to_string()), String::new()),
        "/big" => (200, None, "x".repeat(20_000)),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (200, None, String::new())
        }
        _ => (404, None, String::new()),
    };
    let mut resp = hyper::Response::builder().status(status);
    if let Some(location) = location {
        resp = resp.header("location", location);
    }
    Ok(resp.body(Full::new(Bytes::from(body))).unwrap_or_default())
}

/// Serves `handle` on 127.0.0.1 (plain or TLS); returns the port.
async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = builder.serve_connection(TokioIo::new(stream), service_fn(handle)).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), service_fn(handle)).await;
                    }
                }
            });
        }
    });
    port
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn host_net() -> PodNet {
    PodNet {
        netns: "/proc/self/ns/net".into(),
        pod_ip: Some("127.0.0.1".parse().expect("ip")),
    }
}

fn action(path: &str, port: i32) -> HTTPGetAction {
    HTTPGetAction {
        path: Some(path.into()),
        port: IntOrString::Int(port),
        ..Default::default()
    }
}

async fn run(action: &HTTPGetAction) -> Outcome {
    let req = Request::from_action(action, &Container::default(), &host_net(), "probe").expect("request");
    probe(&req, &host_net(), Duration::from_secs(1)).await
}

#[tokio::test]
async fn status_codes_headers_redirects_and_body_limit() {
    let port = i32::from(serve(None).await);
    assert_eq!(run(&action("/ok", port)).await, Outcome::Success("ok".into()));
    assert_eq!(
        run(&action("/fail", port)).await,
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
    let mut with_headers = action("/headers?x=1", port);
    with_headers.http_headers = Some(vec![HTTPHeader {
        name: "X-Custom".into(),
        value: "yes".into(),
    }]);
    assert_eq!(
        run(&with_headers).await,
        Outcome::Success(format!(
            "ua=kube-probe/1.33 accept=*/* custom=yes host=127.0.0.1:{port} query=x=1"
        ))
    );
    let mut own_agent = action("/headers", port);
    own_agent.http_headers = Some(vec![
        HTTPHeader {
            name: "user-agent".into(),
            value: "mine".into(),
        },
        HTTPHeader {
            name: "Host".into(),
            value: "example.com".into(),
        },
        HTTPHeader {
            name: "Accept".into(),
            value: String::new(),
        },
    ]);
    assert_eq!(
        run(&own_agent).await,
        Outcome::Success("ua=mine accept=- custom=- host=example.com query=-".into())
    );
    assert_eq!(
        run(&action("/redirect-same", port)).await,
        Outcome::Success("ok".into())
    );
    assert_eq!(
        run(&action("/redirect-other", port)).await,
        Outcome::Warning("Probe terminated redirects, Response body: moved".into())
    );
    assert_eq!(
        run(&action("/loop", port)).await,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{port}/loop\": stopped after 10 redirects"
        ))
    );
    match run(&action("/big", port)).await {
        Outcome::Success(body) => assert_eq!(body.len(), MAX_BODY),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        run(&action("/slow", port)).await,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{port}/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ))
    );
}

#[tokio::test]
async fn refused_and_named_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let container = Container {
        name: "app".into(),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: port.into(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let act = HTTPGetAction {
        path: Some("/healthz".into()),
        port: IntOrString::String("http".into()),
        ..Default::default()
    };
    let req = Request::from_action(&act, &container, &host_net(), "probe").expect("request");
    assert_eq!(req.url(), format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(
        probe(&req, &host_net(), Duration::from_secs(1)).await,
        Outcome::Failure(format!(
            "Get \"http://127.0.0.1:{port}/healthz\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        ))
    );
}

#[tokio::test]
async fn https_without_verification() {
    let port = i32::from(serve(Some(tls_acceptor())).await);
    let mut act = action("/ok", port);
    act.scheme = Some("HTTPS".into());
    assert_eq!(run(&act).await, Outcome::Success("ok".into()));
    act.path = Some("/fail".into());
    assert_eq!(
        run(&act).await,
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
}

#[test]
fn urls_like_go() {
    let net = PodNet {
        netns: "/x".into(),
        pod_ip: Some("10.42.0.5".parse().expect("ip")),
    };
    let req =
        |path: &str| Request::from_action(&action(path, 8080), &Container::default(), &net, "probe").expect("req");
    assert_eq!(req("").url(), "http://10.42.0.5:8080");
    assert_eq!(req("").target(), "/");
    assert_eq!(req("healthz").url(), "http://10.42.0.5:8080/healthz");
    assert_eq!(req("/a?b=c").target(), "/a?b=c");
    let no_ip = PodNet {
        netns: "/x".into(),
        pod_ip: None,
    };
    let r = Request::from_action(&action("/", 80), &Container::default(), &no_ip, "lifecycle").expect("req");
    assert_eq!(r.url(), "http://127.0.0.1:80/");
    assert!(r
        .headers
        .contains(&("User-Agent".to_string(), "kube-lifecycle/1.33".to_string())));
}
