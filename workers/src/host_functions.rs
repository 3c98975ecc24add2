//! The functions a PVF may import from the host, linked the way the reference links them.
//!
//! The functions themselves are not written here: they are the reference's own, from the
//! crates it uses (`sp-io`'s misc, crypto, hashing, allocator, logging and trie sets, plus
//! `sp-crypto-ec-utils`' RFC 163 set when the executor parameters enable it). Each comes as
//! an `sp_wasm_interface::Function` that takes its arguments as plain values and reaches the
//! PVF's memory and heap through a [`FunctionContext`]; this module supplies that context for
//! a wasmtime store of ours, so hashing, signature checks, trie roots, the allocator and the
//! rest behave byte for byte as on a Polkadot validator.
//!
//! Linking follows `sc-executor-wasmtime`'s `prepare_imports`: imports must come from `env`
//! and be functions (anything else fails runtime construction); an import the host does not
//! provide is linked to a stub that traps when called, so a PVF that merely declares one still
//! works; a host function that fails or panics traps the PVF with the reference's message.

use pvf_messages::ExecutorParams;
use sc_allocator::FreeingBumpHeapAllocator;
use sp_wasm_interface::{
    Function, FunctionContext, HostFunctions, Pointer, Value, ValueType, WordSize,
};
use std::{collections::HashMap, sync::OnceLock};
use wasmtime::{
    AsContext, AsContextMut, Caller, ExternType, FuncType, Linker, Memory, Module, Val, ValType,
};

/// The reference's PVF host functions (`HostFunctions` in `polkadot-node-core-pvf-common`).
type PvfHostFunctions = (
    sp_io::misc::HostFunctions,
    sp_io::crypto::HostFunctions,
    sp_io::hashing::HostFunctions,
    sp_io::allocator::HostFunctions,
    sp_io::logging::HostFunctions,
    sp_io::trie::HostFunctions,
);

/// The above plus the elliptic-curve functions of RFC 163 (`EnabledHostFunction(EccRfc163)`).
type PvfHostFunctionsWithEcc = (PvfHostFunctions, sp_crypto_ec_utils::HostFunctionsRfc163);

/// The host functions linked under `params`, in the reference's registration order (the
/// first of two functions with one name wins).
pub fn for_params(params: &ExecutorParams) -> &'static [&'static dyn Function] {
    static PLAIN: OnceLock<Vec<&'static dyn Function>> = OnceLock::new();
    static WITH_ECC: OnceLock<Vec<&'static dyn Function>> = OnceLock::new();
    if params.ecc_host_functions() {
        WITH_ECC.get_or_init(PvfHostFunctionsWithEcc::host_functions)
    } else {
        PLAIN.get_or_init(PvfHostFunctions::host_functions)
    }
}

/// Per-instance state held by the wasmtime store.
pub struct StoreData {
    /// The PVF's linear memory, once instantiated.
    pub memory: Option<Memory>,
    /// The heap allocator, set for the duration of the call into `validate_block`.
    pub allocator: Option<FreeingBumpHeapAllocator>,
    /// The message of a panic the runtime announced before trapping.
    pub panic_message: Option<String>,
    /// The memory ceiling in bytes, and what the allocator sees as the maximum pages.
    pub limits: MemoryLimits,
    /// Set when the operating system refused a memory growth that the ceiling allowed: a
    /// local fault, which must not become a verdict.
    pub growth_refused: Option<String>,
}

impl StoreData {
    /// Fresh state with a memory ceiling of `max_pages` Wasm pages.
    pub fn new(max_pages: u32) -> Self {
        Self {
            memory: None,
            allocator: None,
            panic_message: None,
            limits: MemoryLimits { max_pages },
            growth_refused: None,
        }
    }
}

/// The memory ceiling, enforced as a store limit at instantiation and on every growth (the
/// reference's `StoreLimits` with `memory_size`); tables and instances keep wasmtime's
/// defaults, as there.
#[derive(Clone, Copy, Debug)]
pub struct MemoryLimits {
    /// Largest linear memory, in 64 KiB pages.
    pub max_pages: u32,
}

/// Size of a Wasm page.
pub const WASM_PAGE_SIZE: usize = 64 * 1024;

impl wasmtime::ResourceLimiter for StoreData {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= (self.limits.max_pages as usize).saturating_mul(WASM_PAGE_SIZE))
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // The ceiling allowed it and the machine did not: stop the PVF instead of letting it
        // see -1, which an honest validator with more memory would not have answered.
        self.growth_refused = Some(format!("{error:#}"));
        Err(error)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// The PVF's memory as `sc-allocator` sees it.
