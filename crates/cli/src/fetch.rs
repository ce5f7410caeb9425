//! The one place the CLI does I/O over the network: fetching a JWKS URL, once.

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
