//! Test PVFs for the validation host.
//!
//! A PVF host is only as good as its answers to code it did not expect. This crate provides
//! the code to ask with:
//!
//! - **Guests** ([`adder`], [`adder_mvp`], [`halt`], [`undying`]): real Rust PVFs, our own
//!   equivalents of Polkadot's test parachains, compiled to Wasm by `build.rs` from the
//!   `guests/` workspace. They exercise the ABI as real PVFs do (imported or exported memory,
//!   the host allocator, SCALE params and results) and cover both Wasm feature sets a host
//!   must accept: Rust's default `wasm32-unknown-unknown` output (bulk memory, sign-ext, …)
//!   and MVP-only `wasm32v1-none` output.
//! - **Variants** ([`with_custom_section`]): the same PVF under another code hash.
//! - **Chain helpers** ([`adder_chain`]): host-side mirrors of the guests' state transition,
//!   to build valid candidates and predict the heads the guests must return.
//! - **Hostile modules** ([`hostile`]): small hand-written Wasm that traps, exhausts memory or
//!   stack, lies about its result, calls unknown imports, is malformed, takes long to compile,
//!   or uses features a host must refuse; each documents the answer a correct host gives.

#![warn(missing_docs)]

pub mod adder_chain;
mod guests;
pub mod hostile;
mod scale;
mod sections;

pub use guests::{adder, adder_mvp, halt, undying};
pub use sections::with_custom_section;

#[cfg(test)]
mod test_host;
#[cfg(test)]
mod test_inspect;
