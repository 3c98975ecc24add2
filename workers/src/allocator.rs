//! The host-side allocator behind `ext_allocator_malloc_version_1` / `free`.
//!
//! Substrate-built PVFs do not carry their own allocator: they ask the host, which manages
//! the linear memory above `__heap_base`. This is a freeing bump allocator: power-of-two
//! size classes from 8 bytes to 32 MiB, an 8-byte header before every block, a free list
//! per class and a bump pointer for fresh blocks. It is deterministic (the same calls give
//! the same pointers on every machine) and robust against a PVF that scribbles over its
//! headers: every read is bounds-checked and a bad header is an error, never a host panic.

/// Smallest block, in bytes.
const MIN_BLOCK: u32 = 8;
/// Number of size classes: 8 B (order 0) up to 32 MiB (order 22).
const ORDERS: usize = 23;
/// Bytes of header before each block.
const HEADER: u32 = 8;
/// Header flag of an allocated block (the low byte holds the order).
const OCCUPIED: u64 = 1 << 32;
/// Wasm page size.
const PAGE: u64 = 64 * 1024;

/// Why an allocator call failed; each is a deterministic fault of the PVF.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// More than the largest size class was requested.
    #[error("allocation of {0} bytes exceeds the 32 MiB maximum")]
    TooLarge(u32),
    /// The heap cannot grow any further.
    #[error("the allocator is out of memory")]
    OutOfMemory,
    /// `free` was called with a pointer that is not an allocated block.
    #[error("invalid free of pointer {0:#x}")]
    InvalidFree(u32),
    /// A header or free-list link in linear memory was corrupted.
    #[error("allocator metadata in linear memory is corrupted")]
    Corrupted,
}

/// Linear memory as the allocator needs it.
pub trait Heap {
    /// The memory's current bytes.
    fn bytes(&mut self) -> &mut [u8];
    /// Grows the memory to at least `len` bytes; false when the limit forbids it.
    fn grow_to(&mut self, len: u64) -> bool;
}

/// The allocator's state; lives in the store, outside linear memory.
#[derive(Debug, Clone)]
pub struct FreeingBumpAllocator {
    bump: u32,
    free_lists: [Option<u32>; ORDERS],
}

impl FreeingBumpAllocator {
    /// An empty heap starting at `heap_base` (rounded up to 8 bytes).
    pub fn new(heap_base: u32) -> Self {
        Self {
            bump: heap_base.next_multiple_of(8),
            free_lists: [None; ORDERS],
        }
    }

    /// Allocates `size` bytes; returns the block's address (8-byte aligned).
    pub fn alloc(&mut self, heap: &mut dyn Heap, size: u32) -> Result<u32, AllocError> {
        let block = size
            .max(MIN_BLOCK)
            .checked_next_power_of_two()
            .ok_or(AllocError::TooLarge(size))?;
        let order = (block.trailing_zeros() - MIN_BLOCK.trailing_zeros()) as usize;
        if order >= ORDERS {
            return Err(AllocError::TooLarge(size));
        }
        let header = match self.free_lists[order] {
            Some(header) => {
                let link = read_u64(heap.bytes(), header)?;
                if link & OCCUPIED != 0 {
                    return Err(AllocError::Corrupted);
                }
                self.free_lists[order] = decode_link(link);
                header
            }
            None => {
                let header = self.bump;
                let end = header as u64 + HEADER as u64 + block as u64;
                if end > u32::MAX as u64 {
                    return Err(AllocError::OutOfMemory);
                }
                if (heap.bytes().len() as u64) < end {
                    let grow_to = end.next_multiple_of(PAGE);
                    if !heap.grow_to(grow_to) {
                        return Err(AllocError::OutOfMemory);
                    }
                }
                self.bump = end as u32;
                header
            }
        };
        write_u64(heap.bytes(), header, OCCUPIED | order as u64)?;
        Ok(header + HEADER)
    }

