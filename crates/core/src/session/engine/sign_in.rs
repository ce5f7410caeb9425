//! Signing in: the redirect to the provider (PKCE, state, nonce in a sealed
//! transaction cookie) and the callback (state, RFC 9207 `iss`, the code
//! exchange, the ID token and the access token, the new session record).

use super::refresh::{new_record, opaque_expiry};
use super::*;

impl Engine {
    pub(super) fn sign_in(&mut self, req: &Request<'_>, query: &str, ctx: &mut Ctx) -> Step {
        let Some(keyring) = self.keyring.clone() else {
            return ctx.plain(404, NOT_ENABLED, None);
        };
        let discovery = match self.discovery(ctx.now) {
            Ok(d) => d,
            Err(Err((fill, http))) => {
                return ctx.suspend(http, Wait::Fill(fill, Then::Request(OwnedRequest::new(req))))
            }
            Err(Ok(refusal)) => return self.refuse(req, refusal, Access::Api, ctx, Vec::new()),
        };
        let return_to = query_param(query, "redirect_url")
            .and_then(|r| oidc::safe_return_path(&r, &self.config.app_origin))
            .unwrap_or_else(|| String::from("/"));
        let pkce = Pkce::from_random(ctx.entropy.next());
        let tx = Transaction {
            s: ctx.entropy.token(),
            n: ctx.entropy.token(),
            v: pkce.verifier.clone(),
            r: return_to,
        };
        let scopes: Vec<&str> = self.config.scopes.iter().map(String::as_str).collect();
        let mut extra: Vec<(&str, &str)> = self
            .config
            .authorization_params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        extra.extend(self.config.resources.iter().map(|r| ("resource", r.as_str())));
        let redirect_uri = self.config.redirect_uri();
        let location = discovery.authorize_url(&AuthorizeParams {
            client_id: &self.config.client_id,
            redirect_uri: &redirect_uri,
            scopes: &scopes,
            state: &tx.s,
            nonce: &tx.n,
            pkce: &pkce,
            extra: &extra,
        });
        let max_age = self.config.cookies.transaction_max_age;
        let plaintext = serde_json::to_vec(&tx).unwrap_or_default();
        let sealed = keyring.seal(
            &self.names.transaction,
            &plaintext,
            ctx.now + max_age,
            ctx.entropy.nonce(),
        );
        let jar = jar(req.headers);
        let cookies = match cookie::store(&jar, &self.template(&self.names.transaction, max_age), &sealed) {
            Ok(c) => c,
            Err(why) => return ctx.plain(500, &why, None),
        };
        let action = respond(
            302,
            alloc::vec![(String::from("location"), location)],
            String::new(),
        );
        Step::Done(ctx.decide(Status::Handshake, None, action, cookies))
    }

    pub(super) fn callback(&mut self, req: &Request<'_>, query: &str, ctx: &mut Ctx) -> Step {
        let Some(keyring) = &self.keyring else {
            return ctx.plain(404, NOT_ENABLED, None);
        };
        let jar = jar(req.headers);
        let tx = jar
            .get_joined(&self.names.transaction)
            .and_then(|v| v.ok_or_else(|| refuse!(StateMismatch, "no sign-in is in progress in this browser (the transaction cookie is missing or expired); start again from sign-in")))
            .and_then(|sealed| keyring.open(&self.names.transaction, &sealed, ctx.now))
            .and_then(|plain| {
                serde_json::from_slice::<Transaction>(&plain)
                    .map_err(|_| refuse!(CookieUnsealable, "the transaction cookie does not hold a transaction"))
            });
        let tx = match tx {
            Ok(tx) => tx,
            Err(refusal) => return self.callback_failed(refusal, &jar, ctx),
        };
        let state = query_param(query, "state").unwrap_or_default();
        if !oidc::constant_time_eq(state.as_bytes(), tx.s.as_bytes()) {
            let refusal = refuse!(
                StateMismatch,
                "the callback's state is not the one this browser's sign-in sent; start again from sign-in"
            );
            return self.callback_failed(refusal, &jar, ctx);
        }
        // RFC 9207: a provider that names itself must be the configured one.
        if let Some(iss) = query_param(query, "iss") {
            if iss != self.config.issuer {
                let refusal = refuse!(
                    IssuerInvalid,
                    "the callback's iss {} is not the configured issuer",
                    crate::jwk::quoted(&iss)
                );
                return self.callback_failed(refusal, &jar, ctx);
            }
        }
        let discovery = match self.discovery(ctx.now) {
            Ok(d) => d,
            Err(Err((fill, http))) => {
                return ctx.suspend(http, Wait::Fill(fill, Then::Request(OwnedRequest::new(req))))
            }
            Err(Ok(refusal)) => return self.callback_failed(refusal, &jar, ctx),
        };
        // RFC 9207 §2.4: a provider that says it names itself must have done so.
        if discovery.iss_parameter_supported && query_param(query, "iss").is_none() {
            let refusal = refuse!(
                IssuerInvalid,
                "the callback has no iss, which the provider's metadata promises (RFC 9207: authorization_response_iss_parameter_supported); start again from sign-in"
            );
            return self.callback_failed(refusal, &jar, ctx);
        }
        if let Some(error) = query_param(query, "error") {
            let description = query_param(query, "error_description")
                .map(|d| format!(": {}", crate::jwk::quoted(&d)))
                .unwrap_or_default();
            let refusal = refuse!(
                CallbackError,
                "the provider answered the sign-in with {}{description}",
                crate::jwk::quoted(&error)
            );
            return self.callback_failed(refusal, &jar, ctx);
        }
        let Some(code) = query_param(query, "code").filter(|c| !c.is_empty()) else {
            let refusal = refuse!(CallbackError, "the callback has neither code nor error");
            return self.callback_failed(refusal, &jar, ctx);
        };
        let form = self.client().code_request(
            &discovery.token_endpoint,
            &code,
            &self.config.redirect_uri(),
            &tx.v,
        );
        ctx.suspend(
            post(form),
            Wait::Tokens {
                req: OwnedRequest::new(req),
                via: Via::Callback(tx),
            },
        )
    }

