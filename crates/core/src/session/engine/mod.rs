//! The per-request decision engine: the one place where routes, cookies,
//! verification, the key-set cache, OIDC and refresh come together.
//!
//! [`Engine`] is the one entry point; each flow has its file: `protect.rs`
//! (routes, credentials, the answer), `sign_in.rs` (sign-in and the
//! callback), `refresh.rs`, `sign_out.rs`, `keys.rs` (verification, the key
//! set, discovery) and `cookies.rs` (the session's cookies). This file holds
//! the types hosts see, the dispatch, and the state of one call.
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
//!                 "token_endpoint":"https://idp.example/token","jwks_uri":"https://idp.example/jwks",
//!                 "revocation_endpoint":"https://idp.example/revoke"}"#;
//!             engine.resume(pending, Reply::Response { status: 200, cache_control: None, body }, now, random)
//!         }
//!         _ => unreachable!(), // refresh, signature, body and store steps: not here
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
    www_authenticate, Action, Answer, Decision, Event, KeysUse, RefreshOutcome, Source, Status, StoreUse,
    RETRY_AFTER,
};
use crate::identity::Identity;
use crate::jwk::KeySet;
use crate::jwks_cache::{FetchOutcome, FetchRequest, JwksCache, JwksSnapshot, Lookup, UnknownKid};
use crate::oidc::{self, AuthorizeParams, Client, ClientAuth, Discovery, FormRequest, Pkce, TokenSet};
use crate::policy::Policy;
use crate::reason::{refuse, Reason, Refusal};
use crate::request::{
    access_token, bearer_token, csrf_check, is_navigation, is_safe_method, request_target, RequestTarget,
};
use crate::revocation::{Revocation, Revocations};
use crate::routes::{Access, Routes};
use crate::seal::{Format, Keyring};
use crate::session::{IdTokenClaims, RefreshRecord, SealedIdentity, SessionRecord};
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

