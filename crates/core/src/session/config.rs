//! The configuration schema every runtime shares ([`TesseraConfig`]), secrets
//! that never print ([`Secret`]), and configuration errors that name the field.

use crate::cookie::SameSite;
use crate::fields::{set, Fields};
use crate::jwks_cache::JwksCacheConfig;
use crate::memo::MemoConfig;
use crate::oidc::ClientAuth;
use crate::policy::Policy;
use crate::profile::Provider;
use crate::routes::{Access, RouteRule, Routes};
use crate::seal::Keyring;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use crate::fields::ConfigError;

/// A configuration that loads but deserves a second look: a setting that is
/// legal and probably not what was meant, or weaker than it looks. Returned by
/// [`TesseraConfig::warnings`]; the worker logs them at start, the npm package
/// reports them (`tessera.warnings`), `tessera check-config` prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The field, as spelled in the configuration.
    pub field: String,
    /// What could go wrong, and what to set instead.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration warning: `{}`: {}", self.field, self.message)
    }
}

/// A secret configuration value (client secret, cookie keys, signing secret).
/// It is never printed: `Debug` shows `"<redacted>"`, and errors name the field,
/// never the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret (e.g. read from a Workers secret binding).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no secret was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "<none>" } else { "<redacted>" })
    }
}

/// The one configuration schema every runtime reads (the worker from
/// `TESSERA_CONFIG` plus secrets, the npm package from an object). Keys are
/// camelCase; unknown keys are refused so a typo is an error, not a silently
/// ignored setting. Load with [`TesseraConfig::from_json`], which also validates.
///
/// ```
/// use tessera_core::config::TesseraConfig;
/// let config = TesseraConfig::from_json(r#"{
///     "issuer": "https://auth.example.com",
///     "clientId": "web",
///     "appOrigin": "https://app.example.com",
///     "verification": { "audience": "https://api.example.com" },
///     "routes": [{ "pattern": "/", "access": "public" }, { "pattern": "/api/**", "access": "api" }]
/// }"#).unwrap();
/// assert_eq!(config.policy().issuers, ["https://auth.example.com"]);
/// assert_eq!(config.cookie_names().session, "__Host-tessera-session");
///
/// let err = TesseraConfig::from_json(r#"{"issuer":"https://a.example","clientId":"web","appOrigin":"https://b.example","sesion":{}}"#).unwrap_err();
/// assert!(err.message.contains("sesion"));
/// ```
#[derive(Clone, Debug)]
pub struct TesseraConfig {
    /// The provider's issuer URL, exactly as its discovery document states it.
    /// Required; `https`, or `http` on loopback for local development.
    pub issuer: String,
    /// Provider conventions applied to verification ([`Provider`]). Default `oidc`.
    pub profile: Provider,
    /// The OAuth client id registered with the provider. Required for
    /// sessions (with `cookieKeys`); a verification-only host (bearer tokens
    /// only, such as an origin server) may omit it.
    pub client_id: String,
    /// The client secret (a secret: `TESSERA_CLIENT_SECRET` on Workers). Default
    /// none: a public client relying on PKCE alone.
    pub client_secret: Secret,
    /// How the client authenticates at the token endpoint. Default
    /// `client_secret_basic` (or `none` when there is no secret).
    pub client_auth: Option<ClientAuth>,
    /// Scopes requested at sign-in. Default `openid profile email offline_access`
    /// (`offline_access` is what makes providers issue refresh tokens).
    pub scopes: Vec<String>,
    /// Resource indicators (RFC 8707) for the access token. Default none.
    pub resources: Vec<String>,
    /// Extra authorization request parameters (e.g. `{"prompt": "consent"}`).
    pub authorization_params: BTreeMap<String, String>,
    /// The app's public origin (`https://app.example.com`): the base of the
    /// callback URL and the origin the CSRF gate and return paths allow.
    /// Required for sessions (with `cookieKeys`); a verification-only host may
    /// omit it.
    pub app_origin: String,
    /// Other origins allowed to send cookie-authenticated unsafe requests.
    /// Default none: the CSRF gate passes only same-origin requests, so a
    /// sibling subdomain or another port of the same host (same-site, but
    /// another origin) must be listed here to POST with the session cookie.
    pub allowed_origins: Vec<String>,
    /// Where the edge endpoints live. Default `/__tessera`.
    pub endpoint_prefix: String,
    /// Where to send the browser after sign-out when the provider has no
    /// end-session endpoint. Default `/`.
    pub after_sign_out_path: String,
    /// The revocation endpoint (RFC 7009) to use at sign-out and when a
    /// grant is refused. Default none: the discovery document's, or its RFC
    /// 8414 metadata's. Set it for a provider that publishes neither.
    pub revocation_endpoint: Option<String>,
    /// Access-token verification beyond the issuer (audience, authorized
    /// parties, algorithms, leeway, …); the issuer defaults to `issuer`.
    pub verification: Policy,
    /// Other issuers whose bearer tokens are accepted, each verified with
    /// its own profile, policy and key set ([`TrustedIssuer`]): a partner's
    /// tokens, machine tokens from a second authorization server. A bearer
    /// token goes to the verifier its (unverified) `iss` names and is then
    /// verified completely by that one alone; a token naming no trusted
    /// issuer is refused before any fetch. Sessions are always `issuer`'s.
    /// Default none. (`verification.issuers` is different: several spellings
    /// of one issuer sharing its key set and policy, as WorkOS's two.)
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// What sessions are built on.
    pub session: SessionConfig,
    /// Opaque bearer tokens, asked about at an introspection endpoint (RFC
    /// 7662). Default `None`: a bearer token must be a JWT access token.
    pub introspection: Option<IntrospectionConfig>,
    /// DPoP proofs (RFC 9449) for sender-constrained tokens ([`DpopConfig`]).
    /// Always on: a token bound with `cnf.jkt` passes only with a proof.
    pub dpop: DpopConfig,
    /// Cookie settings.
    pub cookies: CookieConfig,
    /// The sealing keyring `id:base64url,…` (a secret: `TESSERA_COOKIE_KEYS`).
    /// Required for sign-in and refresh; verification-only hosts may omit it.
    pub cookie_keys: Secret,
    /// Route rules, first match wins.
    pub routes: Vec<RouteRule>,
    /// Access for paths no rule matches. Default `page` (protected): a
    /// forgotten rule must not expose a route.
    pub default_access: Access,
    /// How rules treat letter case. Default `protective`: `page` and `api`
    /// rules match a path in any ASCII case, `public` rules only in their own
    /// (so no spelling of a protected path is public, whatever the framework
    /// does with case). `case-insensitive`: public rules ignore case too, for
    /// origins that route case-insensitively and public paths that must stay
    /// public in every spelling. See [`crate::routes`].
    pub route_matching: RouteMatching,
    /// Refresh this many seconds before the access token expires, so requests
    /// do not hit the expiry. Default 10.
    pub refresh_ahead: u64,
    /// How long a rotated-out refresh token is answered with the tokens that
    /// replaced it (concurrent tabs), in seconds. Default 30.
    pub replay_window: u64,
    /// The secret that signs forwarded identity headers (`x-tessera-signature`).
    /// Default none (unsigned).
    pub forward_signing_secret: Secret,
    /// The bearer secret of `POST {prefix}/revoke` (a secret:
    /// `TESSERA_REVOKE_SECRET` on Workers), through which a back office ends a
    /// user's sessions on every instance (`{"sub": …}`, `{"sid": …}` or
    /// `{"session": …}`). Default none: the endpoint does not exist (the npm
    /// package's apps call `revoke()` instead). At least 32 bytes.
    pub revoke_secret: Secret,
    /// Key-set cache settings.
    pub jwks: JwksCacheConfig,
    /// Verified-token memo settings.
    pub memo: MemoConfig,
}

