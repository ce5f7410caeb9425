//! The per-request decision engine: the one place where routes, cookies,
//! verification, the key-set cache, OIDC and refresh come together.
//!
//! The engine is sans-IO. The host hands it a request, `now` and 32 fresh
//! random bytes; it answers with a [`Step`]: a final [`Decision`], or an HTTP
//! request to make ([`Step::Fetch`], [`Step::Refresh`]) whose reply the host
//! feeds back with [`Engine::resume`]. The engine keeps only shared caches
//! (discovery, key set, verified tokens); everything about one request travels
//! in its [`Pending`], so any number of requests can be in flight at once.
//!
//! A host loop, here with canned replies in place of the network:
//!
//! ```
//! use tessera_core::config::TesseraConfig;
//! use tessera_core::engine::{Engine, Reply, Request, Step};
//! use tessera_core::decision::{Action, Status};
//!
//! let config = TesseraConfig::from_json(r#"{"issuer":"https://idp.example","clientId":"app",
//!     "appOrigin":"https://app.example", "verification":{"audience":"https://api.example"},
//!     "cookieKeys":"k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}"#).unwrap();
//! let mut engine = Engine::new(config).unwrap();
//! let (now, random) = (1_700_000_000, [9u8; 32]); // the host's clock and CSPRNG
//!
//! // A signed-out page navigation is sent to sign-in.
//! let headers = [("sec-fetch-dest", "document")];
//! let request = Request { method: "GET", url: "https://app.example/dashboard?tab=2", headers: &headers };
//! let Step::Done(decision) = engine.handle(&request, now, random) else { unreachable!() };
//! let Action::Respond { status: 302, headers: answer, .. } = &decision.action else { unreachable!() };
//! assert_eq!(answer[0].1, "/__tessera/sign-in?redirect_url=%2Fdashboard%3Ftab%3D2");
//!
//! // Following it, the engine needs the provider's discovery document first.
//! let request = Request { method: "GET", url: "https://app.example/__tessera/sign-in?redirect_url=%2Fdashboard", headers: &headers };
//! let mut step = engine.handle(&request, now, random);
//! let decision = loop {
//!     step = match step {
//!         Step::Done(decision) => break decision,
//!         Step::Fetch(pending) => {
//!             let http = pending.request();            // the host fetches http.url …
//!             assert_eq!(http.url, "https://idp.example/.well-known/openid-configuration");
//!             let body = br#"{"issuer":"https://idp.example","authorization_endpoint":"https://idp.example/auth",
//!                 "token_endpoint":"https://idp.example/token","jwks_uri":"https://idp.example/jwks"}"#;
//!             engine.resume(pending, Reply::Response { status: 200, cache_control: None, body }, now, random)
//!         }
//!         Step::Refresh(_) | Step::Verify(_) | Step::Idle => unreachable!(),
//!     };
//! };
//! assert_eq!(decision.status, Status::Handshake);
//! let Action::Respond { status: 302, headers: answer, .. } = &decision.action else { unreachable!() };
//! assert!(answer[0].1.starts_with("https://idp.example/auth?response_type=code&client_id=app&"));
//! // The sealed transaction cookie (PKCE verifier, state, nonce, return path):
//! assert!(decision.response_headers().iter().any(|(n, v)| n == "set-cookie" && v.starts_with("__Host-tessera-tx=t2.k1.")));
//! ```

use crate::backend::SignatureBackend;
use crate::config::{CookieNames, TesseraConfig};
use crate::cookie::{self, CookieJar, SetCookie};
use crate::decision::{
    www_authenticate, Action, Answer, Decision, Event, KeysUse, RefreshOutcome, Source, Status, RETRY_AFTER,
};
use crate::identity::Identity;
use crate::jwk::KeySet;
use crate::jwks_cache::{FetchOutcome, FetchRequest, JwksCache, JwksSnapshot, Lookup, UnknownKid};
use crate::oidc::{self, AuthorizeParams, Client, ClientAuth, Discovery, FormRequest, Pkce, TokenSet};
use crate::policy::Policy;
use crate::reason::{refuse, Reason, Refusal};
use crate::request::{
    bearer_token, csrf_check, is_navigation, is_safe_method, request_target, RequestTarget,
};
use crate::routes::{Access, Routes};
use crate::seal::{Format, Keyring};
use crate::session::{IdTokenClaims, RefreshRecord, SessionRecord};
use crate::verifier::Verifier;
use crate::{b64, forward, jws, Alg};
use alloc::borrow::ToOwned;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Upper bound for discovery and token-endpoint response bodies.
pub const MAX_RESPONSE_BYTES: usize = oidc::MAX_RESPONSE_BYTES;

/// One incoming request, as the host received it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The method (`GET`, `POST`, …).
    pub method: &'a str,
    /// The request target: absolute (`https://app.example/a?b`) or origin-form
    /// (`/a?b`), read per RFC 9112 §3.2
    /// ([`request_target`]). Only the path and
    /// query are used. It must be the target the framework behind routes on:
    /// the raw origin form a server received, or the URL a Fetch API runtime
    /// parsed, never a URL built from the `Host` header (`docs/security.md`).
    pub url: &'a str,
    /// Every request header, names in any case. Several `Cookie` headers are joined.
    pub headers: &'a [(&'a str, &'a str)],
}

/// An HTTP request the host must make for the engine.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Where to send it.
    pub url: String,
    /// Headers to send (names in lower case).
    pub headers: Vec<(String, String)>,
    /// The body (`application/x-www-form-urlencoded`), for `POST`.
    pub body: Option<String>,
    /// Abort after this many milliseconds and reply [`Reply::Failed`].
    pub timeout_ms: u32,
    /// Read at most this many bytes of the body (a longer body is refused).
    pub max_bytes: usize,
}

impl core::fmt::Debug for HttpRequest {
    /// Bodies and `authorization` carry secrets (codes, refresh tokens, the
    /// client secret): only the method and URL are shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What became of an [`HttpRequest`].
#[derive(Clone, Debug)]
pub enum Reply<'a> {
    /// An HTTP response, any status.
    Response {
        /// The status.
        status: u16,
        /// The `Cache-Control` header, if any (used for key sets).
        cache_control: Option<&'a str>,
        /// The body as read (up to `max_bytes + 1`).
        body: &'a [u8],
    },
    /// No response: network error, timeout, DNS.
    Failed(&'a str),
    /// For [`Step::Refresh`]: the outcome another request's refresh produced
    /// (from a [`RefreshCoordinator`](crate::refresh::RefreshCoordinator) or a
    /// Durable Object), or the host's own call read with
    /// [`oidc::token_response`].
    Tokens(Result<TokenSet, Refusal>),
    /// For [`Step::Verify`]: whether the signature verified.
    Signature(bool),
    /// For [`Step::Verify`]: the host cannot check this algorithm at all (a
    /// runtime whose WebCrypto refuses to import such keys, e.g. a workerd
    /// older than its `Ed25519`). The engine checks this signature itself and
    /// hands no more of the algorithm to the host. Only for a missing
    /// capability: a check that fails is [`Reply::Signature`]`(false)`.
    SignatureUnsupported,
}

/// A signature check the host performs natively (e.g. WebCrypto's
/// `crypto.subtle.verify`) for an algorithm given to
/// [`Engine::with_host_signatures`]. Everything else about the token (header
/// rules, key selection, claims) stays in the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The algorithm (`ES256` signatures are raw `r ‖ s`, as WebCrypto expects).
    pub alg: Alg,
    /// The key, as DER SubjectPublicKeyInfo (WebCrypto's `spki` import format).
    pub spki_der: Vec<u8>,
    /// A stable name for the key, for caching imported keys: the hex SHA-256 of
    /// `spki_der`.
    pub key_id: String,
    /// The bytes the signature covers.
    pub signing_input: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

/// What the host does next.
#[derive(Debug)]
pub enum Step {
    /// The request is decided.
    Done(Decision),
    /// Make [`Pending::request`] and feed the reply to [`Engine::resume`]. Hosts
    /// should share concurrent `GET`s of the same URL (discovery, key set).
    Fetch(Pending),
    /// A refresh is needed: the exact token-endpoint request is
    /// [`Pending::request`]. Coordinate it by [`Pending::refresh_token`] so one
    /// refresh runs per session (see [`crate::refresh`]), then resume with the
    /// reply or with [`Reply::Tokens`].
    Refresh(Pending),
    /// Check [`Pending::signature_check`] natively and resume with
    /// [`Reply::Signature`]. Only with [`Engine::with_host_signatures`].
    Verify(Pending),
    /// Nothing left to do (a background revalidation finished).
    Idle,
}

/// A request suspended on an HTTP call. Opaque; holds everything the request
/// needs to continue, so the engine itself keeps no per-request state.
pub struct Pending {
    /// `None` for a signature check.
    request: Option<HttpRequest>,
    wait: Wait,
    event: Event,
    /// Background work found before the suspension, handed out with the decision.
    background: Vec<Pending>,
    /// Host signature checks done so far.
    signatures: Vec<(SignatureCheck, bool)>,
}

impl core::fmt::Debug for Pending {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pending")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// The HTTP request to make (for [`Step::Fetch`] and [`Step::Refresh`];
    /// an empty `GET` for [`Step::Verify`]).
    pub fn request(&self) -> &HttpRequest {
        static NONE: HttpRequest = HttpRequest {
            method: "GET",
            url: String::new(),
            headers: Vec::new(),
            body: None,
            timeout_ms: 0,
            max_bytes: 0,
        };
        self.request.as_ref().unwrap_or(&NONE)
    }

    /// For [`Step::Verify`]: the signature to check.
    pub fn signature_check(&self) -> Option<&SignatureCheck> {
        match &self.wait {
            Wait::Signature(check, _) => Some(check),
            _ => None,
        }
    }

    /// For [`Step::Refresh`]: the refresh token being exchanged, the key by
    /// which hosts coordinate concurrent refreshes of one session.
    pub fn refresh_token(&self) -> Option<&str> {
        match &self.wait {
            Wait::Tokens {
                via: Via::Refresh { refresh, .. },
                ..
            } => Some(&refresh.refresh_token),
            _ => None,
        }
    }
}

/// What a suspended request waits for.
enum Wait {
    /// A cache fill; then run `then`.
    Fill(Fill, Then),
    /// A token-endpoint reply.
    Tokens { req: OwnedRequest, via: Via },
    /// A revocation reply; then finish signing out.
    Revocation(OwnedRequest),
    /// The revocation of tokens a refresh returned and the engine refused;
    /// then end the session with `refusal`.
    Discard { req: OwnedRequest, refusal: Refusal },
    /// The host's signature check; then run `then` again.
    Signature(SignatureCheck, Then),
}

#[derive(Clone, Copy)]
enum Fill {
    Discovery,
    Keys,
}

/// What to run after a cache fill. One per suspended request, so its size
/// matters less than an allocation on every token response would.
#[allow(clippy::large_enum_variant)]
enum Then {
    /// The request again, from the start.
    Request(OwnedRequest),
    /// Verifying tokens the provider issued.
    Tokens {
        req: OwnedRequest,
        via: Via,
        tokens: TokenSet,
    },
    /// Verifying a bearer token on its own ([`Engine::verify_token`]).
    Token(String),
    /// Nothing (background revalidation).
    Idle,
}

/// Why tokens were requested.
enum Via {
    /// The sign-in callback's code exchange.
    Callback(Transaction),
    /// A refresh with the refresh cookie's record; `session` is the session
    /// cookie's record (absent only for a version 1 refresh cookie), and
    /// `fallback` the still-valid identity of a proactive refresh, served if
    /// the provider cannot be reached.
    Refresh {
        refresh: RefreshRecord,
        session: Option<SessionRecord>,
        fallback: Option<Arc<Identity>>,
    },
}

/// A request kept across a suspension: only what the engine reads.
struct OwnedRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
}

