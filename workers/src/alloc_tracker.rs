//! A global allocator that counts the preparation job's heap and enforces its limit.
//!
//! Compiling a hostile module can make the compiler allocate without bound. Counting in the
//! allocator (as the reference does) catches that deterministically: the same module hits the
//! same limit on every machine, unlike an OS-level limit that depends on fragmentation and
//! page sizes. On overflow the job cannot allocate, so it must not try to report through
//! normal code: it exits at once with [`OOM_EXIT_CODE`], which the worker turns into
//! [`pvf_messages::PrepareError::OutOfMemory`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Exit status of a job that exceeded its memory limit.
pub const OOM_EXIT_CODE: i32 = 86;

static TRACKING: AtomicBool = AtomicBool::new(false);
static CURRENT: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);
static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// The tracking allocator; install it with `#[global_allocator]` in a worker binary.
pub struct TrackingAllocator;

/// Starts counting from zero, with an optional limit in bytes. Called in the job process.
pub fn start(limit: Option<u64>) {
    CURRENT.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    LIMIT.store(limit.unwrap_or(u64::MAX), Ordering::SeqCst);
    TRACKING.store(true, Ordering::SeqCst);
}

/// Peak bytes allocated since [`start`].
pub fn peak() -> u64 {
    PEAK.load(Ordering::SeqCst).max(0) as u64
}

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by as i64, Ordering::Relaxed) + by as i64;
    PEAK.fetch_max(now, Ordering::Relaxed);
    if now > 0 && now as u64 > LIMIT.load(Ordering::Relaxed) {
        // SAFETY: `_exit` is async-signal-safe and allocates nothing.
        unsafe { libc::_exit(OOM_EXIT_CODE) };
    }
}

fn shrank(by: usize) {
    CURRENT.fetch_sub(by as i64, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if TRACKING.load(Ordering::Relaxed) {
            grew(layout.size());
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if TRACKING.load(Ordering::Relaxed) {
            grew(layout.size());
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if TRACKING.load(Ordering::Relaxed) {
            shrank(layout.size());
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if TRACKING.load(Ordering::Relaxed) {
            if new_size > layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
