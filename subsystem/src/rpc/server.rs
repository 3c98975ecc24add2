//! Server set-up: one loopback port for HTTP and WebSocket (jsonrpsee), with the request
//! and response limits of docs/rpc.md.

use super::methods::{self, Node};
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use std::{
    io,
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

/// The largest request (and response) the server takes, in bytes: a PoV at Polkadot's
/// default `max_pov_size` (5 MiB) is 10 MiB of hex, with room for the rest of the candidate.
/// Larger requests are refused with -32007 (HTTP 413) before they are read.
pub const MAX_REQUEST_BYTES: u32 = 16 << 20;

/// A running RPC server.
pub struct RpcServer {
    addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcServer {
    /// Listens on `127.0.0.1:port` (0 picks a free port) and serves every method on `node`.
    pub async fn start(port: u16, node: Node) -> io::Result<Self> {
        let config = ServerConfig::builder()
            .max_request_body_size(MAX_REQUEST_BYTES)
            .max_response_body_size(MAX_REQUEST_BYTES)
            .build();
        let server = Server::builder()
            .set_config(config)
            .build(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await?;
        let addr = server.local_addr()?;
        let handle = server.start(methods::module(node));
        Ok(Self { addr, handle })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and closes idle ones; calls in flight go on and are
    /// answered.
    pub fn stop(&self) {
        // Fails only if the server already stopped, which is what is asked.
        let _ = self.handle.stop();
    }

    /// Resolves once every connection is closed after [`stop`](Self::stop), or after
    /// `limit`; `true` if they all closed.
    pub async fn stopped_within(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.handle.clone().stopped())
            .await
            .is_ok()
    }
}
