//! Applying the [`Policy`] to a token's claims, after its signature verified.
//!
//! Order: types of the time claims, then who the token is for (`iss`, `aud`,
//! `azp`, `typ`, `sub`), then time (`nbf`, `exp`, `iat`, age), then the policy's
//! required claims. Identity mismatches come first because they are the more
//! fundamental mistake (a token from the wrong issuer that is also expired should
//! say "wrong issuer").

use crate::alg::Alg;
use crate::identity::{self, Identity};
use crate::json::{self, Object};
use crate::jwk::quoted;
use crate::policy::Policy;
use crate::reason::{refuse, Refusal};
use crate::time::{both, numeric_date};
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::Value;

/// A checked token: the identity, and the window of `now` values for which the
/// very same checks pass (what the memo may reuse the result for).
pub(crate) struct Checked {
    pub identity: Identity,
    pub valid_from: u64,
    pub valid_until: u64,
}

/// Header facts the claim checks need.
pub(crate) struct HeaderFacts<'a> {
    pub alg: Alg,
    pub kid: Option<&'a str>,
    pub typ: Option<&'a str>,
}

// Out of line on purpose: see "Start-up" in the crate docs.
#[inline(never)]
pub(crate) fn check(
    policy: &Policy,
    header: &HeaderFacts<'_>,
    claims: Object,
    now: u64,
) -> Result<Checked, Refusal> {
    let leeway = policy.leeway;
    let exp = match claims.get("exp") {
        None | Some(Value::Null) => {
            return Err(refuse!(
                ClaimMissing,
                "the token has no exp; tokens without an expiry are never accepted"
            ))
        }
        Some(v) => numeric_date("exp", v, false).map_err(|m| refuse!(ClaimInvalid, "{m}"))?,
    };
    let nbf = optional_date(&claims, "nbf")?;
    let iat = optional_date(&claims, "iat")?;

    let iss = match claims.get("iss") {
        Some(Value::String(iss)) => iss.clone(),
        Some(other) => {
            return Err(refuse!(
                IssuerInvalid,
                "iss is {}, expected a string",
                json::kind(other)
            ))
        }
        None => {
            return Err(refuse!(
                IssuerInvalid,
                "the token has no iss; expected one of {}",
                list(&policy.issuers)
            ))
        }
    };
    if !issuer_named(policy, &iss, &claims) {
        return Err(refuse!(
            IssuerInvalid,
            "iss is {}, expected one of {}; issuers are compared exactly (check the trailing slash and scheme)",
            quoted(&iss),
            list(&policy.issuers)
        ));
    }
    let aud = audiences(policy, &claims)?;
    let azp = match claims.get("azp") {
        None => None,
        Some(Value::String(azp)) => Some(azp.clone()),
        Some(other) => {
            return Err(refuse!(
                AzpInvalid,
                "azp is {}, expected a string",
                json::kind(other)
            ))
        }
    };
    if !policy.authorized_parties.is_empty() {
        match &azp {
            None => {
                return Err(refuse!(
                    AzpInvalid,
                    "the token has no azp; expected one of {}",
                    list(&policy.authorized_parties)
                ))
            }
            Some(azp) if !policy.authorized_parties.contains(azp) => {
                return Err(refuse!(
                    AzpInvalid,
                    "azp is {}, expected one of {}; add the app's origin to authorizedParties if it is yours",
                    quoted(azp),
                    list(&policy.authorized_parties)
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(expected) = &policy.typ {
        match header.typ {
            Some(actual) if Policy::typ_matches(expected, actual) => {}
            Some(actual) => {
                return Err(refuse!(
                    TypInvalid,
                    "header typ is {}, expected {}",
                    quoted(actual),
                    quoted(expected)
                ))
            }
            None => {
                return Err(refuse!(
                    TypInvalid,
                    "the header has no typ, expected {}",
                    quoted(expected)
                ))
            }
        }
    }
    let sub = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(refuse!(ClaimInvalid, "sub is the empty string")),
        Some(other) => {
            return Err(refuse!(
                ClaimInvalid,
                "sub is {}, expected a string",
                json::kind(other)
            ))
        }
        None => {
            return Err(refuse!(
                ClaimMissing,
                "the token has no sub; a verified identity needs a subject"
            ))
        }
    };
    let sid = optional_string(&claims, "sid")?;
    let jti = optional_string(&claims, "jti")?;

    // Time. The token is valid for now in [valid_from, valid_until).
    let valid_until = exp.saturating_add(leeway);
    if now >= valid_until {
        return Err(refuse!(
            TokenExpired,
            "the token expired at {}; now is {} (leeway {leeway} s); if it was just issued, check this host's clock",
            both(exp),
            both(now)
        ));
    }
    let mut valid_from = 0;
    if let Some(nbf) = nbf {
        valid_from = nbf.saturating_sub(leeway);
        if now < valid_from {
            return Err(refuse!(
                TokenNotYetValid,
                "the token is not valid before {}; now is {} (leeway {leeway} s); check the clocks of this host and the issuer",
                both(nbf),
                both(now)
            ));
        }
    }
    let mut valid_until = valid_until;
    if let Some(iat) = iat {
        valid_from = valid_from.max(iat.saturating_sub(leeway));
        if now < iat.saturating_sub(leeway) {
            return Err(refuse!(
                IatInFuture,
                "the token was issued in the future, at {}; now is {} (leeway {leeway} s); check the clocks of this host and the issuer",
                both(iat),
                both(now)
            ));
        }
    }
    if let Some(max_age) = policy.max_token_age {
        let Some(iat) = iat else {
            return Err(refuse!(
                ClaimMissing,
                "the token has no iat, which maxTokenAge ({max_age} s) requires"
            ));
        };
        // Like jose: too old once the age exceeds maxTokenAge + leeway.
        let too_old_at = iat
            .saturating_add(max_age)
            .saturating_add(leeway)
            .saturating_add(1);
        valid_until = valid_until.min(too_old_at);
        if now >= too_old_at {
            return Err(refuse!(
                TokenTooOld,
                "the token was issued at {}, more than maxTokenAge {max_age} s before now {} (leeway {leeway} s)",
                both(iat),
                both(now)
            ));
        }
    }

    for name in &policy.required_claims {
        if matches!(claims.get(name), None | Some(Value::Null)) {
            return Err(refuse!(
                ClaimMissing,
                "the token has no {} claim, which the policy requires",
                quoted(name)
            ));
        }
    }
    if let Some(name) = policy
        .forbidden_claims
        .iter()
        .find(|c| claims.contains_key(c.as_str()))
    {
        return Err(refuse!(
            TypInvalid,
            "the token carries {}, which marks an ID token; an ID token is not an access token for this API",
            quoted(name)
        ));
    }
    for (name, expected) in &policy.claim_values {
        match claims.get(name) {
            None | Some(Value::Null) => {
                return Err(refuse!(
                    ClaimMissing,
                    "the token has no {} claim; the policy requires {expected}",
                    quoted(name)
                ))
            }
            Some(actual) if actual != expected => {
                return Err(refuse!(
                    ClaimInvalid,
                    "claim {} is {actual}, the policy requires {expected}",
                    quoted(name)
                ))
            }
            Some(_) => {}
        }
    }

    let org = identity::organization(&claims);
    let grants = identity::grants(policy, &claims, org.as_ref(), false);
    let identity = Identity {
        sub,
        sid,
        iss,
        aud,
        azp,
        exp,
        iat,
        nbf,
        jti,
        scopes: identity::scopes(&claims),
        org,
        kind: grants.kind,
        roles: grants.roles,
        permissions: grants.permissions,
        kid: header.kid.map(String::from),
        alg: Some(header.alg),
        claims,
    };
    Ok(Checked {
        identity,
        valid_from,
        valid_until,
    })
}

fn optional_date(claims: &Object, name: &str) -> Result<Option<u64>, Refusal> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => numeric_date(name, v, true)
            .map(Some)
            .map_err(|m| refuse!(ClaimInvalid, "{m}")),
    }
}

fn optional_string(claims: &Object, name: &str) -> Result<Option<String>, Refusal> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(refuse!(
            ClaimInvalid,
            "{name} is {}, expected a string",
            json::kind(other)
        )),
    }
}

