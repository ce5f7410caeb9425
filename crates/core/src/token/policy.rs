//! The verification policy: which tokens count as valid, beyond their signature.
//!
//! One struct, deserialisable from the shared configuration (camelCase keys), with
//! safe defaults (RFC 8725). Every field says its default and why.

use crate::alg::{Alg, DEFAULT_ALGORITHMS};
use crate::fields::ConfigError;
use crate::fields::{set, Fields};
use crate::profile::Provider;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;
use serde_json::Value;

/// The largest leeway accepted. Leeway exists for clock skew between hosts, which
/// is seconds; minutes of leeway quietly extend every token's life.
pub const MAX_LEEWAY: u64 = 300;

/// Claims only ID tokens carry (OpenID Connect Core 2 and 3.1.3.6): an
/// access token with one of them is an ID token presented as an access token.
pub const ID_TOKEN_CLAIMS: [&str; 3] = ["nonce", "at_hash", "c_hash"];

/// Claim rules for verified tokens.
///
/// ```
/// use tessera_core::Policy;
/// let policy = Policy::from_json(r#"{
///     "issuer": "https://auth.example.com",
///     "audience": ["api", "admin"],
///     "authorizedParties": ["https://app.example.com"],
///     "algorithms": ["ES256"],
///     "leeway": 10
/// }"#).unwrap();
/// policy.validate().unwrap();
/// assert_eq!(policy.issuers, ["https://auth.example.com"]);
/// assert_eq!(policy.audience_claim, "aud");
///
/// let err = Policy::from_json(r#"{"issuer":"x","algorithms":["HS256"]}"#).unwrap_err();
/// assert_eq!(err.field, "algorithms");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Allowed issuers: `iss` must equal one of them exactly (no trailing-slash or
    /// case normalisation: `https://x/` and `https://x` are different issuers, as
    /// RFC 7519 compares strings). Required, at least one; a string or an array;
    /// `issuer` is accepted as an alias.
    pub issuers: Vec<String>,

    /// Allowed audiences. Default: empty, meaning `aud` is not checked. When set,
    /// the token's audience claim (a string or an array of strings) must contain at
    /// least one of them, and a token without it fails: an API that names its
    /// audience must not accept tokens minted for someone else. A string or an
    /// array; `audience` is accepted as an alias.
    pub audiences: Vec<String>,

    /// The claim holding the audience. Default `"aud"`. Amazon Cognito access
    /// tokens carry the app client id in `client_id` instead.
    pub audience_claim: String,

    /// Authorized parties: when set, `azp` must be present and equal one of them.
    /// Default: empty (not checked). Clerk session tokens carry the origin of the
    /// page that minted them in `azp`; checking it stops tokens from other apps on
    /// the same instance.
    pub authorized_parties: Vec<String>,

    /// The algorithm allowlist. Default: ES256, EdDSA, RS256, PS256. The token's
    /// `alg` must be listed *and* fit the selected key (its type, curve and JWK
    /// `alg`). `none` and HMAC algorithms cannot be listed.
    pub algorithms: Vec<Alg>,

    /// Seconds of clock-skew tolerance, applied alike to `exp`, `nbf` and `iat`
    /// (and the maximum token age). Default 5, like Clerk: session tokens live
    /// ~60 s, so skew matters, but tolerance beyond seconds extends every token.
    /// At most [`MAX_LEEWAY`].
    pub leeway: u64,

    /// The required header `typ`, e.g. `"at+jwt"` for RFC 9068 access tokens.
    /// Compared case-insensitively, with or without the `application/` prefix.
    /// Default: not checked (`typ` is optional in JWS and providers differ).
    pub typ: Option<String>,

    /// Maximum age in seconds, measured from `iat`: when set, `iat` is required and
    /// tokens issued longer ago are `token-too-old` even if `exp` is later.
    /// Default: not checked.
    pub max_token_age: Option<u64>,

    /// Claims that must be present (and not `null`). Default: none beyond `exp`,
    /// `iss` and `sub`, which are always required.
    pub required_claims: Vec<String>,

    /// Claims that must be absent: present is `typ-invalid`. Default: none;
    /// the configuration's access-token policy gets an ID token's markers
    /// (`nonce`, `at_hash`, `c_hash`, [`ID_TOKEN_CLAIMS`]) unless the profile
    /// takes ID tokens as bearer tokens (Firebase), so the app's own ID tokens
    /// never pass as access tokens.
    pub forbidden_claims: Vec<String>,

    /// Claims that must have exactly this JSON value, e.g. `{"token_use": "access"}`
    /// for Cognito. Absent is `claim-missing`, different is `claim-invalid`.
    /// Default: none.
    pub claim_values: BTreeMap<String, Value>,

    /// Where roles live: claim names, or JSON Pointers (RFC 6901) starting
    /// with `/` (`"/realm_access/roles"`); a string is one role, an array's
    /// strings are one each. Default: the profile's (`roles` for `oidc`,
    /// `/realm_access/roles` and this API's and client's `resource_access`
    /// for Keycloak, `cognito:groups`, …: [`crate::grants`]). Setting it
    /// replaces the profile's list. The organisation's role always counts.
    pub role_claims: Option<Vec<String>>,

    /// Where permissions live, as [`Policy::role_claims`]. Default: the
    /// profile's (`permissions` for `oidc`, Auth0, WorkOS and Firebase,
    /// `/app_metadata/permissions` for Supabase). The organisation's
    /// permissions always count.
    pub permission_claims: Option<Vec<String>>,

    /// The provider whose conventions apply ([`Provider::apply`] sets it):
    /// where roles and permissions live by default, and how a machine's token
    /// is told from a user's ([`crate::grants`]). Default `oidc`.
    #[serde(skip)]
    pub provider: Provider,
}

