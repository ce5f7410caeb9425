//! Opaque bearer tokens: the introspection endpoint (RFC 7662) vouches, and
//! its answer is reused by the token's SHA-256 for a bounded time
//! ([`crate::introspection`]).

use super::*;
use crate::introspection::{self, Answer};

/// The `max-age` of a `Cache-Control` value, if it has one.
fn max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.trim().parse().ok())
}

/// Why an inactive token is refused.
fn inactive() -> Refusal {
    refuse!(
        TokenInactive,
        "the provider says this token is not active (revoked, expired or never issued); get a new one"
    )
}

impl Engine {
    /// Whether a bearer token is asked about at the introspection endpoint:
    /// introspection is configured and the token is not of the compact JWS
    /// form (`x.y.z`), which is verified as a JWT instead.
    pub(super) fn introspects(&self, token: &str) -> bool {
        self.config.introspection.is_some() && token.bytes().filter(|b| *b == b'.').count() != 2
    }

    /// A request with an opaque bearer token: the cached answer, or a call
    /// to the endpoint (hosts share concurrent calls for one token by
    /// [`HttpRequest::share`]).
    pub(super) fn introspect(
        &mut self,
        req: &Request<'_>,
        target: Target,
        access: Access,
        token: &str,
        ctx: &mut Ctx,
    ) -> Step {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        match self.introspected.get(&key, ctx.now) {
            Some(Some(identity)) => {
                ctx.event.memo_hit = true;
                return self.bearer_signed_in(req, target, access, identity, token, ctx);
            }
            Some(None) => {
                ctx.event.memo_hit = true;
                return self.refuse(req, inactive(), access, ctx, Vec::new());
            }
            None => {}
        }
        let configured = self
            .config
            .introspection
            .as_ref()
            .and_then(|c| c.endpoint.clone());
        let endpoint = match configured {
            Some(endpoint) => endpoint,
            None => match self.discovery(ctx.now) {
                Ok(d) => match d.introspection_endpoint {
                    Some(endpoint) => endpoint,
                    None if self.discovery.metadata_failed.is_some() => {
                        let refusal = refuse!(
                            AuthApiUnavailable,
                            "the provider's RFC 8414 metadata (where its introspection_endpoint may be) could not be had; retrying after the cooldown"
                        );
                        return self.refuse(req, refusal, access, ctx, Vec::new());
                    }
                    None => {
                        let refusal = refuse!(
                            AuthApiInvalid,
                            "the provider's discovery document names no introspection_endpoint; set introspection.endpoint"
                        );
                        return self.refuse(req, refusal, access, ctx, Vec::new());
                    }
                },
                Err(Err((fill, http))) => {
                    return ctx.suspend(http, Wait::Fill(fill, Then::Request(OwnedRequest::new(req))))
                }
                Err(Ok(refusal)) => return self.refuse(req, refusal, access, ctx, Vec::new()),
            },
        };
        let mut http = post(self.client().introspection_request(&endpoint, token));
        http.max_bytes = introspection::MAX_ANSWER_BYTES;
        http.share = Some(format!("introspect:{}", crate::hex::encode(&key)));
        ctx.suspend(
            http,
            Wait::Introspection {
                req: OwnedRequest::new(req),
                key,
            },
        )
    }

    /// The endpoint's answer: an active token's identity (checked and
    /// cached until `min(exp, maxAge)`), an inactive one (cached for
    /// `inactiveMaxAge`), or an outage (`auth-api-unavailable`, never cached).
    #[inline(never)]
    pub(super) fn finish_introspection(
        &mut self,
        req: OwnedRequest,
        key: [u8; 32],
        reply: Reply<'_>,
        ctx: &mut Ctx,
    ) -> Step {
        let headers = req.headers();
        let r = borrow(&req, &headers);
        let (target, access) = match self.resumed_target(&r, ctx) {
            Ok(t) => t,
            Err(refusal) => return self.refuse(&r, refusal, Access::Api, ctx, Vec::new()),
        };
        let mut config = self.config.introspection.clone().unwrap_or_default();
        let now = ctx.now;
        // A reply with a max-age (a host's shared tier replaying an answer
        // it kept, or the endpoint itself) is reused no longer than that.
        if let Reply::Response {
            cache_control: Some(cc),
            ..
        } = &reply
        {
            if let Some(left) = max_age(cc) {
                config.max_age = config.max_age.min(left);
                config.inactive_max_age = config.inactive_max_age.min(left);
            }
        }
        let answer = match reply {
            Reply::Response { status, body, .. } => introspection::answer(status, body),
            Reply::Failed(why) => Err(refuse!(
                AuthApiUnavailable,
                "the introspection endpoint could not be reached: {why}"
            )),
            _ => Err(refuse!(
                AuthApiUnavailable,
                "the introspection request got no HTTP reply"
            )),
        };
        let checked = match answer {
            Ok(Answer::Active(claims)) => {
                introspection::identity(claims, self.config.policy(), now, now + config.max_age, &config)
            }
            Ok(Answer::Inactive) => {
                self.introspected
                    .put(key, None, now + config.inactive_max_age, now);
                return self.refuse(&r, inactive(), access, ctx, Vec::new());
            }
            Err(refusal) => return self.refuse(&r, refusal, access, ctx, Vec::new()),
        };
        match checked {
            Ok(identity) => {
                let identity = Arc::new(identity);
                let until = identity.exp.min(now + config.max_age);
                self.introspected
                    .put(key, Some(Arc::clone(&identity)), until, now);
                let token = bearer_token(r.headers).ok().flatten().unwrap_or("");
                self.bearer_signed_in(&r, target, access, identity, token, ctx)
            }
            Err(refusal) => self.refuse(&r, refusal, access, ctx, Vec::new()),
        }
    }
}
