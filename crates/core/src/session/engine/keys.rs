//! Keys, discovery and verification: a token verified against the key set
//! the cache holds (fetching discovery and keys as needed, refetching for
//! unknown kids by where the token came from), by the engine or the host.

use super::issuers::{self, Src};
use super::*;

impl Engine {
    pub(super) fn check_token(&mut self, token: String, ctx: &mut Ctx) -> Step {
        let identity = match self.verify(&token, true, From::Client, ctx) {
            // A bound token needs a proof for a request, which a token on
            // its own does not come with.
            Verified::Ok(identity) if super::dpop::bound(&identity) => Err(refuse!(
                DpopRequired,
                "the access token is bound to a key (cnf): it is accepted only with a DPoP proof for a request (authenticateRequest), never on its own"
            )),
            Verified::Ok(identity) => self.check_identity(&identity, ctx).map(|()| identity),
            Verified::Need(need) => return ctx.wait(need, Then::Token(token)),
            Verified::Err(refusal) => Err(refusal),
        };
        match identity {
            // A token is not a request to pass on: no identity headers.
            Ok(identity) => {
                ctx.event.expires_in = Some(identity.exp.saturating_sub(ctx.now));
                let action = Action::Forward {
                    identity: Some(identity),
                    headers: Vec::new(),
                    remove: &[],
                    body: true,
                };
                Step::Done(ctx.decide(Status::SignedIn, None, action, Vec::new()))
            }
            Err(refusal) => {
                let req = Request {
                    method: "GET",
                    url: "/",
                    headers: &[],
                };
                self.refuse(&req, refusal, Access::Api, ctx, Vec::new())
            }
        }
    }

    /// Verifies `token` with the access-token policy (`access`) or the ID-token
    /// policy, fetching keys as needed; `from` says where the token came from,
    /// which decides what an unknown `kid` costs ([`From`]).
    /// A client's token goes to the verifier its issuer names
    /// ([`Engine::route_issuer`]); sessions are the main issuer's.
    pub(super) fn verify(&mut self, token: &str, access: bool, from: From, ctx: &mut Ctx) -> Verified {
        if access {
            if let Some(identity) = self.verifier.remembered(token, ctx.now) {
                ctx.event.memo_hit = true;
                return Verified::Ok(identity);
            }
        }
        let src = match (access, from) {
            (false, _) => Src::IdToken,
            (true, From::Client) => {
                if let Some(identity) = self.remembered_elsewhere(token, ctx.now) {
                    ctx.event.memo_hit = true;
                    return Verified::Ok(identity);
                }
                match self.route_issuer(token, ctx) {
                    Ok(src) => src,
                    Err(refusal) => return Verified::Err(refusal),
                }
            }
            (true, _) => Src::Access,
        };
        let signed = match self.signed(token, src, from, ctx) {
            Ok(signed) => signed,
            Err(not_yet) => return not_yet,
        };
        match self.verifier_for(src).finish(signed, ctx.now) {
            Ok(identity) => Verified::Ok(identity),
            Err(refusal) => Verified::Err(refusal),
        }
    }

