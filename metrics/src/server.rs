//! The `/metrics` HTTP endpoint.
//!
//! Built on `hyper` 1 (HTTP/1.1 server only) with `hyper-util`'s tokio glue rather than a
//! hand-written parser on `TcpListener`: hyper is the well-kept HTTP stack the reference's
//! `substrate-prometheus-endpoint` also uses, and it already gets the parts that are easy to get
//! wrong by hand right — keep-alive (Prometheus reuses connections between scrapes),
//! pipelining, request bodies we must drain, `HEAD`, malformed requests and slow clients
//! (header read timeout). With only the `server` and `http1` features it adds little to the
//! build.
//!
//! Resource bounds, since anything that can reach the port can talk to it: at most
//! [`MAX_CONNECTIONS`] connections at once (further ones wait in the kernel's backlog), headers
//! must arrive within [`HEADER_READ_TIMEOUT`], and a connection lives at most
//! [`CONNECTION_LIFETIME`]. Which address to bind (loopback by default) is the caller's choice.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::Metrics;

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Time a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest life of one (keep-alive) connection; the scraper reconnects after it.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// A bound, not yet running, `/metrics` endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    metrics: Metrics,
}

impl MetricsServer {
    /// Binds a TCP listener on `addr` (port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr)).
    pub async fn bind(metrics: Metrics, addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        Ok(MetricsServer {
            listener,
            local_addr,
            metrics,
        })
    }

    /// The address actually bound, with the real port when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `GET /metrics` (and `HEAD`) forever: 200 with the text exposition format; 405
    /// for other methods on `/metrics`; 404 for any other path. Never returns; drop or abort
    /// the future to stop serving (connections already open finish on their own).
    pub async fn run(self) {
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::debug!(target: "pvf-metrics", error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            };
            let metrics = self.metrics.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let service = service_fn(move |req| respond(metrics.clone(), req));
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(target: "pvf-metrics", %peer, error = %e, "connection error")
                    }
                    Err(_) => {
                        tracing::debug!(target: "pvf-metrics", %peer, "connection lifetime reached")
                    }
                }
            });
        }
    }

    /// Spawns [`run`](Self::run) on the current tokio runtime. Aborting the handle stops
    /// accepting connections.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }
}

/// Binds `addr` and serves the metrics on `GET /metrics` in a task of the current tokio
/// runtime. Returns the bound address (the real port when `addr` has port 0) and the task's
/// handle; aborting the handle stops the server.
pub async fn serve(metrics: Metrics, addr: SocketAddr) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let server = MetricsServer::bind(metrics, addr).await?;
    let local_addr = server.local_addr();
    Ok((local_addr, server.spawn()))
}

fn text_response(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn respond(
    metrics: Metrics,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/metrics" {
        return Ok(text_response(
            StatusCode::NOT_FOUND,
            "not found; try /metrics\n",
        ));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut response = text_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    let mut response = Response::new(Full::new(Bytes::from(metrics.render())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(prometheus::TEXT_FORMAT),
    );
    Ok(response)
}