pub struct AllocatorMemory<'a, C> {
    /// The linear memory.
    pub memory: Memory,
    /// The store it lives in.
    pub ctx: &'a mut C,
}

impl<C: AsContextMut<Data = StoreData>> sc_allocator::Memory for AllocatorMemory<'_, C> {
    fn with_access_mut<R>(&mut self, run: impl FnOnce(&mut [u8]) -> R) -> R {
        run(self.memory.data_mut(&mut *self.ctx))
    }

    fn with_access<R>(&self, run: impl FnOnce(&[u8]) -> R) -> R {
        run(self.memory.data(&*self.ctx))
    }

    fn grow(&mut self, additional: u32) -> Result<(), ()> {
        self.memory
            .grow(&mut *self.ctx, u64::from(additional))
            .map(drop)
            .map_err(drop)
    }

    fn pages(&self) -> u32 {
        self.memory.size(&*self.ctx) as u32
    }

    fn max_pages(&self) -> Option<u32> {
        Some(self.ctx.as_context().data().limits.max_pages)
    }
}

/// Reads `dest.len()` bytes at `address`, bounds-checked.
pub fn read_memory_into(
    ctx: impl AsContext<Data = StoreData>,
    address: u32,
    dest: &mut [u8],
) -> Result<(), String> {
    let ctx = ctx.as_context();
    let memory = ctx.data().memory.ok_or("the PVF has no memory")?;
    let data = memory.data(&ctx);
    let range = checked_range(address as usize, dest.len(), data.len())
        .ok_or("memory read is out of bounds")?;
    dest.copy_from_slice(&data[range]);
    Ok(())
}

/// Writes `data` at `address`, bounds-checked.
pub fn write_memory(
    mut ctx: impl AsContextMut<Data = StoreData>,
    address: u32,
    data: &[u8],
) -> Result<(), String> {
    let memory = ctx
        .as_context()
        .data()
        .memory
        .ok_or("the PVF has no memory")?;
    let bytes = memory.data_mut(&mut ctx);
    let range = checked_range(address as usize, data.len(), bytes.len())
        .ok_or("memory write is out of bounds")?;
    bytes[range].copy_from_slice(data);
    Ok(())
}

fn checked_range(offset: usize, len: usize, max: usize) -> Option<std::ops::Range<usize>> {
    let end = offset.checked_add(len)?;
    (end <= max).then_some(offset..end)
}

/// Allocates `size` bytes on the PVF's heap.
pub fn allocate(
    mut ctx: impl AsContextMut<Data = StoreData>,
    size: WordSize,
) -> Result<Pointer<u8>, String> {
    with_allocator(&mut ctx, |allocator, mut memory| {
        allocator.allocate(&mut memory, size)
    })
}

fn with_allocator<C: AsContextMut<Data = StoreData>, R>(
    ctx: &mut C,
    f: impl FnOnce(
        &mut FreeingBumpHeapAllocator,
        AllocatorMemory<'_, C>,
    ) -> Result<R, sc_allocator::Error>,
) -> Result<R, String> {
    let mut context = ctx.as_context_mut();
    let data = context.data_mut();
    let memory = data.memory.ok_or("the PVF has no memory")?;
    let mut allocator = data
        .allocator
        .take()
        .ok_or("the allocator is only available during a call")?;
    let result = f(&mut allocator, AllocatorMemory { memory, ctx });
    ctx.as_context_mut().data_mut().allocator = Some(allocator);
    result.map_err(|e| e.to_string())
}

/// The [`FunctionContext`] host functions run with: the calling instance's memory and heap.
struct HostContext<'a, 'b> {
    caller: &'a mut Caller<'b, StoreData>,
}

impl FunctionContext for HostContext<'_, '_> {
    fn read_memory_into(
        &mut self,
        address: Pointer<u8>,
        dest: &mut [u8],
    ) -> sp_wasm_interface::Result<()> {
        read_memory_into(&*self.caller, u32::from(address), dest)
    }

    fn write_memory(&mut self, address: Pointer<u8>, data: &[u8]) -> sp_wasm_interface::Result<()> {
        write_memory(&mut *self.caller, u32::from(address), data)
    }

    fn allocate_memory(&mut self, size: WordSize) -> sp_wasm_interface::Result<Pointer<u8>> {
        allocate(&mut *self.caller, size)
    }

    fn deallocate_memory(&mut self, ptr: Pointer<u8>) -> sp_wasm_interface::Result<()> {
        with_allocator(self.caller, |allocator, mut memory| {
            allocator.deallocate(&mut memory, ptr)
        })
    }