    /// The signature check of [`Engine::verify`], on its own: a token whose
    /// signature verified with the provider's keys (by the access-token or
    /// the ID-token policy's header rules), or what must happen first.
    // The error is a `Verified` (a need or a refusal), moved once.
    #[allow(clippy::result_large_err)]
    pub(super) fn signed<'t>(
        &mut self,
        token: &'t str,
        src: Src,
        from: From,
        ctx: &mut Ctx,
    ) -> Result<crate::verifier::Signed<'t>, Verified> {
        let keys = match src {
            Src::Trusted(i) => self.trusted_keys(i, ctx),
            Src::Access | Src::IdToken => self.keys(ctx),
        };
        if let Err(need) = keys {
            // What is not even a JWS is refused without fetching any keys.
            if let Err(refusal) = crate::jws::parse(token) {
                return Err(Verified::Err(refusal));
            }
            return Err(need);
        }
        let host_signatures = core::mem::take(&mut self.host_signatures);
        let signed = self.verifier_for(src).prepare(token).and_then(|prepared| {
            if !host_signatures.contains(&prepared.alg()) {
                return prepared.check_signature().map(Ok);
            }
            let key = prepared.key();
            let done = ctx.signatures.iter().find(|(c, _)| {
                c.key_id == key.key_id()
                    && c.alg == prepared.alg()
                    && c.signature == prepared.signature()
                    && c.signing_input == prepared.signing_input()
            });
            match done {
                // `host_checked` applies the precheck too.
                Some((_, valid)) => prepared.host_checked(*valid).map(Ok),
                // What needs no cryptography is refused here, without a host check.
                None => prepared.precheck().map(|()| {
                    Err(SignatureCheck {
                        alg: prepared.alg(),
                        key_id: key.key_id().to_owned(),
                        spki_der: key.spki_der().to_vec(),
                        signing_input: prepared.signing_input().to_vec(),
                        signature: prepared.signature().to_vec(),
                    })
                }),
            }
        });
        self.host_signatures = host_signatures;
        let (cache, fill) = match src {
            Src::Trusted(i) => (self.trusted[i].jwks.as_mut(), Fill::TrustedKeys(i)),
            Src::Access | Src::IdToken => (self.jwks.as_mut(), Fill::Keys),
        };
        let verified = match signed {
            Ok(Ok(signed)) => return Ok(signed),
            Ok(Err(check)) => Verified::Need(Need::Signature(check)),
            Err(refusal) if refusal.reason == Reason::KeyNotFound => {
                let kid = jws::parse(token).ok().and_then(|p| p.kid);
                match (kid, cache) {
                    (Some(kid), Some(cache)) => {
                        let refetch = match from {
                            From::TokenEndpoint => cache.on_issued_kid(&kid, ctx.now),
                            From::Sealed => cache.on_sealed_kid(&kid, ctx.now),
                            From::Client => cache.on_unknown_kid(&kid, ctx.now),
                        };
                        match refetch {
                            UnknownKid::Refetch(request) => Verified::Need(Need::Fill(fill, get(&request))),
                            // Another request is already refetching (a rotation seen
                            // by concurrent requests): wait for that fetch too.
                            UnknownKid::Refuse => match cache.in_flight(ctx.now) {
                                Some(request) => Verified::Need(Need::Fill(fill, get(&request))),
                                None if from == From::TokenEndpoint => Verified::Err(refuse!(
                                    JwksUnavailable,
                                    "the provider issued a token signed with key {}, which its key set does not list yet; the new tokens are kept, retry shortly",
                                    crate::jwk::quoted(&kid)
                                )),
                                None => Verified::Err(refusal),
                            },
                        }
                    }
                    _ => Verified::Err(refusal),
                }
            }
            Err(refusal) => Verified::Err(refusal),
        };
        Err(verified)
    }

    /// Makes sure the verifiers hold usable keys.
    // Out of line on purpose: see "Start-up" in the crate docs.
    #[inline(never)]
    // The error holds the request to make (an `HttpRequest`): returned once
    // per suspension, moved, never stored; boxing it would cost an allocation.
    #[allow(clippy::result_large_err)]
    pub(super) fn keys(&mut self, ctx: &mut Ctx) -> Result<(), Verified> {
        if self.static_keys {
            return Ok(());
        }
        if self.jwks.is_none() {
            match self.discovery_document(ctx.now) {
                Ok(_) => {}
                Err(Err(http)) => return Err(Verified::Need(Need::Fill(Fill::Discovery, http))),
                Err(Ok(refusal)) => return Err(Verified::Err(refusal)),
            }
        }
        self.jwks_cache();
        let Some(cache) = self.jwks.as_mut() else {
            return Err(Verified::Err(refuse!(
                JwksUnavailable,
                "the key set location is not known yet"
            )));
        };
        issuers::lookup(cache, Fill::Keys, ctx)?;
        self.sync_keys();
        Ok(())
    }

    /// The verifier of `src`.
    pub(super) fn verifier_for(&mut self, src: Src) -> &mut Verifier {
        match src {
            Src::Access => &mut self.verifier,
            Src::IdToken => &mut self.id_verifier,
            Src::Trusted(i) => &mut self.trusted[i].verifier,
        }
    }

    /// Hands a changed key set to the verifiers, which forget every token
    /// they remembered: a token whose key was withdrawn must not keep passing
    /// from the memo. Called when the key set is fetched, not at the next
    /// miss (a remembered token never misses).
    pub(super) fn sync_keys(&mut self) {
        let Some(cache) = self.jwks.as_ref() else { return };
        let generation = cache.generation();
        if generation != self.keys_generation {
            self.keys_generation = generation;
            let keys = cache.keys().cloned().unwrap_or_default();
            self.verifier.set_keys(keys.clone());
            self.id_verifier.set_keys(keys);
        }
    }

    pub(super) fn jwks_cache(&mut self) -> Option<&mut JwksCache> {
        if self.jwks.is_none() {
            let (d, _) = self.discovery.loaded.as_ref()?;
            self.jwks = Some(JwksCache::new(d.jwks_uri.clone(), self.config.jwks));
        }
        self.jwks.as_mut()
    }

    /// The discovery document; `Err(Err(request))` to fetch it,
    /// `Err(Ok(refusal))` when it cannot be had now.
    /// The provider's endpoints for sign-in, refresh, sign-out and
    /// introspection: the discovery document, completed once from the RFC
    /// 8414 metadata when it lacks an endpoint this configuration uses
    /// (revocation with sessions, introspection without a configured one).
    #[allow(clippy::result_large_err)] // as `keys`
    pub(super) fn discovery(&mut self, now: u64) -> Result<Discovery, Result<Refusal, (Fill, HttpRequest)>> {
        let d = self
            .discovery_document(now)
            .map_err(|e| e.map_err(|http| (Fill::Discovery, http)))?;
        let wants_revocation = self.keyring.is_some() && d.revocation_endpoint.is_none();
        let wants_introspection = d.introspection_endpoint.is_none()
            && self
                .config
                .introspection
                .as_ref()
                .is_some_and(|i| i.endpoint.is_none());
        let cooling = self
            .discovery
            .metadata_failed
            .is_some_and(|at| now < at.saturating_add(self.config.jwks.cooldown));
        if (wants_revocation || wants_introspection) && !self.discovery.metadata_asked && !cooling {
            return Err(Err((
                Fill::Metadata,
                HttpRequest {
                    method: "GET",
                    url: Discovery::metadata_url(
                        &self
                            .config
                            .issuer
                            .replace(crate::claims::TENANT_PLACEHOLDER, "organizations"),
                    ),
                    headers: alloc::vec![(String::from("accept"), String::from("application/json"))],
                    body: None,
                    timeout_ms: self.config.jwks.fetch_timeout_ms,
                    max_bytes: MAX_RESPONSE_BYTES,
                    share: None,
                },
            )));
        }
        Ok(d)
    }

    /// The discovery document alone (what the key set's location needs).
    #[allow(clippy::result_large_err)] // as `keys`
    pub(super) fn discovery_document(&mut self, now: u64) -> Result<Discovery, Result<Refusal, HttpRequest>> {
        let cooldown = self.config.jwks.cooldown;
        let timeout = self.config.jwks.fetch_timeout_ms;
        let c = &mut self.discovery;
        if let Some((d, _)) = &c.loaded {
            return Ok(d.clone());
        }
        if let Some((at, refusal)) = &c.failed {
            if now < at.saturating_add(cooldown) {
                return Err(Ok(Refusal {
                    reason: refusal.reason,
                    message: format!("{} (retrying after the {cooldown} s cooldown)", refusal.message),
                }));
            }
        }
        Err(Err(HttpRequest {
            method: "GET",
            url: c.url.clone(),
            headers: alloc::vec![(String::from("accept"), String::from("application/json"))],
            body: None,
            timeout_ms: timeout,
            max_bytes: MAX_RESPONSE_BYTES,
            share: None,
        }))
    }

    pub(super) fn fill(&mut self, fill: Fill, reply: Reply<'_>, ctx: &mut Ctx) {
        let now = ctx.now;
        match fill {
            Fill::Discovery => {
                let c = &mut self.discovery;
                let parsed = match reply {
                    Reply::Response {
                        status: 200..=299,
                        body,
                        ..
                    } if body.len() <= MAX_RESPONSE_BYTES => {
                        Discovery::parse(body, &self.config.issuer, self.keyring.is_some())
                            .map(|d| (d, String::from_utf8_lossy(body).into_owned()))
                    }
                    Reply::Response { status, .. } => Err(refuse!(
                        AuthApiUnavailable,
                        "{} answered HTTP {status} (or a body over {MAX_RESPONSE_BYTES} bytes)",
                        c.url
                    )),
                    Reply::Failed(why) => {
                        Err(refuse!(AuthApiUnavailable, "fetching {} failed: {why}", c.url))
                    }
                    _ => Err(refuse!(
                        AuthApiUnavailable,
                        "the discovery fetch got no HTTP reply"
                    )),
                };
                match parsed {
                    Ok((mut d, raw)) if c.loaded.is_none() => {
                        d.revocation_endpoint =
                            self.config.revocation_endpoint.clone().or(d.revocation_endpoint);
                        c.loaded = Some((d, raw));
                    }
                    Ok(_) => {}
                    Err(refusal) => c.failed = Some((now, refusal)),
                }
            }
            // Whatever the metadata holds (or not: many providers publish
            // none), it is asked once; endpoints it lacks stay unused.
            // An outage (no answer, 5xx, 429) is not "no metadata": it is
            // asked again after the cooldown.
            Fill::Metadata => match reply {
                Reply::Response { status, .. } if status >= 500 || status == 429 => {
                    self.discovery.metadata_failed = Some(now);
                }
                Reply::Response { status, body, .. } => {
                    self.discovery.metadata_asked = true;
                    self.discovery.metadata_failed = None;
                    if let (200, Some((d, _))) = (status, &mut self.discovery.loaded) {
                        if body.len() <= MAX_RESPONSE_BYTES {
                            d.merge_metadata(body);
                        }
                    }
                }
                _ => self.discovery.metadata_failed = Some(now),
            },
            Fill::TrustedDiscovery(i) => self.fill_trusted_discovery(i, reply, now),
            Fill::Keys | Fill::TrustedKeys(_) => {
                let cache = match fill {
                    Fill::TrustedKeys(i) => self.trusted[i].jwks.as_mut(),
                    _ => self.jwks.as_mut(),
                };
                let Some(cache) = cache else { return };
                let outcome = match reply {
                    Reply::Response {
                        status,
                        cache_control,
                        body,
                    } => FetchOutcome::Response {
                        status,
                        cache_control,
                        body,
                    },
                    Reply::Failed(why) => FetchOutcome::Failed(why),
                    _ => FetchOutcome::Failed("no HTTP reply"),
                };
                if cache.on_fetched(now, outcome).is_ok() {
                    ctx.event.keys = KeysUse::Fetched;
                }
                match fill {
                    Fill::TrustedKeys(i) => self.sync_trusted_keys(i),
                    _ => self.sync_keys(),
                }
            }
        }
    }
}
