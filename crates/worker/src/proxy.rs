//! Turning a decision into the response: either Tessera's own answer, or the
//! origin's response to the forwarded request. Bodies stream both ways.
//!
//! This is the per-request path, so it works on the runtime's own `Request`,
//! `Headers` and `Response` objects (`web_sys`) rather than workers-rs's
//! wrappers: converting to `worker::Request` and from `worker::Response`
//! reads the `cf` property of each, which workerd builds on demand and which
//! cost more than everything else Tessera does for a remembered token.

use js_sys::Iterator as JsIterator;
use tessera_core::config::CookieNames;
use tessera_core::cookie;
use tessera_core::decision::Decision;
use tessera_core::request::{is_identity_header, request_target};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys::{
    Headers, Request, RequestInit, RequestRedirect, Response, ResponseInit, WorkerGlobalScope,
};

/// The request's headers as name/value pairs (names lowercase, as the Fetch
/// API gives them).
pub fn headers(req: &Request) -> Vec<(String, String)> {
    let entries: JsIterator = req.headers().entries();
    entries
        .into_iter()
        .filter_map(|entry| {
            let pair: js_sys::Array = entry.ok()?.dyn_into().ok()?;
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

/// What a forward decision asks of the request passed on.
pub struct Forward<'a> {
    /// Headers to set (the identity headers).
    pub set: &'a [(String, String)],
    /// Incoming headers to drop (a client's unverified `authorization`).
    pub remove: &'a [&'a str],
    /// Whether the body goes on.
    pub body: bool,
}

/// Forwards `req` (whose URL is `url` and headers `incoming`) to `origin`
/// as the decision says. Incoming `x-tessera-*` headers are dropped and
/// Tessera's own cookies are removed from the `Cookie` header, so the origin
/// sees neither spoofed identities nor sealed tokens.
pub async fn forward(
    req: &Request,
    url: &str,
    incoming: &[(String, String)],
    origin: &str,
    forward: &Forward<'_>,
    names: &CookieNames,
) -> Result<Response, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in incoming {
        let body_header = matches!(
            name.as_str(),
            "content-length" | "content-type" | "transfer-encoding"
        );
        if is_identity_header(name)
            || name == "host"
            || forward.remove.contains(&name.as_str())
            || (body_header && !forward.body)
        {
            continue;
        }
        if name == "cookie" {
            let ours = [
                names.session.as_str(),
                names.refresh.as_str(),
                names.transaction.as_str(),
            ];
            let kept = cookie::without(value, &ours);
            if !kept.is_empty() {
                headers.append("cookie", &kept)?;
            }
            continue;
        }
        headers.append(name, value)?;
    }
    for (name, value) in forward.set {
        headers.set(name, value)?;
    }
    let init = RequestInit::new();
    init.set_method(&req.method());
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    if let Some(body) = req.body().filter(|_| forward.body) {
        init.set_body(&body);
    }
    // The engine decided on this very target; it refused what it cannot read.
    let target = request_target(url).map_err(|r| JsValue::from_str(&r.message))?;
    let target = format!("{origin}{target}");
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    JsFuture::from(global.fetch_with_str_and_init(&target, &init))
        .await?
        .dyn_into()
}

/// `response` with the decision's headers added (`x-tessera-*`, `Set-Cookie`).
/// `new Response(body, response)` copies status, headers (now mutable) and a
/// WebSocket, the idiom for changing what `fetch` returned.
pub fn finish(response: Response, decision: &Decision) -> Result<Response, JsValue> {
    let out =
        Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), response.unchecked_ref())?;
    let headers = out.headers();
    for (name, value) in decision.response_headers() {
        if name == "set-cookie" {
            headers.append(&name, &value)?;
        } else {
            headers.set(&name, &value)?;
        }
    }
    Ok(out)
}

/// Tessera's own answer.
pub fn respond(status: u16, headers: &[(String, String)], body: &str) -> Result<Response, JsValue> {
    let h = Headers::new()?;
    for (name, value) in headers {
        h.append(name, value)?;
    }
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&h);
    Response::new_with_opt_str_and_init((!body.is_empty()).then_some(body), &init)
}
