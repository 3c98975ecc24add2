//! The functions a PVF may import from the host, and the store state behind them.
//!
//! - `ext_allocator_malloc_version_1` / `ext_allocator_free_version_1`: the heap
//!   ([`crate::allocator`]).
//! - `ext_logging_log_version_1` / `ext_logging_max_level_version_1`: logging, bounded so a
//!   PVF cannot flood the node's logs.
//! - Any other function import is linked to a stub that traps when called, like the
//!   reference: a PVF that merely declares an import it never calls still works.

use crate::allocator::{AllocError, FreeingBumpAllocator, Heap};
use wasmtime::{AsContextMut, Caller, Extern, Linker, Memory, ResourceLimiter, StoreContextMut};

/// Log lines a single execution may emit before further ones are dropped.
const LOG_LINE_BUDGET: u32 = 32;
/// Longest log target or message kept, in bytes.
const LOG_FIELD_MAX: usize = 512;
/// Wasm page size in bytes.
const PAGE: u64 = 64 * 1024;

/// Per-execution state held by the wasmtime store.
pub struct StoreData {
    /// The PVF's linear memory, once known.
    pub memory: Option<Memory>,
    /// The heap allocator, created on first use from `__heap_base`.
    pub allocator: Option<FreeingBumpAllocator>,
    /// Largest linear memory allowed, in bytes.
    pub max_memory_bytes: u64,
    log_budget: u32,
}

impl StoreData {
    /// Fresh state with a memory cap in pages.
    pub fn new(max_memory_pages: u32) -> Self {
        Self {
            memory: None,
            allocator: None,
            max_memory_bytes: max_memory_pages as u64 * PAGE,
            log_budget: LOG_LINE_BUDGET,
        }
    }
}

impl ResourceLimiter for StoreData {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired as u64 <= self.max_memory_bytes)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// A view of the PVF's memory through a store context, for the allocator.
pub struct StoreHeap<'a, 'b> {
    /// The memory.
    pub memory: Memory,
    /// The store.
    pub ctx: &'a mut StoreContextMut<'b, StoreData>,
}

impl Heap for StoreHeap<'_, '_> {
    fn bytes(&mut self) -> &mut [u8] {
        self.memory.data_mut(&mut *self.ctx)
    }

    fn grow_to(&mut self, len: u64) -> bool {
        let current = self.memory.data_size(&*self.ctx) as u64;
        let pages = len.saturating_sub(current).div_ceil(PAGE);
        pages == 0 || self.memory.grow(&mut *self.ctx, pages).is_ok()
    }
}

/// Runs `f` with the allocator and the memory, initialising the allocator on first use.
pub fn with_allocator<R>(
    ctx: &mut StoreContextMut<'_, StoreData>,
    heap_base: impl FnOnce(&mut StoreContextMut<'_, StoreData>) -> Option<u32>,
    f: impl FnOnce(&mut FreeingBumpAllocator, &mut dyn Heap) -> Result<R, AllocError>,
) -> wasmtime::Result<R> {
    let memory = ctx
        .data()
        .memory
        .ok_or_else(|| wasmtime::format_err!("the PVF has no memory"))?;
    let mut allocator = match ctx.data_mut().allocator.take() {
        Some(a) => a,
        None => {
            let base = heap_base(ctx)
                .ok_or_else(|| wasmtime::format_err!("the PVF does not export __heap_base"))?;
            FreeingBumpAllocator::new(base)
        }
    };
    let result = f(&mut allocator, &mut StoreHeap { memory, ctx });
    ctx.data_mut().allocator = Some(allocator);
    result.map_err(wasmtime::Error::from)
}

fn caller_heap_base(caller: &mut Caller<'_, StoreData>) -> Option<u32> {
    match caller.get_export("__heap_base")? {
        Extern::Global(g) => g.get(&mut *caller).i32().map(|v| v as u32),
        _ => None,
    }
}

fn ensure_memory(caller: &mut Caller<'_, StoreData>) {
    if caller.data().memory.is_none()
        && let Some(Extern::Memory(m)) = caller.get_export("memory")
    {
        caller.data_mut().memory = Some(m);
    }
}

/// Reads a `(len << 32) | ptr` string argument, truncated to [`LOG_FIELD_MAX`] bytes.
fn read_str(caller: &mut Caller<'_, StoreData>, packed: i64) -> String {
    let (ptr, len) = (
        (packed as u64 & 0xffff_ffff) as usize,
        (packed as u64 >> 32) as usize,
    );
    let Some(memory) = caller.data().memory else {
        return String::new();
    };
    let data = memory.data(&*caller);
    let end = ptr.saturating_add(len.min(LOG_FIELD_MAX));
    data.get(ptr..end)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Adds the host functions and trapping stubs for unknown imports to `linker`.
pub fn define(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "ext_allocator_malloc_version_1",
        |mut caller: Caller<'_, StoreData>, size: i32| -> wasmtime::Result<i32> {
            ensure_memory(&mut caller);
            let base = caller_heap_base(&mut caller);
            let mut ctx = caller.as_context_mut();
            with_allocator(&mut ctx, |_| base, |a, heap| a.alloc(heap, size as u32))
                .map(|p| p as i32)
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_allocator_free_version_1",
        |mut caller: Caller<'_, StoreData>, ptr: i32| -> wasmtime::Result<()> {
            ensure_memory(&mut caller);
            let base = caller_heap_base(&mut caller);
            let mut ctx = caller.as_context_mut();
            with_allocator(&mut ctx, |_| base, |a, heap| a.free(heap, ptr as u32))
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_logging_log_version_1",
        |mut caller: Caller<'_, StoreData>, level: i32, target: i64, message: i64| {
            ensure_memory(&mut caller);
            if caller.data().log_budget == 0 {
                return;
            }
            caller.data_mut().log_budget -= 1;
            let target = read_str(&mut caller, target);
            let message = read_str(&mut caller, message);
            eprintln!("pvf log (level {level}) {target}: {message}");
        },
    )?;
    linker.func_wrap("env", "ext_logging_max_level_version_1", || -> i32 {
        // 0 = off: well-behaved runtimes then do not format log lines at all.
        0
    })?;
    Ok(())
}