/// Headers the engine reads; a suspended request keeps only these.
const READ_HEADERS: [&str; 7] = [
    "cookie",
    "authorization",
    "accept",
    "origin",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-site",
];

impl OwnedRequest {
    fn new(req: &Request<'_>) -> OwnedRequest {
        OwnedRequest {
            method: req.method.to_owned(),
            url: req.url.to_owned(),
            headers: req
                .headers
                .iter()
                .filter(|(n, _)| READ_HEADERS.iter().any(|r| n.eq_ignore_ascii_case(r)))
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}

/// The sealed sign-in transaction (the `-tx` cookie).
#[derive(Serialize, Deserialize)]
struct Transaction {
    /// `state`.
    s: String,
    /// `nonce`.
    n: String,
    /// The PKCE verifier.
    v: String,
    /// Where to return after sign-in (a checked same-origin path).
    r: String,
}

/// Random bytes for one call, stretched from the host's 32-byte seed with
/// SHA-256 in counter mode (each output is independent and unpredictable
/// without the seed).
struct Entropy {
    seed: [u8; 32],
    counter: u32,
}

impl Entropy {
    fn next(&mut self) -> [u8; 32] {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(self.counter.to_be_bytes());
        h.finalize().into()
    }

    fn token(&mut self) -> String {
        b64::encode(&self.next()[..16])
    }

    fn nonce(&mut self) -> [u8; 24] {
        let mut n = [0; 24];
        n.copy_from_slice(&self.next()[..24]);
        n
    }
}

/// State of one call: the clock, randomness, the event being built, and
/// background work to hand out.
struct Ctx {
    now: u64,
    entropy: Entropy,
    event: Event,
    background: Vec<Pending>,
    /// Host signature checks done for this request, with their verdicts. A
    /// verdict counts only for the same key, bytes and signature (compared in
    /// full, cheaper than hashing them).
    signatures: Vec<(SignatureCheck, bool)>,
    /// The route lets the client's `Authorization` header through when no
    /// identity is forwarded ([`crate::routes::RouteRule::pass_authorization`]).
    pass_authorization: bool,
    /// The route forwards CORS preflights ([`crate::routes::RouteRule::forward_preflight`]).
    forward_preflight: bool,
    /// The method and origin-form target a forward signature binds, kept
    /// only when forwards are signed.
    signed_request: Option<(String, String)>,
}

/// The provider's discovery document, fetched once per engine.
struct DiscoveryCache {
    url: String,
    loaded: Option<(Discovery, String)>,
    failed: Option<(u64, Refusal)>,
}

/// What verifying a token came to.
enum Verified {
    Ok(Arc<Identity>),
    /// Something must be done first.
    Need(Need),
    Err(Refusal),
}

/// What verifying a code exchange's tokens came to.
enum Issued {
    /// The ID token's identity and the access token's.
    Both(Arc<Identity>, Arc<Identity>),
    /// Something must be done first.
    Need(Need),
    Err(Refusal),
}

/// What a verification waits for.
enum Need {
    /// A cache fill.
    Fill(Fill, HttpRequest),
    /// The host's signature check.
    Signature(SignatureCheck),
}

/// Where a token being verified came from, which decides what an unknown
/// `kid` costs: a client's choice must not make the key set refetch more than
/// once per cooldown; a provider's key must not cost a session.
#[derive(Clone, Copy, PartialEq, Eq)]
enum From {
    /// Presented by a client (a bearer token): the unknown-kid cooldown and
    /// negative cache apply; still unknown is `key-not-found`.
    Client,
    /// Read from a session cookie Tessera sealed as the provider issued it:
    /// the kid is the provider's, so it refetches past the global cooldown
    /// (once per kid per cooldown, at most every few seconds); still unknown
    /// is `key-not-found` (the key was withdrawn: the session refreshes).
    Sealed,
    /// Returned by the token endpoint in this very request: most likely a key
    /// just published; still unknown is an outage that keeps the new tokens.
    TokenEndpoint,
}

/// Where a request is going.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Route(Access, bool),
    SignIn,
    Callback,
    Refresh,
    Session,
    SignOut,
    UnknownEndpoint,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Route(Access::Public, _) => "public",
            Target::Route(Access::Page, _) => "page",
            Target::Route(Access::Api, _) => "api",
            Target::SignIn => "sign-in",
            Target::Callback => "callback",
            Target::Refresh => "refresh",
            Target::Session => "session",
            Target::SignOut => "sign-out",
            Target::UnknownEndpoint => "unknown-endpoint",
        }
    }
}

/// Key-set and discovery state a host can persist (e.g. in the Workers Cache
/// API) so a fresh isolate starts warm.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The discovery document as fetched.
    pub discovery: Option<String>,
    /// The key set.
    pub jwks: Option<JwksSnapshot>,
}

/// The decision engine of one app. See the [module docs](self).
pub struct Engine {
    config: TesseraConfig,
    names: CookieNames,
    keyring: Option<Keyring>,
    routes: Routes,
    verifier: Verifier,
    id_verifier: Verifier,
    discovery: DiscoveryCache,
    /// `None` with static keys.
    jwks: Option<JwksCache>,
    static_keys: bool,
    keys_generation: u64,
    /// Algorithms whose signatures the host checks ([`Step::Verify`]).
    host_signatures: Vec<Alg>,
    /// Sessions signed out here, by session id, until their last refresh can
    /// no longer be replayed to a copy of their cookies.
    ended: BTreeMap<String, u64>,
}

/// Signed-out sessions remembered at most (the oldest go first).
const MAX_ENDED: usize = 4096;

/// How old a refreshed ID token's `iat` may be, in seconds (besides the
/// leeway): it was issued for this refresh, or for a tab's refresh a replay
/// window ago.
const REFRESHED_ID_TOKEN_MAX_AGE: u64 = 150;

impl Engine {
    /// An engine that fetches the provider's discovery document and key set
    /// as needed.
    // Out of line on purpose: see "Start-up" in the crate docs.
    #[inline(never)]
    pub fn new(config: TesseraConfig) -> Result<Engine, crate::ConfigError> {
        Engine::build(config, None)
    }

    /// An engine that verifies with fixed keys (a JWKS or PEM the host loaded)
    /// and never fetches a key set. Sign-in, refresh and sign-out still fetch
    /// the discovery document.
    pub fn with_keys(config: TesseraConfig, keys: KeySet) -> Result<Engine, crate::ConfigError> {
        Engine::build(config, Some(keys))
    }

