//! Running `validate_block` on an artifact, as the reference runs it.
//!
//! The steps and their classification follow `sc-executor-wasmtime` and the reference's
//! execute job, so that every candidate gets the reference's verdict:
//! 1. A compressed PoV is decompressed within the PoV bomb limit; failing that is
//!    [`ExecError::PoVDecompressionFailure`] (deterministic).
//! 2. The artifact is loaded, its imports linked ([`crate::host_functions`]) and an
//!    instance created under the memory ceiling; any failure here, including a start
//!    function that traps or a module whose initial memory exceeds the ceiling, is
//!    [`ExecError::RuntimeConstruction`], which the reference does not take as a verdict
//!    on its own (it retries, re-preparing the artifact).
//! 3. The exported `memory`, the `__heap_base` global and `validate_block` are looked up,
//!    the parameters are written through the reference's allocator (`sc-allocator`), and
//!    `validate_block` runs. A missing export, a failed allocation, a trap (with the
//!    runtime's panic message when it announced one), a result outside memory or a result
//!    that does not decode is [`ExecError::Invalid`] (deterministic). As in the reference the
//!    result is decoded leniently: bytes after a well-formed `ValidationResult` are ignored.
//! 4. Everything runs inside the reference's externalities (no storage, no keystore) and a
//!    panic that escapes becomes an invalid result with the reference's `Runtime panicked`
//!    text. A memory growth the ceiling allowed but the machine refused is
//!    [`ExecError::Local`]: an honest validator with more memory would have gone on.

use crate::{
    externalities::{ValidationExternalities, with_externalities_safe},
    host_functions::{self, StoreData},
};
use parity_scale_codec::{Compact, Decode, Encode};
use pvf_messages::{
    ExecutorParams, HeadData, ValidationParams, ValidationResult,
    primitives::{COMPRESSED_BLOB_MAGIC, POV_BOMB_LIMIT},
};
use sc_allocator::FreeingBumpHeapAllocator;
use std::{borrow::Cow, path::Path};
use wasmtime::{Engine, Linker, Module, Store};

/// Largest result `validate_block` may return, in bytes. The reference reads any result that
/// lies inside memory; one this large cannot pass the relay chain's output checks (head data,
/// messages and new code each have limits far below it), so the final verdict is the same,
/// and the answer stays well inside the 64 MiB frame between worker and node.
pub const MAX_RESULT_LEN: u32 = 48 * 1024 * 1024;

/// Why an execution produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The artifact or the runtime could not be set up.
    #[error("runtime construction failed: {0}")]
    RuntimeConstruction(String),
    /// The PVF deterministically rejected the candidate.
    #[error("{0}")]
    Invalid(String),
    /// The PoV could not be decompressed within the PoV bomb limit.
    #[error("the PoV could not be decompressed: {0}")]
    PoVDecompressionFailure(String),
    /// This machine could not give the PVF what its limits allow: no verdict.
    #[error("local fault: {0}")]
    Local(String),
}

/// Loads the artifact at `path` by mapping it (not reading it into the heap).
pub fn load_artifact(engine: &Engine, path: &Path) -> Result<Module, ExecError> {
    // SAFETY: wasmtime requires that the file is an artifact produced by a compatible engine
    // and is not modified while mapped. It checks the header, engine version and
    // configuration itself; the job checks the checksum the host recorded just before
    // (see `pvf_messages::checksum`), and the artifact lives in a directory only the host writes.
    unsafe { Module::deserialize_file(engine, path) }
        .map_err(|e| ExecError::RuntimeConstruction(format!("cannot deserialize module: {e:#}")))
}

/// Loads the artifact from `file`, already open: the file whose checksum the job verified, not
/// whatever a path names by the time it is mapped.
pub fn load_open_artifact(engine: &Engine, file: std::fs::File) -> Result<Module, ExecError> {
    // SAFETY: as in `load_artifact`; the file was checksummed through this same descriptor
    // and lies in a folder only the node writes, read-only for the worker and its job.
    unsafe { Module::deserialize_open_file(engine, file) }
        .map_err(|e| ExecError::RuntimeConstruction(format!("cannot deserialize module: {e:#}")))
}

