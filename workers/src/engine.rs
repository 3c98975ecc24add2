//! The wasmtime configuration used to compile and to run PVFs.
//!
//! Validators must agree on every verdict, so anything that could make two honest machines
//! disagree is turned off or pinned here:
//! - NaN canonicalisation is on: float operations produce the same bit patterns everywhere.
//! - Only deterministic proposals are enabled (see [`crate::prevalidate`] for the exact set);
//!   threads, SIMD, relaxed SIMD, memory64, multi-memory, GC and the rest are off.
//! - Compilation runs on one thread, so the job's CPU time is what it costs and the job
//!   process stays single-threaded: wasmtime is built without its `parallel-compilation`
//!   feature, and without `threads`, so neither can be switched on by accident.
//! - The native stack available to Wasm is an explicit limit from the executor parameters.
//!   The reference additionally instruments modules with a *logical* stack limit (65 536
//!   values) so that stack exhaustion does not depend on the engine version; we have not
//!   implemented that instrumentation yet: the native limit is deterministic for one build
//!   (artifacts are keyed by the build), not across engine versions.
//! - Memory is reserved up front with guard pages (no bounds-check differences), and
//!   initialised copy-on-write from the mapped artifact.

use pvf_messages::ExecutorParams;
use wasmtime::{Config, Engine, OptLevel, Strategy, WasmBacktraceDetails};

/// Builds the engine configuration for the given executor parameters.
pub fn config(params: &ExecutorParams) -> Config {
    let mut c = Config::new();
    c.strategy(Strategy::Cranelift);
    c.cranelift_opt_level(OptLevel::Speed);
    c.cranelift_nan_canonicalization(true);
    c.wasm_bulk_memory(true);
    c.wasm_multi_value(true);
    c.wasm_simd(false);
    c.wasm_relaxed_simd(false);
    c.wasm_memory64(false);
    c.wasm_multi_memory(false);
    c.wasm_tail_call(false);
    c.wasm_extended_const(false);
    c.wasm_custom_page_sizes(false);
    c.wasm_wide_arithmetic(false);
    c.wasm_backtrace_details(WasmBacktraceDetails::Disable);
    // Verdicts only need the trap code; capturing frames would cost time on deep stacks.
    c.wasm_backtrace_max_frames(None);
    let stack = params.stack_native_max() as usize;
    // wasmtime checks the Wasm stack limit against the async stack size even without async
    // support; both are set to the same explicit limit.
    c.async_stack_size(stack);
    c.max_wasm_stack(stack);
    c.memory_init_cow(true);
    c
}

/// Creates an engine for the given executor parameters.
pub fn engine(params: &ExecutorParams) -> Result<Engine, String> {
    Engine::new(&config(params)).map_err(|e| format!("{e:#}"))
}

/// The description of this configuration that keys artifacts ([`pvf_messages::version::ENGINE`]).
pub fn description() -> &'static str {
    pvf_messages::version::ENGINE
}