    fn build(config: TesseraConfig, keys: Option<KeySet>) -> Result<Engine, crate::ConfigError> {
        config.validate()?;
        let routes = config.compiled_routes()?;
        let static_keys = keys.is_some();
        let keys = keys.unwrap_or_default();
        let verifier = Verifier::with_memo(keys.clone(), config.policy().clone(), config.memo)?;
        let id_verifier = Verifier::new(keys, id_token_policy(&config))?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        );
        Ok(Engine {
            names: config.cookie_names(),
            keyring: config
                .keyring()
                .map(|k| k.bound_to(&config.app_origin, &config.issuer)),
            routes,
            verifier,
            id_verifier,
            discovery: DiscoveryCache {
                url,
                loaded: None,
                failed: None,
            },
            jwks: None,
            static_keys,
            keys_generation: 0,
            host_signatures: Vec::new(),
            ended: BTreeMap::new(),
            config,
        })
    }

    /// Hands the raw signature check of `algs` to the host: verifications of
    /// such tokens suspend with [`Step::Verify`] (memo hits never do). For
    /// runtimes whose native crypto beats the pure-Rust check (WebCrypto in
    /// workerd, `node:crypto`). Default: none, every check in the engine.
    pub fn with_host_signatures(mut self, algs: &[Alg]) -> Engine {
        self.host_signatures = algs.to_vec();
        self
    }

    /// Checks signatures with `backend` (synchronously, in place of the
    /// pure-Rust check) for the algorithms it takes: `node:crypto` in Node,
    /// aws-lc-rs natively ([`crate::backend`]). Algorithms given to
    /// [`Engine::with_host_signatures`] still suspend. Default: none.
    pub fn with_signature_backend(mut self, backend: Arc<dyn SignatureBackend>) -> Engine {
        self.verifier = self.verifier.with_backend(backend.clone());
        self.id_verifier = self.id_verifier.with_backend(backend);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TesseraConfig {
        &self.config
    }

    /// Decides `req` at `now` (unix seconds), with 32 fresh random bytes from
    /// the host's CSPRNG (used for state, nonce, PKCE and cookie sealing).
    pub fn handle(&mut self, req: &Request<'_>, now: u64, random: [u8; 32]) -> Step {
        let mut ctx = Ctx::new(now, random, Event::default());
        let step = self.run(req, &mut ctx);
        ctx.finish(step)
    }

    /// Verifies a bearer token on its own, for hosts that check tokens rather
    /// than requests (origin servers, `tessera.verify` in the npm package): the
    /// access-token policy, the same key-set cache and memo, and the same
    /// suspensions ([`Step::Fetch`], [`Step::Verify`]) as a request. The
    /// decision is `signed-in` with the identity in [`Action::Forward`] (with
    /// no headers: there is no request to pass on, and building them would
    /// cost every new token), or a refusal answered as an API request would
    /// be (401 with a challenge, 503 for outages). Needs no randomness.
    ///
    /// ```
    /// use tessera_core::engine::{Engine, Step};
    /// use tessera_core::config::TesseraConfig;
    /// let config = TesseraConfig::from_json(r#"{"issuer":"https://auth.example.com"}"#).unwrap();
    /// let mut engine = Engine::new(config).unwrap();
    /// let Step::Done(decision) = engine.verify_token("not-a-token", 1_700_000_000) else { panic!() };
    /// assert_eq!(decision.reason.unwrap().code(), "token-malformed");
    /// assert_eq!(decision.respond_status(), Some(401));
    /// ```
    pub fn verify_token(&mut self, token: &str, now: u64) -> Step {
        let mut ctx = Ctx::new(now, [0; 32], Event::default());
        ctx.event.route = "token";
        ctx.event.source = Some(Source::Bearer);
        let step = self.check_token(token.to_owned(), &mut ctx);
        ctx.finish(step)
    }

    /// The memo lookup [`Engine::verify_token`] starts with, on its own: the
    /// identity if exactly this token was verified (access-token policy) and
    /// is still valid at `now`, else `None`. For hosts whose cost per call is
    /// in building the decision rather than deciding (the npm package answers
    /// a repeat `verify` from this, with no decision, headers or event); on
    /// `None` they call `verify_token`, which gives the same identity on a hit.
    ///
    /// ```
    /// use tessera_core::engine::Engine;
    /// use tessera_core::config::TesseraConfig;
    /// let config = TesseraConfig::from_json(r#"{"issuer":"https://auth.example.com"}"#).unwrap();
    /// let mut engine = Engine::new(config).unwrap();
    /// assert!(engine.remembered("eyJ.never.verified", 1_700_000_000).is_none());
    /// ```
    pub fn remembered(&mut self, token: &str, now: u64) -> Option<Arc<Identity>> {
        self.verifier.remembered(token, now)
    }

    /// Continues a suspended request with the reply to its [`HttpRequest`].
    pub fn resume(&mut self, pending: Pending, reply: Reply<'_>, now: u64, random: [u8; 32]) -> Step {
        let Pending {
            wait,
            event,
            background,
            signatures,
            ..
        } = pending;
        let mut ctx = Ctx::new(now, random, event);
        ctx.background = background;
        ctx.signatures = signatures;
        if !matches!(wait, Wait::Signature(..)) {
            ctx.event.fetches += 1;
        }
        let step = match wait {
            Wait::Signature(check, then) => {
                if matches!(reply, Reply::SignatureUnsupported) {
                    // The re-run below checks it in the engine.
                    self.host_signatures.retain(|&alg| alg != check.alg);
                } else {
                    let valid = matches!(reply, Reply::Signature(true));
                    ctx.signatures.push((check, valid));
                }
                self.then(then, &mut ctx)
            }
            Wait::Fill(fill, then) => {
                self.fill(fill, reply, &mut ctx);
                self.then(then, &mut ctx)
            }
            Wait::Tokens { req, via } => self.resume_tokens(req, via, reply, &mut ctx),
            Wait::Revocation(req) => self.resume_revocation(req, reply, &mut ctx),
            Wait::Discard { req, refusal } => {
                ctx.event.revoked = matches!(reply, Reply::Response { status: 200, .. });
                self.end_session(req, refusal, &mut ctx)
            }
        };
        ctx.finish(step)
    }

    // This and `resume_revocation` are out of line: a verification never
    // resumes with them, so a fresh instance's first one need not compile them
    // (V8 compiles a function on its first call, whole).
    #[inline(never)]
    fn resume_tokens(&mut self, req: OwnedRequest, via: Via, reply: Reply<'_>, ctx: &mut Ctx) -> Step {
        let result = match reply {
            Reply::Tokens(result) => result,
            Reply::Response { status, body, .. } => oidc::token_response(status, body),
            Reply::Failed(why) => Err(oidc::token_endpoint_unreachable(why)),
            Reply::Signature(_) | Reply::SignatureUnsupported => {
                Err(refuse!(AuthApiUnavailable, "the token request got no HTTP reply"))
            }
        };
        self.on_tokens(req, via, result, ctx)
    }

    #[inline(never)]
    fn resume_revocation(&mut self, req: OwnedRequest, reply: Reply<'_>, ctx: &mut Ctx) -> Step {
        // RFC 7009 §2.2: 200 whether or not the token was valid; anything
        // else (or no answer) still signs the user out here.
        ctx.event.revoked = matches!(reply, Reply::Response { status: 200, .. });
        let end = self.discovery.loaded.as_ref().map(|(d, _)| d.clone());
        self.sign_out_done(&req, end.as_ref(), ctx)
    }

    /// The state worth persisting across isolates.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            discovery: self.discovery.loaded.as_ref().map(|(_, raw)| raw.clone()),
            jwks: self.jwks.as_ref().and_then(JwksCache::snapshot),
        }
    }

    /// Restores a [`Snapshot`]; parts that are invalid, older than what the
    /// engine holds, or past their usable bound are ignored.
    pub fn restore(&mut self, snapshot: &Snapshot, now: u64) {
        if self.discovery.loaded.is_none() {
            if let Some(raw) = &snapshot.discovery {
                if let Ok(d) = Discovery::parse(raw.as_bytes(), &self.config.issuer, self.keyring.is_some()) {
                    self.discovery.loaded = Some((d, raw.clone()));
                }
            }
        }
        if let (Some(jwks), false) = (&snapshot.jwks, self.static_keys) {
            if let Some(cache) = self.jwks_cache() {
                let _ = cache.restore(jwks, now);
            }
        }
    }

    /// What the route of `method` and `url` requires, by the same rules as
    /// [`Engine::handle`] and without deciding anything: for hosts that must
    /// check a second spelling of a request (the Express adapter, when a
    /// middleware rewrote `req.url` before Tessera). Tessera's endpoints are
    /// [`Access::Api`].
    ///
    /// ```
    /// use tessera_core::engine::Engine;
    /// use tessera_core::config::TesseraConfig;
    /// use tessera_core::routes::Access;
    /// let config = TesseraConfig::from_json(r#"{"issuer":"https://auth.example.com",
    ///     "routes":[{"pattern":"/","access":"public"}]}"#).unwrap();
    /// let engine = Engine::new(config).unwrap();
    /// assert_eq!(engine.classify("GET", "/").unwrap(), Access::Public);
    /// assert_eq!(engine.classify("GET", "/admin").unwrap(), Access::Page);
    /// assert!(engine.classify("GET", "/a/../b").is_err());
    /// ```
    pub fn classify(&self, method: &str, url: &str) -> Result<Access, Refusal> {
        let mut ctx = Ctx::new(0, [0; 32], Event::default());
        let target = request_target(url).and_then(|t| self.target(method, t.path, &mut ctx))?;
        Ok(match target {
            Target::Route(access, _) => access,
            _ => Access::Api,
        })
    }

    /// Key-set cache counters, once the key set is known.
    pub fn jwks_stats(&self) -> Option<crate::jwks_cache::JwksCacheStats> {
        self.jwks.as_ref().map(JwksCache::stats)
    }

    // ---- dispatch ------------------------------------------------------------

    fn run(&mut self, req: &Request<'_>, ctx: &mut Ctx) -> Step {
        let (target, query) = match request_target(req.url) {
            Ok(t) => {
                self.keep_signed_request(req.method, &t, ctx);
                (self.target(req.method, t.path, ctx), t.query_str())
            }
            Err(refusal) => (Err(refusal), ""),
        };
        let target = match target {
            Ok(t) => t,
            Err(refusal) => {
                ctx.event.route = "invalid";
                return self.refuse(req, refusal, Access::Api, ctx, Vec::new());
            }
        };
        ctx.event.route = target.name();
        let allowed = match target {
            Target::SignIn | Target::Callback | Target::Session => "GET",
            Target::Refresh | Target::SignOut => "POST",
            Target::Route(..) | Target::UnknownEndpoint => "",
        };
        if !allowed.is_empty() && !req.method.eq_ignore_ascii_case(allowed) {
            let allow = (String::from("allow"), String::from(allowed));
            return ctx.plain(405, "method not allowed on this Tessera endpoint", Some(allow));
        }
        match target {
            Target::Route(access, bearer) => self.protect(req, target, access, bearer, ctx),
            Target::SignIn => self.sign_in(req, query, ctx),
            Target::Callback => self.callback(req, query, ctx),
            Target::Refresh | Target::Session => self.protect(req, target, Access::Api, false, ctx),
            Target::SignOut => self.sign_out(req, ctx),
            Target::UnknownEndpoint => ctx.plain(
                404,
                "no such Tessera endpoint: use sign-in, callback, refresh, session or sign-out",
                None,
            ),
        }
    }

    /// Keeps what a forward signature binds (only when forwards are signed).
    fn keep_signed_request(&self, method: &str, target: &RequestTarget<'_>, ctx: &mut Ctx) {
        if !self.config.forward_signing_secret.is_empty() {
            ctx.signed_request = Some((method.to_ascii_uppercase(), format!("{target}")));
        }
    }

    fn target(&self, method: &str, raw_path: &str, ctx: &mut Ctx) -> Result<Target, Refusal> {
        let route = self.routes.classify(method, raw_path)?;
        ctx.pass_authorization = route.pass_authorization;
        ctx.forward_preflight = route.forward_preflight;
        let prefix = &self.config.endpoint_prefix;
        let Some(rest) = route.path.strip_prefix(prefix.as_str()) else {
            return Ok(Target::Route(route.access, route.bearer));
        };
        Ok(match rest {
            "/sign-in" => Target::SignIn,
            "/callback" => Target::Callback,
            "/refresh" => Target::Refresh,
            "/session" => Target::Session,
            "/sign-out" => Target::SignOut,
            _ if rest.is_empty() || rest.starts_with('/') => Target::UnknownEndpoint,
            _ => Target::Route(route.access, route.bearer),
        })
    }

    fn then(&mut self, then: Then, ctx: &mut Ctx) -> Step {
        match then {
            Then::Request(req) => {
                let headers = req.headers();
                self.run(&borrow(&req, &headers), ctx)
            }
            Then::Tokens { req, via, tokens } => self.on_tokens(req, via, Ok(tokens), ctx),
            Then::Token(token) => self.check_token(token, ctx),
            Then::Idle => Step::Idle,
        }
    }

    // ---- protected and public routes, session and refresh endpoints ----------

    fn protect(
        &mut self,
        req: &Request<'_>,
        target: Target,
        access: Access,
        bearer_ok: bool,
        ctx: &mut Ctx,
    ) -> Step {
        // A CORS preflight carries no credentials (Fetch standard) and changes
        // nothing. On a public route, or a protected one that forwards them,
        // the origin answers it, without an identity, a body or any credential
        // a client added; otherwise Tessera answers 204 without CORS headers
        // (browsers then refuse the cross-origin call), so no handler runs
        // for a protected path without an identity.
        if req.method.eq_ignore_ascii_case("OPTIONS")
            && header_present(req.headers, "access-control-request-method")
        {
            let action = if ctx.forward_preflight {
                Action::Forward {
                    identity: None,
                    headers: Vec::new(),
                    remove: &["authorization", "cookie"],
                    body: false,
                }
            } else {
                let vary = (
                    String::from("vary"),
                    String::from("origin, access-control-request-method"),
                );
                respond(204, alloc::vec![vary], String::new())
            };
            return Step::Done(ctx.decide(Status::SignedOut, None, action, Vec::new()));
        }
        if bearer_ok {
            match bearer_token(req.headers) {
                Err(refusal) => return self.refuse(req, refusal, access, ctx, Vec::new()),
                Ok(Some(token)) => {
                    ctx.event.source = Some(Source::Bearer);
                    return match self.verify(token, true, From::Client, ctx) {
                        Verified::Ok(identity) => {
                            self.signed_in(target, identity, token, Status::SignedIn, Vec::new(), ctx)
                        }
                        Verified::Need(need) => ctx.wait(need, Then::Request(OwnedRequest::new(req))),
                        Verified::Err(refusal) => self.refuse(req, refusal, access, ctx, Vec::new()),
                    };
                }
                Ok(None) => {}
            }
        }
        let jar = jar(req.headers);
        let session = self.open_session(&jar, ctx.now);
        let refresh = self.open_refresh(&jar, ctx.now);
        let mut clear = Vec::new();
        if session.is_err() {
            clear.extend(self.clear(&jar, &self.names.session));
        }
        if refresh.is_err() {
            clear.extend(self.clear(&jar, &self.names.refresh));
        }
        let has_cookies = !matches!((&session, &refresh), (Ok(None), Ok(None)));
        if has_cookies {
            ctx.event.source = Some(Source::Cookie);
            if let Err(refusal) = csrf_check(
                req.method,
                req.headers,
                &self.config.app_origin,
                &self.allowed_origins(),
            ) {
                return self.refuse(req, refusal, access, ctx, clear);
            }
        }
        // A refresh cookie refreshes only beside the session cookie of its own
        // session: a copied refresh cookie alone, or one from another session,
        // never does (version 1 cookies carry no session id).
        let refresh = match refresh.ok().flatten() {
            Some(rt) if !rt.id.is_empty() && !matches!(&session, Ok(Some(s)) if s.id == rt.id) => {
                clear.extend(self.clear(&jar, &self.names.refresh));
                None
            }
            rt => rt,
        };
        if target == Target::Refresh {
            let record = session.ok().flatten();
            return match refresh {
                Some(rt) => self.start_refresh(req, rt, record, None, ctx),
                None => self.refuse(
                    req,
                    refuse!(
                        TokenMissing,
                        "there is no refresh cookie for this session; sign in"
                    ),
                    access,
                    ctx,
                    clear,
                ),
            };
        }
        let leeway = self.config.policy().leeway;
        let (record, refusal) = match session {
            // Expired by the record's own (verified) expiry: refreshed without
            // verifying a token that could only be token-expired, whose key the
            // provider may have withdrawn since.
            Ok(Some(record))
                if refresh.is_some()
                    && record
                        .access_expires_at
                        .is_some_and(|exp| exp.saturating_add(leeway) <= ctx.now) =>
            {
                let refusal = refuse!(TokenExpired, "the session's access token expired");
                (Some(record), refusal)
            }
            Ok(Some(record)) => match self.verify(&record.access_token, true, From::Sealed, ctx) {
                Verified::Ok(identity) => match bound_to_session(&identity, &record) {
                    Ok(()) => {
                        let expires_in = identity.exp.saturating_sub(ctx.now);
                        match refresh {
                            Some(rt) if expires_in <= self.config.refresh_ahead => {
                                ctx.event.proactive_refresh = true;
                                return self.start_refresh(req, rt, Some(record), Some(identity), ctx);
                            }
                            _ => {
                                return self.signed_in(
                                    target,
                                    identity,
                                    &record.access_token,
                                    Status::SignedIn,
                                    clear,
                                    ctx,
                                )
                            }
                        }
                    }
                    Err(refusal) => {
                        clear.extend(self.clear_session(&jar));
                        return self.refuse(req, refusal, access, ctx, clear);
                    }
                },
                Verified::Need(need) => return ctx.wait(need, Then::Request(OwnedRequest::new(req))),
                // An outage: refreshing would not help verify the new token either.
                Verified::Err(refusal) if refusal.reason.keeps_session() => {
                    return self.refuse(req, refusal, access, ctx, clear)
                }
                Verified::Err(refusal) => {
                    clear.extend(self.clear(&jar, &self.names.session));
                    (Some(record), refusal)
                }
            },
            Err(refusal) => (None, refusal),
            Ok(None) => (
                None,
                refuse!(TokenMissing, "no session cookie and no bearer token; sign in"),
            ),
        };
        match refresh {
            Some(rt) => self.start_refresh(req, rt, record, None, ctx),
            None => self.refuse(req, refusal, access, ctx, clear),
        }
    }

    fn start_refresh(
        &mut self,
        req: &Request<'_>,
        refresh: RefreshRecord,
        session: Option<SessionRecord>,
        fallback: Option<Arc<Identity>>,
        ctx: &mut Ctx,
    ) -> Step {
        let discovery = match self.discovery(ctx.now) {
            Ok(d) => d,
            Err(Err(http)) => {
                return ctx.suspend(
                    http,
                    Wait::Fill(Fill::Discovery, Then::Request(OwnedRequest::new(req))),
                )
            }
            Err(Ok(refusal)) => {
                let via = Via::Refresh {
                    refresh,
                    session,
                    fallback,
                };
                return self.on_tokens(OwnedRequest::new(req), via, Err(refusal), ctx);
            }
        };
        let resources: Vec<&str> = self.config.resources.iter().map(String::as_str).collect();
        let form =
            self.client()
                .refresh_request(&discovery.token_endpoint, &refresh.refresh_token, &resources);
        let via = Via::Refresh {
            refresh,
            session,
            fallback,
        };
        Step::Refresh(ctx.pending(
            Some(post(form)),
            Wait::Tokens {
                req: OwnedRequest::new(req),
                via,
            },
        ))
    }

    fn on_tokens(
        &mut self,
        req: OwnedRequest,
        via: Via,
        result: Result<TokenSet, Refusal>,
        ctx: &mut Ctx,
    ) -> Step {
        match via {
            Via::Callback(tx) => self.finish_callback(req, tx, result, ctx),
            Via::Refresh {
                refresh,
                session,
                fallback,
            } => self.finish_refresh(req, refresh, session, fallback, result, ctx),
        }
    }

    /// The route a suspended request was going to, and its access.
    fn resumed_target(&self, r: &Request<'_>, ctx: &mut Ctx) -> Result<(Target, Access), Refusal> {
        let target = request_target(r.url).and_then(|t| {
            self.keep_signed_request(r.method, &t, ctx);
            self.target(r.method, t.path, ctx)
        })?;
        let access = match target {
            Target::Route(access, _) => access,
            _ => Access::Api,
        };
        Ok((target, access))
    }

    /// Continues the refreshed request: checks the new tokens against the
    /// session (OpenID Connect Core 12.2: a refreshed ID token is verified and
    /// names the same issuer and subject; the access token names the
    /// session's subject), stores them and forwards, or answers the refusal
    /// (a refused grant, an unusable answer or tokens for someone else end the
    /// session; an outage keeps it).
    fn finish_refresh(
        &mut self,
        req: OwnedRequest,
        refresh: RefreshRecord,
        session: Option<SessionRecord>,
        fallback: Option<Arc<Identity>>,
        result: Result<TokenSet, Refusal>,
        ctx: &mut Ctx,
    ) -> Step {
        let headers = req.headers();
        let r = borrow(&req, &headers);
        let (target, access) = match self.resumed_target(&r, ctx) {
            Ok(t) => t,
            Err(refusal) => return self.refuse(&r, refusal, Access::Api, ctx, Vec::new()),
        };
        let jar = jar(r.headers);
        let tokens = match result {
            Ok(tokens) => tokens,
            Err(refusal) if refusal.reason == Reason::RefreshTokenInvalid => {
                ctx.event.refresh = Some(RefreshOutcome::Refused);
                let clear = self.clear_session(&jar);
                return self.refuse(&r, refusal, access, ctx, clear);
            }
            // The provider answered with something unusable: the refresh
            // token may be spent, so the session ends cleanly (a still-valid
            // access token serves until it expires) instead of answering 503
            // with cookies that can no longer refresh.
            Err(refusal) if refusal.reason == Reason::AuthApiInvalid => {
                ctx.event.refresh = Some(RefreshOutcome::Rejected);
                if let (Some(identity), Some(record)) = (fallback, &session) {
                    let clear = self.clear(&jar, &self.names.refresh);
                    return self.signed_in(
                        target,
                        identity,
                        &record.access_token,
                        Status::SignedIn,
                        clear,
                        ctx,
                    );
                }
                let refusal = refuse!(
                    RefreshTokenInvalid,
                    "the provider's refresh answer could not be used ({}); the refresh token may be spent, so the session ended: sign in again",
                    refusal.message
                );
                return self.refuse(&r, refusal, access, ctx, self.clear_session(&jar));
            }
            Err(refusal) => {
                ctx.event.refresh = Some(RefreshOutcome::Unavailable);
                if let (Some(identity), Some(record)) = (fallback, &session) {
                    return self.signed_in(
                        target,
                        identity,
                        &record.access_token,
                        Status::SignedIn,
                        Vec::new(),
                        ctx,
                    );
                }
                let refusal = if refusal.is_retryable() {
                    refusal
                } else {
                    refuse!(AuthApiUnavailable, "the refresh failed: {}", refusal.message)
                };
                return self.refuse(&r, refusal, access, ctx, Vec::new());
            }
        };
        // Signed out here: the refresh that came before, replayed to a copy
        // of the cookies, does not bring the session back.
        let signed_out = session.as_ref().is_some_and(|s| self.is_ended(&s.id, ctx.now))
            || tokens
                .refresh_token
                .as_deref()
                .is_some_and(|rt| self.is_ended(&refresh_token_key(rt), ctx.now));
        if signed_out {
            ctx.event.refresh = Some(RefreshOutcome::Refused);
            let refusal = refuse!(RefreshTokenInvalid, "this session was signed out; sign in again");
            return self.refuse(&r, refusal, access, ctx, self.clear_session(&jar));
        }
        let id_token = match tokens.id_token.as_deref() {
            None => None,
            Some(id_token) => match self.verify(id_token, false, From::TokenEndpoint, ctx) {
                Verified::Ok(id) => Some(id),
                Verified::Need(need) => {
                    let via = Via::Refresh {
                        refresh,
                        session,
                        fallback,
                    };
                    return ctx.wait(need, Then::Tokens { req, via, tokens });
                }
                // Keys are down: keep the new tokens (the old refresh token is
                // spent) and answer 503; the access token's subject is checked
                // against the session on every request.
                Verified::Err(refusal) if refusal.reason.keeps_session() => {
                    return self.keep_unverified(&r, access, &jar, refresh, session, tokens, refusal, ctx)
                }
                Verified::Err(refusal) => {
                    let refusal = context(refusal, "the refreshed ID token was refused: ", "");
                    return self.reject_refresh(req, &tokens, refusal, ctx);
                }
            },
        };
        if let (Some(id), Some(record)) = (&id_token, &session) {
            let checked = oidc::check_refreshed_id_token(
                &id.claims,
                &self.config.client_id,
                record,
                ctx.now,
                self.config.policy().leeway + REFRESHED_ID_TOKEN_MAX_AGE,
            );
            if let Err(refusal) = checked {
                return self.reject_refresh(req, &tokens, refusal, ctx);
            }
        }
        match self.verify(&tokens.access_token, true, From::TokenEndpoint, ctx) {
            Verified::Ok(identity) => {
                if let Some(Err(refusal)) = session.as_ref().map(|s| bound_to_session(&identity, s)) {
                    let refusal = context(refusal, "the refreshed access token is not this session's: ", "");
                    return self.reject_refresh(req, &tokens, refusal, ctx);
                }
                let record = self.next_record(session, id_token.as_deref(), &identity, &tokens, ctx);
                let rotated = tokens.refresh_token.clone().unwrap_or(refresh.refresh_token);
                let cookies = match self.store_session(&jar, &record, &rotated, ctx) {
                    Ok(c) => c,
                    Err(refusal) => return self.refuse(&r, refusal, access, ctx, self.clear_session(&jar)),
                };
                ctx.event.refresh = Some(RefreshOutcome::Refreshed);
                self.signed_in(
                    target,
                    identity,
                    &tokens.access_token,
                    Status::Refreshed,
                    cookies,
                    ctx,
                )
            }
            Verified::Need(need) => {
                let via = Via::Refresh {
                    refresh,
                    session,
                    fallback,
                };
                ctx.wait(need, Then::Tokens { req, via, tokens })
            }
            Verified::Err(refusal) if refusal.reason.keeps_session() => {
                self.keep_unverified(&r, access, &jar, refresh, session, tokens, refusal, ctx)
            }
            Verified::Err(refusal) => {
                let refusal = context(
                    refusal,
                    "the provider's refreshed access token was refused: ",
                    "; check the verification settings",
                );
                self.reject_refresh(req, &tokens, refusal, ctx)
            }
        }
    }

    /// The key set is down after a refresh: the new tokens are stored unverified
    /// (the old refresh token is spent; the next request verifies the access
    /// token, and its subject against the session) and the answer is 503.
    #[allow(clippy::too_many_arguments)]
    fn keep_unverified(
        &mut self,
        r: &Request<'_>,
        access: Access,
        jar: &CookieJar,
        refresh: RefreshRecord,
        session: Option<SessionRecord>,
        tokens: TokenSet,
        refusal: Refusal,
        ctx: &mut Ctx,
    ) -> Step {
        ctx.event.refresh = Some(RefreshOutcome::Unavailable);
        let mut record = match session {
            Some(previous) => SessionRecord {
                access_token: tokens.access_token.clone(),
                access_expires_at: tokens.expires_in.map(|s| ctx.now.saturating_add(s)),
                ..previous
            },
            None => SessionRecord::legacy(tokens.access_token.clone()),
        };
        // A version 1 session joins the current format here: both cookies
        // get a session id, so they are bound to each other from now on.
        if record.id.is_empty() {
            record.id = ctx.entropy.token();
        }
        let rotated = tokens.refresh_token.unwrap_or(refresh.refresh_token);
        let cookies = self
            .store_session(jar, &record, &rotated, ctx)
            .unwrap_or_default();
        self.refuse(r, refusal, access, ctx, cookies)
    }

    /// Refused tokens from a refresh: revokes the refresh token received (it
    /// is someone else's, or untrustworthy) when the provider can revoke, then
    /// ends the session.
    fn reject_refresh(
        &mut self,
        req: OwnedRequest,
        tokens: &TokenSet,
        refusal: Refusal,
        ctx: &mut Ctx,
    ) -> Step {
        ctx.event.refresh = Some(RefreshOutcome::Rejected);
        let refusal = context(refusal, "", "; the session ended: sign in again");
        let endpoint = self
            .discovery
            .loaded
            .as_ref()
            .and_then(|(d, _)| d.revocation_endpoint.clone());
        if let (Some(received), Some(endpoint)) = (&tokens.refresh_token, endpoint) {
            let form = self.client().revocation_request(&endpoint, received);
            return ctx.suspend(post(form), Wait::Discard { req, refusal });
        }
        self.end_session(req, refusal, ctx)
    }

    /// Ends the request's session with `refusal`: cookies cleared.
    fn end_session(&mut self, req: OwnedRequest, refusal: Refusal, ctx: &mut Ctx) -> Step {
        let headers = req.headers();
        let r = borrow(&req, &headers);
        let access = self.resumed_target(&r, ctx).map_or(Access::Api, |(_, a)| a);
        let clear = self.clear_session(&jar(r.headers));
        self.refuse(&r, refusal, access, ctx, clear)
    }

    /// The session record after a refresh: the same session (id, subject,
    /// sign-in claims) with the new access token; a version 1 session gets
    /// its id and subject now.
    fn next_record(
        &self,
        previous: Option<SessionRecord>,
        id_token: Option<&Identity>,
        access: &Identity,
        tokens: &TokenSet,
        ctx: &mut Ctx,
    ) -> SessionRecord {
        match previous {
            Some(previous) if !previous.id.is_empty() => SessionRecord {
                access_token: tokens.access_token.clone(),
                access_expires_at: Some(access.exp),
                ..previous
            },
            _ => new_record(id_token, access, tokens, None, ctx),
        }
    }

    fn signed_in(
        &self,
        target: Target,
        identity: Arc<Identity>,
        token: &str,
        status: Status,
        set_cookies: Vec<SetCookie>,
        ctx: &mut Ctx,
    ) -> Step {
        ctx.event.expires_in = Some(identity.exp.saturating_sub(ctx.now));
        let action = match target {
            Target::Refresh => respond(204, Vec::new(), String::new()),
            Target::Session => {
                let body = serde_json::json!({
                    "signedIn": true,
                    "status": status.as_str(),
                    "expiresAt": identity.exp,
                    "identity": &*identity,
                });
                json(200, Vec::new(), &body)
            }
            _ => {
                let signing = ctx
                    .signed_request
                    .as_ref()
                    .map(|(method, target)| forward::Signing {
                        secret: self.config.forward_signing_secret.expose().as_bytes(),
                        method,
                        origin: &self.config.app_origin,
                        target,
                    });
                let headers = forward::identity_headers(&identity, token, signing.as_ref(), ctx.now);
                Action::Forward {
                    identity: Some(identity),
                    headers,
                    remove: &[],
                    body: true,
                }
            }
        };
        Step::Done(ctx.decide(status, None, action, set_cookies))
    }

    /// Answers a refusal per the [`Answer`] table; public routes forward
    /// anonymously instead.
    fn refuse(
        &self,
        req: &Request<'_>,
        refusal: Refusal,
        access: Access,
        ctx: &mut Ctx,
        set_cookies: Vec<SetCookie>,
    ) -> Step {
        let Refusal { reason, message } = refusal;
        if access == Access::Public && !matches!(reason, Reason::PathInvalid) {
            let status = if matches!(reason.http_status(), 502 | 503) {
                Status::Unavailable
            } else {
                Status::SignedOut
            };
            let action = anonymous_forward(ctx);
            return Step::Done(ctx.decide_because(status, Some(reason), Some(message), action, set_cookies));
        }
        let navigation = access == Access::Page && is_safe_method(req.method) && is_navigation(req.headers);
        let answer = Answer::for_reason(reason, navigation);
        let mut headers = Vec::new();
        let action = match answer {
            Answer::SignIn => {
                // The target was read when the request was classified.
                let back = request_target(req.url)
                    .map(|t| format!("{t}"))
                    .unwrap_or_else(|_| String::from("/"));
                let location = format!(
                    "{}/sign-in?redirect_url={}",
                    self.config.endpoint_prefix,
                    oidc::form_encode(&back)
                );
                headers.push((String::from("location"), location));
                respond(302, headers, String::new())
            }
            _ => {
                if answer == Answer::Unauthorized {
                    headers.push((
                        String::from("www-authenticate"),
                        www_authenticate(reason, &message),
                    ));
                }
                if answer == Answer::Unavailable {
                    headers.push((String::from("retry-after"), format!("{RETRY_AFTER}")));
                }
                let body = serde_json::json!({ "error": reason.code(), "message": &message });
                json(answer.http_status(), headers, &body)
            }
        };
        Step::Done(ctx.decide_because(answer.status(), Some(reason), Some(message), action, set_cookies))
    }

    // ---- sign-in and callback --------------------------------------------------

    fn sign_in(&mut self, req: &Request<'_>, query: &str, ctx: &mut Ctx) -> Step {
        let Some(keyring) = self.keyring.clone() else {
            return ctx.plain(404, NOT_ENABLED, None);
        };
        let discovery = match self.discovery(ctx.now) {
            Ok(d) => d,
            Err(Err(http)) => {
                return ctx.suspend(
                    http,
                    Wait::Fill(Fill::Discovery, Then::Request(OwnedRequest::new(req))),
                )
            }
            Err(Ok(refusal)) => return self.refuse(req, refusal, Access::Api, ctx, Vec::new()),
        };
        let return_to = query_param(query, "redirect_url")
            .and_then(|r| oidc::safe_return_path(&r, &self.config.app_origin))
            .unwrap_or_else(|| String::from("/"));
        let pkce = Pkce::from_random(ctx.entropy.next());
        let tx = Transaction {
            s: ctx.entropy.token(),
            n: ctx.entropy.token(),
            v: pkce.verifier.clone(),
            r: return_to,
        };
        let scopes: Vec<&str> = self.config.scopes.iter().map(String::as_str).collect();
        let mut extra: Vec<(&str, &str)> = self
            .config
            .authorization_params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        extra.extend(self.config.resources.iter().map(|r| ("resource", r.as_str())));
        let redirect_uri = self.config.redirect_uri();
        let location = discovery.authorize_url(&AuthorizeParams {
            client_id: &self.config.client_id,
            redirect_uri: &redirect_uri,
            scopes: &scopes,
            state: &tx.s,
            nonce: &tx.n,
            pkce: &pkce,
            extra: &extra,
        });
        let max_age = self.config.cookies.transaction_max_age;
        let plaintext = serde_json::to_vec(&tx).unwrap_or_default();
        let sealed = keyring.seal(
            &self.names.transaction,
            &plaintext,
            ctx.now + max_age,
            ctx.entropy.nonce(),
        );
        let jar = jar(req.headers);
        let cookies = match cookie::store(&jar, &self.template(&self.names.transaction, max_age), &sealed) {
            Ok(c) => c,
            Err(why) => return ctx.plain(500, &why, None),
        };
        let action = respond(
            302,
            alloc::vec![(String::from("location"), location)],
            String::new(),
        );
        Step::Done(ctx.decide(Status::Handshake, None, action, cookies))
    }

    fn callback(&mut self, req: &Request<'_>, query: &str, ctx: &mut Ctx) -> Step {
        let Some(keyring) = &self.keyring else {
            return ctx.plain(404, NOT_ENABLED, None);
        };
        let jar = jar(req.headers);
        let tx = jar
            .get_joined(&self.names.transaction)
            .and_then(|v| v.ok_or_else(|| refuse!(StateMismatch, "no sign-in is in progress in this browser (the transaction cookie is missing or expired); start again from sign-in")))
            .and_then(|sealed| keyring.open(&self.names.transaction, &sealed, ctx.now))
            .and_then(|plain| {
                serde_json::from_slice::<Transaction>(&plain)
                    .map_err(|_| refuse!(CookieUnsealable, "the transaction cookie does not hold a transaction"))
            });
        let tx = match tx {
            Ok(tx) => tx,
            Err(refusal) => return self.callback_failed(refusal, &jar, ctx),
        };
        let state = query_param(query, "state").unwrap_or_default();
        if !oidc::constant_time_eq(state.as_bytes(), tx.s.as_bytes()) {
            let refusal = refuse!(
                StateMismatch,
                "the callback's state is not the one this browser's sign-in sent; start again from sign-in"
            );
            return self.callback_failed(refusal, &jar, ctx);
        }
        // RFC 9207: a provider that names itself must be the configured one.
        if let Some(iss) = query_param(query, "iss") {
            if iss != self.config.issuer {
                let refusal = refuse!(
                    IssuerInvalid,
                    "the callback's iss {} is not the configured issuer",
                    crate::jwk::quoted(&iss)
                );
                return self.callback_failed(refusal, &jar, ctx);
            }
        }
        let discovery = match self.discovery(ctx.now) {
            Ok(d) => d,
            Err(Err(http)) => {
                return ctx.suspend(
                    http,
                    Wait::Fill(Fill::Discovery, Then::Request(OwnedRequest::new(req))),
                )
            }
            Err(Ok(refusal)) => return self.callback_failed(refusal, &jar, ctx),
        };
        // RFC 9207 §2.4: a provider that says it names itself must have done so.
        if discovery.iss_parameter_supported && query_param(query, "iss").is_none() {
            let refusal = refuse!(
                IssuerInvalid,
                "the callback has no iss, which the provider's metadata promises (RFC 9207: authorization_response_iss_parameter_supported); start again from sign-in"
            );
            return self.callback_failed(refusal, &jar, ctx);
        }
        if let Some(error) = query_param(query, "error") {
            let description = query_param(query, "error_description")
                .map(|d| format!(": {}", crate::jwk::quoted(&d)))
                .unwrap_or_default();
            let refusal = refuse!(
                CallbackError,
                "the provider answered the sign-in with {}{description}",
                crate::jwk::quoted(&error)
            );
            return self.callback_failed(refusal, &jar, ctx);
        }
        let Some(code) = query_param(query, "code").filter(|c| !c.is_empty()) else {
            let refusal = refuse!(CallbackError, "the callback has neither code nor error");
            return self.callback_failed(refusal, &jar, ctx);
        };
        let form = self.client().code_request(
            &discovery.token_endpoint,
            &code,
            &self.config.redirect_uri(),
            &tx.v,
        );
        ctx.suspend(
            post(form),
            Wait::Tokens {
                req: OwnedRequest::new(req),
                via: Via::Callback(tx),
            },
        )
    }

    fn finish_callback(
        &mut self,
        req: OwnedRequest,
        tx: Transaction,
        result: Result<TokenSet, Refusal>,
        ctx: &mut Ctx,
    ) -> Step {
        let headers = req.headers();
        let r = borrow(&req, &headers);
        let jar = jar(r.headers);
        let tokens = match result {
            Ok(tokens) => tokens,
            // For a code, invalid_grant means a spent or foreign code, not a session.
            Err(refusal) if refusal.reason == Reason::RefreshTokenInvalid => {
                let refusal = refuse!(CallbackError, "the code exchange failed: {}", refusal.message);
                return self.callback_failed(refusal, &jar, ctx);
            }
            Err(refusal) => return self.callback_failed(refusal, &jar, ctx),
        };
        let (id, identity) = match self.verify_issued(&tokens, &tx.n, ctx) {
            Issued::Both(id, access) => (id, access),
            Issued::Need(need) => {
                let then = Then::Tokens {
                    req,
                    via: Via::Callback(tx),
                    tokens,
                };
                return ctx.wait(need, then);
            }
            Issued::Err(refusal) => return self.callback_failed(refusal, &jar, ctx),
        };
        let record = new_record(Some(&id), &identity, &tokens, Some(&tx.n), ctx);
        let refresh = tokens.refresh_token.as_deref().unwrap_or("");
        let mut cookies = match self.store_session(&jar, &record, refresh, ctx) {
            Ok(c) => c,
            Err(refusal) => return self.callback_failed(refusal, &jar, ctx),
        };
        cookies.extend(self.clear(&jar, &self.names.transaction));
        ctx.event.expires_in = Some(identity.exp.saturating_sub(ctx.now));
        let action = respond(303, alloc::vec![(String::from("location"), tx.r)], String::new());
        Step::Done(ctx.decide(Status::SignedIn, None, action, cookies))
    }

    /// The ID token (signature, iss, exp, iat, aud = client id, azp, nonce)
    /// and the access token (the access policy) of a code exchange.
    fn verify_issued(&mut self, tokens: &TokenSet, nonce: &str, ctx: &mut Ctx) -> Issued {
        let Some(id_token) = tokens.id_token.as_deref() else {
            return Issued::Err(refuse!(
                CallbackError,
                "the token response has no id_token; the scopes must include openid"
            ));
        };
        let id = match self.verify(id_token, false, From::TokenEndpoint, ctx) {
            Verified::Ok(id) => id,
            Verified::Need(need) => return Issued::Need(need),
            Verified::Err(r) => return Issued::Err(context(r, "the ID token was refused: ", "")),
        };
        if let Err(refusal) = oidc::check_id_token_claims(&id.claims, &self.config.client_id, nonce) {
            return Issued::Err(refusal);
        }
        match self.verify(&tokens.access_token, true, From::TokenEndpoint, ctx) {
            Verified::Ok(access) => Issued::Both(id, access),
            Verified::Need(need) => Issued::Need(need),
            Verified::Err(r) => Issued::Err(context(
                r,
                "the access token was refused: ",
                "; Tessera needs JWT access tokens for this API (for some providers, set verification.audience)",
            )),
        }
    }

    /// A failed callback: 400, or 502 when the provider answered with
    /// something unusable, or 503 for outages, with a plain-text explanation.
    /// The transaction cookie is cleared, except after an outage, when the
    /// user may retry the same callback.
    fn callback_failed(&self, refusal: Refusal, jar: &CookieJar, ctx: &mut Ctx) -> Step {
        let (status, code, clear) = match refusal.reason.http_status() {
            503 => (503, Status::Unavailable, Vec::new()),
            502 => (502, Status::Unavailable, self.clear(jar, &self.names.transaction)),
            _ => (400, Status::Denied, self.clear(jar, &self.names.transaction)),
        };
        let text = format!(
            "Sign-in failed ({}): {}\nStart again at {}/sign-in\n",
            refusal.reason, refusal.message, self.config.endpoint_prefix
        );
        let mut headers = alloc::vec![(
            String::from("content-type"),
            String::from("text/plain; charset=utf-8")
        )];
        headers.push((String::from("cache-control"), String::from("no-store")));
        if status == 503 {
            headers.push((String::from("retry-after"), format!("{RETRY_AFTER}")));
        }
        let action = Action::Respond {
            status,
            headers,
            body: text,
        };
        Step::Done(ctx.decide_because(code, Some(refusal.reason), Some(refusal.message), action, clear))
    }

    // ---- sign-out --------------------------------------------------------------

    fn sign_out(&mut self, req: &Request<'_>, ctx: &mut Ctx) -> Step {
        if let Err(refusal) = csrf_check(
            req.method,
            req.headers,
            &self.config.app_origin,
            &self.allowed_origins(),
        ) {
            return self.refuse(req, refusal, Access::Api, ctx, Vec::new());
        }
        let jar = jar(req.headers);
        let refresh = self.open_refresh(&jar, ctx.now).ok().flatten();
        if let Ok(Some(session)) = self.open_session(&jar, ctx.now) {
            self.end(session.id, ctx.now);
        }
        // By its refresh token too: a version 1 session has no id, and a
        // replay of the refresh before this one returns this refresh token.
        if let Some(rt) = &refresh {
            self.end(refresh_token_key(&rt.refresh_token), ctx.now);
        }
        let discovery = match self.discovery(ctx.now) {
            Ok(d) => Some(d),
            Err(Err(http)) => {
                return ctx.suspend(
                    http,
                    Wait::Fill(Fill::Discovery, Then::Request(OwnedRequest::new(req))),
                )
            }
            // Signing out must work while the provider is down: clear locally.
            Err(Ok(_)) => None,
        };
        if let (Some(rt), Some(endpoint)) = (
            refresh,
            discovery.as_ref().and_then(|d| d.revocation_endpoint.as_deref()),
        ) {
            let form = self.client().revocation_request(endpoint, &rt.refresh_token);
            return ctx.suspend(post(form), Wait::Revocation(OwnedRequest::new(req)));
        }
        let owned = OwnedRequest::new(req);
        self.sign_out_done(&owned, discovery.as_ref(), ctx)
    }

    fn sign_out_done(&self, req: &OwnedRequest, discovery: Option<&Discovery>, ctx: &mut Ctx) -> Step {
        let headers = req.headers();
        let jar = jar(&headers);
        let mut cookies = self.clear_session(&jar);
        cookies.extend(self.clear(&jar, &self.names.transaction));
        let after = format!("{}{}", self.config.app_origin, self.config.after_sign_out_path);
        let location = discovery
            .and_then(|d| d.end_session_url(None, &self.config.client_id, &after))
            .unwrap_or_else(|| self.config.after_sign_out_path.clone());
        let action = respond(
            303,
            alloc::vec![(String::from("location"), location)],
            String::new(),
        );
        Step::Done(ctx.decide(Status::SignedOut, None, action, cookies))
    }

    // ---- keys, discovery and verification --------------------------------------

    fn check_token(&mut self, token: String, ctx: &mut Ctx) -> Step {
        match self.verify(&token, true, From::Client, ctx) {
            // A token is not a request to pass on: no identity headers.
            Verified::Ok(identity) => {
                ctx.event.expires_in = Some(identity.exp.saturating_sub(ctx.now));
                let action = Action::Forward {
                    identity: Some(identity),
                    headers: Vec::new(),
                    remove: &[],
                    body: true,
                };
                Step::Done(ctx.decide(Status::SignedIn, None, action, Vec::new()))
            }
            Verified::Need(need) => ctx.wait(need, Then::Token(token)),
            Verified::Err(refusal) => {
                let req = Request {
                    method: "GET",
                    url: "/",
                    headers: &[],
                };
                self.refuse(&req, refusal, Access::Api, ctx, Vec::new())
            }
        }
    }

    /// Verifies `token` with the access-token policy (`access`) or the ID-token
    /// policy, fetching keys as needed; `from` says where the token came from,
    /// which decides what an unknown `kid` costs ([`From`]).
    fn verify(&mut self, token: &str, access: bool, from: From, ctx: &mut Ctx) -> Verified {
        if access {
            if let Some(identity) = self.verifier.remembered(token, ctx.now) {
                ctx.event.memo_hit = true;
                return Verified::Ok(identity);
            }
        }
        if let Err(need) = self.keys(ctx) {
            // What is not even a JWS is refused without fetching any keys.
            if let Err(refusal) = crate::jws::parse(token) {
                return Verified::Err(refusal);
            }
            return need;
        }
        let verifier = if access {
            &mut self.verifier
        } else {
            &mut self.id_verifier
        };
        let signed = verifier.prepare(token).and_then(|prepared| {
            if !self.host_signatures.contains(&prepared.alg()) {
                return prepared.check_signature().map(Ok);
            }
            let key = prepared.key();
            let done = ctx.signatures.iter().find(|(c, _)| {
                c.key_id == key.key_id()
                    && c.alg == prepared.alg()
                    && c.signature == prepared.signature()
                    && c.signing_input == prepared.signing_input()
            });
            match done {
                // `host_checked` applies the precheck too.
                Some((_, valid)) => prepared.host_checked(*valid).map(Ok),
                // What needs no cryptography is refused here, without a host check.
                None => prepared.precheck().map(|()| {
                    Err(SignatureCheck {
                        alg: prepared.alg(),
                        key_id: key.key_id().to_owned(),
                        spki_der: key.spki_der().to_vec(),
                        signing_input: prepared.signing_input().to_vec(),
                        signature: prepared.signature().to_vec(),
                    })
                }),
            }
        });
        match signed {
            Ok(Ok(signed)) => match verifier.finish(signed, ctx.now) {
                Ok(identity) => Verified::Ok(identity),
                Err(refusal) => Verified::Err(refusal),
            },
            Ok(Err(check)) => Verified::Need(Need::Signature(check)),
            Err(refusal) if refusal.reason == Reason::KeyNotFound => {
                let kid = jws::parse(token).ok().and_then(|p| p.kid);
                match (kid, self.jwks.as_mut()) {
                    (Some(kid), Some(cache)) => {
                        let refetch = match from {
                            From::TokenEndpoint => cache.on_issued_kid(&kid, ctx.now),
                            From::Sealed => cache.on_sealed_kid(&kid, ctx.now),
                            From::Client => cache.on_unknown_kid(&kid, ctx.now),
                        };
                        match refetch {
                            UnknownKid::Refetch(request) => Verified::Need(Need::Fill(Fill::Keys, get(&request))),
                            // Another request is already refetching (a rotation seen
                            // by concurrent requests): wait for that fetch too.
                            UnknownKid::Refuse => match cache.in_flight(ctx.now) {
                                Some(request) => Verified::Need(Need::Fill(Fill::Keys, get(&request))),
                                None if from == From::TokenEndpoint => Verified::Err(refuse!(
                                    JwksUnavailable,
                                    "the provider issued a token signed with key {}, which its key set does not list yet; the new tokens are kept, retry shortly",
                                    crate::jwk::quoted(&kid)
                                )),
                                None => Verified::Err(refusal),
                            },
                        }
                    }
                    _ => Verified::Err(refusal),
                }
            }
            Err(refusal) => Verified::Err(refusal),
        }
    }

    /// Makes sure the verifiers hold usable keys.
    // Out of line on purpose: see "Start-up" in the crate docs.
    #[inline(never)]
    fn keys(&mut self, ctx: &mut Ctx) -> Result<(), Verified> {
        if self.static_keys {
            return Ok(());
        }
        if self.jwks.is_none() {
            match self.discovery(ctx.now) {
                Ok(_) => {}
                Err(Err(http)) => return Err(Verified::Need(Need::Fill(Fill::Discovery, http))),
                Err(Ok(refusal)) => return Err(Verified::Err(refusal)),
            }
        }
        let now = ctx.now;
        self.jwks_cache();
        let Some(cache) = self.jwks.as_mut() else {
            return Err(Verified::Err(refuse!(
                JwksUnavailable,
                "the key set location is not known yet"
            )));
        };
        let keys_use = match cache.lookup(now) {
            Lookup::Fresh(_) => KeysUse::Fresh,
            Lookup::Stale { refetch, .. } => {
                if let Some(request) = refetch {
                    ctx.background.push(Pending {
                        request: Some(get(&request)),
                        wait: Wait::Fill(Fill::Keys, Then::Idle),
                        event: Event::default(),
                        background: Vec::new(),
                        signatures: Vec::new(),
                    });
                }
                KeysUse::Stale
            }
            Lookup::Fetch(request) => return Err(Verified::Need(Need::Fill(Fill::Keys, get(&request)))),
            Lookup::Unavailable(refusal) => match cache.in_flight(now) {
                Some(request) => return Err(Verified::Need(Need::Fill(Fill::Keys, get(&request)))),
                None => {
                    ctx.event.keys = KeysUse::Unavailable;
                    return Err(Verified::Err(refusal));
                }
            },
        };
        if ctx.event.keys != KeysUse::Fetched {
            ctx.event.keys = keys_use;
        }
        self.sync_keys();
        Ok(())
    }

    /// Hands a changed key set to the verifiers, which forget every token
    /// they remembered: a token whose key was withdrawn must not keep passing
    /// from the memo. Called when the key set is fetched, not at the next
    /// miss (a remembered token never misses).
    fn sync_keys(&mut self) {
        let Some(cache) = self.jwks.as_ref() else { return };
        let generation = cache.generation();
        if generation != self.keys_generation {
            self.keys_generation = generation;
            let keys = cache.keys().cloned().unwrap_or_default();
            self.verifier.set_keys(keys.clone());
            self.id_verifier.set_keys(keys);
        }
    }

    fn jwks_cache(&mut self) -> Option<&mut JwksCache> {
        if self.jwks.is_none() {
            let (d, _) = self.discovery.loaded.as_ref()?;
            self.jwks = Some(JwksCache::new(d.jwks_uri.clone(), self.config.jwks));
        }
        self.jwks.as_mut()
    }

    /// The discovery document; `Err(Err(request))` to fetch it,
    /// `Err(Ok(refusal))` when it cannot be had now.
    fn discovery(&mut self, now: u64) -> Result<Discovery, Result<Refusal, HttpRequest>> {
        let cooldown = self.config.jwks.cooldown;
        let timeout = self.config.jwks.fetch_timeout_ms;
        let c = &mut self.discovery;
        if let Some((d, _)) = &c.loaded {
            return Ok(d.clone());
        }
        if let Some((at, refusal)) = &c.failed {
            if now < at.saturating_add(cooldown) {
                return Err(Ok(Refusal {
                    reason: refusal.reason,
                    message: format!("{} (retrying after the {cooldown} s cooldown)", refusal.message),
                }));
            }
        }
        Err(Err(HttpRequest {
            method: "GET",
            url: c.url.clone(),
            headers: alloc::vec![(String::from("accept"), String::from("application/json"))],
            body: None,
            timeout_ms: timeout,
            max_bytes: MAX_RESPONSE_BYTES,
        }))
    }

    fn fill(&mut self, fill: Fill, reply: Reply<'_>, ctx: &mut Ctx) {
        let now = ctx.now;
        match fill {
            Fill::Discovery => {
                let c = &mut self.discovery;
                let parsed = match reply {
                    Reply::Response {
                        status: 200..=299,
                        body,
                        ..
                    } if body.len() <= MAX_RESPONSE_BYTES => {
                        Discovery::parse(body, &self.config.issuer, self.keyring.is_some())
                            .map(|d| (d, String::from_utf8_lossy(body).into_owned()))
                    }
                    Reply::Response { status, .. } => Err(refuse!(
                        AuthApiUnavailable,
                        "{} answered HTTP {status} (or a body over {MAX_RESPONSE_BYTES} bytes)",
                        c.url
                    )),
                    Reply::Failed(why) => {
                        Err(refuse!(AuthApiUnavailable, "fetching {} failed: {why}", c.url))
                    }
                    Reply::Tokens(_) | Reply::Signature(_) | Reply::SignatureUnsupported => Err(refuse!(
                        AuthApiUnavailable,
                        "the discovery fetch got no HTTP reply"
                    )),
                };
                match parsed {
                    Ok(loaded) if c.loaded.is_none() => c.loaded = Some(loaded),
                    Ok(_) => {}
                    Err(refusal) => c.failed = Some((now, refusal)),
                }
            }
            Fill::Keys => {
                let Some(cache) = self.jwks.as_mut() else { return };
                let outcome = match reply {
                    Reply::Response {
                        status,
                        cache_control,
                        body,
                    } => FetchOutcome::Response {
                        status,
                        cache_control,
                        body,
                    },
                    Reply::Failed(why) => FetchOutcome::Failed(why),
                    Reply::Tokens(_) | Reply::Signature(_) | Reply::SignatureUnsupported => {
                        FetchOutcome::Failed("no HTTP reply")
                    }
                };
                if cache.on_fetched(now, outcome).is_ok() {
                    ctx.event.keys = KeysUse::Fetched;
                }
                self.sync_keys();
            }
        }
    }

    // ---- cookies -----------------------------------------------------------------

    /// Opens the sealed cookie `name`: `Ok(None)` when absent (or when no
    /// keyring is configured), a `cookie-unsealable` refusal when it cannot be
    /// opened.
    fn open(&self, jar: &CookieJar, name: &str, now: u64) -> Result<Option<(Vec<u8>, Format)>, Refusal> {
        let Some(keyring) = &self.keyring else {
            return Ok(None);
        };
        let Some(sealed) = jar.get_joined(name)? else {
            return Ok(None);
        };
        keyring.open_versioned(name, &sealed, now).map(Some)
    }

    /// The session cookie's record (a version 1 cookie read as one).
    fn open_session(&self, jar: &CookieJar, now: u64) -> Result<Option<SessionRecord>, Refusal> {
        let name = &self.names.session;
        self.open(jar, name, now)?
            .map(|(plain, format)| match format {
                Format::Current => SessionRecord::from_json(&plain),
                Format::Legacy => legacy_text(plain, name).map(SessionRecord::legacy),
            })
            .transpose()
    }

    /// The refresh cookie's record (a version 1 cookie read as one).
    fn open_refresh(&self, jar: &CookieJar, now: u64) -> Result<Option<RefreshRecord>, Refusal> {
        let name = &self.names.refresh;
        self.open(jar, name, now)?
            .map(|(plain, format)| match format {
                Format::Current => RefreshRecord::from_json(&plain),
                Format::Legacy => legacy_text(plain, name).map(|refresh_token| RefreshRecord {
                    id: String::new(),
                    refresh_token,
                }),
            })
            .transpose()
    }

    /// Remembers that session `id` was signed out (see [`Engine::is_ended`]).
    fn end(&mut self, id: String, now: u64) {
        if id.is_empty() {
            return;
        }
        let until = now
            .saturating_add(self.config.replay_window)
            .saturating_add(crate::refresh::LEAD_TIMEOUT);
        self.ended.retain(|_, u| now < *u);
        if self.ended.len() >= MAX_ENDED {
            if let Some(oldest) = self.ended.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone()) {
                self.ended.remove(&oldest);
            }
        }
        self.ended.insert(id, until);
    }

    /// Whether session `id` was signed out here within the time its last
    /// refresh can still be replayed (a copy of its cookies would get that
    /// refresh's tokens).
    fn is_ended(&self, id: &str, now: u64) -> bool {
        self.ended.get(id).is_some_and(|until| now < *until)
    }

    fn template(&self, name: &str, max_age: u64) -> SetCookie {
        SetCookie {
            secure: self.config.cookies.secure,
            same_site: self.config.cookies.same_site,
            ..SetCookie::new(name, "").max_age(max_age)
        }
    }

    fn clear(&self, jar: &CookieJar, name: &str) -> Vec<SetCookie> {
        cookie::clear(jar, &self.template(name, 0))
    }

    fn clear_session(&self, jar: &CookieJar) -> Vec<SetCookie> {
        let mut out = self.clear(jar, &self.names.session);
        out.extend(self.clear(jar, &self.names.refresh));
        out
    }

    /// Seals and stores the session record and (when not empty) the refresh
    /// token, bound to the record's session id.
    fn store_session(
        &self,
        jar: &CookieJar,
        record: &SessionRecord,
        refresh: &str,
        ctx: &mut Ctx,
    ) -> Result<Vec<SetCookie>, Refusal> {
        let Some(keyring) = &self.keyring else {
            return Err(refuse!(
                CookieUnsealable,
                "no cookieKeys are configured, so the session cannot be stored"
            ));
        };
        let max_age = self.config.cookies.session_max_age;
        let until = ctx.now.saturating_add(max_age);
        let mut out = Vec::new();
        let session = record.to_json();
        let refresh = if refresh.is_empty() {
            String::new()
        } else {
            RefreshRecord {
                id: record.id.clone(),
                refresh_token: String::from(refresh),
            }
            .to_json()
        };
        for (name, value) in [(&self.names.session, session), (&self.names.refresh, refresh)] {
            if value.is_empty() {
                out.extend(self.clear(jar, name));
                continue;
            }
            let sealed = keyring.seal(name, value.as_bytes(), until, ctx.entropy.nonce());
            let cookies = cookie::store(jar, &self.template(name, max_age), &sealed).map_err(|why| {
                refuse!(
                    CallbackError,
                    "the provider's tokens cannot be stored in cookies: {why}"
                )
            })?;
            out.extend(cookies);
        }
        Ok(out)
    }

    fn allowed_origins(&self) -> Vec<&str> {
        self.config.allowed_origins.iter().map(String::as_str).collect()
    }

    fn client(&self) -> Client<'_> {
        let secret = self.config.client_secret.expose();
        let auth = self.config.client_auth.unwrap_or(if secret.is_empty() {
            ClientAuth::None
        } else {
            ClientAuth::ClientSecretBasic
        });
        Client {
            id: &self.config.client_id,
            secret,
            auth,
        }
    }
}

