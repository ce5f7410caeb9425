//! OpenID Connect relying-party pieces, sans-IO: discovery documents, PKCE,
//! authorization URLs, same-origin return paths, token-endpoint requests and
//! responses, ID token checks, revocation and end-session.
//!
//! Every function takes what the host fetched or drew (documents, random bytes)
//! and returns what to send; nothing here performs I/O.
//!
//! ```
//! use tessera_core::oidc::{Discovery, AuthorizeParams, Pkce};
//! let d = Discovery::parse(br#"{"issuer":"https://idp.example","authorization_endpoint":"https://idp.example/auth",
//!   "token_endpoint":"https://idp.example/token","jwks_uri":"https://idp.example/jwks",
//!   "code_challenge_methods_supported":["S256"]}"#, "https://idp.example", true).unwrap();
//! let pkce = Pkce::from_random([7; 32]);
//! let url = d.authorize_url(&AuthorizeParams {
//!     client_id: "app", redirect_uri: "https://app.example/__tessera/callback",
//!     scopes: &["openid", "offline_access"], state: "s1", nonce: "n1", pkce: &pkce,
//!     extra: &[("prompt", "consent")],
//! });
//! assert!(url.starts_with("https://idp.example/auth?response_type=code&client_id=app&"));
//! assert!(url.contains("&code_challenge_method=S256&"));
//! ```

use crate::b64;
use crate::json::{self, Object};
use crate::reason::{refuse, Refusal};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The parts of a discovery document (OpenID Connect Discovery 1.0) Tessera uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// `issuer`, equal to the configured issuer.
    pub issuer: String,
    /// `authorization_endpoint`; empty when a verification-only host parsed a
    /// document without one (it never signs anyone in).
    pub authorization_endpoint: String,
    /// `token_endpoint`; empty when a verification-only host parsed a document
    /// without one (it never refreshes).
    pub token_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `revocation_endpoint` (RFC 7009), if offered.
    pub revocation_endpoint: Option<String>,
    /// `end_session_endpoint` (RP-initiated logout), if offered.
    pub end_session_endpoint: Option<String>,
    /// `introspection_endpoint` (RFC 7662), if offered.
    pub introspection_endpoint: Option<String>,
    /// `userinfo_endpoint` (OpenID Connect Core 5.3), if offered.
    pub userinfo_endpoint: Option<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207): the
    /// provider names itself in every authorization response, so a callback
    /// without `iss` is refused (a mix-up attack's response would lack it).
    /// Default `false`.
    pub iss_parameter_supported: bool,
}

impl Discovery {
    /// Parses a discovery document fetched for `expected_issuer`. The document's
    /// `issuer` must equal it exactly (OIDC Discovery §4.3: a mismatch is how a
    /// mix-up attack shows), endpoints must be `https` (or `http` on loopback,
    /// for local development and tests), and PKCE S256 must not be excluded.
    /// `sessions` says whether the host signs users in and refreshes: only then
    /// are `authorization_endpoint` and `token_endpoint` required (a host that
    /// only verifies tokens needs `jwks_uri`, which some providers publish
    /// alone).
    pub fn parse(document: &[u8], expected_issuer: &str, sessions: bool) -> Result<Discovery, Refusal> {
        let doc = json::parse_object(document)
            .map_err(|e| refuse!(AuthApiUnavailable, "the discovery document is not valid: {e}"))?;
        let issuer = required_url(&doc, "issuer")?;
        if issuer != expected_issuer {
            return Err(refuse!(
                IssuerInvalid,
                "discovery says issuer {issuer:?}, configured is {expected_issuer:?}; they must be identical"
            ));
        }
        if let (true, Some(Value::Array(methods))) = (sessions, doc.get("code_challenge_methods_supported")) {
            if !methods.iter().any(|m| m == "S256") {
                return Err(refuse!(
                    CallbackError,
                    "the provider does not support PKCE S256, which Tessera requires"
                ));
            }
        }
        Ok(Discovery {
            issuer,
            authorization_endpoint: session_url(&doc, "authorization_endpoint", sessions)?,
            token_endpoint: session_url(&doc, "token_endpoint", sessions)?,
            jwks_uri: required_url(&doc, "jwks_uri")?,
            revocation_endpoint: optional_url(&doc, "revocation_endpoint")?,
            end_session_endpoint: optional_url(&doc, "end_session_endpoint")?,
            introspection_endpoint: optional_url(&doc, "introspection_endpoint")?,
            userinfo_endpoint: optional_url(&doc, "userinfo_endpoint")?,
            iss_parameter_supported: doc.get("authorization_response_iss_parameter_supported")
                == Some(&Value::Bool(true)),
        })
    }

