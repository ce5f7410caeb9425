//! Cookies: parsing the `Cookie` header, serialising `Set-Cookie`, and chunking
//! values too large for one cookie.
//!
//! Parsing follows what browsers send (RFC 6265 §5.4) and tolerates what they
//! tolerate (spaces, quoted values, stray separators, pairs without `=`), while
//! refusing absurd input: past [`MAX_COOKIE_HEADER_BYTES`] or
//! [`MAX_COOKIES`] the rest is ignored. When a name repeats, the first one wins,
//! as browsers put the most specific cookie first.
//!
//! Large values are split into `name.0`, `name.1`, … of at most [`CHUNK_BYTES`]
//! each and joined before opening; a set of chunks larger than
//! [`MAX_CHUNKED_BYTES`] in all is refused.
//!
//! ```
//! use tessera_core::cookie::{CookieJar, SetCookie, SameSite};
//! let jar = CookieJar::parse("a=1; __Host-tessera-session=t1.k.abc; a=2");
//! assert_eq!(jar.get("a"), Some("1"));
//!
//! let c = SetCookie::new("__Host-tessera-session", "t1.k.abc").max_age(3600);
//! assert_eq!(c.to_string(), "__Host-tessera-session=t1.k.abc; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax");
//! ```

use crate::reason::{refuse, Refusal};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::Serialize;

/// Cookie header bytes read at most; the rest is ignored.
pub const MAX_COOKIE_HEADER_BYTES: usize = 32 * 1024;
/// Cookies read at most from one request.
pub const MAX_COOKIES: usize = 128;
/// Bytes of value per cookie chunk: browsers cap a cookie (name, value and
/// attributes) near 4 096 bytes.
pub const CHUNK_BYTES: usize = 3_800;
/// The largest chunked value accepted or produced (8 chunks).
pub const MAX_CHUNKED_BYTES: usize = 8 * CHUNK_BYTES;

/// The cookies of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieJar {
    pairs: Vec<(String, String)>,
}

impl CookieJar {
    /// Parses one or more `Cookie` header values (join several with `; `).
    pub fn parse(header: &str) -> CookieJar {
        let mut end = header.len().min(MAX_COOKIE_HEADER_BYTES);
        while !header.is_char_boundary(end) {
            end -= 1;
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in header[..end].split(';') {
            if pairs.len() >= MAX_COOKIES {
                break;
            }
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(is_token_byte) || pairs.iter().any(|(n, _)| n == name) {
                continue;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            pairs.push((String::from(name), String::from(value)));
        }
        CookieJar { pairs }
    }

    /// The value of the cookie `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every cookie name, in header order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(n, _)| n.as_str())
    }

    /// The value stored under `name`, whole or chunked (`name.0`, `name.1`, …).
    /// A gap in the chunks or an oversized total is `cookie-unsealable`.
    pub fn get_joined(&self, name: &str) -> Result<Option<String>, Refusal> {
        if let Some(v) = self.get(name) {
            return Ok(Some(String::from(v)));
        }
        let mut joined = String::new();
        let mut count = 0;
        while let Some(part) = self.get(&chunk_name(name, count)) {
            joined.push_str(part);
            count += 1;
            if joined.len() > MAX_CHUNKED_BYTES {
                return Err(refuse!(
                    CookieUnsealable,
                    "cookie {name:?} is over {MAX_CHUNKED_BYTES} bytes in its chunks"
                ));
            }
        }
        let stray = self
            .names()
            .any(|n| chunk_index(name, n).is_some_and(|i| i >= count));
        if stray {
            return Err(refuse!(
                CookieUnsealable,
                "cookie {name:?} has a missing chunk {name}.{count}"
            ));
        }
        Ok((count > 0).then_some(joined))
    }

    /// The names under which `name` is stored in this request (whole and chunks),
    /// so all of them can be cleared.
    pub fn stored_names<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.names()
            .filter(move |n| *n == name || chunk_index(name, n).is_some())
    }
}

