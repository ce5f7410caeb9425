//! Revocations: sessions, provider sessions and subjects that must no longer
//! be served, however valid their cookies or tokens still look.
//!
//! A [`Revocation`] comes from sign-out (this session, by its id), from the
//! provider's back-channel logout (a provider session by its `sid`, or every
//! session of a subject), or from the app (`revoke()`). The engine checks
//! the [`Revocations`] it holds on every request, a local lookup that never
//! suspends; the host keeps that set in step with the shared store (a bulk
//! load at start, then every revocation published by other instances) and
//! publishes the ones this instance makes ([`crate::engine::StoreOp`]).
//!
//! | kind | names | refuses |
//! |---|---|---|
//! | `session` | a Tessera session id, or `rt:` and the SHA-256 of its refresh token | that session's cookies, wherever they are copied |
//! | `sid` | a provider session (`sid` of the sign-in ID token) at `iss` | every session signed in through it |
//! | `sub` | a subject at `iss` | sessions signed in, and bearer tokens issued (`iat`), at or before `at` |
//!
//! A record lives until `until` (the engine sets it to `cookies.sessionMaxAge`
//! after `at`, the longest a session can live, or less when sign-out revoked
//! the refresh token at the provider) and is then forgotten.
//!
//! ```
//! use tessera_core::revocation::{Kind, Revocation, Revocations};
//! let mut set = Revocations::new(100);
//! let r = Revocation { kind: Kind::Sub, iss: "https://idp.example".into(), value: "user_1".into(), at: 1_000, until: 5_000 };
//! let json = r.to_json();
//! assert_eq!(Revocation::from_json(json.as_bytes()).unwrap(), r);
//! set.insert(r);
//! assert!(set.subject("https://idp.example", "user_1", Some(999), 2_000));  // issued before
//! assert!(!set.subject("https://idp.example", "user_1", Some(1_001), 2_000)); // a new sign-in
//! assert!(!set.subject("https://idp.example", "user_1", Some(999), 5_000));  // expired record
//! ```

use crate::reason::{refuse, Refusal};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The longest revocation record read ([`Revocation::from_json`]): the
/// values are an issuer URL and an id, so anything longer is not one.
pub const MAX_RECORD_BYTES: usize = 4096;

/// The size of the negative filter of [`Revocations`], in bits (128 KiB,
/// allocated with the first record): at 100,000 values about one lookup in
/// ten goes on to the map.
pub const FILTER_BITS: usize = 1 << 20;

/// The filter bit of `value`: FNV-1a, 64 bits.
fn filter_bit(value: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in value.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h as usize) & (FILTER_BITS - 1)
}

/// How long a token without `iat` or `nbf` is taken to have lived, in
/// seconds: it counts as issued before a subject's cut-off when it expires
/// within this of it ([`Revocations::subject_token`]).
pub const UNDATED_LIFETIME: u64 = 24 * 3600;

/// Revocations an instance holds by default ([`Revocations::new`]).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// What a [`Revocation`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Tessera session, by its session id.
    Session,
    /// A provider session, by the `sid` of its ID tokens.
    Sid,
    /// A subject: everything signed in or issued at or before `at`.
    Sub,
}

impl Kind {
    /// The name in JSON and store keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::Sid => "sid",
            Kind::Sub => "sub",
        }
    }

    /// The kind named `name` (`session`, `sid`, `sub`).
    pub fn from_name(name: &str) -> Option<Kind> {
        [Kind::Session, Kind::Sid, Kind::Sub]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// One revocation record. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Revocation {
    /// What it names.
    pub kind: Kind,
    /// The issuer of the `sid` or `sub`. Empty for a `session`, and for the
    /// app's own revocations (`revoke`): a user the app names at any issuer
    /// it trusts (a multi-tenant issuer is a template no token carries).
    pub iss: String,
    /// The session id, `sid` or `sub`.
    pub value: String,
    /// When it was revoked (unix seconds); for `sub`, the cut-off.
    pub at: u64,
    /// When the record expires (unix seconds).
    pub until: u64,
}

