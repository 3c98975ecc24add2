//! The PVF workers: the only place where untrusted Wasm is compiled and run.
//!
//! The node never links a Wasm engine. It spawns two binaries built from this crate,
//! `pvf-prepare-worker` and `pvf-execute-worker`, talks to them over a Unix socket
//! ([`pvf_messages::protocol`]) and lets them do the dangerous work. Each worker runs every
//! job in a fresh child process ([`job`]) so that a job cannot leave state behind for the
//! next one, and so that the worker can measure the job's CPU time and see how it died.
//!
//! - [`engine`]: the one deterministic wasmtime configuration shared by both roles.
//! - [`prevalidate`]: decompressing the code as stored on chain and parsing it with the
//!   reference's module parser.
//! - [`prepare`]: the reference's module transformations (logical stack limit, memory), and
//!   compiling into an artifact.
//! - [`execute`]: loading an artifact and running `validate_block`.
//! - [`host_functions`]: what a PVF may import from the host (the reference's sp-io sets),
//!   and [`externalities`]: the storage-less environment they run in.
//! - [`pvf_log`]: where a PVF's log lines go (bounded, escaped).
//! - [`alloc_tracker`]: the global allocator that enforces the preparation memory limit.
//! - [`job`]: forking, timing and reaping one job process.
//! - [`worker`]: the worker binaries' main loop.

pub mod alloc_tracker;
pub mod engine;
pub mod execute;
pub mod externalities;
pub mod host_functions;
pub mod job;
pub mod prepare;
pub mod prevalidate;
pub mod pvf_log;
pub mod sandbox;
pub mod worker;
