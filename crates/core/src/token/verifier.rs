//! The verifier: (key set, policy, token, now) → a verified [`Identity`] or a
//! typed [`Refusal`]; and the signature seam that lets a host do the raw check.
//!
//! ```text
//! verify(token, now)
//!   ├─ memo hit? ───────────────────────────────▶ Ok(identity)      (a lookup)
//!   ├─ prepare(token)      parse, header rules, alg allowlist, key selection
//!   ├─ check_signature()   pure Rust, or the verifier's SignatureBackend
//!   │                      │ or host_checked(valid) after an async host check
//!   └─ finish(signed, now) claims against the policy, memo insert
//! ```

use crate::alg::Alg;
use crate::backend::SignatureBackend;
use crate::claims::{self, HeaderFacts};
use crate::identity::Identity;
use crate::jwk::{quoted, KeySet};
use crate::key::PublicKey;
use crate::memo::{Memo, MemoConfig};
use crate::policy::Policy;
use crate::reason::{refuse, Refusal};
use crate::{jws, ConfigError};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Verifies tokens against one key set and policy, remembering verified tokens.
///
/// ```
/// use tessera_core::{KeySet, Policy, Verifier};
/// let keys = KeySet::from_pem(
///     "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----",
/// ).unwrap();
/// let mut verifier = Verifier::new(keys, Policy::for_issuer("https://auth.example.com")).unwrap();
/// let refusal = verifier.verify("not-a-token", 1_700_000_000).unwrap_err();
/// assert_eq!(refusal.reason.code(), "token-malformed");
/// ```
pub struct Verifier {
    keys: KeySet,
    policy: Policy,
    memo: Memo,
    backend: Option<Arc<dyn SignatureBackend>>,
    /// Headers that passed lately, so a repeated one is not decoded again.
    headers: jws::Headers,
}

impl Verifier {
    /// Builds a verifier with the default memo; the policy is validated.
    pub fn new(keys: KeySet, policy: Policy) -> Result<Verifier, ConfigError> {
        Verifier::with_memo(keys, policy, MemoConfig::default())
    }

    /// Builds a verifier with explicit memo settings.
    // Out of line: an engine builds several (one per trusted issuer).
    #[inline(never)]
    pub fn with_memo(keys: KeySet, policy: Policy, memo: MemoConfig) -> Result<Verifier, ConfigError> {
        policy.validate()?;
        Ok(Verifier {
            keys,
            policy,
            memo: Memo::new(memo),
            backend: None,
            headers: jws::Headers::default(),
        })
    }

    /// Checks signatures with `backend` (for the algorithms it takes) instead
    /// of the pure-Rust check. Default: none, pure Rust for every algorithm.
    pub fn with_backend(mut self, backend: Arc<dyn SignatureBackend>) -> Verifier {
        self.set_backend(backend);
        self
    }

    /// [`Verifier::with_backend`] in place.
    pub fn set_backend(&mut self, backend: Arc<dyn SignatureBackend>) {
        self.backend = Some(backend);
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The key set in force.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Replaces the key set (after a refetch) and forgets every remembered token,
    /// so a key removed from the set stops vouching for tokens at once.
    pub fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
        self.memo.clear();
    }

    /// How many verified tokens are remembered.
    pub fn memo_len(&self) -> usize {
        self.memo.len()
    }

    /// Verifies `token` at `now` (unix seconds), checking the signature in pure
    /// Rust or with the verifier's backend ([`Verifier::with_backend`]).
    pub fn verify(&mut self, token: &str, now: u64) -> Result<Arc<Identity>, Refusal> {
        if let Some(hit) = self.memo.get(token, now) {
            return Ok(hit);
        }
        let signed = self.prepare(token)?.check_signature()?;
        self.finish(signed, now)
    }

    /// A memo lookup only: the identity if exactly this token was verified and is
    /// still valid at `now`. Hosts using the signature seam call this first.
    pub fn remembered(&mut self, token: &str, now: u64) -> Option<Arc<Identity>> {
        self.memo.get(token, now)
    }

    /// Step 1 of the seam: parse the token, apply the header rules and the
    /// algorithm allowlist, select the key. No signature is checked yet.
    // Out of line on purpose: see "Start-up" in the crate docs.
    #[inline(never)]
    pub fn prepare<'t>(&mut self, token: &'t str) -> Result<Prepared<'t>, Refusal> {
        let parsed = jws::parse_with(token, Some(&mut self.headers))?;
        if !self.policy.algorithms.contains(&parsed.alg) {
            let allowed: Vec<&str> = self.policy.algorithms.iter().map(|a| a.name()).collect();
            return Err(refuse!(
                AlgNotAllowed,
                "header alg {} is not in the policy's allowlist [{}]",
                parsed.alg,
                allowed.join(", ")
            ));
        }
        let key = self.keys.select(parsed.kid.as_deref(), parsed.alg)?;
        Ok(Prepared {
            token,
            parsed,
            key,
            backend: self.backend.clone(),
        })
    }

    /// Step 3 of the seam: apply the policy to the claims of a token whose
    /// signature verified, and remember the result.
    // Out of line on purpose: see "Start-up" in the crate docs.
    #[inline(never)]
    pub fn finish(&mut self, signed: Signed<'_>, now: u64) -> Result<Arc<Identity>, Refusal> {
        let Signed { token, parsed, .. } = signed;
        let claims = jws::decode_payload(parsed.payload_b64)?;
        let header = HeaderFacts {
            alg: parsed.alg,
            kid: parsed.kid.as_deref(),
            typ: parsed.typ.as_deref(),
        };
        let checked = claims::check(&self.policy, &header, claims, now)?;
        let identity = Arc::new(checked.identity);
        self.memo.insert(
            token,
            identity.clone(),
            now,
            checked.valid_from,
            checked.valid_until,
        );
        Ok(identity)
    }
}

