//! Several issuers: a client's bearer token goes to the verifier of the
//! issuer its (unverified) `iss` names, the main one or a trusted one
//! ([`TesseraConfig::trusted_issuers`]), and is then verified completely by
//! that verifier alone, with its own policy, key set and memo. A token
//! naming no trusted issuer, or an issuer its route does not accept, is
//! refused before any key is fetched.

use super::*;
use crate::config::TrustedIssuer;

/// A trusted issuer's verifier and key set.
pub(super) struct Trusted {
    pub(super) verifier: Verifier,
    /// `None` until the key set's location is known (from discovery).
    pub(super) jwks: Option<JwksCache>,
    /// Its discovery document, read for `jwks_uri` when the configuration
    /// and the profile do not say where the key set is.
    pub(super) discovery_url: String,
    /// The last failure to read it, for the cooldown.
    pub(super) discovery_failed: Option<(u64, Refusal)>,
    pub(super) keys_generation: u64,
}

impl Trusted {
    pub(super) fn new(t: &TrustedIssuer, config: &TesseraConfig) -> Result<Trusted, crate::ConfigError> {
        Ok(Trusted {
            verifier: Verifier::with_memo(KeySet::default(), t.verification.clone(), config.memo)?,
            jwks: t.known_jwks_uri().map(|u| JwksCache::new(u, config.jwks)),
            discovery_url: discovery_url(&t.issuer),
            discovery_failed: None,
            keys_generation: 0,
        })
    }
}

/// Which verifier (and key set) a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Src {
    /// The main issuer's access-token policy.
    Access,
    /// The main issuer's ID-token policy (and logout tokens).
    IdToken,
    /// `trusted_issuers[i]`.
    Trusted(usize),
}

impl Engine {
    /// The verifier a client's bearer token goes to, by its unverified `iss`
    /// (a token that does not decode goes to the main verifier, which
    /// refuses it with the precise reason). Refused here, before any fetch:
    /// an issuer nobody trusts, or one the route does not accept.
    pub(super) fn route_issuer(&self, token: &str, ctx: &mut Ctx) -> Result<Src, Refusal> {
        let Ok((_, claims)) = jws::decode_unverified(token) else {
            return Ok(Src::Access);
        };
        let Some(iss) = claims.get("iss").and_then(serde_json::Value::as_str) else {
            return Ok(Src::Access);
        };
        if let Some(require) = self.routes.requirements(ctx.rule) {
            if !require.issuers.is_empty() && !require.issuers.iter().any(|i| i == iss) {
                ctx.event.requirement = Some(crate::requirement::Requirement::Issuer);
                return Err(refuse!(
                    IssuerInvalid,
                    "this route accepts tokens from {} only, not from {}",
                    quoted_list(require.issuers.iter()),
                    crate::jwk::quoted(iss)
                ));
            }
        }
        if crate::claims::issuer_named(self.verifier.policy(), iss, &claims) {
            return Ok(Src::Access);
        }
        if let Some(i) = self
            .trusted
            .iter()
            .position(|t| t.verifier.policy().issuers.iter().any(|i| i == iss))
        {
            return Ok(Src::Trusted(i));
        }
        let trusted = self
            .verifier
            .policy()
            .issuers
            .iter()
            .chain(self.trusted.iter().flat_map(|t| &t.verifier.policy().issuers));
        Err(refuse!(
            IssuerInvalid,
            "the token names issuer {}, which is not trusted here (trusted: {}); refused without fetching any key",
            crate::jwk::quoted(iss),
            quoted_list(trusted)
        ))
    }

    /// A trusted issuer's remembered token, if any remembers `token`.
    pub(super) fn remembered_elsewhere(&mut self, token: &str, now: u64) -> Option<Arc<Identity>> {
        self.trusted
            .iter_mut()
            .find_map(|t| t.verifier.remembered(token, now))
    }

    /// Makes sure trusted issuer `i`'s verifier holds usable keys: its key
    /// set's location (configured, the profile's, or from its discovery
    /// document), then the key set itself.
    #[allow(clippy::result_large_err)] // as `keys`
    pub(super) fn trusted_keys(&mut self, i: usize, ctx: &mut Ctx) -> Result<(), Verified> {
        let cooldown = self.config.jwks.cooldown;
        let timeout = self.config.jwks.fetch_timeout_ms;
        let t = &mut self.trusted[i];
        if t.jwks.is_none() {
            if let Some((at, refusal)) = &t.discovery_failed {
                if ctx.now < at.saturating_add(cooldown) {
                    return Err(Verified::Err(refusal.clone()));
                }
            }
            let http = HttpRequest {
                method: "GET",
                url: t.discovery_url.clone(),
                headers: alloc::vec![(String::from("accept"), String::from("application/json"))],
                body: None,
                timeout_ms: timeout,
                max_bytes: MAX_RESPONSE_BYTES,
                share: None,
            };
            return Err(Verified::Need(Need::Fill(Fill::TrustedDiscovery(i), http)));
        }
        let Some(cache) = t.jwks.as_mut() else {
            unreachable!("set above")
        };
        lookup(cache, Fill::TrustedKeys(i), ctx)?;
        self.sync_trusted_keys(i);
        Ok(())
    }

