//! Protected and public routes: the credential (bearer token or session
//! cookie), the CSRF gate, CORS preflights, and the answer a request gets
//! (forward with the identity, or the refusal of the reason table).

use super::*;
use crate::decision::insufficient_scope;
use crate::requirement::{Requirement, Unmet};

impl Engine {
    pub(super) fn protect(
        &mut self,
        req: &Request<'_>,
        target: Target,
        access: Access,
        bearer_ok: bool,
        ctx: &mut Ctx,
    ) -> Step {
        // A CORS preflight carries no credentials (Fetch standard) and changes
        // nothing. On a public route, or a protected one that forwards them,
        // the origin answers it, without an identity, a body or any credential
        // a client added; otherwise Tessera answers 204 without CORS headers
        // (browsers then refuse the cross-origin call), so no handler runs
        // for a protected path without an identity.
        if req.method.eq_ignore_ascii_case("OPTIONS")
            && header_present(req.headers, "access-control-request-method")
        {
            let action = if ctx.forward_preflight {
                Action::Forward {
                    identity: None,
                    headers: Vec::new(),
                    remove: &["authorization", "cookie"],
                    body: false,
                }
            } else {
                let vary = (
                    String::from("vary"),
                    String::from("origin, access-control-request-method"),
                );
                respond(204, alloc::vec![vary], String::new())
            };
            return Step::Done(ctx.decide(Status::SignedOut, None, action, Vec::new()));
        }
        if bearer_ok {
            match access_token(req.headers) {
                Err(refusal) => return self.refuse(req, refusal, access, ctx, Vec::new()),
                Ok(Some((dpop, token))) => {
                    ctx.event.source = Some(Source::Bearer);
                    ctx.dpop = dpop;
                    if self.introspects(token) {
                        if dpop {
                            let refusal = refuse!(
                                DpopProofInvalid,
                                "DPoP is checked for JWT access tokens; an opaque (introspected) token goes as Authorization: Bearer"
                            );
                            return self.refuse(req, refusal, access, ctx, Vec::new());
                        }
                        return self.introspect(req, target, access, token, ctx);
                    }
                    return match self.verify(token, true, From::Client, ctx) {
                        Verified::Ok(identity) => {
                            self.bearer_signed_in(req, target, access, identity, token, ctx)
                        }
                        Verified::Need(need) => ctx.wait(need, Then::Request(OwnedRequest::new(req))),
                        Verified::Err(refusal) => self.refuse(req, refusal, access, ctx, Vec::new()),
                    };
                }
                Ok(None) => {}
            }
        }
        let jar = jar(req.headers);
        let session = self.open_session(&jar, ctx.now);
        let refresh = self.open_refresh(&jar, ctx.now);
        let mut clear = Vec::new();
        if session.is_err() {
            clear.extend(self.clear(&jar, &self.names.session));
        }
        if refresh.is_err() {
            clear.extend(self.clear(&jar, &self.names.refresh));
        }
        let has_cookies = !matches!((&session, &refresh), (Ok(None), Ok(None)));
        if has_cookies {
            ctx.event.source = Some(Source::Cookie);
            if let Err(refusal) = csrf_check(
                req.method,
                req.headers,
                &self.config.app_origin,
                &self.allowed_origins(),
            ) {
                return self.refuse(req, refusal, access, ctx, clear);
            }
        }
        // A refresh cookie refreshes only beside the session cookie of its own
        // session: a copied refresh cookie alone, or one from another session,
        // never does (version 1 cookies carry no session id).
        let refresh = match refresh.ok().flatten() {
            Some(rt) if !rt.id.is_empty() && !matches!(&session, Ok(Some(s)) if s.id == rt.id) => {
                clear.extend(self.clear(&jar, &self.names.refresh));
                None
            }
            rt => rt,
        };
        // Revoked (signed out, logged out at the provider, revoked by the
        // app): refused whatever the cookies still hold, before any refresh.
        if matches!(&session, Ok(Some(_))) || refresh.is_some() {
            let record = session.as_ref().ok().and_then(Option::as_ref);
            let rt = refresh.as_ref().map(|rt| rt.refresh_token.as_str());
            if let Err(refusal) = self.check_record(record, rt, ctx) {
                if refusal.reason == Reason::SessionRevoked {
                    clear.extend(self.clear_session(&jar));
                }
                return self.refuse(req, refusal, access, ctx, clear);
            }
        }
        if target == Target::Refresh {
            let record = session.ok().flatten();
            return match refresh {
                Some(rt) => self.start_refresh(req, rt, record, None, ctx),
                None => self.refuse(
                    req,
                    refuse!(
                        TokenMissing,
                        "there is no refresh cookie for this session; sign in"
                    ),
                    access,
                    ctx,
                    clear,
                ),
            };
        }
        let leeway = self.config.policy().leeway;
        let (record, refusal) = match session {
            // Expired by the record's own (verified) expiry: refreshed without
            // verifying a token that could only be token-expired, whose key the
            // provider may have withdrawn since.
            Ok(Some(record))
                if refresh.is_some()
                    && record
                        .access_expires_at
                        .is_some_and(|exp| exp.saturating_add(leeway) <= ctx.now) =>
            {
                let refusal = refuse!(TokenExpired, "the session's access token expired");
                (Some(record), refusal)
            }
            // An ID-token session: the identity sealed with it, good until the
            // (opaque) access token's expiry.
            Ok(Some(record)) if self.id_token_sessions() && record.identity.is_some() => {
                let exp = record.access_expires_at.unwrap_or(0);
                if exp.saturating_add(leeway) <= ctx.now {
                    let refusal = refuse!(TokenExpired, "the session's access token expired");
                    (Some(record), refusal)
                } else if let Err(refusal) = self.still_admitted(&record) {
                    clear.extend(self.clear_session(&jar));
                    return self.refuse(req, refusal, access, ctx, clear);
                } else {
                    let identity = match &record.identity {
                        Some(sealed) => Arc::new(sealed.identity(exp, self.config.policy())),
                        None => unreachable!("matched above"),
                    };
                    if let Some(rt) =
                        refresh.filter(|_| exp.saturating_sub(ctx.now) <= self.config.refresh_ahead)
                    {
                        ctx.event.proactive_refresh = true;
                        return self.start_refresh(req, rt, Some(record), Some(identity), ctx);
                    }
                    return self.signed_in(
                        target,
                        identity,
                        &record.access_token,
                        Status::SignedIn,
                        clear,
                        ctx,
                    );
                }
            }
            Ok(Some(record)) => match self.verify(&record.access_token, true, From::Sealed, ctx) {
                Verified::Ok(identity) => match bound_to_session(&identity, &record) {
                    Ok(()) => {
                        let expires_in = identity.exp.saturating_sub(ctx.now);
                        match refresh {
                            Some(rt) if expires_in <= self.config.refresh_ahead => {
                                ctx.event.proactive_refresh = true;
                                return self.start_refresh(req, rt, Some(record), Some(identity), ctx);
                            }
                            _ => {
                                return self.signed_in(
                                    target,
                                    identity,
                                    &record.access_token,
                                    Status::SignedIn,
                                    clear,
                                    ctx,
                                )
                            }
                        }
                    }
                    Err(refusal) => {
                        clear.extend(self.clear_session(&jar));
                        return self.refuse(req, refusal, access, ctx, clear);
                    }
                },
                Verified::Need(need) => return ctx.wait(need, Then::Request(OwnedRequest::new(req))),
                // An outage: refreshing would not help verify the new token either.
                Verified::Err(refusal) if refusal.reason.keeps_session() => {
                    return self.refuse(req, refusal, access, ctx, clear)
                }
                Verified::Err(refusal) => {
                    clear.extend(self.clear(&jar, &self.names.session));
                    (Some(record), refusal)
                }
            },
            Err(refusal) => (None, refusal),
            Ok(None) => (
                None,
                refuse!(TokenMissing, "no session cookie and no bearer token; sign in"),
            ),
        };
        match refresh {
            Some(rt) => self.start_refresh(req, rt, record, None, ctx),
            None => self.refuse(req, refusal, access, ctx, clear),
        }
    }

