//! The `/metrics` endpoint answers real HTTP/1.1 requests on a port picked by the kernel.

use std::net::SocketAddr;
use std::time::Duration;

use pvf_metrics::{Flavor, Metrics, MetricsServer, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `request` on a fresh connection and reads until the server closes it.
async fn roundtrip(addr: SocketAddr, request: &str) -> String {
    tokio::time::timeout(TIMEOUT, async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        String::from_utf8(response).unwrap()
    })
    .await
    .expect("the server answered in time")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn get_metrics_returns_the_exposition_text() {
    let metrics = Metrics::new();
    let (addr, handle) = serve(metrics.clone(), loopback()).await.unwrap();
    assert_ne!(addr.port(), 0, "the real port is reported");
    assert!(addr.ip().is_loopback());

    metrics.on_worker_spawned(Flavor::Execute);
    metrics.on_cache_hit();
    let response = roundtrip(addr, &get("/metrics")).await;
    let (head, body) = response.split_once("\r\n\r\n").expect("a header block");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        body.contains("# TYPE polkadot_pvf_worker_spawned counter"),
        "{body}"
    );
    assert!(
        body.lines()
            .any(|l| l == r#"polkadot_pvf_worker_spawned{flavor="execute"} 1"#)
    );
    assert!(
        body.lines()
            .any(|l| l == "pvf_host_artifact_cache_hits_total 1")
    );

    // The endpoint reflects later events too.
    metrics.on_cache_hit();
    let response = roundtrip(addr, &get("/metrics?x=1")).await;
    assert!(
        response
            .lines()
            .any(|l| l == "pvf_host_artifact_cache_hits_total 2"),
        "{response}"
    );

    handle.abort();
}

#[tokio::test]
async fn unknown_paths_and_methods_are_refused() {
    let server = MetricsServer::bind(Metrics::new(), loopback())
        .await
        .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    let handle = server.spawn();

    for path in ["/", "/metricsx", "/metrics/", "/favicon.ico"] {
        let response = roundtrip(addr, &get(path)).await;
        assert!(
            response.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{path}: {response}"
        );
        assert!(!response.contains("polkadot_pvf"), "{path}: {response}");
    }

    let response = roundtrip(
        addr,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        response.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{response}"
    );
    assert!(
        response.to_ascii_lowercase().contains("allow: get, head"),
        "{response}"
    );

    let response = roundtrip(addr, "this is not http\r\n\r\n").await;
    assert!(
        response.is_empty() || response.starts_with("HTTP/1.1 400"),
        "{response}"
    );

    handle.abort();
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let (addr, handle) = serve(Metrics::new(), loopback()).await.unwrap();
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n{}",
        get("/metrics")
    );
    let response = roundtrip(addr, &request).await;
    assert_eq!(
        response.matches("HTTP/1.1 200 OK\r\n").count(),
        3,
        "{response}"
    );
    // HEAD carries no body: the exposition text appears twice, not three times.
    assert_eq!(
        response
            .matches("# TYPE polkadot_pvf_execute_finished counter")
            .count(),
        2
    );
    handle.abort();
}
