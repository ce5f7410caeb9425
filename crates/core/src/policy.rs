//! The verification policy: which tokens count as valid, beyond their signature.
//!
//! One struct, deserialisable from the shared configuration (camelCase keys), with
//! safe defaults (RFC 8725). Every field says its default and why.

use crate::alg::{Alg, DEFAULT_ALGORITHMS};
use crate::config::ConfigError;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The largest leeway accepted. Leeway exists for clock skew between hosts, which
/// is seconds; minutes of leeway quietly extend every token's life.
pub const MAX_LEEWAY: u64 = 300;

/// Claim rules for verified tokens.
///
/// ```
/// use tessera_core::Policy;
/// let policy: Policy = serde_json::from_str(r#"{
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
/// assert!(serde_json::from_str::<Policy>(r#"{"issuer":"x","algorithms":["HS256"]}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Policy {
    /// Allowed issuers: `iss` must equal one of them exactly (no trailing-slash or
    /// case normalisation: `https://x/` and `https://x` are different issuers, as
    /// RFC 7519 compares strings). Required, at least one; a string or an array;
    /// `issuer` is accepted as an alias.
    #[serde(alias = "issuer", deserialize_with = "one_or_many")]
    pub issuers: Vec<String>,

    /// Allowed audiences. Default: empty, meaning `aud` is not checked. When set,
    /// the token's audience claim (a string or an array of strings) must contain at
    /// least one of them, and a token without it fails: an API that names its
    /// audience must not accept tokens minted for someone else. A string or an
    /// array; `audience` is accepted as an alias.
    #[serde(alias = "audience", deserialize_with = "one_or_many")]
    pub audiences: Vec<String>,

    /// The claim holding the audience. Default `"aud"`. Amazon Cognito access
    /// tokens carry the app client id in `client_id` instead.
    pub audience_claim: String,

    /// Authorized parties: when set, `azp` must be present and equal one of them.
    /// Default: empty (not checked). Clerk session tokens carry the origin of the
    /// page that minted them in `azp`; checking it stops tokens from other apps on
    /// the same instance.
    #[serde(deserialize_with = "one_or_many")]
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

    /// Claims that must have exactly this JSON value, e.g. `{"token_use": "access"}`
    /// for Cognito. Absent is `claim-missing`, different is `claim-invalid`.
    /// Default: none.
    pub claim_values: BTreeMap<String, Value>,
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
            claim_values: BTreeMap::new(),
        }
    }
}

impl Policy {
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

/// Accepts `"x"` or `["x", "y"]`.
///
/// A visitor rather than an untagged enum: serde buffers an untagged value
/// (its `Content` type) and tries each variant on the copy, which is more
/// code for V8 to compile on an isolate's first request, and its error
/// ("did not match any variant") does not say what was expected.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;
    impl<'de> serde::de::Visitor<'de> for OneOrMany {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a string or an array of strings")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Vec<String>, E> {
            Ok(alloc::vec![String::from(s)])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut all = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                all.push(s);
            }
            Ok(all)
        }
    }
    d.deserialize_any(OneOrMany)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_many_takes_a_string_or_an_array_of_strings() {
        let p: Policy =
            serde_json::from_str(r#"{"issuer":"https://i","audience":"api","authorizedParties":[]}"#)
                .unwrap();
        assert_eq!(
            (p.issuers, p.audiences, p.authorized_parties),
            (
                alloc::vec!["https://i".into()],
                alloc::vec!["api".into()],
                alloc::vec![]
            )
        );
        let p: Policy = serde_json::from_str(r#"{"issuers":["a","b"]}"#).unwrap();
        assert_eq!(p.issuers, ["a", "b"]);
        for bad in [
            r#"{"issuer":5}"#,
            r#"{"issuer":{"a":"b"}}"#,
            r#"{"audience":["api",5]}"#,
            r#"{"audience":null}"#,
        ] {
            let e = alloc::format!("{}", serde_json::from_str::<Policy>(bad).unwrap_err());
            assert!(e.contains("expected a string"), "{bad}: {e}");
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
        let err = serde_json::from_str::<Policy>(r#"{"issuer":"i","audiance":"x"}"#).unwrap_err();
        assert!(alloc::format!("{err}").contains("audiance"), "{err}");
    }

    #[test]
    fn typ_comparison() {
        assert!(Policy::typ_matches("at+jwt", "application/AT+JWT"));
        assert!(Policy::typ_matches("application/at+jwt", "at+jwt"));
        assert!(!Policy::typ_matches("at+jwt", "JWT"));
    }
}
