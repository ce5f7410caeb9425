//! Reading a request: document navigation or API call, where the token comes
//! from, the CSRF gate, and which incoming headers must never reach the origin.
//!
//! Headers are passed as `(name, value)` pairs, names in any case.
//!
//! ```
//! use tessera_core::request::{bearer_token, csrf_check, is_navigation};
//! let h = [("Sec-Fetch-Dest", "document"), ("Authorization", "Bearer abc.def.ghi")];
//! assert!(is_navigation(&h));
//! assert_eq!(bearer_token(&h).unwrap(), Some("abc.def.ghi"));
//! let cross = [("Sec-Fetch-Site", "cross-site"), ("Origin", "https://evil.example")];
//! assert_eq!(csrf_check("POST", &cross, "https://app.example", &[]).unwrap_err().reason.code(), "csrf-rejected");
//! ```

use crate::reason::{refuse, Refusal};
use alloc::vec::Vec;

/// The prefix of the identity headers Tessera sets. Incoming headers with it are
/// always removed, so a client cannot claim an identity.
pub const IDENTITY_HEADER_PREFIX: &str = "x-tessera-";

fn header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Whether the request is a document navigation (which may be redirected to
/// sign-in) rather than an API call (which gets a 401). `Sec-Fetch-Dest` decides
/// when present; otherwise `Sec-Fetch-Mode: navigate`; otherwise an `Accept` that
/// names `text/html`.
pub fn is_navigation(headers: &[(&str, &str)]) -> bool {
    if let Some(dest) = header(headers, "sec-fetch-dest") {
        return dest.trim().eq_ignore_ascii_case("document");
    }
    if let Some(mode) = header(headers, "sec-fetch-mode") {
        return mode.trim().eq_ignore_ascii_case("navigate");
    }
    header(headers, "accept").is_some_and(|a| a.to_ascii_lowercase().contains("text/html"))
}

/// The bearer token, if the request has an `Authorization: Bearer` header.
/// Another scheme is ignored (`Ok(None)`); a malformed bearer header, or more
/// than one `Authorization` header, is `token-malformed`.
pub fn bearer_token<'a>(headers: &[(&str, &'a str)]) -> Result<Option<&'a str>, Refusal> {
    Ok(access_token(headers)?.and_then(|(dpop, token)| (!dpop).then_some(token)))
}

/// The access token of an `Authorization: Bearer` or `Authorization: DPoP`
/// header (RFC 9449 §7.1), with whether the scheme is DPoP. Another scheme is
/// ignored (`Ok(None)`); a malformed header, or more than one, is
/// `token-malformed`.
///
/// ```
/// use tessera_core::request::access_token;
/// assert_eq!(access_token(&[("authorization", "DPoP a.b.c")]).unwrap(), Some((true, "a.b.c")));
/// assert_eq!(access_token(&[("authorization", "Bearer a.b.c")]).unwrap(), Some((false, "a.b.c")));
/// assert_eq!(access_token(&[("authorization", "Basic dXNlcg==")]).unwrap(), None);
/// ```
pub fn access_token<'a>(headers: &[(&str, &'a str)]) -> Result<Option<(bool, &'a str)>, Refusal> {
    let mut values = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"));
    let Some((_, value)) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(refuse!(
            TokenMalformed,
            "the request has more than one Authorization header"
        ));
    }
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let dpop = scheme.eq_ignore_ascii_case("dpop");
    if !dpop && !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim_start_matches(' ');
    // RFC 6750 b64token: a token68 (letters, digits, -._~+/ and trailing =).
    let body = token.trim_end_matches('=');
    if token.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    {
        return Err(refuse!(
            TokenMalformed,
            "the Authorization header's bearer token has characters a token cannot have"
        ));
    }
    Ok(Some((dpop, token)))
}

