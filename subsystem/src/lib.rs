//! The validation host, the candidate-validation subsystem and the `pvf-node` binary.
//!
//! This crate is everything on the node's side of the process boundary. It never links
//! wasmtime: untrusted code is compiled and run only in the worker binaries of `pvf-workers`,
//! which this crate finds, spawns, talks to over a Unix socket and classifies the answers of.
//! A bug in the engine can then at worst take down a worker, never the node.
//!
//! - [`host`]: the validation host: worker discovery and spawning, the prepare and execute
//!   queues and pools, the persistent artifact cache, retries, and the classification of
//!   every outcome into a verdict.
//! - [`candidate_backing`]: the orchestra subsystem that validates collations and seconds
//!   the valid ones.
//! - [`candidate_validation`]: the orchestra subsystem that checks candidates around the
//!   host (PoV, code and commitment hashes) and answers pre-checks; and the dummy for collators.
//! - [`runtime_api`]: a stand-in for the relay chain's runtime API (code by hash, executor
//!   parameters).
//! - [`overseer`]: the orchestra overseer that connects them with a workload driver.
//! - [`rpc`]: the JSON-RPC server of `pvf-node serve`, which talks to the overseer.
//! - [`workload`]: the workloads `pvf-node run` feeds through the overseer.
//! - [`cli`]: the `pvf-node` command line.

pub mod candidate_backing;
pub mod candidate_validation;
pub mod cli;
pub mod host;
pub mod overseer;
pub mod rpc;
pub mod runtime_api;
pub mod workload;
