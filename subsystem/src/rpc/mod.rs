//! The JSON-RPC server of `pvf-node serve` (docs/rpc.md is the interface).
//!
//! The outside world — the scenario runner, an operator's script — drives a long-running node
//! over JSON-RPC 2.0 on loopback. The server is a thin door: every request becomes a message
//! to the overseer, so a request over RPC takes the same path through candidate validation
//! (or candidate backing) as one from the workload driver, and a malus node that replaces a
//! subsystem changes what the RPC answers without any change here.
//!
//! - [`server`]: listening, limits, graceful stop.
//! - [`methods`]: the handlers and the per-method, per-outcome request counter.
//! - [`encoding`]: the JSON encodings of candidates, exec kinds, leaves and answers.
//! - [`error`]: the typed errors and their codes.
//!
//! jsonrpsee answers what never reaches a handler: a request that is not JSON (-32700), an
//! unknown method (-32601), a request over [`server::MAX_REQUEST_BYTES`] (-32007, HTTP 413).
//! A client that disconnects mid-request makes jsonrpsee drop the call, which drops its
//! response channel; the subsystems then abandon the work and the call is counted as
//! `abandoned`.

pub mod encoding;
pub mod error;
pub mod methods;
pub mod server;

pub use error::{ParamError, RpcError};
pub use methods::{METHODS, Node};
pub use server::{MAX_REQUEST_BYTES, RpcServer};

const LOG_TARGET: &str = "pvf_node::rpc";
