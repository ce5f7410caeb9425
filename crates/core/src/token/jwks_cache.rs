//! The key-set cache of one issuer, as a sans-IO state machine.
//!
//! The cache decides *when* to fetch; the host does the fetching and reports back.
//! It never reads a clock: every call takes `now` (unix seconds).
//!
//! ```text
//!            ┌──────────── fresh ────────────┐┌──── stale (serve + revalidate) ───┐
//! fetched_at ┴───────── max-age ─────────────┴───────── staleIfError ────────────┴─▶ unusable
//! ```
//!
//! - Fresh for the response's `Cache-Control: max-age`, clamped to
//!   [`min_max_age`, `max_max_age`] (default 600 s when absent).
//! - Then stale: keys are still served while the host revalidates in the
//!   background, and, if revalidation fails, for up to `stale_if_error` seconds
//!   in all (stale-if-error). Past that, keys are never served.
//! - A failed fetch is not retried before `cooldown` has passed, so a provider
//!   outage does not turn every request into a fetch.
//! - An unknown `kid` triggers at most one refetch per `cooldown`; kids still
//!   unknown after it are negatively cached for `cooldown`.
//!
//! [`min_max_age`]: JwksCacheConfig::min_max_age
//! [`max_max_age`]: JwksCacheConfig::max_max_age
//!
//! A host loop:
//!
//! ```
//! use tessera_core::jwks_cache::{JwksCache, JwksCacheConfig, Lookup, FetchOutcome};
//!
//! let mut cache = JwksCache::new("https://auth.example.com/jwks", JwksCacheConfig::default());
//! let now = 1_700_000_000;
//! match cache.lookup(now) {
//!     Lookup::Fetch(request) => {
//!         // The host fetches request.url with request.timeout_ms and request.max_bytes …
//!         let body = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",
//!             "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
//!         let outcome = FetchOutcome::Response { status: 200, cache_control: Some("max-age=300"), body };
//!         cache.on_fetched(now, outcome).unwrap();
//!     }
//!     _ => unreachable!("an empty cache asks for a fetch"),
//! }
//! assert!(matches!(cache.lookup(now + 10), Lookup::Fresh(_)));
//! assert!(matches!(cache.lookup(now + 301), Lookup::Stale { refetch: Some(_), .. }));
//! ```

use crate::fields::ConfigError;
use crate::fields::Fields;
use crate::jwk::{KeySet, MAX_JWKS_BYTES};
use crate::reason::{refuse, Refusal};
use alloc::collections::BTreeMap;
use alloc::string::String;
use serde::{Deserialize, Serialize};

/// Cache settings, per issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwksCacheConfig {
    /// Freshness when the response has no usable `max-age`. Default 600 s, the
    /// common provider rotation overlap is hours, so ten minutes is safe.
    pub default_max_age: u64,
    /// Lower clamp for `max-age`. Default 60 s: `no-cache` or `max-age=0` from a
    /// provider must not turn every request into a fetch.
    pub min_max_age: u64,
    /// Upper clamp for `max-age`. Default 86 400 s: a day-long cache still picks
    /// up rotations the same day.
    pub max_max_age: u64,
    /// How long keys may be served in all after they stop being fresh, while
    /// refetching fails (stale-if-error). Default 86 400 s: an IdP outage of up to
    /// a day does not sign anyone out; keys older than that are never used.
    pub stale_if_error: u64,
    /// Minimum seconds between two fetches triggered by an unknown `kid`, and
    /// between a failed fetch and its retry. Default 30 s: bounds what a flood of
    /// tokens with made-up kids can cost the provider.
    pub cooldown: u64,
    /// Fetch timeout the host must apply, in milliseconds. Default 5 000.
    pub fetch_timeout_ms: u32,
}

