//! What the engine decides for one request ([`Decision`]), the one table that
//! maps a [`Reason`] to an HTTP answer ([`Answer::for_reason`]), and the event
//! every decision yields for logs and metrics ([`Event`]).
//!
//! | reason | API call, or any unsafe request | page navigation (GET/HEAD) |
//! |---|---|---|
//! | `token-missing` | 401, `WWW-Authenticate: Bearer` | 302 to sign-in |
//! | other 401 reasons (token, key, claims, `refresh-token-invalid`, `cookie-unsealable`) | 401, `WWW-Authenticate: Bearer error="invalid_token", error_description="…"` | 302 to sign-in |
//! | `csrf-rejected` | 403 | 403 |
//! | `path-invalid`, `state-mismatch`, `nonce-mismatch`, `callback-error` | 400 | 400 |
//! | `jwks-unavailable`, `auth-api-unavailable` | 503, `Retry-After` | 503, `Retry-After` |
//! | `jwks-invalid`, `auth-api-invalid` (the provider answered with something unusable) | 502 | 502 |
//!
//! The status column is [`Reason::http_status`]; this module adds what goes
//! with it. On public routes nothing is refused: the request is forwarded
//! without an identity, and the reason still travels in `x-tessera-reason`.

use super::Pending;
use crate::cookie::SetCookie;
use crate::identity::Identity;
use crate::reason::Reason;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use serde::Serialize;

/// Seconds a client is told to wait after an outage (`Retry-After`). Short:
/// the engine itself rate-limits its fetches, so an early retry is cheap.
pub const RETRY_AFTER: u64 = 5;

/// The session state a response reports in `x-tessera-status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A valid session or bearer token.
    SignedIn,
    /// A valid session, renewed through the token endpoint during this request.
    Refreshed,
    /// No usable session (missing, expired without refresh, refused, signed out).
    #[default]
    SignedOut,
    /// In the middle of signing in (redirect to the provider).
    Handshake,
    /// Refused for a reason other than the session (CSRF, malformed path, bad callback).
    Denied,
    /// A dependency is down (key set or auth API); the session is kept.
    Unavailable,
}

impl Status {
    /// The header value, e.g. `"signed-in"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::SignedIn => "signed-in",
            Status::Refreshed => "refreshed",
            Status::SignedOut => "signed-out",
            Status::Handshake => "handshake",
            Status::Denied => "denied",
            Status::Unavailable => "unavailable",
        }
    }
}

/// What the host does with the request. `Debug` shows header names only: the
/// forwarded `authorization` header carries the access token.
#[derive(Clone)]
pub enum Action {
    /// Send the request on to the origin. First remove every incoming
    /// `x-tessera-*` header ([`crate::request::is_identity_header`]),
    /// Tessera's own cookies, and the headers in `remove`; then set `headers`
    /// (replacing any header of the same name, `authorization` included).
    /// `identity` is `None` on public routes without a session.
    Forward {
        /// Who the request is from, when known.
        identity: Option<Arc<Identity>>,
        /// Headers to set on the forwarded request (empty when anonymous).
        headers: Vec<(String, String)>,
        /// Incoming headers to remove (lower case): `authorization` when no
        /// verified identity is forwarded (unless the route passes it), and
        /// `authorization` and `cookie` for a CORS preflight. A client's own
        /// credential never reaches the origin as if Tessera had verified it.
        remove: &'static [&'static str],
        /// Whether the request body goes on (`false` for a CORS preflight).
        body: bool,
    },
    /// Answer the client directly; the origin is not involved.
    Respond {
        /// The HTTP status.
        status: u16,
        /// Response headers (`location`, `www-authenticate`, `retry-after`,
        /// `content-type`, `cache-control`, …), names in lower case.
        headers: Vec<(String, String)>,
        /// The body (JSON for API clients and endpoints, plain text otherwise).
        body: String,
    },
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |h: &[(String, String)]| h.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        match self {
            Action::Forward {
                identity,
                headers,
                remove,
                body,
            } => f
                .debug_struct("Forward")
                .field("sub", &identity.as_ref().map(|i| &i.sub))
                .field("headers", &names(headers))
                .field("remove", remove)
                .field("body", body)
                .finish(),
            Action::Respond { status, headers, .. } => f
                .debug_struct("Respond")
                .field("status", status)
                .field("headers", &names(headers))
                .finish_non_exhaustive(),
        }
    }
}

