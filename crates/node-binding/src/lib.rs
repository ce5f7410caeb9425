//! The Tessera engine for JavaScript hosts: the exports that `tessera-edge`
//! (`js/`) drives. Sans-IO like the core: JavaScript does every fetch, the
//! clock, randomness and native signature checks, and feeds the results back.
//!
//! A [`Core`] wraps one [`Engine`]. `handle`/`verifyToken` return a *step*
//! (a plain object with a `kind`):
//!
//! | `kind` | the host… |
//! |---|---|
//! | `done` | applies `decision` (and runs its `background` fetch steps) |
//! | `verdict` | (`verifyToken` only) reads `identity` or `reason`, runs `background` |
//! | `fetch` | makes `request` and calls `resumeResponse`/`resumeFailed` with `id` |
//! | `refresh` | calls `refreshBegin(id)`: one refresh per session, see below |
//! | `verify` | checks the signature in `bytes` natively, calls `resumeSignature(id, valid)` (`valid` undefined: it cannot check this algorithm) |
//! | `body` | reads at most `limit + 1` bytes of the request body, calls `resumeBody(id, bytes)` |
//! | `store` | does `op` in the shared store (`once`: set `key` if absent; `revoke`: keep and publish each record), calls `resumeStored(id, result, error)` |
//! | `idle` | nothing (a background revalidation finished) |
//!
//! Suspended requests live here under their `id` until resumed; a host that
//! abandons one (its request was cancelled) calls `forget(id)`.
//!
//! Refresh coordination uses the core's [`RefreshCoordinator`]:
//! `refreshBegin` answers `lead` (make the token request, then
//! `refreshFinish`), `join` (another request of this process is refreshing
//! this session: wait for its outcome, keyed by `key`, then `resumeTokens`),
//! or replays a recent outcome and returns the next step directly. With a
//! shared store the leader of each process coordinates through it, the
//! outcome sealed with the flight's `secret`, and resumes with
//! `resumeTokens` too.
//!
//! Every export that returns a JavaScript value returns it as a `Result`,
//! even where it cannot fail, except `verifyRemembered` (the memo's hit
//! path), which never calls into JavaScript. Node 20's V8 inlines calls to
//! WebAssembly functions with one `externref` result into the optimized
//! JavaScript that calls them, and aborts the process ("unreachable code" in
//! `Deoptimizer::DoComputeBuiltinContinuation`) when that JavaScript is
//! deoptimized while the call is running, which happens when the engine calls
//! back into JavaScript (the synchronous signature check, `JSON.parse`). A
//! `Result` is returned as several values, which V8 does not inline.
//! `js/test/deopt.test.mjs` provokes exactly that deoptimization.

#![forbid(unsafe_code)]

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use tessera_core::backend::SignatureBackend;
use tessera_core::config::TesseraConfig;
use tessera_core::decision::{Action, Decision, Event};
use tessera_core::engine::{Engine, HttpRequest, Pending, Reply, Request, Snapshot, Step, StoreOp};
use tessera_core::oidc::{self, TokenSet};
use tessera_core::refresh::{busy, RefreshCoordinator, Ticket};
use tessera_core::revocation::Revocation;
use tessera_core::routes::Access;
use tessera_core::{Alg, Identity, PublicKey, Reason, Refusal};
use wasm_bindgen::prelude::*;

type Outcome = Result<TokenSet, Refusal>;

/// One app's engine and the requests suspended in it.
#[wasm_bindgen]
pub struct Core {
    engine: Engine,
    /// Suspended requests by id, and whether each came from `verifyToken`
    /// (its decision is then a verdict).
    pending: BTreeMap<u32, (Pending, bool)>,
    next_id: u32,
    refresh: RefreshCoordinator,
    /// Tessera's cookie names (session, refresh, transaction), computed once
    /// for `stripCookies`, which runs per forwarded request.
    cookie_names: [String; 3],
    /// The JavaScript identity of each remembered token, built once per memo
    /// entry and keyed by the address of the engine's `Arc<Identity>` (held
    /// here, so the address is not reused while the entry lives).
    identities: BTreeMap<usize, (Arc<Identity>, JsValue)>,
    /// Size at which `identities` drops what the memo has let go of.
    prune_at: usize,
    /// The token of the last `verifyRemembered` that found nothing, for
    /// `verifyToken` to verify without a second copy.
    missed: String,
    /// Property names read and set on every new token's step, as JavaScript
    /// strings made once (each `&str` crossing is a `TextDecoder` call).
    names: Names,
}

