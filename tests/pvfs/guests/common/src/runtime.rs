//! Wasm-only runtime pieces: the host-backed global allocator and the panic handler.

use core::alloc::{GlobalAlloc, Layout};

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    /// Allocates `size` bytes from the host's heap; returns a pointer aligned to 8, or 0.
    fn ext_allocator_malloc_version_1(size: i32) -> i32;
    /// Returns a pointer obtained from `ext_allocator_malloc_version_1` to the host.
    fn ext_allocator_free_version_1(ptr: i32);
}

/// The alignment the host allocator guarantees.
const HOST_ALIGN: usize = 8;

/// Global allocator delegating to the host. Larger alignments over-allocate and keep
/// the host pointer in the 4 bytes just below the aligned block.
struct HostAllocator;

#[global_allocator]
static ALLOCATOR: HostAllocator = HostAllocator;

fn host_malloc(size: usize) -> *mut u8 {
    let Ok(size) = i32::try_from(size) else {
        crate::trap()
    };
    // SAFETY: a host call without memory preconditions.
    let ptr = unsafe { ext_allocator_malloc_version_1(size) };
    if ptr == 0 {
        // Out of memory: the host said no.
        crate::trap();
    }
    ptr as usize as *mut u8
}

fn host_free(ptr: *mut u8) {
    // SAFETY: `ptr` came from `host_malloc`.
    unsafe { ext_allocator_free_version_1(ptr as usize as i32) }
}

unsafe impl GlobalAlloc for HostAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let align = layout.align();
        if align <= HOST_ALIGN {
            return host_malloc(layout.size());
        }
        let Some(total) = layout.size().checked_add(align) else {
            crate::trap()
        };
        let raw = host_malloc(total) as usize;
        // `raw` is 8-aligned and `align` >= 16, so `aligned - raw` is in `8..=align`.
        let aligned = (raw + align) & !(align - 1);
        // SAFETY: `aligned - 4 >= raw + 4` lies inside the block we just got.
        unsafe { ((aligned - 4) as *mut u32).write(raw as u32) };
        aligned as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() <= HOST_ALIGN {
            host_free(ptr);
        } else {
            // SAFETY: `alloc` stored the host pointer just below the aligned block.
            let raw = unsafe { ((ptr as usize - 4) as *const u32).read() };
            host_free(raw as usize as *mut u8);
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    crate::trap()
}