/// A further issuer of bearer tokens ([`TesseraConfig::trusted_issuers`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TrustedIssuer {
    /// Its issuer URL, exactly as its tokens' `iss` and its discovery
    /// document say. Required; `https` (`http` on loopback).
    pub issuer: String,
    /// Its provider conventions ([`Provider`]). Default `oidc`.
    pub profile: Provider,
    /// Its policy, as `verification` (the issuer defaults to `issuer`); an
    /// audience or authorized parties are required unless the profile binds
    /// the tokens to one app, as for the main issuer's bearer routes.
    pub verification: Policy,
    /// Where its key set is. Default: the profile's documented location,
    /// else the `jwks_uri` of its discovery document.
    pub jwks_uri: Option<String>,
}

impl TrustedIssuer {
    fn read(f: &mut Fields) -> Result<TrustedIssuer, ConfigError> {
        let issuer = f
            .string("issuer")?
            .ok_or_else(|| f.error("issuer", "is required: the issuer URL its tokens name"))?;
        let profile = f
            .named("profile", Provider::from_name, Provider::NAMES)?
            .unwrap_or_default();
        let mut verification = f.object("verification", Policy::read)?.unwrap_or_default();
        let jwks_uri = f.string("jwksUri")?;
        if verification.issuers.is_empty() {
            verification.issuers = alloc::vec![issuer.clone()];
        }
        profile.apply(&mut verification);
        forbid_id_tokens(profile, &mut verification);
        Ok(TrustedIssuer {
            issuer,
            profile,
            verification,
            jwks_uri,
        })
    }

    /// Where the key set is, when known without discovery.
    pub fn known_jwks_uri(&self) -> Option<String> {
        self.jwks_uri
            .clone()
            .or_else(|| self.profile.jwks_uri(&self.issuer))
    }

    fn validate(&self, field: &str, taken: &[&String]) -> Result<(), ConfigError> {
        let error = |what: &str, message: String| ConfigError::new(format!("{field}.{what}"), message);
        if !crate::oidc::url_ok(&self.issuer) {
            return Err(error(
                "issuer",
                String::from("must be an https URL (http only on loopback)"),
            ));
        }
        if let Some(u) = self.jwks_uri.as_deref().filter(|u| !crate::oidc::url_ok(u)) {
            return Err(error(
                "jwksUri",
                format!("{u:?} must be an https URL (http only on loopback)"),
            ));
        }
        if let Some(i) = self.verification.issuers.iter().find(|i| taken.contains(i)) {
            return Err(error(
                "issuer",
                format!("{i:?} is trusted twice: a token must name one verifier"),
            ));
        }
        if self
            .verification
            .issuers
            .iter()
            .any(|i| i.contains(crate::claims::TENANT_PLACEHOLDER))
        {
            return Err(error(
                "issuer",
                String::from(
                    "a trusted issuer names one tenant; the {tenantid} template is for the main issuer",
                ),
            ));
        }
        self.verification
            .validate()
            .map_err(|e| error(&format!("verification.{}", e.field), e.message))?;
        let v = &self.verification;
        if v.audiences.is_empty() && v.authorized_parties.is_empty() {
            return Err(error(
                "verification.audience",
                String::from(
                    "is required: without it any token of this issuer passes, other clients' included",
                ),
            ));
        }
        Ok(())
    }
}

/// The app's own ID tokens never pass as access tokens, whatever else is
/// forbidden (Firebase's bearer tokens are ID tokens).
fn forbid_id_tokens(profile: Provider, v: &mut Policy) {
    if profile != Provider::Firebase {
        for claim in crate::policy::ID_TOKEN_CLAIMS {
            if !v.forbidden_claims.iter().any(|c| c == claim) {
                v.forbidden_claims.push(String::from(claim));
            }
        }
    }
}

/// DPoP proofs ([`TesseraConfig::dpop`]). A token whose `cnf.jkt` binds it
/// to a key is accepted only as `Authorization: DPoP <token>` with a `DPoP`
/// proof signed by that key for this request (method, `appOrigin` and path);
/// each proof once (`jti`, remembered per instance and through the shared
/// store when there is one).
#[derive(Clone, Debug, PartialEq)]
pub struct DpopConfig {
    /// Algorithms a proof may use. Default ES256, EdDSA, RS256, PS256.
    pub algorithms: Vec<crate::Alg>,
    /// How old a proof's `iat` may be, in seconds (the leeway of
    /// `verification` is added). Default 60, at most 300: a proof is made
    /// for one request, and its `jti` is remembered this long.
    pub max_age: u64,
    /// Whether proofs must carry a server nonce (RFC 9449 §9). Default
    /// `false`. Nonces are stateless: an HMAC of the time window (5 minutes,
    /// the current or the previous one accepted) under a key derived from
    /// the first `cookieKeys` key, so every instance issues and accepts the
    /// same ones; needs `cookieKeys`.
    pub nonce: bool,
}

impl Default for DpopConfig {
    fn default() -> DpopConfig {
        DpopConfig {
            algorithms: crate::alg::DEFAULT_ALGORITHMS.to_vec(),
            max_age: 60,
            nonce: false,
        }
    }
}

impl DpopConfig {
    fn read(f: &mut Fields) -> Result<DpopConfig, ConfigError> {
        let mut c = DpopConfig::default();
        if let Some(names) = f.strings("algorithms")? {
            c.algorithms = names
                .iter()
                .map(|name| {
                    crate::Alg::from_name(name)
                        .map_err(|why| f.error("algorithms", &format!("lists {name:?}: {why}")))
                })
                .collect::<Result<_, _>>()?;
        }
        set(&mut c.max_age, f.u64("maxAge")?);
        set(&mut c.nonce, f.bool("nonce")?);
        if c.algorithms.is_empty() {
            return Err(f.error("algorithms", "is empty, so no proof could ever verify"));
        }
        if c.max_age == 0 || c.max_age > 300 {
            return Err(f.error("maxAge", "must be 1 to 300 s: a proof is made for one request"));
        }
        Ok(c)
    }
}

/// How route rules treat letter case ([`TesseraConfig::route_matching`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RouteMatching {
    /// Protective rules ignore case; public rules match their exact spelling.
    #[default]
    Protective,
    /// Every rule ignores ASCII case.
    CaseInsensitive,
}

