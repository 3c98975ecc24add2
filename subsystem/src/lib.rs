//! The validation host and (from the host issue on) the candidate-validation subsystem.
//!
//! This crate is everything on the node's side of the process boundary. It never links
//! wasmtime: untrusted code is compiled and run only in the worker binaries of `pvf-workers`,
//! which this crate finds, spawns, talks to over a Unix socket and classifies the answers of.
//! A bug in the engine can then at worst take down a worker, never the node.
//!
//! - [`host`]: worker discovery, spawning and the request/response exchange, the artifact
//!   directory, and the classification of every outcome into a verdict.
//! - [`cli`]: the `pvf-node` command line.

pub mod cli;
pub mod host;
