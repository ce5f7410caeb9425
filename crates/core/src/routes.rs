//! Route rules: which paths are public, protected pages, or protected APIs.
//!
//! Rules are ordered glob patterns, optionally limited to some methods; the first
//! rule that matches decides, and a path no rule matches gets the default access
//! (protected page unless configured otherwise: forgetting a rule must not expose
//! a route).
//!
//! Matching happens on the *normalised* path: percent-decoded exactly once,
//! dot segments resolved, repeated slashes merged, so `/admin`, `//admin`,
//! `/x/../admin` and `/%61dmin` are one route. What could be read differently by
//! the origin is refused (`path-invalid`, HTTP 400), never matched loosely:
//! encoded slashes or backslashes (`%2F`, `%5C`), a raw backslash, double
//! encoding (`%2561`), control characters, invalid UTF-8, `..` above the root,
//! and dot segments with `;` parameters (`/public/..;/admin`).
//!
//! Patterns: `*` matches within one segment, `**` (a whole segment) matches any
//! number of segments, everything else is literal.
//!
//! ```
//! use tessera_core::routes::{Access, RouteRule, Routes};
//! let routes = Routes::new(
//!     vec![
//!         RouteRule::new("/", Access::Public),
//!         RouteRule::new("/assets/**", Access::Public),
//!         RouteRule::new("/api/**", Access::Api),
//!     ],
//!     Access::Page,
//! ).unwrap();
//! assert_eq!(routes.classify("GET", "/assets/app.css").unwrap().access, Access::Public);
//! assert_eq!(routes.classify("GET", "/assets/../admin").unwrap().access, Access::Page);
//! assert_eq!(routes.classify("POST", "/api/v1/items").unwrap().access, Access::Api);
//! assert_eq!(routes.classify("GET", "/api%2Fadmin").unwrap_err().reason.code(), "path-invalid");
//! ```

use crate::config::ConfigError;
use crate::fields::Fields;
use crate::reason::{refuse, Refusal};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;

/// Paths longer than this (bytes, before decoding) are refused.
pub const MAX_PATH_BYTES: usize = 8 * 1024;

/// What a route requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// No session needed (identity is still forwarded when present).
    Public,
    /// A signed-in session is needed; navigations without one are sent to sign-in.
    Page,
    /// A signed-in session or bearer token is needed; without one: 401.
    Api,
}

impl Access {
    /// The configuration's names, for messages.
    pub const NAMES: &'static str = "public, page, api";

    /// The access named `name` in configuration.
    pub fn from_name(name: &str) -> Option<Access> {
        match name {
            "public" => Some(Access::Public),
            "page" => Some(Access::Page),
            "api" => Some(Access::Api),
            _ => None,
        }
    }
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRule {
    /// The glob pattern, starting with `/`. Required.
    pub pattern: String,
    /// Methods the rule applies to (upper case); empty means all. Default: all.
    pub methods: Vec<String>,
    /// What the matched route requires. Required.
    pub access: Access,
    /// Whether `Authorization: Bearer` tokens are accepted here. Default: `true`
    /// for `api` routes, `false` otherwise (pages use the session cookie).
    pub bearer: Option<bool>,
}

impl RouteRule {
    pub(crate) fn read(f: &mut Fields) -> Result<RouteRule, ConfigError> {
        Ok(RouteRule {
            pattern: f
                .string("pattern")?
                .ok_or_else(|| f.error("pattern", "is required, e.g. \"/api/**\""))?,
            methods: f.strings("methods")?.unwrap_or_default(),
            access: f
                .named("access", Access::from_name, Access::NAMES)?
                .ok_or_else(|| f.error("access", &format!("is required: one of {}", Access::NAMES)))?,
            bearer: f.nullable("bearer", Fields::bool)?,
        })
    }

    /// A rule for all methods with the default bearer setting.
    pub fn new(pattern: impl Into<String>, access: Access) -> RouteRule {
        RouteRule {
            pattern: pattern.into(),
            methods: Vec::new(),
            access,
            bearer: None,
        }
    }
}

/// The outcome of classifying a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    /// What the route requires.
    pub access: Access,
    /// Whether bearer tokens are accepted.
    pub bearer: bool,
    /// The index of the matching rule, `None` for the default.
    pub rule: Option<usize>,
    /// The normalised path that was matched.
    pub path: String,
}

#[derive(Clone, Debug)]
struct Compiled {
    segments: Vec<Segment>,
    methods: Vec<String>,
    access: Access,
    bearer: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    AnyDepth,
    Glob(String),
}

/// Compiled route rules.
#[derive(Clone, Debug)]
pub struct Routes {
    rules: Vec<Compiled>,
    default: Access,
}

