//! Requirements a route puts on a verified identity: scopes, roles,
//! permissions, the active organisation, claim values, the kind of caller
//! and its issuer. "Who is this" is the verifier's question; this module
//! answers "may they do this", from the identity alone (no I/O).
//!
//! Every requirement given must hold; within a list, a plain array means
//! *all of* and `{"anyOf": [...]}` means *at least one of*. An unmet
//! requirement is an [`Unmet`]: which one failed, and what was missing.
//!
//! ```
//! use tessera_core::requirement::{Requirement, Requirements};
//! let require = Requirements::from_json(r#"{
//!     "scopes": ["orders:read"],
//!     "roles": { "anyOf": ["admin", "support"] },
//!     "kind": "user"
//! }"#).unwrap();
//! # let mut identity = tessera_core::Identity::from_claims(Default::default(), 0, None,
//! #     &tessera_core::Policy::for_issuer("https://i"), false);
//! identity.scopes = vec!["orders:read".into()];
//! identity.roles = vec!["support".into()];
//! assert!(require.check(&identity).is_ok());
//! identity.scopes.clear();
//! let unmet = require.check(&identity).unwrap_err();
//! assert_eq!(unmet.requirement, Requirement::Scope);
//! assert_eq!(unmet.scope.as_deref(), Some("orders:read"));
//! ```

use crate::fields::{ConfigError, Fields};
use crate::grants::{self, Kind};
use crate::identity::Identity;
use crate::jwk::quoted;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;
use serde_json::Value;

/// Which requirement a caller did not meet (in events as `requirement`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Requirement {
    /// The token's issuer is not one the route accepts.
    Issuer,
    /// A user where a machine is required, or the other way round.
    Kind,
    /// A scope is missing.
    Scope,
    /// A role is missing.
    Role,
    /// A permission is missing.
    Permission,
    /// No active organisation, or not the one (id, slug, role) required.
    Org,
    /// A claim is missing or has another value.
    Claim,
}

/// A list requirement: every name, or at least one. Serialized as the
/// configuration writes it (an array, or `{"anyOf": [...]}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Needed {
    /// Every name must be granted (a plain array in configuration). Empty:
    /// nothing required.
    AllOf(Vec<String>),
    /// At least one must be granted (`{"anyOf": [...]}`; never empty).
    AnyOf(Vec<String>),
}

impl Serialize for Needed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Needed::AllOf(names) => names.serialize(s),
            Needed::AnyOf(names) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("anyOf", names)?;
                map.end()
            }
        }
    }
}

impl Default for Needed {
    fn default() -> Needed {
        Needed::AllOf(Vec::new())
    }
}

impl Needed {
    fn read(f: &mut Fields, key: &'static str) -> Result<Needed, ConfigError> {
        if let Some(all) = f.strings_or(key)? {
            return Needed::named(f, key, Needed::AllOf(all));
        }
        let any = f
            .object(key, |f| {
                let any = f.strings("anyOf")?;
                let all = f.strings("allOf")?;
                match (any, all) {
                    (Some(any), None) => Ok(Needed::AnyOf(any)),
                    (None, Some(all)) => Ok(Needed::AllOf(all)),
                    _ => Err(f.error(
                        "anyOf",
                        "give exactly one of anyOf (at least one of the names) and allOf (every name)",
                    )),
                }
            })?
            .unwrap_or_default();
        Needed::named(f, key, any)
    }

    fn named(f: &Fields, key: &str, needed: Needed) -> Result<Needed, ConfigError> {
        let names = match &needed {
            Needed::AllOf(names) => names,
            Needed::AnyOf(names) if names.is_empty() => {
                return Err(f.error(
                    key,
                    "anyOf is empty, so no caller could ever pass: name at least one",
                ))
            }
            Needed::AnyOf(names) => names,
        };
        if names.iter().any(String::is_empty) {
            return Err(f.error(key, "names the empty string"));
        }
        Ok(needed)
    }

    fn is_empty(&self) -> bool {
        matches!(self, Needed::AllOf(names) if names.is_empty())
    }

    /// The names not granted (all of), or every name when none is (any of).
    fn missing(&self, granted: &[String]) -> Vec<&str> {
        let has = |n: &String| granted.iter().any(|g| g == n);
        match self {
            Needed::AllOf(names) => names.iter().filter(|n| !has(n)).map(String::as_str).collect(),
            Needed::AnyOf(names) if names.iter().any(has) => Vec::new(),
            Needed::AnyOf(names) => names.iter().map(String::as_str).collect(),
        }
    }