/// A `Cookie` header without the cookies stored under `names` (whole or
/// chunked), for forwarding to an origin that must not see them.
///
/// ```
/// use tessera_core::cookie::without;
/// assert_eq!(without("a=1; s=x; s.0=y; sx=2", &["s"]), "a=1; sx=2");
/// ```
pub fn without(header: &str, names: &[&str]) -> String {
    header
        .split(';')
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("").trim();
            !pair.is_empty() && !names.iter().any(|n| name == *n || chunk_index(n, name).is_some())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `Some(i)` when `candidate` is chunk `i` of cookie `name` (`name.i`).
fn chunk_index(name: &str, candidate: &str) -> Option<usize> {
    candidate.strip_prefix(name)?.strip_prefix('.')?.parse().ok()
}

/// The name of chunk `i` of cookie `name`.
pub fn chunk_name(name: &str, i: usize) -> String {
    format!("{name}.{i}")
}

/// RFC 7230 token characters (RFC 6265 cookie names).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 cookie-octet: printable ASCII except `"`, `,`, `;`, `\` and space.
fn is_value_byte(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// The `SameSite` attribute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum SameSite {
    /// Sent on top-level navigations from other sites, so the sign-in callback
    /// redirect carries the transaction cookie. The default.
    #[default]
    Lax,
    /// Never sent cross-site (breaks the callback unless the provider is same-site).
    Strict,
    /// Always sent; requires `Secure`.
    None,
}

impl SameSite {
    /// The configuration's names, for messages.
    pub const NAMES: &'static str = "Lax, Strict, None";

    /// The attribute value named `name` (as in `Set-Cookie`).
    pub fn from_name(name: &str) -> Option<SameSite> {
        match name {
            "Lax" => Some(SameSite::Lax),
            "Strict" => Some(SameSite::Strict),
            "None" => Some(SameSite::None),
            _ => None,
        }
    }
}

/// A `Set-Cookie` header value. Defaults: `Path=/`, `Secure`, `HttpOnly`,
/// `SameSite=Lax`, no `Domain`, a session cookie (no `Max-Age`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie name.
    pub name: String,
    /// The (already sealed or encoded) value.
    pub value: String,
    /// Seconds until the browser drops it; `Some(0)` deletes it.
    pub max_age: Option<u64>,
    /// The `Path` attribute.
    pub path: String,
    /// The `Domain` attribute (forbidden for `__Host-` cookies).
    pub domain: Option<String>,
    /// The `Secure` attribute.
    pub secure: bool,
    /// The `HttpOnly` attribute.
    pub http_only: bool,
    /// The `SameSite` attribute.
    pub same_site: SameSite,
}

impl SetCookie {
    /// A cookie with the safe defaults.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> SetCookie {
        SetCookie {
            name: name.into(),
            value: value.into(),
            max_age: None,
            path: String::from("/"),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
        }
    }

    /// Sets `Max-Age`.
    pub fn max_age(mut self, seconds: u64) -> SetCookie {
        self.max_age = Some(seconds);
        self
    }

    /// A deletion of the cookie `name` with the same attributes.
    pub fn deletion(name: impl Into<String>) -> SetCookie {
        SetCookie::new(name, "").max_age(0)
    }

    /// Checks the prefix and attribute rules browsers enforce (RFC 6265bis §4.1.3):
    /// `__Host-` needs `Secure`, `Path=/` and no `Domain`; `__Secure-` needs
    /// `Secure`; `SameSite=None` needs `Secure`. Also checks the name and value
    /// characters, and the size browsers accept.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() || !self.name.bytes().all(is_token_byte) {
            return Err(format!("cookie name {:?} is not a valid token", self.name));
        }
        if !self.value.bytes().all(is_value_byte) {
            return Err(format!(
                "cookie {:?} has characters not allowed in a cookie value",
                self.name
            ));
        }
        if self.name.len() + self.value.len() > 4_000 {
            return Err(format!("cookie {:?} is over 4 000 bytes; chunk it", self.name));
        }
        if self.name.starts_with("__Host-") && (!self.secure || self.path != "/" || self.domain.is_some()) {
            return Err(format!(
                "cookie {:?}: the __Host- prefix requires Secure, Path=/ and no Domain",
                self.name
            ));
        }
        if self.name.starts_with("__Secure-") && !self.secure {
            return Err(format!(
                "cookie {:?}: the __Secure- prefix requires Secure",
                self.name
            ));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(format!("cookie {:?}: SameSite=None requires Secure", self.name));
        }
        Ok(())
    }
}

impl fmt::Display for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)?;
        if let Some(age) = self.max_age {
            write!(f, "; Max-Age={age}")?;
        }
        write!(f, "; Path={}", self.path)?;
        if let Some(domain) = &self.domain {
            write!(f, "; Domain={domain}")?;
        }
        if self.secure {
            f.write_str("; Secure")?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        f.write_str(match self.same_site {
            SameSite::Lax => "; SameSite=Lax",
            SameSite::Strict => "; SameSite=Strict",
            SameSite::None => "; SameSite=None",
        })
    }
}

/// The cookies that store `value` under `name` (whole if it fits, else chunks),
/// plus deletions of whatever `jar` holds under `name` that the new value does
/// not overwrite (a shorter value must not leave stale chunks behind).
///
/// `template` supplies the attributes. Values over [`MAX_CHUNKED_BYTES`] are refused.
pub fn store(jar: &CookieJar, template: &SetCookie, value: &str) -> Result<Vec<SetCookie>, String> {
    if value.len() > MAX_CHUNKED_BYTES {
        return Err(format!(
            "value for {:?} is {} bytes, over the {MAX_CHUNKED_BYTES}-byte budget",
            template.name,
            value.len()
        ));
    }
    let with = |name: String, value: &str| SetCookie {
        name,
        value: String::from(value),
        ..template.clone()
    };
    let mut out = Vec::new();
    if value.len() <= CHUNK_BYTES {
        out.push(with(template.name.clone(), value));
    } else {
        // Values are ASCII (sealed, base64url), so byte chunks are char-aligned;
        // `validate` below refuses anything else.
        for (i, part) in value.as_bytes().chunks(CHUNK_BYTES).enumerate() {
            out.push(with(
                chunk_name(&template.name, i),
                core::str::from_utf8(part).unwrap_or(""),
            ));
        }
    }
    for stale in jar.stored_names(&template.name) {
        if !out.iter().any(|c| c.name == stale) {
            out.push(SetCookie {
                max_age: Some(0),
                ..with(String::from(stale), "")
            });
        }
    }
    for c in &out {
        c.validate()?;
    }
    Ok(out)
}