mod backchannel;
mod cookies;
pub mod decision;
mod dpop;
mod introspect;
mod issuers;
mod keys;
mod protect;
mod refresh;
mod revoked;
mod sign_in;
mod sign_out;

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
    /// Concurrent requests with the same key may share one call and its
    /// reply: an introspection of one token (`introspect:<sha256>`). `GET`s
    /// (discovery, key set) are shared by URL without one; other `POST`s
    /// (code exchange, refresh, revocation) never are.
    pub share: Option<String>,
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
    /// For [`Step::Body`]: the request body, as read (up to the limit + 1).
    Body(&'a [u8]),
    /// For [`Step::Store`]: the operation's result, or why the store failed.
    Stored(Result<bool, &'a str>),
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
    /// The request's body is needed (the back-channel logout and revoke
    /// endpoints only):
    /// read at most [`Pending::body_limit`] bytes (one more shows it is too
    /// long) and resume with [`Reply::Body`].
    Body(Pending),
    /// A shared-store operation ([`Pending::store_op`]): do it and resume
    /// with [`Reply::Stored`]. A host without a shared store answers
    /// `Stored(Ok(true))`: the engine already did it in its own memory.
    Store(Pending),
    /// Nothing left to do (a background revalidation finished).
    Idle,
}

/// What the shared store is asked to do ([`Step::Store`]). The store keeps
/// what one instance does visible to all; the engine does each operation in
/// its own memory first, so one instance alone needs no store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Record `key` for `ttl` seconds unless it is already there (set if
    /// absent): `Stored(Ok(true))` if it was absent, `Ok(false)` if another
    /// instance recorded it first. One-time ids (a logout token's `jti`).
    Once {
        /// The key (`logout-jti:` and a hex SHA-256).
        key: String,
        /// Seconds to keep it.
        ttl: u64,
    },
    /// Keep each revocation under [`Revocation::key`] for
    /// [`Revocation::ttl`], and publish it to every instance, whose hosts
    /// hand it to [`Engine::revoked`]. Then `Stored(Ok(true))`.
    Revoke(Vec<Revocation>),
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
            share: None,
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

    /// The `now` the request was suspended at (unix seconds).
    pub fn now(&self) -> u64 {
        self.event.now
    }

    /// For [`Step::Store`]: the operation.
    pub fn store_op(&self) -> Option<&StoreOp> {
        match &self.wait {
            Wait::Store { op, .. } => Some(op),
            _ => None,
        }
    }

    /// For [`Step::Body`]: how many bytes of the body the engine reads.
    pub fn body_limit(&self) -> Option<usize> {
        match &self.wait {
            Wait::Body(_) => Some(crate::backchannel::MAX_BODY_BYTES),
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
    /// A revocation reply; then publish sign-out's revocations.
    Revocation(OwnedRequest, Vec<Revocation>),
    /// The revocation of tokens the provider returned and the engine
    /// refused; then end the session with `refusal` (a refresh), or fail the
    /// sign-in with it (`sign_in`: a callback).
    Discard {
        req: OwnedRequest,
        refusal: Refusal,
        sign_in: bool,
    },
    /// The host's signature check; then run `then` again.
    Signature(SignatureCheck, Then),
    /// An introspection answer for the token whose SHA-256 is `key`.
    Introspection { req: OwnedRequest, key: [u8; 32] },
    /// The userinfo answer for `tokens`' access token; then the tokens'
    /// checks, as if they had just come.
    Userinfo {
        req: OwnedRequest,
        via: Via,
        tokens: TokenSet,
    },
    /// The request body, for the endpoint that asked for it.
    Body(BodyFor),
    /// A store operation; then `then`.
    Store { op: StoreOp, then: AfterStore },
}

/// The endpoints that read a body.
#[derive(Clone, Copy)]
enum BodyFor {
    BackchannelLogout,
    Revoke,
}

/// What comes after a store operation.
enum AfterStore {
    /// A logout's revocations were published: record its `jti` (hex
    /// SHA-256 with its issuer) until `until`.
    LogoutPublished { key: String, until: u64 },
    /// The logout token's `jti` was recorded (or found): answer the provider.
    LogoutJti { key: String, until: u64 },
    /// Sign-out's revocations were published: finish signing out.
    SignOut(OwnedRequest),
    /// The revoke endpoint's revocation was published: answer with it.
    Revoked(Revocation),
    /// A DPoP proof's `jti` was recorded (or found) in the shared store:
    /// admit the request's verified identity, or refuse the replay.
    Dpop {
        req: OwnedRequest,
        identity: Arc<Identity>,
        token: String,
    },
}

#[derive(Clone, Copy)]
enum Fill {
    Discovery,
    /// The RFC 8414 metadata, for endpoints discovery lacks.
    Metadata,
    Keys,
    /// A trusted issuer's discovery document (where its key set is).
    TrustedDiscovery(usize),
    /// A trusted issuer's key set.
    TrustedKeys(usize),
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
    /// Checking a back-channel logout token.
    Logout(String),
    /// Nothing (background revalidation).
    Idle,
}

/// Why tokens were requested. (One lives per suspended request, moved
/// along, never in a collection: its size does not matter.)
#[allow(clippy::large_enum_variant)]
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
const READ_HEADERS: [&str; 8] = [
    "cookie",
    "authorization",
    "dpop",
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
    /// The matched route rule, whose requirements a verified identity must
    /// meet ([`crate::routes::Routes::requirements`]).
    rule: Option<usize>,
    /// A safe-method navigation (a browser loading a page): refusals that
    /// are not a sign-in get a page instead of JSON.
    navigation: bool,
    /// The credential came as `Authorization: DPoP` (RFC 9449): challenges
    /// use that scheme, and the token goes on under it.
    dpop: bool,
}

/// The provider's discovery document, fetched once per engine.
struct DiscoveryCache {
    url: String,
    loaded: Option<(Discovery, String)>,
    failed: Option<(u64, Refusal)>,
    /// Whether the RFC 8414 metadata answered for the endpoints discovery
    /// lacks (once per engine: a document, or a definite "none").
    metadata_asked: bool,
    /// When the metadata could last not be had (an outage): asked again
    /// after the key-set cooldown, not taken for "no such endpoints".
    metadata_failed: Option<u64>,
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
    BackchannelLogout,
    Revoke,
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
            Target::BackchannelLogout => "backchannel-logout",
            Target::Revoke => "revoke",
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
    /// Introspection answers, by the token's SHA-256.
    introspected: crate::introspection::Cache,
    discovery: DiscoveryCache,
    /// `None` with static keys.
    jwks: Option<JwksCache>,
    /// The trusted issuers' verifiers, in configuration order.
    trusted: Vec<issuers::Trusted>,
    static_keys: bool,
    keys_generation: u64,
    /// Algorithms whose signatures the host checks ([`Step::Verify`]).
    host_signatures: Vec<Alg>,
    /// The synchronous signature backend the verifiers use, for DPoP proofs too.
    backend: Option<Arc<dyn SignatureBackend>>,
    /// Revoked sessions and subjects, kept in step with the shared store by
    /// the host ([`Engine::revoked`]).
    revocations: Revocations,
    /// Logout tokens' ids seen here (hex SHA-256 of issuer and `jti`), until
    /// they are too old to be accepted anyway.
    logout_jtis: BTreeMap<String, u64>,
    /// DPoP proofs seen here, until they are too old to be accepted anyway.
    dpop_seen: dpop::Seen,
    /// The key DPoP nonces are derived from (`dpop.nonce`).
    dpop_nonce_key: Option<[u8; 32]>,
}

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
        let url = discovery_url(&config.issuer);
        let mut trusted = Vec::with_capacity(config.trusted_issuers.len());
        for t in &config.trusted_issuers {
            trusted.push(issuers::Trusted::new(t, &config)?);
        }
        Ok(Engine {
            names: config.cookie_names(),
            keyring: config
                .keyring()
                .map(|k| k.bound_to(&config.app_origin, &config.issuer)),
            routes,
            verifier,
            id_verifier,
            introspected: crate::introspection::Cache::new(config.memo.capacity),
            discovery: DiscoveryCache {
                url,
                loaded: None,
                failed: None,
                metadata_asked: false,
                metadata_failed: None,
            },
            jwks: None,
            trusted,
            static_keys,
            keys_generation: 0,
            host_signatures: Vec::new(),
            backend: None,
            revocations: Revocations::new(crate::revocation::DEFAULT_CAPACITY),
            logout_jtis: BTreeMap::new(),
            dpop_seen: dpop::Seen::default(),
            dpop_nonce_key: config
                .keyring()
                .filter(|_| config.dpop.nonce)
                .map(|k| k.derive("tessera dpop nonce")),
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
        for t in &mut self.trusted {
            t.verifier.set_backend(backend.clone());
        }
        self.id_verifier = self.id_verifier.with_backend(backend.clone());
        self.backend = Some(backend);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TesseraConfig {
        &self.config
    }

    /// Whether new sessions are built on the ID token (`session.identity`).
    fn id_token_sessions(&self) -> bool {
        self.config.session.identity == crate::config::SessionIdentity::IdToken
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
        let identity = self.verifier.remembered(token, now)?;
        // A revoked identity, or a bound one (it passes only with a proof for
        // a request), is not answered from here: `verify_token` says why.
        (!dpop::bound(&identity) && self.identity_check(&identity, now) == revoked::Check::Clear)
            .then_some(identity)
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
            Wait::Introspection { req, key } => self.finish_introspection(req, key, reply, &mut ctx),
            Wait::Userinfo { req, via, mut tokens } => {
                tokens.userinfo = Some(match reply {
                    Reply::Response { status, body, .. } => oidc::userinfo_response(status, body),
                    Reply::Failed(why) => Err(refuse!(
                        AuthApiUnavailable,
                        "the userinfo endpoint could not be reached: {why}"
                    )),
                    _ => Err(refuse!(
                        AuthApiUnavailable,
                        "the userinfo request got no HTTP reply"
                    )),
                });
                self.on_tokens(req, via, Ok(tokens), &mut ctx)
            }
            Wait::Revocation(req, revocations) => {
                // RFC 7009 §2.2: 200 whether or not the token was valid;
                // anything else (or no answer) still signs the user out here.
                ctx.event.revoked = matches!(reply, Reply::Response { status: 200, .. });
                let revoked = ctx.event.revoked;
                self.publish_sign_out(req, revocations, revoked, &mut ctx)
            }
            Wait::Body(endpoint) => {
                let body = match reply {
                    Reply::Body(body) => body,
                    _ => b"",
                };
                match endpoint {
                    BodyFor::BackchannelLogout => self.backchannel_logout(body, &mut ctx),
                    BodyFor::Revoke => self.revoke_endpoint(body, &mut ctx),
                }
            }
            Wait::Store { then, .. } => {
                let stored = match reply {
                    Reply::Stored(result) => result,
                    _ => Err("the host answered a store operation with something else"),
                };
                if stored.is_err() {
                    ctx.event.store = Some(StoreUse::Error);
                }
                self.after_store(then, stored, &mut ctx)
            }
            Wait::Discard {
                req,
                refusal,
                sign_in,
            } => {
                ctx.event.revoked = matches!(reply, Reply::Response { status: 200, .. });
                if sign_in {
                    let headers = req.headers();
                    self.exchange_failed(refusal, &jar(&headers), &mut ctx)
                } else {
                    self.end_session(req, refusal, &mut ctx)
                }
            }
        };
        ctx.finish(step)
    }

    // Out of line: a verification never resumes with it, so a fresh
    // instance's first one need not compile it (V8 compiles a function on
    // its first call, whole).
    #[inline(never)]
    fn resume_tokens(&mut self, req: OwnedRequest, via: Via, reply: Reply<'_>, ctx: &mut Ctx) -> Step {
        let result = match reply {
            Reply::Tokens(result) => result,
            Reply::Response { status, body, .. } => oidc::token_response(status, body),
            Reply::Failed(why) => Err(oidc::token_endpoint_unreachable(why)),
            _ => Err(refuse!(AuthApiUnavailable, "the token request got no HTTP reply")),
        };
        self.on_tokens(req, via, result, ctx)
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
                if let Ok(mut d) =
                    Discovery::parse(raw.as_bytes(), &self.config.issuer, self.keyring.is_some())
                {
                    d.revocation_endpoint = self.config.revocation_endpoint.clone().or(d.revocation_endpoint);
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

    /// The index of the route rule deciding `method` and `url` when that rule
    /// has requirements (`routes[].require`), else `None`: for hosts that
    /// must check a second spelling of a request, whose requirements the
    /// identity was not checked against unless it is the same rule.
    ///
    /// ```
    /// use tessera_core::engine::Engine;
    /// use tessera_core::config::TesseraConfig;
    /// let config = TesseraConfig::from_json(r#"{"issuer":"https://auth.example.com",
    ///     "verification":{"audience":"api"},
    ///     "routes":[{"pattern":"/admin/**","access":"api","require":{"roles":["admin"]}}]}"#).unwrap();
    /// let engine = Engine::new(config).unwrap();
    /// assert_eq!(engine.requiring_rule("GET", "/admin/users"), Some(0));
    /// assert_eq!(engine.requiring_rule("GET", "/home"), None);
    /// ```
    pub fn requiring_rule(&self, method: &str, url: &str) -> Option<usize> {
        let mut ctx = Ctx::new(0, [0; 32], Event::default());
        let target = request_target(url).and_then(|t| self.target(method, t.path, &mut ctx));
        match target {
            Ok(Target::Route(..)) => ctx.rule.filter(|_| self.routes.requirements(ctx.rule).is_some()),
            _ => None,
        }
    }

    /// Key-set cache counters, once the key set is known.
    pub fn jwks_stats(&self) -> Option<crate::jwks_cache::JwksCacheStats> {
        self.jwks.as_ref().map(JwksCache::stats)
    }

    fn run(&mut self, req: &Request<'_>, ctx: &mut Ctx) -> Step {
        let (target, query) = match request_target(req.url) {
            Ok(t) => {
                self.keep_signed_request(req.method, &t, ctx);
                ctx.navigation = is_safe_method(req.method) && is_navigation(req.headers);
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
            Target::Refresh | Target::SignOut | Target::BackchannelLogout | Target::Revoke => "POST",
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
            // The body is read only now, for this endpoint alone.
            Target::BackchannelLogout => Step::Body(ctx.pending(None, Wait::Body(BodyFor::BackchannelLogout))),
            Target::Revoke => match self.revoke_authorized(req) {
                Ok(()) => Step::Body(ctx.pending(None, Wait::Body(BodyFor::Revoke))),
                Err(refusal) => self.refuse(req, refusal, Access::Api, ctx, Vec::new()),
            },
            Target::UnknownEndpoint => ctx.plain(
                404,
                "no such Tessera endpoint: use sign-in, callback, refresh, session, sign-out or backchannel-logout",
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
        ctx.rule = route.rule;
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
            "/backchannel-logout" => Target::BackchannelLogout,
            // Only when configured: otherwise there is no such endpoint.
            "/revoke" if !self.config.revoke_secret.is_empty() => Target::Revoke,
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
            Then::Logout(token) => self.check_logout_token(token, ctx),
            Then::Idle => Step::Idle,
        }
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
            rule: None,
            navigation: false,
            dpop: false,
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

    /// Suspends on a store operation, then runs `then`.
    fn store(&mut self, op: StoreOp, then: AfterStore) -> Step {
        Step::Store(self.pending(None, Wait::Store { op, then }))
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
/// Where the discovery document of `issuer` is. A multi-tenant template
/// (Entra's `…/{tenantid}/v2.0`) is read at its `organizations` document,
/// whose `issuer` is the template itself (work and school accounts of any
/// tenant; a single-tenant app configures its tenant's own issuer instead).
fn discovery_url(issuer: &str) -> String {
    let issuer = issuer.replace(crate::claims::TENANT_PLACEHOLDER, "organizations");
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

fn id_token_policy(config: &TesseraConfig) -> Policy {
    let access = config.policy();
    let mut required_claims = alloc::vec![String::from("iat")];
    let mut claim_values = BTreeMap::new();
    if config.session.identity == crate::config::SessionIdentity::IdToken {
        required_claims.extend(config.session.id_token_required_claims.iter().cloned());
        claim_values = config.session.id_token_claim_values.clone();
    }
    Policy {
        claim_values,
        issuers: access.issuers.clone(),
        algorithms: access.algorithms.clone(),
        leeway: access.leeway,
        // OpenID Connect Core 2: iat is REQUIRED in an ID token.
        required_claims,
        // Without a client id there are no sessions, so no ID tokens (sign-in
        // and the callback need the keyring, which needs the client id).
        audiences: if config.client_id.is_empty() {
            Vec::new()
        } else {
            alloc::vec![config.client_id.clone()]
        },
        // Roles and permissions are where the profile (or the
        // configuration) says, in ID tokens as in access tokens.
        provider: access.provider,
        role_claims: access.role_claims.clone(),
        permission_claims: access.permission_claims.clone(),
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
        share: None,
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
        share: None,
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    /// Origin servers share an engine across threads (behind a lock): its
    /// caches and signature backend must keep it `Send + Sync`.
    #[test]
    fn engines_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<super::Engine>();
    }
}
