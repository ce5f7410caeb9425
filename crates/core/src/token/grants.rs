//! What a verified token grants, read where its provider puts it: the
//! caller's roles and permissions, and whether the caller is a user or a
//! machine (a client-credentials token, no user behind it).
//!
//! Each [`Provider`] has a documented default (the tables of
//! `docs/authorization.md`); [`Policy::role_claims`] and
//! [`Policy::permission_claims`] replace it. A claim is named by its
//! top-level name (`"roles"`, `"cognito:groups"`,
//! `"https://example.com/roles"`), or by a JSON Pointer (RFC 6901) when it
//! starts with `/` (`"/realm_access/roles"`, `"/app_metadata/plan"`). A
//! string value is one grant, an array's strings are one grant each;
//! anything else grants nothing. The organisation's own role and
//! permissions (`org_role`, `org_permissions`, Clerk's v2 `o`) are always
//! roles and permissions too.
//!
//! ```
//! use tessera_core::{Kind, Policy, Provider};
//! let mut policy = Policy::for_issuer("https://kc.example.com/realms/acme");
//! policy.audiences = vec!["orders-api".into()];
//! Provider::Keycloak.apply(&mut policy);
//! let claims = serde_json::json!({
//!     "sub": "f3a1", "realm_access": { "roles": ["staff"] },
//!     "resource_access": { "orders-api": { "roles": ["refund"] }, "account": { "roles": ["manage-account"] } }
//! });
//! let claims = claims.as_object().unwrap();
//! let grants = tessera_core::grants::read(&policy, claims, false);
//! assert_eq!(grants.roles, ["staff", "refund"]);
//! assert_eq!(grants.kind, Kind::User);
//! ```

use crate::json::Object;
use crate::policy::Policy;
use crate::profile::Provider;
use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;
use serde_json::Value;

/// Who a token speaks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A person signed in (the default: sessions, delegated tokens).
    #[default]
    User,
    /// A client acting for itself (OAuth client-credentials grant): the
    /// subject is the client, there is no user and no session.
    Machine,
}

impl Kind {
    /// The configuration's names, for messages.
    pub const NAMES: &'static str = "user, machine";

    /// The name used in configuration, events and the forwarded header.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Machine => "machine",
        }
    }

    /// The kind named `name` in configuration.
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "user" => Some(Kind::User),
            "machine" => Some(Kind::Machine),
            _ => None,
        }
    }
}

/// What [`read`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// Roles, in claim order, without repeats.
    pub roles: Vec<String>,
    /// Permissions, in claim order, without repeats.
    pub permissions: Vec<String>,
    /// User or machine.
    pub kind: Kind,
}

/// The grants of verified `claims` under `policy`; `id_token` for the
/// claims of an ID token (always a user).
pub fn read(policy: &Policy, claims: &Object, id_token: bool) -> Grants {
    let provider = policy.provider;
    let roles = match &policy.role_claims {
        Some(names) => values(claims, names),
        None => {
            // Keycloak: the client roles of this API (its audiences) and of
            // this app (its client id, the authorized party), never another
            // client's.
            let mut names: Vec<String> = default_role_claims(provider)
                .iter()
                .map(|n| String::from(*n))
                .collect();
            if provider == Provider::Keycloak {
                for client in policy.audiences.iter().chain(&policy.authorized_parties) {
                    names.push(format!("/resource_access/{}/roles", pointer_escape(client)));
                }
            }
            values(claims, &names)
        }
    };
    let permissions = match &policy.permission_claims {
        Some(names) => values(claims, names),
        None => values(claims, default_permission_claims(provider)),
    };
    let kind = if !id_token && is_machine(provider, claims) {
        Kind::Machine
    } else {
        Kind::User
    };
    Grants {
        roles,
        permissions,
        kind,
    }
}

/// Where `provider`'s tokens carry roles, by default (and Keycloak's
/// client roles, added by [`read`]).
fn default_role_claims(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Clerk | Provider::Auth0 | Provider::Google => &[],
        Provider::Supabase => &["role", "/app_metadata/roles"],
        Provider::Firebase | Provider::Workos => &["role", "roles"],
        Provider::Cognito => &["cognito:groups"],
        Provider::Keycloak => &["/realm_access/roles"],
        Provider::Entra => &["roles", "wids"],
        Provider::Okta => &["groups"],
        Provider::Oidc => &["roles"],
    }
}

/// Where `provider`'s tokens carry permissions, by default.
fn default_permission_claims(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Auth0 | Provider::Workos | Provider::Firebase | Provider::Oidc => &["permissions"],
        Provider::Supabase => &["/app_metadata/permissions"],
        _ => &[],
    }
}

/// Whether an introspection answer (RFC 7662) is a machine's: its members
/// are the endpoint's, not a token's claims (`client_id` is in every answer),
/// so the profiles' token rules do not apply. A machine is an answer whose
/// `sub` is its `client_id`, or that states a client-credentials grant.
pub fn introspected_is_machine(answer: &Object) -> bool {
    let text = |name: &str| answer.get(name).and_then(Value::as_str);
    text("sub").is_some_and(|s| !s.is_empty() && Some(s) == text("client_id"))
        || text("gty") == Some("client-credentials")
}