impl RouteMatching {
    /// The configuration's names, for messages.
    pub const NAMES: &'static str = "protective, case-insensitive";

    /// The value named `name` in configuration.
    pub fn from_name(name: &str) -> Option<RouteMatching> {
        match name {
            "protective" => Some(RouteMatching::Protective),
            "case-insensitive" => Some(RouteMatching::CaseInsensitive),
            _ => None,
        }
    }
}

/// What sessions are built on ([`TesseraConfig::session`]).
#[derive(Clone, Debug, Default)]
pub struct SessionConfig {
    /// Where a session's identity comes from. Default `access-token` (the
    /// `google` profile: `id-token`). See [`SessionIdentity`].
    pub identity: SessionIdentity,
    /// Forward the session's access token to the origin in `Authorization`.
    /// Default: on for `access-token` sessions (the origin may verify the
    /// token itself), off for `id-token` sessions, as oauth2-proxy's
    /// `pass-access-token`: their access token is for the provider's APIs,
    /// and only an origin that calls them needs it.
    pub pass_access_token: Option<bool>,
    /// ID-token sessions: add the provider's userinfo endpoint's claims to
    /// the ID token's, at sign-in and at each refresh (its `sub` must be the
    /// ID token's, OpenID Connect Core 5.3.2). A failure at sign-in fails the
    /// sign-in; an outage at a refresh keeps the claims the session had.
    /// Default false: one more call per sign-in and refresh, for providers
    /// whose ID tokens carry little (oidc-provider, Entra's v2.0 tokens
    /// without optional claims).
    pub userinfo: bool,
    /// ID-token sessions: the claims the ID token must carry, from the
    /// configuration's own `verification.requiredClaims` (filled by the
    /// parser; the profile's presets describe access tokens and are not
    /// among them), e.g. `email_verified`.
    pub id_token_required_claims: Vec<String>,
    /// ID-token sessions: the claim values the ID token must have, from the
    /// configuration's own `verification.claimValues` (e.g. Google's `hd`:
    /// only accounts of one Workspace domain).
    pub id_token_claim_values: BTreeMap<String, serde_json::Value>,
}

impl SessionConfig {
    /// The profile's default: ID-token sessions for providers whose access
    /// tokens are not JWTs for this app (Google, Entra's Graph tokens, Okta's
    /// org authorization server).
    fn for_profile(profile: Provider, issuer: &str) -> SessionConfig {
        let org_server = profile == Provider::Okta && !issuer.contains("/oauth2/");
        SessionConfig {
            identity: match profile {
                Provider::Google | Provider::Entra => SessionIdentity::IdToken,
                _ if org_server => SessionIdentity::IdToken,
                _ => SessionIdentity::AccessToken,
            },
            pass_access_token: None,
            userinfo: false,
            id_token_required_claims: Vec::new(),
            id_token_claim_values: BTreeMap::new(),
        }
    }

    fn read(f: &mut Fields, profile: Provider, issuer: &str) -> Result<SessionConfig, ConfigError> {
        let mut c = SessionConfig::for_profile(profile, issuer);
        set(
            &mut c.identity,
            f.named("identity", SessionIdentity::from_name, SessionIdentity::NAMES)?,
        );
        c.pass_access_token = f.nullable("passAccessToken", Fields::bool)?;
        set(&mut c.userinfo, f.bool("userinfo")?);
        Ok(c)
    }

    /// Whether the origin receives the access token.
    pub fn passes_access_token(&self) -> bool {
        self.pass_access_token
            .unwrap_or(self.identity == SessionIdentity::AccessToken)
    }
}

/// Opaque bearer tokens through an introspection endpoint
/// ([`TesseraConfig::introspection`]): a bearer token that is not a JWS is
/// posted to the endpoint (RFC 7662, with the client authentication of the
/// token endpoint) and the answer, keyed by the token's SHA-256 (never the
/// token), is reused: an active token until `min(exp, maxAge)`, an inactive
/// one for `inactiveMaxAge`.
#[derive(Clone, Debug)]
pub struct IntrospectionConfig {
    /// The endpoint. Default: the provider's `introspection_endpoint`
    /// (its discovery document). Set it to the app's own auth API (API keys)
    /// or where a provider keeps the endpoint out of its discovery document.
    pub endpoint: Option<String>,
    /// How long an active answer is reused at most, in seconds (the token's
    /// `exp` bounds it too). Default 60: a token revoked at the provider keeps
    /// working this long at most; 0 asks on every request. At most 3600.
    pub max_age: u64,
    /// How long an inactive answer is reused, in seconds. Default 10: a
    /// flood of one bad token costs one call per 10 s, and a token that was
    /// not yet active (a race with its issuance) works soon. At most 300.
    pub inactive_max_age: u64,
    /// The `token_type`s an answer must name (`tokenTypes`), compared
    /// case-insensitively. Default empty: an answer without `token_type` is
    /// taken, and one naming a refresh token (or another kind) never is.
    /// oidc-provider names its access tokens `Bearer` and its refresh tokens
    /// not at all: `["Bearer"]` keeps its refresh tokens out.
    pub token_types: Vec<String>,
    /// The answer's member that names who the token is for (`subject`):
    /// forwarded as the user. Default `sub`; `username` for providers whose
    /// answers name users only so (django-oauth-toolkit), `client_id` for
    /// gateways that admit machine tokens only. One member, never a
    /// fallback from one to another: a client id or a username must not pass
    /// for another user's `sub` at the origin. An answer without it is
    /// refused (`claim-missing`).
    pub subject: String,
}

impl Default for IntrospectionConfig {
    fn default() -> Self {
        IntrospectionConfig {
            endpoint: None,
            max_age: 60,
            inactive_max_age: 10,
            token_types: Vec::new(),
            subject: String::from("sub"),
        }
    }
}

impl IntrospectionConfig {
    fn read(f: &mut Fields) -> Result<IntrospectionConfig, ConfigError> {
        let mut c = IntrospectionConfig {
            endpoint: f.nullable("endpoint", Fields::string)?,
            ..IntrospectionConfig::default()
        };
        set(&mut c.max_age, f.u64("maxAge")?);
        set(&mut c.inactive_max_age, f.u64("inactiveMaxAge")?);
        set(&mut c.token_types, f.strings("tokenTypes")?);
        set(&mut c.subject, f.string("subject")?);
        Ok(c)
    }

    fn validate(&self, client_id: &str) -> Result<(), ConfigError> {
        if let Some(endpoint) = &self.endpoint {
            if !crate::oidc::url_ok(endpoint) {
                return Err(ConfigError::new(
                    "introspection.endpoint",
                    "must be an https URL (http only on loopback)",
                ));
            }
        }
        if self.max_age > 3600 {
            return Err(ConfigError::new(
                "introspection.maxAge",
                "at most 3600 s: a revoked token keeps working this long",
            ));
        }
        if !["sub", "username", "client_id"].contains(&self.subject.as_str()) {
            return Err(ConfigError::new(
                "introspection.subject",
                "is one of sub, username, client_id: the answer's member forwarded as the user",
            ));
        }
        if self.inactive_max_age > 300 {
            return Err(ConfigError::new("introspection.inactiveMaxAge", "at most 300 s"));
        }
        if client_id.is_empty() {
            return Err(ConfigError::new(
                "clientId",
                "is required for introspection: the endpoint authenticates the client that asks (with clientSecret, as at the token endpoint)",
            ));
        }
        Ok(())
    }
}