impl Revocation {
    /// The record as JSON, as stores keep and publish it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a record a store handed back: strict JSON, at most
    /// [`MAX_RECORD_BYTES`], a non-empty value, `at` not after `until`.
    pub fn from_json(text: &[u8]) -> Result<Revocation, Refusal> {
        if text.len() > MAX_RECORD_BYTES {
            return Err(refuse!(
                ClaimInvalid,
                "a revocation record is over the {MAX_RECORD_BYTES}-byte limit"
            ));
        }
        let invalid = || refuse!(ClaimInvalid, "not a revocation record");
        let object = crate::json::parse_object(text).map_err(|_| invalid())?;
        let text_of = |name: &str| object.get(name).and_then(serde_json::Value::as_str);
        let r = Revocation {
            kind: text_of("kind").and_then(Kind::from_name).ok_or_else(invalid)?,
            iss: String::from(text_of("iss").unwrap_or_default()),
            value: String::from(text_of("value").ok_or_else(invalid)?),
            at: object
                .get("at")
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(invalid)?,
            until: object
                .get("until")
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(invalid)?,
        };
        let known = ["kind", "iss", "value", "at", "until"];
        if object.keys().any(|k| !known.contains(&k.as_str()))
            || object.get("iss").is_some_and(|v| !v.is_string())
        {
            return Err(invalid());
        }
        if r.value.is_empty() || r.at > r.until {
            return Err(refuse!(
                ClaimInvalid,
                "a revocation record needs a value and at <= until"
            ));
        }
        Ok(r)
    }

    /// The name stores file it under: the kind and the SHA-256 of the issuer
    /// and value (hex), so a key names no user, and a repeat of the same
    /// revocation lands on the same key.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.iss.as_bytes());
        h.update([0]);
        h.update(self.value.as_bytes());
        alloc::format!("{}:{}", self.kind.as_str(), crate::hex::encode(&h.finalize()))
    }

    /// Seconds until the record expires, at `now` (at least 1): the TTL a
    /// store gives it.
    pub fn ttl(&self, now: u64) -> u64 {
        self.until.saturating_sub(now).max(1)
    }
}

/// The revocations an instance holds, filed by value: a lookup is one
/// map search that allocates nothing, an insert O(log n).
#[derive(Debug)]
pub struct Revocations {
    by_value: BTreeMap<String, Vec<Revocation>>,
    /// One bit per value hash ([`FILTER_BITS`]): a clear bit proves a value
    /// is not held, so the common lookup (nothing revoked) is one hash and
    /// one load, whatever the size of the set. Rebuilt when records go.
    filter: Vec<u64>,
    len: usize,
    capacity: usize,
    /// `Some(since)` while this instance does not hold every revocation
    /// (it could not load them from the store): sessions signed in and tokens
    /// issued before `since` cannot be cleared.
    unknown_since: Option<u64>,
    /// Live records dropped because the set was full.
    dropped: u64,
}

/// How a lookup came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Not revoked.
    Clear,
    /// Revoked.
    Revoked,
    /// This instance cannot tell (see [`Revocations::set_unknown_since`]).
    Unknown,
}

impl Revocations {
    /// An empty set holding at most `capacity` live records.
    pub fn new(capacity: usize) -> Revocations {
        Revocations {
            by_value: BTreeMap::new(),
            filter: Vec::new(),
            len: 0,
            capacity: capacity.max(1),
            unknown_since: None,
            dropped: 0,
        }
    }

    /// Records held (expired ones included until they are purged).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Live records dropped because the set was full: each may let a revoked
    /// session through. Raise the capacity if this is ever above zero.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Says whether this instance holds every revocation: `None` once it
    /// loaded them (or for a store of its own, in memory); `Some(since)`
    /// while it could not, `since` being when it started trying. Sessions
    /// signed in and tokens issued from `since` on are newer than anything
    /// it may be missing, and are served; older ones are
    /// `store-unavailable`.
    pub fn set_unknown_since(&mut self, since: Option<u64>) {
        self.unknown_since = since;
    }

    /// Whether this instance holds every revocation.
    pub fn complete(&self) -> bool {
        self.unknown_since.is_none()
    }

    /// Adds a record (a repeat of one held is kept once, with the later
    /// expiry). When the set is full, expired records go first, then the one
    /// that expires soonest (counted in [`Revocations::dropped`]).
    pub fn insert(&mut self, r: Revocation) {
        if let Some(held) = self
            .by_value
            .get_mut(&r.value)
            .and_then(|list| list.iter_mut().find(|h| h.kind == r.kind && h.iss == r.iss))
        {
            // For `sub`, the later cut-off covers more.
            held.at = held.at.max(r.at);
            held.until = held.until.max(r.until);
            return;
        }
        if self.len >= self.capacity {
            // What expired before this record's time, less the largest
            // leeway (its `at` may be a logout token's `iat`, a little ahead).
            self.purge(r.at.saturating_sub(crate::policy::MAX_LEEWAY));
        }
        if self.len >= self.capacity {
            self.drop_soonest();
        }
        self.len += 1;
        self.mark(&r.value);
        self.by_value.entry(r.value.clone()).or_default().push(r);
    }

    fn mark(&mut self, value: &str) {
        if self.filter.is_empty() {
            self.filter = alloc::vec![0; FILTER_BITS / 64];
        }
        let bit = filter_bit(value);
        self.filter[bit / 64] |= 1 << (bit % 64);
    }

