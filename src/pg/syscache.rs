//! Syscache lookups whose results release themselves: a tuple or list is
//! handed back to the cache when its handle is dropped, also when an ERROR
//! unwinds through the Rust frames that hold it (pgrx turns it into a
//! panic), so no lookup can leak a cache reference.

use pgrx::pg_sys;

type CacheId = pg_sys::SysCacheIdentifier::Type;

/// One cached catalog tuple, released on drop.
pub struct Tuple {
    cache: CacheId,
    tuple: pg_sys::HeapTuple,
}

impl Tuple {
    /// The tuple of `cache` with the single key `key`, if there is one.
    pub fn search1(cache: CacheId, key: pg_sys::Datum) -> Option<Tuple> {
        // SAFETY: a syscache lookup inside a transaction; a non-null result
        // is pinned until ReleaseSysCache, which Drop calls exactly once.
        let tuple = unsafe { pg_sys::SearchSysCache1(cache as i32, key) };
        (!tuple.is_null()).then_some(Tuple { cache, tuple })
    }

    /// Attribute `attnum` (1-based, as in the catalog's Anum_ constants), or
    /// None if it is NULL.
    pub fn attribute(&self, attnum: u32) -> Option<pg_sys::Datum> {
        let mut isnull = false;
        // SAFETY: the tuple is pinned and belongs to `cache`; attnum is a
        // column of that catalog.
        let datum = unsafe {
            pg_sys::SysCacheGetAttr(self.cache as i32, self.tuple, attnum as i16, &mut isnull)
        };
        (!isnull).then_some(datum)
    }
}

impl Drop for Tuple {
    fn drop(&mut self) {
        // SAFETY: the tuple came from SearchSysCache1 and is released once.
        unsafe { pg_sys::ReleaseSysCache(self.tuple) };
    }
}

/// The tuples of `cache` matching the leading keys, released on drop.
pub struct List {
    cache: CacheId,
    list: *mut pg_sys::CatCList,
}

impl List {
    /// Up to three leading keys (the caches used here have at most three).
    pub fn search(cache: CacheId, keys: &[pg_sys::Datum]) -> List {
        assert!(keys.len() <= 3, "at most three syscache list keys");
        let key = |i: usize| keys.get(i).copied().unwrap_or(pg_sys::Datum::from(0));
        // SAFETY: a syscache list lookup inside a transaction; the list is
        // pinned until ReleaseCatCacheList, which Drop calls exactly once.
        let list = unsafe {
            pg_sys::SearchSysCacheList(cache as i32, keys.len() as i32, key(0), key(1), key(2))
        };
        List { cache, list }
    }

    /// Attribute `attnum` of every member tuple that has it non-NULL.
    pub fn attributes(&self, attnum: u32) -> Vec<pg_sys::Datum> {
        // SAFETY: the pinned list holds n_members valid member pointers.
        let members = unsafe {
            (*self.list)
                .members
                .as_slice((*self.list).n_members as usize)
        };
        members
            .iter()
            .filter_map(|&member| {
                let mut isnull = false;
                // SAFETY: each member is a pinned catcache entry of `cache`
                // whose tuple is valid while the list is.
                let datum = unsafe {
                    pg_sys::SysCacheGetAttr(
                        self.cache as i32,
                        &mut (*member).tuple,
                        attnum as i16,
                        &mut isnull,
                    )
                };
                (!isnull).then_some(datum)
            })
            .collect()
    }
}

impl Drop for List {
    fn drop(&mut self) {
        // SAFETY: the list came from SearchSysCacheList and is released once.
        unsafe { pg_sys::ReleaseCatCacheList(self.list) };
    }
}
