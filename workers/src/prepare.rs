//! Compiling a PVF into an artifact, as the reference does.
//!
//! The parsed module ([`crate::prevalidate`]) is transformed before it is compiled, with the
//! reference's own transformations (`sc-executor-common`, `wasm-instrument`), so the
//! compiled code behaves as the reference's:
//! - the logical stack limit is instrumented into the module: a call that would take the
//!   stack past `StackLogicalMax` values traps, at the same depth on every machine;
//! - a memory import becomes a memory defined and exported by the module, with its maximum
//!   cleared: the ceiling is applied when an instance is created ([`crate::execute`]), so
//!   one artifact serves every `MaxMemoryPages`.
//!
//! A pre-check additionally constructs the runtime from the artifact (links its imports and
//! pre-instantiates it), as the reference's pre-check does; a failure there is
//! [`PrepareError::RuntimeConstruction`], which is not a verdict.

use crate::{
    engine, host_functions,
    prevalidate::{decompress, prevalidate},
};
use pvf_messages::{ExecutorParams, PrepareError, PvfPrepKind};
use sc_executor_common::runtime_blob::RuntimeBlob;

/// Decompresses, prevalidates and compiles `code`; returns the serialized artifact.
///
/// Runs in the preparation job process; also used in-process by the benchmarks so that
/// "through the worker" and "in process" compile exactly the same way.
pub fn prepare(
    code: &[u8],
    code_bomb_limit: u32,
    params: &ExecutorParams,
    kind: PvfPrepKind,
) -> Result<Vec<u8>, PrepareError> {
    let raw = decompress(code, code_bomb_limit)?;
    let blob = prevalidate(&raw)?;
    let engine = engine::engine(params).map_err(PrepareError::RuntimeConstruction)?;
    let module = instrument(blob, params)
        .map_err(PrepareError::Preparation)?
        .serialize();
    let artifact = engine
        .precompile_module(&module)
        .map_err(|e| PrepareError::Preparation(format!("cannot precompile module: {e:#}")))?;
    if kind == PvfPrepKind::Precheck {
        construct_runtime(&engine, &artifact, params).map_err(PrepareError::RuntimeConstruction)?;
    }
    Ok(artifact)
}

/// The reference's transformations before compilation (`prepare_blob_for_compilation`).
fn instrument(blob: RuntimeBlob, params: &ExecutorParams) -> Result<RuntimeBlob, String> {
    let mut blob = blob
        .inject_stack_depth_metering(params.stack_logical_max())
        .map_err(|e| format!("{e:?}"))?;
    blob.convert_memory_import_into_export()
        .map_err(|e| format!("{e:?}"))?;
    blob.clear_memory_max_limit()
        .map_err(|e| format!("{e:?}"))?;
    Ok(blob)
}

/// Loads `artifact` and links its imports without instantiating it: what the reference's
/// pre-check calls the runtime-construction check.
fn construct_runtime(
    engine: &wasmtime::Engine,
    artifact: &[u8],
    params: &ExecutorParams,
) -> Result<(), String> {
    // SAFETY: the artifact was compiled by this engine a moment ago, in this process.
    let module = unsafe { wasmtime::Module::deserialize(engine, artifact) }
        .map_err(|e| format!("cannot deserialize module: {e:#}"))?;
    let mut linker = wasmtime::Linker::new(engine);
    host_functions::link(&mut linker, &module, params).map_err(|e| e.to_string())?;
    linker
        .instantiate_pre(&module)
        .map_err(|e| format!("cannot preinstantiate module: {e:#}"))?;
    Ok(())
}