    fn rebuild_filter(&mut self) {
        self.filter.iter_mut().for_each(|w| *w = 0);
        for value in self.by_value.keys() {
            let bit = filter_bit(value);
            // Allocated with the first record: no records, nothing to mark.
            if let Some(word) = self.filter.get_mut(bit / 64) {
                *word |= 1 << (bit % 64);
            }
        }
    }

    /// Adds many records (a starting instance's bulk load).
    pub fn insert_all(&mut self, records: Vec<Revocation>, now: u64) {
        for r in records.into_iter().filter(|r| now < r.until) {
            self.insert(r);
        }
    }

    /// Forgets records expired at `now`.
    pub fn purge(&mut self, now: u64) {
        let mut len = 0;
        self.by_value.retain(|_, list| {
            list.retain(|r| now < r.until);
            len += list.len();
            !list.is_empty()
        });
        self.len = len;
        self.rebuild_filter();
    }

    fn drop_soonest(&mut self) {
        let soonest = self
            .by_value
            .iter()
            .flat_map(|(v, list)| list.iter().enumerate().map(move |(i, r)| (r.until, v, i)))
            .min_by_key(|(until, _, _)| *until)
            .map(|(_, v, i)| (v.clone(), i));
        if let Some((value, i)) = soonest {
            if let Some(list) = self.by_value.get_mut(&value) {
                list.remove(i);
                if list.is_empty() {
                    self.by_value.remove(&value);
                }
            }
            self.len -= 1;
            self.dropped += 1;
        }
    }

