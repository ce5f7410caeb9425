//! The back-channel logout endpoint (`POST {prefix}/backchannel-logout`,
//! OpenID Connect Back-Channel Logout 1.0): the provider's logout token is
//! read from the body, its signature checked with the provider's keys and its
//! claims with [`crate::backchannel::check`], its `jti` recorded once (here
//! and in the shared store), and what it names revoked here and published.
//! The answer is 200, or 400 with an OAuth error (§2.8): `invalid_request`
//! for a bad token, `temporarily_unavailable` for an outage (keys or store).

use super::sign_out::MAX_LOGOUT_JTIS;
use super::*;
use crate::backchannel::{self as bcl, LogoutToken};
use crate::revocation::Kind;

impl Engine {
    pub(super) fn backchannel_logout(&mut self, body: &[u8], ctx: &mut Ctx) -> Step {
        if body.len() > bcl::MAX_BODY_BYTES {
            let refusal = refuse!(
                TokenTooLarge,
                "the logout request body is over {} bytes",
                bcl::MAX_BODY_BYTES
            );
            return self.logout_answer(Err(refusal), ctx);
        }
        match bcl::logout_token_of(body) {
            Ok(token) => self.check_logout_token(token, ctx),
            Err(refusal) => self.logout_answer(Err(refusal), ctx),
        }
    }

    pub(super) fn check_logout_token(&mut self, token: String, ctx: &mut Ctx) -> Step {
        if self.config.client_id.is_empty() {
            let refusal = refuse!(
                AudienceInvalid,
                "back-channel logout needs sessions: configure clientId"
            );
            return self.logout_answer(Err(refusal), ctx);
        }
        // The ID-token policy's issuers and algorithms; From::Client: an
        // unknown kid costs at most one refetch per cooldown.
        let checked = match self.signed(&token, super::issuers::Src::IdToken, From::Client, ctx) {
            Ok(signed) => signed.typ_and_claims().and_then(|(typ, claims)| {
                bcl::check(
                    typ,
                    &claims,
                    self.id_verifier.policy(),
                    &self.config.client_id,
                    ctx.now,
                )
            }),
            Err(Verified::Need(need)) => return ctx.wait(need, Then::Logout(token)),
            Err(Verified::Err(refusal)) => Err(refusal),
            Err(Verified::Ok(_)) => Err(refuse!(TokenMalformed, "unreachable")),
        };
        let logout = match checked {
            Ok(logout) => logout,
            Err(refusal) => return self.logout_answer(Err(refusal), ctx),
        };
        let now = ctx.now;
        // Kept until the token would be refused as too old anyway.
        let until = logout
            .exp
            .min(logout.iat.saturating_add(bcl::MAX_AGE))
            .saturating_add(2 * self.config.policy().leeway)
            .max(now.saturating_add(1));
        let key = jti_key(&logout);
        self.logout_jtis.retain(|_, u| now < *u);
        if self.logout_jtis.contains_key(&key) {
            return self.logout_answer(Err(replayed()), ctx);
        }
        // Revoked here at once, then published; the jti is recorded only
        // once the revocation is shared, so a provider retrying after an
        // outage is not taken for a replay. A replay could do no more than
        // this token does (its cut-off is its own iat).
        let revocations = self.logout_revocations(&logout, now);
        for r in &revocations {
            self.revocations.insert(r.clone());
        }
        ctx.store(
            StoreOp::Revoke(revocations),
            AfterStore::LogoutPublished { key, until },
        )
    }

    pub(super) fn after_store(
        &mut self,
        then: AfterStore,
        stored: Result<bool, &str>,
        ctx: &mut Ctx,
    ) -> Step {
        match then {
            AfterStore::LogoutPublished { key, until } => match stored {
                Ok(_) => {
                    let op = StoreOp::Once {
                        key: format!("logout-jti:{key}"),
                        ttl: until.saturating_sub(ctx.now).max(1),
                    };
                    ctx.store(op, AfterStore::LogoutJti { key, until })
                }
                Err(why) => self.logout_answer(Err(store_down(why)), ctx),
            },
            AfterStore::LogoutJti { key, until } => {
                // Another instance had it (its revocation is published again,
                // which changes nothing): a replay.
                let seen = stored == Ok(false);
                if self.logout_jtis.len() >= MAX_LOGOUT_JTIS {
                    if let Some(oldest) = self
                        .logout_jtis
                        .iter()
                        .min_by_key(|(_, u)| **u)
                        .map(|(k, _)| k.clone())
                    {
                        self.logout_jtis.remove(&oldest);
                    }
                }
                self.logout_jtis.insert(key, until);
                if seen {
                    return self.logout_answer(Err(replayed()), ctx);
                }
                // The revocation is shared; a jti the store could not keep
                // only makes a replay on another instance harmless work.
                self.logout_answer(Ok(()), ctx)
            }
            AfterStore::SignOut(req) => {
                let end = self.discovery.loaded.as_ref().map(|(d, _)| d.clone());
                self.sign_out_done(&req, end.as_ref(), ctx)
            }
            AfterStore::Revoked(revocation) => self.revoke_answer(&revocation, stored, ctx),
            AfterStore::Dpop { req, identity, token } => {
                self.after_dpop_store(req, identity, &token, stored, ctx)
            }
        }
    }

    /// What a logout token revokes: the provider session it names, or
    /// (without a `sid`) every session and token of its subject issued up
    /// to the token's `iat`.
    fn logout_revocations(&self, logout: &LogoutToken, now: u64) -> Vec<Revocation> {
        let (kind, value, at) = match (&logout.sid, &logout.sub) {
            (Some(sid), _) => (Kind::Sid, sid, now),
            (None, Some(sub)) => (Kind::Sub, sub, logout.iat),
            (None, None) => return Vec::new(),
        };
        alloc::vec![Revocation {
            kind,
            iss: logout.iss.clone(),
            value: value.clone(),
            at,
            until: now.saturating_add(self.config.cookies.session_max_age),
        }]
    }

    /// The endpoint's answer (§2.8): 200, or 400 with an OAuth error.
    pub(super) fn logout_answer(&self, result: Result<(), Refusal>, ctx: &mut Ctx) -> Step {
        match result {
            Ok(()) => {
                let action = respond(200, Vec::new(), String::new());
                Step::Done(ctx.decide(Status::SignedOut, None, action, Vec::new()))
            }
            Err(Refusal { reason, message }) => {
                let (error, status) = if reason.is_retryable() || reason.keeps_session() {
                    ("temporarily_unavailable", Status::Unavailable)
                } else {
                    ("invalid_request", Status::Denied)
                };
                let body = serde_json::json!({ "error": error, "error_description": &message });
                let action = json(400, Vec::new(), &body);
                Step::Done(ctx.decide_because(status, Some(reason), Some(message), action, Vec::new()))
            }
        }
    }
}

/// A logout token's id, by issuer (hex SHA-256: the store key names no one).
fn jti_key(logout: &LogoutToken) -> String {
    let mut h = Sha256::new();
    h.update(logout.iss.as_bytes());
    h.update([0]);
    h.update(logout.jti.as_bytes());
    crate::hex::encode(&h.finalize())
}

fn replayed() -> Refusal {
    refuse!(
        ClaimInvalid,
        "this logout token (its jti) was already received: a replay"
    )
}

fn store_down(why: &str) -> Refusal {
    refuse!(
        StoreUnavailable,
        "the logout was applied on this instance but could not be shared: the store failed ({why}); send it again"
    )
}