/// Reads the audience claim (string or array of strings) and checks it.
fn audiences(policy: &Policy, claims: &Object) -> Result<Vec<String>, Refusal> {
    let name = policy.audience_claim.as_str();
    let aud: Vec<String> = match claims.get(name) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => alloc::vec![s.clone()],
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    other => {
                        return Err(refuse!(
                            AudienceInvalid,
                            "{name} contains {}, expected strings only",
                            json::kind(other)
                        ))
                    }
                }
            }
            out
        }
        Some(other) => {
            return Err(refuse!(
                AudienceInvalid,
                "{name} is {}, expected a string or an array",
                json::kind(other)
            ))
        }
    };
    if policy.audiences.is_empty() || aud.iter().any(|a| policy.audiences.contains(a)) {
        return Ok(aud);
    }
    if aud.is_empty() {
        Err(refuse!(
            AudienceInvalid,
            "the token has no {name}; expected one of {} (a token without an audience is not accepted when one is configured)",
            list(&policy.audiences)
        ))
    } else {
        Err(refuse!(
            AudienceInvalid,
            "{name} is {}, expected one of {}; the token was minted for another API",
            list(&aud),
            list(&policy.audiences)
        ))
    }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().take(8).map(|s| quoted(s)).collect();
    let mut out = quoted.join(", ");
    if items.len() > 8 {
        out.push_str(", …");
    }
    alloc::format!("[{out}]")
}

/// Whether `iss` is one of the policy's issuers for a token with `claims`:
/// equal to a plain issuer, or a template filled with the token's own `tid`
/// (a template is never an issuer itself). Shared by JWTs and introspection
/// answers.
pub(crate) fn issuer_named(policy: &Policy, iss: &str, claims: &Object) -> bool {
    policy.issuers.iter().any(|i| {
        if i.contains(TENANT_PLACEHOLDER) {
            tenant_issuer(i, claims).as_deref() == Some(iss)
        } else {
            i == iss
        }
    })
}

/// The issuer a multi-tenant template names for this token: Microsoft Entra
/// ID's discovery document states `https://login.microsoftonline.com/{tenantid}/v2.0`,
/// and each token's `iss` is that template filled with the token's own `tid`
/// (a tenant id: a GUID, so nothing else can be spliced in). `None` for a
/// plain issuer, or a token without a well-formed `tid`.
pub(crate) fn tenant_issuer(template: &str, claims: &Object) -> Option<String> {
    let (before, after) = template.split_once(TENANT_PLACEHOLDER)?;
    let tid = claims.get("tid")?.as_str()?;
    is_guid(tid).then(|| alloc::format!("{before}{tid}{after}"))
}

/// The placeholder of a multi-tenant issuer template (Microsoft Entra ID).
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// `8-4-4-4-12` hexadecimal digits.
fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}
