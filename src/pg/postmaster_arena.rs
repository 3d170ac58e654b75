//! Memory that the postmaster builds once and every backend only reads
//! (zxcvbn's dictionaries, with `managed_roles.preload_password_dictionaries`),
//! kept apart from the ordinary heap.
//!
//! Why: each connection is a fork of the postmaster and ends with an exit,
//! and both cost per page the postmaster has populated. Built on the
//! ordinary heap, the 7.7 MB of dictionaries lie among pages a backend
//! writes, so every fork copied their page tables, every backend took
//! copy-on-write faults on the shared heap pages, and every exit unmapped
//! them: about 6% of connection throughput (docs/benchmarks.md, section 8).
//! In one separate mapping, advised to use transparent huge pages, they
//! cost a few page-table entries per fork and no copy-on-write, because
//! backends never write there.
//!
//! While `build` runs, the global allocator hands out memory from that
//! mapping (bump allocation, never reused); outside it, it is the system
//! allocator. Frees of arena memory are ignored: what the build dropped
//! stays unused, and what it kept lives as long as the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Address space reserved for the arena (only what is touched is backed).
const ARENA_BYTES: usize = 64 << 20;
const HUGE_PAGE: usize = 2 << 20;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static BASE: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Allocator;

fn in_arena(ptr: *mut u8) -> bool {
    let base = BASE.load(Ordering::Relaxed);
    base != 0 && (ptr as usize) >= base && (ptr as usize) < base + ARENA_BYTES
}

/// A block of the arena, or null when it is full.
fn bump(layout: Layout) -> *mut u8 {
    let base = BASE.load(Ordering::Relaxed);
    let mut next = NEXT.load(Ordering::Relaxed);
    loop {
        let start = (next + layout.align() - 1) & !(layout.align() - 1);
        let end = start + layout.size();
        if end > base + ARENA_BYTES {
            return std::ptr::null_mut();
        }
        match NEXT.compare_exchange_weak(next, end, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return start as *mut u8,
            Err(seen) => next = seen,
        }
    }
}

// SAFETY: every block handed out is either the system allocator's, or a
// fresh, suitably aligned, never reused range of the arena mapping that
// stays mapped for the life of the process; frees are routed by address.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ACTIVE.load(Ordering::Relaxed) {
            let block = bump(layout);
            if !block.is_null() {
                return block;
            }
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ACTIVE.load(Ordering::Relaxed) {
            // Arena memory is never reused, so it is still zero from mmap.
            let block = bump(layout);
            if !block.is_null() {
                return block;
            }
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !in_arena(ptr) {
            // SAFETY: a block of the system allocator with its layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !in_arena(ptr) && !ACTIVE.load(Ordering::Relaxed) {
            // SAFETY: a block of the system allocator with its layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees the new layout is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as alloc above.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and distinct.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated by this allocator with `layout`.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

/// Runs `build` with its allocations in the arena (once, in the
/// postmaster). Without the mapping it simply runs `build`.
pub fn build<R>(build: impl FnOnce() -> R) -> R {
    if BASE.load(Ordering::Relaxed) == 0 {
        // SAFETY: a private anonymous mapping of our own; MAP_NORESERVE so
        // the untouched rest costs nothing. The hint asks for huge pages
        // (honoured when transparent_hugepage is madvise or always).
        let base = unsafe {
            let mapping = libc::mmap(
                std::ptr::null_mut(),
                ARENA_BYTES + HUGE_PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if mapping == libc::MAP_FAILED {
                return build();
            }
            // Start at a huge-page boundary so the arena can use huge pages.
            let aligned = ((mapping as usize) + HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
            libc::madvise(
                aligned as *mut libc::c_void,
                ARENA_BYTES,
                libc::MADV_HUGEPAGE,
            );
            aligned
        };
        NEXT.store(base, Ordering::Relaxed);
        BASE.store(base, Ordering::Relaxed);
    }
    ACTIVE.store(true, Ordering::Relaxed);
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            ACTIVE.store(false, Ordering::Relaxed);
        }
    }
    let _off = Off;
    build()
}

/// Bytes of the arena in use.
pub fn used() -> usize {
    NEXT.load(Ordering::Relaxed)
        .saturating_sub(BASE.load(Ordering::Relaxed))
}
