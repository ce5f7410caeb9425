//! A key's precomputed table for the pure-Rust signature checks (ES256's comb,
//! Ed25519's multiples of `−A`), built once the key has shown it is in use.
//!
//! The first [`TABLE_AFTER`] checks of a key go without one, so keys seen once
//! or twice, and hosts that check signatures natively, never pay for a table.
//! Built through once_cell's `race::OnceBox`, so keys stay `Send + Sync`.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, Ordering};
use once_cell::race::OnceBox;

/// How many checks a key does the plain way before its table is built.
pub const TABLE_AFTER: u32 = 2;

/// A key's table, built lazily once the key is in use.
pub struct KeyTable<T> {
    uses: AtomicU32,
    table: OnceBox<T>,
}

impl<T> Default for KeyTable<T> {
    fn default() -> KeyTable<T> {
        KeyTable::new()
    }
}

impl<T> KeyTable<T> {
    /// No table, no checks counted yet.
    pub const fn new() -> KeyTable<T> {
        KeyTable {
            uses: AtomicU32::new(0),
            table: OnceBox::new(),
        }
    }

    /// The table, built by `build` on the first call after [`TABLE_AFTER`]
    /// checks; `None` before that (the caller checks the plain way).
    pub fn get_or_build(&self, build: impl FnOnce() -> T) -> Option<&T> {
        if let Some(table) = self.table.get() {
            return Some(table);
        }
        if self.uses.fetch_add(1, Ordering::Relaxed) < TABLE_AFTER {
            return None;
        }
        // Threads that race here may each build a table; one is kept.
        Some(self.table.get_or_init(|| Box::new(build())))
    }

    /// The table if it has been built.
    pub fn built(&self) -> Option<&T> {
        self.table.get()
    }
}

/// A clone starts without its table (rebuilt if the clone is used).
impl<T> Clone for KeyTable<T> {
    fn clone(&self) -> KeyTable<T> {
        KeyTable::new()
    }
}
