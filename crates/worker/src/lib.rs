//! Tessera as a Cloudflare Worker: every request goes through the session
//! engine of `tessera-core`; this crate only does the I/O the engine asks for
//! (fetch, clock, randomness, the Cache API, the refresh Durable Object) and
//! proxies to the origin. See [`config`] for the bindings.
//!
//! Per isolate it keeps one engine (verified-token memo, discovery, key-set
//! cache), one set of in-flight `GET`s, and one refresh single-flight. The
//! engine is only borrowed between awaits, never across one.

mod config;
mod host;
mod proxy;
mod refresh;
mod store;
mod webcrypto;

use config::{Log, WorkerConfig};
use host::Flights;
use refresh::SingleFlight;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use tessera_core::config::CookieNames;
use tessera_core::decision::{Action, Decision};
use tessera_core::engine::{Engine, Pending, Request as EngineRequest, Snapshot, Step};
use tessera_core::ConfigError;
use worker::worker_sys::web_sys::{Request, Response};
use worker::{console_error, console_log, event, Cache, Context, Env, Result};

pub use refresh::RefreshSession;
pub use store::RevocationStore;

/// The state one isolate keeps between requests.
struct Isolate {
    engine: RefCell<Engine>,
    config: WorkerConfig,
    flights: Flights,
    refreshes: SingleFlight,
    /// Tessera's cookie names, kept out of forwarded requests.
    cookie_names: CookieNames,
    /// Whether the shared snapshot (Cache API) has been consulted: once, when
    /// the engine first asks for a `GET`.
    restored: Cell<bool>,
    /// This isolate's copy of the store's revocations.
    sync: RefCell<Sync>,
}

/// Where an isolate's copy of the revocations stands (`TESSERA_STORE`).
#[derive(Default)]
struct Sync {
    /// The store's version last read.
    version: u64,
    /// When the store was last read (`None`: never, so the copy is not complete).
    read_at: Option<u64>,
    /// When a read last failed (retried a second later, not per request).
    failed_at: Option<u64>,
    /// A read in progress, which requests of a cold isolate wait for.
    reading: Option<host::Slot<()>>,
}

thread_local! {
    static ISOLATE: RefCell<Option<std::result::Result<Rc<Isolate>, ConfigError>>> = const { RefCell::new(None) };
}

// Out of line, like the futures `apart` boxes: run once per isolate.
#[inline(never)]
fn isolate(env: &Env) -> std::result::Result<Rc<Isolate>, ConfigError> {
    ISOLATE.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let config = WorkerConfig::from_env(env)?;
                let engine = Engine::new(config.tessera.clone())?.with_host_signatures(&config.host_signatures);
                if config.log != Log::Off {
                    console_log!(
                    "tessera: protecting {} for issuer {}; refresh coordination: {}; revocations: {}",
                    config.origin,
                    config.tessera.issuer,
                    if config.refresh_object {
                        "Durable Object TESSERA_REFRESH (across isolates)"
                    } else {
                        "in-isolate only (bind the TESSERA_REFRESH Durable Object to coordinate across isolates)"
                    },
                    if config.store_object {
                        "Durable Object TESSERA_STORE (every isolate)"
                    } else {
                        "in-isolate only (bind the TESSERA_STORE Durable Object to share them)"
                    }
                    );
                }
                // Warnings are logged whatever TESSERA_LOG says: they are about
                // the deployment, once per isolate.
                for warning in config.tessera.warnings() {
                    console_error!("tessera: {warning} (TESSERA_CONFIG.{})", warning.field);
                }
                let mut engine = engine;
                if config.store_object {
                    // Until the first read, sessions from before now cannot be cleared.
                    engine.set_revocations_unknown_since(Some(host::now()));
                }
                Ok(Rc::new(Isolate {
                    refreshes: SingleFlight::new(config.tessera.replay_window),
                    cookie_names: config.tessera.cookie_names(),
                    engine: RefCell::new(engine),
                    config,
                    flights: Flights::default(),
                    restored: Cell::new(false),
                    sync: RefCell::new(Sync::default()),
                }))
            })
            .clone()
    })
}