/// Methods that must not change state and so skip the CSRF gate.
pub fn is_safe_method(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// The CSRF gate for cookie-authenticated requests with unsafe methods: passes
/// when `Sec-Fetch-Site` is `same-origin` or `none` (typed by the user), or when
/// the `Origin` is this app's origin or one of `allowed_origins`. Without either
/// header the request is refused: every browser that sends cookies cross-site
/// sends one of them, so their absence is not a browser to protect.
///
/// `same-site` is not enough: it also covers sibling subdomains and other ports
/// of the same host, which browsers send `SameSite=Lax` cookies from, and which
/// may serve someone else's content. List such an origin in `allowed_origins`
/// when it is yours.
pub fn csrf_check(
    method: &str,
    headers: &[(&str, &str)],
    self_origin: &str,
    allowed_origins: &[&str],
) -> Result<(), Refusal> {
    if is_safe_method(method) {
        return Ok(());
    }
    let origin_allowed = |o: &str| o == self_origin || allowed_origins.contains(&o);
    let origin = header(headers, "origin").map(str::trim);
    match header(headers, "sec-fetch-site").map(str::trim) {
        Some(site) if ["same-origin", "none"].iter().any(|s| site.eq_ignore_ascii_case(s)) => Ok(()),
        Some(site) => match origin {
            Some(o) if origin_allowed(o) => Ok(()),
            _ => Err(refuse!(
                CsrfRejected,
                "a {site} {method} request with the session cookie was refused; add its origin to allowedOrigins if it is yours"
            )),
        },
        None => match origin {
            Some(o) if origin_allowed(o) => Ok(()),
            Some(o) => Err(refuse!(CsrfRejected, "origin {} may not send {method} requests with the session cookie", crate::jwk::quoted(o))),
            None => Err(refuse!(CsrfRejected, "a {method} request with the session cookie has neither Sec-Fetch-Site nor Origin")),
        },
    }
}

/// A request target split into path and query, as an origin receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestTarget<'a> {
    /// The path, starting with `/`, exactly as it was sent (not decoded).
    pub path: &'a str,
    /// The query without its `?`, when the target has one (possibly empty).
    pub query: Option<&'a str>,
}

impl<'a> RequestTarget<'a> {
    /// The query, or `""` when there is none.
    pub fn query_str(&self) -> &'a str {
        self.query.unwrap_or("")
    }
}

impl core::fmt::Display for RequestTarget<'_> {
    /// The origin form: `path` then `?query` when there is a query.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.path)?;
        if let Some(q) = self.query {
            f.write_str("?")?;
            f.write_str(q)?;
        }
        Ok(())
    }
}

