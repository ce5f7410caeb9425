//! DPoP at the resource (RFC 9449 §7): a token bound to a key (`cnf.jkt`)
//! passes only as `Authorization: DPoP` with a proof for this request, signed
//! by that key ([`crate::dpop`] checks the proof), seen once: its `jti` is
//! remembered here until it is too old anyway, and recorded in the shared
//! store when the host has one, so no instance accepts it twice.

use super::*;
use crate::dpop::{self, Expected};
use serde_json::Value;

/// The most proofs remembered per instance within the replay window; past
/// it, new proofs are refused as an outage (503) rather than remembered less.
pub(super) const MAX_DPOP_JTIS: usize = 100_000;

/// The most proofs one key may have remembered at once (a client making
/// more than this many requests per `maxAge` is refused, 503, until its
/// older proofs expire): so no one client fills [`MAX_DPOP_JTIS`] for all.
pub(super) const MAX_DPOP_JTIS_PER_KEY: u64 = 10_000;

/// Whether `identity` is bound to something (RFC 7800 `cnf`): such a token
/// passes only with a proof for a request, never on its own.
pub(super) fn bound(identity: &Identity) -> bool {
    identity.claims.contains_key("cnf")
}

/// The proofs seen here, by the hex SHA-256 of their key's thumbprint
/// (`client:`) and of thumbprint and `jti`, each until it expires; and how
/// many each client key has. (Maps of the one type the engine already uses
/// for logout tokens: each new map type costs the npm package kilobytes.)
#[derive(Default)]
pub(super) struct Seen {
    proofs: BTreeMap<String, u64>,
    per_key: BTreeMap<String, u64>,
    /// When expired proofs were last dropped: at most once a second, so a
    /// full set costs a scan per second, not per request.
    purged: u64,
}

impl Seen {
    /// Forgets the proofs expired at `now`.
    fn purge(&mut self, now: u64) {
        self.purged = now;
        let per_key = &mut self.per_key;
        self.proofs.retain(|key, until| {
            let keep = now < *until;
            if !keep {
                let client = key.split(':').next().unwrap_or("");
                if let Some(n) = per_key.get_mut(client) {
                    *n = n.saturating_sub(1);
                }
            }
            keep
        });
        self.per_key.retain(|_, n| *n > 0);
    }

    /// Remembers `proof` of `client` until `until`: `Err` when it was seen,
    /// or cannot be remembered (the instance's or the key's share is full).
    fn insert(&mut self, client: String, proof: String, until: u64, now: u64) -> Result<(), Refusal> {
        let key = format!("{client}:{proof}");
        if self.proofs.get(&key).is_some_and(|u| now < *u) {
            return Err(replayed("this instance"));
        }
        let full = |s: &Seen| {
            s.proofs.len() >= MAX_DPOP_JTIS
                || s.per_key
                    .get(&client)
                    .is_some_and(|n| *n >= MAX_DPOP_JTIS_PER_KEY)
        };
        if full(self) && self.purged < now {
            self.purge(now);
        }
        if full(self) {
            return Err(refuse!(
                StoreUnavailable,
                "too many DPoP proofs in the replay window on this instance (or from this key); retry shortly"
            ));
        }
        self.proofs.insert(key, until);
        *self.per_key.entry(client).or_insert(0) += 1;
        Ok(())
    }
}

/// How long a server nonce lives: the current window's and the previous
/// one's are accepted.
const NONCE_WINDOW: u64 = 300;

/// What the DPoP check of a verified identity came to. (Returned once per
/// request and matched at once: the size of `Step` does not matter here.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Checked {
    /// Not a bound token, not a DPoP request: nothing to check.
    Pass,
    Refused(Refusal),
    /// A host signature check, or the shared store, comes first.
    Suspended(Step),
}

