//! Revocations on the request path: every session record and every
//! verified bearer identity is looked up in the instance's [`Revocations`]
//! (in memory, never suspending), and the host's side of the set: records
//! from the shared store, the app's own revocations, and whether the set is
//! complete. See [`crate::revocation`].

use super::*;
pub(super) use crate::revocation::Check;
use crate::revocation::Kind;

impl Engine {
    /// Refuses a session whose cookies name something revoked
    /// (`session-revoked`), or that this instance cannot clear
    /// (`store-unavailable`). `refresh_key`: a version 1 session's refresh
    /// token key (it has no session id).
    pub(super) fn check_record(
        &self,
        record: Option<&SessionRecord>,
        refresh_key: Option<&str>,
        ctx: &mut Ctx,
    ) -> Result<(), Refusal> {
        let check = self.record_check(record, refresh_key, ctx.now);
        self.refusal_for(
            check,
            "this session was signed out or revoked; sign in again",
            ctx,
        )
    }

    /// How a session's record fares against the revocations.
    pub(super) fn record_check(
        &self,
        record: Option<&SessionRecord>,
        refresh_key: Option<&str>,
        now: u64,
    ) -> Check {
        let set = &self.revocations;
        if set.is_empty() && set.complete() {
            return Check::Clear;
        }
        let revoked = refresh_key.is_some_and(|k| set.session(k, now))
            || record.is_some_and(|r| {
                set.session(&r.id, now)
                    || r.id_token
                        .sid
                        .as_deref()
                        .is_some_and(|sid| set.sid(&r.iss, sid, now))
                    || set.subject(&r.iss, &r.sub, Some(r.signed_in_at), now)
            });
        if revoked {
            Check::Revoked
        } else {
            set.unless_unknown(record.map(|r| r.signed_in_at))
        }
    }

    /// Refuses a verified identity (a bearer token's, or an introspection
    /// answer's) whose provider session or subject was revoked, or that
    /// this instance cannot clear.
    pub(super) fn check_identity(&self, identity: &Identity, ctx: &mut Ctx) -> Result<(), Refusal> {
        let check = self.identity_check(identity, ctx.now);
        self.refusal_for(
            check,
            "the token's session or subject was revoked; sign in again for a new token",
            ctx,
        )
    }

    /// How a verified identity fares against the revocations.
    pub(super) fn identity_check(&self, identity: &Identity, now: u64) -> Check {
        let set = &self.revocations;
        if set.is_empty() && set.complete() {
            return Check::Clear;
        }
        let revoked = identity
            .sid
            .as_deref()
            .is_some_and(|sid| set.sid(&identity.iss, sid, now))
            || set.subject(&identity.iss, &identity.sub, identity.iat, now);
        if revoked {
            Check::Revoked
        } else {
            set.unless_unknown(identity.iat)
        }
    }

    fn refusal_for(&self, check: Check, revoked: &str, ctx: &mut Ctx) -> Result<(), Refusal> {
        match check {
            Check::Clear => Ok(()),
            Check::Revoked => {
                ctx.event.store = Some(StoreUse::Revoked);
                Err(Refusal::new(Reason::SessionRevoked, revoked))
            }
            Check::Unknown => {
                ctx.event.store = Some(StoreUse::Unknown);
                Err(refuse!(
                    StoreUnavailable,
                    "the shared store could not be read, so this instance cannot tell whether this session was revoked; retry shortly"
                ))
            }
        }
    }

    /// Adds a revocation another instance (or the app) published, as the
    /// shared store handed it over: from then on this instance refuses what
    /// it names. A record already expired is ignored.
    ///
    /// ```
    /// use tessera_core::config::TesseraConfig;
    /// use tessera_core::engine::Engine;
    /// use tessera_core::revocation::Revocation;
    /// let config = TesseraConfig::from_json(r#"{"issuer":"https://idp.example"}"#).unwrap();
    /// let mut engine = Engine::new(config).unwrap();
    /// let r = Revocation::from_json(br#"{"kind":"sub","iss":"https://idp.example","value":"u1","at":100,"until":200}"#).unwrap();
    /// engine.revoked(r, 150);
    /// assert_eq!(engine.revocation_count(), 1);
    /// ```
    pub fn revoked(&mut self, revocation: Revocation, now: u64) {
        if now < revocation.until {
            self.revocations.insert(revocation);
        }
    }

    /// Revokes, from now on, the provider session `sid` (`kind` [`Kind::Sid`]),
    /// every session and token of subject `sub` issued until now
    /// ([`Kind::Sub`]), or a Tessera session by its id ([`Kind::Session`]), at
    /// the configuration's issuer, for `cookies.sessionMaxAge`. The record is
    /// returned for the host to publish (the npm package's `revoke()`).
    pub fn revoke(&mut self, kind: Kind, value: &str, now: u64) -> Result<Revocation, Refusal> {
        if value.is_empty() || value.len() > 1024 {
            return Err(refuse!(
                ClaimInvalid,
                "revoke needs a {} of 1 to 1024 characters",
                kind.as_str()
            ));
        }
        let revocation = self.revocation(kind, value, now);
        self.revocations.insert(revocation.clone());
        Ok(revocation)
    }

    /// A revocation record at the configuration's issuer, from `now` for
    /// `cookies.sessionMaxAge`.
    pub(super) fn revocation(&self, kind: Kind, value: &str, now: u64) -> Revocation {
        Revocation {
            kind,
            iss: match kind {
                Kind::Session => String::new(),
                Kind::Sid | Kind::Sub => self.config.issuer.clone(),
            },
            value: String::from(value),
            at: now,
            until: now.saturating_add(self.config.cookies.session_max_age),
        }
    }

    /// Tells the engine whether it holds every revocation: `None` once the
    /// host loaded them from the store (and for a host without one);
    /// `Some(since)` while it cannot, `since` being when it began trying.
    /// Sessions and tokens from before `since` are then `store-unavailable`
    /// (503), never served unchecked ([`Revocations::set_unknown_since`]).
    pub fn set_revocations_unknown_since(&mut self, since: Option<u64>) {
        self.revocations.set_unknown_since(since);
    }

    /// Revocations held (expired ones until they are purged).
    pub fn revocation_count(&self) -> usize {
        self.revocations.len()
    }

    /// Live revocations dropped because the set was full (see
    /// [`Revocations::dropped`]).
    pub fn revocations_dropped(&self) -> u64 {
        self.revocations.dropped()
    }
}