/// A parsed token with its key selected, waiting for the raw signature check.
///
/// Either call [`Prepared::check_signature`] (pure Rust or the verifier's
/// [`SignatureBackend`]), or perform the check
/// natively over [`Prepared::signing_input`] and [`Prepared::signature`] with
/// [`Prepared::key`] (after [`Prepared::precheck`]) and report it with
/// [`Prepared::host_checked`]. Only a [`Signed`] can be finished, so the check
/// cannot be skipped by accident.
pub struct Prepared<'t> {
    token: &'t str,
    parsed: jws::Parsed<'t>,
    key: Arc<PublicKey>,
    backend: Option<Arc<dyn SignatureBackend>>,
}

impl core::fmt::Debug for Prepared<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Prepared")
            .field("parsed", &self.parsed)
            .field("key", &self.key)
            .field("backend", &self.backend.is_some())
            .finish()
    }
}

impl<'t> Prepared<'t> {
    /// The signature algorithm.
    pub fn alg(&self) -> Alg {
        self.parsed.alg
    }

    /// The selected key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The bytes the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        self.parsed.signing_input.as_bytes()
    }

    /// The raw signature bytes (for ES256, `r‖s`; WebCrypto takes this form too).
    pub fn signature(&self) -> &[u8] {
        &self.parsed.signature
    }

    /// Checks the signature with the verifier's backend, or in pure Rust for
    /// what the backend leaves (or with no backend).
    // Out of line on purpose: see "Start-up" in the crate docs.
    #[inline(never)]
    pub fn check_signature(self) -> Result<Signed<'t>, Refusal> {
        self.precheck()?;
        let (alg, input, sig) = (self.parsed.alg, self.signing_input(), self.signature());
        let checked = match self
            .backend
            .as_ref()
            .and_then(|b| b.verify(alg, &self.key, input, sig))
        {
            Some(true) => Ok(()),
            Some(false) => Err(String::from(crate::key::MISMATCH)),
            None => self.key.verify_prechecked(alg, input, sig),
        };
        match checked {
            Ok(()) => Ok(Signed {
                token: self.token,
                parsed: self.parsed,
            }),
            Err(why) => Err(self.bad_signature(&why)),
        }
    }

    /// The checks on the signature that need no cryptography
    /// ([`PublicKey::precheck`]): a host checking signatures natively calls
    /// this before its check, and [`Prepared::host_checked`] applies it again,
    /// so a native check can never be more lenient than the pure-Rust one.
    pub fn precheck(&self) -> Result<(), Refusal> {
        self.key
            .precheck(self.parsed.alg, self.signature())
            .map_err(|why| self.malformed_signature(&why))
    }

    /// Reports the result of a signature check the host performed itself
    /// (after [`Prepared::precheck`], which applies here too).
    pub fn host_checked(self, valid: bool) -> Result<Signed<'t>, Refusal> {
        self.precheck()?;
        if valid {
            Ok(Signed {
                token: self.token,
                parsed: self.parsed,
            })
        } else {
            Err(self.bad_signature("the signature does not match the token and key"))
        }
    }

    /// A signature that does not verify: `why`, then what it means.
    fn bad_signature(&self, why: &str) -> Refusal {
        self.refused(why, "the token was altered or signed by another key")
    }

    /// A signature refused before any cryptography ([`Prepared::precheck`]).
    fn malformed_signature(&self, why: &str) -> Refusal {
        self.refused(
            why,
            "no correct signer produces it: a signer bug, or a forged token",
        )
    }

    fn refused(&self, why: &str, meaning: &str) -> Refusal {
        let kid = self
            .key
            .kid()
            .map(quoted)
            .unwrap_or_else(|| String::from("(no kid)"));
        refuse!(
            SignatureInvalid,
            "{} signature invalid with key {kid} ({}): {why}; {meaning}",
            self.parsed.alg,
            self.key.description()
        )
    }
}

/// A token whose signature verified; pass it to [`Verifier::finish`].
#[derive(Debug)]
pub struct Signed<'t> {
    token: &'t str,
    parsed: jws::Parsed<'t>,
}

impl Signed<'_> {
    /// The header's `typ` and the decoded claims, for a signed token that is
    /// not an identity (a back-channel logout token), whose claims the caller
    /// checks itself instead of [`Verifier::finish`].
    pub fn typ_and_claims(&self) -> Result<(Option<&str>, crate::json::Object), Refusal> {
        Ok((
            self.parsed.typ.as_deref(),
            jws::decode_payload(self.parsed.payload_b64)?,
        ))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    /// Origin servers share verifiers across threads: keys (with their lazily
    /// built tables), the memo and a backend must keep them `Send + Sync`.
    #[test]
    fn verifiers_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<super::Verifier>();
        shared::<crate::KeySet>();
    }
}