    /// Hands trusted issuer `i`'s changed key set to its verifier.
    pub(super) fn sync_trusted_keys(&mut self, i: usize) {
        let t = &mut self.trusted[i];
        let Some(cache) = t.jwks.as_ref() else { return };
        if cache.generation() != t.keys_generation {
            t.keys_generation = cache.generation();
            t.verifier.set_keys(cache.keys().cloned().unwrap_or_default());
        }
    }

    /// Trusted issuer `i`'s discovery document: where its key set is.
    pub(super) fn fill_trusted_discovery(&mut self, i: usize, reply: Reply<'_>, now: u64) {
        let jwks_config = self.config.jwks;
        let t = &mut self.trusted[i];
        let issuer = t.verifier.policy().issuers.first().cloned().unwrap_or_default();
        let parsed = match reply {
            Reply::Response {
                status: 200..=299,
                body,
                ..
            } if body.len() <= MAX_RESPONSE_BYTES => Discovery::parse(body, &issuer, false).and_then(|d| {
                // Another party's document chooses where this host fetches:
                // an https issuer's key set is on the public internet.
                if issuer.starts_with("https://") && !public_https(&d.jwks_uri) {
                    return Err(refuse!(
                        JwksUnavailable,
                        "the discovery document of trusted issuer {} names a key set that is not a public https URL; set its jwksUri",
                        crate::jwk::quoted(&issuer)
                    ));
                }
                Ok(d)
            }),
            Reply::Response { status, .. } => Err(refuse!(
                JwksUnavailable,
                "{} answered HTTP {status} (or a body over {MAX_RESPONSE_BYTES} bytes); set trustedIssuers[].jwksUri if it publishes no discovery document",
                t.discovery_url
            )),
            Reply::Failed(why) => Err(refuse!(JwksUnavailable, "fetching {} failed: {why}", t.discovery_url)),
            _ => Err(refuse!(JwksUnavailable, "the discovery fetch got no HTTP reply")),
        };
        match parsed {
            Ok(d) if t.jwks.is_none() => {
                t.jwks = Some(JwksCache::new(d.jwks_uri, jwks_config));
                t.discovery_failed = None;
            }
            Ok(_) => {}
            Err(refusal) => t.discovery_failed = Some((now, refusal)),
        }
    }
}

/// Looks the key set up in `cache`: usable now (a stale one revalidated in
/// the background), or what to fetch first (`fill` says which cache).
#[allow(clippy::result_large_err)] // as `keys`
pub(super) fn lookup(cache: &mut JwksCache, fill: Fill, ctx: &mut Ctx) -> Result<(), Verified> {
    let now = ctx.now;
    let keys_use = match cache.lookup(now) {
        Lookup::Fresh(_) => KeysUse::Fresh,
        Lookup::Stale { refetch, .. } => {
            if let Some(request) = refetch {
                ctx.background.push(Pending {
                    request: Some(get(&request)),
                    wait: Wait::Fill(fill, Then::Idle),
                    event: Event::default(),
                    background: Vec::new(),
                    signatures: Vec::new(),
                });
            }
            KeysUse::Stale
        }
        Lookup::Fetch(request) => return Err(Verified::Need(Need::Fill(fill, get(&request)))),
        Lookup::Unavailable(refusal) => match cache.in_flight(now) {
            Some(request) => return Err(Verified::Need(Need::Fill(fill, get(&request)))),
            None => {
                ctx.event.keys = KeysUse::Unavailable;
                return Err(Verified::Err(refusal));
            }
        },
    };
    if ctx.event.keys != KeysUse::Fetched {
        ctx.event.keys = keys_use;
    }
    Ok(())
}

/// An https URL whose host is not a loopback name or address.
fn public_https(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_ascii_lowercase();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or("").to_owned(),
        None => host.split(':').next().unwrap_or("").to_owned(),
    };
    let host = host.trim_end_matches('.');
    !(host.is_empty()
        || host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.")
        || host == "::1"
        || host == "0.0.0.0"
        || host.starts_with("0:0:0:0:0:0:0:1"))
}

fn quoted_list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items
        .map(|i| crate::jwk::quoted(i))
        .collect::<Vec<_>>()
        .join(", ")
}