/// Whether `claims` are a machine's, by `provider`'s rule (each documented in
/// `docs/authorization.md`, from the provider's own documentation).
fn is_machine(provider: Provider, claims: &Object) -> bool {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let sub = text("sub").unwrap_or("");
    let sub_is = |name: &str| text(name).is_some_and(|v| !v.is_empty() && v == sub);
    match provider {
        // Clerk machine tokens name the machine (`mch_…`) as subject.
        Provider::Clerk => sub.starts_with("mch_"),
        // Auth0 marks client-credentials tokens with the grant type.
        Provider::Auth0 => text("gty") == Some("client-credentials"),
        // Entra: `idtyp` (an optional claim) says so; without it, an
        // app-only token's subject is the service principal's object id,
        // while a user's `sub` is pairwise and never equals `oid`.
        Provider::Entra => text("idtyp") == Some("app") || sub_is("oid"),
        // Okta: the client (`cid`) is the subject, and there is no user (`uid`).
        Provider::Okta => sub_is("cid") && !claims.contains_key("uid"),
        Provider::Cognito => sub_is("client_id"),
        // Keycloak's service-account tokens carry the client id (`client_id`,
        // `clientId` before Keycloak 22), which its mapper sets for them
        // alone. (Not the `service-account-…` username: users may choose
        // their usernames.)
        Provider::Keycloak => claims.contains_key("client_id") || claims.contains_key("clientId"),
        // WorkOS user tokens always carry the session (`sid`); M2M ones never.
        Provider::Workos => !claims.contains_key("sid"),
        Provider::Supabase | Provider::Firebase | Provider::Google => false,
        // RFC 9068 2.2: without a resource owner, `sub` is the client; and
        // the grant type where a provider states it (Auth0's `gty`).
        Provider::Oidc => sub_is("client_id") || sub_is("azp") || text("gty") == Some("client-credentials"),
    }
}

/// The values at each of `names`, strings kept, repeats dropped.
fn values<N: AsRef<str>>(claims: &Object, names: &[N]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let found: &[Value] = match claim(claims, name.as_ref()) {
            Some(one @ Value::String(_)) => core::slice::from_ref(one),
            Some(Value::Array(items)) => items,
            _ => &[],
        };
        for s in found.iter().filter_map(Value::as_str) {
            if !s.is_empty() && !out.iter().any(|o| o == s) {
                out.push(String::from(s));
            }
        }
    }
    out
}

/// The claim `name` names: a top-level name, or a JSON Pointer (RFC 6901)
/// when it starts with `/`.
pub fn claim<'c>(claims: &'c Object, name: &str) -> Option<&'c Value> {
    let Some(pointer) = name.strip_prefix('/') else {
        return claims.get(name);
    };
    let (first, rest) = match pointer.find('/') {
        Some(i) => (&pointer[..i], &pointer[i..]),
        None => (pointer, ""),
    };
    let top = claims.get(&*pointer_unescape(first))?;
    if rest.is_empty() {
        Some(top)
    } else {
        top.pointer(rest)
    }
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn pointer_unescape(s: &str) -> Cow<'_, str> {
    if s.contains('~') {
        Cow::Owned(s.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Whether `name` is a usable claim name for [`Policy::role_claims`] and
/// route requirements: not empty, and a pointer's `~` escapes well formed.
pub(crate) fn check_claim_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "/" {
        return Err(String::from("names no claim"));
    }
    if let Some(pointer) = name.strip_prefix('/') {
        let bytes = pointer.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')) {
                return Err(format!(
                    "{name:?} is a JSON Pointer with a bad escape: write ~0 for ~ and ~1 for /"
                ));
            }
        }
    }
    Ok(())
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
    fn pointers_read_nested_and_escaped_names() {
        let c = obj(json!({ "a/b": { "c~d": ["x"] }, "https://e.com/roles": "r" }));
        assert_eq!(claim(&c, "/a~1b/c~0d"), Some(&json!(["x"])));
        assert_eq!(claim(&c, "https://e.com/roles"), Some(&json!("r")));
        assert_eq!(claim(&c, "/missing/x"), None);
        assert!(check_claim_name("/a~2").is_err());
        assert!(check_claim_name("").is_err());
    }

    #[test]
    fn grants_are_deduplicated_and_non_strings_ignored() {
        let mut p = Policy::for_issuer("https://i");
        p.role_claims = Some(alloc::vec!["roles".into(), "groups".into()]);
        let c = obj(json!({ "roles": ["a", 1, "b", "a"], "groups": "b" }));
        assert_eq!(read(&p, &c, false).roles, ["a", "b"]);
    }

    #[test]
    fn id_tokens_are_users_whatever_their_claims() {
        let p = Policy::for_issuer("https://i");
        let c = obj(json!({ "sub": "web", "client_id": "web" }));
        assert_eq!(read(&p, &c, false).kind, Kind::Machine);
        assert_eq!(read(&p, &c, true).kind, Kind::User);
    }
}