    /// Fills the endpoints this document lacks (revocation, introspection)
    /// from the provider's RFC 8414 authorization-server metadata `doc`,
    /// which must name the same issuer (RFC 8414 §3.3); a document that does
    /// not, or is not JSON, adds nothing. django-oauth-toolkit lists these
    /// two endpoints only there.
    pub fn merge_metadata(&mut self, doc: &[u8]) {
        let Ok(doc) = json::parse_object(doc) else { return };
        if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return;
        }
        if self.revocation_endpoint.is_none() {
            self.revocation_endpoint = optional_url(&doc, "revocation_endpoint").ok().flatten();
        }
        if self.introspection_endpoint.is_none() {
            self.introspection_endpoint = optional_url(&doc, "introspection_endpoint").ok().flatten();
        }
    }

    /// Where the RFC 8414 metadata of `issuer` lives (§3.1: the well-known
    /// path between the host and the issuer's path).
    ///
    /// ```
    /// use tessera_core::oidc::Discovery;
    /// assert_eq!(Discovery::metadata_url("https://idp.example/o"), "https://idp.example/.well-known/oauth-authorization-server/o");
    /// assert_eq!(Discovery::metadata_url("https://idp.example"), "https://idp.example/.well-known/oauth-authorization-server");
    /// ```
    pub fn metadata_url(issuer: &str) -> String {
        let issuer = issuer.trim_end_matches('/');
        let after_scheme = issuer.find("://").map_or(0, |i| i + 3);
        let (origin, path) = match issuer[after_scheme..].find('/') {
            Some(i) => issuer.split_at(after_scheme + i),
            None => (issuer, ""),
        };
        format!("{origin}/.well-known/oauth-authorization-server{path}")
    }

    /// The authorization request URL (code flow, PKCE S256).
    pub fn authorize_url(&self, p: &AuthorizeParams<'_>) -> String {
        let mut q = Form::new();
        q.push("response_type", "code")
            .push("client_id", p.client_id)
            .push("redirect_uri", p.redirect_uri)
            .push("scope", &p.scopes.join(" "))
            .push("state", p.state)
            .push("nonce", p.nonce)
            .push("code_challenge", &p.pkce.challenge)
            .push("code_challenge_method", "S256");
        for (k, v) in p.extra {
            q.push(k, v);
        }
        with_query(&self.authorization_endpoint, &q.finish())
    }

    /// The RP-initiated logout URL, if the provider has one.
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        client_id: &str,
        post_logout_redirect_uri: &str,
    ) -> Option<String> {
        let endpoint = self.end_session_endpoint.as_deref()?;
        let mut q = Form::new();
        if let Some(hint) = id_token_hint {
            q.push("id_token_hint", hint);
        }
        q.push("client_id", client_id)
            .push("post_logout_redirect_uri", post_logout_redirect_uri);
        Some(with_query(endpoint, &q.finish()))
    }
}

fn with_query(endpoint: &str, query: &str) -> String {
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{sep}{query}")
}

/// An `https` URL, or `http` on loopback (local development and tests).
pub(crate) fn url_ok(url: &str) -> bool {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            url.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    (url.starts_with("https://") && url.len() > 8) || loopback
}

fn required_url(doc: &Object, name: &str) -> Result<String, Refusal> {
    optional_url(doc, name)?
        .ok_or_else(|| refuse!(AuthApiUnavailable, "the discovery document has no {name}"))
}

/// An endpoint only sessions use: required with `sessions`, else empty when absent.
fn session_url(doc: &Object, name: &str, sessions: bool) -> Result<String, Refusal> {
    if sessions {
        required_url(doc, name)
    } else {
        Ok(optional_url(doc, name)?.unwrap_or_default())
    }
}

fn optional_url(doc: &Object, name: &str) -> Result<Option<String>, Refusal> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(u)) if url_ok(u) => Ok(Some(u.clone())),
        Some(_) => Err(refuse!(
            AuthApiUnavailable,
            "the discovery document's {name} is not an https URL (http is allowed on loopback only)"
        )),
    }
}

/// A PKCE pair (RFC 7636) with method S256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkce {
    /// The verifier, kept in the sealed transaction cookie.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`, sent in the authorization request.
    pub challenge: String,
}

impl Pkce {
    /// Builds the pair from 32 random bytes (256 bits; the verifier is their
    /// 43-character base64url form, as RFC 7636 §4.1 recommends).
    pub fn from_random(random: [u8; 32]) -> Pkce {
        let verifier = b64::encode(&random);
        let challenge = b64::encode(&Sha256::digest(verifier.as_bytes()));
        Pkce { verifier, challenge }
    }
}

/// The inputs of an authorization request.
pub struct AuthorizeParams<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The callback URL registered with the provider.
    pub redirect_uri: &'a str,
    /// Scopes (`openid` first; `offline_access` for refresh tokens).
    pub scopes: &'a [&'a str],
    /// The CSRF `state`, random, kept in the transaction cookie.
    pub state: &'a str,
    /// The ID token `nonce`, random, kept in the transaction cookie.
    pub nonce: &'a str,
    /// The PKCE pair.
    pub pkce: &'a Pkce,
    /// Extra parameters (`prompt`, `resource`, `audience`, …).
    pub extra: &'a [(&'a str, &'a str)],
}