/// Deletions for everything `jar` holds under `name` (whole and every chunk).
pub fn clear(jar: &CookieJar, template: &SetCookie) -> Vec<SetCookie> {
    jar.stored_names(&template.name)
        .map(|n| SetCookie {
            name: String::from(n),
            value: String::new(),
            max_age: Some(0),
            ..template.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parsing_tolerates_browser_quirks() {
        let jar = CookieJar::parse(" a = 1 ;;b=\"quoted\"; junk; =x; c=; d=e=f; bad name=1; a=2");
        assert_eq!(jar.get("a"), Some("1"));
        assert_eq!(jar.get("b"), Some("quoted"));
        assert_eq!(jar.get("c"), Some(""));
        assert_eq!(jar.get("d"), Some("e=f"));
        assert_eq!(jar.get("junk"), None);
        assert_eq!(jar.get("bad name"), None);
    }

    #[test]
    fn absurd_headers_are_capped() {
        let many: Vec<String> = (0..1000).map(|i| format!("c{i}=v")).collect();
        let jar = CookieJar::parse(&many.join("; "));
        assert_eq!(jar.names().count(), MAX_COOKIES);
        let huge = format!("a=1; b={}", "x".repeat(100_000));
        let jar = CookieJar::parse(&huge);
        assert_eq!(jar.get("a"), Some("1"));
        assert!(jar.get("b").unwrap().len() < MAX_COOKIE_HEADER_BYTES);
        // A multi-byte character at the cut does not panic.
        let _ = CookieJar::parse(&"é".repeat(MAX_COOKIE_HEADER_BYTES));
    }

    #[test]
    fn chunking_round_trips_and_clears_stale_chunks() {
        let template = SetCookie::new("__Host-s", "");
        let big = "A".repeat(CHUNK_BYTES * 2 + 10);
        let cookies = store(&CookieJar::default(), &template, &big).unwrap();
        assert_eq!(
            cookies.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["__Host-s.0", "__Host-s.1", "__Host-s.2"]
        );
        let header: Vec<String> = cookies
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        let jar = CookieJar::parse(&header.join("; "));
        assert_eq!(jar.get_joined("__Host-s").unwrap().as_deref(), Some(big.as_str()));
        // Storing a small value over three chunks deletes all three.
        let small = store(&jar, &template, "short").unwrap();
        assert_eq!(
            small[0].to_string(),
            "__Host-s=short; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(small.iter().filter(|c| c.max_age == Some(0)).count(), 3);
        assert_eq!(clear(&jar, &template).len(), 3);
    }

    #[test]
    fn chunk_gaps_and_oversize_are_refused() {
        let jar = CookieJar::parse("s.0=aa; s.2=cc");
        assert_eq!(
            jar.get_joined("s").unwrap_err().reason.code(),
            "cookie-unsealable"
        );
        assert_eq!(CookieJar::parse("other=1").get_joined("s").unwrap(), None);
        let parts: Vec<String> = (0..10)
            .map(|i| format!("s.{i}={}", "x".repeat(CHUNK_BYTES)))
            .collect();
        assert!(CookieJar::parse(&parts.join("; ")).get_joined("s").is_err());
        assert!(store(
            &CookieJar::default(),
            &SetCookie::new("s", ""),
            &"x".repeat(MAX_CHUNKED_BYTES + 1)
        )
        .is_err());
    }

    #[test]
    fn prefix_rules_are_enforced() {
        let mut c = SetCookie::new("__Host-x", "v");
        assert!(c.validate().is_ok());
        c.domain = Some("example.com".into());
        assert!(c.validate().is_err());
        let mut c = SetCookie::new("__Host-x", "v");
        c.path = "/app".into();
        assert!(c.validate().is_err());
        let mut c = SetCookie::new("__Secure-x", "v");
        c.secure = false;
        assert!(c.validate().is_err());
        let mut c = SetCookie::new("x", "v");
        c.secure = false;
        c.same_site = SameSite::None;
        assert!(c.validate().is_err());
        assert!(SetCookie::new("x", "a;b").validate().is_err());
        assert!(SetCookie::new("x y", "v").validate().is_err());
        assert_eq!(
            SetCookie::deletion("__Host-x").to_string(),
            "__Host-x=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
    }
}
