//! Refresh coordination: one refresh per session at a time, and a replay window
//! for late arrivals that still carry the rotated-out refresh token.
//!
//! Providers that rotate refresh tokens treat a second use of an old token as
//! theft and revoke the whole grant (oidc-provider does, with no grace period).
//! Browsers fire requests in parallel, so several requests can arrive with the
//! same expired session at once. The [`RefreshCoordinator`] decides, per
//! refresh token, who refreshes ([`Ticket::Lead`]), who waits for that result
//! ([`Ticket::Join`]), and who receives the new tokens without asking the
//! provider again ([`Ticket::Replay`]).
//!
//! This is the in-process (per isolate) implementation and the contract the
//! worker's Durable Object implements across isolates: same inputs, same
//! tickets. Refresh tokens are never stored, only their SHA-256.
//!
//! ```
//! use tessera_core::refresh::{RefreshCoordinator, Ticket};
//! use tessera_core::oidc::TokenSet;
//! let mut c = RefreshCoordinator::new(30);
//! assert!(matches!(c.begin("rt-1", 100), Ticket::Lead));
//! assert!(matches!(c.begin("rt-1", 100), Ticket::Join));
//! let new = TokenSet { access_token: "at-2".into(), refresh_token: Some("rt-2".into()), id_token: None, expires_in: Some(60), userinfo: None };
//! c.complete("rt-1", 101, Ok(new.clone()));
//! assert_eq!(c.begin("rt-1", 120), Ticket::Replay(Ok(new)));   // a late tab: same tokens
//! assert!(matches!(c.begin("rt-1", 131), Ticket::Lead));           // past the window
//! ```

use crate::oidc::TokenSet;
use crate::reason::Refusal;
use alloc::collections::BTreeMap;
use sha2::{Digest, Sha256};

/// How long a leader may take before its refresh counts as lost and another
/// request may lead, in seconds (the token endpoint fetch times out sooner).
pub const LEAD_TIMEOUT: u64 = 15;

/// Outcomes kept at most; the oldest go first. Each holds tokens, so the bound
/// also bounds how many secrets sit in memory.
pub const MAX_REMEMBERED: usize = 1024;

/// The refusal for a request that joined a refresh whose outcome never came
/// (its leader went away): retry, rather than risk spending a rotated token
/// twice.
pub fn busy() -> Refusal {
    Refusal::new(
        crate::Reason::AuthApiUnavailable,
        "another request is refreshing this session and did not finish; retry in a moment",
    )
}

/// What a request holding an expired session should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ticket {
    /// Refresh now, then report with [`RefreshCoordinator::complete`].
    Lead,
    /// Another request is refreshing this session: wait for its result (hosts
    /// keep a promise or channel per refresh token; a waiter that times out may
    /// call `begin` again).
    Join,
    /// This refresh token was just rotated (or refused): use this outcome
    /// instead of asking the provider.
    Replay(Result<TokenSet, Refusal>),
}

type Key = [u8; 32];

struct Outcome {
    result: Result<TokenSet, Refusal>,
    until: u64,
}

/// The coordinator for one isolate or process.
pub struct RefreshCoordinator {
    replay_window: u64,
    leading: BTreeMap<Key, u64>,
    outcomes: BTreeMap<Key, Outcome>,
}

impl RefreshCoordinator {
    /// A coordinator answering late arrivals for `replay_window` seconds.
    pub fn new(replay_window: u64) -> RefreshCoordinator {
        RefreshCoordinator {
            replay_window,
            leading: BTreeMap::new(),
            outcomes: BTreeMap::new(),
        }
    }

    /// Decides what a request carrying `refresh_token` does at `now`.
    pub fn begin(&mut self, refresh_token: &str, now: u64) -> Ticket {
        let key = key(refresh_token);
        self.outcomes.retain(|_, o| now < o.until);
        self.leading
            .retain(|_, since| now < since.saturating_add(LEAD_TIMEOUT));
        if let Some(outcome) = self.outcomes.get(&key) {
            return Ticket::Replay(outcome.result.clone());
        }
        if self.leading.contains_key(&key) {
            return Ticket::Join;
        }
        self.leading.insert(key, now);
        Ticket::Lead
    }

