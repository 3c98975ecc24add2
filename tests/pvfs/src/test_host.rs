//! A minimal wasmtime host for the crate's own tests: enough of the PVF ABI to prove the
//! guests and the hostile modules behave as documented. Not the project's host.

use crate::scale::{ValidationParams, ValidationResult};
use parity_scale_codec::{DecodeAll, Encode};
use wasmtime::{
    Caller, Config, Engine, Extern, Linker, Memory, MemoryType, Module, Store, StoreLimits,
    StoreLimitsBuilder,
};

/// Memory cap for a test run.
const MEMORY_LIMIT: usize = 64 << 20;
/// Fuel for a test run: plenty for the guests, and a stop for `halt`.
const FUEL: u64 = 200_000_000;

/// What a run ended with.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The module did not compile.
    Rejected(String),
    /// Instantiation or the call failed (trap, missing or ill-typed export, …).
    Failed(String),
    /// `validate_block` returned a result that is out of bounds or not decodable.
    BadResult(String),
    /// `validate_block` returned this result.
    Returned(ValidationResult),
}

impl Outcome {
    /// The returned result; panics on anything else.
    pub(crate) fn unwrap(self) -> ValidationResult {
        match self {
            Outcome::Returned(result) => result,
            other => panic!("expected a result, got {other:?}"),
        }
    }
}

struct HostState {
    limits: StoreLimits,
    /// Next free byte of the bump allocator.
    next: u32,
    memory: Option<Memory>,
}

fn engine() -> Engine {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .cranelift_nan_canonicalization(true);
    Engine::new(&config).expect("test engine config is valid")
}

/// Bump-allocates `size` bytes (8-aligned) from the heap, growing memory as needed;
/// 0 when memory cannot grow.
fn malloc(store: &mut impl wasmtime::AsContextMut<Data = HostState>, size: u32) -> u32 {
    let mut store = store.as_context_mut();
    let memory = store.data().memory.expect("memory is set before any call");
    let ptr = store.data().next.next_multiple_of(8);
    let Some(end) = ptr.checked_add(size) else {
        return 0;
    };
    let have = memory.data_size(&store) as u64;
    if u64::from(end) > have {
        let pages = (u64::from(end) - have).div_ceil(65536);
        if memory.grow(&mut store, pages).is_err() {
            return 0;
        }
    }
    store.data_mut().next = end;
    ptr
}

/// Compiles `wasm` and runs `validate_block(params)`.
pub(crate) fn run(wasm: &[u8], params: &ValidationParams) -> Outcome {
    let engine = engine();
    let module = match Module::new(&engine, wasm) {
        Ok(module) => module,
        Err(e) => return Outcome::Rejected(format!("{e:#}")),
    };
    let limits = StoreLimitsBuilder::new().memory_size(MEMORY_LIMIT).build();
    let mut store = Store::new(
        &engine,
        HostState {
            limits,
            next: 0,
            memory: None,
        },
    );
    store.limiter(|state| &mut state.limits);
    store.set_fuel(FUEL).expect("fuel is enabled");
    match instantiate_and_call(&mut store, &module, &params.encode()) {
        Ok(result) => result,
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}

fn instantiate_and_call(
    store: &mut Store<HostState>,
    module: &Module,
    params: &[u8],
) -> wasmtime::Result<Outcome> {
    let mut linker = Linker::new(store.engine());
    linker.func_wrap(
        "env",
        "ext_allocator_malloc_version_1",
        |mut caller: Caller<'_, HostState>, size: u32| malloc(&mut caller, size),
    )?;
    linker.func_wrap("env", "ext_allocator_free_version_1", |_: u32| {})?;
    for import in module.imports() {
        if let Some(ty) = import.ty().memory() {
            let memory = Memory::new(&mut *store, MemoryType::new(ty.minimum() as u32, None))?;
            linker.define(&mut *store, import.module(), import.name(), memory)?;
            store.data_mut().memory = Some(memory);
        }
    }
    linker.define_unknown_imports_as_traps(module)?;
    let instance = linker.instantiate(&mut *store, module)?;
    if let Some(Extern::Memory(memory)) = instance.get_export(&mut *store, "memory") {
        store.data_mut().memory = Some(memory);
    }
    let heap_base = instance
        .get_global(&mut *store, "__heap_base")
        .and_then(|g| g.get(&mut *store).i32())
        .ok_or_else(|| wasmtime::format_err!("no __heap_base"))?;
    store.data_mut().next = heap_base as u32;
    let validate = instance.get_typed_func::<(i32, i32), i64>(&mut *store, "validate_block")?;

    let ptr = malloc(&mut *store, params.len() as u32);
    if ptr == 0 {
        wasmtime::bail!("no memory for the params");
    }
    let memory = store.data().memory.expect("set above");
    memory.write(&mut *store, ptr as usize, params)?;
    let packed = validate.call(&mut *store, (ptr as i32, params.len() as i32))? as u64;

    let (ptr, len) = ((packed & 0xffff_ffff) as usize, (packed >> 32) as usize);
    let Some(bytes) = memory.data(&*store).get(ptr..ptr.saturating_add(len)) else {
        return Ok(Outcome::BadResult(format!(
            "result {ptr:#x}+{len:#x} out of bounds"
        )));
    };
    Ok(match ValidationResult::decode_all(&mut &bytes[..]) {
        Ok(result) => Outcome::Returned(result),
        Err(e) => Outcome::BadResult(format!("undecodable result: {e}")),
    })
}

/// Params with the given parent head and block data, relay parent number 7.
pub(crate) fn params(parent_head: Vec<u8>, block_data: Vec<u8>) -> ValidationParams {
    ValidationParams {
        parent_head,
        block_data,
        relay_parent_number: 7,
        relay_parent_storage_root: [0x11; 32],
    }
}