struct Names {
    bytes: JsValue,
    decision: JsValue,
    identity: JsValue,
}

/// The smallest `prune_at`: below it, pruning is not worth a scan.
const PRUNE_MIN: usize = 256;

/// A configuration error, thrown to JavaScript as `{ field, message }`.
#[derive(Serialize)]
struct ConfigProblem<'a> {
    field: &'a str,
    message: &'a str,
}

#[wasm_bindgen]
impl Core {
    /// Loads `config` (the shared JSON schema) and hands the signature checks of
    /// `host_algs` (JOSE names) to the host: synchronously through `check`
    /// when given (`(alg, keyId, spki, signingInput, signature) => boolean`,
    /// e.g. `node:crypto.verify`), else as `verify` steps (WebCrypto is
    /// asynchronous). Throws `{ field, message }`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: &str,
        host_algs: Vec<String>,
        check: Option<js_sys::Function>,
    ) -> Result<Core, JsValue> {
        let problem = |field: &str, message: &str| to_js(&ConfigProblem { field, message });
        let config = TesseraConfig::from_json(config).map_err(|e| problem(&e.field, &e.message))?;
        let algs = host_algs
            .iter()
            .map(|name| Alg::from_name(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| problem("signatures", e))?;
        let replay_window = config.replay_window;
        let n = config.cookie_names();
        let cookie_names = [n.session, n.refresh, n.transaction];
        let engine = Engine::new(config).map_err(|e| problem(&e.field, &e.message))?;
        let engine = match check {
            Some(check) => engine.with_signature_backend(Arc::new(JsBackend {
                algs,
                check: check.unchecked_into(),
            })),
            None => engine.with_host_signatures(&algs),
        };
        Ok(Core {
            engine,
            pending: BTreeMap::new(),
            next_id: 0,
            refresh: RefreshCoordinator::new(replay_window),
            cookie_names,
            identities: BTreeMap::new(),
            prune_at: PRUNE_MIN,
            missed: String::new(),
            names: Names {
                bytes: "bytes".into(),
                decision: "decision".into(),
                identity: "identity".into(),
            },
        })
    }

    /// Decides a request. `headers` is flat: `[name, value, name, value, …]`.
    pub fn handle(
        &mut self,
        method: &str,
        url: &str,
        headers: Vec<String>,
        now: f64,
        random: &[u8],
    ) -> Result<JsValue, JsValue> {
        let pairs: Vec<(&str, &str)> = headers
            .chunks_exact(2)
            .map(|p| (p[0].as_str(), p[1].as_str()))
            .collect();
        let req = Request {
            method,
            url,
            headers: &pairs,
        };
        let step = self.engine.handle(&req, secs(now), seed(random)?);
        Ok(self.step(step, false))
    }

    /// Verifies a bearer token on its own ([`Engine::verify_token`]); ends in
    /// a `verdict` step. `token` undefined: the token of the last
    /// `verifyRemembered` that found nothing, so a new token crosses into
    /// WebAssembly once, not twice (each crossing copies it character by
    /// character).
    #[wasm_bindgen(js_name = verifyToken)]
    pub fn verify_token(&mut self, token: Option<String>, now: f64) -> Result<JsValue, JsValue> {
        let token = token.unwrap_or_else(|| core::mem::take(&mut self.missed));
        let step = self.engine.verify_token(&token, secs(now));
        Ok(self.step(step, true))
    }

    /// A repeat of a verified token ([`Engine::remembered`]): its identity
    /// object as `verifyToken` gave it, or `undefined` (then call
    /// `verifyToken`). The object was built once per memo entry, when the
    /// token was verified; the host freezes it. This is the memo's hit path:
    /// the one export that returns a JavaScript value directly rather than
    /// as a `Result` (see the module docs), which it may because it never
    /// calls into JavaScript (an identity not built yet is `undefined`).
    #[wasm_bindgen(js_name = verifyRemembered)]
    pub fn verify_remembered(&mut self, token: String, now: f64) -> JsValue {
        let identity = self.engine.remembered(&token, secs(now));
        match self.cached_identity(identity.as_ref()) {
            Some(identity) => identity,
            None => {
                self.missed = token;
                JsValue::UNDEFINED
            }
        }
    }

    /// Continues `id` with an HTTP response (`body` as read, at most
    /// `maxBytes + 1` bytes).
    #[wasm_bindgen(js_name = resumeResponse)]
    pub fn resume_response(
        &mut self,
        id: u32,
        status: u16,
        cache_control: Option<String>,
        body: &[u8],
        now: f64,
        random: &[u8],
    ) -> Result<JsValue, JsValue> {
        let reply = Reply::Response {
            status,
            cache_control: cache_control.as_deref(),
            body,
        };
        self.resume_js(id, reply, now, random)
    }

    /// Continues `id` after its request got no response (`why`: network
    /// error, timeout, oversized body).
    #[wasm_bindgen(js_name = resumeFailed)]
    pub fn resume_failed(&mut self, id: u32, why: &str, now: f64, random: &[u8]) -> Result<JsValue, JsValue> {
        self.resume_js(id, Reply::Failed(why), now, random)
    }

    /// Continues a `body` step with the request body as read (at most its
    /// `limit + 1` bytes).
    #[wasm_bindgen(js_name = resumeBody)]
    pub fn resume_body(&mut self, id: u32, body: &[u8], now: f64, random: &[u8]) -> Result<JsValue, JsValue> {
        self.resume_js(id, Reply::Body(body), now, random)
    }

    /// Continues a `store` step: `result` (`once`: whether the key was
    /// absent; `revoke`: true), or `error` when the store failed.
    #[wasm_bindgen(js_name = resumeStored)]
    pub fn resume_stored(
        &mut self,
        id: u32,
        result: bool,
        error: Option<String>,
        now: f64,
        random: &[u8],
    ) -> Result<JsValue, JsValue> {
        let stored = match &error {
            Some(why) => Err(why.as_str()),
            None => Ok(result),
        };
        self.resume_js(id, Reply::Stored(stored), now, random)
    }

    /// Adds revocation records the shared store handed over (a bulk load, or
    /// one published), one JSON record per line; returns how many were
    /// valid (the others are ignored).
    #[wasm_bindgen(js_name = revokedAll)]
    pub fn revoked_all(&mut self, records: &str, now: f64) -> usize {
        self.engine.revoked_lines(records, secs(now))
    }

    /// Revokes `kind` (`sid`, `sub` or `session`) `value` from now on, and
    /// returns the record to publish (`{ key, ttl, record }`); throws a
    /// message for an unknown kind or an empty value.
    pub fn revoke(&mut self, kind: &str, value: &str, now: f64) -> Result<JsValue, JsValue> {
        match self.engine.revoke_named(kind, value, secs(now)) {
            Ok(r) => Ok(to_js(&RecordJs::of(&r, secs(now)))),
            Err(refusal) => Err(refusal.message.into()),
        }
    }

    /// Whether this instance holds every revocation (`since` undefined), or
    /// not since `since` (unix seconds): see `Engine::set_revocations_unknown_since`.
    #[wasm_bindgen(js_name = setRevocationsUnknownSince)]
    pub fn set_revocations_unknown_since(&mut self, since: Option<f64>) {
        self.engine.set_revocations_unknown_since(since.map(secs));
    }

    /// Revocations held, and live ones dropped because the set was full.
    #[wasm_bindgen(js_name = revocationStats)]
    pub fn revocation_stats(&self) -> Vec<f64> {
        vec![
            self.engine.revocation_count() as f64,
            self.engine.revocations_dropped() as f64,
        ]
    }

    /// Continues `id` with the host's signature verdict; `valid` undefined:
    /// the host cannot check this algorithm, so the engine checks it (and every
    /// later signature of the algorithm) itself.
    #[wasm_bindgen(js_name = resumeSignature)]
    pub fn resume_signature(
        &mut self,
        id: u32,
        valid: Option<bool>,
        now: f64,
        random: &[u8],
    ) -> Result<JsValue, JsValue> {
        let reply = valid.map_or(Reply::SignatureUnsupported, Reply::Signature);
        self.resume_js(id, reply, now, random)
    }

    /// Starts the refresh of `id`: `{ kind: "lead", key }`, `{ kind: "join",
    /// key }`, or (a recent outcome replayed) the next step.
    #[wasm_bindgen(js_name = refreshBegin)]
    pub fn refresh_begin(&mut self, id: u32, now: f64, random: &[u8]) -> Result<JsValue, JsValue> {
        let random = seed(random)?;
        let Some(token) = self.pending.get(&id).and_then(|(p, _)| p.refresh_token()) else {
            return Ok(self.resume(id, Reply::Tokens(Err(busy())), now, random));
        };
        let key = flight_key(token);
        let secret = tessera_core::b64::encode(&tessera_core::refresh::outcome_secret(token));
        Ok(match self.refresh.begin(token, secs(now)) {
            Ticket::Replay(outcome) => self.resume(id, Reply::Tokens(outcome), now, random),
            Ticket::Lead => to_js(&Flight {
                kind: "lead",
                key,
                secret,
            }),
            Ticket::Join => to_js(&Flight {
                kind: "join",
                key,
                secret,
            }),
        })
    }

    /// Finishes the refresh `id` leads with the token endpoint's response
    /// (`status`, `body`) or with `failed` (no response). Returns `{ outcome,
    /// step }`: `outcome` (JSON) is for the requests that joined, `step` is
    /// this request's next step.
    #[wasm_bindgen(js_name = refreshFinish)]
    pub fn refresh_finish(
        &mut self,
        id: u32,
        status: u16,
        body: &[u8],
        failed: Option<String>,
        now: f64,
        random: &[u8],
    ) -> Result<JsValue, JsValue> {
        let random = seed(random)?;
        let outcome: Outcome = match failed {
            Some(why) => Err(oidc::token_endpoint_unreachable(&why)),
            None => oidc::token_response(status, body),
        };
        if let Some(token) = self.pending.get(&id).and_then(|(p, _)| p.refresh_token()) {
            self.refresh.complete(token, secs(now), outcome.clone());
        }
        let outcome_json = serde_json::to_string(&outcome).unwrap_or_default();
        let step = self.resume(id, Reply::Tokens(outcome), now, random);
        let finished = js_sys::Object::new();
        // Setting a property on a fresh plain object does not fail.
        let _ = js_sys::Reflect::set(&finished, &"outcome".into(), &outcome_json.into());
        let _ = js_sys::Reflect::set(&finished, &"step".into(), &step);
        Ok(finished.into())
    }

    /// Continues a request that joined another's refresh with that refresh's
    /// `outcome` (the JSON `refreshFinish` returned, in this process or, with
    /// a shared store, in another). A missing or unreadable outcome is an
    /// outage (retry), never a sign-out.
    #[wasm_bindgen(js_name = resumeTokens)]
    pub fn resume_tokens(
        &mut self,
        id: u32,
        outcome: Option<String>,
        now: f64,
        random: &[u8],
    ) -> Result<JsValue, JsValue> {
        let outcome = outcome
            .and_then(|o| serde_json::from_str::<Outcome>(&o).ok())
            .unwrap_or_else(|| Err(busy()));
        // This process's coordinator learns the outcome too (it may come from
        // another process, through the shared store): late requests here
        // replay it, and this process's own lead, if any, is over.
        if let Some(token) = self.pending.get(&id).and_then(|(p, _)| p.refresh_token()) {
            self.refresh.complete(token, secs(now), outcome.clone());
        }
        self.resume_js(id, Reply::Tokens(outcome), now, random)
    }

    /// The configuration's warnings (`TesseraConfig::warnings`), as
    /// `[{ field, message }]`.
    #[wasm_bindgen(getter)]
    pub fn warnings(&self) -> JsValue {
        let warnings = self.engine.config().warnings();
        let list: Vec<ConfigProblem<'_>> = warnings
            .iter()
            .map(|w| ConfigProblem {
                field: &w.field,
                message: &w.message,
            })
            .collect();
        to_js(&list)
    }

    /// What the route of `method` and `url` requires (`Engine::classify`):
    /// `"public"`, `"page"`, `"api"`, or `"invalid"` for a target the engine
    /// refuses.
    pub fn classify(&self, method: &str, url: &str) -> String {
        match self.engine.classify(method, url) {
            Ok(Access::Public) => "public",
            Ok(Access::Page) => "page",
            Ok(Access::Api) => "api",
            Err(_) => "invalid",
        }
        .into()
    }

    /// The route rule deciding `method` and `url` when it has requirements
    /// (`Engine::requiring_rule`), else -1.
    #[wasm_bindgen(js_name = requiringRule)]
    pub fn requiring_rule(&self, method: &str, url: &str) -> i32 {
        self.engine
            .requiring_rule(method, url)
            .and_then(|i| i32::try_from(i).ok())
            .unwrap_or(-1)
    }

    /// `cookie_header` without Tessera's own cookies (whole or chunked), for
    /// requests passed on to code that must not see them.
    #[wasm_bindgen(js_name = stripCookies)]
    pub fn strip_cookies(&self, cookie_header: &str) -> String {
        let [session, refresh, transaction] = &self.cookie_names;
        tessera_core::cookie::without(cookie_header, &[session, refresh, transaction])
    }

    /// Drops a suspended request the host will not resume.
    pub fn forget(&mut self, id: u32) {
        self.pending.remove(&id);
    }

    /// Every reason code with its HTTP status and whether it is retryable, as
    /// `[code, status, retryable]` (the TypeScript union is checked against it).
    #[wasm_bindgen(js_name = reasonCodes)]
    pub fn reason_codes() -> Result<JsValue, JsValue> {
        let all: Vec<(&str, u16, bool)> = Reason::ALL
            .iter()
            .map(|r| (r.code(), r.http_status(), r.is_retryable()))
            .collect();
        Ok(to_js(&all))
    }

    /// How many requests are suspended (for tests and leak checks).
    #[wasm_bindgen(js_name = pendingCount)]
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The key set and discovery document as JSON, for a persistence hook.
    pub fn snapshot(&self) -> String {
        serde_json::to_string(&self.engine.snapshot()).unwrap_or_default()
    }

    /// Restores a [`Core::snapshot`]; anything unreadable, stale or invalid is
    /// ignored (the engine fetches afresh).
    pub fn restore(&mut self, snapshot: &str, now: f64) {
        if let Ok(s) = serde_json::from_str::<Snapshot>(snapshot) {
            self.engine.restore(&s, secs(now));
        }
    }
}