/// What becomes of the module and the store once the result is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Teardown {
    /// Drop them (unmap memory and code), as a long-lived process must.
    Drop,
    /// Forget them: for a job process about to exit, whose exit frees everything at once.
    /// Dropping would unmap each region separately, each unmap flushing the TLB of every CPU
    /// that ran one of its threads: a measurable part of a job's cost.
    Skip,
}

/// Decompresses the block data of the encoded `params` if it is an `sp-maybe-compressed-blob`,
/// within the PoV bomb limit; parameters with plain block data pass through uncopied.
pub fn decompress_pov(params: &[u8]) -> Result<Cow<'_, [u8]>, ExecError> {
    let malformed = |e: parity_scale_codec::Error| {
        ExecError::Local(format!("malformed validation parameters: {e}"))
    };
    // Peek at the block data's first bytes: it follows the parent head and its own length.
    let mut rest = params;
    HeadData::decode(&mut rest).map_err(malformed)?;
    Compact::<u32>::decode(&mut rest).map_err(malformed)?;
    if !rest.starts_with(&COMPRESSED_BLOB_MAGIC) {
        return Ok(Cow::Borrowed(params));
    }
    let mut decoded = ValidationParams::decode(&mut &params[..]).map_err(malformed)?;
    let raw = sp_maybe_compressed_blob::decompress(&decoded.block_data.0, POV_BOMB_LIMIT as usize)
        .map_err(|e| ExecError::PoVDecompressionFailure(e.to_string()))?
        .into_owned();
    decoded.block_data.0 = raw;
    Ok(Cow::Owned(decoded.encode()))
}

/// Loads the artifact at `path` and runs `validate_block` on the encoded `params`.
pub fn execute_artifact(
    engine: &Engine,
    path: &Path,
    params: &[u8],
    executor_params: &ExecutorParams,
) -> Result<ValidationResult, ExecError> {
    execute_artifact_then(engine, path, params, executor_params, Teardown::Drop)
}

/// [`execute_artifact`], with the module and store torn down as `teardown` says.
pub fn execute_artifact_then(
    engine: &Engine,
    path: &Path,
    params: &[u8],
    executor_params: &ExecutorParams,
    teardown: Teardown,
) -> Result<ValidationResult, ExecError> {
    let params = decompress_pov(params)?;
    let module = load_artifact(engine, path)?;
    run_module_then(engine, module, &params, executor_params, teardown)
}

/// [`execute_artifact_then`] for an artifact already open ([`load_open_artifact`]).
pub fn execute_open_artifact_then(
    engine: &Engine,
    file: std::fs::File,
    params: &[u8],
    executor_params: &ExecutorParams,
    teardown: Teardown,
) -> Result<ValidationResult, ExecError> {
    let params = decompress_pov(params)?;
    let module = load_open_artifact(engine, file)?;
    run_module_then(engine, module, &params, executor_params, teardown)
}

fn run_module_then(
    engine: &Engine,
    module: Module,
    params: &[u8],
    executor_params: &ExecutorParams,
    teardown: Teardown,
) -> Result<ValidationResult, ExecError> {
    let result = execute_module_then(engine, &module, params, executor_params, teardown);
    if teardown == Teardown::Skip {
        std::mem::forget(module);
    }
    result
}

/// Instantiates `module` and runs `validate_block` on the encoded `params` (block data
/// already decompressed).
pub fn execute_module(
    engine: &Engine,
    module: &Module,
    params: &[u8],
    executor_params: &ExecutorParams,
) -> Result<ValidationResult, ExecError> {
    execute_module_then(engine, module, params, executor_params, Teardown::Drop)
}

/// [`execute_module`], with the store torn down as `teardown` says.
pub fn execute_module_then(
    engine: &Engine,
    module: &Module,
    params: &[u8],
    executor_params: &ExecutorParams,
    teardown: Teardown,
) -> Result<ValidationResult, ExecError> {
    let mut store = Store::new(engine, StoreData::new(executor_params.memory_max_pages()));
    store.limiter(|data| data);
    let mut ext = ValidationExternalities::new();
    let outcome = with_externalities_safe(&mut ext, || {
        run(&mut store, engine, module, params, executor_params)
    });
    let result = match outcome {
        Ok(result) => result,
        Err(panic) => Err(ExecError::Invalid(panic)),
    };
    let result = match store.data().growth_refused.clone() {
        Some(refused) => Err(ExecError::Local(format!(
            "the system refused a memory growth within the PVF's limit: {refused}"
        ))),
        None => result,
    };
    if teardown == Teardown::Skip {
        std::mem::forget(store);
    }
    result
}

