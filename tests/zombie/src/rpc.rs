//! A small JSON-RPC 2.0 client over HTTP/1.1 (hyper), and the GET that scrapes `/metrics`.
//!
//! Why not jsonrpsee's client: we need positional-params calls and one GET, both on
//! loopback; jsonrpsee's HTTP client would bring a TLS and tower stack this runner never
//! uses, and new crates into the lock file that the node's branches also edit. hyper is
//! already in the tree (the metrics server uses it), so this client adds no crate.
//! One connection per request: loopback connections are cheap, and no pool can go stale
//! when a node restarts.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// No answer in time.
    #[error("{method}: no answer within {timeout:?}")]
    Timeout {
        /// The method.
        method: String,
        /// The limit.
        timeout: Duration,
    },
    /// Connecting, sending or reading failed.
    #[error("{method}: {message}")]
    Transport {
        /// The method.
        method: String,
        /// What failed.
        message: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method}: error {code}: {message}")]
    Node {
        /// The method.
        method: String,
        /// The error code.
        code: i64,
        /// The error message.
        message: String,
    },
}

/// A client of one node's JSON-RPC endpoint.
#[derive(Debug)]
pub struct RpcClient {
    addr: SocketAddr,
    next_id: AtomicU64,
}

async fn http(addr: SocketAddr, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
    let driver = tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP request to {addr}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the answer of {addr}: {e}"))?
        .to_bytes();
    driver.abort();
    Ok((status, body))
}

impl RpcClient {
    /// A client of the endpoint at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            next_id: AtomicU64::new(1),
        }
    }

    /// The endpoint's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Calls `method` with positional `params`; its `result`, or a typed error.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let request = Request::post("/")
            .header("content-type", "application/json")
            .header("host", self.addr.to_string())
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("a well-formed request");
        let transport = |message: String| RpcError::Transport {
            method: method.to_string(),
            message,
        };
        let (status, body) = tokio::time::timeout(timeout, http(self.addr, request))
            .await
            .map_err(|_| RpcError::Timeout {
                method: method.to_string(),
                timeout,
            })?
            .map_err(transport)?;
        let answer: Value = serde_json::from_slice(&body).map_err(|e| {
            transport(format!(
                "HTTP {status}, not JSON ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })?;
        if let Some(error) = answer.get("error") {
            return Err(RpcError::Node {
                method: method.to_string(),
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        answer
            .get("result")
            .cloned()
            .ok_or_else(|| transport(format!("HTTP {status}, an answer without result: {answer}")))
    }
}

/// GETs `http://addr/metrics` and returns the body.
pub async fn scrape(addr: SocketAddr, timeout: Duration) -> Result<String, String> {
    let request = Request::get("/metrics")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .expect("a well-formed request");
    let (status, body) = tokio::time::timeout(timeout, http(addr, request))
        .await
        .map_err(|_| format!("GET {addr}/metrics: no answer within {timeout:?}"))??;
    if status != 200 {
        return Err(format!("GET {addr}/metrics: HTTP {status}"));
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server answering `body` to the first request it reads.
    async fn serve_once(body: &'static str) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(reply.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (addr, task)
    }

    #[tokio::test]
    async fn results_and_errors() {
        let (addr, req) = serve_once(r#"{"jsonrpc":"2.0","id":1,"result":"0xab"}"#).await;
        let client = RpcClient::new(addr);
        let r = client
            .call("pvf_submitCode", json!(["0x00"]), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r, json!("0xab"));
        let sent = req.await.unwrap();
        assert!(sent.starts_with("POST / HTTP/1.1"), "{sent}");
        assert!(sent.contains(r#""method":"pvf_submitCode""#), "{sent}");
        let (addr, _) = serve_once(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"unknown code hash"}}"#,
        )
        .await;
        let err = RpcClient::new(addr)
            .call("pvf_preCheck", json!(["0x00"]), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, RpcError::Node { code: -32001, .. }), "{err}");
    }

    #[tokio::test]
    async fn silence_is_a_timeout_and_refusal_a_transport_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let err = RpcClient::new(addr)
            .call("pvf_health", json!([]), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, RpcError::Timeout { .. }), "{err}");
        drop(listener);
        let err = RpcClient::new(addr)
            .call("pvf_health", json!([]), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, RpcError::Transport { .. }), "{err}");
    }
}