    /// Records the leader's result. Successes and final refusals
    /// (`refresh-token-invalid`) are replayed within the window; outages are not
    /// remembered, so the next request may try again.
    pub fn complete(&mut self, refresh_token: &str, now: u64, result: Result<TokenSet, Refusal>) {
        let key = key(refresh_token);
        self.leading.remove(&key);
        if matches!(&result, Err(r) if r.is_retryable()) {
            return;
        }
        if self.outcomes.len() >= MAX_REMEMBERED {
            if let Some(oldest) = self.outcomes.iter().min_by_key(|(_, o)| o.until).map(|(k, _)| *k) {
                self.outcomes.remove(&oldest);
            }
        }
        self.outcomes.insert(
            key,
            Outcome {
                result,
                until: now.saturating_add(self.replay_window),
            },
        );
    }
}

fn key(refresh_token: &str) -> Key {
    Sha256::digest(refresh_token.as_bytes()).into()
}

/// The secret that seals a refresh's outcome in a shared store (Redis),
/// where other processes read it: derived from the refresh token that was
/// exchanged, so only requests carrying that token can open the new tokens,
/// and distinct from the SHA-256 that names the flight in the store.
///
/// ```
/// use tessera_core::refresh::outcome_secret;
/// assert_ne!(outcome_secret("rt-1"), outcome_secret("rt-2"));
/// ```
pub fn outcome_secret(refresh_token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tessera refresh outcome\0");
    h.update(refresh_token.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;

    fn tokens(n: u32) -> TokenSet {
        TokenSet {
            access_token: alloc::format!("at-{n}"),
            refresh_token: Some(alloc::format!("rt-{n}")),
            id_token: None,
            expires_in: Some(60),
            userinfo: None,
        }
    }

    #[test]
    fn twenty_concurrent_requests_make_one_refresh() {
        let mut c = RefreshCoordinator::new(30);
        let tickets: alloc::vec::Vec<Ticket> = (0..20).map(|_| c.begin("rt-1", 1_000)).collect();
        assert_eq!(tickets.iter().filter(|t| **t == Ticket::Lead).count(), 1);
        assert_eq!(tickets.iter().filter(|t| **t == Ticket::Join).count(), 19);
        c.complete("rt-1", 1_001, Ok(tokens(2)));
        for _ in 0..5 {
            assert_eq!(c.begin("rt-1", 1_010), Ticket::Replay(Ok(tokens(2))));
        }
        // The new refresh token is a different session key: it leads on its own.
        assert_eq!(c.begin("rt-2", 1_070), Ticket::Lead);
    }

    #[test]
    fn outages_are_not_replayed_final_refusals_are() {
        let mut c = RefreshCoordinator::new(30);
        assert_eq!(c.begin("rt", 0), Ticket::Lead);
        c.complete("rt", 1, Err(Refusal::new(Reason::AuthApiUnavailable, "503")));
        assert_eq!(
            c.begin("rt", 2),
            Ticket::Lead,
            "after an outage the next request retries"
        );
        let gone = Refusal::new(Reason::RefreshTokenInvalid, "invalid_grant");
        c.complete("rt", 3, Err(gone.clone()));
        assert_eq!(
            c.begin("rt", 4),
            Ticket::Replay(Err(gone)),
            "a dead session is not retried at the provider"
        );
    }

    #[test]
    fn a_lost_leader_is_replaced_after_the_timeout() {
        let mut c = RefreshCoordinator::new(30);
        assert_eq!(c.begin("rt", 0), Ticket::Lead);
        assert_eq!(c.begin("rt", LEAD_TIMEOUT - 1), Ticket::Join);
        assert_eq!(c.begin("rt", LEAD_TIMEOUT), Ticket::Lead);
    }

    #[test]
    fn memory_is_bounded() {
        let mut c = RefreshCoordinator::new(30);
        for i in 0..(MAX_REMEMBERED as u32 + 50) {
            let rt = alloc::format!("rt-{i}");
            c.begin(&rt, 0);
            c.complete(&rt, u64::from(i) / 100, Ok(tokens(i)));
        }
        assert!(c.outcomes.len() <= MAX_REMEMBERED);
        assert!(c.leading.is_empty());
    }
}
