//! Running `validate_block` on an artifact.
//!
//! Failures are split by what they say about the candidate:
//! - [`ExecError::RuntimeConstruction`]: the artifact could not be loaded or the runtime not
//!   built for a reason that may be local (stale or corrupted artifact, mmap failure). The
//!   host deletes the artifact, prepares it again and retries; never a vote on its own.
//! - [`ExecError::Invalid`]: the PVF trapped, ran out of its memory, returned a pointer
//!   outside memory or a result that does not decode. Deterministic.

use crate::host_functions::{self, StoreData};
use parity_scale_codec::DecodeAll;
use pvf_messages::{ExecutorParams, ValidationResult, executor_params::DEFAULT_EXTRA_HEAP_PAGES};
use std::path::Path;
use wasmtime::{Engine, Extern, ExternType, Instance, Linker, Memory, MemoryType, Module, Store};

/// Largest result `validate_block` may return, in bytes.
pub const MAX_RESULT_LEN: u32 = 16 * 1024 * 1024;
/// Largest linear memory of a 32-bit Wasm module, in pages.
const MAX_PAGES: u64 = 65_536;

/// Why an execution produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The artifact or the runtime could not be set up.
    #[error("runtime construction failed: {0}")]
    RuntimeConstruction(String),
    /// The PVF deterministically rejected the candidate.
    #[error("{0}")]
    Invalid(String),
}

/// Loads the artifact at `path` by mapping it (not reading it into the heap).
pub fn load_artifact(engine: &Engine, path: &Path) -> Result<Module, ExecError> {
    // SAFETY: wasmtime requires that the file is an artifact produced by a compatible engine
    // and is not modified while mapped. It checks the header, engine version and
    // configuration itself; the job checks the checksum the host recorded just before
    // (see `pvf_messages::checksum`), and the artifact lives in a directory only the host writes.
    unsafe { Module::deserialize_file(engine, path) }
        .map_err(|e| ExecError::RuntimeConstruction(format!("{e:#}")))
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
    let module = load_artifact(engine, path)?;
    let result = execute_module_then(engine, &module, params, executor_params, teardown);
    if teardown == Teardown::Skip {
        std::mem::forget(module);
    }
    result
}

/// The memory cap for `module`: `MaxMemoryPages` if set, else the module's initial pages
/// plus the default extra heap, never above what the module itself declares.
fn memory_cap(module: &Module, executor_params: &ExecutorParams) -> (Option<MemoryType>, u32) {
    let mut imported = None;
    let mut declared = None;
    for import in module.imports() {
        if let ExternType::Memory(m) = import.ty() {
            imported = Some(m.clone());
            declared = Some(m);
        }
    }
    for export in module.exports() {
        if let ExternType::Memory(m) = export.ty() {
            declared.get_or_insert(m);
        }
    }
    let (min, max) = declared.map_or((0, None), |m| (m.minimum(), m.maximum()));
    let mut cap = executor_params.max_memory_pages().map_or(
        min.saturating_add(DEFAULT_EXTRA_HEAP_PAGES as u64),
        u64::from,
    );
    if let Some(max) = max {
        cap = cap.min(max);
    }
    (imported, cap.min(MAX_PAGES) as u32)
}