impl Core {
    /// `resume` for the exported `resume*` methods: checks the randomness and
    /// converts the step for JavaScript.
    fn resume_js(&mut self, id: u32, reply: Reply<'_>, now: f64, random: &[u8]) -> Result<JsValue, JsValue> {
        Ok(self.resume(id, reply, now, seed(random)?))
    }

    fn resume(&mut self, id: u32, reply: Reply<'_>, now: f64, random: [u8; 32]) -> JsValue {
        match self.pending.remove(&id) {
            Some((pending, verdict)) => {
                let step = self.engine.resume(pending, reply, secs(now), random);
                self.step(step, verdict)
            }
            None => to_js(&StepJs::Gone { id }),
        }
    }

    /// Keeps a request that waits on HTTP: its id and what the host is to send.
    fn suspend(&mut self, pending: Pending, verdict: bool) -> (u32, RequestJs) {
        let request = RequestJs::from(pending.request());
        (self.keep(pending, verdict), request)
    }

    fn keep(&mut self, pending: Pending, verdict: bool) -> u32 {
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            if !self.pending.contains_key(&self.next_id) {
                break;
            }
        }
        self.pending.insert(self.next_id, (pending, verdict));
        self.next_id
    }

    /// The step for JavaScript. `verdict`: the request came from `verifyToken`,
    /// whose caller reads only the verdict, so its decision leaves out the
    /// headers and response a request would get.
    fn step(&mut self, step: Step, verdict: bool) -> JsValue {
        let step = match step {
            Step::Done(mut decision) => {
                let background = std::mem::take(&mut decision.background)
                    .into_iter()
                    .map(|p| {
                        // Revalidations stand alone: they end `idle`.
                        let (id, request) = self.suspend(p, false);
                        StepJs::Fetch { id, request }
                    })
                    .collect();
                return if verdict {
                    self.verdict_js(decision, background)
                } else {
                    self.done_js(decision, background)
                };
            }
            Step::Fetch(p) => {
                let (id, request) = self.suspend(p, verdict);
                StepJs::Fetch { id, request }
            }
            Step::Refresh(p) => {
                let (id, request) = self.suspend(p, verdict);
                StepJs::Refresh { id, request }
            }
            Step::Verify(p) => match p.signature_check() {
                Some(check) => {
                    // One JSON crossing and one byte array (spki ‖ signing
                    // input ‖ signature), which the host slices: a field-by-
                    // field object with three arrays cost several times more.
                    let bytes = [&check.spki_der[..], &check.signing_input, &check.signature].concat();
                    let (alg, key_id) = (check.alg.name(), check.key_id.clone());
                    let spki_length = check.spki_der.len();
                    let signing_input_length = check.signing_input.len();
                    let step = to_js(&VerifyJs {
                        kind: "verify",
                        id: self.keep(p, verdict),
                        alg,
                        key_id,
                        spki_length,
                        signing_input_length,
                    });
                    // Setting a property of the object `JSON.parse` built does not fail.
                    let _ =
                        js_sys::Reflect::set(&step, &self.names.bytes, &js_sys::Uint8Array::from(&bytes[..]));
                    return step;
                }
                // A Verify step always carries its check; should one not, the
                // request fails closed (the signature counts as invalid; a
                // refusal needs no randomness).
                None => {
                    let id = self.keep(p, verdict);
                    return self.resume(id, Reply::Signature(false), 0.0, [0; 32]);
                }
            },
            Step::Body(p) => {
                let limit = p.body_limit().unwrap_or(0);
                StepJs::Body {
                    id: self.keep(p, verdict),
                    limit,
                }
            }
            Step::Store(p) => {
                let now = p.now();
                let op = match p.store_op() {
                    Some(StoreOp::Once { key, ttl }) => StoreOpJs::Once {
                        key: key.clone(),
                        ttl: *ttl,
                    },
                    Some(StoreOp::Revoke(list)) => StoreOpJs::Revoke {
                        records: list.iter().map(|r| RecordJs::of(r, now)).collect(),
                    },
                    None => StoreOpJs::Revoke { records: Vec::new() },
                };
                StepJs::Store {
                    id: self.keep(p, verdict),
                    op,
                }
            }
            Step::Idle => StepJs::Idle,
        };
        to_js(&step)
    }

    /// A request's decision: `{ kind: "done", decision }`.
    // Out of line: `verify` never runs it, so its first call need not compile it.
    #[inline(never)]
    fn done_js(&mut self, decision: Decision, background: Vec<StepJs>) -> JsValue {
        let (mut decision, identity) = DecisionJs::new(decision, background);
        let cached = self.cached_identity(identity.as_ref());
        if cached.is_none() {
            decision.identity = identity.clone();
        }
        let done = to_js(&DoneJs {
            kind: "done",
            decision: &decision,
        });
        // Getting a property of the object `JSON.parse` just built does not fail.
        let decision = js_sys::Reflect::get(&done, &self.names.decision).unwrap_or(JsValue::NULL);
        self.attach_identity(&decision, identity, cached);
        done
    }

    /// A `verifyToken` decision: `{ kind: "verdict", … }`, the verdict alone
    /// (no headers, no response, no event but its fetch count): JSON is most
    /// of what a new token costs the engine here.
    fn verdict_js(&mut self, decision: Decision, background: Vec<StepJs>) -> JsValue {
        let identity = match decision.action {
            Action::Forward { identity, .. } => identity,
            Action::Respond { .. } => None,
        };
        let cached = self.cached_identity(identity.as_ref());
        let verdict = to_js(&VerdictJs {
            kind: "verdict",
            reason: decision.reason.map(Reason::code),
            message: decision.message.as_deref(),
            retryable: decision.reason.is_some_and(Reason::is_retryable),
            identity: identity.as_deref().filter(|_| cached.is_none()),
            fetches: decision.event.fetches,
            background,
        });
        self.attach_identity(&verdict, identity, cached);
        verdict
    }

    /// The JavaScript object already built for `identity`, if any.
    fn cached_identity(&self, identity: Option<&Arc<Identity>>) -> Option<JsValue> {
        let (_, js) = self.identities.get(&arc_key(identity?))?;
        Some(js.clone())
    }

    /// Puts the identity object on `target`: `cached`, or the one `JSON.parse`
    /// built there, which is then remembered. Each identity object is built
    /// once per `Arc` (so once per memo entry) and handed to every caller of
    /// the token.
    fn attach_identity(
        &mut self,
        target: &JsValue,
        identity: Option<Arc<Identity>>,
        cached: Option<JsValue>,
    ) {
        let Some(identity) = identity else { return };
        // Getting and setting properties of plain objects does not fail.
        match cached {
            Some(js) => {
                let _ = js_sys::Reflect::set(target, &self.names.identity, &js);
            }
            None => {
                let js = js_sys::Reflect::get(target, &self.names.identity).unwrap_or(JsValue::NULL);
                self.remember(identity, js);
            }
        }
    }

    fn remember(&mut self, identity: Arc<Identity>, js: JsValue) {
        if self.identities.len() >= self.prune_at {
            // Only this map holds what the memo has evicted or expired.
            self.identities.retain(|_, (id, _)| Arc::strong_count(id) > 1);
            self.prune_at = PRUNE_MIN.max(2 * self.identities.len());
        }
        self.identities.insert(arc_key(&identity), (identity, js));
    }
}

