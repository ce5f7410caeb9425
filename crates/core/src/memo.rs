//! The verified-token memo: a repeat of a verified token costs a lookup, not a
//! signature check.
//!
//! Entries are keyed by a cheap hash of the token's signature segment and hold the
//! whole token, compared byte for byte on a hit, so a token that differs in any
//! byte never hits. An entry is only reused for the `now` values for which full
//! verification would give the same answer (between `nbf`/`iat` and `exp`, minus
//! the maximum token age, all with leeway) and never longer than
//! [`MemoConfig::max_age`] after it was verified. Only successfully verified tokens
//! are stored, so an attacker cannot fill the memo without valid signatures.

use crate::identity::Identity;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use serde::{Deserialize, Serialize};

/// Memo settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MemoConfig {
    /// Maximum number of tokens remembered. Default 1024: at ~1–2 KiB per entry,
    /// about 2 MiB at most, enough for the active sessions one isolate serves.
    /// 0 disables the memo.
    pub capacity: usize,
    /// Seconds a verification result is reused at most, even if the token lives
    /// longer. Default 300: bounds how long a result outlives the key set it was
    /// checked against (runtimes also clear the memo when the key set changes).
    pub max_age: u64,
}

impl Default for MemoConfig {
    fn default() -> Self {
        MemoConfig {
            capacity: 1024,
            max_age: 300,
        }
    }
}

struct Entry {
    token: Box<str>,
    identity: Arc<Identity>,
    valid_from: u64,
    valid_until: u64,
    last_used: u64,
}

pub(crate) struct Memo {
    config: MemoConfig,
    entries: BTreeMap<u64, Entry>,
    tick: u64,
}

impl Memo {
    pub(crate) fn new(config: MemoConfig) -> Self {
        Memo {
            config,
            entries: BTreeMap::new(),
            tick: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// The remembered identity for exactly this token, if it is valid at `now`.
    pub(crate) fn get(&mut self, token: &str, now: u64) -> Option<Arc<Identity>> {
        let key = hash_key(token);
        let entry = self.entries.get_mut(&key)?;
        if &*entry.token != token {
            return None;
        }
        if now < entry.valid_from || now >= entry.valid_until {
            self.entries.remove(&key);
            return None;
        }
        self.tick += 1;
        entry.last_used = self.tick;
        Some(entry.identity.clone())
    }

    pub(crate) fn insert(
        &mut self,
        token: &str,
        identity: Arc<Identity>,
        now: u64,
        valid_from: u64,
        valid_until: u64,
    ) {
        if self.config.capacity == 0 {
            return;
        }
        let valid_until = valid_until.min(now.saturating_add(self.config.max_age));
        let key = hash_key(token);
        if self.entries.len() >= self.config.capacity && !self.entries.contains_key(&key) {
            self.entries
                .retain(|_, e| now >= e.valid_from && now < e.valid_until);
            if self.entries.len() >= self.config.capacity {
                // Least recently used goes. A linear scan: this runs only after a
                // full signature check, which costs far more.
                if let Some(lru) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(k, _)| *k)
                {
                    self.entries.remove(&lru);
                }
            }
        }
        self.tick += 1;
        self.entries.insert(
            key,
            Entry {
                token: token.into(),
                identity,
                valid_from,
                valid_until,
                last_used: self.tick,
            },
        );
    }
}

/// FNV-1a over the last 64 bytes of the token (its signature segment, which no
/// two distinct valid tokens share) and the length. Cheap; collisions only cost
/// a miss, because the stored token is compared in full.
fn hash_key(token: &str) -> u64 {
    let bytes = token.as_bytes();
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
    for b in tail {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
