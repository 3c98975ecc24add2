//! The halt PVF: `validate_block` never returns. Hosts must end it by their execution
//! timeout (and treat that as a hard timeout, not as a local fault).
#![no_std]

// Links the allocator and panic handler.
use guest_common as _;

/// The PVF entry point: spins forever. Rust guarantees `loop {}` is kept.
#[unsafe(no_mangle)]
pub extern "C" fn validate_block(_params_ptr: i32, _params_len: i32) -> i64 {
    let mut spins: u32 = 0;
    loop {
        // Data-dependent on an opaque value, so the loop body is not dead either.
        spins = core::hint::black_box(spins.wrapping_add(1));
    }
}
