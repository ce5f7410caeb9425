//! Signing out: revocation at the provider, cookies cleared, the end-session
//! redirect, and the sessions signed out here (so a replay of their last
//! refresh does not bring them back).

use super::*;

/// Signed-out sessions remembered at most (the oldest go first).
pub(super) const MAX_ENDED: usize = 4096;

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
        // Until the session's access token would have expired: a copy of
        // its cookies taken before is refused at once, not served until then.
        if let Ok(Some(session)) = self.open_session(&jar, ctx.now) {
            let served_until = session
                .access_expires_at
                .map(|exp| exp.saturating_add(self.config.policy().leeway));
            self.end(session.id, served_until, ctx.now);
        }
        // By its refresh token too: a version 1 session has no id, and a
        // replay of the refresh before this one returns this refresh token.
        if let Some(rt) = &refresh {
            self.end(refresh_token_key(&rt.refresh_token), None, ctx.now);
        }
        let discovery = match self.discovery(ctx.now) {
            Ok(d) => Some(d),
            Err(Err((fill, http))) => {
                return ctx.suspend(http, Wait::Fill(fill, Then::Request(OwnedRequest::new(req))))
            }
            // Signing out must work while the provider is down: clear locally.
            Err(Ok(_)) => None,
        };
        if let (Some(rt), Some(endpoint)) = (
            refresh,
            discovery.as_ref().and_then(|d| d.revocation_endpoint.as_deref()),
        ) {
            let form = self
                .client()
                .revocation_request(endpoint, &rt.refresh_token, "refresh_token");
            return ctx.suspend(post(form), Wait::Revocation(OwnedRequest::new(req)));
        }
        let owned = OwnedRequest::new(req);
        self.sign_out_done(&owned, discovery.as_ref(), ctx)
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

    /// Remembers that session `id` was signed out (see [`Engine::is_ended`])
    /// for as long as its last refresh can be replayed, or until `at_least`
    /// (when its access token would have expired), whichever is later.
    pub(super) fn end(&mut self, id: String, at_least: Option<u64>, now: u64) {
        if id.is_empty() {
            return;
        }
        let until = now
            .saturating_add(self.config.replay_window)
            .saturating_add(crate::refresh::LEAD_TIMEOUT)
            .max(at_least.unwrap_or(0));
        self.ended.retain(|_, u| now < *u);
        if self.ended.len() >= MAX_ENDED {
            if let Some(oldest) = self.ended.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone()) {
                self.ended.remove(&oldest);
            }
        }
        self.ended.insert(id, until);
    }

    /// Whether session `id` was signed out here, within the time a copy of
    /// its cookies could still be served or its last refresh replayed.
    pub(super) fn is_ended(&self, id: &str, now: u64) -> bool {
        self.ended.get(id).is_some_and(|until| now < *until)
    }
}

/// The `ended` key of a refresh token (its SHA-256, never the token).
pub(super) fn refresh_token_key(refresh_token: &str) -> String {
    format!(
        "rt:{}",
        crate::hex::encode(&Sha256::digest(refresh_token.as_bytes()))
    )
}
