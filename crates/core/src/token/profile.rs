//! Provider profiles: presets that fill the [`Policy`] (and say where the keys
//! live) for the providers Tessera's users run.
//!
//! Each constructor takes the identifiers the provider's dashboard shows and
//! returns [`ProviderSettings`]; [`Provider::apply`] applies the same conventions to
//! a policy whose issuer is already known (what the CLI's `--profile` does).

use crate::alg::Alg;
use crate::policy::Policy;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use serde::Serialize;
use serde_json::Value;

/// A provider whose token conventions Tessera knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// Clerk session tokens: RS256, `sid` always present, `azp` = the page's origin.
    Clerk,
    /// Auth0 access tokens: issuer with a trailing slash, RS256 (PS256 optional).
    Auth0,
    /// Supabase Auth with asymmetric signing keys: ES256 or RS256, `aud` = `authenticated`.
    Supabase,
    /// Firebase Auth ID tokens: RS256, `aud` = project id, `auth_time` required.
    Firebase,
    /// Amazon Cognito access tokens: RS256, `client_id` instead of `aud`, `token_use` = `access`.
    Cognito,
    /// WorkOS AuthKit access tokens: RS256, `sid`, `org_id`, `role`, `permissions`.
    Workos,
    /// Keycloak access tokens: `typ` claim `Bearer` (ID tokens say `ID`).
    Keycloak,
    /// Microsoft Entra ID (v2.0 endpoints): RS256; single-tenant with the
    /// tenant's issuer, or multi-tenant with the issuer template
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`, which a token's
    /// `iss` must fill with its own `tid`. Its Microsoft Graph access tokens
    /// are for Graph alone, so sessions are built on the ID token.
    Entra,
    /// Okta: RS256. A custom authorization server
    /// (`https://{org}.okta.com/oauth2/{id}`, e.g. `…/oauth2/default`) issues
    /// JWT access tokens for your API (`aud` `api://default` by default); the
    /// org authorization server (`https://{org}.okta.com`) issues access
    /// tokens only Okta can verify, so its sessions are built on the ID token.
    Okta,
    /// Google: RS256 ID tokens whose issuer is `https://accounts.google.com` or
    /// `accounts.google.com`; its access tokens are opaque, so sessions are
    /// built on the ID token.
    Google,
    /// Any OpenID Provider: issuer only, keys via discovery.
    #[default]
    Oidc,
}

