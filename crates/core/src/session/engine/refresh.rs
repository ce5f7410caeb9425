//! Refreshing a session through the token endpoint: the request, the checks
//! of what comes back (OpenID Connect Core 12.2, the session's subject), and
//! what becomes of the session (stored, kept through an outage, or ended and
//! what it received revoked).

use super::protect::bound_to_session;
use super::revoked::Check;
use super::*;

/// How old a refreshed ID token's `iat` may be, in seconds (besides the
/// leeway): it was issued for this refresh, or for a tab's refresh a replay
/// window ago.
pub(super) const REFRESHED_ID_TOKEN_MAX_AGE: u64 = 150;

impl Engine {
    pub(super) fn start_refresh(
        &mut self,
        req: &Request<'_>,
        refresh: RefreshRecord,
        session: Option<SessionRecord>,
        fallback: Option<Arc<Identity>>,
        ctx: &mut Ctx,
    ) -> Step {
        let discovery = match self.discovery(ctx.now) {
            Ok(d) => d,
            Err(Err((fill, http))) => {
                return ctx.suspend(http, Wait::Fill(fill, Then::Request(OwnedRequest::new(req))))
            }
            Err(Ok(refusal)) => {
                let via = Via::Refresh {
                    refresh,
                    session,
                    fallback,
                };
                return self.on_tokens(OwnedRequest::new(req), via, Err(refusal), ctx);
            }
        };
        let resources: Vec<&str> = self.config.resources.iter().map(String::as_str).collect();
        let form =
            self.client()
                .refresh_request(&discovery.token_endpoint, &refresh.refresh_token, &resources);
        let via = Via::Refresh {
            refresh,
            session,
            fallback,
        };
        Step::Refresh(ctx.pending(
            Some(post(form)),
            Wait::Tokens {
                req: OwnedRequest::new(req),
                via,
            },
        ))
    }

    pub(super) fn on_tokens(
        &mut self,
        req: OwnedRequest,
        via: Via,
        result: Result<TokenSet, Refusal>,
        ctx: &mut Ctx,
    ) -> Step {
        // ID-token sessions with session.userinfo: the userinfo answer for
        // the new access token first (once: a key fill then resumes here
        // with it).
        let endpoint = self
            .discovery
            .loaded
            .as_ref()
            .and_then(|(d, _)| d.userinfo_endpoint.clone());
        let result = match result {
            Ok(tokens) if self.config.session.userinfo && tokens.userinfo.is_none() => match endpoint {
                Some(url) => {
                    let http = HttpRequest {
                        method: "GET",
                        url,
                        headers: alloc::vec![
                            (String::from("accept"), String::from("application/json")),
                            (String::from("authorization"), format!("Bearer {}", tokens.access_token)),
                        ],
                        body: None,
                        timeout_ms: 5_000,
                        max_bytes: MAX_RESPONSE_BYTES,
                        share: None,
                    };
                    return ctx.suspend(http, Wait::Userinfo { req, via, tokens });
                }
                None => Ok(TokenSet {
                    userinfo: Some(Err(refuse!(
                        AuthApiInvalid,
                        "the provider's discovery document names no userinfo_endpoint; turn session.userinfo off"
                    ))),
                    ..tokens
                }),
            },
            other => other,
        };
        match via {
            Via::Callback(tx) => self.finish_callback(req, tx, result, ctx),
            Via::Refresh {
                refresh,
                session,
                fallback,
            } => self.finish_refresh(req, refresh, session, fallback, result, ctx),
        }
    }

    /// The route a suspended request was going to, and its access.
    pub(super) fn resumed_target(&self, r: &Request<'_>, ctx: &mut Ctx) -> Result<(Target, Access), Refusal> {
        let target = request_target(r.url).and_then(|t| {
            self.keep_signed_request(r.method, &t, ctx);
            ctx.navigation = is_safe_method(r.method) && is_navigation(r.headers);
            self.target(r.method, t.path, ctx)
        })?;
        let access = match target {
            Target::Route(access, _) => access,
            _ => Access::Api,
        };
        Ok((target, access))
    }