    /// "the role \"a\"", "the roles \"a\", \"b\"", "one of the roles \"a\", \"b\"".
    fn describe(&self, what: &str, missing: &[&str]) -> String {
        let mut out = String::from(match self {
            Needed::AnyOf(_) if missing.len() > 1 => "one of the ",
            _ => "the ",
        });
        out.push_str(what);
        if missing.len() > 1 {
            out.push('s');
        }
        for (i, m) in missing.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            out.push_str(&quoted(m));
        }
        out
    }
}

/// The active organisation a route requires: each field given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OrgRequirement {
    /// The organisation id (`org_id`, Clerk `o.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its slug (`org_slug`, Clerk `o.slg`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The caller's role in it (`org_role`, Clerk `org:` + `o.rol`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// What a route requires of a verified identity. Every field defaults to
/// "nothing required"; the configuration's `routes[].require`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirements {
    /// Issuers whose tokens the route accepts. Default: every trusted one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<String>,
    /// `user` or `machine` (client-credentials tokens). Default: both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// Scopes (from `scope` or `scp`).
    #[serde(skip_serializing_if = "Needed::is_empty")]
    pub scopes: Needed,
    /// Roles ([`crate::grants`]: where the profile or `roleClaims` says).
    #[serde(skip_serializing_if = "Needed::is_empty")]
    pub roles: Needed,
    /// Permissions ([`crate::grants`]).
    #[serde(skip_serializing_if = "Needed::is_empty")]
    pub permissions: Needed,
    /// The active organisation: `{}` requires one, fields narrow it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<OrgRequirement>,
    /// Claims (names, or JSON Pointers starting with `/`) and the JSON value
    /// each must have; a claim that is an array must contain the value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, Value>,
}

/// A requirement the caller did not meet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmet {
    /// Which requirement.
    pub requirement: Requirement,
    /// What was missing, for the event and the answer.
    pub message: String,
    /// For scope requirements: the scopes to ask for (RFC 6750 `scope`).
    pub scope: Option<String>,
}

impl Requirements {
    /// Reads requirements from JSON (a route's `require` object).
    pub fn from_json(text: &str) -> Result<Requirements, ConfigError> {
        Fields::parse(text)?.read_all(Requirements::read)
    }

    pub(crate) fn read(f: &mut Fields) -> Result<Requirements, ConfigError> {
        let issuers = f.strings("issuers")?.unwrap_or_default();
        if issuers.iter().any(String::is_empty) {
            return Err(f.error("issuers", "names the empty string"));
        }
        let kind = f.named("kind", Kind::from_name, Kind::NAMES)?;
        let scopes = Needed::read(f, "scopes")?;
        let roles = Needed::read(f, "roles")?;
        let permissions = Needed::read(f, "permissions")?;
        let org = f.object("org", |f| {
            Ok(OrgRequirement {
                id: f.string("id")?,
                slug: f.string("slug")?,
                role: f.string("role")?,
            })
        })?;
        let claims = f.value_map("claims")?.unwrap_or_default();
        for name in claims.keys() {
            grants::check_claim_name(name).map_err(|why| f.error("claims", &why))?;
        }
        Ok(Requirements {
            issuers,
            kind,
            scopes,
            roles,
            permissions,
            org,
            claims,
        })
    }

    /// Whether nothing is required.
    pub fn is_empty(&self) -> bool {
        self == &Requirements::default()
    }

