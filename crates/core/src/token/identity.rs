//! The verified identity: standard claims typed, every claim kept as JSON.

use crate::alg::Alg;
use crate::grants::{Grants, Kind};
use crate::json::Object;
use crate::policy::Policy;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;
use serde_json::Value;

/// Who the caller is, as established by a verified token.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Subject (`sub`): the user (or client) id.
    pub sub: String,
    /// Session id (`sid`), when the provider issues one (Clerk, WorkOS, Keycloak).
    pub sid: Option<String>,
    /// Issuer (`iss`), one of the policy's issuers.
    pub iss: String,
    /// Audiences (from the policy's audience claim), empty when absent.
    pub aud: Vec<String>,
    /// Authorized party (`azp`).
    pub azp: Option<String>,
    /// Expiry (`exp`), unix seconds.
    pub exp: u64,
    /// Issued at (`iat`), unix seconds.
    pub iat: Option<u64>,
    /// Not before (`nbf`), unix seconds.
    pub nbf: Option<u64>,
    /// Token id (`jti`).
    pub jti: Option<String>,
    /// Scopes, from `scope` (space-delimited) or `scp` (array or space-delimited).
    pub scopes: Vec<String>,
    /// The active organisation, from Clerk v1 `org_*` / v2 `o` claims (or the
    /// `org_id` that Auth0 and WorkOS use).
    pub org: Option<Organization>,
    /// User or machine (a client-credentials token), by the profile's rule
    /// ([`crate::grants`]).
    pub kind: Kind,
    /// Roles, from the profile's role claims ([`Policy::role_claims`]) and
    /// the organisation's role.
    pub roles: Vec<String>,
    /// Permissions, from the profile's permission claims
    /// ([`Policy::permission_claims`]) and the organisation's permissions.
    pub permissions: Vec<String>,
    /// The key id the token was verified with.
    pub kid: Option<String>,
    /// The algorithm the token was verified with; `None` for an opaque
    /// token the provider vouched for by introspection (RFC 7662).
    pub alg: Option<Alg>,
    /// Every claim of the token, as JSON.
    pub claims: Object,
}

impl Identity {
    /// The identity that `claims`, verified earlier, establish until `exp`
    /// under `policy` (what an ID-token session holds sealed, no key id
    /// kept; what an introspection answer says). `id_token`: the claims are
    /// an ID token's, so the caller is a user.
    pub fn from_claims(
        claims: Object,
        exp: u64,
        alg: Option<Alg>,
        policy: &Policy,
        id_token: bool,
    ) -> Identity {
        let text = |name: &str| string(&claims, name);
        let number = |name: &str| claims.get(name).and_then(Value::as_u64);
        let aud = match claims.get("aud") {
            Some(Value::String(a)) => alloc::vec![a.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
            _ => Vec::new(),
        };
        let org = organization(&claims);
        let Grants {
            roles,
            permissions,
            kind,
        } = grants(policy, &claims, org.as_ref(), id_token);
        Identity {
            sub: text("sub").unwrap_or_default(),
            sid: text("sid"),
            iss: text("iss").unwrap_or_default(),
            aud,
            azp: text("azp"),
            exp,
            iat: number("iat"),
            nbf: number("nbf"),
            jti: text("jti"),
            scopes: scopes(&claims),
            org,
            kind,
            roles,
            permissions,
            kid: None,
            alg,
            claims,
        }
    }
}

/// The grants of `claims` ([`crate::grants::read`]) with the organisation's
/// own role and permissions added: Clerk's v2 `o` claims, or `org_role` and
/// `org_permissions` (not the top-level `role` and `permissions` an
/// organisation falls back to, which are grants only where the profile or
/// `roleClaims` says).
pub(crate) fn grants(policy: &Policy, claims: &Object, org: Option<&Organization>, id_token: bool) -> Grants {
    let mut g = crate::grants::read(policy, claims, id_token);
    let v2 = claims.get("v").and_then(Value::as_u64) == Some(2) && claims.contains_key("o");
    let (role, permissions) = match org {
        Some(org) if v2 => (org.role.clone(), org.permissions.clone()),
        _ => (
            string(claims, "org_role"),
            match claims.get("org_permissions") {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
                _ => Vec::new(),
            },
        ),
    };
    for (list, extra) in [
        (&mut g.roles, role.into_iter().collect::<Vec<_>>()),
        (&mut g.permissions, permissions),
    ] {
        for item in extra {
            if !list.contains(&item) {
                list.push(item);
            }
        }
    }
    g
}

/// An organisation membership carried in the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Organization {
    /// Organisation id (`org_id`, `o.id`).
    pub id: String,
    /// Slug (`org_slug`, `o.slg`).
    pub slug: Option<String>,
    /// Role (`org_role`, or `org:` + `o.rol`).
    pub role: Option<String>,
    /// Permissions (`org_permissions`, or derived from `o.per`/`o.fpm`/`fea`).
    pub permissions: Vec<String>,
}

fn string(claims: &Object, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(String::from)
}

