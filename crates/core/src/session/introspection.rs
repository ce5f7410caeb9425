//! Opaque bearer tokens, vouched for by an introspection endpoint (RFC 7662):
//! reading its answer as the untrusted input it is, the identity an active
//! answer establishes, and the cache of answers, keyed by the token's SHA-256
//! (never the token itself).
//!
//! ```
//! use tessera_core::introspection::{answer, Answer};
//! assert!(matches!(answer(200, br#"{"active":false}"#), Ok(Answer::Inactive)));
//! assert!(matches!(answer(200, br#"{"active":true,"sub":"u1"}"#), Ok(Answer::Active(_))));
//! // `active` must be a boolean: "true" as a string is not an answer.
//! assert_eq!(answer(200, br#"{"active":"true"}"#).unwrap_err().reason.code(), "auth-api-invalid");
//! assert_eq!(answer(503, b"").unwrap_err().reason.code(), "auth-api-unavailable");
//! ```

use crate::identity::Identity;
use crate::json::{self, Object};
use crate::policy::Policy;
use crate::reason::{refuse, Refusal};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use serde_json::Value;

/// Upper bound for an introspection answer's body: hosts read at most one
/// byte more, and a longer body is refused.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// What the endpoint said about a token.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// `active: true`, with the answer's members.
    Active(Object),
    /// `active: false`: revoked, expired, or never issued (RFC 7662 §2.2 says
    /// nothing more, on purpose).
    Inactive,
}

/// Reads the endpoint's answer: 5xx, 429 and network trouble are outages
/// (`auth-api-unavailable`); any other status but 200, a body over
/// [`MAX_ANSWER_BYTES`], not a JSON object, or without a boolean `active`
/// is `auth-api-invalid` (a 401 here means the endpoint refused this client's
/// credentials: a configuration problem, not the user's).
pub fn answer(status: u16, body: &[u8]) -> Result<Answer, Refusal> {
    if status >= 500 || status == 429 {
        return Err(refuse!(
            AuthApiUnavailable,
            "the introspection endpoint answered HTTP {status}; retry later"
        ));
    }
    if status != 200 {
        return Err(refuse!(
            AuthApiInvalid,
            "the introspection endpoint answered HTTP {status}; check the client's credentials (clientId, clientSecret, clientAuth) and introspection.endpoint"
        ));
    }
    if body.len() > MAX_ANSWER_BYTES {
        return Err(refuse!(
            AuthApiInvalid,
            "the introspection answer is over the {MAX_ANSWER_BYTES}-byte cap"
        ));
    }
    let doc = json::parse_object(body).map_err(|e| {
        refuse!(
            AuthApiInvalid,
            "the introspection answer is not a JSON object ({e})"
        )
    })?;
    match doc.get("active") {
        Some(Value::Bool(true)) => Ok(Answer::Active(doc)),
        Some(Value::Bool(false)) => Ok(Answer::Inactive),
        _ => Err(refuse!(
            AuthApiInvalid,
            "the introspection answer has no boolean active member (RFC 7662 §2.2)"
        )),
    }
}