#[event(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error!("tessera: panic: {info}");
    }));
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let iso = match isolate(&env) {
        Ok(iso) => iso,
        Err(e) => {
            console_error!("tessera: {e}");
            let body = format!("Tessera is misconfigured: {e}\n");
            let headers = [
                ("content-type".into(), "text/plain; charset=utf-8".into()),
                ("x-tessera-status".into(), "error".into()),
            ];
            return Ok(proxy::respond(500, &headers, &body)?);
        }
    };
    let method = req.method();
    let url = req.url();
    let incoming = proxy::headers(&req);
    let borrowed: Vec<(&str, &str)> = incoming.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let request = EngineRequest {
        method: &method,
        url: &url,
        headers: &borrowed,
    };
    if iso.config.store_object {
        apart(read_revocations(&iso, &env)).await;
    }
    let handle = || {
        iso.engine
            .borrow_mut()
            .handle(&request, host::now(), host::random())
    };
    let mut step = handle();
    // The shared snapshot is read when the engine first asks for the provider's
    // documents, not on every isolate's first request: a request that needs no
    // keys (public route, no token, malformed token) pays no Cache API read.
    if matches!(&step, Step::Fetch(p) if p.request().method == "GET")
        && !iso.restored.replace(true)
        && apart(restore(&iso)).await
    {
        step = handle();
    }
    let Some((mut decision, filled)) = drive(&iso, &env, &req, step).await else {
        let headers = [("x-tessera-status".into(), "error".into())];
        return Ok(proxy::respond(
            500,
            &headers,
            "the engine ended without a decision\n",
        )?);
    };
    log(iso.config.log, &decision);
    for pending in std::mem::take(&mut decision.background) {
        let iso = Rc::clone(&iso);
        ctx.wait_until(async move {
            let fetched = iso.flights.fetch(pending.request()).await;
            let _ = iso
                .engine
                .borrow_mut()
                .resume(pending, fetched.reply(), host::now(), host::random());
            save(&iso).await;
        });
    }
    if filled {
        let iso = Rc::clone(&iso);
        ctx.wait_until(async move { save(&iso).await });
    }
    let response = match &decision.action {
        Action::Respond {
            status,
            headers,
            body,
        } => proxy::respond(*status, headers, body)?,
        Action::Forward {
            headers,
            remove,
            body,
            ..
        } => {
            let forward = proxy::Forward {
                set: headers,
                remove,
                body: *body,
            };
            match apart(proxy::forward(
                &req,
                &url,
                &incoming,
                &iso.config.origin,
                &forward,
                &iso.cookie_names,
            ))
            .await
            {
                Ok(r) => r,
                Err(e) => {
                    console_error!(
                        "tessera: the origin {} could not be reached: {e:?}",
                        iso.config.origin
                    );
                    let headers = [("content-type".into(), "text/plain; charset=utf-8".into())];
                    proxy::respond(502, &headers, "the origin could not be reached\n")?
                }
            }
        }
    };
    Ok(proxy::finish(response, &decision)?)
}

/// Boxes an I/O step's future so that its code stays a function of its own.
///
/// V8 compiles WebAssembly functions lazily, each whole on its first call: the
/// request future, with every awaited future inlined into it, was an 82 KB
/// function that a fresh isolate compiled before answering anything, even a
/// request that never reaches that I/O. One allocation per I/O step.
fn apart<'a, T>(work: impl Future<Output = T> + 'a) -> Pin<Box<dyn Future<Output = T> + 'a>> {
    Box::pin(work)
}

