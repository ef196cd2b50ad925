//! A global allocator wrapper that counts live heap bytes and their peak.
//!
//! `usam bench memory` reports the peak of live heap bytes: on the CPU
//! backends that is every tensor, exactly, whatever the allocator keeps
//! cached (peak RSS also counts memory an allocator holds on to, which
//! makes a fast caching allocator look like a memory hog).
//!
//! ```
//! use experiments::heap::Counting;
//! use std::alloc::{GlobalAlloc, Layout, System};
//!
//! static HEAP: Counting<System> = Counting::new(System);
//! let layout = Layout::from_size_align(4096, 8).unwrap();
//! unsafe {
//!     let p = HEAP.alloc(layout);
//!     assert!(!p.is_null());
//!     assert_eq!(HEAP.live(), 4096);
//!     HEAP.dealloc(p, layout);
//! }
//! assert_eq!(HEAP.live(), 0);
//! assert_eq!(HEAP.peak(), 4096);
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Wraps an allocator `A`, counting the bytes it has handed out and not
/// yet taken back. Two relaxed atomic operations per call: invisible next
/// to a tensor operation.
#[derive(Debug)]
pub struct Counting<A> {
    inner: A,
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl<A> Counting<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        Self {
            inner,
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Bytes allocated and not yet freed.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The largest [`live`](Self::live) seen so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn grew(&self, bytes: usize) {
        let now = self.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn shrank(&self, bytes: usize) {
        self.live.fetch_sub(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `inner` with the caller's arguments;
// the counters only observe sizes.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.inner.dealloc(ptr, layout) };
        self.shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                self.grew(new_size - layout.size());
            } else {
                self.shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    #[test]
    fn realloc_and_zeroed_allocations_are_counted() {
        let heap = Counting::new(System);
        let small = Layout::from_size_align(100, 8).unwrap();
        unsafe {
            let p = heap.alloc_zeroed(small);
            assert!(!p.is_null());
            assert_eq!(heap.live(), 100);
            let q = heap.realloc(p, small, 1000);
            assert!(!q.is_null());
            assert_eq!(heap.live(), 1000);
            let big = Layout::from_size_align(1000, 8).unwrap();
            let r = heap.realloc(q, big, 10);
            assert_eq!(heap.live(), 10);
            heap.dealloc(r, Layout::from_size_align(10, 8).unwrap());
        }
        assert_eq!(heap.live(), 0);
        assert_eq!(heap.peak(), 1000);
    }
}