/// The identity an active answer establishes, checked against `policy` as
/// far as the answer says anything (RFC 7662 makes every member but `active`
/// optional): `exp` and `nbf` (integers) against `now` with the leeway; `iss`,
/// when present, one of the policy's issuers (absent: the configured issuer,
/// whose endpoint vouched); `aud`, when present and the policy names
/// audiences, one of them; `client_id`, when present and the policy names
/// authorized parties, one of them; the policy's required claims and claim
/// values; `token_type`, as `config` says. The subject is the member
/// `config.subject` names (`sub` by default), never another in its stead;
/// an answer without it is refused. `exp` of the identity: the answer's,
/// else `fallback_exp`.
pub fn identity(
    mut claims: Object,
    policy: &Policy,
    now: u64,
    fallback_exp: u64,
    config: &crate::config::IntrospectionConfig,
) -> Result<Identity, Refusal> {
    let token_types = &config.token_types;
    let leeway = policy.leeway;
    let integer = |name: &str| -> Result<Option<u64>, Refusal> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                refuse!(
                    ClaimInvalid,
                    "the introspection answer's {name} is not a number of seconds"
                )
            }),
        }
    };
    let text = |name: &str| -> Result<Option<String>, Refusal> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(refuse!(
                ClaimInvalid,
                "the introspection answer's {name} is not a string"
            )),
        }
    };
    let exp = integer("exp")?;
    if let Some(exp) = exp {
        if exp.saturating_add(leeway) <= now {
            return Err(refuse!(
                TokenExpired,
                "the introspection answer says the token expired at {exp}"
            ));
        }
    }
    if let Some(nbf) = integer("nbf")? {
        if nbf > now.saturating_add(leeway) {
            return Err(refuse!(
                TokenNotYetValid,
                "the introspection answer says the token is valid from {nbf}"
            ));
        }
    }
    // A token of another kind (a refresh token: oidc-provider finds those
    // too when the access_token hint finds nothing) or bound to a key this
    // host cannot check (DPoP, mTLS) is not a bearer access token.
    let kind = text("token_type")?;
    if !token_types.is_empty()
        && !kind
            .as_ref()
            .is_some_and(|k| token_types.iter().any(|t| t.eq_ignore_ascii_case(k)))
    {
        return Err(refuse!(
            TypInvalid,
            "the introspection answer's token_type is not one of introspection.tokenTypes"
        ));
    }
    if let Some(kind) = kind {
        const ACCESS: [&str; 4] = [
            "bearer",
            "access_token",
            "client_credentials",
            "urn:ietf:params:oauth:token-type:access_token",
        ];
        if !ACCESS.iter().any(|k| kind.eq_ignore_ascii_case(k)) {
            return Err(refuse!(
                TypInvalid,
                "the introspection answer's token_type is {}, not a bearer access token",
                crate::jwk::quoted(&kind)
            ));
        }
    }
    if claims.contains_key("cnf") {
        return Err(refuse!(
            TypInvalid,
            "the introspection answer binds the token to a key (cnf: DPoP or mTLS), which a bearer request cannot prove"
        ));
    }
    let iss = match text("iss")? {
        Some(iss) if !crate::claims::issuer_named(policy, &iss, &claims) => {
            return Err(refuse!(
                IssuerInvalid,
                "the introspection answer names the issuer {}, which is not configured",
                crate::jwk::quoted(&iss)
            ))
        }
        Some(iss) => iss,
        // Absent: the configured issuer, whose endpoint vouched; a template
        // only as the answer's own tenant fills it.
        None => match policy.issuers.first() {
            Some(i) if i.contains(crate::claims::TENANT_PLACEHOLDER) => {
                crate::claims::tenant_issuer(i, &claims).ok_or_else(|| {
                    refuse!(
                        IssuerInvalid,
                        "the introspection answer names no issuer and no tenant (tid) to fill the configured template with"
                    )
                })?
            }
            Some(i) => i.clone(),
            None => String::new(),
        },
    };
    // The audience and the authorized party bind as they bind a JWT: when
    // configured, the answer must name them (RFC 7662 §4: the resource server
    // must check the token is meant for it).
    let aud: Vec<String> = match claims.get(policy.audience_claim.as_str()) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(a)) => alloc::vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| a.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                refuse!(
                    ClaimInvalid,
                    "the introspection answer's {} is not a string or strings",
                    policy.audience_claim
                )
            })?,
        Some(_) => {
            return Err(refuse!(
                ClaimInvalid,
                "the introspection answer's {} is not a string or strings",
                policy.audience_claim
            ))
        }
    };
    if !policy.audiences.is_empty() && !aud.iter().any(|a| policy.audiences.contains(a)) {
        return Err(refuse!(
            AudienceInvalid,
            "the introspection answer's {} names none of the configured audiences (an answer without one is a token for any client of the provider: configure authorizedParties instead if the provider never names audiences)",
            policy.audience_claim
        ));
    }
    let client_id = text("client_id")?;
    if !policy.authorized_parties.is_empty() {
        match &client_id {
            Some(client) if policy.authorized_parties.contains(client) => {}
            Some(client) => {
                return Err(refuse!(
                    AzpInvalid,
                    "the introspection answer's client_id {} is not an authorized party",
                    crate::jwk::quoted(client)
                ))
            }
            None => {
                return Err(refuse!(
                    AzpInvalid,
                    "the introspection answer names no client_id, which authorizedParties requires"
                ))
            }
        }
    }
    if let Some(max_age) = policy.max_token_age {
        let Some(iat) = integer("iat")? else {
            return Err(refuse!(
                ClaimMissing,
                "the introspection answer has no iat, which maxTokenAge ({max_age} s) requires"
            ));
        };
        if now > iat.saturating_add(max_age).saturating_add(leeway) {
            return Err(refuse!(
                TokenTooOld,
                "the introspection answer says the token was issued at {iat}, more than maxTokenAge {max_age} s ago"
            ));
        }
    }
    for name in &policy.required_claims {
        if matches!(claims.get(name), None | Some(Value::Null)) {
            return Err(refuse!(ClaimMissing, "the introspection answer has no {name}"));
        }
    }
    if let Some(name) = policy
        .forbidden_claims
        .iter()
        .find(|c| claims.contains_key(c.as_str()))
    {
        return Err(refuse!(
            TypInvalid,
            "the introspection answer carries {name}, which the policy forbids"
        ));
    }
    for (name, value) in &policy.claim_values {
        if claims.get(name) != Some(value) {
            return Err(refuse!(
                ClaimInvalid,
                "the introspection answer's {name} is not the configured value"
            ));
        }
    }
    let member = config.subject.as_str();
    let sub = match text(member)? {
        Some(s) if !s.is_empty() => s,
        _ => {
            return Err(refuse!(
                ClaimMissing,
                "the introspection answer has no {member}, the member introspection.subject names as the user"
            ))
        }
    };
    claims.remove("active");
    let machine = member == "client_id" || crate::grants::introspected_is_machine(&claims);
    let mut identity = Identity::from_claims(claims, exp.unwrap_or(fallback_exp), None, policy, false);
    identity.kind = if machine {
        crate::grants::Kind::Machine
    } else {
        crate::grants::Kind::User
    };
    identity.sub = sub;
    identity.iss = iss;
    Ok(identity)
}