    /// A bearer token's verified identity: its DPoP proof checked when it
    /// is bound to a key, then forwarded unless revoked.
    pub(super) fn bearer_signed_in(
        &mut self,
        req: &Request<'_>,
        target: Target,
        access: Access,
        identity: Arc<Identity>,
        token: &str,
        ctx: &mut Ctx,
    ) -> Step {
        match self.check_dpop(req, &identity, token, ctx) {
            super::dpop::Checked::Pass => self.bearer_admitted(req, target, access, identity, token, ctx),
            super::dpop::Checked::Refused(refusal) => self.refuse(req, refusal, access, ctx, Vec::new()),
            super::dpop::Checked::Suspended(step) => step,
        }
    }

    /// A bearer token past its DPoP check: forwarded unless revoked.
    pub(super) fn bearer_admitted(
        &self,
        req: &Request<'_>,
        target: Target,
        access: Access,
        identity: Arc<Identity>,
        token: &str,
        ctx: &mut Ctx,
    ) -> Step {
        match self.check_identity(&identity, ctx) {
            Ok(()) => self.signed_in(target, identity, token, Status::SignedIn, Vec::new(), ctx),
            Err(refusal) => self.refuse(req, refusal, access, ctx, Vec::new()),
        }
    }

    pub(super) fn signed_in(
        &self,
        target: Target,
        identity: Arc<Identity>,
        token: &str,
        status: Status,
        set_cookies: Vec<SetCookie>,
        ctx: &mut Ctx,
    ) -> Step {
        ctx.event.expires_in = Some(identity.exp.saturating_sub(ctx.now));
        // Who they are is settled; whether they may is the route's to say.
        if let Target::Route(access, _) = target {
            if let Some(Err(unmet)) = self.routes.requirements(ctx.rule).map(|r| r.check(&identity)) {
                return self.forbid(access, unmet, set_cookies, ctx);
            }
        }
        // A client's bearer token goes on as it came; a session's access token
        // only when the configuration passes it (session.passAccessToken).
        let token = if ctx.event.source == Some(Source::Bearer) || self.config.session.passes_access_token() {
            token
        } else {
            ""
        };
        let action = match target {
            Target::Refresh => respond(204, Vec::new(), String::new()),
            Target::Session => {
                let body = serde_json::json!({
                    "signedIn": true,
                    "status": status.as_str(),
                    "expiresAt": identity.exp,
                    "identity": &*identity,
                });
                json(200, Vec::new(), &body)
            }
            _ => {
                let signing = ctx
                    .signed_request
                    .as_ref()
                    .map(|(method, target)| forward::Signing {
                        secret: self.config.forward_signing_secret.expose().as_bytes(),
                        method,
                        origin: &self.config.app_origin,
                        target,
                    });
                let mut headers = forward::identity_headers(&identity, token, signing.as_ref(), ctx.now);
                // A DPoP-bound token goes on under its own scheme, with its
                // proof (left in place): never as a bearer token.
                if ctx.dpop {
                    if let Some((_, value)) = headers.iter_mut().find(|(n, _)| n == "authorization") {
                        *value = format!("DPoP {token}");
                    }
                }
                Action::Forward {
                    identity: Some(identity),
                    headers,
                    // No token passed on (an ID-token session that keeps its
                    // access token): the client's own `authorization` must
                    // not reach the origin beside a verified identity.
                    remove: if token.is_empty() { &["authorization"] } else { &[] },
                    body: true,
                }
            }
        };
        Step::Done(ctx.decide(status, None, action, set_cookies))
    }

