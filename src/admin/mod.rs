//! Admin HTTP (default 127.0.0.1:9153, never the DNS port): the status page `/` (`page.rs`) and
//! its `/routes`, `/status` and `/metrics` (`status.rs`), `/healthz`, `/readyz`.
//!
//! hyper's HTTP/1.1 server, kept small on purpose: GET and HEAD only, one request per
//! connection (no keep-alive), request head at most [`MAX_HEAD`] bytes and read within
//! [`HEAD_TIMEOUT`], each connection done within [`CONNECTION_TIMEOUT`], at most
//! [`MAX_CONNECTIONS`] at once (more are closed at once). Nothing here changes state.

mod page;
mod selection;
mod status;

pub use selection::Selection;

pub use status::{metrics, status};

use crate::health::prober::Prober;
use crate::state::Shared;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Connections served at once; one more is closed as soon as it is accepted.
pub const MAX_CONNECTIONS: usize = 64;
/// The request line and headers must arrive within this time.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed after this long, whatever it is doing.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest request head (hyper's buffer; a larger one gets 431).
pub const MAX_HEAD: usize = 16 * 1024;

/// At most this many registries are drawn on the status page and in `/routes` (each costs
/// hundreds of routing decisions), and listed in `/status` (a zone of a million registries
/// would be a document of hundreds of megabytes). `?registry=NAME` shows any other.
pub const PAGE_REGISTRIES: usize = 200;
/// See [`PAGE_REGISTRIES`].
pub const STATUS_REGISTRIES: usize = 1_000;
/// `/routes` without `?registry=` gives the first this many (the status page's first look; it
/// then asks for the selected registry's alone).
pub const ROUTES_REGISTRIES: usize = 20;

/// What the admin endpoints read.
#[derive(Clone)]
pub struct Admin {
    /// Configuration and health.
    pub shared: Arc<Shared>,
    /// The probes.
    pub prober: Arc<Prober>,
    /// The fleet, when this instance is in one.
    pub fleet: Option<Arc<crate::fleet::FleetState>>,
}

/// Serves admin requests until `stop` turns true.
pub async fn serve(listener: TcpListener, admin: Admin, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .keep_alive(false)
        .max_buf_size(MAX_HEAD);
    loop {
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = stop.changed() => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(target: "georoute::admin", %peer, "admin connection refused: {MAX_CONNECTIONS} open");
            continue;
        };
        let admin = admin.clone();
        let connection = http.serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper::service::service_fn(move |req| {
                let response = respond(&admin, &req);
                async move { Ok::<_, std::convert::Infallible>(response) }
            }),
        );
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
            drop(slot);
        });
    }
}

/// The response to one request.
fn respond<B>(admin: &Admin, req: &Request<B>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let json = "application/json";
    let mut response = match req.uri().path() {
        "/" => {
            let serving = admin.shared.load();
            let now = crate::clock::unix_now_ms();
            let config = &serving.snapshot.config;
            let shown = Selection::of(config, req.uri().query(), PAGE_REGISTRIES);
            let page = page::render(&serving.snapshot, &serving.health, now, &shown);
            let mut r = reply(StatusCode::OK, "text/html; charset=utf-8", page);
            // The page is self-contained: it may only talk to this server.
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                     connect-src 'self'; img-src 'self' data:",
                ),
            );
            r
        }
        "/routes" => {
            let serving = admin.shared.load();
            let now = crate::clock::unix_now_ms();
            let config = &serving.snapshot.config;
            let shown = Selection::of(config, req.uri().query(), ROUTES_REGISTRIES);
            let routes = page::routes(&serving.snapshot, &serving.health, now, &shown.shown);
            reply(StatusCode::OK, json, routes.to_string())
        }
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => reply(StatusCode::OK, "text/plain", "ready\n".into()),
        "/metrics" => reply(StatusCode::OK, "text/plain; version=0.0.4", metrics(admin)),
        "/status" => {
            let body =
                serde_json::to_string_pretty(&status(admin, req.uri().query())).unwrap_or_default();
            reply(StatusCode::OK, json, body)
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn reply(code: StatusCode, kind: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}