/// Runs the engine's host loop; also says whether a cache was filled (so the
/// snapshot is worth saving).
async fn drive(iso: &Rc<Isolate>, env: &Env, req: &Request, mut step: Step) -> Option<(Decision, bool)> {
    let mut filled = false;
    loop {
        step = match step {
            Step::Done(decision) => return Some((decision, filled)),
            Step::Fetch(pending) => {
                filled |= pending.request().method == "GET";
                let request = pending.request();
                let fetched = match request
                    .share
                    .as_deref()
                    .and_then(|k| k.strip_prefix("introspect:"))
                {
                    Some(hash) => apart(introspection_tier(iso, hash, request)).await,
                    None => apart(iso.flights.fetch(request)).await,
                };
                resume(iso, pending, fetched.reply())
            }
            Step::Refresh(pending) => {
                let outcome = apart(refresh(iso, env, &pending)).await;
                resume(iso, pending, tessera_core::engine::Reply::Tokens(outcome))
            }
            Step::Verify(pending) => {
                let reply = match pending.signature_check() {
                    Some(check) => apart(webcrypto::verify(check)).await,
                    None => tessera_core::engine::Reply::Signature(false),
                };
                resume(iso, pending, reply)
            }
            Step::Body(pending) => {
                let limit = pending.body_limit().unwrap_or(0);
                let body = apart(host::request_body(req, limit)).await;
                resume(iso, pending, tessera_core::engine::Reply::Body(&body))
            }
            Step::Store(pending) => {
                let stored = apart(store_op(iso, env, &pending)).await;
                let reply =
                    tessera_core::engine::Reply::Stored(stored.as_ref().map(|b| *b).map_err(String::as_str));
                if let Err(why) = &stored {
                    console_error!("tessera: {why}");
                }
                resume(iso, pending, reply)
            }
            // Only background work ends Idle; a request always decides.
            Step::Idle => return None,
        };
    }
}

fn resume(iso: &Isolate, pending: Pending, reply: tessera_core::engine::Reply<'_>) -> Step {
    iso.engine
        .borrow_mut()
        .resume(pending, reply, host::now(), host::random())
}

async fn refresh(iso: &Isolate, env: &Env, pending: &Pending) -> refresh::Outcome {
    let token = pending.refresh_token().unwrap_or_default();
    let request = pending.request().clone();
    if iso.config.refresh_object {
        let window = iso.config.tessera.replay_window;
        let ask = refresh::via_object(env, token, window, request);
        iso.refreshes.run(token, ask).await
    } else {
        iso.refreshes.run(token, refresh::exchange(request)).await
    }
}

/// A store operation the engine asked for: in `TESSERA_STORE` when bound;
/// without it the engine's own memory is the store.
async fn store_op(iso: &Isolate, env: &Env, pending: &Pending) -> std::result::Result<bool, String> {
    use tessera_core::engine::StoreOp;
    if !iso.config.store_object {
        return Ok(true);
    }
    match pending.store_op() {
        Some(StoreOp::Once { key, ttl }) => store::once(env, key, *ttl).await,
        Some(StoreOp::Revoke(list)) => {
            let lines: Vec<String> = list.iter().map(|r| r.to_json()).collect();
            store::revoke(env, lines.join("\n")).await.map(|()| true)
        }
        None => Ok(true),
    }
}

/// Brings this isolate's revocations up to date when its last read is
/// older than `TESSERA_STORE_STALENESS`: what changed since, from the store
/// object. A failed read keeps what the isolate has (it held every
/// revocation up to its last read) and is retried a second later; an isolate
/// that never read stays incomplete (sessions from before it started are
/// 503) until a read succeeds. Requests of a cold isolate wait for the read
/// in progress; later ones do not.
async fn read_revocations(iso: &Isolate, env: &Env) {
    let now = host::now();
    let (due, cold, reading) = {
        let s = iso.sync.borrow();
        let due = s.read_at.is_none_or(|t| now >= t + iso.config.store_staleness)
            && s.failed_at.is_none_or(|t| now > t);
        (due, s.read_at.is_none(), s.reading.clone())
    };
    if let Some(slot) = reading {
        if cold {
            let _ = host::wait_for(&slot, 3_000).await;
        }
        return;
    }
    if !due {
        return;
    }
    let slot = host::Slot::default();
    let version = {
        let mut s = iso.sync.borrow_mut();
        s.reading = Some(Rc::clone(&slot));
        s.version
    };
    let read = store::since(env, version).await;
    let mut s = iso.sync.borrow_mut();
    match read {
        Ok((version, records)) => {
            let mut engine = iso.engine.borrow_mut();
            engine.revoked_lines(&records, host::now());
            engine.set_revocations_unknown_since(None);
            s.version = version;
            s.read_at = Some(now);
            s.failed_at = None;
        }
        Err(why) => {
            console_error!("tessera: {why}");
            s.failed_at = Some(now);
        }
    }
    s.reading = None;
    *slot.borrow_mut() = Some(Rc::new(()));
}

