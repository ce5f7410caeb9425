//! Signing out: the session revoked (here at once, everywhere through the
//! shared store), its refresh token revoked at the provider, cookies cleared,
//! and the end-session redirect.

use super::revoked::Check;
use super::*;
use crate::revocation::Kind;

/// Logout tokens' ids remembered at most (the oldest go first).
pub(super) const MAX_LOGOUT_JTIS: usize = 4096;

impl Engine {
    pub(super) fn sign_out(&mut self, req: &Request<'_>, ctx: &mut Ctx) -> Step {
        if let Err(refusal) = csrf_check(
            req.method,
            req.headers,
            &self.config.app_origin,
            &self.allowed_origins(),
        ) {
            return self.refuse(req, refusal, Access::Api, ctx, Vec::new());
        }
        let jar = jar(req.headers);
        let refresh = self.open_refresh(&jar, ctx.now).ok().flatten();
        let session = self.open_session(&jar, ctx.now).ok().flatten();
        // Signed out already (a copy of signed-out cookies, sent again and
        // again): cleared here, with no store write and no provider call.
        // Only when the refresh token too is revoked: a refresh cookie of
        // another, live session beside a revoked session cookie is revoked.
        let rt = refresh.as_ref().map(|rt| rt.refresh_token.as_str());
        if (session.is_some() || refresh.is_some())
            && rt.is_none_or(|rt| self.revocations.session(&refresh_token_key(rt), ctx.now))
            && self.record_check(session.as_ref(), rt, ctx.now) == Check::Revoked
        {
            let end = self.discovery.loaded.as_ref().map(|(d, _)| d.clone());
            return self.sign_out_done(&OwnedRequest::new(req), end.as_ref(), ctx);
        }
        let discovery = match self.discovery(ctx.now) {
            Ok(d) => Some(d),
            Err(Err((fill, http))) => {
                return ctx.suspend(http, Wait::Fill(fill, Then::Request(OwnedRequest::new(req))))
            }
            // Signing out must work while the provider is down: clear locally.
            Err(Ok(_)) => None,
        };
        // Only now (this runs again after a discovery fill): held here at once.
        let revocations = self.sign_out_revocations(session.as_ref(), refresh.as_ref(), ctx.now);
        if let (Some(rt), Some(endpoint)) = (
            refresh,
            discovery.as_ref().and_then(|d| d.revocation_endpoint.as_deref()),
        ) {
            let form = self
                .client()
                .revocation_request(endpoint, &rt.refresh_token, "refresh_token");
            return ctx.suspend(post(form), Wait::Revocation(OwnedRequest::new(req), revocations));
        }
        self.publish_sign_out(OwnedRequest::new(req), revocations, false, ctx)
    }

    /// What signing out revokes, held here at once: the session by its id
    /// and by its refresh token, so a
    /// copy of its cookies is refused, and the last refresh replayed to one
    /// does not bring it back. For as long as a copy can be served once the
    /// provider revoked the refresh token ([`Engine::publish_sign_out`]
    /// extends it when it did not).
    fn sign_out_revocations(
        &mut self,
        session: Option<&SessionRecord>,
        refresh: Option<&RefreshRecord>,
        now: u64,
    ) -> Vec<Revocation> {
        let mut ids = Vec::new();
        if let Some(s) = session.filter(|s| !s.id.is_empty()) {
            ids.push(s.id.clone());
        }
        // By its refresh token too: a version 1 session has no id, and a copy
        // of one taken before its last refresh is replayed this refresh token.
        if let Some(rt) = refresh {
            ids.push(refresh_token_key(&rt.refresh_token));
        }
        // Once the provider revoked the refresh token, a copy of the cookies
        // lives only as long as the access token it holds, or the replay
        // window of the last refresh.
        let served_until = session
            .and_then(|s| s.access_expires_at)
            .map_or(0, |exp| exp.saturating_add(self.config.policy().leeway))
            .max(
                now.saturating_add(self.config.replay_window)
                    .saturating_add(crate::refresh::LEAD_TIMEOUT),
            );
        ids.iter()
            .map(|id| {
                let mut r = self.revocation(Kind::Session, id, now);
                r.until = r.until.min(served_until);
                self.revocations.insert(r.clone());
                r
            })
            .collect()
    }

    /// Publishes sign-out's revocations to the shared store, then finishes
    /// signing out. Unless the provider `revoked` the refresh token, a copy
    /// of the cookies could refresh for as long as the session lives, so the
    /// records last `cookies.sessionMaxAge`. A store failure still signs out
    /// here; other instances refuse the session once its token expires.
    pub(super) fn publish_sign_out(
        &mut self,
        req: OwnedRequest,
        mut revocations: Vec<Revocation>,
        revoked: bool,
        ctx: &mut Ctx,
    ) -> Step {
        if revocations.is_empty() {
            let end = self.discovery.loaded.as_ref().map(|(d, _)| d.clone());
            return self.sign_out_done(&req, end.as_ref(), ctx);
        }
        for r in &mut revocations {
            if !revoked {
                r.until = r.at.saturating_add(self.config.cookies.session_max_age);
                self.revocations.insert(r.clone());
            }
        }
        ctx.store(StoreOp::Revoke(revocations), AfterStore::SignOut(req))
    }

    pub(super) fn sign_out_done(
        &self,
        req: &OwnedRequest,
        discovery: Option<&Discovery>,
        ctx: &mut Ctx,
    ) -> Step {
        let headers = req.headers();
        let jar = jar(&headers);
        let mut cookies = self.clear_session(&jar);
        cookies.extend(self.clear(&jar, &self.names.transaction));
        let after = format!("{}{}", self.config.app_origin, self.config.after_sign_out_path);
        let location = discovery
            .and_then(|d| d.end_session_url(None, &self.config.client_id, &after))
            .unwrap_or_else(|| self.config.after_sign_out_path.clone());
        let action = respond(
            303,
            alloc::vec![(String::from("location"), location)],
            String::new(),
        );
        Step::Done(ctx.decide(Status::SignedOut, None, action, cookies))
    }
}

/// The revocation value of a version 1 session, by its refresh token (its SHA-256, never the token).
pub(super) fn refresh_token_key(refresh_token: &str) -> String {
    format!(
        "rt:{}",
        crate::hex::encode(&Sha256::digest(refresh_token.as_bytes()))
    )
}