impl JwksCacheConfig {
    pub(crate) fn read(f: &mut Fields) -> Result<JwksCacheConfig, ConfigError> {
        let d = JwksCacheConfig::default();
        Ok(JwksCacheConfig {
            default_max_age: f.u64("defaultMaxAge")?.unwrap_or(d.default_max_age),
            min_max_age: f.u64("minMaxAge")?.unwrap_or(d.min_max_age),
            max_max_age: f.u64("maxMaxAge")?.unwrap_or(d.max_max_age),
            stale_if_error: f.u64("staleIfError")?.unwrap_or(d.stale_if_error),
            cooldown: f.u64("cooldown")?.unwrap_or(d.cooldown),
            fetch_timeout_ms: f.uint("fetchTimeoutMs")?.unwrap_or(d.fetch_timeout_ms),
        })
    }
}

impl<'de> serde::Deserialize<'de> for JwksCacheConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::fields::deserialize(d, JwksCacheConfig::read)
    }
}

impl Default for JwksCacheConfig {
    fn default() -> Self {
        JwksCacheConfig {
            default_max_age: 600,
            min_max_age: 60,
            max_max_age: 86_400,
            stale_if_error: 86_400,
            cooldown: 30,
            fetch_timeout_ms: 5_000,
        }
    }
}

/// A fetch the host must perform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    /// The JWKS URL.
    pub url: String,
    /// Abort the fetch after this many milliseconds (and report a failure).
    pub timeout_ms: u32,
    /// Stop reading the body past this many bytes (and report what was read: the
    /// cache refuses it as too large).
    pub max_bytes: usize,
}

/// What the cache says about the keys at `now`.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// Fresh keys: use them.
    Fresh(&'a KeySet),
    /// Stale but within the bound: use them; if `refetch` is set, revalidate in
    /// the background (the cache has recorded the fetch as started).
    Stale {
        /// The keys to use now.
        keys: &'a KeySet,
        /// The background revalidation to start, if one is due.
        refetch: Option<FetchRequest>,
    },
    /// No usable keys: fetch now and wait (the cache has recorded the fetch as
    /// started).
    Fetch(FetchRequest),
    /// No usable keys and no fetch allowed yet (one is in flight, or the last one
    /// failed less than a cooldown ago): answer `jwks-unavailable`.
    Unavailable(Refusal),
}

/// What the host's fetch produced.
#[derive(Clone, Copy, Debug)]
pub enum FetchOutcome<'a> {
    /// An HTTP response, any status.
    Response {
        /// The HTTP status.
        status: u16,
        /// The `Cache-Control` header, if any.
        cache_control: Option<&'a str>,
        /// The body, as read (at most `max_bytes + 1` bytes is enough).
        body: &'a [u8],
    },
    /// The fetch failed without a response (network error, timeout, DNS).
    Failed(&'a str),
}

/// What to do about a token whose `kid` is not in the key set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnknownKid {
    /// Refetch now (the cache has recorded the fetch as started), then verify again.
    Refetch(FetchRequest),
    /// Do not refetch (cooldown, or the kid is negatively cached): `key-not-found`.
    Refuse,
}

/// Counters a host can log or export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwksCacheStats {
    /// Fetches started.
    pub fetches: u64,
    /// Fetches that failed (no response, error status, or unusable body).
    pub failures: u64,
    /// Lookups answered with stale keys.
    pub stale_served: u64,
    /// Refetches triggered by unknown kids.
    pub unknown_kid_refetches: u64,
    /// Unknown kids refused without a fetch.
    pub unknown_kid_refused: u64,
}

/// A key set the host can persist (e.g. in the Workers Cache API) and restore in
/// a fresh isolate, so a cold start does not refetch while the keys are fresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwksSnapshot {
    /// The JWKS document as fetched.
    pub document: String,
    /// When it was fetched (unix seconds).
    pub fetched_at: u64,
    /// Its clamped freshness lifetime in seconds.
    pub max_age: u64,
}

struct Loaded {
    keys: KeySet,
    document: String,
    fetched_at: u64,
    max_age: u64,
}

