//! Test PVFs for the validation host.
//!
//! A PVF host is only as good as its answers to code it did not expect. This crate provides
//! the code to ask with:
//!
//! - **Guests** ([`adder`], [`adder_mvp`], [`halt`], [`undying`]): real Rust PVFs, our own
//!   equivalents of Polkadot's test parachains, compiled to Wasm by `build.rs` from the
//!   `guests/` workspace. They exercise the ABI as real PVFs do (imported or exported memory,
//!   the host allocator, SCALE params and results) and cover both Wasm feature sets a host
//!   must handle: MVP-only `wasm32v1-none` output as real runtimes are built, and Rust's
//!   default `wasm32-unknown-unknown` output (bulk memory, sign-ext, …), which the reference
//!   rejects.
//! - **Host calls** ([`host_calls`]): PVFs whose work is calls into the host functions.
//! - **Variants** ([`with_custom_section`]): the same PVF under another code hash.
//! - **Chain helpers** ([`adder_chain`]): host-side mirrors of the guests' state transition,
//!   to build valid candidates and predict the heads the guests must return.
//! - **Hostile modules** ([`hostile`]): small hand-written Wasm that traps, exhausts memory or
//!   stack, lies about its result, calls unknown imports, is malformed, takes long to compile,
//!   or uses features a host must refuse; each documents the answer a correct host gives.

#![warn(missing_docs)]

pub mod adder_chain;
mod guests;
pub mod host_calls;
pub mod hostile;
mod scale;
mod sections;

pub use guests::{adder, adder_mvp, adder_rust_default, halt, undying};
pub use sections::with_custom_section;

#[cfg(test)]
mod test_host;
#[cfg(test)]
mod test_inspect;
