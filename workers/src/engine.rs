//! The wasmtime configuration used to compile and to run PVFs.
//!
//! Validators running this host sit beside validators running the reference (polkadot-sdk's
//! PVF host, which drives wasmtime through `sc-executor-wasmtime`), so every setting that can
//! change a verdict is the reference's (`common_config` and `DEFAULT_CONFIG` in
//! `polkadot-node-core-pvf-common`):
//! - NaN canonicalisation on: float operations give the same bits everywhere.
//! - Wasm proposals off except what the executor parameters turn on (bulk memory with
//!   `WasmExtBulkMemory`). The module parser in front of the compiler
//!   ([`crate::prevalidate`]) accepts MVP only anyway, exactly as the reference's does.
//! - The native stack limit from the executor parameters (256 MiB by default). Stack depth is
//!   bounded first by the *logical* limit instrumented into the module ([`crate::prepare`]),
//!   which traps at the same depth on every machine; the native limit is only a backstop.
//! - Compilation on one thread (wasmtime is built without `parallel-compilation`), so a job's
//!   CPU time is what the compilation costs, and the job process stays single-threaded.
//! - Instances are created on demand, with copy-on-write memory images (the reference's
//!   `RecreateInstanceCopyOnWrite`); the memory ceiling is a store limit applied at
//!   instantiation ([`crate::execute`]), not part of the artifact.

use pvf_messages::ExecutorParams;
use wasmtime::{Config, Engine, OptLevel, Strategy, WasmBacktraceDetails};

/// Builds the engine configuration for the given executor parameters.
pub fn config(params: &ExecutorParams) -> Config {
    let mut c = Config::new();
    c.strategy(Strategy::Cranelift);
    c.cranelift_opt_level(OptLevel::SpeedAndSize);
    c.cranelift_nan_canonicalization(true);
    // Reference types cannot be switched off in a wasmtime built without `gc`; the module
    // parser rejects them before the compiler sees a module.
    c.wasm_simd(false);
    c.wasm_relaxed_simd(false);
    c.wasm_bulk_memory(params.wasm_bulk_memory());
    c.wasm_multi_value(false);
    c.wasm_multi_memory(false);
    c.wasm_memory64(false);
    c.wasm_tail_call(false);
    c.wasm_extended_const(false);
    c.wasm_custom_page_sizes(false);
    c.wasm_wide_arithmetic(false);
    c.wasm_backtrace_details(WasmBacktraceDetails::Disable);
    // Verdicts only need the trap; capturing frames would cost time on deep stacks.
    c.wasm_backtrace_max_frames(None);
    let stack = params.stack_native_max() as usize;
    // wasmtime checks the Wasm stack limit against the async stack size even without async
    // support; both are set to the same explicit limit.
    c.async_stack_size(stack);
    c.max_wasm_stack(stack);
    c.memory_init_cow(true);
    c.memory_guaranteed_dense_image_size(u64::MAX);
    c
}

/// Creates an engine for the given executor parameters.
pub fn engine(params: &ExecutorParams) -> Result<Engine, String> {
    Engine::new(&config(params)).map_err(|e| format!("cannot create the wasmtime engine: {e:#}"))
}

/// The description of this configuration that keys artifacts ([`pvf_messages::version::ENGINE`]).
pub fn description() -> &'static str {
    pvf_messages::version::ENGINE
}