impl Engine {
    /// The DPoP check of a client's verified token, before it is admitted.
    pub(super) fn check_dpop(
        &mut self,
        req: &Request<'_>,
        identity: &Arc<Identity>,
        token: &str,
        ctx: &mut Ctx,
    ) -> Checked {
        let cnf = identity.claims.get("cnf");
        // Bound to anything else as well (a certificate, `x5t#S256`): that
        // binding cannot be checked here, so the token is not admitted.
        if cnf
            .and_then(Value::as_object)
            .is_some_and(|c| c.keys().any(|k| k != "jkt"))
        {
            return Checked::Refused(refuse!(
                ClaimInvalid,
                "the access token is bound (cnf) to something other than a DPoP key as well, which Tessera cannot check"
            ));
        }
        let jkt = cnf.and_then(|c| c.get("jkt")).and_then(Value::as_str);
        let jkt = match (ctx.dpop, jkt) {
            (false, None) if cnf.is_none() => return Checked::Pass,
            (false, None) => {
                return Checked::Refused(refuse!(
                    ClaimInvalid,
                    "the access token is bound (cnf) to something other than a DPoP key, which Tessera cannot check"
                ))
            }
            (false, Some(_)) => {
                return Checked::Refused(refuse!(
                    DpopRequired,
                    "the access token is bound to a key (cnf.jkt): send it as Authorization: DPoP with a DPoP proof, never as a bearer token"
                ))
            }
            (true, None) => {
                return Checked::Refused(refuse!(
                    DpopProofInvalid,
                    "the access token is not bound to a key (no cnf.jkt): send it as Authorization: Bearer"
                ))
            }
            (true, Some(jkt)) => jkt,
        };
        let mut proofs = req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("dpop"));
        let proof = match (proofs.next(), proofs.next()) {
            (Some((_, proof)), None) => proof.trim(),
            (None, _) => {
                return Checked::Refused(refuse!(DpopProofInvalid, "the request has no DPoP header"))
            }
            _ => {
                return Checked::Refused(refuse!(
                    DpopProofInvalid,
                    "the request has more than one DPoP header"
                ))
            }
        };
        if self.config.app_origin.is_empty() {
            return Checked::Refused(refuse!(
                DpopProofInvalid,
                "DPoP proofs are checked against appOrigin and the path (never Host): configure appOrigin"
            ));
        }
        let path = request_target(req.url).map(|t| t.path).unwrap_or("/");
        let url = format!("{}{path}", self.config.app_origin);
        let config = &self.config.dpop;
        let leeway = self.config.policy().leeway;
        let expected = Expected {
            method: req.method,
            url: &url,
            access_token: token,
            jkt,
            now: ctx.now,
            max_age: config.max_age,
            leeway,
            algorithms: &config.algorithms,
        };
        let proof = match dpop::check(proof, &expected) {
            Ok(proof) => proof,
            Err(refusal) => return Checked::Refused(refusal),
        };
        if self.dpop_nonce_key.is_some() && !proof.nonce.as_deref().is_some_and(|n| self.nonce_ok(n, ctx.now))
        {
            return Checked::Refused(refuse!(
                DpopNonceRequired,
                "the DPoP proof has {} nonce: retry with the DPoP-Nonce of this answer",
                if proof.nonce.is_some() { "a stale" } else { "no" }
            ));
        }
        // The signature: by the host when it checks this algorithm (the
        // request runs again with the verdict), else here.
        if self.host_signatures.contains(&proof.alg) {
            if let Err(refusal) = proof.precheck() {
                return Checked::Refused(refusal);
            }
            let verdict = ctx.signatures.iter().find(|(c, _)| {
                c.alg == proof.alg
                    && c.key_id == proof.key.key_id()
                    && c.signature == proof.signature
                    && c.signing_input == proof.signing_input.as_bytes()
            });
            match verdict {
                Some((_, true)) => {}
                Some((_, false)) => {
                    return Checked::Refused(refuse!(
                        DpopProofInvalid,
                        "the DPoP proof's signature does not verify with its own jwk"
                    ))
                }
                None => {
                    let check = SignatureCheck {
                        alg: proof.alg,
                        key_id: proof.key.key_id().to_owned(),
                        spki_der: proof.key.spki_der().to_vec(),
                        signing_input: proof.signing_input.as_bytes().to_vec(),
                        signature: proof.signature.clone(),
                    };
                    let then = Then::Request(OwnedRequest::new(req));
                    return Checked::Suspended(ctx.wait(Need::Signature(check), then));
                }
            }
        } else {
            let by_backend = self.backend.as_ref().and_then(|b| {
                b.verify(
                    proof.alg,
                    &proof.key,
                    proof.signing_input.as_bytes(),
                    &proof.signature,
                )
            });
            let checked = match by_backend {
                Some(valid) => proof.precheck().and_then(|()| {
                    valid.then_some(()).ok_or_else(|| {
                        refuse!(
                            DpopProofInvalid,
                            "the DPoP proof's signature does not verify with its own jwk"
                        )
                    })
                }),
                None => proof.check_signature(),
            };
            if let Err(refusal) = checked {
                return Checked::Refused(refusal);
            }
        }
        // Seen before, here? Remembered one second past the last one it
        // could be accepted in (`iat + maxAge + leeway`, inclusive).
        let now = ctx.now;
        let mut hash = Sha256::new();
        hash.update(jkt.as_bytes());
        hash.update([0]);
        hash.update(proof.jti.as_bytes());
        let key = crate::hex::encode(&hash.finalize());
        let client = crate::hex::encode(&Sha256::digest(jkt.as_bytes()));
        let until = proof
            .iat
            .saturating_add(config.max_age)
            .saturating_add(2 * leeway)
            .saturating_add(1)
            .max(now.saturating_add(1));
        if let Err(refusal) = self.dpop_seen.insert(client, key.clone(), until, now) {
            return Checked::Refused(refusal);
        }
        // And on another instance? The shared store says (a host without
        // one answers at once: this instance is the deployment).
        let op = StoreOp::Once {
            key: format!("dpop-jti:{key}"),
            ttl: until - now,
        };
        let then = AfterStore::Dpop {
            req: OwnedRequest::new(req),
            identity: identity.clone(),
            token: String::from(token),
        };
        Checked::Suspended(ctx.store(op, then))
    }

    /// The shared store's answer for a proof's `jti`: admit, or refuse.
    pub(super) fn after_dpop_store(
        &mut self,
        req: OwnedRequest,
        identity: Arc<Identity>,
        token: &str,
        stored: Result<bool, &str>,
        ctx: &mut Ctx,
    ) -> Step {
        let headers = req.headers();
        let r = borrow(&req, &headers);
        let (target, access) = match self.resumed_target(&r, ctx) {
            Ok(t) => t,
            Err(refusal) => return self.refuse(&r, refusal, Access::Api, ctx, Vec::new()),
        };
        ctx.dpop = true;
        match stored {
            Ok(true) => self.bearer_admitted(&r, target, access, identity, token, ctx),
            Ok(false) => self.refuse(&r, replayed("another instance"), access, ctx, Vec::new()),
            Err(why) => {
                let refusal = refuse!(
                    StoreUnavailable,
                    "the shared store cannot say whether this DPoP proof was used on another instance ({why}); retry"
                );
                self.refuse(&r, refusal, access, ctx, Vec::new())
            }
        }
    }

    /// The nonce of `window` (RFC 9449 §9): stateless, the same on every
    /// instance with the same cookie keys.
    pub(super) fn dpop_nonce(&self, now: u64) -> Option<String> {
        self.nonce_of(now / NONCE_WINDOW)
    }

    fn nonce_of(&self, window: u64) -> Option<String> {
        use hmac::{Hmac, Mac};
        let key = self.dpop_nonce_key.as_ref()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
        mac.update(&window.to_be_bytes());
        Some(b64::encode(&mac.finalize().into_bytes()[..18]))
    }

    /// Whether `nonce` is this window's or the previous one's.
    fn nonce_ok(&self, nonce: &str, now: u64) -> bool {
        let window = now / NONCE_WINDOW;
        [window, window.saturating_sub(1)].iter().any(|w| {
            self.nonce_of(*w)
                .is_some_and(|n| oidc::constant_time_eq(n.as_bytes(), nonce.as_bytes()))
        })
    }
}

fn replayed(where_: &str) -> Refusal {
    refuse!(
        DpopProofReplayed,
        "this DPoP proof was used before ({where_} saw its jti): make a new proof for each request"
    )
}
