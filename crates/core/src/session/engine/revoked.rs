//! Revocations on the request path: every session record and every
//! verified bearer identity is looked up in the instance's [`Revocations`]
//! (in memory, never suspending), and the host's side of the set: records
//! from the shared store, the app's own revocations, and whether the set is
//! complete; and `POST {prefix}/revoke`, the same for a back office that
//! holds the configuration's `revokeSecret`. See [`crate::revocation`].

use super::sign_out::refresh_token_key;
use super::*;
pub(super) use crate::revocation::Check;
use crate::revocation::Kind;

impl Engine {
    /// Refuses a session whose cookies name something revoked
    /// (`session-revoked`), or that this instance cannot clear
    /// (`store-unavailable`). `refresh_token`: the session's refresh cookie's
    /// token, which sign-out revokes too (a version 1 session has no id).
    pub(super) fn check_record(
        &self,
        record: Option<&SessionRecord>,
        refresh_token: Option<&str>,
        ctx: &mut Ctx,
    ) -> Result<(), Refusal> {
        let check = self.record_check(record, refresh_token, ctx.now);
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
        refresh_token: Option<&str>,
        now: u64,
    ) -> Check {
        let set = &self.revocations;
        if set.is_empty() && set.complete() {
            return Check::Clear;
        }
        let revoked = refresh_token.is_some_and(|rt| set.session(&refresh_token_key(rt), now))
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
        let issued = identity.iat.or(identity.nbf);
        let revoked = identity
            .sid
            .as_deref()
            .is_some_and(|sid| set.sid(&identity.iss, sid, now))
            || set.subject_token(&identity.iss, &identity.sub, issued, identity.exp, now);
        if revoked {
            Check::Revoked
        } else {
            set.unless_unknown(issued)
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

    /// [`Engine::revoked`] for many records at once: a starting instance's
    /// bulk load from the store.
    pub fn revoked_all(&mut self, revocations: Vec<Revocation>, now: u64) {
        self.revocations.insert_all(revocations, now);
    }

    /// [`Engine::revoked_all`] for records as a store holds them: one JSON
    /// record per line ([`Revocation::from_json`]); returns how many were
    /// valid (the others are ignored).
    pub fn revoked_lines(&mut self, records: &str, now: u64) -> usize {
        let valid: Vec<Revocation> = records
            .split('\n')
            .filter_map(|r| Revocation::from_json(r.as_bytes()).ok())
            .collect();
        let count = valid.len();
        self.revoked_all(valid, now);
        count
    }

    /// [`Engine::revoke`] with the kind by its name (`sid`, `sub`, `session`).
    pub fn revoke_named(&mut self, kind: &str, value: &str, now: u64) -> Result<Revocation, Refusal> {
        let kind = Kind::from_name(kind).ok_or_else(|| {
            Refusal::new(
                Reason::ClaimInvalid,
                "revoke takes { sid }, { sub } or { session }",
            )
        })?;
        self.revoke(kind, value, now)
    }

    /// Revokes, from now on, the provider session `sid` (`kind` [`Kind::Sid`]),
    /// every session and token of subject `sub` issued until now
    /// ([`Kind::Sub`]), or a Tessera session by its id ([`Kind::Session`]), at
    /// any issuer this configuration trusts (a multi-tenant issuer is a
    /// template no token carries), for `cookies.sessionMaxAge`. The record is
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

    /// A revocation record of this app's (any issuer), from `now` for
    /// `cookies.sessionMaxAge`.
    pub(super) fn revocation(&self, kind: Kind, value: &str, now: u64) -> Revocation {
        Revocation {
            kind,
            iss: String::new(),
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

    /// `POST {prefix}/revoke` needs `Authorization: Bearer <revokeSecret>`.
    pub(super) fn revoke_authorized(&self, req: &Request<'_>) -> Result<(), Refusal> {
        let presented = match bearer_token(req.headers) {
            Ok(Some(token)) => token,
            _ => {
                return Err(refuse!(
                    TokenMissing,
                    "revoke needs Authorization: Bearer <revokeSecret>"
                ))
            }
        };
        let secret = self.config.revoke_secret.expose();
        if !oidc::constant_time_eq(presented.as_bytes(), secret.as_bytes()) {
            return Err(refuse!(SignatureInvalid, "the revoke secret does not match"));
        }
        Ok(())
    }

    /// The revoke endpoint's body: a JSON object naming exactly one of
    /// `sub`, `sid` or `session`, revoked here and published.
    pub(super) fn revoke_endpoint(&mut self, body: &[u8], ctx: &mut Ctx) -> Step {
        let named = crate::json::parse_object(body).ok().and_then(|o| {
            let (name, value) = o.iter().next().filter(|_| o.len() == 1)?;
            Some((Kind::from_name(name)?, String::from(value.as_str()?)))
        });
        let revocation = match named {
            Some((kind, value)) => self.revoke(kind, &value, ctx.now),
            None => Err(refuse!(
                ClaimInvalid,
                "revoke takes a JSON object with one string member: sub, sid or session"
            )),
        };
        match revocation {
            Ok(r) => ctx.store(StoreOp::Revoke(alloc::vec![r.clone()]), AfterStore::Revoked(r)),
            Err(refusal) => {
                let body = serde_json::json!({ "error": refusal.reason.code(), "message": &refusal.message });
                let action = json(400, Vec::new(), &body);
                Step::Done(ctx.decide_because(
                    Status::Denied,
                    Some(refusal.reason),
                    Some(refusal.message),
                    action,
                    Vec::new(),
                ))
            }
        }
    }

    /// 200 with the record once the store has it; 503 when it could not be
    /// shared (this instance refuses it all the same).
    pub(super) fn revoke_answer(&self, r: &Revocation, stored: Result<bool, &str>, ctx: &mut Ctx) -> Step {
        let revoked =
            serde_json::json!({ "kind": r.kind.as_str(), "value": &r.value, "at": r.at, "until": r.until });
        match stored {
            Ok(_) => {
                let action = json(200, Vec::new(), &serde_json::json!({ "revoked": revoked }));
                Step::Done(ctx.decide(Status::SignedOut, None, action, Vec::new()))
            }
            Err(why) => {
                let message = format!("revoked on this instance only: the store failed ({why}); retry");
                let body = serde_json::json!({ "error": "store-unavailable", "message": &message, "revoked": revoked });
                let headers = alloc::vec![(String::from("retry-after"), format!("{RETRY_AFTER}"))];
                let action = json(503, headers, &body);
                Step::Done(ctx.decide_because(
                    Status::Unavailable,
                    Some(Reason::StoreUnavailable),
                    Some(message),
                    action,
                    Vec::new(),
                ))
            }
        }
    }
}
