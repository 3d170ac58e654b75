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

/// Whether a database of that name exists, for a process connected to no
/// database (the expiry launcher): a plain heap scan of the shared catalog
/// pg_database, as the autovacuum launcher lists databases (an index scan
/// would need pg_class, which only a database has). Call in a transaction.
pub fn database_exists_without_connection(name: &str) -> bool {
    let mut found = false;
    // SAFETY: pg_database is a shared catalog readable without a database;
    // the scan and the relation are closed before returning (an ERROR
    // aborts the transaction, which releases both).
    unsafe {
        let rel = pg_sys::table_open(
            pg_sys::DatabaseRelationId,
            pg_sys::AccessShareLock as pg_sys::LOCKMODE,
        );
        let scan = pg_sys::table_beginscan_catalog(rel, 0, std::ptr::null_mut());
        loop {
            let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
            if tuple.is_null() {
                break;
            }
            let form = pg_sys::GETSTRUCT(tuple).cast::<pg_sys::FormData_pg_database>();
            let datname = std::ffi::CStr::from_ptr((*form).datname.data.as_ptr());
            if datname.to_bytes() == name.as_bytes() {
                found = true;
                break;
            }
        }
        pg_sys::table_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    }
    found
}