    /// Continues the refreshed request: checks the new tokens against the
    /// session (OpenID Connect Core 12.2: a refreshed ID token is verified and
    /// names the same issuer and subject; the access token names the
    /// session's subject), stores them and forwards, or answers the refusal
    /// (a refused grant, an unusable answer or tokens for someone else end the
    /// session; an outage keeps it).
    pub(super) fn finish_refresh(
        &mut self,
        req: OwnedRequest,
        refresh: RefreshRecord,
        session: Option<SessionRecord>,
        fallback: Option<Arc<Identity>>,
        result: Result<TokenSet, Refusal>,
        ctx: &mut Ctx,
    ) -> Step {
        let headers = req.headers();
        let r = borrow(&req, &headers);
        let (target, access) = match self.resumed_target(&r, ctx) {
            Ok(t) => t,
            Err(refusal) => return self.refuse(&r, refusal, Access::Api, ctx, Vec::new()),
        };
        let jar = jar(r.headers);
        let tokens = match result {
            Ok(tokens) => tokens,
            Err(refusal) if refusal.reason == Reason::RefreshTokenInvalid => {
                ctx.event.refresh = Some(RefreshOutcome::Refused);
                let clear = self.clear_session(&jar);
                return self.refuse(&r, refusal, access, ctx, clear);
            }
            // The provider answered with something unusable: the refresh
            // token may be spent, so the session ends cleanly (a still-valid
            // access token serves until it expires) instead of answering 503
            // with cookies that can no longer refresh.
            Err(refusal) if refusal.reason == Reason::AuthApiInvalid => {
                ctx.event.refresh = Some(RefreshOutcome::Rejected);
                if let (Some(identity), Some(record)) = (fallback, &session) {
                    let clear = self.clear(&jar, &self.names.refresh);
                    return self.signed_in(
                        target,
                        identity,
                        &record.access_token,
                        Status::SignedIn,
                        clear,
                        ctx,
                    );
                }
                let refusal = refuse!(
                    RefreshTokenInvalid,
                    "the provider's refresh answer could not be used ({}); the refresh token may be spent, so the session ended: sign in again",
                    refusal.message
                );
                return self.refuse(&r, refusal, access, ctx, self.clear_session(&jar));
            }
            Err(refusal) => {
                ctx.event.refresh = Some(RefreshOutcome::Unavailable);
                if let (Some(identity), Some(record)) = (fallback, &session) {
                    return self.signed_in(
                        target,
                        identity,
                        &record.access_token,
                        Status::SignedIn,
                        Vec::new(),
                        ctx,
                    );
                }
                let refusal = if refusal.is_retryable() {
                    refusal
                } else {
                    refuse!(AuthApiUnavailable, "the refresh failed: {}", refusal.message)
                };
                return self.refuse(&r, refusal, access, ctx, Vec::new());
            }
        };
        // Revoked (here or on another instance): the refresh that came
        // before, replayed to a copy of the cookies, does not bring the
        // session back. Only revoked: a cold instance's store outage never
        // costs the spent refresh token.
        if self.record_check(session.as_ref(), tokens.refresh_token.as_deref(), ctx.now) == Check::Revoked {
            ctx.event.refresh = Some(RefreshOutcome::Refused);
            ctx.event.store = Some(StoreUse::Revoked);
            let refusal = refuse!(
                SessionRevoked,
                "this session was signed out or revoked; sign in again"
            );
            return self.refuse(&r, refusal, access, ctx, self.clear_session(&jar));
        }
        let id_token = match tokens.id_token.as_deref() {
            None => None,
            Some(id_token) => match self.verify(id_token, false, From::TokenEndpoint, ctx) {
                Verified::Ok(id) => Some(id),
                Verified::Need(need) => {
                    let via = Via::Refresh {
                        refresh,
                        session,
                        fallback,
                    };
                    return ctx.wait(need, Then::Tokens { req, via, tokens });
                }
                // Keys are down: keep the new tokens (the old refresh token is
                // spent) and answer 503; the access token's subject is checked
                // against the session on every request.
                Verified::Err(refusal) if refusal.reason.keeps_session() => {
                    return self.keep_unverified(&r, access, &jar, refresh, session, tokens, refusal, ctx)
                }
                Verified::Err(refusal) => {
                    let refusal = context(refusal, "the refreshed ID token was refused: ", "");
                    return self.reject_refresh(req, &tokens, Some(&refresh.refresh_token), refusal, ctx);
                }
            },
        };
        if let (Some(id), Some(record)) = (&id_token, &session) {
            let checked = oidc::check_refreshed_id_token(
                &id.claims,
                &self.config.client_id,
                record,
                ctx.now,
                self.config.policy().leeway + REFRESHED_ID_TOKEN_MAX_AGE,
            );
            if let Err(refusal) = checked {
                return self.reject_refresh(req, &tokens, Some(&refresh.refresh_token), refusal, ctx);
            }
        }
        // A version 1 session upgraded by this refresh: when it began is unknown.
        let upgraded = session.as_ref().is_none_or(|s| s.id.is_empty());
        if self.id_token_sessions() {
            return match self.id_token_record(session, id_token.as_deref(), &tokens, ctx) {
                Ok((record, identity)) => self.store_refreshed(
                    &r,
                    target,
                    access,
                    &jar,
                    (record, upgraded),
                    refresh.refresh_token,
                    identity,
                    &tokens,
                    ctx,
                ),
                Err(refusal) => self.reject_refresh(req, &tokens, Some(&refresh.refresh_token), refusal, ctx),
            };
        }
        match self.verify(&tokens.access_token, true, From::TokenEndpoint, ctx) {
            Verified::Ok(identity) => {
                if let Some(Err(refusal)) = session.as_ref().map(|s| bound_to_session(&identity, s)) {
                    let refusal = context(refusal, "the refreshed access token is not this session's: ", "");
                    return self.reject_refresh(req, &tokens, Some(&refresh.refresh_token), refusal, ctx);
                }
                let record = self.next_record(session, id_token.as_deref(), &identity, &tokens, ctx);
                self.store_refreshed(
                    &r,
                    target,
                    access,
                    &jar,
                    (record, upgraded),
                    refresh.refresh_token,
                    identity,
                    &tokens,
                    ctx,
                )
            }
            Verified::Need(need) => {
                let via = Via::Refresh {
                    refresh,
                    session,
                    fallback,
                };
                ctx.wait(need, Then::Tokens { req, via, tokens })
            }
            Verified::Err(refusal) if refusal.reason.keeps_session() => {
                self.keep_unverified(&r, access, &jar, refresh, session, tokens, refusal, ctx)
            }
            Verified::Err(refusal) => {
                let refusal = context(
                    refusal,
                    "the provider's refreshed access token was refused: ",
                    "; check the verification settings",
                );
                self.reject_refresh(req, &tokens, Some(&refresh.refresh_token), refusal, ctx)
            }
        }
    }