/// The key-set cache of one issuer. See the [module docs](self).
pub struct JwksCache {
    url: String,
    config: JwksCacheConfig,
    loaded: Option<Loaded>,
    generation: u64,
    in_flight_since: Option<u64>,
    last_failure: Option<(u64, Refusal)>,
    last_kid_refetch: Option<u64>,
    negative: BTreeMap<String, u64>,
    stats: JwksCacheStats,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Age {
    Fresh,
    Stale,
    Unusable,
}

/// Unknown kids remembered at most; more are simply refused until the cooldown.
const MAX_NEGATIVE_KIDS: usize = 256;

/// Seconds between refetches for unknown kids on tokens the provider has just
/// issued ([`JwksCache::on_issued_kid`]).
pub const ISSUED_KID_MIN_INTERVAL: u64 = 5;

impl JwksCache {
    /// An empty cache for the key set at `url`.
    pub fn new(url: impl Into<String>, config: JwksCacheConfig) -> JwksCache {
        JwksCache {
            url: url.into(),
            config,
            loaded: None,
            generation: 0,
            in_flight_since: None,
            last_failure: None,
            last_kid_refetch: None,
            negative: BTreeMap::new(),
            stats: JwksCacheStats::default(),
        }
    }

    /// Increments each time a different key set is loaded; hosts compare it to know
    /// when to hand the keys to their verifier.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The counters.
    pub fn stats(&self) -> JwksCacheStats {
        self.stats
    }

    /// The current keys whatever their age, for diagnostics. Use [`lookup`](Self::lookup)
    /// to decide whether they may be used.
    pub fn keys(&self) -> Option<&KeySet> {
        self.loaded.as_ref().map(|l| &l.keys)
    }

    /// Decides what the keys are good for at `now`, and whether to fetch.
    pub fn lookup(&mut self, now: u64) -> Lookup<'_> {
        let age = match &self.loaded {
            Some(l) if now < self.fresh_until(l) => Age::Fresh,
            Some(l) if now < self.usable_until(l) => Age::Stale,
            _ => Age::Unusable,
        };
        let refetch = match age {
            Age::Fresh => None,
            Age::Stale | Age::Unusable => self.may_fetch(now).then(|| self.start_fetch(now)),
        };
        if age == Age::Stale {
            self.stats.stale_served += 1;
        }
        match (age, &self.loaded, refetch) {
            (Age::Fresh, Some(l), _) => Lookup::Fresh(&l.keys),
            (Age::Stale, Some(l), refetch) => Lookup::Stale {
                keys: &l.keys,
                refetch,
            },
            (_, _, Some(request)) => Lookup::Fetch(request),
            (_, _, None) => Lookup::Unavailable(self.unavailable(now)),
        }
    }

    /// The fetch in flight, if one was started less than twice the fetch
    /// timeout ago: a request that finds no usable keys waits for it (hosts
    /// share concurrent fetches of one URL) rather than failing while it runs.
    pub fn in_flight(&self, now: u64) -> Option<FetchRequest> {
        let since = self.in_flight_since?;
        (now < since.saturating_add(self.lost_after())).then(|| self.request())
    }

    /// Decides whether a token's unknown `kid` is worth a refetch.
    pub fn on_unknown_kid(&mut self, kid: &str, now: u64) -> UnknownKid {
        self.negative.retain(|_, until| *until > now);
        let in_cooldown = self
            .last_kid_refetch
            .is_some_and(|t| now < t.saturating_add(self.config.cooldown));
        if self.negative.contains_key(kid) || in_cooldown || !self.may_fetch(now) {
            self.stats.unknown_kid_refused += 1;
            return UnknownKid::Refuse;
        }
        self.last_kid_refetch = Some(now);
        self.stats.unknown_kid_refetches += 1;
        if self.negative.len() < MAX_NEGATIVE_KIDS {
            // Remembered as unknown until the next refetch is allowed; a fetch that
            // brings the kid in clears this (see `on_fetched`).
            self.negative
                .insert(String::from(kid), now.saturating_add(self.config.cooldown));
        }
        UnknownKid::Refetch(self.start_fetch(now))
    }