/// What a profile resolves to.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderSettings {
    /// The policy, validated.
    pub policy: Policy,
    /// Where the key set lives, when the provider documents a fixed URL; `None`
    /// means "read `jwks_uri` from discovery".
    pub jwks_uri: Option<String>,
    /// The OpenID discovery document URL.
    pub discovery_uri: String,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 11] = [
        Provider::Clerk,
        Provider::Auth0,
        Provider::Supabase,
        Provider::Firebase,
        Provider::Cognito,
        Provider::Workos,
        Provider::Keycloak,
        Provider::Entra,
        Provider::Okta,
        Provider::Google,
        Provider::Oidc,
    ];

    /// The profile name, as used in configuration and `--profile`.
    pub const fn name(self) -> &'static str {
        match self {
            Provider::Clerk => "clerk",
            Provider::Auth0 => "auth0",
            Provider::Supabase => "supabase",
            Provider::Firebase => "firebase",
            Provider::Cognito => "cognito",
            Provider::Workos => "workos",
            Provider::Keycloak => "keycloak",
            Provider::Entra => "entra",
            Provider::Okta => "okta",
            Provider::Google => "google",
            Provider::Oidc => "oidc",
        }
    }

    /// Every profile name, for messages.
    pub const NAMES: &'static str =
        "clerk, auth0, supabase, firebase, cognito, workos, keycloak, entra, okta, google, oidc";

    /// Looks a profile up by name.
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Applies this provider's conventions to `policy`, whose issuer is already set.
    /// Settings the caller made explicitly (audiences, algorithms other than the
    /// default) are kept.
    ///
    /// ```
    /// use tessera_core::{Alg, Policy, Provider};
    /// let mut p = Policy::for_issuer("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc");
    /// Provider::Cognito.apply(&mut p);
    /// assert_eq!(p.audience_claim, "client_id");
    /// assert_eq!(p.algorithms, [Alg::Rs256]);
    /// ```
    pub fn apply(self, policy: &mut Policy) {
        policy.provider = self;
        let default_algs = policy.algorithms == crate::alg::DEFAULT_ALGORITHMS;
        let mut algs = |list: &[Alg]| {
            if default_algs {
                policy.algorithms = list.to_vec();
            }
        };
        match self {
            Provider::Clerk => {
                algs(&[Alg::Rs256]);
                require(policy, "sid");
            }
            Provider::Auth0 => algs(&[Alg::Rs256, Alg::Ps256]),
            Provider::Supabase => {
                algs(&[Alg::Es256, Alg::Rs256]);
                if policy.audiences.is_empty() {
                    policy.audiences = vec![String::from("authenticated")];
                }
            }
            Provider::Firebase => {
                algs(&[Alg::Rs256]);
                if policy.audiences.is_empty() {
                    if let Some(project) = policy.issuers.first().and_then(|i| i.rsplit('/').next()) {
                        policy.audiences = vec![project.to_string()];
                    }
                }
                require(policy, "auth_time");
            }
            Provider::Cognito => {
                algs(&[Alg::Rs256]);
                policy.audience_claim = String::from("client_id");
                policy
                    .claim_values
                    .entry(String::from("token_use"))
                    .or_insert_with(|| Value::from("access"));
            }
            Provider::Workos => algs(&[Alg::Rs256]),
            Provider::Keycloak => {
                policy
                    .claim_values
                    .entry(String::from("typ"))
                    .or_insert_with(|| Value::from("Bearer"));
            }
            Provider::Entra | Provider::Okta => algs(&[Alg::Rs256]),
            Provider::Google => {
                algs(&[Alg::Rs256]);
                // Google's ID tokens name either spelling of its issuer.
                if policy.issuers.iter().any(|i| i == GOOGLE_ISSUER)
                    && !policy.issuers.iter().any(|i| i == GOOGLE_BARE_ISSUER)
                {
                    policy.issuers.push(String::from(GOOGLE_BARE_ISSUER));
                }
            }
            Provider::Oidc => {}
        }
    }

    /// The documented JWKS URL for `issuer`, where the provider has a fixed one.
    pub fn jwks_uri(self, issuer: &str) -> Option<String> {
        let base = issuer.trim_end_matches('/');
        match self {
            Provider::Clerk | Provider::Auth0 | Provider::Supabase | Provider::Cognito => {
                Some(format!("{base}/.well-known/jwks.json"))
            }
            Provider::Firebase => Some(String::from(
                "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
            )),
            Provider::Workos => base
                .rsplit_once("/user_management/")
                .map(|(_, client)| format!("https://api.workos.com/sso/jwks/{client}")),
            Provider::Keycloak => Some(format!("{base}/protocol/openid-connect/certs")),
            Provider::Google => Some(String::from("https://www.googleapis.com/oauth2/v3/certs")),
            Provider::Entra => None,
            Provider::Okta => Some(if base.contains("/oauth2/") {
                format!("{base}/v1/keys")
            } else {
                format!("{base}/oauth2/v1/keys")
            }),
            Provider::Oidc => None,
        }
    }

    /// Settings for a provider given its issuer URL.
    pub fn settings(self, issuers: Vec<String>) -> ProviderSettings {
        let mut policy = Policy {
            issuers,
            ..Policy::default()
        };
        self.apply(&mut policy);
        let issuer = policy.issuers.last().cloned().unwrap_or_default();
        ProviderSettings {
            jwks_uri: self.jwks_uri(&issuer),
            discovery_uri: format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ),
            policy,
        }
    }
}

/// Google's issuer, as its discovery document states it.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// The other spelling Google's ID tokens may carry in `iss` (OpenID Connect
/// guide: "`https://accounts.google.com` or `accounts.google.com`").
pub const GOOGLE_BARE_ISSUER: &str = "accounts.google.com";