/// The engine's answer for one request.
#[derive(Debug)]
pub struct Decision {
    /// The session state (`x-tessera-status`).
    pub status: Status,
    /// Why, when something was refused or failed (`x-tessera-reason`).
    pub reason: Option<Reason>,
    /// A human-readable explanation of `reason` for logs (no secrets).
    pub message: Option<String>,
    /// Forward or respond.
    pub action: Action,
    /// Cookies to set on whatever response reaches the client (new session,
    /// clearing, transaction).
    pub set_cookies: Vec<SetCookie>,
    /// The observability record of this request.
    pub event: Event,
    /// Work to do after answering (a key-set revalidation): fetch each
    /// request and feed the reply to [`Engine::resume`](crate::engine::Engine::resume),
    /// e.g. in `ctx.waitUntil`. It never delays this response.
    pub background: Vec<Pending>,
}

impl Decision {
    /// Headers to add to the response the client receives, whether it comes
    /// from the origin ([`Action::Forward`]) or from [`Action::Respond`]:
    /// `x-tessera-status`, `x-tessera-reason` and one `set-cookie` per cookie;
    /// with cookies on a forwarded response also `cache-control: no-store`
    /// (replacing the origin's), so no shared cache keeps one browser's
    /// session cookies for another. Hosts set each header, replacing the
    /// origin's, and append each `set-cookie`.
    pub fn response_headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(3 + self.set_cookies.len());
        out.push((
            String::from("x-tessera-status"),
            String::from(self.status.as_str()),
        ));
        if let Some(reason) = self.reason {
            out.push((String::from("x-tessera-reason"), String::from(reason.code())));
        }
        if !self.set_cookies.is_empty() && matches!(self.action, Action::Forward { .. }) {
            out.push((String::from("cache-control"), String::from("no-store")));
        }
        for c in &self.set_cookies {
            out.push((String::from("set-cookie"), format!("{c}")));
        }
        out
    }

    /// The HTTP status the client will see, when Tessera answers itself.
    pub fn respond_status(&self) -> Option<u16> {
        match &self.action {
            Action::Respond { status, .. } => Some(*status),
            Action::Forward { .. } => None,
        }
    }
}

/// The kind of HTTP answer a refusal gets (see the [module table](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 302 to the sign-in endpoint (page navigations only).
    SignIn,
    /// 401 with `WWW-Authenticate`.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 400.
    BadRequest,
    /// 502: the provider answered with something unusable; retrying the same
    /// request cannot help.
    BadGateway,
    /// 503 with `Retry-After`; the session is kept.
    Unavailable,
}

impl Answer {
    /// The one reason → answer table. `navigation` is true for a safe-method
    /// document navigation to a page route, the only request that may be
    /// redirected to sign-in instead of receiving a 401.
    ///
    /// ```
    /// use tessera_core::decision::Answer;
    /// use tessera_core::Reason;
    /// assert_eq!(Answer::for_reason(Reason::TokenExpired, true), Answer::SignIn);
    /// assert_eq!(Answer::for_reason(Reason::TokenExpired, false), Answer::Unauthorized);
    /// assert_eq!(Answer::for_reason(Reason::CsrfRejected, true), Answer::Forbidden);
    /// assert_eq!(Answer::for_reason(Reason::JwksUnavailable, true), Answer::Unavailable);
    /// ```
    pub fn for_reason(reason: Reason, navigation: bool) -> Answer {
        match reason.http_status() {
            401 if navigation => Answer::SignIn,
            401 => Answer::Unauthorized,
            403 => Answer::Forbidden,
            502 => Answer::BadGateway,
            503 => Answer::Unavailable,
            _ => Answer::BadRequest,
        }
    }

    /// The status this answer sends.
    pub const fn http_status(self) -> u16 {
        match self {
            Answer::SignIn => 302,
            Answer::Unauthorized => 401,
            Answer::Forbidden => 403,
            Answer::BadRequest => 400,
            Answer::BadGateway => 502,
            Answer::Unavailable => 503,
        }
    }

    /// The session status this answer reports.
    pub const fn status(self) -> Status {
        match self {
            Answer::SignIn | Answer::Unauthorized => Status::SignedOut,
            Answer::Forbidden | Answer::BadRequest => Status::Denied,
            Answer::BadGateway | Answer::Unavailable => Status::Unavailable,
        }
    }
}