    /// Decides whether an unknown `kid` on a token the provider's token
    /// endpoint has just issued is worth a refetch. Such a kid is not an
    /// attacker's choice (it came over the authenticated back channel) and is
    /// most likely a key the provider has just started signing with, so past
    /// [`ISSUED_KID_MIN_INTERVAL`] seconds after the last completed fetch the
    /// unknown-kid cooldown and negative cache do not apply (a flood of
    /// made-up kids must not make a fresh refresh fail); within it, the
    /// ordinary rule of [`JwksCache::on_unknown_kid`] decides. Never while a
    /// fetch is failing or in flight.
    pub fn on_issued_kid(&mut self, kid: &str, now: u64) -> UnknownKid {
        let fetched_recently = self
            .loaded
            .as_ref()
            .is_some_and(|l| now < l.fetched_at.saturating_add(ISSUED_KID_MIN_INTERVAL));
        if fetched_recently {
            return self.on_unknown_kid(kid, now);
        }
        if !self.may_fetch(now) {
            self.stats.unknown_kid_refused += 1;
            return UnknownKid::Refuse;
        }
        self.negative.remove(kid);
        self.last_kid_refetch = Some(now);
        self.stats.unknown_kid_refetches += 1;
        UnknownKid::Refetch(self.start_fetch(now))
    }

    /// Decides whether an unknown `kid` on a token read from a session cookie
    /// (sealed by Tessera as the provider issued it) is worth a refetch: the
    /// kid is the provider's, so the global unknown-kid cooldown does not
    /// apply (a flood of made-up kids must not keep a rotated session from
    /// verifying), but the kid's own negative-cache entry does (a withdrawn
    /// key costs one fetch per cooldown, however many cookies carry it), and
    /// none within [`ISSUED_KID_MIN_INTERVAL`] of the last completed fetch or
    /// while a fetch is failing or in flight.
    pub fn on_sealed_kid(&mut self, kid: &str, now: u64) -> UnknownKid {
        self.negative.retain(|_, until| *until > now);
        let fetched_recently = self
            .loaded
            .as_ref()
            .is_some_and(|l| now < l.fetched_at.saturating_add(ISSUED_KID_MIN_INTERVAL));
        if self.negative.contains_key(kid) || fetched_recently || !self.may_fetch(now) {
            self.stats.unknown_kid_refused += 1;
            return UnknownKid::Refuse;
        }
        self.stats.unknown_kid_refetches += 1;
        if self.negative.len() < MAX_NEGATIVE_KIDS {
            self.negative
                .insert(String::from(kid), now.saturating_add(self.config.cooldown));
        }
        UnknownKid::Refetch(self.start_fetch(now))
    }

    /// Reports the outcome of a fetch the cache asked for. On success the keys
    /// are replaced (and [`generation`](Self::generation) increments); on failure
    /// the previous keys stay in service within their bound, and the refusal says
    /// whether it was an outage (`jwks-unavailable`) or a bad document
    /// (`jwks-invalid`).
    pub fn on_fetched(&mut self, now: u64, outcome: FetchOutcome<'_>) -> Result<(), Refusal> {
        self.in_flight_since = None;
        match self.accept(outcome) {
            Ok((keys, document, max_age)) => {
                let kids: alloc::vec::Vec<String> =
                    keys.usable().filter_map(|k| k.kid().map(String::from)).collect();
                self.negative.retain(|kid, _| !kids.contains(kid));
                // An unchanged document keeps its generation, so verifiers keep
                // their memo across revalidations.
                let unchanged = self.loaded.as_ref().is_some_and(|l| l.document == document);
                self.loaded = Some(Loaded {
                    keys,
                    document,
                    fetched_at: now,
                    max_age,
                });
                if !unchanged {
                    self.generation += 1;
                }
                self.last_failure = None;
                Ok(())
            }
            Err(refusal) => {
                self.stats.failures += 1;
                self.last_failure = Some((now, refusal.clone()));
                Err(refusal)
            }
        }
    }