fn trap_message(e: wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return format!("trap: {trap}");
    }
    let cause = e.root_cause().to_string();
    cause.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Instantiates `module` and runs `validate_block` on the encoded `params`.
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
    let (imported_memory, cap_pages) = memory_cap(module, executor_params);
    let mut store = Store::new(engine, StoreData::new(cap_pages));
    store.limiter(|data| data);
    let result = run(
        &mut store,
        engine,
        module,
        params,
        imported_memory,
        cap_pages,
    );
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
    imported_memory: Option<MemoryType>,
    cap_pages: u32,
) -> Result<ValidationResult, ExecError> {
    let mut linker = Linker::new(engine);
    host_functions::define(&mut linker)
        .map_err(|e| ExecError::RuntimeConstruction(e.to_string()))?;
    if let Some(ty) = imported_memory {
        if (cap_pages as u64) < ty.minimum() {
            return Err(ExecError::Invalid(format!(
                "the module needs {} pages of memory, more than the limit of {cap_pages}",
                ty.minimum()
            )));
        }
        let ty = MemoryType::new(ty.minimum() as u32, Some(cap_pages));
        let memory = Memory::new(&mut *store, ty)
            .map_err(|e| ExecError::RuntimeConstruction(format!("creating memory: {e:#}")))?;
        store.data_mut().memory = Some(memory);
        linker
            .define(&*store, "env", "memory", memory)
            .map_err(|e| ExecError::RuntimeConstruction(e.to_string()))?;
    }
    for export in module.exports() {
        if let wasmtime::ExternType::Memory(ty) = export.ty()
            && ty.minimum() > u64::from(cap_pages)
        {
            return Err(ExecError::Invalid(format!(
                "the module's memory needs {} pages, more than the limit of {cap_pages}",
                ty.minimum()
            )));
        }
    }
    linker
        .define_unknown_imports_as_traps(module)
        .map_err(|e| ExecError::RuntimeConstruction(e.to_string()))?;

    let instance = linker.instantiate(&mut *store, module).map_err(|e| {
        if e.is::<wasmtime::Trap>() {
            ExecError::Invalid(format!("instantiation trapped: {}", trap_message(e)))
        } else {
            ExecError::RuntimeConstruction(format!("{e:#}"))
        }
    })?;
    let memory = match store.data().memory {
        Some(m) => m,
        None => {
            let m = instance
                .get_memory(&mut *store, "memory")
                .ok_or_else(|| ExecError::Invalid("the PVF exports no memory".into()))?;
            store.data_mut().memory = Some(m);
            m
        }
    };

    let params_ptr = write_params(&mut *store, &instance, params)?;
    let validate_block = instance
        .get_typed_func::<(i32, i32), i64>(&mut *store, "validate_block")
        .map_err(|e| ExecError::Invalid(format!("validate_block: {e}")))?;
    let packed = validate_block
        .call(&mut *store, (params_ptr as i32, params.len() as i32))
        .map_err(|e| ExecError::Invalid(trap_message(e)))? as u64;

    let (ptr, len) = ((packed & 0xffff_ffff) as usize, (packed >> 32) as u32);
    if len > MAX_RESULT_LEN {
        return Err(ExecError::Invalid(format!(
            "result of {len} bytes exceeds the {MAX_RESULT_LEN}-byte limit"
        )));
    }
    let data = memory.data(&*store);
    let bytes = data
        .get(ptr..ptr + len as usize)
        .ok_or_else(|| ExecError::Invalid(format!("result {ptr:#x}+{len} lies outside memory")))?;
    ValidationResult::decode_all(&mut &bytes[..])
        .map_err(|e| ExecError::Invalid(format!("malformed ValidationResult: {e}")))
}

/// Allocates room for `params` with the host allocator and copies them in.
fn write_params(
    store: &mut Store<StoreData>,
    instance: &Instance,
    params: &[u8],
) -> Result<u32, ExecError> {
    let heap_base = match instance.get_export(&mut *store, "__heap_base") {
        Some(Extern::Global(g)) => g.get(&mut *store).i32().map(|v| v as u32),
        _ => None,
    }
    .ok_or_else(|| ExecError::Invalid("the PVF does not export an i32 __heap_base".into()))?;
    let len = u32::try_from(params.len())
        .map_err(|_| ExecError::Invalid("validation params exceed 4 GiB".into()))?;
    let mut ctx = wasmtime::AsContextMut::as_context_mut(store);
    let ptr =
        host_functions::with_allocator(&mut ctx, |_| Some(heap_base), |a, heap| a.alloc(heap, len))
            .map_err(|e| ExecError::Invalid(format!("allocating the validation params: {e}")))?;
    let memory = store.data().memory.expect("set above");
    memory
        .write(&mut *store, ptr as usize, params)
        .map_err(|e| ExecError::Invalid(format!("writing the validation params: {e}")))?;
    Ok(ptr)
}
