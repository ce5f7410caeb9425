//! The host side of the engine: the clock, randomness, and HTTP with the
//! timeout and body cap the engine asks for. Concurrent `GET`s of one URL
//! (discovery, key set) share one fetch.

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tessera_core::engine::{HttpRequest, Reply};
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// Unix seconds.
pub fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// Random bytes drawn from the runtime at a time, handed out 32 at a time.
const POOL: usize = 4096;

thread_local! {
    /// Bytes from `crypto.getRandomValues` and how many are handed out.
    static RANDOM: RefCell<([u8; POOL], usize)> = const { RefCell::new(([0; POOL], POOL)) };
}

/// 32 bytes from the runtime's CSPRNG (`crypto.getRandomValues`), from a pool
/// refilled every 128 requests rather than a call into JavaScript per request
/// (most requests never use them: the engine only draws on them for sign-in
/// state and sealing). Every byte is handed out once.
pub fn random() -> [u8; 32] {
    RANDOM.with(|cell| {
        let (pool, used) = &mut *cell.borrow_mut();
        if *used == POOL {
            get_random_values(pool);
            *used = 0;
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(&pool[*used..*used + 32]);
        *used += 32;
        out
    })
}

/// What a fetch produced, owned so it can be shared and kept.
#[derive(Debug)]
pub enum Fetched {
    /// A response, body read up to the cap (one byte more, so an oversized
    /// body is visible as such).
    Response {
        status: u16,
        cache_control: Option<String>,
        body: Vec<u8>,
    },
    /// No response.
    Failed(String),
}

impl Fetched {
    pub fn reply(&self) -> Reply<'_> {
        match self {
            Fetched::Response {
                status,
                cache_control,
                body,
            } => Reply::Response {
                status: *status,
                cache_control: cache_control.as_deref(),
                body,
            },
            Fetched::Failed(why) => Reply::Failed(why),
        }
    }
}

/// Performs `req` with its timeout and body cap.
pub async fn http(req: &HttpRequest) -> Fetched {
    let controller = AbortController::default();
    let signal = controller.signal();
    let work = async move {
        let headers = Headers::new();
        for (name, value) in &req.headers {
            headers.set(name, value).map_err(|e| e.to_string())?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::from(req.method.to_string()))
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(req.body.as_deref().map(Into::into));
        let request = Request::new_with_init(&req.url, &init).map_err(|e| e.to_string())?;
        let mut response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status_code();
        let cache_control = response.headers().get("cache-control").ok().flatten();
        let mut body = Vec::new();
        if let Ok(mut stream) = response.stream() {
            while let Some(chunk) = stream.next().await {
                body.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
                if body.len() > req.max_bytes {
                    break;
                }
            }
        }
        Ok::<_, String>(Fetched::Response {
            status,
            cache_control,
            body,
        })
    };
    let timeout = Delay::from(Duration::from_millis(u64::from(req.timeout_ms)));
    match select(Box::pin(work), timeout).await {
        Either::Left((Ok(fetched), _)) => fetched,
        Either::Left((Err(why), _)) => Fetched::Failed(why),
        Either::Right(_) => {
            controller.abort();
            Fetched::Failed(format!("no answer within {} ms", req.timeout_ms))
        }
    }
}

/// Reads at most `limit + 1` bytes of an incoming request's body (the
/// engine refuses what is longer); a read error ends the body there.
pub async fn request_body(req: &worker::worker_sys::web_sys::Request, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    // The handle, not `Request.clone()` (which would tee the body).
    let mut request = worker::Request::from(Clone::clone(req));
    if let Ok(mut stream) = request.stream() {
        while let Some(Ok(chunk)) = stream.next().await {
            body.extend_from_slice(&chunk);
            if body.len() > limit {
                break;
            }
        }
    }
    body
}

/// A result being produced by one request and awaited by others.
pub type Slot<T> = Rc<RefCell<Option<Rc<T>>>>;

/// Waits for another request to fill `slot`, by polling on a timer of this
/// request's own. Awaiting the other request's future directly would resume
/// this request inside the other's I/O context, and workerd then cancels this
/// one as hung. `None` after `give_up_ms` (the other request went away).
pub async fn wait_for<T>(slot: &Slot<T>, give_up_ms: u32) -> Option<Rc<T>> {
    let until = js_sys::Date::now() + f64::from(give_up_ms);
    loop {
        if let Some(value) = slot.borrow().clone() {
            return Some(value);
        }
        if js_sys::Date::now() > until {
            return None;
        }
        Delay::from(Duration::from_millis(10)).await;
    }
}

/// Fetches in flight that concurrent requests share: `GET`s by URL (a burst
/// of cold requests makes one key-set fetch), others by their share key (one
/// introspection per token); other `POST`s are never shared.
#[derive(Default)]
pub struct Flights {
    shared: RefCell<HashMap<String, Slot<Fetched>>>,
}

impl Flights {
    pub async fn fetch(&self, req: &HttpRequest) -> Rc<Fetched> {
        let key = match (&req.share, req.method) {
            (Some(key), _) => key.clone(),
            (None, "GET") => req.url.clone(),
            (None, _) => return Rc::new(http(req).await),
        };
        self.run(key, req.timeout_ms, http(req)).await
    }

    /// Runs `work` once for concurrent callers with the same `key`: the
    /// first runs it, the others wait (up to `timeout_ms` and a second) for
    /// its result.
    pub async fn run(
        &self,
        key: String,
        timeout_ms: u32,
        work: impl std::future::Future<Output = Fetched>,
    ) -> Rc<Fetched> {
        let joined = self.shared.borrow().get(&key).cloned();
        if let Some(slot) = joined {
            if let Some(fetched) = wait_for(&slot, timeout_ms + 1_000).await {
                return fetched;
            }
        }
        let slot = Slot::default();
        self.shared.borrow_mut().insert(key.clone(), Rc::clone(&slot));
        let fetched = Rc::new(work.await);
        *slot.borrow_mut() = Some(Rc::clone(&fetched));
        self.shared.borrow_mut().remove(&key);
        fetched
    }
}