fn require(policy: &mut Policy, claim: &str) {
    if !policy.required_claims.iter().any(|c| c == claim) {
        policy.required_claims.push(String::from(claim));
    }
}

/// `https://host` from a bare host or URL, without a trailing slash.
fn https_origin(host_or_url: &str) -> String {
    let host = host_or_url
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    format!("https://{host}")
}

/// Clerk: the frontend API host (from the publishable key, e.g.
/// `clerk.example.com` or `xyz.clerk.accounts.dev`) and the app origins allowed
/// in `azp` (recommended: Clerk session tokens can otherwise be replayed from other
/// apps of the same instance).
///
/// ```
/// let s = tessera_core::profile::clerk("clerk.example.com", &["https://app.example.com"]);
/// assert_eq!(s.policy.issuers, ["https://clerk.example.com"]);
/// assert_eq!(s.jwks_uri.as_deref(), Some("https://clerk.example.com/.well-known/jwks.json"));
/// ```
pub fn clerk(frontend_api: &str, authorized_parties: &[&str]) -> ProviderSettings {
    let mut s = Provider::Clerk.settings(vec![https_origin(frontend_api)]);
    s.policy.authorized_parties = authorized_parties.iter().map(|p| String::from(*p)).collect();
    s
}

/// Auth0: the tenant domain (`tenant.eu.auth0.com` or a custom domain) and the API
/// identifier (audience). Auth0's issuer ends with a slash.
pub fn auth0(domain: &str, audience: &str) -> ProviderSettings {
    let mut s = Provider::Auth0.settings(vec![format!("{}/", https_origin(domain))]);
    s.policy.audiences = vec![String::from(audience)];
    s
}

/// Supabase: the project URL (`https://<ref>.supabase.co`). Only projects using
/// asymmetric JWT signing keys can be verified; the legacy HS256 secret is a
/// shared secret, which a public-key verifier refuses.
pub fn supabase(project_url: &str) -> ProviderSettings {
    Provider::Supabase.settings(vec![format!("{}/auth/v1", https_origin(project_url))])
}

/// Firebase Auth: the project id.
pub fn firebase(project_id: &str) -> ProviderSettings {
    Provider::Firebase.settings(vec![format!("https://securetoken.google.com/{project_id}")])
}

/// Which Cognito token a verifier accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CognitoTokenUse {
    /// Access tokens: the app client id is in `client_id`.
    Access,
    /// ID tokens: the app client id is in `aud`.
    Id,
}

/// Amazon Cognito: region, user pool id and the app client ids to accept.
pub fn cognito(
    region: &str,
    user_pool_id: &str,
    client_ids: &[&str],
    token_use: CognitoTokenUse,
) -> ProviderSettings {
    let mut s = Provider::Cognito.settings(vec![format!(
        "https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    )]);
    s.policy.audiences = client_ids.iter().map(|c| String::from(*c)).collect();
    if token_use == CognitoTokenUse::Id {
        s.policy.audience_claim = String::from("aud");
        s.policy
            .claim_values
            .insert(String::from("token_use"), Value::from("id"));
    }
    s
}

/// WorkOS AuthKit: the client id. Access tokens name either `https://api.workos.com`
/// or `https://api.workos.com/user_management/<client id>` as issuer; both are
/// WorkOS's own and both are accepted.
pub fn workos(client_id: &str) -> ProviderSettings {
    Provider::Workos.settings(vec![
        String::from("https://api.workos.com"),
        format!("https://api.workos.com/user_management/{client_id}"),
    ])
}

/// Keycloak: the server's base URL and the realm. Pass the client's audience
/// (Keycloak puts `account` in `aud` by default; configure an audience mapper).
pub fn keycloak(base_url: &str, realm: &str) -> ProviderSettings {
    Provider::Keycloak.settings(vec![format!(
        "{}/realms/{realm}",
        base_url.trim().trim_end_matches('/')
    )])
}

/// Any OpenID Provider: the issuer URL, exactly as its discovery document says.
pub fn oidc(issuer: &str) -> ProviderSettings {
    Provider::Oidc.settings(vec![String::from(issuer)])
}