/// Instantiates `module` in `store` and calls `validate_block`.
fn run(
    store: &mut Store<StoreData>,
    engine: &Engine,
    module: &Module,
    params: &[u8],
    executor_params: &ExecutorParams,
) -> Result<ValidationResult, ExecError> {
    let mut linker = Linker::new(engine);
    host_functions::link(&mut linker, module, executor_params)
        .map_err(|e| ExecError::RuntimeConstruction(e.to_string()))?;
    let instance_pre = linker.instantiate_pre(module).map_err(|e| {
        ExecError::RuntimeConstruction(format!("cannot preinstantiate module: {e:#}"))
    })?;
    let instance = instance_pre.instantiate(&mut *store).map_err(|e| {
        ExecError::RuntimeConstruction(format!(
            "failed to instantiate a new WASM module instance: {e:#}"
        ))
    })?;
    let memory = instance
        .get_export(&mut *store, "memory")
        .ok_or_else(|| invalid("memory is not exported under `memory` name"))?
        .into_memory()
        .ok_or_else(|| invalid("the `memory` export should have memory type"))?;
    store.data_mut().memory = Some(memory);
    let heap_base = instance
        .get_export(&mut *store, "__heap_base")
        .ok_or_else(|| invalid("__heap_base is not found"))?
        .into_global()
        .ok_or_else(|| invalid("__heap_base is not a global"))?
        .get(&mut *store)
        .i32()
        .ok_or_else(|| invalid("__heap_base is not a i32"))? as u32;
    let validate_block = instance
        .get_export(&mut *store, "validate_block")
        .ok_or_else(|| invalid("Exported method validate_block is not found"))?
        .into_func()
        .ok_or_else(|| invalid("Export validate_block is not a function"))?
        .typed::<(u32, u32), u64>(&*store)
        .map_err(|_| invalid("Exported function 'validate_block' has invalid signature."))?;

    let len = u32::try_from(params.len())
        .map_err(|_| ExecError::Local("validation parameters over 4 GiB".into()))?;
    store.data_mut().allocator = Some(FreeingBumpHeapAllocator::new(heap_base));
    let params_ptr = host_functions::allocate(&mut *store, len).map_err(ExecError::Invalid)?;
    host_functions::write_memory(&mut *store, u32::from(params_ptr), params)
        .map_err(ExecError::Invalid)?;
    let packed = validate_block
        .call(&mut *store, (u32::from(params_ptr), len))
        .map_err(|trap| match store.data_mut().panic_message.take() {
            Some(message) => invalid(format!("Execution aborted due to panic: {message}")),
            None => invalid(format!(
                "Execution aborted due to trap: {}",
                one_line(&trap.root_cause().to_string())
            )),
        })?;
    store.data_mut().allocator = None;

    let (ptr, len) = (packed as u32, (packed >> 32) as u32);
    let size = memory.data_size(&*store);
    if (ptr as usize)
        .checked_add(len as usize)
        .is_none_or(|end| end > size)
    {
        return Err(invalid("Output exceeds bounds of wasm memory"));
    }
    if len > MAX_RESULT_LEN {
        return Err(invalid(format!(
            "result of {len} bytes exceeds the {MAX_RESULT_LEN}-byte limit"
        )));
    }
    let bytes = &memory.data(&*store)[ptr as usize..ptr as usize + len as usize];
    ValidationResult::decode(&mut &bytes[..])
        .map_err(|e| invalid(format!("validation result decoding failed: {e}")))
}

fn invalid(message: impl Into<String>) -> ExecError {
    ExecError::Invalid(message.into())
}

/// A trap message on one line: wasmtime's may carry a multi-line backtrace.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
