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

use crate::fields::ConfigError;
use crate::fields::Fields;
use crate::identity::Identity;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use serde::Serialize;

/// Memo settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
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

impl MemoConfig {
    pub(crate) fn read(f: &mut Fields) -> Result<MemoConfig, ConfigError> {
        let d = MemoConfig::default();
        Ok(MemoConfig {
            capacity: f.uint("capacity")?.unwrap_or(d.capacity),
            max_age: f.u64("maxAge")?.unwrap_or(d.max_age),
        })
    }
}

impl<'de> serde::Deserialize<'de> for MemoConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::fields::deserialize(d, MemoConfig::read)
    }
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
    /// The entries' keys by `last_used`, least recently used first: eviction
    /// is a lookup, not a scan (a scan of a full memo would cost more than a
    /// fast native signature check, on every new token).
    by_use: BTreeMap<u64, u64>,
    tick: u64,
}

impl Memo {
    pub(crate) fn new(config: MemoConfig) -> Self {
        Memo {
            config,
            entries: BTreeMap::new(),
            by_use: BTreeMap::new(),
            tick: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.by_use.clear();
    }

    /// The remembered identity for exactly this token, if it is valid at `now`.
    pub(crate) fn get(&mut self, token: &str, now: u64) -> Option<Arc<Identity>> {
        let key = hash_key(token);
        let entry = self.entries.get_mut(&key)?;
        if &*entry.token != token {
            return None;
        }
        if now < entry.valid_from || now >= entry.valid_until {
            self.remove(key);
            return None;
        }
        self.tick += 1;
        self.by_use.remove(&entry.last_used);
        self.by_use.insert(self.tick, key);
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
        self.remove(key);
        while self.entries.len() >= self.config.capacity {
            // The least recently used goes; entries no longer valid are never
            // used again, so they reach this end first.
            match self.by_use.pop_first() {
                Some((_, lru)) => self.entries.remove(&lru),
                None => break,
            };
        }
        self.tick += 1;
        self.by_use.insert(self.tick, key);
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

    fn remove(&mut self, key: u64) {
        if let Some(entry) = self.entries.remove(&key) {
            self.by_use.remove(&entry.last_used);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn identity(sub: &str) -> Arc<Identity> {
        Arc::new(crate::identity::for_tests(sub))
    }

    fn memo(capacity: usize) -> Memo {
        Memo::new(MemoConfig {
            capacity,
            max_age: 300,
        })
    }

    fn sub(m: &mut Memo, token: &str, now: u64) -> Option<String> {
        m.get(token, now).map(|i| i.sub.clone())
    }

    #[test]
    fn the_least_recently_used_token_goes_first() {
        let mut m = memo(2);
        m.insert("a.b.one", identity("one"), 100, 0, 1_000);
        m.insert("a.b.two", identity("two"), 100, 0, 1_000);
        assert_eq!(sub(&mut m, "a.b.one", 101).as_deref(), Some("one"));
        m.insert("a.b.three", identity("three"), 102, 0, 1_000);
        assert_eq!(m.len(), 2);
        assert_eq!(sub(&mut m, "a.b.two", 103), None, "two was least recently used");
        assert_eq!(sub(&mut m, "a.b.one", 103).as_deref(), Some("one"));
        assert_eq!(sub(&mut m, "a.b.three", 103).as_deref(), Some("three"));
        assert_eq!(m.by_use.len(), m.entries.len());
    }

    #[test]
    fn a_hit_is_only_for_the_same_token_within_its_window() {
        let mut m = memo(8);
        m.insert("a.b.sig", identity("one"), 100, 90, 160);
        assert_eq!(sub(&mut m, "a.b.sig", 100).as_deref(), Some("one"));
        assert_eq!(sub(&mut m, "a.B.sig", 100), None, "a different token never hits");
        assert_eq!(sub(&mut m, "a.b.sig", 89), None, "before valid_from");
        assert_eq!(sub(&mut m, "a.b.sig", 160), None, "at valid_until");
        assert_eq!((m.len(), m.by_use.len()), (0, 0), "the expired entry is gone");
        // max_age caps the window: verified at 100, reused until 400 at most.
        m.insert("a.b.long", identity("long"), 100, 0, 10_000);
        assert!(sub(&mut m, "a.b.long", 399).is_some());
        assert!(sub(&mut m, "a.b.long", 400).is_none());
    }

    #[test]
    fn reinserting_a_token_keeps_one_entry_and_a_full_memo_stays_full() {
        let mut m = memo(3);
        for round in 0..5u64 {
            for t in ["x.y.1", "x.y.2", "x.y.3", "x.y.4"] {
                m.insert(t, identity(t), 100 + round, 0, 1_000);
            }
        }
        assert_eq!((m.len(), m.by_use.len()), (3, 3));
        assert!(sub(&mut m, "x.y.1", 200).is_none(), "inserted least recently");
        assert!(sub(&mut m, "x.y.4", 200).is_some());
        let mut off = memo(0);
        off.insert("x.y.1", identity("1"), 100, 0, 1_000);
        assert_eq!(off.len(), 0, "capacity 0 disables the memo");
    }
}