    fn held<'a>(
        &'a self,
        kind: Kind,
        iss: &'a str,
        value: &str,
        now: u64,
    ) -> impl Iterator<Item = &'a Revocation> + 'a {
        let bit = filter_bit(value);
        let list = if self
            .filter
            .get(bit / 64)
            .is_none_or(|w| w & (1 << (bit % 64)) == 0)
        {
            None
        } else {
            self.by_value.get(value)
        };
        list.into_iter()
            .flatten()
            .filter(move |r| r.kind == kind && (r.iss == iss || r.iss.is_empty()) && now < r.until)
    }

    /// Whether Tessera session `id` was revoked.
    pub fn session(&self, id: &str, now: u64) -> bool {
        !id.is_empty() && self.held(Kind::Session, "", id, now).next().is_some()
    }

    /// Whether provider session `sid` at `iss` was revoked.
    pub fn sid(&self, iss: &str, sid: &str, now: u64) -> bool {
        !sid.is_empty() && self.held(Kind::Sid, iss, sid, now).next().is_some()
    }

    /// Whether subject `sub` at `iss` was revoked for something signed in or
    /// issued at `since` (`None`: unknown, taken as before any revocation).
    pub fn subject(&self, iss: &str, sub: &str, since: Option<u64>, now: u64) -> bool {
        self.held(Kind::Sub, iss, sub, now)
            .any(|e| since.is_none_or(|t| t <= e.at))
    }

    /// [`Revocations::subject`] for a token issued at `issued` (its `iat`,
    /// else `nbf`) that expires at `exp`: one that names neither counts as
    /// issued before a cut-off when it expires within [`UNDATED_LIFETIME`]
    /// of it (it may have been), and as after it when it expires later.
    pub fn subject_token(&self, iss: &str, sub: &str, issued: Option<u64>, exp: u64, now: u64) -> bool {
        self.held(Kind::Sub, iss, sub, now).any(|e| match issued {
            Some(t) => t <= e.at,
            None => exp <= e.at.saturating_add(UNDATED_LIFETIME),
        })
    }

    /// The check for a session signed in at `signed_in_at` whose records
    /// held none of its names: clear, or unknown while this instance lacks
    /// revocations from before it.
    pub fn unless_unknown(&self, signed_in_at: Option<u64>) -> Check {
        match (self.unknown_since, signed_in_at) {
            (Some(since), Some(t)) if t >= since => Check::Clear,
            (Some(_), _) => Check::Unknown,
            (None, _) => Check::Clear,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(kind: Kind, value: &str, at: u64, until: u64) -> Revocation {
        Revocation {
            kind,
            iss: if kind == Kind::Session {
                String::new()
            } else {
                "https://idp".into()
            },
            value: value.into(),
            at,
            until,
        }
    }

    #[test]
    fn kinds_and_issuers_do_not_mix() {
        let mut set = Revocations::new(10);
        set.insert(rev(Kind::Sid, "abc", 10, 100));
        assert!(set.sid("https://idp", "abc", 50));
        assert!(!set.sid("https://other", "abc", 50));
        assert!(!set.session("abc", 50));
        assert!(!set.subject("https://idp", "abc", Some(0), 50));
        assert!(!set.session("", 50), "no id names no session");
        // The app's own revocations name a user at any issuer.
        let mut any = rev(Kind::Sub, "u", 10, 100);
        any.iss = String::new();
        set.insert(any);
        assert!(
            set.subject("https://idp", "u", Some(5), 50) && set.subject("https://other", "u", Some(5), 50)
        );
    }

    #[test]
    fn a_subject_cut_off_is_inclusive_and_a_repeat_extends_it() {
        let mut set = Revocations::new(10);
        set.insert(rev(Kind::Sub, "u", 10, 100));
        assert!(set.subject("https://idp", "u", Some(10), 50));
        assert!(set.subject("https://idp", "u", None, 50), "no iat: taken as old");
        assert!(!set.subject("https://idp", "u", Some(11), 50));
        set.insert(rev(Kind::Sub, "u", 20, 200));
        assert_eq!(set.len(), 1);
        assert!(set.subject("https://idp", "u", Some(20), 150));
    }

    #[test]
    fn a_full_set_drops_expired_records_first_then_counts_what_it_drops() {
        let mut set = Revocations::new(2);
        set.insert(rev(Kind::Session, "a", 0, 10));
        set.insert(rev(Kind::Session, "b", 0, 1000));
        // At 400, "a" expired more than the largest leeway ago: purged.
        set.insert(rev(Kind::Session, "c", 400, 1000));
        assert_eq!((set.len(), set.dropped()), (2, 0));
        set.insert(rev(Kind::Session, "d", 400, 3000));
        assert_eq!((set.len(), set.dropped()), (2, 1));
        assert!(set.session("d", 500) && (set.session("b", 500) ^ set.session("c", 500)));
        // A record whose time is only a leeway ahead purges nothing live.
        let mut set = Revocations::new(1);
        set.insert(rev(Kind::Session, "e", 0, 100));
        set.insert(rev(Kind::Session, "f", 200, 1000));
        assert_eq!(
            set.dropped(),
            1,
            "e was live at 200 - leeway: dropped and counted, not purged"
        );
    }

    #[test]
    fn a_bulk_load_merges_repeats_and_keeps_within_capacity() {
        let mut set = Revocations::new(3);
        set.insert(rev(Kind::Sid, "m", 0, 100));
        set.insert_all(
            alloc::vec![
                rev(Kind::Sub, "z", 5, 50),
                rev(Kind::Sid, "m", 0, 300),
                rev(Kind::Session, "a", 0, 5),
                rev(Kind::Sub, "z", 9, 60),
                rev(Kind::Session, "b", 0, 500),
                rev(Kind::Session, "c", 0, 400),
            ],
            10,
        );
        assert_eq!(
            (set.len(), set.dropped()),
            (3, 1),
            "a expired; z, the soonest, dropped"
        );
        assert!(set.sid("https://idp", "m", 250) && set.session("b", 20) && set.session("c", 20));
        assert!(!set.session("a", 1));
        set.insert(rev(Kind::Session, "aa", 0, 1000));
        assert!(set.session("aa", 20) && set.session("b", 20) && !set.sid("https://idp", "m", 20));
        assert_eq!(set.dropped(), 2);
    }

    #[test]
    fn records_from_a_store_are_read_strictly() {
        let ok = rev(Kind::Sid, "s", 1, 2);
        assert_eq!(Revocation::from_json(ok.to_json().as_bytes()).unwrap(), ok);
        for bad in [
            r#"{"kind":"sid","iss":"i","value":"","at":1,"until":2}"#,
            r#"{"kind":"sid","iss":"i","value":"v","at":3,"until":2}"#,
            r#"{"kind":"all","iss":"i","value":"v","at":1,"until":2}"#,
            r#"{"kind":"sid","iss":"i","value":"v","at":1,"until":2,"x":1}"#,
            r#"{"kind":"sid","iss":"i","value":"v","at":"1","until":2}"#,
            r#"{"kind":"sid","iss":7,"value":"v","at":1,"until":2}"#,
            r#"{"kind":"sid","iss":"i","value":"v","at":1.5,"until":2}"#,
            "[]",
        ] {
            assert!(Revocation::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
        let long = alloc::format!(
            r#"{{"kind":"session","value":"{}","at":1,"until":2}}"#,
            "x".repeat(5000)
        );
        assert!(Revocation::from_json(long.as_bytes()).is_err());
        assert_ne!(ok.key(), rev(Kind::Sub, "s", 1, 2).key());
        assert!(ok.key().starts_with("sid:"));
    }

    #[test]
    fn an_instance_without_the_revocations_serves_only_what_is_newer() {
        let mut set = Revocations::new(10);
        set.set_unknown_since(Some(100));
        assert_eq!(set.unless_unknown(Some(100)), Check::Clear);
        assert_eq!(set.unless_unknown(Some(99)), Check::Unknown);
        assert_eq!(set.unless_unknown(None), Check::Unknown);
        set.set_unknown_since(None);
        assert_eq!(set.unless_unknown(Some(0)), Check::Clear);
    }
}