/// Reads a request target per RFC 9112 §3.2: the origin form (`/path?query`,
/// what HTTP/1.1 servers, axum and hyper hand over) or the absolute form
/// (`https://host/path?query`, what Fetch API runtimes hand over). Anything
/// else is `path-invalid`: the asterisk form `*`, the authority form of
/// `CONNECT`, a scheme-less `host/path`, an empty target, and any target with
/// a byte a request target cannot carry raw (RFC 9112 is ASCII: a space, a
/// control character, anything non-ASCII, which browsers percent-encode and
/// some parsers trim or split on) or a fragment (`#`, which no client sends and
/// parsers cut in different places).
///
/// The absolute form is `http://` or `https://` (any letter case) and a
/// plain authority: a host name of letters, digits, `.` and `-`, or an IP
/// literal in brackets, and an optional numeric port; it ends at the first
/// `/` or `?`. Anything else is refused, because URL parsers disagree on it
/// (Node's legacy `url.parse`, which Express routes with, ends a host at `%`,
/// `'` or `;`, moves a non-numeric port into the path, reads `\` as `/`, and
/// gives `javascript://admin/x` the path `//admin/x`). A `://` in a query
/// (`/admin?next=https://x`) is data. `https://a?/admin` is the path `/`
/// with the query `/admin`, as every URL parser reads it. A host that routes
/// on the raw target must pass the origin form it received, never a URL
/// built from a `Host` header (`docs/security.md`).
///
/// ```
/// use tessera_core::request::request_target;
/// let t = request_target("https://app.example/a/b?x=1").unwrap();
/// assert_eq!((t.path, t.query), ("/a/b", Some("x=1")));
/// assert_eq!(request_target("https://app.example").unwrap().path, "/");
/// let t = request_target("/admin/users?next=https://x").unwrap();
/// assert_eq!((t.path, t.query), ("/admin/users", Some("next=https://x")));
/// for bad in ["*", "/a#b", "/a b", "/admin\u{a0}", "http://x\\admin/public", "javascript://admin/x"] {
///     assert_eq!(request_target(bad).unwrap_err().reason.code(), "path-invalid", "{bad:?}");
/// }
/// ```
pub fn request_target(target: &str) -> Result<RequestTarget<'_>, Refusal> {
    if let Some(b) = target.bytes().find(|&b| !(0x21..=0x7e).contains(&b) || b == b'#') {
        return Err(if b == b'#' {
            refuse!(
                PathInvalid,
                "the request target has a fragment (#), which no client sends"
            )
        } else {
            refuse!(
                PathInvalid,
                "the request target has a space, a control character or a non-ASCII byte; percent-encode it"
            )
        });
    }
    let rest = if target.starts_with('/') {
        target
    } else {
        let scheme_end = ["http://", "https://"]
            .iter()
            .find(|s| {
                target.len() >= s.len() && target.as_bytes()[..s.len()].eq_ignore_ascii_case(s.as_bytes())
            })
            .map(|s| s.len());
        let Some(scheme_end) = scheme_end else {
            return Err(refuse!(
                PathInvalid,
                "the request target is neither a path (/…) nor an http(s) URL"
            ));
        };
        let after = &target[scheme_end..];
        let end = after.find(['/', '?']).unwrap_or(after.len());
        if !authority_ok(&after[..end]) {
            return Err(refuse!(
                PathInvalid,
                "the request target's authority is not a plain host and port, which URL parsers read alike"
            ));
        }
        match after.as_bytes().get(end) {
            Some(b'/') => &after[end..],
            Some(_) => {
                return Ok(RequestTarget {
                    path: "/",
                    query: Some(&after[end + 1..]),
                })
            }
            None => "/",
        }
    };
    Ok(match rest.split_once('?') {
        Some((path, query)) => RequestTarget {
            path,
            query: Some(query),
        },
        None => RequestTarget {
            path: rest,
            query: None,
        },
    })
}

/// A host name (letters, digits, `.`, `-`) or a bracketed IP literal (hex
/// digits, `:`, `.`), then an optional `:` and decimal port.
fn authority_ok(authority: &str) -> bool {
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) => {
                let ip_ok = !ip.is_empty()
                    && ip
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
                (ip_ok, port)
            }
            None => return false,
        },
        None => {
            let (host, port) = authority.split_at(authority.find(':').unwrap_or(authority.len()));
            let host_ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            (host_ok, port)
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// The request headers without any `x-tessera-*` header.
pub fn without_identity_headers<'a>(headers: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    headers
        .iter()
        .filter(|(n, _)| !is_identity_header(n))
        .copied()
        .collect()
}