/// Checks a user-supplied return path (`redirect_url`) and returns it in a form
/// that can only lead back to this origin: a path starting with a single `/`,
/// optionally with query and fragment. Absolute URLs are accepted only with
/// exactly `origin` (scheme, host and port). Everything that a browser could
/// read as another host (`//evil`, `/\evil`, `/%2F%2Fevil`, `https:evil`,
/// control characters, …) is refused with `None`; callers then use `/`.
///
/// ```
/// use tessera_core::oidc::safe_return_path;
/// let o = "https://app.example";
/// assert_eq!(safe_return_path("/dash?tab=1", o).as_deref(), Some("/dash?tab=1"));
/// assert_eq!(safe_return_path("https://app.example/x", o).as_deref(), Some("/x"));
/// assert_eq!(safe_return_path("//evil.example", o), None);
/// assert_eq!(safe_return_path("/\\evil.example", o), None);
/// assert_eq!(safe_return_path("https://app.example.evil.example/", o), None);
/// ```
pub fn safe_return_path(candidate: &str, origin: &str) -> Option<String> {
    let path = match candidate.strip_prefix(origin) {
        Some("") => "/",
        Some(rest) if rest.starts_with(['/', '?', '#']) => rest,
        Some(_) => return None,
        None => candidate,
    };
    let path = if path.starts_with(['?', '#']) {
        format!("/{path}")
    } else {
        String::from(path)
    };
    if !path.starts_with('/') || path.len() > 2048 {
        return None;
    }
    if path
        .chars()
        .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
    {
        return None;
    }
    // A second slash (raw or encoded) right after the first makes a
    // protocol-relative URL; refuse encoded slashes and backslashes anywhere, as
    // some servers decode before redirecting.
    let lower = path.to_ascii_lowercase();
    if path.starts_with("//")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%09")
        || lower.contains("%0a")
        || lower.contains("%0d")
    {
        return None;
    }
    Some(path)
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1). The default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
    /// A public client: `client_id` only.
    None,
}

impl ClientAuth {
    /// The configuration's names, for messages.
    pub const NAMES: &'static str = "client_secret_basic, client_secret_post, none";

    /// The method named `name` in configuration.
    pub fn from_name(name: &str) -> Option<ClientAuth> {
        match name {
            "client_secret_basic" => Some(ClientAuth::ClientSecretBasic),
            "client_secret_post" => Some(ClientAuth::ClientSecretPost),
            "none" => Some(ClientAuth::None),
            _ => None,
        }
    }
}

/// A token-endpoint (or revocation-endpoint) request for the host to send as
/// `POST` with `Content-Type: application/x-www-form-urlencoded`.
#[derive(Clone, PartialEq, Eq)]
pub struct FormRequest {
    /// Where to send it.
    pub url: String,
    /// The `Authorization` header, for `client_secret_basic`.
    pub authorization: Option<String>,
    /// The form body.
    pub body: String,
}

impl core::fmt::Debug for FormRequest {
    /// Bodies and credentials carry secrets (codes, refresh tokens, the client
    /// secret): only the URL is shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FormRequest")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The client's credentials.
#[derive(Clone, Copy)]
pub struct Client<'a> {
    /// The client id.
    pub id: &'a str,
    /// The client secret (empty for public clients).
    pub secret: &'a str,
    /// How to authenticate.
    pub auth: ClientAuth,
}

impl Client<'_> {
    fn request(&self, url: &str, mut form: Form) -> FormRequest {
        let authorization = match self.auth {
            ClientAuth::ClientSecretBasic => {
                let (id, secret) = (Form::encode(self.id), Form::encode(self.secret));
                Some(format!(
                    "Basic {}",
                    base64_standard(format!("{id}:{secret}").as_bytes())
                ))
            }
            ClientAuth::ClientSecretPost => {
                form.push("client_id", self.id).push("client_secret", self.secret);
                None
            }
            ClientAuth::None => {
                form.push("client_id", self.id);
                None
            }
        };
        FormRequest {
            url: String::from(url),
            authorization,
            body: form.finish(),
        }
    }

    /// The authorization-code exchange.
    pub fn code_request(
        &self,
        token_endpoint: &str,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: &str,
    ) -> FormRequest {
        let mut f = Form::new();
        f.push("grant_type", "authorization_code")
            .push("code", code)
            .push("redirect_uri", redirect_uri)
            .push("code_verifier", pkce_verifier);
        self.request(token_endpoint, f)
    }

    /// The refresh-token grant; `resource` is repeated for each indicator (RFC 8707).
    pub fn refresh_request(
        &self,
        token_endpoint: &str,
        refresh_token: &str,
        resources: &[&str],
    ) -> FormRequest {
        let mut f = Form::new();
        f.push("grant_type", "refresh_token")
            .push("refresh_token", refresh_token);
        for r in resources {
            f.push("resource", r);
        }
        self.request(token_endpoint, f)
    }

    /// Introspection of an access token (RFC 7662), with this client's
    /// authentication.
    pub fn introspection_request(&self, endpoint: &str, token: &str) -> FormRequest {
        let mut f = Form::new();
        f.push("token", token).push("token_type_hint", "access_token");
        self.request(endpoint, f)
    }

    /// Revocation of a token (RFC 7009); `hint` is `refresh_token` or
    /// `access_token`.
    pub fn revocation_request(&self, revocation_endpoint: &str, token: &str, hint: &str) -> FormRequest {
        let mut f = Form::new();
        f.push("token", token).push("token_type_hint", hint);
        self.request(revocation_endpoint, f)
    }
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A successful token response. Serialises with the RFC 6749 member names, so
/// hosts can hand it between isolates (e.g. from a Durable Object).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenSet {
    /// The access token.
    pub access_token: String,
    /// The refresh token, when issued (rotated providers issue a new one each time).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The ID token, when issued.
    #[serde(default)]
    pub id_token: Option<String>,
    /// `expires_in`, seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The userinfo endpoint's answer for this access token, when
    /// `session.userinfo` asked for it (not part of the token response).
    #[serde(skip)]
    pub userinfo: Option<Result<Object, Refusal>>,
}

