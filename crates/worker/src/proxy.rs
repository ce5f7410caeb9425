//! Turning a decision into the response: either Tessera's own answer, or the
//! origin's response to the forwarded request. Bodies stream both ways.

use tessera_core::config::CookieNames;
use tessera_core::cookie;
use tessera_core::decision::Decision;
use tessera_core::request::is_identity_header;
use worker::{Fetch, Headers, Request, RequestInit, RequestRedirect, Response, Result};

/// Forwards `req` to `origin` with the decision's identity headers. Incoming
/// `x-tessera-*` headers are dropped and Tessera's own cookies are removed
/// from the `Cookie` header, so the origin sees neither spoofed identities nor
/// sealed tokens.
pub async fn forward(
    req: &Request,
    origin: &str,
    set: &[(String, String)],
    names: &CookieNames,
) -> Result<Response> {
    let url = req.url()?;
    let target = match url.query() {
        Some(q) => format!("{origin}{}?{q}", url.path()),
        None => format!("{origin}{}", url.path()),
    };
    let headers = Headers::new();
    for (name, value) in req.headers() {
        if is_identity_header(&name) || name.eq_ignore_ascii_case("host") {
            continue;
        }
        if name.eq_ignore_ascii_case("cookie") {
            let ours = [
                names.session.as_str(),
                names.refresh.as_str(),
                names.transaction.as_str(),
            ];
            let kept = cookie::without(&value, &ours);
            if !kept.is_empty() {
                headers.append("cookie", &kept)?;
            }
            continue;
        }
        headers.append(&name, &value)?;
    }
    for (name, value) in set {
        headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(req.inner().body().map(Into::into));
    let upstream = Request::new_with_init(&target, &init)?;
    Fetch::Request(upstream).send().await
}

/// `response` with the decision's headers added (`x-tessera-*`, `Set-Cookie`).
pub fn finish(response: Response, decision: &Decision) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in response.headers() {
        headers.append(&name, &value)?;
    }
    for (name, value) in decision.response_headers() {
        if name == "set-cookie" {
            headers.append(&name, &value)?;
        } else {
            headers.set(&name, &value)?;
        }
    }
    Ok(response.with_headers(headers))
}

/// Tessera's own answer.
pub fn respond(status: u16, headers: &[(String, String)], body: &str) -> Result<Response> {
    let h = Headers::new();
    for (name, value) in headers {
        h.append(name, value)?;
    }
    let body = if body.is_empty() {
        None
    } else {
        Some(body.to_string())
    };
    let response = match body {
        Some(b) => Response::ok(b)?,
        None => Response::empty()?,
    };
    Ok(response.with_status(status).with_headers(h))
}