    /// A verified caller who does not meet the route's requirements: 403
    /// `insufficient-scope` (RFC 6750's challenge for bearer tokens, a page
    /// for navigations, never a sign-in), or, for a bearer token from an
    /// issuer the route does not accept, 401 `issuer-invalid`. Cookies a
    /// refresh just set are still set.
    fn forbid(&self, access: Access, unmet: Unmet, set_cookies: Vec<SetCookie>, ctx: &mut Ctx) -> Step {
        ctx.event.requirement = Some(unmet.requirement);
        let bearer = ctx.event.source == Some(Source::Bearer);
        let Unmet {
            requirement,
            message,
            scope,
        } = unmet;
        let (reason, answer, challenge) = if bearer && requirement == Requirement::Issuer {
            let challenge = self.challenge(Reason::IssuerInvalid, &message, ctx);
            (Reason::IssuerInvalid, Answer::Unauthorized, Some(challenge))
        } else {
            let scheme = if ctx.dpop { "DPoP" } else { "Bearer" };
            let challenge = bearer.then(|| insufficient_scope(scheme, &message, scope.as_deref()));
            (Reason::InsufficientScope, Answer::Forbidden, challenge)
        };
        let headers = challenge
            .map(|c| alloc::vec![(String::from("www-authenticate"), c)])
            .unwrap_or_default();
        let action = if access == Access::Page && ctx.navigation {
            forbidden_page(&message)
        } else {
            let body = serde_json::json!({
                "error": reason.code(),
                "requirement": requirement,
                "message": &message,
            });
            json(answer.http_status(), headers, &body)
        };
        Step::Done(ctx.decide_because(answer.status(), Some(reason), Some(message), action, set_cookies))
    }