/// Introspection answers by the token's SHA-256: an active token's identity
/// until its time is up, or `None` for an inactive one. Bounded: when full,
/// expired answers go first, then the one closest to expiry.
#[derive(Default)]
pub struct Cache {
    entries: BTreeMap<[u8; 32], (Option<Arc<Identity>>, u64)>,
    capacity: usize,
}

impl Cache {
    /// A cache of at most `capacity` answers (0: none kept).
    pub fn new(capacity: usize) -> Cache {
        Cache {
            entries: BTreeMap::new(),
            capacity,
        }
    }

    /// The answer for `key` at `now`: `Some(Some(identity))` active,
    /// `Some(None)` inactive, `None` unknown or expired.
    pub fn get(&self, key: &[u8; 32], now: u64) -> Option<Option<Arc<Identity>>> {
        self.entries
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(identity, _)| identity.clone())
    }

    /// Keeps `answer` for `key` until `until`.
    pub fn put(&mut self, key: [u8; 32], answer: Option<Arc<Identity>>, until: u64, now: u64) {
        if self.capacity == 0 || until <= now {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, u)| *u > now);
            if self.entries.len() >= self.capacity {
                if let Some(soonest) = self.entries.iter().min_by_key(|(_, (_, u))| *u).map(|(k, _)| *k) {
                    self.entries.remove(&soonest);
                }
            }
        }
        self.entries.insert(key, (answer, until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            audiences: alloc::vec![String::from("api")],
            ..Policy::for_issuer("https://idp.example")
        }
    }

    fn cfg() -> crate::config::IntrospectionConfig {
        crate::config::IntrospectionConfig::default()
    }

    fn claims(json: &str) -> Object {
        json::parse_object(json.as_bytes()).unwrap()
    }

    #[test]
    fn an_answer_is_checked_as_far_as_it_says_anything() {
        let p = policy();
        let machines = crate::config::IntrospectionConfig {
            subject: String::from("client_id"),
            ..cfg()
        };
        let id = identity(
            claims(r#"{"active":true,"client_id":"svc","aud":"api"}"#),
            &p,
            100,
            160,
            &machines,
        )
        .unwrap();
        // One member names the user: without sub, a client id never stands in.
        assert_eq!(
            identity(
                claims(r#"{"active":true,"client_id":"svc","aud":"api"}"#),
                &p,
                100,
                160,
                &cfg()
            )
            .unwrap_err()
            .reason
            .code(),
            "claim-missing"
        );
        assert_eq!(
            (id.sub.as_str(), id.iss.as_str(), id.exp),
            ("svc", "https://idp.example", 160)
        );
        assert!(!id.claims.contains_key("active"));
        let id = identity(
            claims(r#"{"active":true,"sub":"u1","username":"alice","exp":130,"aud":["x","api"]}"#),
            &p,
            100,
            160,
            &cfg(),
        )
        .unwrap();
        assert_eq!((id.sub.as_str(), id.exp, id.alg), ("u1", 130, None));
        for (answer, code) in [
            (r#"{"active":true,"aud":"api"}"#, "claim-missing"),
            (r#"{"active":true,"sub":"","aud":"api"}"#, "claim-missing"),
            (r#"{"active":true,"sub":"u1"}"#, "audience-invalid"),
            (
                r#"{"active":true,"sub":"u1","aud":"api","token_type":"refresh_token"}"#,
                "typ-invalid",
            ),
            (
                r#"{"active":true,"sub":"u1","aud":"api","cnf":{"jkt":"x"}}"#,
                "typ-invalid",
            ),
            (r#"{"active":true,"sub":"u1","exp":90}"#, "token-expired"),
            (r#"{"active":true,"sub":"u1","exp":"200"}"#, "claim-invalid"),
            (r#"{"active":true,"sub":"u1","nbf":200}"#, "token-not-yet-valid"),
            (
                r#"{"active":true,"sub":"u1","iss":"https://other.example"}"#,
                "issuer-invalid",
            ),
            (r#"{"active":true,"sub":"u1","aud":"other"}"#, "audience-invalid"),
            (r#"{"active":true,"sub":"u1","aud":[1]}"#, "claim-invalid"),
            (r#"{"active":true,"sub":7,"aud":"api"}"#, "claim-invalid"),
        ] {
            assert_eq!(
                identity(claims(answer), &p, 100, 160, &cfg())
                    .unwrap_err()
                    .reason
                    .code(),
                code,
                "{answer}"
            );
        }
        let mut azp = policy();
        azp.authorized_parties = alloc::vec![String::from("web")];
        let err = identity(
            claims(r#"{"active":true,"sub":"u1","client_id":"other","aud":"api"}"#),
            &azp,
            100,
            160,
            &cfg(),
        )
        .unwrap_err();
        assert_eq!(err.reason.code(), "azp-invalid");
    }

    #[test]
    fn answers_that_are_not_answers_are_the_providers_fault() {
        for (status, body) in [
            (200, &b"not json"[..]),
            (200, br#"{"sub":"u1"}"#),
            (200, br#"{"active":1}"#),
            (401, br#"{"error":"invalid_client"}"#),
            (404, b""),
        ] {
            assert_eq!(
                answer(status, body).unwrap_err().reason.code(),
                "auth-api-invalid"
            );
        }
        let huge = alloc::format!(r#"{{"active":true,"x":"{}"}}"#, "a".repeat(MAX_ANSWER_BYTES));
        assert_eq!(
            answer(200, huge.as_bytes()).unwrap_err().reason.code(),
            "auth-api-invalid"
        );
        assert_eq!(
            answer(429, b"").unwrap_err().reason.code(),
            "auth-api-unavailable"
        );
    }

    #[test]
    fn the_cache_is_bounded_and_forgets_on_time() {
        let mut c = Cache::new(2);
        let id = Arc::new(crate::identity::for_tests("u1"));
        c.put([1; 32], Some(id.clone()), 110, 100);
        c.put([2; 32], None, 105, 100);
        assert!(matches!(c.get(&[1; 32], 109), Some(Some(_))));
        assert!(matches!(c.get(&[2; 32], 104), Some(None)));
        assert_eq!(c.get(&[2; 32], 105), None);
        // Full: the answer closest to expiry makes room.
        c.put([3; 32], Some(id), 120, 100);
        assert_eq!(c.get(&[2; 32], 101), None);
        assert!(c.get(&[1; 32], 101).is_some() && c.get(&[3; 32], 101).is_some());
        let mut none = Cache::new(0);
        none.put([1; 32], None, 110, 100);
        assert_eq!(none.get(&[1; 32], 101), None);
    }
}