    /// Frees the block at `ptr`.
    pub fn free(&mut self, heap: &mut dyn Heap, ptr: u32) -> Result<(), AllocError> {
        let header = ptr
            .checked_sub(HEADER)
            .ok_or(AllocError::InvalidFree(ptr))?;
        let value = read_u64(heap.bytes(), header).map_err(|_| AllocError::InvalidFree(ptr))?;
        let order = (value & 0xff) as usize;
        if value & OCCUPIED == 0 || order >= ORDERS || value >> 33 != 0 || value & 0xffff_ff00 != 0
        {
            return Err(AllocError::InvalidFree(ptr));
        }
        write_u64(heap.bytes(), header, encode_link(self.free_lists[order]))?;
        self.free_lists[order] = Some(header);
        Ok(())
    }
}

fn encode_link(next: Option<u32>) -> u64 {
    next.map_or(0, |n| n as u64 + 1)
}

fn decode_link(link: u64) -> Option<u32> {
    (link != 0).then(|| (link - 1) as u32)
}

fn read_u64(bytes: &[u8], at: u32) -> Result<u64, AllocError> {
    let at = at as usize;
    let slice = bytes.get(at..at + 8).ok_or(AllocError::Corrupted)?;
    Ok(u64::from_le_bytes(slice.try_into().expect("8 bytes")))
}

fn write_u64(bytes: &mut [u8], at: u32, value: u64) -> Result<(), AllocError> {
    let at = at as usize;
    bytes
        .get_mut(at..at + 8)
        .ok_or(AllocError::Corrupted)?
        .copy_from_slice(&value.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct VecHeap {
        bytes: Vec<u8>,
        limit: u64,
    }

    impl Heap for VecHeap {
        fn bytes(&mut self) -> &mut [u8] {
            &mut self.bytes
        }
        fn grow_to(&mut self, len: u64) -> bool {
            if len > self.limit {
                return false;
            }
            self.bytes.resize(len as usize, 0);
            true
        }
    }

    fn heap(pages: u64, limit_pages: u64) -> VecHeap {
        VecHeap {
            bytes: vec![0; (pages * PAGE) as usize],
            limit: limit_pages * PAGE,
        }
    }

    #[test]
    fn allocates_aligned_and_reuses_freed_blocks() {
        let mut h = heap(1, 4);
        let mut a = FreeingBumpAllocator::new(1001);
        let p1 = a.alloc(&mut h, 10).unwrap();
        assert_eq!(p1 % 8, 0);
        assert!(p1 >= 1008 + HEADER);
        let p2 = a.alloc(&mut h, 10).unwrap();
        assert_eq!(p2, p1 + 16 + HEADER);
        a.free(&mut h, p1).unwrap();
        assert_eq!(a.alloc(&mut h, 16).unwrap(), p1);
    }

    #[test]
    fn grows_until_the_limit() {
        let mut h = heap(1, 3);
        let mut a = FreeingBumpAllocator::new(0);
        a.alloc(&mut h, 100_000).unwrap();
        assert_eq!(h.bytes.len() as u64, 3 * PAGE);
        assert_eq!(a.alloc(&mut h, 100_000), Err(AllocError::OutOfMemory));
        assert_eq!(
            a.alloc(&mut h, 64 << 20),
            Err(AllocError::TooLarge(64 << 20))
        );
    }

    #[test]
    fn bad_frees_and_corruption_are_errors() {
        let mut h = heap(1, 1);
        let mut a = FreeingBumpAllocator::new(64);
        assert_eq!(a.free(&mut h, 4), Err(AllocError::InvalidFree(4)));
        assert_eq!(
            a.free(&mut h, 1 << 20),
            Err(AllocError::InvalidFree(1 << 20))
        );
        let p = a.alloc(&mut h, 8).unwrap();
        a.free(&mut h, p).unwrap();
        assert_eq!(a.free(&mut h, p), Err(AllocError::InvalidFree(p)));
        // The PVF overwrites the free-list link with a pointer outside memory.
        h.bytes[(p - HEADER) as usize..p as usize].copy_from_slice(&(1u64 << 31).to_le_bytes());
        assert_eq!(a.alloc(&mut h, 8).unwrap(), p);
        assert_eq!(a.alloc(&mut h, 8), Err(AllocError::Corrupted));
    }
}
