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
        // Seen before, here?
        let now = ctx.now;
        let mut hash = Sha256::new();
        hash.update(jkt.as_bytes());
        hash.update([0]);
        hash.update(proof.jti.as_bytes());
        let key: [u8; 32] = hash.finalize().into();
        if self.dpop_jtis.get(&key).is_some_and(|until| now < *until) {
            return Checked::Refused(replayed("this instance"));
        }
        if self.dpop_jtis.len() >= MAX_DPOP_JTIS {
            self.dpop_jtis.retain(|_, until| now < *until);
            if self.dpop_jtis.len() >= MAX_DPOP_JTIS {
                return Checked::Refused(refuse!(
                    StoreUnavailable,
                    "this instance remembers {MAX_DPOP_JTIS} DPoP proofs already; retry shortly"
                ));
            }
        }
        let until = proof
            .iat
            .saturating_add(config.max_age)
            .saturating_add(2 * leeway)
            .max(now.saturating_add(1));
        self.dpop_jtis.insert(key, until);
        // And on another instance? The shared store says (a host without
        // one answers at once: this instance is the deployment).
        let op = StoreOp::Once {
            key: format!("dpop-jti:{}", crate::hex::encode(&key)),
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