/// The key of `identities`: the address the `Arc` points to.
fn arc_key(identity: &Arc<Identity>) -> usize {
    Arc::as_ptr(identity) as usize
}

/// A synchronous signature check in JavaScript (`node:crypto`), for `algs`.
struct JsBackend {
    algs: Vec<Alg>,
    check: SyncCheck,
}

#[wasm_bindgen]
extern "C" {
    /// The host's `(alg, keyId, spki, signingInput, signature) => boolean`.
    /// The byte arguments are views of this module's memory, valid during the
    /// call only (no copies per check: the host reads them before returning).
    type SyncCheck;

    #[wasm_bindgen(method, catch, js_name = call)]
    fn run(
        this: &SyncCheck,
        this_arg: &JsValue,
        alg: &str,
        key_id: &str,
        spki: &[u8],
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<JsValue, JsValue>;
}

impl SignatureBackend for JsBackend {
    fn verify(&self, alg: Alg, key: &PublicKey, message: &[u8], signature: &[u8]) -> Option<bool> {
        if !self.algs.contains(&alg) {
            return None;
        }
        let answer = self.check.run(
            &JsValue::NULL,
            alg.name(),
            key.key_id(),
            key.spki_der(),
            message,
            signature,
        );
        // A throw (a key the runtime cannot import) or anything but `true`
        // is an invalid signature: never fail open.
        Some(answer.ok().and_then(|v| v.as_bool()) == Some(true))
    }
}

/// The answer to `refreshBegin` when the host has work to do: the flight's
/// key (SHA-256 of the refresh token, hex) and the secret that seals its
/// outcome in a shared store (`refresh::outcome_secret`, base64url).
#[derive(Serialize)]
struct Flight {
    kind: &'static str,
    key: String,
    secret: String,
}

/// A step, as JavaScript sees it.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum StepJs {
    Fetch {
        id: u32,
        request: RequestJs,
    },
    Refresh {
        id: u32,
        request: RequestJs,
    },
    Body {
        id: u32,
        limit: usize,
    },
    Store {
        id: u32,
        op: StoreOpJs,
    },
    Idle,
    /// Resumed with an id that is not suspended (resumed twice, or forgotten).
    Gone {
        id: u32,
    },
}