impl core::fmt::Debug for TokenSet {
    /// Tokens are secrets: only their presence is shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenSet")
            .field("refresh_token", &self.refresh_token.is_some())
            .field("id_token", &self.id_token.is_some())
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The refusal for a token request that got no response (`why`: network
/// error, timeout): an outage, never the end of a session.
pub fn token_endpoint_unreachable(why: &str) -> Refusal {
    refuse!(
        AuthApiUnavailable,
        "the token endpoint could not be reached: {why}"
    )
}

/// Upper bound for discovery and token-endpoint response bodies: hosts read at
/// most one byte more, and a longer body is refused.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Reads a token-endpoint response. Only `invalid_grant` and `invalid_client`
/// are final (`refresh-token-invalid`: the session is over); 5xx, 429 and
/// network trouble are outages (`auth-api-unavailable`); a 2xx or 4xx body
/// that cannot be used (over [`MAX_RESPONSE_BYTES`], not JSON, no
/// `access_token`, a bad `expires_in`) is the provider misbehaving
/// (`auth-api-invalid`); other OAuth errors (`invalid_request`,
/// `unauthorized_client`, …) are configuration problems, reported as
/// `callback-error`.
///
/// `expires_in` (RFC 6749 §5.1, seconds) may be absent: the access token's
/// own `exp` then decides when it is refreshed. When present it must be a
/// non-negative integer, or a string of digits (Azure AD v1 sends
/// `"3599"`); anything else is `auth-api-invalid`.
pub fn token_response(status: u16, body: &[u8]) -> Result<TokenSet, Refusal> {
    if status >= 500 || status == 429 {
        return Err(refuse!(
            AuthApiUnavailable,
            "the token endpoint answered HTTP {status}; retry later"
        ));
    }
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(refuse!(
            AuthApiInvalid,
            "the token endpoint answered HTTP {status} with a body over the {MAX_RESPONSE_BYTES}-byte cap; check the provider (start again at sign-in)"
        ));
    }
    let doc = json::parse_object(body).map_err(|e| {
        refuse!(
            AuthApiInvalid,
            "the token endpoint answered HTTP {status} with a body that is not a JSON object ({e}); check the provider (start again at sign-in)"
        )
    })?;
    if !(200..300).contains(&status) || doc.contains_key("error") {
        let error = doc.get("error").and_then(Value::as_str).unwrap_or("(none)");
        let description = doc
            .get("error_description")
            .and_then(Value::as_str)
            .map(|d| format!(": {}", crate::jwk::quoted(d)))
            .unwrap_or_default();
        return Err(match error {
            "invalid_grant" | "invalid_client" => {
                refuse!(
                    RefreshTokenInvalid,
                    "the provider refused the grant with {error}{description}; sign in again"
                )
            }
            _ => refuse!(
                CallbackError,
                "the token endpoint answered HTTP {status} with error {error}{description}"
            ),
        });
    }
    let string = |name: &str| doc.get(name).and_then(Value::as_str).map(String::from);
    let access_token = string("access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| refuse!(AuthApiInvalid, "the token response has no access_token"))?;
    if let Some(kind) = doc.get("token_type").and_then(Value::as_str) {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(refuse!(
                CallbackError,
                "token_type is {kind:?}; only Bearer tokens are supported"
            ));
        }
    }
    Ok(TokenSet {
        access_token,
        refresh_token: string("refresh_token").filter(|t| !t.is_empty()),
        id_token: string("id_token"),
        userinfo: None,
        expires_in: expires_in(doc.get("expires_in"))?,
    })
}

/// `expires_in`: absent, a non-negative integer, or a string of digits.
fn expires_in(value: Option<&Value>) -> Result<Option<u64>, Refusal> {
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Some(_) => None,
    };
    seconds.map(Some).ok_or_else(|| {
        refuse!(
            AuthApiInvalid,
            "the token response's expires_in is not a number of seconds"
        )
    })
}