/// Where a session's identity comes from ([`SessionConfig::identity`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionIdentity {
    /// The provider's access token is a JWT for this app (an audience
    /// Tessera checks): verified on every request against
    /// `verification`, its claims the identity. The default: the token the
    /// origin receives is one it can verify too.
    #[default]
    AccessToken,
    /// The ID token, verified at sign-in and at each refresh (issuer,
    /// audience = the client id, nonce, signature), its claims the identity,
    /// kept in the sealed session cookie until the access token's
    /// `expires_in`. The access token is kept opaque: for providers whose
    /// access tokens are not JWTs for this app (Google, GitHub-style OAuth
    /// servers, Entra's Microsoft Graph tokens, Auth0 without an audience).
    IdToken,
}

impl SessionIdentity {
    /// The configuration's names, for messages.
    pub const NAMES: &'static str = "access-token, id-token";

    /// The value named `name` in configuration.
    pub fn from_name(name: &str) -> Option<SessionIdentity> {
        match name {
            "access-token" => Some(SessionIdentity::AccessToken),
            "id-token" => Some(SessionIdentity::IdToken),
            _ => None,
        }
    }
}

/// Cookie settings.
#[derive(Clone, Debug)]
pub struct CookieConfig {
    /// Name prefix; cookies are `<prefix>-session`, `-refresh`, `-tx`. Default
    /// `__Host-tessera` (the `__Host-` prefix makes browsers enforce Secure,
    /// Path=/ and no Domain).
    pub prefix: String,
    /// `SameSite`. Default `Lax`, so the sign-in callback redirect carries the
    /// transaction cookie.
    pub same_site: SameSite,
    /// Lifetime of the session and refresh cookies, in seconds. Default 30 days;
    /// the provider's refresh-token lifetime ends sessions earlier when shorter.
    pub session_max_age: u64,
    /// Lifetime of the sign-in transaction cookie. Default 600 s.
    pub transaction_max_age: u64,
    /// `Secure` on every cookie. Default `true`. Turning it off (plain-http
    /// local development) also requires a prefix without `__Host-`/`__Secure-`.
    pub secure: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            prefix: String::from("__Host-tessera"),
            same_site: SameSite::Lax,
            session_max_age: 30 * 24 * 3600,
            transaction_max_age: 600,
            secure: true,
        }
    }
}

/// The three cookie names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieNames {
    /// The sealed access token.
    pub session: String,
    /// The sealed refresh token.
    pub refresh: String,
    /// The sealed sign-in transaction.
    pub transaction: String,
}

