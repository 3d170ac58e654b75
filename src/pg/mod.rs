//! Everything that touches PostgreSQL internals below the SQL functions and
//! the hook decisions: the C side of the hooks (`hooks.c`, built by
//! build.rs) and role lookups in the shared catalogs through the syscache.

pub mod shared_catalog;