/// Reads the userinfo endpoint's answer (OpenID Connect Core 5.3.2): a JSON
/// object of at most [`MAX_RESPONSE_BYTES`] (signed or encrypted answers
/// are not supported). 5xx, 429 and network trouble are outages; anything
/// else unusable is `auth-api-invalid`. Whether its `sub` is the ID token's
/// is the caller's check.
pub fn userinfo_response(status: u16, body: &[u8]) -> Result<Object, Refusal> {
    if status >= 500 || status == 429 {
        return Err(refuse!(
            AuthApiUnavailable,
            "the userinfo endpoint answered HTTP {status}; retry later"
        ));
    }
    if status != 200 || body.len() > MAX_RESPONSE_BYTES {
        return Err(refuse!(
            AuthApiInvalid,
            "the userinfo endpoint answered HTTP {status} (or a body over {MAX_RESPONSE_BYTES} bytes)"
        ));
    }
    json::parse_object(body).map_err(|e| {
        refuse!(
            AuthApiInvalid,
            "the userinfo answer is not a JSON object ({e}); signed or encrypted userinfo is not supported"
        )
    })
}

/// Adds the userinfo answer's claims to an ID token's: the profile claims
/// (name, email, picture, …) are the userinfo's, which may be more current;
/// the claims that say who issued the ID token to whom and when are the ID
/// token's, whatever the userinfo answer says.
pub fn merge_userinfo(claims: &mut Object, userinfo: Object) -> Vec<String> {
    const KEPT: [&str; 16] = [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "azp",
        "sid",
        "at_hash",
        "c_hash",
        "jti",
        "tid",
    ];
    let mut added = Vec::new();
    for (name, value) in userinfo {
        if !KEPT.contains(&name.as_str()) {
            added.push(name.clone());
            claims.insert(name, value);
        }
    }
    added
}

/// The ID token checks a verified ID token must also pass (OIDC Core §3.1.3.7):
/// `aud` contains the client id, `azp` (when present with several audiences)
/// equals it, and `nonce` equals the transaction's. Signature, `iss` and `exp`
/// are the verifier's job (a policy with the provider's issuer and audience =
/// client id).
pub fn check_id_token_claims(claims: &Object, client_id: &str, expected_nonce: &str) -> Result<(), Refusal> {
    check_id_token_audience(claims, client_id)?;
    match claims.get("nonce").and_then(Value::as_str) {
        Some(n) if constant_time_eq(n.as_bytes(), expected_nonce.as_bytes()) => Ok(()),
        Some(_) => Err(refuse!(
            NonceMismatch,
            "the ID token's nonce is not the one this sign-in sent"
        )),
        None => Err(refuse!(
            NonceMismatch,
            "the ID token has no nonce; this sign-in sent one"
        )),
    }
}

/// The checks a verified ID token from a refresh must also pass (OpenID
/// Connect Core 12.2), against the session it renews: the same `iss` and
/// `sub`, `aud` containing the client id (and `azp` as at sign-in), `iat`
/// issued at most `max_age` seconds ago, `auth_time` (when both have one)
/// the same as at sign-in, and `nonce` absent or the sign-in's. A version 1
/// session (no session id) kept neither the ID token's subject nor its
/// claims: only the audience and `iat` are checked then.
///
/// ```
/// use tessera_core::oidc::check_refreshed_id_token;
/// use tessera_core::session::SessionRecord;
/// let record = SessionRecord { id: "s1".into(), iss: "https://idp.example".into(), sub: "alice".into(),
///     access_sub: None, signed_in_at: 0, access_token: String::new(), access_expires_at: None,
///     id_token: Default::default(), identity: None };
/// let claims = |sub: &str| match serde_json::json!({ "iss": "https://idp.example", "sub": sub,
///     "aud": "app", "iat": 1_000 }) { serde_json::Value::Object(o) => o, _ => unreachable!() };
/// assert!(check_refreshed_id_token(&claims("alice"), "app", &record, 1_030, 150).is_ok());
/// let err = check_refreshed_id_token(&claims("mallory"), "app", &record, 1_030, 150).unwrap_err();
/// assert_eq!(err.reason.code(), "claim-invalid");
/// ```
pub fn check_refreshed_id_token(
    claims: &Object,
    client_id: &str,
    session: &crate::session::SessionRecord,
    now: u64,
    max_age: u64,
) -> Result<(), Refusal> {
    check_id_token_audience(claims, client_id)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
    if iat.saturating_add(max_age) < now {
        return Err(refuse!(
            ClaimInvalid,
            "the refreshed ID token was issued at {iat}, {} s before this refresh; a refresh must issue a new one",
            now - iat
        ));
    }
    if session.id.is_empty() {
        return Ok(());
    }
    if !same_issuer(text("iss").unwrap_or(""), &session.iss) {
        return Err(refuse!(
            IssuerInvalid,
            "the refreshed ID token's iss is not the issuer this session signed in with ({})",
            crate::jwk::quoted(&session.iss)
        ));
    }
    if text("sub") != Some(session.sub.as_str()) {
        return Err(refuse!(
            ClaimInvalid,
            "the refreshed ID token names sub {}, but this session belongs to {}",
            crate::jwk::quoted(text("sub").unwrap_or("")),
            crate::jwk::quoted(&session.sub)
        ));
    }
    let auth_time = claims.get("auth_time").and_then(Value::as_u64);
    if let (Some(new), Some(old)) = (auth_time, session.id_token.auth_time) {
        if new != old {
            return Err(refuse!(
                ClaimInvalid,
                "the refreshed ID token's auth_time {new} is not the sign-in's {old}"
            ));
        }
    }
    match (text("nonce"), session.id_token.nonce.as_deref()) {
        // claim-invalid, not nonce-mismatch (a 400 for a callback): the
        // session it refreshes ends like any other refused refresh.
        (Some(n), Some(original)) if !constant_time_eq(n.as_bytes(), original.as_bytes()) => Err(refuse!(
            ClaimInvalid,
            "the refreshed ID token's nonce is not the sign-in's"
        )),
        _ => Ok(()),
    }
}