impl Ctx {
    fn new(now: u64, seed: [u8; 32], mut event: Event) -> Ctx {
        event.now = now;
        Ctx {
            now,
            entropy: Entropy { seed, counter: 0 },
            event,
            background: Vec::new(),
            signatures: Vec::new(),
            pass_authorization: false,
            forward_preflight: false,
            signed_request: None,
        }
    }

    fn pending(&mut self, request: Option<HttpRequest>, wait: Wait) -> Pending {
        Pending {
            request,
            wait,
            event: self.event.clone(),
            background: core::mem::take(&mut self.background),
            signatures: core::mem::take(&mut self.signatures),
        }
    }

    fn suspend(&mut self, request: HttpRequest, wait: Wait) -> Step {
        Step::Fetch(self.pending(Some(request), wait))
    }

    /// Suspends until `need` is met, then runs `then`.
    fn wait(&mut self, need: Need, then: Then) -> Step {
        match need {
            Need::Fill(fill, request) => self.suspend(request, Wait::Fill(fill, then)),
            Need::Signature(check) => Step::Verify(self.pending(None, Wait::Signature(check, then))),
        }
    }

    fn decide(
        &mut self,
        status: Status,
        reason: Option<Reason>,
        action: Action,
        set_cookies: Vec<SetCookie>,
    ) -> Decision {
        self.decide_because(status, reason, None, action, set_cookies)
    }