fn split_list(s: &str, sep: char) -> Vec<String> {
    s.split(sep).filter(|p| !p.is_empty()).map(String::from).collect()
}

/// Scopes from `scope` or `scp`.
pub(crate) fn scopes(claims: &Object) -> Vec<String> {
    match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(s)) => split_list(s, ' '),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ => Vec::new(),
    }
}

/// The organisation, in Clerk's v2 (`"v": 2` with `o`) or v1/flat (`org_id`) shape.
pub(crate) fn organization(claims: &Object) -> Option<Organization> {
    if claims.get("v").and_then(Value::as_u64) == Some(2) {
        if let Some(Value::Object(o)) = claims.get("o") {
            return clerk_v2_org(o, claims.get("fea").and_then(Value::as_str));
        }
    }
    let id = string(claims, "org_id")?;
    let permissions = match claims
        .get("org_permissions")
        .or_else(|| claims.get("permissions"))
    {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ => Vec::new(),
    };
    Some(Organization {
        id,
        slug: string(claims, "org_slug"),
        role: string(claims, "org_role").or_else(|| string(claims, "role")),
        permissions,
    })
}

/// Clerk v2: `o.rol` is prefixed with `org:`; permissions are `o.per` (names)
/// crossed with the org-scoped features of `fea`, bit *i* of the feature's `o.fpm`
/// entry granting `per[i]` as `org:<feature>:<permission>`. Malformed maps grant
/// nothing (fail closed).
fn clerk_v2_org(o: &Object, fea: Option<&str>) -> Option<Organization> {
    let id = string(o, "id")?;
    let per = o
        .get("per")
        .and_then(Value::as_str)
        .map(|s| split_list(s, ','))
        .unwrap_or_default();
    let fpm: Option<Vec<u64>> = o
        .get("fpm")
        .and_then(Value::as_str)
        .map(|s| {
            s.split(',')
                .map(|n| n.trim().parse::<u64>().ok())
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or(Some(Vec::new()));
    let org_features: Option<Vec<&str>> = fea
        .unwrap_or("")
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| f.split_once(':'))
        .collect::<Option<Vec<_>>>()
        .map(|pairs| {
            pairs
                .into_iter()
                .filter(|(scope, _)| matches!(*scope, "o" | "ou" | "uo"))
                .map(|(_, name)| name)
                .collect()
        });
    let mut permissions = Vec::new();
    if let (Some(fpm), Some(features)) = (fpm, org_features) {
        for (feature, mask) in features.iter().zip(fpm) {
            for (bit, name) in per.iter().enumerate().take(64) {
                if mask & (1 << bit) != 0 {
                    permissions.push(format!("org:{feature}:{name}"));
                }
            }
        }
    }
    Some(Organization {
        id,
        slug: string(o, "slg"),
        role: string(o, "rol").map(|r| format!("org:{r}")),
        permissions,
    })
}

/// A minimal identity for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn for_tests(sub: &str) -> Identity {
    Identity {
        sub: sub.into(),
        sid: None,
        iss: "https://issuer.test".into(),
        aud: Vec::new(),
        azp: None,
        exp: 2_000,
        iat: None,
        nbf: None,
        jti: None,
        scopes: Vec::new(),
        org: None,
        kind: Kind::User,
        roles: Vec::new(),
        permissions: Vec::new(),
        kid: None,
        alg: Some(Alg::Es256),
        claims: Object::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        match v {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn clerk_v2_permissions_follow_the_feature_bitmasks() {
        let claims = obj(json!({
            "v": 2,
            "o": { "id": "org_2xyz", "slg": "acme", "rol": "admin", "per": "read,manage", "fpm": "3,1" },
            "fea": "o:dashboard,o:billing,u:beta"
        }));
        let org = organization(&claims).unwrap();
        assert_eq!(org.role.as_deref(), Some("org:admin"));
        assert_eq!(org.slug.as_deref(), Some("acme"));
        assert_eq!(
            org.permissions,
            ["org:dashboard:read", "org:dashboard:manage", "org:billing:read"]
        );
    }

    #[test]
    fn malformed_feature_list_grants_nothing() {
        let claims =
            obj(json!({ "v": 2, "o": { "id": "org_1", "per": "read", "fpm": "1" }, "fea": "dashboard" }));
        assert!(organization(&claims).unwrap().permissions.is_empty());
    }

    #[test]
    fn clerk_v1_and_flat_org_claims() {
        let claims = obj(
            json!({ "org_id": "org_1", "org_slug": "a", "org_role": "org:member", "org_permissions": ["org:x:read"] }),
        );
        let org = organization(&claims).unwrap();
        assert_eq!(org.permissions, ["org:x:read"]);
        assert!(organization(&obj(json!({ "sub": "u" }))).is_none());
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        assert_eq!(
            scopes(&obj(json!({ "scope": "openid  email" }))),
            ["openid", "email"]
        );
        assert_eq!(scopes(&obj(json!({ "scp": ["a", "b"] }))), ["a", "b"]);
    }
}