    /// The key set is down after a refresh: the new tokens are stored unverified
    /// (the old refresh token is spent; the next request verifies the access
    /// token, and its subject against the session) and the answer is 503.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn keep_unverified(
        &mut self,
        r: &Request<'_>,
        access: Access,
        jar: &CookieJar,
        refresh: RefreshRecord,
        session: Option<SessionRecord>,
        tokens: TokenSet,
        refusal: Refusal,
        ctx: &mut Ctx,
    ) -> Step {
        ctx.event.refresh = Some(RefreshOutcome::Unavailable);
        let mut record = match session {
            // An ID-token session's identity is its sealed claims: without the
            // refreshed ID token verified (and checked against the session)
            // they are not extended past the expiry they had; the next
            // request after it refreshes again, from the new refresh token.
            Some(previous) if previous.identity.is_some() => SessionRecord {
                access_token: tokens.access_token.clone(),
                ..previous
            },
            Some(previous) => SessionRecord {
                access_token: tokens.access_token.clone(),
                access_expires_at: tokens.expires_in.map(|s| ctx.now.saturating_add(s)),
                ..previous
            },
            None => SessionRecord::legacy(tokens.access_token.clone()),
        };
        // A version 1 session joins the current format here: both cookies
        // get a session id, so they are bound to each other from now on.
        if record.id.is_empty() {
            record.id = ctx.entropy.token();
        }
        let rotated = tokens.refresh_token.unwrap_or(refresh.refresh_token);
        let cookies = self
            .store_session(jar, &record, &rotated, ctx)
            .unwrap_or_default();
        self.refuse(r, refusal, access, ctx, cookies)
    }

    /// The record and identity of an ID-token session after a refresh, its ID
    /// token (when one came) verified and checked against the session
    /// already: the identity is the new ID token's claims, or the session's
    /// until now when the provider sent none (held to the claim rules as
    /// they are now), with the userinfo answer's; the access token is stored
    /// opaque, with its `expires_in`. A refusal ends the session.
    fn id_token_record(
        &self,
        session: Option<SessionRecord>,
        id_token: Option<&Identity>,
        tokens: &TokenSet,
        ctx: &mut Ctx,
    ) -> Result<(SessionRecord, Arc<Identity>), Refusal> {
        if id_token.is_none() {
            if let Some(previous) = &session {
                self.still_admitted(previous)?;
            }
        }
        let kept = session.as_ref().and_then(|s| s.identity.clone());
        let Some(mut sealed) = id_token.map(SealedIdentity::of).or(kept) else {
            return Err(refuse!(
                AuthApiInvalid,
                "the refresh returned no ID token, and this session holds no identity to keep (it began as an access-token session)"
            ));
        };
        match &tokens.userinfo {
            Some(Ok(userinfo)) => {
                if userinfo.get("sub").and_then(serde_json::Value::as_str)
                    != sealed.claims.get("sub").and_then(serde_json::Value::as_str)
                {
                    return Err(refuse!(
                        ClaimInvalid,
                        "the userinfo answer is for another subject than the session (OpenID Connect Core 5.3.2)"
                    ));
                }
                sealed.merge_userinfo(userinfo.clone());
            }
            // An outage (or a bad answer) keeps what the last userinfo
            // answer said, under the new ID token's claims; never the old ID
            // token's, which the new one replaces.
            Some(Err(_)) => {
                if let Some(previous) = session.as_ref().and_then(|s| s.identity.as_ref()) {
                    for name in &previous.userinfo {
                        if let (Some(value), false) =
                            (previous.claims.get(name), sealed.claims.contains_key(name))
                        {
                            sealed.claims.insert(name.clone(), value.clone());
                            sealed.userinfo.push(name.clone());
                        }
                    }
                }
            }
            None => {}
        }
        let exp = opaque_expiry(tokens, id_token.map(|i| i.exp), ctx.now);
        let identity = Arc::new(sealed.identity(exp, self.config.policy()));
        let record = match session {
            Some(previous) if !previous.id.is_empty() => SessionRecord {
                access_token: tokens.access_token.clone(),
                access_expires_at: Some(exp),
                identity: Some(sealed),
                ..previous
            },
            _ => new_record(id_token, &identity, tokens, None, Some(sealed), ctx),
        };
        Ok((record, identity))
    }

    /// A refresh that succeeded: the new record and refresh token (the
    /// rotated one, else the one spent) stored, the request answered with
    /// the refreshed identity. `upgraded`: the record replaces a version 1
    /// session, whose sign-in time is unknown, so it is taken as before any
    /// revocation (and checked against them, names and all, here: the
    /// refresh cookie alone brought it).
    #[allow(clippy::too_many_arguments)]
    fn store_refreshed(
        &mut self,
        r: &Request<'_>,
        target: Target,
        access: Access,
        jar: &CookieJar,
        (mut record, upgraded): (SessionRecord, bool),
        spent: String,
        identity: Arc<Identity>,
        tokens: &TokenSet,
        ctx: &mut Ctx,
    ) -> Step {
        if upgraded {
            record.signed_in_at = 0;
            if self.record_check(Some(&record), None, ctx.now) == Check::Revoked {
                ctx.event.refresh = Some(RefreshOutcome::Refused);
                ctx.event.store = Some(StoreUse::Revoked);
                let refusal = refuse!(
                    SessionRevoked,
                    "this session was signed out or revoked; sign in again"
                );
                return self.refuse(r, refusal, access, ctx, self.clear_session(jar));
            }
        }
        let rotated = tokens.refresh_token.clone().unwrap_or(spent);
        let cookies = match self.store_session(jar, &record, &rotated, ctx) {
            Ok(c) => c,
            Err(refusal) => return self.refuse(r, refusal, access, ctx, self.clear_session(jar)),
        };
        ctx.event.refresh = Some(RefreshOutcome::Refreshed);
        self.signed_in(
            target,
            identity,
            &tokens.access_token,
            Status::Refreshed,
            cookies,
            ctx,
        )
    }

    /// Refused tokens from a refresh: revokes the grant (the refresh token
    /// received, or `spent`, the one that brought the answer, when the
    /// provider did not rotate it) when the provider can revoke, then ends
    /// the session.
    pub(super) fn reject_refresh(
        &mut self,
        req: OwnedRequest,
        tokens: &TokenSet,
        spent: Option<&str>,
        refusal: Refusal,
        ctx: &mut Ctx,
    ) -> Step {
        ctx.event.refresh = Some(RefreshOutcome::Rejected);
        let refusal = context(refusal, "", "; the session ended: sign in again");
        self.discard(req, tokens, spent, refusal, false, ctx)
    }

    /// Revokes the grant behind a token response the engine refused, when
    /// the provider can revoke, so it does not outlive the refusal: the
    /// refresh token received, else `spent` (the one that brought the
    /// answer), else the access token received; then ends the session (a
    /// refresh) or fails the sign-in (`sign_in`) with `refusal`.
    pub(super) fn discard(
        &mut self,
        req: OwnedRequest,
        tokens: &TokenSet,
        spent: Option<&str>,
        refusal: Refusal,
        sign_in: bool,
        ctx: &mut Ctx,
    ) -> Step {
        let endpoint = self
            .discovery
            .loaded
            .as_ref()
            .and_then(|(d, _)| d.revocation_endpoint.clone());
        let received = match tokens.refresh_token.as_deref().or(spent) {
            Some(rt) if !rt.is_empty() => Some((rt, "refresh_token")),
            _ => Some((tokens.access_token.as_str(), "access_token")).filter(|(t, _)| !t.is_empty()),
        };
        if let (Some((token, hint)), Some(endpoint)) = (received, endpoint) {
            let form = self.client().revocation_request(&endpoint, token, hint);
            return ctx.suspend(
                post(form),
                Wait::Discard {
                    req,
                    refusal,
                    sign_in,
                },
            );
        }
        if sign_in {
            let headers = req.headers();
            return self.exchange_failed(refusal, &jar(&headers), ctx);
        }
        self.end_session(req, refusal, ctx)
    }

    /// Whether an ID-token session is still admitted: its sealed claims pass
    /// the configuration's claim rules as they are now (a rule added since
    /// the sign-in binds existing sessions too).
    pub(super) fn still_admitted(&self, record: &SessionRecord) -> Result<(), Refusal> {
        let Some(sealed) = &record.identity else {
            return Ok(());
        };
        let s = &self.config.session;
        if let Some(name) = s
            .id_token_required_claims
            .iter()
            .find(|n| !sealed.claims.contains_key(*n))
        {
            return Err(refuse!(
                ClaimMissing,
                "the session's identity has no {name}, which the configuration now requires"
            ));
        }
        if let Some((name, _)) = s
            .id_token_claim_values
            .iter()
            .find(|(n, v)| sealed.claims.get(*n) != Some(v))
        {
            return Err(refuse!(
                ClaimInvalid,
                "the session's {name} is not the value the configuration now requires"
            ));
        }
        Ok(())
    }

    /// Ends the request's session with `refusal`: cookies cleared.
    pub(super) fn end_session(&mut self, req: OwnedRequest, refusal: Refusal, ctx: &mut Ctx) -> Step {
        let headers = req.headers();
        let r = borrow(&req, &headers);
        let access = self.resumed_target(&r, ctx).map_or(Access::Api, |(_, a)| a);
        let clear = self.clear_session(&jar(r.headers));
        self.refuse(&r, refusal, access, ctx, clear)
    }

    /// The session record after a refresh: the same session (id, subject,
    /// sign-in claims) with the new access token; a version 1 session gets
    /// its id and subject now.
    pub(super) fn next_record(
        &self,
        previous: Option<SessionRecord>,
        id_token: Option<&Identity>,
        access: &Identity,
        tokens: &TokenSet,
        ctx: &mut Ctx,
    ) -> SessionRecord {
        match previous {
            Some(previous) if !previous.id.is_empty() => SessionRecord {
                access_token: tokens.access_token.clone(),
                access_expires_at: Some(access.exp),
                ..previous
            },
            _ => new_record(id_token, access, tokens, None, None, ctx),
        }
    }
}

