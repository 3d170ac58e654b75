//! Everything that touches PostgreSQL internals below the SQL functions and
//! the hook decisions: the C side of the hooks (`hooks.c`, built by
//! build.rs), role lookups in the shared catalogs through the syscache, and
//! the C-string helpers the hooks share.

pub mod shared_catalog;

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
        CStr::from_ptr(text).to_bytes()
    }
}

/// How many of the first `wanted` bytes of `text` to keep so that the cut
/// falls on a character boundary of the server encoding.
///
/// # Safety
/// `text` holds at least `wanted` bytes.
pub unsafe fn clip(text: *const c_char, wanted: usize) -> usize {
    let wanted = i32::try_from(wanted).unwrap_or(i32::MAX);
    usize::try_from(pg_sys::pg_mbcliplen(text, wanted, wanted)).unwrap_or(0)
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
    let buf = pg_sys::MemoryContextAllocExtended(context, size, pg_sys::MCXT_ALLOC_NO_OOM as i32)
        .cast::<u8>();
    if buf.is_null() {
        return None;
    }
    let mut at = 0;
    for part in parts {
        // SAFETY: `buf` holds `size` bytes, the sum of the parts and the NUL.
        std::ptr::copy_nonoverlapping(part.as_ptr(), buf.add(at), part.len());
        at += part.len();
    }
    *buf.add(at) = 0;
    Some(buf.cast())
}