    fn decide_because(
        &mut self,
        status: Status,
        reason: Option<Reason>,
        message: Option<String>,
        action: Action,
        set_cookies: Vec<SetCookie>,
    ) -> Decision {
        self.event.status = status;
        self.event.reason = reason.map(Reason::code);
        Decision {
            status,
            reason,
            message,
            action,
            set_cookies,
            event: self.event.clone(),
            background: Vec::new(),
        }
    }

    /// A plain-text answer outside the session flow (404, 405, configuration
    /// problems).
    fn plain(&mut self, status: u16, message: &str, extra: Option<(String, String)>) -> Step {
        let mut headers = alloc::vec![(
            String::from("content-type"),
            String::from("text/plain; charset=utf-8")
        )];
        headers.extend(extra);
        let action = respond(status, headers, format!("{message}\n"));
        Step::Done(self.decide_because(
            Status::Denied,
            None,
            Some(String::from(message)),
            action,
            Vec::new(),
        ))
    }

    /// Hands background work to the final decision (a suspended request
    /// carries it in its [`Pending`] until then).
    fn finish(self, step: Step) -> Step {
        match step {
            Step::Done(mut d) => {
                d.background = self.background;
                Step::Done(d)
            }
            other => other,
        }
    }
}

/// The ID-token policy: the access policy's issuers, algorithms and leeway;
/// audience = the client id (checked with nonce and azp by
/// [`oidc::check_id_token_claims`]).
fn id_token_policy(config: &TesseraConfig) -> Policy {
    let access = config.policy();
    Policy {
        issuers: access.issuers.clone(),
        algorithms: access.algorithms.clone(),
        leeway: access.leeway,
        // OpenID Connect Core 2: iat is REQUIRED in an ID token.
        required_claims: alloc::vec![String::from("iat")],
        // Without a client id there are no sessions, so no ID tokens (sign-in
        // and the callback need the keyring, which needs the client id).
        audiences: if config.client_id.is_empty() {
            Vec::new()
        } else {
            alloc::vec![config.client_id.clone()]
        },
        ..Policy::for_issuer(config.issuer.clone())
    }
}