/// Whether `name` is one of Tessera's identity headers (case-insensitive, and
/// `_` read as `-`: CGI, WSGI and PHP origins map `x_tessera_user` to the
/// same variable as `x-tessera-user`).
pub fn is_identity_header(name: &str) -> bool {
    name.len() >= IDENTITY_HEADER_PREFIX.len()
        && name.as_bytes()[..IDENTITY_HEADER_PREFIX.len()]
            .iter()
            .zip(IDENTITY_HEADER_PREFIX.as_bytes())
            .all(|(a, b)| a.eq_ignore_ascii_case(b) || (*a == b'_' && *b == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_detection() {
        assert!(is_navigation(&[("sec-fetch-dest", "document")]));
        assert!(!is_navigation(&[
            ("sec-fetch-dest", "empty"),
            ("accept", "text/html")
        ]));
        assert!(is_navigation(&[("Sec-Fetch-Mode", "navigate")]));
        assert!(is_navigation(&[("Accept", "text/html,application/xhtml+xml")]));
        assert!(!is_navigation(&[("Accept", "application/json")]));
        assert!(!is_navigation(&[]));
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            bearer_token(&[("authorization", "bearer  a.b.c")]).unwrap(),
            Some("a.b.c")
        );
        assert_eq!(
            bearer_token(&[("authorization", "Basic dXNlcg==")]).unwrap(),
            None
        );
        assert_eq!(bearer_token(&[]).unwrap(), None);
        for bad in ["Bearer ", "Bearer a b", "Bearer a\"b", "Bearer a,b"] {
            assert!(bearer_token(&[("Authorization", bad)]).is_err(), "{bad:?}");
        }
        assert!(bearer_token(&[("Authorization", "Bearer a"), ("authorization", "Bearer b")]).is_err());
    }

    #[test]
    fn csrf_gate() {
        let me = "https://app.example";
        let ok = |m: &str, h: &[(&str, &str)]| csrf_check(m, h, me, &["https://admin.example"]).is_ok();
        assert!(ok("GET", &[("sec-fetch-site", "cross-site")]));
        assert!(ok("POST", &[("sec-fetch-site", "same-origin")]));
        assert!(!ok("POST", &[("sec-fetch-site", "same-site")]));
        assert!(!ok(
            "POST",
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://evil.app.example")
            ]
        ));
        assert!(ok(
            "POST",
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://admin.example")
            ]
        ));
        assert!(ok("DELETE", &[("sec-fetch-site", "none")]));
        assert!(!ok("POST", &[("sec-fetch-site", "cross-site")]));
        assert!(!ok(
            "POST",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example")
            ]
        ));
        assert!(ok(
            "POST",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://admin.example")
            ]
        ));
        assert!(ok("PUT", &[("origin", "https://app.example")]));
        assert!(!ok("PUT", &[("origin", "null")]));
        assert!(!ok("PATCH", &[]));
    }

    #[test]
    fn request_targets_follow_rfc_9112() {
        fn t(s: &str) -> Result<(&str, Option<&str>), &'static str> {
            request_target(s)
                .map(|t| (t.path, t.query))
                .map_err(|r| r.reason.code())
        }
        // Origin form: a `://` anywhere after the path starts is data.
        assert_eq!(
            t("/admin/users?next=https://x"),
            Ok(("/admin/users", Some("next=https://x")))
        );
        assert_eq!(t("/a://b/c"), Ok(("/a://b/c", None)));
        assert_eq!(t("/?"), Ok(("/", Some(""))));
        // Absolute form: the scheme must come before the first /, ? or #.
        assert_eq!(t("https://app.example/a?b"), Ok(("/a", Some("b"))));
        assert_eq!(t("HTTP://app.example:8080/a"), Ok(("/a", None)));
        assert_eq!(t("https://a?/admin"), Ok(("/", Some("/admin"))));
        assert_eq!(t("http://[::1]:8443/a"), Ok(("/a", None)));
        assert_eq!(t("https://app.example"), Ok(("/", None)));
        assert_eq!(t("http://127.0.0.1:8787"), Ok(("/", None)));
        for bad in [
            "",
            "*",
            "admin",
            "app.example:443",
            "a?b://c/d",
            "1http://h/a",
            "ht tp://h/a",
            "://h/a",
            "?x=https://h/a",
            "#https://h/a",
            "/a#/b",
            "https://a#/admin",
            "http://x\\admin/public",
            "http://x y/a",
            "/admin\u{a0}",
            "/admin\u{feff}",
            "/a\tb",
            "/a b",
            "/caf\u{e9}",
            "/a?b c",
            // What Node's url.parse (and so Express) splits elsewhere.
            "javascript://admin/secret.html",
            "http://x%2Fadmin/secret.html",
            "http://x:admin/reports",
            "http://x'/admin",
            "http://x;/admin",
            "https://user:pw@host/a",
            "coap+tcp://h/x",
            "http://:80/a",
            "http://[zz]/a",
            "http://h:123456/a",
        ] {
            assert_eq!(t(bad), Err("path-invalid"), "{bad:?}");
        }
    }

    #[test]
    fn identity_headers_are_stripped_in_any_case() {
        let h = [
            ("X-Tessera-User", "admin"),
            ("x-tessera-claims", "e30"),
            ("accept", "*/*"),
            ("x-tesser", "1"),
            ("X_Tessera_User", "admin"),
            ("x-tessera_org", "o"),
        ];
        assert_eq!(
            without_identity_headers(&h),
            [("accept", "*/*"), ("x-tesser", "1")]
        );
    }
}