/// A shared-store operation, as JavaScript sees it.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum StoreOpJs {
    Once { key: String, ttl: u64 },
    Revoke { records: Vec<RecordJs> },
}

/// A revocation to keep under `key` for `ttl` seconds and publish as `record`.
#[derive(Serialize)]
struct RecordJs {
    key: String,
    ttl: u64,
    record: String,
}

impl RecordJs {
    fn of(r: &Revocation, now: u64) -> RecordJs {
        RecordJs {
            key: r.key(),
            ttl: r.ttl(now),
            record: r.to_json(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestJs {
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    timeout_ms: u32,
    max_bytes: usize,
    share: Option<String>,
}

impl From<&HttpRequest> for RequestJs {
    fn from(r: &HttpRequest) -> RequestJs {
        RequestJs {
            method: r.method,
            url: r.url.clone(),
            headers: r.headers.clone(),
            body: r.body.clone(),
            timeout_ms: r.timeout_ms,
            max_bytes: r.max_bytes,
            share: r.share.clone(),
        }
    }
}

/// A `verify` step without its bytes (set as one `Uint8Array`, `bytes`:
/// the key's SPKI, then the signing input, then the signature).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyJs {
    kind: &'static str,
    id: u32,
    alg: &'static str,
    key_id: String,
    spki_length: usize,
    signing_input_length: usize,
}

/// A [`Decision`], as JavaScript sees it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DecisionJs {
    status: &'static str,
    reason: Option<&'static str>,
    message: Option<String>,
    retryable: bool,
    /// Who the request is from, when known and not yet built in JavaScript
    /// (see [`Core::done_js`]).
    identity: Option<Arc<Identity>>,
    /// Forward to the origin with these headers set (`null`: respond instead).
    forward: Option<Vec<(String, String)>>,
    /// Incoming headers to remove before forwarding (see `Action::Forward`).
    forward_remove: &'static [&'static str],
    /// Whether the body is forwarded (`false` for a CORS preflight).
    forward_body: bool,
    /// Answer the client directly.
    respond: Option<RespondJs>,
    /// Headers for whatever response goes back: `x-tessera-status`,
    /// `x-tessera-reason`, `Set-Cookie`.
    response_headers: Vec<(String, String)>,
    event: Event,
    /// Revalidations to run in the background (`fetch` steps).
    background: Vec<StepJs>,
}

#[derive(Serialize)]
struct RespondJs {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl DecisionJs {
    /// The decision (its `identity` left for [`Core::done_js`]) and who the
    /// request is from.
    fn new(decision: Decision, background: Vec<StepJs>) -> (DecisionJs, Option<Arc<Identity>>) {
        let response_headers = decision.response_headers();
        let (identity, forward, respond, forward_remove, forward_body) = match decision.action {
            Action::Forward {
                identity,
                headers,
                remove,
                body,
            } => (identity, Some(headers), None, remove, body),
            Action::Respond {
                status,
                headers,
                body,
            } => (
                None,
                None,
                Some(RespondJs {
                    status,
                    headers,
                    body,
                }),
                &[][..],
                false,
            ),
        };
        let js = DecisionJs {
            status: decision.status.as_str(),
            reason: decision.reason.map(Reason::code),
            message: decision.message,
            retryable: decision.reason.is_some_and(Reason::is_retryable),
            identity: None,
            forward,
            forward_remove,
            forward_body,
            respond,
            response_headers,
            event: decision.event,
            background,
        };
        (js, identity)
    }
}

/// The step that ends a request.
#[derive(Serialize)]
struct DoneJs<'a> {
    kind: &'static str,
    decision: &'a DecisionJs,
}

/// The step that ends a `verifyToken`: the verdict alone.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerdictJs<'a> {
    kind: &'static str,
    reason: Option<&'static str>,
    message: Option<&'a str>,
    retryable: bool,
    /// The token's identity when it verified and its object is not yet built.
    identity: Option<&'a Identity>,
    /// HTTP fetches made on the way (discovery, key set): the host persists
    /// the key set when there were some.
    fetches: u32,
    /// Revalidations to run in the background (`fetch` steps).
    background: Vec<StepJs>,
}

