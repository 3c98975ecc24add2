//! Code shared by the guest PVFs: the global allocator backed by the host's
//! `ext_allocator_*` imports, the panic handler, the `validate_block` ABI glue and
//! the head types of the adder-style chains.
//!
//! Only what is needed for Wasm is compiled for Wasm: on other targets this crate
//! still type-checks (handy for `cargo check`), but installs no allocator or panic
//! handler.
#![no_std]

extern crate alloc;

pub mod abi;
pub mod chain;

#[cfg(target_arch = "wasm32")]
mod runtime;

/// Aborts execution with a Wasm trap, which the host reports as an invalid candidate.
#[inline(always)]
pub fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("guest trap");
}