fn borrow<'a>(req: &'a OwnedRequest, headers: &'a [(&'a str, &'a str)]) -> Request<'a> {
    Request {
        method: &req.method,
        url: &req.url,
        headers,
    }
}

/// The refusal with its message put in context.
fn context(refusal: Refusal, before: &str, after: &str) -> Refusal {
    Refusal {
        reason: refusal.reason,
        message: format!("{before}{}{after}", refusal.message),
    }
}

fn header_present(headers: &[(&str, &str)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

fn jar(headers: &[(&str, &str)]) -> CookieJar {
    let mut all = String::new();
    for (_, v) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("cookie")) {
        if !all.is_empty() {
            all.push_str("; ");
        }
        all.push_str(v);
    }
    CookieJar::parse(&all)
}

/// The `ended` key of a refresh token (its SHA-256, never the token).
fn refresh_token_key(refresh_token: &str) -> String {
    format!(
        "rt:{}",
        crate::hex::encode(&Sha256::digest(refresh_token.as_bytes()))
    )
}

/// A version 1 cookie's text.
fn legacy_text(plain: Vec<u8>, name: &str) -> Result<String, Refusal> {
    String::from_utf8(plain).map_err(|_| refuse!(CookieUnsealable, "cookie {name:?} does not hold text"))
}

/// A verified access token belongs to the session only if it names the
/// session's issuer and subject (fixed at sign-in).
fn bound_to_session(identity: &Identity, record: &SessionRecord) -> Result<(), Refusal> {
    if identity.iss != record.iss || identity.sub != record.expected_access_sub() {
        return Err(refuse!(
            ClaimInvalid,
            "the access token names {} at {}, but this session belongs to {} at {}",
            crate::jwk::quoted(&identity.sub),
            crate::jwk::quoted(&identity.iss),
            crate::jwk::quoted(record.expected_access_sub()),
            crate::jwk::quoted(&record.iss)
        ));
    }
    Ok(())
}

/// A new session's record: a fresh id; the subject and issuer of the ID token
/// (or of the access token, for a version 1 session refreshed without one).
fn new_record(
    id_token: Option<&Identity>,
    access: &Identity,
    tokens: &TokenSet,
    nonce: Option<&str>,
    ctx: &mut Ctx,
) -> SessionRecord {
    let subject = id_token.unwrap_or(access);
    let claim_u64 = |name: &str| {
        id_token
            .and_then(|i| i.claims.get(name))
            .and_then(serde_json::Value::as_u64)
    };
    SessionRecord {
        id: ctx.entropy.token(),
        iss: subject.iss.clone(),
        sub: subject.sub.clone(),
        access_sub: (access.sub != subject.sub).then(|| access.sub.clone()),
        signed_in_at: ctx.now,
        access_token: tokens.access_token.clone(),
        access_expires_at: Some(access.exp),
        id_token: IdTokenClaims {
            sid: id_token.and_then(|i| i.sid.clone()),
            auth_time: claim_u64("auth_time"),
            nonce: nonce.map(String::from),
        },
    }
}

/// Forwarding without a verified identity: the client's `Authorization`
/// header is removed (the origin is told `authorization` carries a verified
/// token) unless the route lets it through.
fn anonymous_forward(ctx: &Ctx) -> Action {
    Action::Forward {
        identity: None,
        headers: Vec::new(),
        remove: if ctx.pass_authorization {
            &[]
        } else {
            &["authorization"]
        },
        body: true,
    }
}

/// The first value of `name` in a query string, form-decoded; `None` when
/// absent or not valid UTF-8 after decoding.
fn query_param(query: &str, name: &str) -> Option<String> {
    let raw = query
        .split('&')
        .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))?;
    let mut out = Vec::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = core::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn get(request: &FetchRequest) -> HttpRequest {
    HttpRequest {
        method: "GET",
        url: request.url.clone(),
        headers: alloc::vec![(String::from("accept"), String::from("application/json"))],
        body: None,
        timeout_ms: request.timeout_ms,
        max_bytes: request.max_bytes,
    }
}

fn post(form: FormRequest) -> HttpRequest {
    let mut headers = alloc::vec![
        (
            String::from("content-type"),
            String::from("application/x-www-form-urlencoded"),
        ),
        (String::from("accept"), String::from("application/json")),
    ];
    if let Some(auth) = form.authorization {
        headers.push((String::from("authorization"), auth));
    }
    HttpRequest {
        method: "POST",
        url: form.url,
        headers,
        body: Some(form.body),
        timeout_ms: 5_000,
        max_bytes: MAX_RESPONSE_BYTES,
    }
}

fn respond(status: u16, mut headers: Vec<(String, String)>, body: String) -> Action {
    headers.push((String::from("cache-control"), String::from("no-store")));
    Action::Respond {
        status,
        headers,
        body,
    }
}

fn json(status: u16, mut headers: Vec<(String, String)>, body: &serde_json::Value) -> Action {
    headers.push((String::from("content-type"), String::from("application/json")));
    respond(status, headers, serde_json::to_string(body).unwrap_or_default())
}

const NOT_ENABLED: &str = "sign-in is not enabled: configure cookieKeys (TESSERA_COOKIE_KEYS)";