    /// Checks `identity`, in the order of [`Requirement`]: the first unmet
    /// requirement is reported.
    pub fn check(&self, identity: &Identity) -> Result<(), Unmet> {
        let unmet = |requirement, message: String| Unmet {
            requirement,
            message,
            scope: None,
        };
        if !self.issuers.is_empty() && !self.issuers.contains(&identity.iss) {
            return Err(unmet(
                Requirement::Issuer,
                format!(
                    "this route accepts tokens from {} only, not from {}",
                    list(&self.issuers),
                    quoted(&identity.iss)
                ),
            ));
        }
        if let Some(kind) = self.kind.filter(|k| *k != identity.kind) {
            return Err(unmet(
                Requirement::Kind,
                format!(
                    "this route is for {} tokens; this one is a {}'s",
                    kind.name(),
                    identity.kind.name()
                ),
            ));
        }
        for (needed, granted, requirement, what) in [
            (&self.scopes, &identity.scopes, Requirement::Scope, "scope"),
            (&self.roles, &identity.roles, Requirement::Role, "role"),
            (
                &self.permissions,
                &identity.permissions,
                Requirement::Permission,
                "permission",
            ),
        ] {
            if needed.is_empty() {
                continue;
            }
            let missing = needed.missing(granted);
            if !missing.is_empty() {
                return Err(Unmet {
                    requirement,
                    message: format!("this route requires {}", needed.describe(what, &missing)),
                    scope: (requirement == Requirement::Scope).then(|| missing.join(" ")),
                });
            }
        }
        if let Some(required) = &self.org {
            let Some(org) = &identity.org else {
                return Err(unmet(
                    Requirement::Org,
                    String::from("this route requires an active organisation; the token has none"),
                ));
            };
            for (what, want, have) in [
                ("id", &required.id, Some(&org.id)),
                ("slug", &required.slug, org.slug.as_ref()),
                ("role", &required.role, org.role.as_ref()),
            ] {
                if let Some(want) = want.as_ref().filter(|w| Some(*w) != have) {
                    return Err(unmet(
                        Requirement::Org,
                        format!(
                            "this route requires the organisation {what} {}; the active organisation's is {}",
                            quoted(want),
                            have.map_or_else(|| String::from("absent"), |h| quoted(h))
                        ),
                    ));
                }
            }
        }
        for (name, want) in &self.claims {
            let have = grants::claim(&identity.claims, name);
            let ok = match have {
                Some(Value::Array(items)) if !want.is_array() => items.iter().any(|i| same(i, want)),
                Some(value) => same(value, want),
                None => false,
            };
            if !ok {
                return Err(unmet(
                    Requirement::Claim,
                    format!(
                        "this route requires the claim {} to be {want}; the token's is {}",
                        quoted(name),
                        have.map_or_else(|| String::from("absent"), |h| format!("{h}"))
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// JSON equality with numbers compared by value: `2` is `2.0` (JSON has one
/// number type; serde_json keeps integers and floats apart).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), ..) => x == y,
            (.., Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn list(items: &[String]) -> String {
    items.iter().map(|i| quoted(i)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::for_tests;
    use crate::identity::Organization;

    fn req(json: &str) -> Requirements {
        Requirements::from_json(json).unwrap()
    }

    #[test]
    fn all_of_and_any_of() {
        let mut id = for_tests("u");
        id.scopes = alloc::vec!["a".into(), "b".into()];
        assert!(req(r#"{"scopes":["a","b"]}"#).check(&id).is_ok());
        let unmet = req(r#"{"scopes":["a","c","d"]}"#).check(&id).unwrap_err();
        assert_eq!(unmet.scope.as_deref(), Some("c d"));
        assert!(req(r#"{"scopes":{"anyOf":["c","b"]}}"#).check(&id).is_ok());
        let unmet = req(r#"{"scopes":{"anyOf":["c","d"]}}"#).check(&id).unwrap_err();
        assert!(unmet.message.contains("one of"), "{}", unmet.message);
    }

    #[test]
    fn bad_requirements_are_configuration_errors() {
        for (json, field) in [
            (r#"{"scopes":{"anyOf":[]}}"#, "scopes"),
            (r#"{"scopes":{"anyOf":["a"],"allOf":["b"]}}"#, "scopes.anyOf"),
            (r#"{"roles":[""]}"#, "roles"),
            (r#"{"kind":"robot"}"#, "kind"),
            (r#"{"claims":{"/a~x":1}}"#, "claims"),
            (r#"{"role":["a"]}"#, "role"),
        ] {
            assert_eq!(Requirements::from_json(json).unwrap_err().field, field, "{json}");
        }
    }

    #[test]
    fn org_claims_kind_and_issuer() {
        let mut id = for_tests("u");
        id.claims =
            crate::json::parse_object(br#"{"groups":["x","y"],"app_metadata":{"plan":"pro"}}"#).unwrap();
        assert!(req(r#"{"org":{}}"#).check(&id).is_err());
        id.org = Some(Organization {
            id: "org_1".into(),
            slug: Some("acme".into()),
            role: Some("org:admin".into()),
            permissions: Vec::new(),
        });
        assert!(req(r#"{"org":{"slug":"acme","role":"org:admin"}}"#)
            .check(&id)
            .is_ok());
        assert_eq!(
            req(r#"{"org":{"id":"org_2"}}"#)
                .check(&id)
                .unwrap_err()
                .requirement,
            Requirement::Org
        );
        assert!(req(r#"{"claims":{"groups":"y","/app_metadata/plan":"pro"}}"#)
            .check(&id)
            .is_ok());
        assert!(req(r#"{"claims":{"/app_metadata/plan":"free"}}"#)
            .check(&id)
            .is_err());
        assert!(
            req(r#"{"claims":{"groups":["x"]}}"#).check(&id).is_err(),
            "an array value is compared whole"
        );
        assert_eq!(
            req(r#"{"kind":"machine"}"#).check(&id).unwrap_err().requirement,
            Requirement::Kind
        );
        assert_eq!(
            req(r#"{"issuers":["https://other"]}"#)
                .check(&id)
                .unwrap_err()
                .requirement,
            Requirement::Issuer
        );
    }
}