impl TesseraConfig {
    /// Parses and validates a configuration document.
    pub fn from_json(text: &str) -> Result<TesseraConfig, ConfigError> {
        let config = TesseraConfig::parse(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a configuration document (defaults and the provider preset
    /// applied) without validating it: for hosts that fill fields from their
    /// own secret store first, then call [`TesseraConfig::validate`].
    ///
    /// ```
    /// use tessera_core::config::{Secret, TesseraConfig};
    /// let mut config = TesseraConfig::parse(r#"{"issuer":"https://auth.example.com","clientId":"app",
    ///     "appOrigin":"https://app.example.com","verification":{"audience":"https://api.example.com"}}"#).unwrap();
    /// assert!(config.cookie_keys.is_empty());
    /// config.cookie_keys = Secret::new("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    /// config.validate().unwrap();
    /// ```
    pub fn parse(text: &str) -> Result<TesseraConfig, ConfigError> {
        let mut config = Fields::parse(text)?.read_all(TesseraConfig::read)?;
        if config.verification.issuers.is_empty() {
            config.verification.issuers = alloc::vec![config.issuer.clone()];
        }
        // The claim rules the document itself sets also bind ID-token
        // sessions' ID tokens; the profile's presets (Cognito's token_use,
        // Keycloak's typ) describe access tokens and do not.
        config.session.id_token_required_claims = config.verification.required_claims.clone();
        config.session.id_token_claim_values = config.verification.claim_values.clone();
        config.profile.apply(&mut config.verification);
        forbid_id_tokens(config.profile, &mut config.verification);
        let v = &mut config.verification;
        // Where a profile knows that the app's access tokens name its client
        // (Cognito in client_id, Keycloak in azp), the client id binds them.
        if v.audiences.is_empty() && v.authorized_parties.is_empty() && !config.client_id.is_empty() {
            match config.profile {
                Provider::Cognito => v.audiences = alloc::vec![config.client_id.clone()],
                Provider::Keycloak => v.authorized_parties = alloc::vec![config.client_id.clone()],
                _ => {}
            }
        }
        Ok(config)
    }

    /// The document's fields, each with its default (see each field's docs).
    /// Filled into a default configuration one by one (an early return then
    /// drops one value, not every field built so far: less code to compile).
    fn read(f: &mut Fields) -> Result<TesseraConfig, ConfigError> {
        let issuer = f
            .string("issuer")?
            .ok_or_else(|| f.error("issuer", "is required: the provider's issuer URL"))?;
        let mut c = TesseraConfig::defaults(issuer);
        // An editor's pointer to the JSON Schema (`tessera-edge/schema.json`):
        // allowed, so a configuration file can name it, and otherwise unused.
        f.annotation("$schema")?;
        set(
            &mut c.profile,
            f.named("profile", Provider::from_name, Provider::NAMES)?,
        );
        set(&mut c.client_id, f.string("clientId")?);
        set(&mut c.client_secret, f.string("clientSecret")?.map(Secret));
        c.client_auth = f.nullable("clientAuth", |f, key| {
            f.named(key, ClientAuth::from_name, ClientAuth::NAMES)
        })?;
        if c.profile == Provider::Google {
            // Google refuses offline_access (invalid_scope); its refresh
            // tokens come with access_type=offline (set below).
            c.scopes = ["openid", "email", "profile"].map(String::from).to_vec();
        }
        set(&mut c.scopes, f.strings("scopes")?);
        set(&mut c.resources, f.strings("resources")?);
        set(&mut c.authorization_params, f.string_map("authorizationParams")?);
        if c.profile == Provider::Google {
            // A refresh token only with access_type=offline, and Google issues
            // one only at a consent, so the consent is asked each sign-in.
            for (k, v) in [("access_type", "offline"), ("prompt", "consent")] {
                c.authorization_params
                    .entry(String::from(k))
                    .or_insert_with(|| String::from(v));
            }
        }
        set(&mut c.app_origin, f.string("appOrigin")?);
        set(&mut c.allowed_origins, f.strings("allowedOrigins")?);
        set(&mut c.endpoint_prefix, f.string("endpointPrefix")?);
        set(&mut c.after_sign_out_path, f.string("afterSignOutPath")?);
        c.revocation_endpoint = f.nullable("revocationEndpoint", Fields::string)?;
        set(&mut c.verification, f.object("verification", Policy::read)?);
        set(
            &mut c.trusted_issuers,
            f.objects("trustedIssuers", TrustedIssuer::read)?,
        );
        c.introspection = f.nullable("introspection", |f, key| f.object(key, IntrospectionConfig::read))?;
        set(&mut c.dpop, f.object("dpop", DpopConfig::read)?);
        c.session = SessionConfig::for_profile(c.profile, &c.issuer);
        let (profile, issuer) = (c.profile, c.issuer.clone());
        set(
            &mut c.session,
            f.object("session", |f| SessionConfig::read(f, profile, &issuer))?,
        );
        set(&mut c.cookies, f.object("cookies", CookieConfig::read)?);
        set(&mut c.cookie_keys, f.string("cookieKeys")?.map(Secret));
        set(&mut c.routes, f.objects("routes", RouteRule::read)?);
        set(
            &mut c.default_access,
            f.named("defaultAccess", Access::from_name, Access::NAMES)?,
        );
        set(
            &mut c.route_matching,
            f.named("routeMatching", RouteMatching::from_name, RouteMatching::NAMES)?,
        );
        set(&mut c.refresh_ahead, f.u64("refreshAhead")?);
        set(&mut c.replay_window, f.u64("replayWindow")?);
        set(
            &mut c.forward_signing_secret,
            f.string("forwardSigningSecret")?.map(Secret),
        );
        set(&mut c.revoke_secret, f.string("revokeSecret")?.map(Secret));
        set(&mut c.jwks, f.object("jwks", JwksCacheConfig::read)?);
        set(&mut c.memo, f.object("memo", MemoConfig::read)?);
        Ok(c)
    }

    /// Every field at its default (see each field's docs).
    fn defaults(issuer: String) -> TesseraConfig {
        TesseraConfig {
            issuer,
            profile: Provider::Oidc,
            client_id: String::new(),
            client_secret: Secret::default(),
            client_auth: None,
            scopes: ["openid", "profile", "email", "offline_access"]
                .map(String::from)
                .to_vec(),
            resources: Vec::new(),
            authorization_params: BTreeMap::new(),
            app_origin: String::new(),
            allowed_origins: Vec::new(),
            endpoint_prefix: String::from("/__tessera"),
            after_sign_out_path: String::from("/"),
            revocation_endpoint: None,
            verification: Policy::default(),
            trusted_issuers: Vec::new(),
            session: SessionConfig::default(),
            introspection: None,
            dpop: DpopConfig::default(),
            cookies: CookieConfig::default(),
            cookie_keys: Secret::default(),
            routes: Vec::new(),
            default_access: Access::Page,
            route_matching: RouteMatching::Protective,
            refresh_ahead: 10,
            replay_window: 30,
            forward_signing_secret: Secret::default(),
            revoke_secret: Secret::default(),
            jwks: JwksCacheConfig::default(),
            memo: MemoConfig::default(),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !crate::oidc::url_ok(&self.issuer) {
            return Err(ConfigError::new(
                "issuer",
                "must be an https URL (http only on loopback)",
            ));
        }
        let sessions = !self.cookie_keys.is_empty();
        if self.client_id.is_empty() && sessions {
            return Err(ConfigError::new(
                "clientId",
                "is required for sessions (cookieKeys is set)",
            ));
        }
        if self.client_auth.is_some_and(|a| a != ClientAuth::None) && self.client_secret.is_empty() {
            return Err(ConfigError::new(
                "clientSecret",
                "is required by the configured clientAuth",
            ));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(ConfigError::new("scopes", "must include openid"));
        }
        let placeholder = crate::claims::TENANT_PLACEHOLDER;
        for (field, issuer) in core::iter::once(("issuer", &self.issuer)).chain(
            self.verification
                .issuers
                .iter()
                .map(|i| ("verification.issuers", i)),
        ) {
            if !issuer.contains(placeholder) {
                continue;
            }
            if self.profile != Provider::Entra {
                return Err(ConfigError::new(
                    field,
                    "is a multi-tenant template ({tenantid}); only the entra profile knows how tokens fill it: set profile \"entra\"",
                ));
            }
            if issuer.matches(placeholder).count() != 1 || !issuer.contains(&format!("/{placeholder}/")) {
                return Err(ConfigError::new(
                    field,
                    "a template names {tenantid} once, as a whole path segment (https://login.microsoftonline.com/{tenantid}/v2.0)",
                ));
            }
        }
        // Under the multi-tenant template every tenant's tokens verify, and
        // each tenant's own administrators assign its app and directory
        // roles: a role says nothing unless the tenant is pinned.
        let template = core::iter::once(&self.issuer)
            .chain(&self.verification.issuers)
            .any(|i| i.contains(placeholder));
        if template && !self.verification.claim_values.contains_key("tid") {
            for (i, rule) in self.routes.iter().enumerate() {
                let r = &rule.require;
                let grants = r.roles != Default::default() || r.permissions != Default::default();
                if grants && r.issuers.is_empty() && !r.claims.contains_key("tid") {
                    return Err(ConfigError::new(
                        format!("routes[{i}].require"),
                        "requires roles or permissions under the multi-tenant template, where any tenant's admins grant them: pin tenants with require.issuers, require.claims.tid or verification.claimValues.tid",
                    ));
                }
            }
        }
        if self.profile == Provider::Google && self.scopes.iter().any(|s| s == "offline_access") {
            return Err(ConfigError::new(
                "scopes",
                "Google refuses offline_access (invalid_scope); the google profile asks for a refresh token with access_type=offline instead: remove it",
            ));
        }
        let origin_ok = |o: &str| crate::oidc::url_ok(o) && o.matches('/').count() == 2 && !o.ends_with('/');
        if (sessions || !self.app_origin.is_empty()) && !origin_ok(&self.app_origin) {
            return Err(ConfigError::new(
                "appOrigin",
                "must be an origin like https://app.example.com (no path, no trailing slash)",
            ));
        }
        if let Some(bad) = self.allowed_origins.iter().find(|o| !origin_ok(o)) {
            return Err(ConfigError::new(
                "allowedOrigins",
                format!("{bad:?} is not an origin like https://app.example.com"),
            ));
        }
        let prefix = &self.endpoint_prefix;
        if !prefix.starts_with('/')
            || prefix.len() < 2
            || prefix.ends_with('/')
            || crate::routes::normalize(prefix).as_deref() != Ok(prefix.as_str())
        {
            return Err(ConfigError::new(
                "endpointPrefix",
                "must be a normalised path like /__tessera",
            ));
        }
        if !self.after_sign_out_path.starts_with('/') || self.after_sign_out_path.starts_with("//") {
            return Err(ConfigError::new(
                "afterSignOutPath",
                "must be a path on this origin, like /",
            ));
        }
        if self
            .revocation_endpoint
            .as_deref()
            .is_some_and(|u| !crate::oidc::url_ok(u))
        {
            return Err(ConfigError::new(
                "revocationEndpoint",
                "must be an https URL (http only on loopback)",
            ));
        }
        self.verification
            .validate()
            .map_err(|e| ConfigError::new(format!("verification.{}", e.field), e.message))?;
        let mut taken: Vec<&String> = self.verification.issuers.iter().chain([&self.issuer]).collect();
        for (i, trusted) in self.trusted_issuers.iter().enumerate() {
            trusted.validate(&format!("trustedIssuers[{i}]"), &taken)?;
            // One tenant of the main issuer's multi-tenant template is the
            // main issuer's already: a token naming it would go there.
            let templates = taken.iter().filter_map(|t| t.split_once(placeholder));
            for (before, after) in templates {
                if let Some(iss) = trusted
                    .verification
                    .issuers
                    .iter()
                    .find(|iss| iss.starts_with(before) && iss.ends_with(after))
                {
                    return Err(ConfigError::new(
                        format!("trustedIssuers[{i}].issuer"),
                        format!("{iss:?} is a tenant of the main issuer's template, whose policy verifies its tokens: pin the tenant with require.issuers instead"),
                    ));
                }
            }
            taken.extend(&trusted.verification.issuers);
        }
        self.cookies.validate()?;
        if self.session.userinfo && self.session.identity != SessionIdentity::IdToken {
            return Err(ConfigError::new(
                "session.userinfo",
                "adds to an ID-token session's claims: set session.identity \"id-token\" (access-token sessions' identity is the access token)",
            ));
        }
        if let Some(introspection) = &self.introspection {
            introspection.validate(&self.client_id)?;
        }
        if self.dpop.nonce && self.cookie_keys.is_empty() {
            return Err(ConfigError::new(
                "dpop.nonce",
                "derives its nonces from the first cookieKeys key: set cookieKeys (TESSERA_COOKIE_KEYS)",
            ));
        }
        if !self.cookie_keys.is_empty() {
            Keyring::parse(self.cookie_keys.expose())?;
        }
        self.compiled_routes()?;
        if self.refresh_ahead > 300 {
            return Err(ConfigError::new(
                "refreshAhead",
                "at most 300 s; access tokens often live only a minute or five",
            ));
        }
        if self.replay_window > 120 {
            return Err(ConfigError::new(
                "replayWindow",
                "at most 120 s; a longer window lets a stolen rotated token be replayed",
            ));
        }
        for (field, secret) in [
            ("forwardSigningSecret", &self.forward_signing_secret),
            ("revokeSecret", &self.revoke_secret),
        ] {
            let secret = secret.expose();
            if !secret.is_empty() && secret.len() < crate::forward::MIN_SECRET_BYTES {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "is {} bytes; use at least {} random bytes (openssl rand -base64 32)",
                        secret.len(),
                        crate::forward::MIN_SECRET_BYTES
                    ),
                ));
            }
        }
        self.audience_is_bound()
    }

    /// Sessions and bearer routes need access tokens bound to this app: an
    /// audience, or authorized parties, unless the profile's issuer or preset
    /// audience already is one app's (Supabase, Firebase, WorkOS). Without it,
    /// any token of the issuer would pass, the app's ID tokens and tokens
    /// minted for other clients of a multi-tenant issuer included.
    fn audience_is_bound(&self) -> Result<(), ConfigError> {
        // ID-token sessions verify no access token: their identity is bound
        // to this app by the ID token's audience (the client id).
        let sessions = !self.cookie_keys.is_empty() && self.session.identity == SessionIdentity::AccessToken;
        let bearer_routes = self
            .routes
            .iter()
            .any(|r| r.bearer.unwrap_or(r.access == Access::Api))
            || self.default_access == Access::Api;
        let v = &self.verification;
        // WorkOS issuers name the client (`…/user_management/<client id>`);
        // the Supabase and Firebase profiles preset the audience.
        let workos_client = self.profile == Provider::Workos
            && v.issuers.iter().all(|i| {
                i.rsplit_once("/user_management/")
                    .is_some_and(|(_, client)| !client.is_empty() && !client.contains('/'))
            });
        let bound = !v.audiences.is_empty() || !v.authorized_parties.is_empty() || workos_client;
        if !(sessions || bearer_routes) || bound {
            return Ok(());
        }
        let hint = match self.profile {
            Provider::Clerk => "set verification.authorizedParties to your app's origins (Clerk session tokens name them in azp)",
            Provider::Auth0 => "set it to the API identifier of your Auth0 API (and request it: authorizationParams.audience)",
            Provider::Cognito | Provider::Keycloak => "set clientId (the app client whose tokens these are), or the audience itself",
            Provider::Okta => "set it to your authorization server's audience (api://default for Okta's default server)",
            _ => "set it to your API's identifier at the provider (the resource indicator, Auth0's API audience, Entra's application ID URI), or set verification.authorizedParties to your client id if your provider names the client in azp; if its access tokens are not JWTs for your API, use ID-token sessions (session.identity \"id-token\")",
        };
        Err(ConfigError::new(
            "verification.audience",
            format!("is required with sessions or bearer routes: without it any token of the issuer passes as an access token, including tokens minted for other clients; {hint}"),
        ))
    }

    /// The route rules, compiled.
    pub fn compiled_routes(&self) -> Result<Routes, ConfigError> {
        Ok(Routes::new(self.routes.clone(), self.default_access)?
            .case_insensitive(self.route_matching == RouteMatching::CaseInsensitive))
    }

    /// What in a valid configuration deserves a second look (see
    /// [`ConfigWarning`]). Empty for a configuration without surprises.
    ///
    /// ```
    /// use tessera_core::config::TesseraConfig;
    /// let config = TesseraConfig::from_json(r#"{"issuer":"https://auth.example.com",
    ///     "defaultAccess":"public","routes":[{"pattern":"/admin/**","access":"page"}]}"#).unwrap();
    /// assert_eq!(config.warnings()[0].field, "defaultAccess");
    /// ```
    pub fn warnings(&self) -> Vec<ConfigWarning> {
        let mut out = Vec::new();
        let mut warn = |field: String, message: &str| {
            out.push(ConfigWarning {
                field,
                message: String::from(message),
            })
        };
        let protective = self.routes.iter().any(|r| r.access != Access::Public);
        if self.default_access == Access::Public && protective {
            warn(
                String::from("defaultAccess"),
                "is public while rules protect some paths: every path those rules do not foresee (a new route, a spelling a framework accepts) is public; prefer defaultAccess \"page\" with public rules for what is public",
            );
        }
        for (i, rule) in self.routes.iter().enumerate() {
            if rule.allow_semicolons {
                warn(
                    format!("routes[{i}].allowSemicolons"),
                    "paths with ; match this rule: make sure the origin routes ; literally (servlet containers and some proxies strip path parameters, reading /admin;x.css as /admin)",
                );
            }
            if rule.pass_authorization && rule.access != Access::Public {
                warn(
                    format!("routes[{i}].passAuthorization"),
                    "applies only when no identity is forwarded; on this protected route the origin receives the verified token instead",
                );
            }
        }
        out
    }

    /// The verification policy (issuer filled in, profile applied).
    pub fn policy(&self) -> &Policy {
        &self.verification
    }

    /// The cookie names derived from the prefix.
    pub fn cookie_names(&self) -> CookieNames {
        let p = &self.cookies.prefix;
        CookieNames {
            session: format!("{p}-session"),
            refresh: format!("{p}-refresh"),
            transaction: format!("{p}-tx"),
        }
    }

    /// The sealing keyring, if configured.
    pub fn keyring(&self) -> Option<Keyring> {
        Keyring::parse(self.cookie_keys.expose()).ok()
    }

    /// The callback URL registered with the provider.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}/callback", self.app_origin, self.endpoint_prefix)
    }
}