/// Issuers compare as strings, except Google's two spellings, which name one
/// issuer (the verifier admits the bare one only under the google profile).
fn same_issuer(a: &str, b: &str) -> bool {
    use crate::profile::{GOOGLE_BARE_ISSUER, GOOGLE_ISSUER};
    fn canonical(i: &str) -> &str {
        if i == GOOGLE_BARE_ISSUER {
            GOOGLE_ISSUER
        } else {
            i
        }
    }
    canonical(a) == canonical(b)
}

/// `aud` contains the client id; `azp`, when present, is it, and is present
/// when there are several audiences.
fn check_id_token_audience(claims: &Object, client_id: &str) -> Result<(), Refusal> {
    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => alloc::vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !auds.contains(&client_id) {
        return Err(refuse!(
            AudienceInvalid,
            "the ID token's aud does not include the client id {client_id:?}"
        ));
    }
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => {
            return Err(refuse!(
                AzpInvalid,
                "the ID token's azp {} is not the client id",
                crate::jwk::quoted(azp)
            ))
        }
        None if auds.len() > 1 => {
            return Err(refuse!(
                AzpInvalid,
                "the ID token has several audiences and no azp"
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Compares secrets without an early exit on the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Percent-encodes a query or form value: everything but unreserved
/// characters (RFC 3986 §2.3).
///
/// ```
/// assert_eq!(tessera_core::oidc::form_encode("/a b?c=1"), "%2Fa%20b%3Fc%3D1");
/// ```
pub fn form_encode(s: &str) -> String {
    Form::encode(s)
}

/// `application/x-www-form-urlencoded` building.
struct Form {
    out: String,
}

impl Form {
    fn new() -> Form {
        Form { out: String::new() }
    }

    fn push(&mut self, key: &str, value: &str) -> &mut Form {
        if !self.out.is_empty() {
            self.out.push('&');
        }
        let (k, v) = (Form::encode(key), Form::encode(value));
        self.out.push_str(&k);
        self.out.push('=');
        self.out.push_str(&v);
        self
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986 §2.3); space
    /// becomes `%20`, which every form parser accepts.
    fn encode(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    fn finish(&mut self) -> String {
        core::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DISCOVERY: &str = r#"{"issuer":"https://idp.example","authorization_endpoint":"https://idp.example/auth?x=1",
      "token_endpoint":"https://idp.example/token","jwks_uri":"https://idp.example/jwks",
      "revocation_endpoint":"https://idp.example/revoke","end_session_endpoint":"https://idp.example/logout"}"#;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        // RFC 7636 Appendix B: these 32 octets give this verifier and challenge.
        let octets = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105,
            214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let p = Pkce::from_random(octets);
        assert_eq!(p.verifier, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn discovery_is_checked() {
        let d = Discovery::parse(DISCOVERY.as_bytes(), "https://idp.example", true).unwrap();
        assert_eq!(
            d.revocation_endpoint.as_deref(),
            Some("https://idp.example/revoke")
        );
        assert_eq!(
            Discovery::parse(DISCOVERY.as_bytes(), "https://idp.example/", true)
                .unwrap_err()
                .reason
                .code(),
            "issuer-invalid"
        );
        let http = DISCOVERY.replace("https://idp.example/token", "http://idp.example/token");
        assert!(Discovery::parse(http.as_bytes(), "https://idp.example", true).is_err());
        let local = r#"{"issuer":"http://127.0.0.1:4000","authorization_endpoint":"http://127.0.0.1:4000/auth",
          "token_endpoint":"http://127.0.0.1:4000/token","jwks_uri":"http://127.0.0.1:4000/jwks"}"#;
        assert!(Discovery::parse(local.as_bytes(), "http://127.0.0.1:4000", true).is_ok());
        let sneaky = local.replace(
            "http://127.0.0.1:4000/token",
            "http://127.0.0.1.evil.example/token",
        );
        assert!(Discovery::parse(sneaky.as_bytes(), "http://127.0.0.1:4000", true).is_err());
        let no_s256 = DISCOVERY.replace(
            "\"jwks_uri\"",
            "\"code_challenge_methods_supported\":[\"plain\"],\"jwks_uri\"",
        );
        assert!(Discovery::parse(no_s256.as_bytes(), "https://idp.example", true).is_err());
    }

    #[test]
    fn a_verification_only_host_needs_only_the_key_set() {
        let keys_only = r#"{"issuer":"https://idp.example","jwks_uri":"https://idp.example/jwks"}"#;
        let d = Discovery::parse(keys_only.as_bytes(), "https://idp.example", false).unwrap();
        assert_eq!(d.jwks_uri, "https://idp.example/jwks");
        assert_eq!(d.authorization_endpoint, "");
        let sessions = Discovery::parse(keys_only.as_bytes(), "https://idp.example", true).unwrap_err();
        assert_eq!(sessions.reason.code(), "auth-api-unavailable");
        let with = |member: &str| keys_only.replace("\"jwks_uri\"", &format!("{member},\"jwks_uri\""));
        let bad = with("\"token_endpoint\":\"http://idp.example/t\"");
        assert!(
            Discovery::parse(bad.as_bytes(), "https://idp.example", false).is_err(),
            "a present endpoint is still checked"
        );
        let no_pkce = with("\"code_challenge_methods_supported\":[\"plain\"]");
        assert!(
            Discovery::parse(no_pkce.as_bytes(), "https://idp.example", false).is_ok(),
            "PKCE is a sign-in matter"
        );
        let no_keys = r#"{"issuer":"https://idp.example"}"#;
        assert!(Discovery::parse(no_keys.as_bytes(), "https://idp.example", false).is_err());
    }

    #[test]
    fn authorize_and_end_session_urls_are_encoded() {
        let d = Discovery::parse(DISCOVERY.as_bytes(), "https://idp.example", true).unwrap();
        let pkce = Pkce::from_random([1; 32]);
        let url = d.authorize_url(&AuthorizeParams {
            client_id: "my app",
            redirect_uri: "https://app.example/cb?a=b&c",
            scopes: &["openid", "offline_access"],
            state: "st",
            nonce: "no",
            pkce: &pkce,
            extra: &[("resource", "https://api.example/")],
        });
        assert!(url.starts_with("https://idp.example/auth?x=1&response_type=code&client_id=my%20app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fa%3Db%26c&scope=openid%20offline_access&state=st&nonce=no&code_challenge="), "{url}");
        assert!(
            url.ends_with("&code_challenge_method=S256&resource=https%3A%2F%2Fapi.example%2F"),
            "{url}"
        );
        let out = d
            .end_session_url(Some("idt"), "app", "https://app.example/")
            .unwrap();
        assert_eq!(out, "https://idp.example/logout?id_token_hint=idt&client_id=app&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2F");
    }

    #[test]
    fn return_paths_never_leave_the_origin() {
        let o = "https://app.example";
        for ok in [
            "/",
            "/a/b?c=d#e",
            "https://app.example",
            "https://app.example/x?y",
            "?tab=2",
            "/%20x",
        ] {
            assert!(safe_return_path(ok, o).is_some(), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "\\\\evil",
            "/%2F%2Fevil.example",
            "/%2f/evil",
            "/%5Cevil",
            "https://evil.example/",
            "https://app.example.evil.example",
            "https://app.example@evil.example",
            "http://app.example/",
            "javascript:alert(1)",
            "evil.example",
            "/\tevil",
            "/ /evil",
            "/\n/evil",
            "/%0a/evil",
            "",
            "https:evil.example",
            "//",
            "/%09/evil",
        ] {
            assert_eq!(safe_return_path(bad, o), None, "{bad:?}");
        }
    }

    #[test]
    fn token_requests_authenticate_the_client() {
        let basic = Client {
            id: "app:1",
            secret: "s3cr%t",
            auth: ClientAuth::ClientSecretBasic,
        };
        let r = basic.code_request("https://idp/token", "c0de", "https://app/cb", "ver");
        assert_eq!(
            r.body,
            "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Fapp%2Fcb&code_verifier=ver"
        );
        // RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Basic {}", base64_standard(b"app%3A1:s3cr%25t")).as_str())
        );
        assert!(!format!("{r:?}").contains("c0de"));
        let post = Client {
            id: "app",
            secret: "s",
            auth: ClientAuth::ClientSecretPost,
        };
        let r = post.refresh_request("https://idp/token", "rt", &["https://api/"]);
        assert_eq!(r.body, "grant_type=refresh_token&refresh_token=rt&resource=https%3A%2F%2Fapi%2F&client_id=app&client_secret=s");
        assert_eq!(r.authorization, None);
        let public = Client {
            id: "app",
            secret: "",
            auth: ClientAuth::None,
        };
        assert_eq!(
            public
                .revocation_request("https://idp/revoke", "rt", "refresh_token")
                .body,
            "token=rt&token_type_hint=refresh_token&client_id=app"
        );
    }

    #[test]
    fn token_responses_separate_final_errors_from_outages() {
        let ok = token_response(200, br#"{"access_token":"at","token_type":"Bearer","refresh_token":"rt","expires_in":60,"id_token":"it"}"#).unwrap();
        assert_eq!(
            (
                ok.access_token.as_str(),
                ok.refresh_token.as_deref(),
                ok.expires_in
            ),
            ("at", Some("rt"), Some(60))
        );
        assert!(!format!("{ok:?}").contains("\"at\""));
        let code = |status, body: &[u8]| token_response(status, body).unwrap_err().reason.code();
        assert_eq!(
            code(
                400,
                br#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#
            ),
            "refresh-token-invalid"
        );
        assert_eq!(
            code(401, br#"{"error":"invalid_client"}"#),
            "refresh-token-invalid"
        );
        assert_eq!(code(400, br#"{"error":"invalid_request"}"#), "callback-error");
        assert_eq!(code(503, b"<html>"), "auth-api-unavailable");
        assert_eq!(code(429, b""), "auth-api-unavailable");
        // The provider answered, with something unusable: not an outage.
        assert_eq!(code(200, b"<html>"), "auth-api-invalid");
        assert_eq!(code(200, b"{\"access_token\":\"x\""), "auth-api-invalid");
        assert_eq!(code(400, b"Bad Request"), "auth-api-invalid");
        assert_eq!(code(200, br#"{"token_type":"Bearer"}"#), "auth-api-invalid");
        let huge = alloc::format!(
            r#"{{"access_token":"x","pad":"{}"}}"#,
            "a".repeat(MAX_RESPONSE_BYTES)
        );
        let over = token_response(200, huge.as_bytes()).unwrap_err();
        assert_eq!(over.reason.code(), "auth-api-invalid");
        assert!(
            over.message.contains("65536-byte cap") && !over.message.contains("retry"),
            "{over}"
        );
        // expires_in: absent, an integer, or digits; nothing else.
        let expires = |v: &str| {
            token_response(200, alloc::format!(r#"{{"access_token":"x"{v}}}"#).as_bytes())
                .map(|t| t.expires_in)
        };
        assert_eq!(expires("").unwrap(), None);
        assert_eq!(expires(r#","expires_in":3600"#).unwrap(), Some(3600));
        assert_eq!(expires(r#","expires_in":"3599""#).unwrap(), Some(3599));
        assert_eq!(expires(r#","expires_in":null"#).unwrap(), None);
        for bad in [
            r#","expires_in":-1"#,
            r#","expires_in":60.5"#,
            r#","expires_in":"1h""#,
            r#","expires_in":"""#,
            r#","expires_in":[60]"#,
            r#","expires_in":"99999999999999999999""#,
        ] {
            assert_eq!(
                expires(bad).unwrap_err().reason.code(),
                "auth-api-invalid",
                "{bad}"
            );
        }
        assert_eq!(
            code(200, br#"{"access_token":"x","token_type":"DPoP"}"#),
            "callback-error"
        );
    }

    #[test]
    fn id_token_claims() {
        let claims = |v: Value| match v {
            Value::Object(o) => o,
            _ => unreachable!(),
        };
        assert!(check_id_token_claims(&claims(json!({ "aud": "app", "nonce": "n1" })), "app", "n1").is_ok());
        let code = |v: Value| {
            check_id_token_claims(&claims(v), "app", "n1")
                .unwrap_err()
                .reason
                .code()
        };
        assert_eq!(code(json!({ "aud": "other", "nonce": "n1" })), "audience-invalid");
        assert_eq!(code(json!({ "aud": ["app", "x"], "nonce": "n1" })), "azp-invalid");
        assert_eq!(
            code(json!({ "aud": ["app", "x"], "azp": "x", "nonce": "n1" })),
            "azp-invalid"
        );
        assert_eq!(code(json!({ "aud": "app", "nonce": "n2" })), "nonce-mismatch");
        assert_eq!(code(json!({ "aud": "app" })), "nonce-mismatch");
        assert!(check_id_token_claims(
            &claims(json!({ "aud": ["app", "x"], "azp": "app", "nonce": "n1" })),
            "app",
            "n1"
        )
        .is_ok());
    }
}
