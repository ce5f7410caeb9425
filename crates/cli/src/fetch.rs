//! The one place the CLI does I/O over the network: fetching a JWKS URL, or
//! asking an introspection endpoint, once.

use std::io::Read;
use std::time::Duration;
use tessera_core::jwk::MAX_JWKS_BYTES;
use tessera_core::{Reason, Refusal};

/// Fetches a key set. Network failures, timeouts and 5xx are `jwks-unavailable`
/// (an outage); other non-2xx answers and oversized bodies are `jwks-invalid`.
pub fn jwks(url: &str) -> Result<Vec<u8>, Refusal> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .redirects(3)
        .build();
    let response = match agent.get(url).set("accept", "application/json").call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, _)) if code >= 500 => {
            return Err(Refusal::new(
                Reason::JwksUnavailable,
                format!("{url} answered HTTP {code}; the provider is failing, retry later"),
            ))
        }
        Err(ureq::Error::Status(code, _)) => {
            return Err(Refusal::new(
                Reason::JwksInvalid,
                format!("{url} answered HTTP {code}; check the JWKS URL (OpenID discovery's jwks_uri)"),
            ))
        }
        Err(e) => {
            return Err(Refusal::new(
                Reason::JwksUnavailable,
                format!("could not fetch {url}: {e}"),
            ))
        }
    };
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_JWKS_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Refusal::new(Reason::JwksUnavailable, format!("reading {url} failed: {e}")))?;
    Ok(body)
}

/// Posts `token` to an RFC 7662 introspection endpoint as the client
/// `client_id` (HTTP Basic with `client_secret`, RFC 6749 §2.3.1 encoding)
/// and returns the status and body, for `tessera_core::introspection::answer`
/// to read. Network failures and timeouts are `auth-api-unavailable`.
pub fn introspect(
    url: &str,
    token: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<(u16, Vec<u8>), Refusal> {
    use base64::Engine;
    let encode = |s: &str| tessera_core::oidc::form_encode(s);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        encode(client_id),
        encode(client_secret)
    ));
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .redirects(0)
        .build();
    let response = agent
        .post(url)
        .set("accept", "application/json")
        .set("authorization", &format!("Basic {basic}"))
        .send_form(&[("token", token), ("token_type_hint", "access_token")]);
    let response = match response {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => {
            return Err(Refusal::new(
                Reason::AuthApiUnavailable,
                format!("could not reach {url}: {e}"),
            ))
        }
    };
    let status = response.status();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(tessera_core::introspection::MAX_ANSWER_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Refusal::new(Reason::AuthApiUnavailable, format!("reading {url} failed: {e}")))?;
    Ok((status, body))
}

/// Makes a request the engine asked for ([`tessera_core::engine::HttpRequest`]),
/// with its timeout and size cap: the status, `Cache-Control` and body, or why
/// it failed.
pub fn request(http: &tessera_core::engine::HttpRequest) -> Result<(u16, Option<String>, Vec<u8>), String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(u64::from(http.timeout_ms)))
        .redirects(0)
        .build();
    let mut req = agent.request(http.method, &http.url);
    for (name, value) in &http.headers {
        req = req.set(name, value);
    }
    let response = match &http.body {
        Some(body) => req.send_string(body),
        None => req.call(),
    };
    let response = match response {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = response.status();
    let cache_control = response.header("cache-control").map(String::from);
    let mut body = Vec::new();
    response
        .into_reader()
        .take(http.max_bytes as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    Ok((status, cache_control, body))
}