/// The name of a refresh flight: SHA-256 of the refresh token, so the token
/// itself is not a map key in JavaScript.
fn flight_key(refresh_token: &str) -> String {
    tessera_core::hex::encode(&Sha256::digest(refresh_token.as_bytes()))
}

/// Unix seconds from JavaScript (negative, NaN and infinite clocks become 0,
/// before every token's `iat`: nothing verifies, nothing fails open).
fn secs(now: f64) -> u64 {
    if now.is_finite() && now > 0.0 {
        now as u64
    } else {
        0
    }
}

/// The host's 32 random bytes; anything else is a host bug, thrown.
fn seed(random: &[u8]) -> Result<[u8; 32], JsValue> {
    random.try_into().map_err(|_| {
        JsValue::from_str("tessera: pass exactly 32 bytes from crypto.getRandomValues as `random`")
    })
}

/// `value` as a JavaScript value, through JSON: one string crosses into
/// JavaScript and `JSON.parse` builds the objects natively, several times
/// faster than one crossing per key and value (a decision with its claims has
/// dozens). Signature checks, which carry bytes, are converted in [`Core::step`].
fn to_js<T: Serialize>(value: &T) -> JsValue {
    serde_json::to_string(value)
        .ok()
        .and_then(|json| js_sys::JSON::parse(&json).ok())
        .unwrap_or(JsValue::NULL)
}