    /// The current key set as a persistable snapshot.
    pub fn snapshot(&self) -> Option<JwksSnapshot> {
        self.loaded.as_ref().map(|l| JwksSnapshot {
            document: l.document.clone(),
            fetched_at: l.fetched_at,
            max_age: l.max_age,
        })
    }

    /// Restores a snapshot (from another isolate or process). Ignored when it is
    /// older than what the cache holds, from the future, or past its usable bound.
    pub fn restore(&mut self, snapshot: &JwksSnapshot, now: u64) -> Result<bool, Refusal> {
        if snapshot.fetched_at > now
            || self
                .loaded
                .as_ref()
                .is_some_and(|l| l.fetched_at >= snapshot.fetched_at)
        {
            return Ok(false);
        }
        let max_age = snapshot
            .max_age
            .clamp(self.config.min_max_age, self.config.max_max_age);
        let usable_until = snapshot
            .fetched_at
            .saturating_add(max_age)
            .saturating_add(self.config.stale_if_error);
        if now >= usable_until {
            return Ok(false);
        }
        let keys = KeySet::from_jwks(snapshot.document.as_bytes())?;
        self.loaded = Some(Loaded {
            keys,
            document: snapshot.document.clone(),
            fetched_at: snapshot.fetched_at,
            max_age,
        });
        self.generation += 1;
        Ok(true)
    }

    fn fresh_until(&self, l: &Loaded) -> u64 {
        l.fetched_at.saturating_add(l.max_age)
    }

    fn usable_until(&self, l: &Loaded) -> u64 {
        self.fresh_until(l).saturating_add(self.config.stale_if_error)
    }

    /// No fetch in flight (one older than twice the timeout counts as lost), and
    /// no failure within the cooldown.
    fn may_fetch(&self, now: u64) -> bool {
        let in_flight = self
            .in_flight_since
            .is_some_and(|t| now < t.saturating_add(self.lost_after()));
        let cooling = self
            .last_failure
            .as_ref()
            .is_some_and(|(t, _)| now < t.saturating_add(self.config.cooldown));
        !in_flight && !cooling
    }

    fn lost_after(&self) -> u64 {
        u64::from(self.config.fetch_timeout_ms / 1000).max(1) * 2
    }

    fn start_fetch(&mut self, now: u64) -> FetchRequest {
        self.in_flight_since = Some(now);
        self.stats.fetches += 1;
        self.request()
    }

    fn request(&self) -> FetchRequest {
        FetchRequest {
            url: self.url.clone(),
            timeout_ms: self.config.fetch_timeout_ms,
            max_bytes: MAX_JWKS_BYTES,
        }
    }

    fn unavailable(&self, now: u64) -> Refusal {
        match &self.last_failure {
            // The last failure's reason: an outage stays `jwks-unavailable`, a bad
            // document stays `jwks-invalid`.
            Some((at, why)) => Refusal {
                reason: why.reason,
                message: alloc::format!(
                    "no usable keys for {}: the last fetch failed {} s ago ({}); retrying after the {} s cooldown",
                    self.url,
                    now.saturating_sub(*at),
                    why.message,
                    self.config.cooldown
                ),
            },
            None => refuse!(JwksUnavailable, "no usable keys for {} yet: a fetch is in flight", self.url),
        }
    }

    fn accept(&self, outcome: FetchOutcome<'_>) -> Result<(KeySet, String, u64), Refusal> {
        let (status, cache_control, body) = match outcome {
            FetchOutcome::Failed(why) => {
                return Err(refuse!(JwksUnavailable, "fetching {} failed: {why}", self.url));
            }
            FetchOutcome::Response {
                status,
                cache_control,
                body,
            } => (status, cache_control, body),
        };
        if status >= 500 || status == 429 {
            return Err(refuse!(JwksUnavailable, "{} answered HTTP {status}", self.url));
        }
        if !(200..300).contains(&status) {
            return Err(refuse!(
                JwksInvalid,
                "{} answered HTTP {status}; check the JWKS URL (discovery's jwks_uri)",
                self.url
            ));
        }
        let keys = KeySet::from_jwks(body)?;
        let document = String::from_utf8(body.to_vec())
            .map_err(|_| refuse!(JwksInvalid, "the key set from {} is not UTF-8", self.url))?;
        let max_age = max_age(cache_control)
            .unwrap_or(self.config.default_max_age)
            .clamp(self.config.min_max_age, self.config.max_max_age);
        Ok((keys, document, max_age))
    }
}

