//! Everything that touches PostgreSQL internals below the SQL functions and
//! the hook decisions: the C side of the hooks (`hooks.c`, built by
//! build.rs), role lookups in the shared catalogs through the syscache, and
//! the C-string helpers the hooks share.

pub mod catalog;
pub mod expiry_schedule;
pub mod identity;
pub mod login_activity;
pub mod masking;
pub mod postmaster_arena;
pub mod roles;
pub mod scram;
pub mod spi;
pub mod syscache;

use pgrx::pg_sys;
use std::ffi::{c_char, CStr};

/// The bytes of a C string, or none for a null pointer.
///
/// # Safety
/// `text` is null or a NUL-terminated string that outlives the slice.
pub unsafe fn c_bytes<'a>(text: *const c_char) -> &'a [u8] {
    if text.is_null() {
        &[]
    } else {
        // SAFETY: `text` is not null, so by this function's contract it is a
        // NUL-terminated string that outlives `'a`.
        unsafe { CStr::from_ptr(text) }.to_bytes()
    }
}

/// How many of the first `wanted` bytes of `text` to keep so that the cut
/// falls on a character boundary of the server encoding.
///
/// # Safety
/// `text` holds at least `wanted` bytes.
pub unsafe fn clip(text: *const c_char, wanted: usize) -> usize {
    let wanted = i32::try_from(wanted).unwrap_or(i32::MAX);
    // SAFETY: pg_mbcliplen reads at most `wanted` bytes of `text` (stopping
    // at a NUL), which this function's contract says it holds.
    usize::try_from(unsafe { pg_sys::pg_mbcliplen(text, wanted, wanted) }).unwrap_or(0)
}

/// `parts` joined into one NUL-terminated string palloc'd in `context`, or
/// None when memory is short: never raises, so it is usable while an error
/// is being reported.
///
/// # Safety
/// `context` is a valid memory context.
pub unsafe fn concat_no_oom(
    context: pg_sys::MemoryContext,
    parts: &[&[u8]],
) -> Option<*mut c_char> {
    let size = parts.iter().map(|p| p.len()).sum::<usize>() + 1;
    // SAFETY: `context` is a valid memory context (this function's
    // contract); with MCXT_ALLOC_NO_OOM a failed allocation returns null
    // instead of raising.
    let buf = unsafe {
        pg_sys::MemoryContextAllocExtended(context, size, pg_sys::MCXT_ALLOC_NO_OOM as i32)
    }
    .cast::<u8>();
    if buf.is_null() {
        return None;
    }
    // SAFETY: `buf` holds `size` bytes, the sum of the parts and the NUL:
    // the parts are copied end to end into the first `size - 1` bytes and
    // the NUL into the last. The parts are borrowed slices, so they cannot
    // overlap the fresh allocation.
    unsafe {
        let mut at = 0;
        for part in parts {
            std::ptr::copy_nonoverlapping(part.as_ptr(), buf.add(at), part.len());
            at += part.len();
        }
        *buf.add(at) = 0;
    }
    Some(buf.cast())
}

/// Lets a long computation respond to query cancel and termination.
pub fn check_for_interrupts() {
    pgrx::check_for_interrupts!();
}
