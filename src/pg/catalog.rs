//! Lookups of databases, schemas and settings.

use crate::pg::spi::spi;
use pgrx::prelude::*;

pub fn database_exists(name: &str) -> bool {
    spi(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = $1)",
        &[name.into()],
    ))
    .unwrap_or(false)
}

pub fn current_database() -> String {
    // SAFETY: the current database's name, palloc'd.
    let name = unsafe { pg_sys::get_database_name(pg_sys::MyDatabaseId) };
    if name.is_null() {
        return String::new();
    }
    // SAFETY: NUL-terminated.
    unsafe { std::ffi::CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// A server setting's current value ("" when unknown), without SPI.
pub fn setting(name: &str) -> String {
    let Ok(name) = std::ffi::CString::new(name) else {
        return String::new();
    };
    // SAFETY: config lookup with missing_ok; returns NULL or a static string.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if value.is_null() {
        String::new()
    } else {
        // SAFETY: NUL-terminated.
        unsafe { std::ffi::CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned()
    }
}

pub fn schema_exists(name: &str) -> bool {
    spi(Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)",
        &[name.into()],
    ))
    .unwrap_or(false)
}