    fn register_panic_error_message(&mut self, message: &str) {
        self.caller.data_mut().panic_message = Some(message.to_owned());
    }
}

/// Why the imports of a module cannot be linked: a runtime-construction failure, as in the
/// reference (where it is not a verdict on its own).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// An import from a module other than `env`.
    #[error("host doesn't provide any imports from non-env module: {0}:{1}")]
    NonEnvImport(String, String),
    /// An import that is not a function (memories are turned into exports before compiling).
    #[error("host doesn't provide any non function imports: {0}:{1}")]
    NonFunctionImport(String, String),
    /// wasmtime refused a definition.
    #[error("failed to register host function '{0}' with the WASM linker: {1}")]
    Define(String, String),
}

/// Defines every import of `module` in `linker`: the host functions linked under `params`,
/// and trapping stubs for the rest.
pub fn link(
    linker: &mut Linker<StoreData>,
    module: &Module,
    params: &ExecutorParams,
) -> Result<(), LinkError> {
    let mut pending: HashMap<String, FuncType> = HashMap::new();
    for import in module.imports() {
        if import.module() != "env" {
            return Err(LinkError::NonEnvImport(
                import.module().into(),
                import.name().into(),
            ));
        }
        match import.ty() {
            ExternType::Func(ty) => {
                pending.insert(import.name().to_owned(), ty);
            }
            _ => {
                return Err(LinkError::NonFunctionImport(
                    import.module().into(),
                    import.name().into(),
                ));
            }
        }
    }
    let engine = module.engine();
    for &function in for_params(params) {
        if pending.remove(function.name()).is_none() {
            continue;
        }
        let ty = func_type(engine, &function.signature());
        linker
            .func_new(
                "env",
                function.name(),
                ty,
                move |mut caller, args, results| call(function, &mut caller, args, results),
            )
            .map_err(|e| LinkError::Define(function.name().into(), format!("{e:#}")))?;
    }
    for (name, ty) in pending {
        let message = format!("call to a missing function env:{name}");
        linker
            .func_new("env", &name, ty, move |_, _, _| {
                Err(wasmtime::Error::msg(message.clone()))
            })
            .map_err(|e| LinkError::Define(name.clone(), format!("{e:#}")))?;
    }
    Ok(())
}

/// Calls one host function. A failure or a panic traps the PVF, with the reference's message.
fn call(
    function: &'static dyn Function,
    caller: &mut Caller<'_, StoreData>,
    args: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let mut values = args.iter().map(to_value);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        function.execute(&mut HostContext { caller }, &mut values)
    }));
    match outcome {
        Ok(Ok(value)) => {
            if let (Some(value), Some(slot)) = (value, results.first_mut()) {
                *slot = to_val(value);
            }
            Ok(())
        }
        Ok(Err(message)) => Err(wasmtime::Error::msg(message)),
        Err(panic) => Err(wasmtime::Error::msg(match panic_text(&*panic) {
            Some(text) => format!("host code panicked while being called by the runtime: {text}"),
            None => "host code panicked while being called by the runtime".to_owned(),
        })),
    }
}

fn func_type(engine: &wasmtime::Engine, signature: &sp_wasm_interface::Signature) -> FuncType {
    let ty = |t: &ValueType| match t {
        ValueType::I32 => ValType::I32,
        ValueType::I64 => ValType::I64,
        ValueType::F32 => ValType::F32,
        ValueType::F64 => ValType::F64,
    };
    FuncType::new(
        engine,
        signature.args.iter().map(ty),
        signature.return_value.iter().map(ty),
    )
}

fn to_value(val: &Val) -> Value {
    match val {
        Val::I32(v) => Value::I32(*v),
        Val::I64(v) => Value::I64(*v),
        Val::F32(v) => Value::F32(*v),
        Val::F64(v) => Value::F64(*v),
        // Only number types reach a host function: the module parser accepts MVP only.
        other => unreachable!("a host function received a non-number value: {other:?}"),
    }
}

fn to_val(value: Value) -> Val {
    match value {
        Value::I32(v) => Val::I32(v),
        Value::I64(v) => Val::I64(v),
        Value::F32(v) => Val::F32(v),
        Value::F64(v) => Val::F64(v),
    }
}

/// The text of a panic payload, when it is one.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> Option<String> {
    panic.downcast_ref::<String>().cloned().or_else(|| {
        panic
            .downcast_ref::<&'static str>()
            .map(|s| (*s).to_owned())
    })
}