/// The Cache API key of this issuer's snapshot.
fn snapshot_key(iso: &Isolate) -> String {
    let mut issuer = String::new();
    for b in iso.config.tessera.issuer.bytes() {
        if b.is_ascii_alphanumeric() {
            issuer.push(b as char);
        } else {
            issuer.push_str(&format!("%{b:02X}"));
        }
    }
    format!("https://tessera.cache/snapshot/{issuer}")
}

/// Reads the shared snapshot so a cold isolate starts with the keys another
/// isolate fetched; says whether there was one.
async fn restore(iso: &Isolate) -> bool {
    let cache = Cache::default();
    let Ok(Some(mut response)) = cache.get(snapshot_key(iso).as_str(), false).await else {
        return false;
    };
    let Ok(snapshot) = response.json::<Snapshot>().await else {
        return false;
    };
    iso.engine.borrow_mut().restore(&snapshot, host::now());
    true
}

/// Writes the engine's snapshot to the Cache API for other isolates.
async fn save(iso: &Isolate) {
    let snapshot = iso.engine.borrow().snapshot();
    let Ok(response) = worker::Response::from_json(&snapshot) else {
        return;
    };
    let headers = worker::Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "max-age=86400");
    if let Err(e) = Cache::default()
        .put(snapshot_key(iso).as_str(), response.with_headers(headers))
        .await
    {
        console_error!("tessera: could not store the key-set snapshot: {e}");
    }
}

/// Introspection answers shared by every isolate through the Cache API, keyed
/// by the token's SHA-256 (`hash`, never the token), kept `introspection.maxAge`
/// from when they were fetched: a replayed answer carries the time it has
/// left as its `max-age`, which the engine's own reuse never exceeds, so no
/// answer is trusted longer than `maxAge` in all. Cache API failures fall back
/// to asking the endpoint.
async fn introspection_tier(
    iso: &Isolate,
    hash: &str,
    request: &tessera_core::engine::HttpRequest,
) -> Rc<host::Fetched> {
    // The Cache API lookup is part of the shared flight: concurrent requests
    // for one token make one lookup and at most one call.
    let key = format!("https://tessera.cache/introspect/{hash}");
    let max_age = iso.config.tessera.introspection.as_ref().map_or(0, |c| c.max_age);
    let work = async move {
        let cache = Cache::default();
        let now = host::now();
        if max_age > 0 {
            if let Ok(Some(mut hit)) = cache.get(key.as_str(), false).await {
                let fetched_at = hit
                    .headers()
                    .get("x-tessera-fetched")
                    .ok()
                    .flatten()
                    .and_then(|v| v.parse::<u64>().ok());
                if let (Some(at), Ok(body)) = (fetched_at, hit.bytes().await) {
                    let left = (at + max_age).saturating_sub(now);
                    if left > 0 && at <= now {
                        return host::Fetched::Response {
                            status: 200,
                            cache_control: Some(format!("max-age={left}")),
                            body,
                        };
                    }
                }
            }
        }
        let fetched = host::http(request).await;
        if let host::Fetched::Response {
            status: 200, body, ..
        } = &fetched
        {
            if max_age > 0 && body.len() <= tessera_core::introspection::MAX_ANSWER_BYTES {
                let headers = worker::Headers::new();
                let _ = headers.set("content-type", "application/json");
                let _ = headers.set("cache-control", &format!("max-age={max_age}"));
                let _ = headers.set("x-tessera-fetched", &now.to_string());
                if let Ok(response) = worker::Response::from_bytes(body.clone()) {
                    let _ = cache.put(key.as_str(), response.with_headers(headers)).await;
                }
            }
        }
        fetched
    };
    iso.flights
        .run(format!("introspect:{hash}"), request.timeout_ms, work)
        .await
}

/// One log line per decision worth logging: the event (no secrets) and the
/// reason's message.
// Out of line: see `apart`.
#[inline(never)]
fn log(level: Log, decision: &Decision) {
    let problem = decision
        .reason
        .is_some_and(|r| r != tessera_core::Reason::TokenMissing);
    if level == Log::Off || (level == Log::Problems && !problem) {
        return;
    }
    let event = serde_json::to_string(&decision.event).unwrap_or_default();
    match &decision.message {
        Some(message) => console_log!("tessera: {event} {message}"),
        None => console_log!("tessera: {event}"),
    }
}