    /// Answers a refusal per the [`Answer`] table; public routes forward
    /// anonymously instead.
    pub(super) fn refuse(
        &self,
        req: &Request<'_>,
        refusal: Refusal,
        access: Access,
        ctx: &mut Ctx,
        set_cookies: Vec<SetCookie>,
    ) -> Step {
        let Refusal { reason, message } = refusal;
        if access == Access::Public && !matches!(reason, Reason::PathInvalid) {
            let status = if matches!(reason.http_status(), 502 | 503) {
                Status::Unavailable
            } else {
                Status::SignedOut
            };
            let action = anonymous_forward(ctx);
            return Step::Done(ctx.decide_because(status, Some(reason), Some(message), action, set_cookies));
        }
        let navigation = access == Access::Page && is_safe_method(req.method) && is_navigation(req.headers);
        let answer = Answer::for_reason(reason, navigation);
        let mut headers = Vec::new();
        let action = match answer {
            Answer::SignIn => {
                // The target was read when the request was classified.
                let back = request_target(req.url)
                    .map(|t| format!("{t}"))
                    .unwrap_or_else(|_| String::from("/"));
                let location = format!(
                    "{}/sign-in?redirect_url={}",
                    self.config.endpoint_prefix,
                    oidc::form_encode(&back)
                );
                headers.push((String::from("location"), location));
                respond(302, headers, String::new())
            }
            _ => {
                if answer == Answer::Unauthorized {
                    headers.push((
                        String::from("www-authenticate"),
                        self.challenge(reason, &message, ctx),
                    ));
                    if reason == Reason::DpopNonceRequired {
                        if let Some(nonce) = self.dpop_nonce(ctx.now) {
                            headers.push((String::from("dpop-nonce"), nonce));
                        }
                    }
                }
                if answer == Answer::Unavailable {
                    headers.push((String::from("retry-after"), format!("{RETRY_AFTER}")));
                }
                let body = serde_json::json!({ "error": reason.code(), "message": &message });
                json(answer.http_status(), headers, &body)
            }
        };
        Step::Done(ctx.decide_because(answer.status(), Some(reason), Some(message), action, set_cookies))
    }
}

impl Engine {
    /// The `WWW-Authenticate` of a 401: RFC 6750's `Bearer` challenge, or
    /// RFC 9449's `DPoP` one (with the algorithms proofs may use) for a DPoP
    /// request or a DPoP refusal.
    fn challenge(&self, reason: Reason, message: &str, ctx: &Ctx) -> String {
        let error = match reason {
            Reason::DpopProofInvalid | Reason::DpopProofReplayed => "invalid_dpop_proof",
            Reason::DpopNonceRequired => "use_dpop_nonce",
            Reason::DpopRequired => "invalid_token",
            _ if ctx.dpop => "invalid_token",
            _ => return www_authenticate(reason, message),
        };
        let algs: Vec<&str> = self.config.dpop.algorithms.iter().map(|a| a.name()).collect();
        format!(
            "DPoP error=\"{error}\", error_description=\"{}\", algs=\"{}\"",
            crate::decision::quoted_string(message),
            algs.join(" ")
        )
    }
}

/// The 403 page a browser gets for a page it may not see: what is
/// missing, and no sign-in link (signing in again would not grant it).
fn forbidden_page(message: &str) -> Action {
    let mut escaped = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><meta charset=\"utf-8\"><title>403 Forbidden</title>\n<h1>Forbidden</h1>\n<p>You are signed in, but this page needs more: {escaped}.</p>\n"
    );
    let headers = alloc::vec![(
        String::from("content-type"),
        String::from("text/html; charset=utf-8")
    )];
    respond(403, headers, body)
}

/// Forwarding without a verified identity: the client's `Authorization`
/// header is removed (the origin is told `authorization` carries a verified
/// token) unless the route lets it through.
pub(super) fn anonymous_forward(ctx: &Ctx) -> Action {
    Action::Forward {
        identity: None,
        headers: Vec::new(),
        remove: if ctx.pass_authorization {
            &[]
        } else {
            &["authorization"]
        },
        body: true,
    }
}

/// A verified access token belongs to the session only if it names the
/// session's issuer and subject (fixed at sign-in).
pub(super) fn bound_to_session(identity: &Identity, record: &SessionRecord) -> Result<(), Refusal> {
    if identity.iss != record.iss || identity.sub != record.expected_access_sub() {
        return Err(refuse!(
            ClaimInvalid,
            "the access token names {} at {}, but this session belongs to {} at {}",
            crate::jwk::quoted(&identity.sub),
            crate::jwk::quoted(&identity.iss),
            crate::jwk::quoted(record.expected_access_sub()),
            crate::jwk::quoted(&record.iss)
        ));
    }
    Ok(())
}