/// How long an opaque access token is good for: its `expires_in`; without
/// one, the ID token's `exp` that came with it; without either,
/// [`OPAQUE_TOKEN_LIFETIME`].
pub(super) fn opaque_expiry(tokens: &TokenSet, id_token_exp: Option<u64>, now: u64) -> u64 {
    tokens
        .expires_in
        .map(|s| now.saturating_add(s))
        .or(id_token_exp)
        .unwrap_or(now + OPAQUE_TOKEN_LIFETIME)
}

/// The lifetime assumed for an opaque access token that came with neither
/// `expires_in` nor an ID token (RFC 6749 §5.1 lets `expires_in` be
/// omitted), in seconds: short, so the session's identity is renewed soon.
pub(super) const OPAQUE_TOKEN_LIFETIME: u64 = 300;

/// A new session's record: a fresh id; the subject and issuer of the ID token
/// (or of the access token, for a version 1 session refreshed without one);
/// `access` is the access token's identity, or an ID-token session's, then
/// kept `sealed`.
pub(super) fn new_record(
    id_token: Option<&Identity>,
    access: &Identity,
    tokens: &TokenSet,
    nonce: Option<&str>,
    sealed: Option<SealedIdentity>,
    ctx: &mut Ctx,
) -> SessionRecord {
    let subject = id_token.unwrap_or(access);
    let claim_u64 = |name: &str| {
        id_token
            .and_then(|i| i.claims.get(name))
            .and_then(serde_json::Value::as_u64)
    };
    SessionRecord {
        id: ctx.entropy.token(),
        iss: subject.iss.clone(),
        sub: subject.sub.clone(),
        access_sub: (access.sub != subject.sub).then(|| access.sub.clone()),
        signed_in_at: ctx.now,
        access_token: tokens.access_token.clone(),
        access_expires_at: Some(access.exp),
        id_token: IdTokenClaims {
            sid: id_token.and_then(|i| i.sid.clone()),
            auth_time: claim_u64("auth_time"),
            nonce: nonce.map(String::from),
        },
        identity: sealed,
    }
}