/// The `WWW-Authenticate` value for a 401 (RFC 6750 §3): no error code when no
/// credential was presented, `invalid_token` with the message otherwise.
pub fn www_authenticate(reason: Reason, message: &str) -> String {
    if reason == Reason::TokenMissing {
        return String::from("Bearer");
    }
    format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        quoted_string(message)
    )
}

/// The `WWW-Authenticate` value for a 403 of an unmet route requirement
/// (RFC 6750 §3.1 `insufficient_scope`) under `scheme` (`Bearer`, or `DPoP`
/// for a DPoP request), with the scopes to ask for when a scope was missing.
///
/// ```
/// use tessera_core::decision::insufficient_scope;
/// assert_eq!(
///     insufficient_scope("Bearer", "this route requires the scope \"a\"", Some("a b")),
///     "Bearer error=\"insufficient_scope\", error_description=\"this route requires the scope 'a'\", scope=\"a b\""
/// );
/// ```
pub fn insufficient_scope(scheme: &str, message: &str, scope: Option<&str>) -> String {
    let mut value = format!(
        "{scheme} error=\"insufficient_scope\", error_description=\"{}\"",
        quoted_string(message)
    );
    if let Some(scope) = scope {
        value.push_str(&format!(", scope=\"{}\"", quoted_string(scope)));
    }
    value
}

/// `text` with what RFC 6750's quoted values cannot hold replaced
/// (`error_description` and `scope` allow %x20-21 / %x23-5B / %x5D-7E).
pub(crate) fn quoted_string(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// Where the credential of a request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `Authorization: Bearer`.
    Bearer,
    /// The session cookies.
    Cookie,
}

/// How the key set was obtained for this request (cache hit or miss).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeysUse {
    /// No key was needed (no token, or a memo hit).
    #[default]
    NotNeeded,
    /// Fresh cached keys.
    Fresh,
    /// Stale cached keys (served while revalidating, or during an outage).
    Stale,
    /// Keys fetched during this request.
    Fetched,
    /// No usable keys.
    Unavailable,
}

/// What revocations and the shared store did to a request ([`Event::store`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreUse {
    /// Refused: the session or its subject was revoked (`session-revoked`).
    Revoked,
    /// Refused: this instance does not hold the revocations from before the
    /// session began (`store-unavailable`).
    Unknown,
    /// A store operation failed (a sign-out or logout not published).
    Error,
}

/// What a refresh during this request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshOutcome {
    /// New tokens, verified and stored.
    Refreshed,
    /// The provider ended the session (`invalid_grant` / `invalid_client`).
    Refused,
    /// The provider could not be reached; cookies kept.
    Unavailable,
    /// The provider issued tokens that do not pass verification.
    Rejected,
}

/// The observability record of one decision: what a host logs or counts. It
/// holds no secrets (no tokens, codes or cookie values) and no personal data
/// beyond what the host adds itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The decision's status.
    pub status: Status,
    /// The decision's reason code, if any.
    pub reason: Option<&'static str>,
    /// `public`, `page`, `api`, or the endpoint (`sign-in`, `callback`,
    /// `refresh`, `session`, `sign-out`, `unknown-endpoint`), or `invalid` for a
    /// path that cannot be matched safely.
    pub route: &'static str,
    /// Where the credential came from.
    pub source: Option<Source>,
    /// Whether the access token was a verified-token memo hit.
    pub memo_hit: bool,
    /// Key-set cache hit or miss.
    pub keys: KeysUse,
    /// The refresh attempted during this request, if any.
    pub refresh: Option<RefreshOutcome>,
    /// Whether that refresh was proactive (the token was still valid, within
    /// `refreshAhead` of expiry).
    pub proactive_refresh: bool,
    /// Whether sign-out revoked the refresh token at the provider.
    pub revoked: bool,
    /// Seconds until the accepted access token expires (timing input).
    pub expires_in: Option<u64>,
    /// Requests the host made for this decision (discovery, keys, token endpoint).
    pub fetches: u32,
    /// What revocations and the shared store did to this request, when
    /// anything: refused it (`revoked`), could not tell (`unknown`: this
    /// instance never loaded the revocations), or failed (`error`).
    pub store: Option<StoreUse>,
    /// The route requirement the caller did not meet, with
    /// `insufficient-scope` (or `issuer-invalid` for a bearer token from an
    /// issuer the route does not accept).
    pub requirement: Option<crate::requirement::Requirement>,
    /// The `now` of the decision (unix seconds).
    pub now: u64,
}