impl<'de> serde::Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::fields::deserialize(d, Policy::read)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            issuers: Vec::new(),
            audiences: Vec::new(),
            audience_claim: String::from("aud"),
            authorized_parties: Vec::new(),
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            leeway: 5,
            typ: None,
            max_token_age: None,
            required_claims: Vec::new(),
            forbidden_claims: Vec::new(),
            claim_values: BTreeMap::new(),
            role_claims: None,
            permission_claims: None,
            provider: Provider::Oidc,
        }
    }
}

impl Policy {
    /// Reads a policy from JSON (the configuration's `verification` object,
    /// with `issuer`), without validating it.
    pub fn from_json(text: &str) -> Result<Policy, ConfigError> {
        Fields::parse(text)?.read_all(Policy::read)
    }

    /// The policy's fields, each with its default (see each field's docs).
    pub(crate) fn read(f: &mut Fields) -> Result<Policy, ConfigError> {
        let mut p = Policy::default();
        set(&mut p.issuers, f.one_or_many("issuers", Some("issuer"))?);
        set(&mut p.audiences, f.one_or_many("audiences", Some("audience"))?);
        set(&mut p.audience_claim, f.string("audienceClaim")?);
        set(
            &mut p.authorized_parties,
            f.one_or_many("authorizedParties", None)?,
        );
        if let Some(names) = f.strings("algorithms")? {
            p.algorithms = names
                .iter()
                .map(|name| {
                    Alg::from_name(name)
                        .map_err(|why| f.error("algorithms", &format!("lists {name:?}: {why}")))
                })
                .collect::<Result<_, _>>()?;
        }
        set(&mut p.leeway, f.u64("leeway")?);
        p.typ = f.nullable("typ", Fields::string)?;
        p.max_token_age = f.nullable("maxTokenAge", Fields::u64)?;
        set(&mut p.required_claims, f.strings("requiredClaims")?);
        set(&mut p.forbidden_claims, f.strings("forbiddenClaims")?);
        set(&mut p.claim_values, f.value_map("claimValues")?);
        p.role_claims = f.strings("roleClaims")?;
        p.permission_claims = f.strings("permissionClaims")?;
        Ok(p)
    }

    /// A default policy for one issuer.
    ///
    /// ```
    /// let p = tessera_core::Policy::for_issuer("https://auth.example.com");
    /// assert_eq!(p.leeway, 5);
    /// assert!(p.validate().is_ok());
    /// ```
    pub fn for_issuer(issuer: impl Into<String>) -> Policy {
        Policy {
            issuers: alloc::vec![issuer.into()],
            ..Policy::default()
        }
    }