/// `max-age` (or `s-maxage`, which wins) from a Cache-Control header; `no-store`
/// and `no-cache` count as 0 (then clamped up to the minimum).
fn max_age(header: Option<&str>) -> Option<u64> {
    let mut max_age = None;
    let mut s_maxage = None;
    for directive in header?.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return Some(0),
            "max-age" => max_age = value.parse().ok(),
            "s-maxage" => s_maxage = value.parse().ok(),
            _ => {}
        }
    }
    s_maxage.or(max_age)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &[u8] = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    const T0: u64 = 1_700_000_000;

    fn ok(cc: Option<&'static str>) -> FetchOutcome<'static> {
        FetchOutcome::Response {
            status: 200,
            cache_control: cc,
            body: JWKS,
        }
    }

    fn loaded(cc: Option<&'static str>) -> JwksCache {
        let mut c = JwksCache::new("https://idp/jwks", JwksCacheConfig::default());
        assert!(matches!(c.lookup(T0), Lookup::Fetch(_)));
        c.on_fetched(T0, ok(cc)).unwrap();
        c
    }

    #[test]
    fn cache_control_sets_freshness_within_clamps() {
        assert_eq!(max_age(Some("public, max-age=300, must-revalidate")), Some(300));
        assert_eq!(max_age(Some("max-age=300, s-maxage=900")), Some(900));
        assert_eq!(max_age(Some("no-cache")), Some(0));
        assert_eq!(max_age(Some("max-age=abc")), None);
        assert_eq!(max_age(None), None);
        for (cc, fresh_for) in [
            (Some("max-age=300"), 300),
            (None, 600),
            (Some("no-store"), 60),
            (Some("max-age=999999"), 86_400),
        ] {
            let mut c = loaded(cc);
            assert!(matches!(c.lookup(T0 + fresh_for - 1), Lookup::Fresh(_)), "{cc:?}");
            assert!(matches!(c.lookup(T0 + fresh_for), Lookup::Stale { .. }), "{cc:?}");
        }
    }

    #[test]
    fn stale_keys_are_served_while_revalidating_once() {
        let mut c = loaded(Some("max-age=300"));
        let Lookup::Stale { refetch: Some(_), .. } = c.lookup(T0 + 300) else {
            panic!("revalidate")
        };
        // The revalidation is in flight: stale keys, no second fetch.
        assert!(matches!(c.lookup(T0 + 301), Lookup::Stale { refetch: None, .. }));
        c.on_fetched(T0 + 302, ok(Some("max-age=300"))).unwrap();
        assert!(matches!(c.lookup(T0 + 303), Lookup::Fresh(_)));
        // The same document again: same generation, verifiers keep their memo.
        assert_eq!(c.generation(), 1);
    }

    #[test]
    fn outage_keeps_stale_keys_up_to_the_bound_then_refuses() {
        let mut c = loaded(Some("max-age=300"));
        let fresh_until = T0 + 300;
        let Lookup::Stale { refetch: Some(_), .. } = c.lookup(fresh_until) else {
            panic!()
        };
        let err = c
            .on_fetched(fresh_until + 5, FetchOutcome::Failed("timeout"))
            .unwrap_err();
        assert_eq!(err.reason.code(), "jwks-unavailable");
        // Within the cooldown: stale keys, no retry.
        assert!(matches!(
            c.lookup(fresh_until + 20),
            Lookup::Stale { refetch: None, .. }
        ));
        // After it: a retry.
        assert!(matches!(
            c.lookup(fresh_until + 35),
            Lookup::Stale { refetch: Some(_), .. }
        ));
        c.on_fetched(
            fresh_until + 36,
            FetchOutcome::Response {
                status: 503,
                cache_control: None,
                body: b"",
            },
        )
        .unwrap_err();
        // Past the stale bound the keys are never served.
        let bound = fresh_until + 86_400;
        assert!(matches!(
            c.lookup(bound - 1),
            Lookup::Stale { refetch: Some(_), .. }
        ));
        c.on_fetched(bound - 1, FetchOutcome::Failed("connection refused"))
            .unwrap_err();
        let Lookup::Unavailable(r) = c.lookup(bound) else {
            panic!("past the bound, in the cooldown")
        };
        assert!(
            r.is_retryable() && r.message.contains("connection refused"),
            "{r}"
        );
        assert!(matches!(c.lookup(bound + 28), Lookup::Unavailable(_)));
        assert!(matches!(c.lookup(bound + 29), Lookup::Fetch(_)));
    }

    #[test]
    fn a_bad_document_is_invalid_and_keeps_the_old_keys() {
        let mut c = loaded(Some("max-age=60"));
        let Lookup::Stale { refetch: Some(_), .. } = c.lookup(T0 + 60) else {
            panic!()
        };
        let bad = FetchOutcome::Response {
            status: 200,
            cache_control: None,
            body: br#"{"keys":[{"kty":"oct","k":"AA"}]}"#,
        };
        assert_eq!(
            c.on_fetched(T0 + 61, bad).unwrap_err().reason.code(),
            "jwks-invalid"
        );
        let gone = FetchOutcome::Response {
            status: 404,
            cache_control: None,
            body: b"",
        };
        assert!(matches!(
            c.lookup(T0 + 100),
            Lookup::Stale { refetch: Some(_), .. }
        ));
        assert_eq!(
            c.on_fetched(T0 + 100, gone).unwrap_err().reason.code(),
            "jwks-invalid"
        );
        assert!(c.keys().is_some());
        assert_eq!(c.generation(), 1);
    }

    #[test]
    fn unknown_kids_refetch_once_per_cooldown_and_are_negatively_cached() {
        let mut c = loaded(None);
        assert!(matches!(c.on_unknown_kid("new", T0 + 1), UnknownKid::Refetch(_)));
        // In flight and in cooldown: every other unknown kid is refused.
        assert_eq!(c.on_unknown_kid("other", T0 + 2), UnknownKid::Refuse);
        c.on_fetched(T0 + 2, ok(None)).unwrap();
        assert_eq!(c.on_unknown_kid("new", T0 + 10), UnknownKid::Refuse);
        assert_eq!(c.on_unknown_kid("third", T0 + 20), UnknownKid::Refuse);
        // After the cooldown a different kid may refetch; "new" is no longer negative.
        assert!(matches!(
            c.on_unknown_kid("third", T0 + 31),
            UnknownKid::Refetch(_)
        ));
        assert_eq!(c.stats().unknown_kid_refetches, 2);
    }

    #[test]
    fn snapshots_restore_in_a_fresh_cache_without_fetching() {
        let c = loaded(Some("max-age=600"));
        let snap = c.snapshot().unwrap();
        let json = serde_json::to_string(&snap).unwrap();
        let mut cold = JwksCache::new("https://idp/jwks", JwksCacheConfig::default());
        assert!(cold
            .restore(&serde_json::from_str(&json).unwrap(), T0 + 100)
            .unwrap());
        assert!(matches!(cold.lookup(T0 + 100), Lookup::Fresh(_)));
        assert_eq!(cold.stats().fetches, 0);
        // Too old, from the future, or not newer: ignored.
        let mut other = JwksCache::new("u", JwksCacheConfig::default());
        assert!(!other.restore(&snap, T0 + 600 + 86_400).unwrap());
        assert!(!other.restore(&snap, T0 - 1).unwrap());
        assert!(!cold.restore(&snap, T0 + 200).unwrap());
        let broken = JwksSnapshot {
            document: "{}".into(),
            ..snap
        };
        assert!(other.restore(&broken, T0 + 1).is_err());
    }
}