impl CookieConfig {
    fn read(f: &mut Fields) -> Result<CookieConfig, ConfigError> {
        let mut c = CookieConfig::default();
        set(&mut c.prefix, f.string("prefix")?);
        set(
            &mut c.same_site,
            f.named("sameSite", SameSite::from_name, SameSite::NAMES)?,
        );
        set(&mut c.session_max_age, f.u64("sessionMaxAge")?);
        set(&mut c.transaction_max_age, f.u64("transactionMaxAge")?);
        set(&mut c.secure, f.bool("secure")?);
        Ok(c)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let host = self.prefix.starts_with("__Host-");
        let secure_prefix = host || self.prefix.starts_with("__Secure-");
        if self.prefix.is_empty()
            || !self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(ConfigError::new(
                "cookies.prefix",
                "use letters, digits, - and _ only",
            ));
        }
        if secure_prefix && !self.secure {
            return Err(ConfigError::new(
                "cookies.secure",
                "__Host-/__Secure- cookies need Secure; use a plain prefix for http development",
            ));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::new(
                "cookies.sameSite",
                "None requires secure cookies",
            ));
        }
        if self.transaction_max_age == 0 || self.transaction_max_age > 3600 {
            return Err(ConfigError::new(
                "cookies.transactionMaxAge",
                "between 1 and 3600 s",
            ));
        }
        if self.session_max_age == 0 {
            return Err(ConfigError::new("cookies.sessionMaxAge", "must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        r#""issuer":"https://auth.example.com","clientId":"web","appOrigin":"https://app.example.com""#;

    fn load(extra: &str) -> Result<TesseraConfig, ConfigError> {
        let sep = if extra.is_empty() { "" } else { "," };
        TesseraConfig::from_json(&format!("{{{BASE}{sep}{extra}}}"))
    }

    #[test]
    fn defaults_are_safe() {
        let c = load("").unwrap();
        assert_eq!(c.endpoint_prefix, "/__tessera");
        assert_eq!(c.default_access, Access::Page);
        assert!(c.cookies.secure && c.cookies.same_site == SameSite::Lax);
        assert_eq!(c.redirect_uri(), "https://app.example.com/__tessera/callback");
        assert!(c.scopes.iter().any(|s| s == "offline_access"));
        assert_eq!(c.policy().leeway, 5);
    }

    #[test]
    fn each_bad_field_is_named() {
        for (extra, field) in [
            (r#""endpointPrefix":"__tessera""#, "endpointPrefix"),
            (r#""endpointPrefix":"/a/../b""#, "endpointPrefix"),
            (r#""allowedOrigins":["https://x.example/path"]"#, "allowedOrigins"),
            (r#""scopes":["profile"]"#, "scopes"),
            (r#""clientAuth":"client_secret_post""#, "clientSecret"),
            (r#""verification":{"leeway":1000}"#, "verification.leeway"),
            (r#""cookies":{"secure":false}"#, "cookies.secure"),
            (r#""cookieKeys":"k1:short""#, "cookieKeys"),
            (
                r#""routes":[{"pattern":"api","access":"api"}]"#,
                "routes[0].pattern",
            ),
            (r#""replayWindow":600"#, "replayWindow"),
            (r#""afterSignOutPath":"//evil.example""#, "afterSignOutPath"),
        ] {
            assert_eq!(load(extra).unwrap_err().field, field, "{extra}");
        }
        assert_eq!(
            TesseraConfig::from_json(
                r#"{"issuer":"http://auth.example.com","clientId":"w","appOrigin":"https://a.example"}"#
            )
            .unwrap_err()
            .field,
            "issuer"
        );
    }

    /// Type errors and unknown keys name the field by its path; defaults fill
    /// what is absent, and `null` means "none" only where that is the default.
    #[test]
    fn fields_are_named_by_their_path() {
        for (extra, field, says) in [
            (
                r#""cookies":{"secure":"yes"}"#,
                "cookies.secure",
                "must be true or false, not a string",
            ),
            (
                r#""cookies":{"sameSite":"lax"}"#,
                "cookies.sameSite",
                "is \"lax\"; expected one of Lax, Strict, None",
            ),
            (
                r#""jwks":{"cooldwn":5}"#,
                "jwks.cooldwn",
                "unknown field `jwks.cooldwn` (a typo?); the fields here are cooldown,",
            ),
            (
                r#""memo":{"capacity":-1}"#,
                "memo.capacity",
                "must be a non-negative integer",
            ),
            (
                r#""jwks":{"fetchTimeoutMs":4294967296}"#,
                "jwks.fetchTimeoutMs",
                "is too large",
            ),
            (
                r#""routes":[{"pattern":"/","access":"public"},{"pattern":"/a","access":"private"}]"#,
                "routes[1].access",
                "expected one of public, page, api",
            ),
            (
                r#""routes":[{"access":"api"}]"#,
                "routes[0].pattern",
                "is required",
            ),
            (
                r#""routes":{"pattern":"/"}"#,
                "routes",
                "must be an array of objects, not an object",
            ),
            (
                r#""verification":{"leeway":"5"}"#,
                "verification.leeway",
                "must be a non-negative integer, not a string",
            ),
            (
                r#""verification":[]"#,
                "verification",
                "must be an object, not an array",
            ),
            (r#""profile":"ping""#, "profile", "expected one of clerk, auth0"),
            (
                r#""clientSecret":null"#,
                "clientSecret",
                "must be a string, not null",
            ),
            (
                r#""authorizationParams":{"prompt":1}"#,
                "authorizationParams",
                "must be an object of strings",
            ),
            (
                r#""issuer":"https://again.example""#,
                "(document)",
                "duplicate member \"issuer\"",
            ),
        ] {
            let err = load(extra).unwrap_err();
            assert_eq!(err.field, field, "{extra}");
            assert!(err.message.contains(says), "{extra}: {err}");
        }
        let missing = TesseraConfig::from_json(r#"{"clientId":"web"}"#).unwrap_err();
        assert_eq!(
            (missing.field.as_str(), missing.message.as_str()),
            ("issuer", "is required: the provider's issuer URL")
        );

        let c = load(r#""clientAuth":null,"verification":{"audience":"api","typ":null,"maxTokenAge":null},"routes":[{"pattern":"/x","access":"api","bearer":null,"methods":["GET"]}],"memo":{"capacity":0},"jwks":{"fetchTimeoutMs":100}"#).unwrap();
        assert_eq!(
            (c.client_auth, c.verification.typ, c.verification.max_token_age),
            (None, None, None)
        );
        assert_eq!(
            (c.routes[0].bearer, c.routes[0].methods.as_slice()),
            (None, &[String::from("GET")][..])
        );
        assert_eq!(
            (
                c.memo.capacity,
                c.memo.max_age,
                c.jwks.fetch_timeout_ms,
                c.jwks.cooldown
            ),
            (0, 300, 100, 30)
        );
        assert_eq!(
            (c.refresh_ahead, c.replay_window, c.after_sign_out_path.as_str()),
            (10, 30, "/")
        );
    }

    /// Hosts embedding a setting in their own serde configuration get the same
    /// rules and messages.
    #[test]
    fn embedded_settings_deserialize_with_the_same_rules() {
        #[derive(serde::Deserialize)]
        struct Host {
            policy: Policy,
            memo: MemoConfig,
        }
        let host: Host =
            serde_json::from_str(r#"{"policy":{"issuer":"i","leeway":1},"memo":{"maxAge":60}}"#).unwrap();
        assert_eq!(
            (
                host.policy.issuers[0].as_str(),
                host.policy.leeway,
                host.memo.max_age
            ),
            ("i", 1, 60)
        );
        let err = serde_json::from_str::<Host>(r#"{"policy":{"issuer":"i","leway":1},"memo":{}}"#)
            .err()
            .unwrap();
        assert!(format!("{err}").contains("unknown field `leway`"), "{err}");
        let err = serde_json::from_str::<Host>(r#"{"policy":{"issuer":"i","leeway":"1"},"memo":{}}"#)
            .err()
            .unwrap();
        assert!(
            format!("{err}").contains("`leeway`: must be a non-negative integer, not a string"),
            "{err}"
        );
    }

    #[test]
    fn verification_only_hosts_need_no_client() {
        let c = TesseraConfig::from_json(
            r#"{"issuer":"https://auth.example.com","verification":{"audience":"api"}}"#,
        )
        .unwrap();
        assert!(c.client_id.is_empty() && c.keyring().is_none());
        let keys = r#""cookieKeys":"k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8""#;
        for (doc, field) in [
            (
                format!(r#"{{"issuer":"https://auth.example.com",{keys}}}"#),
                "clientId",
            ),
            (
                format!(r#"{{"issuer":"https://auth.example.com","clientId":"w",{keys}}}"#),
                "appOrigin",
            ),
            (
                String::from(r#"{"issuer":"https://auth.example.com","appOrigin":"app"}"#),
                "appOrigin",
            ),
        ] {
            assert_eq!(TesseraConfig::from_json(&doc).unwrap_err().field, field, "{doc}");
        }
    }

    /// Sessions and bearer routes need access tokens bound to this app.
    #[test]
    fn sessions_and_bearer_routes_need_an_audience() {
        let keys = r#""cookieKeys":"k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8""#;
        let api = r#""routes":[{"pattern":"/api/**","access":"api"}]"#;
        for extra in [keys, api, r#""defaultAccess":"api""#] {
            let err = load(extra).unwrap_err();
            assert_eq!(err.field, "verification.audience", "{extra}");
            assert!(err.message.contains("tokens minted for other clients"), "{err}");
        }
        assert!(
            load(r#""routes":[{"pattern":"/","access":"public"}]"#).is_ok(),
            "verification only"
        );
        for ok in [
            r#""verification":{"audience":"api"}"#,
            r#""verification":{"authorizedParties":["web"]}"#,
            r#""profile":"supabase""#,
        ] {
            assert!(load(&format!("{keys},{ok}")).is_ok(), "{ok}");
        }
        // WorkOS binds the client in the issuer, and only there.
        let workos = r#"{"issuer":"https://api.workos.com/user_management/client_01","profile":"workos","clientId":"web","appOrigin":"https://app.example.com","cookieKeys":"k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}"#;
        assert!(TesseraConfig::from_json(workos).is_ok());
        assert_eq!(
            load(&format!(r#"{keys},"profile":"workos""#)).unwrap_err().field,
            "verification.audience"
        );
        assert_eq!(
            load(&format!(r#"{keys},"verification":{{"authorizedParties":[""]}}"#))
                .unwrap_err()
                .field,
            "verification.authorizedParties"
        );
        let c = load(&format!(
            r#"{keys},"verification":{{"audience":"api","forbiddenClaims":["act"]}}"#
        ))
        .unwrap();
        assert_eq!(
            c.verification.forbidden_claims,
            ["act", "nonce", "at_hash", "c_hash"]
        );
        // Cognito's access tokens name the client in client_id, Keycloak's in azp.
        let c = load(&format!(r#"{keys},"profile":"cognito""#)).unwrap();
        assert_eq!(
            (
                c.verification.audience_claim.as_str(),
                c.verification.audiences.as_slice()
            ),
            ("client_id", &[String::from("web")][..])
        );
        let c = load(&format!(r#"{keys},"profile":"keycloak""#)).unwrap();
        assert_eq!(c.verification.authorized_parties, ["web"]);
        let err = load(&format!(r#"{keys},"profile":"clerk""#)).unwrap_err();
        assert!(err.message.contains("authorizedParties"), "{err}");
        // ID tokens are never access tokens, except where they are the bearer tokens.
        let c = load(&format!(r#"{keys},"verification":{{"audience":"api"}}"#)).unwrap();
        assert_eq!(c.verification.forbidden_claims, ["nonce", "at_hash", "c_hash"]);
        let c = load(&format!(r#"{keys},"profile":"firebase""#)).unwrap();
        assert!(c.verification.forbidden_claims.is_empty());
    }

    #[test]
    fn secrets_never_show() {
        let c = load(r#""clientSecret":"hunter2-very-secret","cookieKeys":"k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8","forwardSigningSecret":"s3cret-s3cret-s3cret-s3cret-s3cret","verification":{"audience":"api"}"#).unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("AAECAwQF") && debug.contains("<redacted>"),
            "{debug}"
        );
        assert!(c.keyring().is_some());
        let err = load(r#""clientSecret":"hunter2","cookieKeys":"k1:hunter2""#).unwrap_err();
        assert!(!format!("{err}").contains("hunter2"));
    }

    #[test]
    fn profile_and_plain_http_development() {
        let c = load(r#""profile":"cognito","verification":{"audience":"client1"}"#).unwrap();
        assert_eq!(c.policy().audience_claim, "client_id");
        let dev = TesseraConfig::from_json(r#"{"issuer":"http://127.0.0.1:4000","clientId":"w","appOrigin":"http://localhost:8787","cookies":{"prefix":"tessera","secure":false}}"#).unwrap();
        assert_eq!(dev.cookie_names().refresh, "tessera-refresh");
    }
}