    /// Checks the policy is usable; call once when configuration is loaded.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::new(
                "issuer",
                "at least one issuer is required: tokens are only accepted from a named issuer",
            ));
        }
        if self.issuers.iter().any(String::is_empty) {
            return Err(ConfigError::new("issuer", "an issuer is the empty string"));
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new("audience", "an audience is the empty string"));
        }
        if self.authorized_parties.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                "authorizedParties",
                "an authorized party is the empty string",
            ));
        }
        if self.audience_claim.is_empty() {
            return Err(ConfigError::new(
                "audienceClaim",
                "must name a claim, e.g. \"aud\"",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::new(
                "algorithms",
                "the allowlist is empty, so no token could ever verify",
            ));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::new(
                "leeway",
                format!(
                    "{} s is more than the {MAX_LEEWAY} s allowed; fix the clocks instead",
                    self.leeway
                ),
            ));
        }
        for (field, names) in [
            ("roleClaims", &self.role_claims),
            ("permissionClaims", &self.permission_claims),
        ] {
            for name in names.iter().flatten() {
                crate::grants::check_claim_name(name).map_err(|why| ConfigError::new(field, why))?;
            }
        }
        if let Some(typ) = &self.typ {
            if typ.is_empty() {
                return Err(ConfigError::new(
                    "typ",
                    "is the empty string; omit it to skip the check",
                ));
            }
        }
        Ok(())
    }

    /// Whether a header `typ` satisfies the configured one (RFC 7515 §4.1.9: the
    /// `application/` prefix may be omitted; media types are case-insensitive).
    pub(crate) fn typ_matches(expected: &str, actual: &str) -> bool {
        fn strip(s: &str) -> &str {
            match s.get(..12) {
                Some(p) if p.eq_ignore_ascii_case("application/") => &s[12..],
                _ => s,
            }
        }
        strip(expected).eq_ignore_ascii_case(strip(actual))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_many_takes_a_string_or_an_array_of_strings() {
        let p =
            Policy::from_json(r#"{"issuer":"https://i","audience":"api","authorizedParties":[]}"#).unwrap();
        assert_eq!(
            (p.issuers, p.audiences, p.authorized_parties),
            (
                alloc::vec!["https://i".into()],
                alloc::vec!["api".into()],
                alloc::vec![]
            )
        );
        let p = Policy::from_json(r#"{"issuers":["a","b"]}"#).unwrap();
        assert_eq!(p.issuers, ["a", "b"]);
        for (bad, field) in [
            (r#"{"issuer":5}"#, "issuer"),
            (r#"{"issuer":{"a":"b"}}"#, "issuer"),
            (r#"{"audience":["api",5]}"#, "audience"),
            (r#"{"audience":null}"#, "audience"),
            (r#"{"authorizedParties":true}"#, "authorizedParties"),
        ] {
            let e = Policy::from_json(bad).unwrap_err();
            assert_eq!(e.field, field, "{bad}");
            assert!(
                e.message.contains("must be a string or an array of strings"),
                "{bad}: {e}"
            );
        }
        let both = Policy::from_json(r#"{"issuer":"a","issuers":["b"]}"#).unwrap_err();
        assert!(
            both.field == "issuers" && both.message.contains("is the same setting as `issuer`"),
            "{both}"
        );
    }

    /// Each field's default when absent, `null` only where the default is
    /// "none", and types checked with the field named.
    #[test]
    fn fields_are_read_with_their_defaults_and_types() {
        let p = Policy::from_json(r#"{"issuer":"i"}"#).unwrap();
        assert_eq!(p, Policy::for_issuer("i"));
        let p = Policy::from_json(
            r#"{"issuer":"i","audienceClaim":"client_id","algorithms":["RS256"],"leeway":0,"typ":null,
                "maxTokenAge":600,"requiredClaims":["sid"],"claimValues":{"token_use":"access","n":[1]}}"#,
        )
        .unwrap();
        assert_eq!(p.audience_claim, "client_id");
        assert_eq!(
            (p.algorithms, p.leeway, p.typ, p.max_token_age),
            (alloc::vec![Alg::Rs256], 0, None, Some(600))
        );
        assert_eq!(p.required_claims, ["sid"]);
        assert_eq!(p.claim_values["n"], serde_json::json!([1]));
        for (bad, field, says) in [
            (
                r#"{"leeway":-1}"#,
                "leeway",
                "must be a non-negative integer, not a number",
            ),
            (
                r#"{"leeway":"5"}"#,
                "leeway",
                "must be a non-negative integer, not a string",
            ),
            (
                r#"{"leeway":null}"#,
                "leeway",
                "must be a non-negative integer, not null",
            ),
            (r#"{"typ":5}"#, "typ", "must be a string, not a number"),
            (
                r#"{"algorithms":"ES256"}"#,
                "algorithms",
                "must be an array of strings",
            ),
            (r#"{"algorithms":["HS256"]}"#, "algorithms", "lists \"HS256\""),
            (r#"{"claimValues":[]}"#, "claimValues", "must be an object"),
            (
                r#"{"leeway":1,"leeway":2}"#,
                "(document)",
                "duplicate member \"leeway\"",
            ),
            ("[]", "(document)", "expected a JSON object"),
        ] {
            let e = Policy::from_json(bad).unwrap_err();
            assert_eq!(e.field, field, "{bad}");
            assert!(e.message.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(Policy::default().validate().unwrap_err().field, "issuer");
        let mut p = Policy::for_issuer("i");
        p.leeway = 301;
        assert_eq!(p.validate().unwrap_err().field, "leeway");
        p.leeway = 0;
        p.algorithms.clear();
        assert_eq!(p.validate().unwrap_err().field, "algorithms");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = Policy::from_json(r#"{"issuer":"i","audiance":"x"}"#).unwrap_err();
        assert_eq!(err.field, "audiance");
        assert!(err.message.starts_with("unknown field `audiance`"), "{err}");
        assert!(
            err.message.contains("audience, audienceClaim,"),
            "the known fields are listed: {err}"
        );
    }

    #[test]
    fn typ_comparison() {
        assert!(Policy::typ_matches("at+jwt", "application/AT+JWT"));
        assert!(Policy::typ_matches("application/at+jwt", "at+jwt"));
        assert!(!Policy::typ_matches("at+jwt", "JWT"));
    }
}