impl Routes {
    /// Compiles `rules`; `default` applies where none matches.
    pub fn new(rules: Vec<RouteRule>, default: Access) -> Result<Routes, ConfigError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.into_iter().enumerate() {
            let field = format!("routes[{i}].pattern");
            let Some(rest) = rule.pattern.strip_prefix('/') else {
                return Err(ConfigError::new(
                    field,
                    format!("{:?} must start with /", rule.pattern),
                ));
            };
            let segments = if rest.is_empty() {
                Vec::new()
            } else {
                rest.split('/')
                    .map(|s| {
                        if s == "**" {
                            Ok(Segment::AnyDepth)
                        } else if s.contains("**") {
                            Err(ConfigError::new(
                                field.clone(),
                                format!("{:?}: ** must be a whole segment", rule.pattern),
                            ))
                        } else {
                            Ok(Segment::Glob(String::from(s)))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            compiled.push(Compiled {
                segments,
                methods: rule.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
                bearer: rule.bearer.unwrap_or(rule.access == Access::Api),
                access: rule.access,
            });
        }
        Ok(Routes {
            rules: compiled,
            default,
        })
    }

    /// Classifies a request by method and raw path (without the query string).
    pub fn classify(&self, method: &str, raw_path: &str) -> Result<RouteMatch, Refusal> {
        let path = normalize(raw_path)?;
        let segments: Vec<&str> = path[1..].split('/').filter(|s| !s.is_empty()).collect();
        let trailing_empty = path.len() > 1 && path.ends_with('/');
        for (i, rule) in self.rules.iter().enumerate() {
            let method_ok =
                rule.methods.is_empty() || rule.methods.iter().any(|m| m.eq_ignore_ascii_case(method));
            if method_ok && matches(&rule.segments, &segments, trailing_empty) {
                return Ok(RouteMatch {
                    access: rule.access,
                    bearer: rule.bearer,
                    rule: Some(i),
                    path,
                });
            }
        }
        Ok(RouteMatch {
            access: self.default,
            bearer: self.default == Access::Api,
            rule: None,
            path,
        })
    }
}

/// Segment-level matching: `**` takes any number of segments (dynamic
/// programming over segments, so no pattern is exponential). A path with a
/// trailing slash matches a pattern only if the pattern allows more segments.
fn matches(pattern: &[Segment], path: &[&str], trailing_empty: bool) -> bool {
    // reach[j]: the first i pattern segments can consume the first j path segments.
    let mut reach = alloc::vec![false; path.len() + 1];
    reach[0] = true;
    let mut next = alloc::vec![false; path.len() + 1];
    for seg in pattern {
        next.fill(false);
        match seg {
            Segment::AnyDepth => {
                let mut any = false;
                for j in 0..=path.len() {
                    any |= reach[j];
                    next[j] = any;
                }
            }
            Segment::Glob(g) => {
                for j in 0..path.len() {
                    if reach[j] && glob(g.as_bytes(), path[j].as_bytes()) {
                        next[j + 1] = true;
                    }
                }
            }
        }
        core::mem::swap(&mut reach, &mut next);
    }
    let ends_with_any = pattern.last() == Some(&Segment::AnyDepth);
    reach[path.len()] && (!trailing_empty || ends_with_any)
}

/// `*` within one segment; linear-time two-pointer matching.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|b| *b == b'*')
}

/// Normalises a raw request path; see the module docs for what is refused.
///
/// ```
/// use tessera_core::routes::normalize;
/// assert_eq!(normalize("//a/./b/../c%20d/").unwrap(), "/a/c d/");
/// assert!(normalize("/a/%2e%2e/%2e%2e/etc").is_err());
/// ```
pub fn normalize(raw: &str) -> Result<String, Refusal> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(refuse!(
            PathInvalid,
            "the path is {} bytes, over the {MAX_PATH_BYTES}-byte cap",
            raw.len()
        ));
    }
    if !raw.starts_with('/') {
        return Err(refuse!(PathInvalid, "the path must start with /"));
    }
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| core::str::from_utf8(h).ok());
            let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                return Err(refuse!(PathInvalid, "the path has a malformed percent escape"));
            };
            match v {
                b'/' | b'\\' => {
                    return Err(refuse!(
                        PathInvalid,
                        "the path has an encoded slash or backslash, which servers read differently"
                    ))
                }
                b'%' => return Err(refuse!(PathInvalid, "the path is percent-encoded twice")),
                _ => decoded.push(v),
            }
            i += 3;
        } else {
            if b == b'\\' {
                return Err(refuse!(
                    PathInvalid,
                    "the path has a backslash, which some servers read as /"
                ));
            }
            decoded.push(b);
            i += 1;
        }
    }
    let text =
        String::from_utf8(decoded).map_err(|_| refuse!(PathInvalid, "the decoded path is not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(refuse!(PathInvalid, "the path has control characters"));
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = text[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut trailing = false;
    for (k, seg) in segments.iter().enumerate() {
        // `..;x` is `..` to servlet containers (path parameters): refuse it rather
        // than read it as a literal segment.
        let bare = seg.split(';').next().unwrap_or("");
        if bare.len() < seg.len() && (bare == "." || bare == "..") {
            return Err(refuse!(
                PathInvalid,
                "the path has a dot segment with a ; parameter"
            ));
        }
        match *seg {
            "" | "." => trailing = k == last,
            ".." => {
                if out.pop().is_none() {
                    return Err(refuse!(PathInvalid, "the path climbs above the root with .."));
                }
                trailing = k == last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut path = String::from("/");
    path.push_str(&out.join("/"));
    if trailing && !out.is_empty() {
        path.push('/');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        Routes::new(
            alloc::vec![
                RouteRule::new("/", Access::Public),
                RouteRule::new("/public/**", Access::Public),
                RouteRule::new("/docs/*.html", Access::Public),
                RouteRule {
                    methods: alloc::vec![String::from("GET")],
                    ..RouteRule::new("/feed", Access::Public)
                },
                RouteRule::new("/api/**", Access::Api),
                RouteRule::new("/users/*/settings", Access::Page),
            ],
            Access::Page,
        )
        .unwrap()
    }

    fn access(method: &str, path: &str) -> Result<Access, &'static str> {
        routes()
            .classify(method, path)
            .map(|m| m.access)
            .map_err(|r| r.reason.code())
    }

    #[test]
    fn equivalent_spellings_reach_the_same_rule() {
        for p in [
            "/admin",
            "//admin",
            "/x/../admin",
            "/%61dmin",
            "/./admin",
            "/public/../admin",
            "/public/%2e%2e/admin",
        ] {
            assert_eq!(access("GET", p), Ok(Access::Page), "{p}");
        }
        for p in [
            "/public",
            "/public/",
            "/public/a/b/c.js",
            "//public//x",
            "/public/%41.png",
        ] {
            assert_eq!(access("GET", p), Ok(Access::Public), "{p}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused_not_matched() {
        for p in [
            "/public%2F..%2Fadmin",
            "/public/..%5Cadmin",
            "/public\\..\\admin",
            "/public/%252e%252e/admin",
            "/a%",
            "/a%zz",
            "/%00",
            "/%ff",
            "/..",
            "/a/../..",
            "admin",
            "",
            "/public/..;/admin",
            "/public/.;x/a",
        ] {
            assert_eq!(access("GET", p), Err("path-invalid"), "{p:?}");
        }
        assert_eq!(
            access("GET", &alloc::format!("/{}", "a".repeat(MAX_PATH_BYTES))),
            Err("path-invalid")
        );
    }

    #[test]
    fn globs_methods_and_defaults() {
        assert_eq!(access("GET", "/docs/intro.html"), Ok(Access::Public));
        assert_eq!(access("GET", "/docs/a/intro.html"), Ok(Access::Page));
        assert_eq!(access("GET", "/docs/intro.htm"), Ok(Access::Page));
        assert_eq!(access("GET", "/feed"), Ok(Access::Public));
        assert_eq!(access("POST", "/feed"), Ok(Access::Page));
        assert_eq!(access("get", "/feed"), Ok(Access::Public));
        assert_eq!(access("GET", "/users/42/settings"), Ok(Access::Page));
        assert_eq!(access("GET", "/api"), Ok(Access::Api));
        assert_eq!(access("DELETE", "/api/x/y"), Ok(Access::Api));
        assert_eq!(access("GET", "/apix"), Ok(Access::Page));
        assert_eq!(access("GET", "/"), Ok(Access::Public));
        let m = routes().classify("GET", "/api/x").unwrap();
        assert!(m.bearer && m.rule == Some(4));
        assert!(!routes().classify("GET", "/anything").unwrap().bearer);
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let r = Routes::new(
            alloc::vec![RouteRule::new("/**/**/**/**/**/**/x*x*x*x*x*x*y", Access::Public)],
            Access::Page,
        )
        .unwrap();
        let long = alloc::format!("/{}", ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; 200].join("/"));
        assert_eq!(r.classify("GET", &long).unwrap().access, Access::Page);
    }

    #[test]
    fn bad_patterns_are_configuration_errors() {
        assert!(Routes::new(alloc::vec![RouteRule::new("api/**", Access::Api)], Access::Page).is_err());
        let err = Routes::new(alloc::vec![RouteRule::new("/a**", Access::Api)], Access::Page).unwrap_err();
        assert_eq!(err.field, "routes[0].pattern");
    }
}