    pub(super) fn finish_callback(
        &mut self,
        req: OwnedRequest,
        tx: Transaction,
        result: Result<TokenSet, Refusal>,
        ctx: &mut Ctx,
    ) -> Step {
        let headers = req.headers();
        let r = borrow(&req, &headers);
        let jar = jar(r.headers);
        let tokens = match result {
            Ok(tokens) => tokens,
            // For a code, invalid_grant means a spent or foreign code, not a session.
            Err(refusal) if refusal.reason == Reason::RefreshTokenInvalid => {
                let refusal = refuse!(CallbackError, "the code exchange failed: {}", refusal.message);
                return self.callback_failed(refusal, &jar, ctx);
            }
            Err(refusal) => return self.callback_failed(refusal, &jar, ctx),
        };
        let (id, identity) = match self.verify_issued(&tokens, &tx.n, ctx) {
            Issued::Both(id, access) => (id, access),
            Issued::Need(need) => {
                let then = Then::Tokens {
                    req,
                    via: Via::Callback(tx),
                    tokens,
                };
                return ctx.wait(need, then);
            }
            // An outage (keys down): the grant may well be fine, and at some
            // providers (Google) revoking it signs the user out everywhere;
            // the code is spent, so the transaction ends.
            Issued::Err(refusal) if refusal.reason.keeps_session() => {
                return self.exchange_failed(refusal, &jar, ctx)
            }
            // The user consented and the provider issued a grant that is not
            // acceptable: it is revoked, not left live behind a failed sign-in.
            Issued::Err(refusal) => return self.discard(req, &tokens, None, refusal, true, ctx),
        };
        let mut sealed = self.id_token_sessions().then(|| SealedIdentity::of(&id));
        // session.userinfo: its claims join the ID token's; at sign-in any
        // failure fails the sign-in.
        let mut identity = identity;
        if let (Some(sealed), Some(userinfo)) = (sealed.as_mut(), &tokens.userinfo) {
            let userinfo = match userinfo {
                Ok(u) if u.get("sub").and_then(serde_json::Value::as_str) == Some(id.sub.as_str()) => {
                    u.clone()
                }
                Ok(_) => {
                    let refusal = refuse!(ClaimInvalid, "the userinfo answer is for another subject than the ID token (OpenID Connect Core 5.3.2)");
                    return self.discard(req, &tokens, None, refusal, true, ctx);
                }
                Err(refusal) if refusal.reason.keeps_session() || refusal.is_retryable() => {
                    return self.exchange_failed(refusal.clone(), &jar, ctx)
                }
                Err(refusal) => return self.discard(req, &tokens, None, refusal.clone(), true, ctx),
            };
            sealed.merge_userinfo(userinfo);
            identity = Arc::new(sealed.identity(identity.exp, self.config.policy()));
        }
        let record = new_record(Some(&id), &identity, &tokens, Some(&tx.n), sealed, ctx);
        let refresh = tokens.refresh_token.as_deref().unwrap_or("");
        let mut cookies = match self.store_session(&jar, &record, refresh, ctx) {
            Ok(c) => c,
            Err(refusal) => return self.discard(req, &tokens, None, refusal, true, ctx),
        };
        cookies.extend(self.clear(&jar, &self.names.transaction));
        ctx.event.expires_in = Some(identity.exp.saturating_sub(ctx.now));
        let action = respond(303, alloc::vec![(String::from("location"), tx.r)], String::new());
        Step::Done(ctx.decide(Status::SignedIn, None, action, cookies))
    }

    /// The ID token (signature, iss, exp, iat, aud = client id, azp, nonce)
    /// and the access token (the access policy) of a code exchange.
    pub(super) fn verify_issued(&mut self, tokens: &TokenSet, nonce: &str, ctx: &mut Ctx) -> Issued {
        let Some(id_token) = tokens.id_token.as_deref() else {
            return Issued::Err(refuse!(
                CallbackError,
                "the token response has no id_token; the scopes must include openid"
            ));
        };
        let id = match self.verify(id_token, false, From::TokenEndpoint, ctx) {
            Verified::Ok(id) => id,
            Verified::Need(need) => return Issued::Need(need),
            Verified::Err(r) => return Issued::Err(context(r, "the ID token was refused: ", "")),
        };
        if let Err(refusal) = oidc::check_id_token_claims(&id.claims, &self.config.client_id, nonce) {
            return Issued::Err(refusal);
        }
        // An ID-token session: the identity is the ID token's, for as long
        // as the (opaque) access token lasts.
        if self.id_token_sessions() {
            let exp = opaque_expiry(tokens, Some(id.exp), ctx.now);
            let identity = Arc::new(Identity {
                exp,
                kind: crate::grants::Kind::User,
                ..(*id).clone()
            });
            return Issued::Both(id, identity);
        }
        match self.verify(&tokens.access_token, true, From::TokenEndpoint, ctx) {
            Verified::Ok(access) => Issued::Both(id, access),
            Verified::Need(need) => Issued::Need(need),
            Verified::Err(r) => Issued::Err(context(
                r,
                "the access token was refused: ",
                "; with access-token sessions Tessera needs the provider's access tokens to be JWTs for your API (set verification.audience to what the provider puts in them, e.g. with a resource indicator or Auth0's audience), or use ID-token sessions (session.identity \"id-token\") for providers whose access tokens are opaque",
            )),
        }
    }

    /// A failed callback: 400, or 502 when the provider answered with
    /// something unusable, or 503 for outages, with a plain-text explanation.
    /// The transaction cookie is cleared, except after an outage, when the
    /// user may retry the same callback.
    pub(super) fn callback_failed(&self, refusal: Refusal, jar: &CookieJar, ctx: &mut Ctx) -> Step {
        self.sign_in_failed(refusal, jar, true, ctx)
    }

    /// A sign-in that failed after the code exchange: as
    /// [`Engine::callback_failed`], but the transaction ends even after an
    /// outage (the code is spent; retrying the callback cannot work).
    pub(super) fn exchange_failed(&self, refusal: Refusal, jar: &CookieJar, ctx: &mut Ctx) -> Step {
        self.sign_in_failed(refusal, jar, false, ctx)
    }

    fn sign_in_failed(&self, refusal: Refusal, jar: &CookieJar, retryable: bool, ctx: &mut Ctx) -> Step {
        let (status, code, clear) = match refusal.reason.http_status() {
            503 if retryable => (503, Status::Unavailable, Vec::new()),
            503 => (503, Status::Unavailable, self.clear(jar, &self.names.transaction)),
            502 => (502, Status::Unavailable, self.clear(jar, &self.names.transaction)),
            _ => (400, Status::Denied, self.clear(jar, &self.names.transaction)),
        };
        let text = format!(
            "Sign-in failed ({}): {}\nStart again at {}/sign-in\n",
            refusal.reason, refusal.message, self.config.endpoint_prefix
        );
        let mut headers = alloc::vec![(
            String::from("content-type"),
            String::from("text/plain; charset=utf-8")
        )];
        headers.push((String::from("cache-control"), String::from("no-store")));
        if status == 503 {
            headers.push((String::from("retry-after"), format!("{RETRY_AFTER}")));
        }
        let action = Action::Respond {
            status,
            headers,
            body: text,
        };
        Step::Done(ctx.decide_because(code, Some(refusal.reason), Some(refusal.message), action, clear))
    }
}
