//! Route rules: which paths are public, protected pages, or protected APIs.
//!
//! Rules are ordered glob patterns, optionally limited to some methods; the first
//! rule that matches decides, and a path no rule matches gets the default access
//! (protected page unless configured otherwise: forgetting a rule must not expose
//! a route).
//!
//! **The engine decides on exactly the path the framework routes.** A path is
//! percent-decoded once and otherwise taken as it is: nothing is resolved or
//! merged, because Express, Hono, axum and most origins route the raw path and
//! would not resolve it either. What a router, a proxy or an origin could read
//! as another path is refused (`path-invalid`, HTTP 400), never matched
//! loosely: dot segments (`/a/../b`, `/./a`, `%2e%2e`), empty segments (`//a`,
//! `/a//b`; a trailing slash is fine), `;` path parameters (`/a;x`, `%3B`,
//! which servlet containers and some proxies strip; a rule may opt in with
//! `allowSemicolons`), encoded slashes or backslashes (`%2F`, `%5C`), a raw
//! backslash, double encoding (`%2561`), control characters and invalid UTF-8.
//! Legitimate encodings (`/caf%C3%A9`, `/a%20b`) match as their decoded text.
//!
//! **Protective rules match every spelling a framework may route to them;
//! public rules only their own.** Frameworks differ on letter case (Express
//! matches case-insensitively by default) and trailing slashes (Express and
//! many others route `/admin/` to `/admin`), so a `page` or `api` rule matches
//! a path in any ASCII letter case and with or without a trailing slash, while
//! a `public` rule matches only its exact spelling (set
//! [`Routes::case_insensitive`], `routeMatching: "case-insensitive"`, to let
//! public rules ignore case too, for origins that do). Under the default
//! `page` access a spelling no rule expects is protected; under a `public`
//! default it still reaches the protective rule. A rule for `GET` also covers
//! `HEAD`, which every framework routes to the `GET` handler.
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
//! assert_eq!(routes.classify("GET", "/API/v1").unwrap().access, Access::Api);
//! assert_eq!(routes.classify("POST", "/api/v1/items").unwrap().access, Access::Api);
//! assert_eq!(routes.classify("GET", "/assets/../admin").unwrap_err().reason.code(), "path-invalid");
//! assert_eq!(routes.classify("GET", "/api%2Fadmin").unwrap_err().reason.code(), "path-invalid");
//! ```

use crate::config::ConfigError;
use crate::fields::Fields;
use crate::reason::{refuse, Refusal};
use crate::requirement::Requirements;
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    /// Whether paths with `;` (path parameters, `/a;v=1`) may match this rule.
    /// Default `false`: such a path is `path-invalid`, because servlet
    /// containers and some proxies route `/admin;x.css` to `/admin`. Turn it on
    /// only where the origin routes `;` as a literal character (Express, Hono
    /// and Next.js do); a warning says which rules allow it.
    pub allow_semicolons: bool,
    /// Whether the client's own `Authorization` header reaches the origin when
    /// the request is forwarded without a verified identity (a public route
    /// without a session, a CORS preflight). Default `false`: the origin is
    /// told `authorization` carries a verified access token, so an unverified
    /// one is removed. Turn it on for routes whose own credentials must pass,
    /// such as a webhook with Basic or HMAC authentication.
    pub pass_authorization: bool,
    /// Whether CORS preflights (`OPTIONS` with `Access-Control-Request-Method`)
    /// to this protected route reach the origin, without body or credentials,
    /// so it can answer them (a cross-origin SPA calling an API with bearer
    /// tokens). Default `false`: Tessera answers them itself, 204 without
    /// CORS headers, so browsers refuse cross-origin calls and no handler runs
    /// for a request without identity. Preflights to public routes always go on.
    pub forward_preflight: bool,
    /// What the caller must have on this route beyond a valid credential:
    /// scopes, roles, permissions, organisation, claims, kind, issuers
    /// ([`Requirements`]). Default: nothing. Unmet is 403 `insufficient-scope`
    /// (a bearer token from an issuer the route does not accept: 401
    /// `issuer-invalid`). Not allowed on `public` rules, which admit anyone.
    pub require: Requirements,
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
            allow_semicolons: f.bool("allowSemicolons")?.unwrap_or(false),
            pass_authorization: f.bool("passAuthorization")?.unwrap_or(false),
            forward_preflight: f.bool("forwardPreflight")?.unwrap_or(false),
            require: f.object("require", Requirements::read)?.unwrap_or_default(),
        })
    }

    /// A rule for all methods with the default bearer setting.
    pub fn new(pattern: impl Into<String>, access: Access) -> RouteRule {
        RouteRule {
            pattern: pattern.into(),
            methods: Vec::new(),
            access,
            bearer: None,
            allow_semicolons: false,
            pass_authorization: false,
            forward_preflight: false,
            require: Requirements::default(),
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
    /// Whether the client's `Authorization` header may reach the origin
    /// without a verified identity ([`RouteRule::pass_authorization`]).
    pub pass_authorization: bool,
    /// Whether CORS preflights go on to the origin
    /// ([`RouteRule::forward_preflight`]; always for public routes).
    pub forward_preflight: bool,
}

#[derive(Clone, Debug)]
struct Compiled {
    segments: Vec<Segment>,
    methods: Vec<String>,
    access: Access,
    bearer: bool,
    allow_semicolons: bool,
    pass_authorization: bool,
    forward_preflight: bool,
    require: Requirements,
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
    case_insensitive: bool,
}

impl Routes {
    /// Compiles `rules`; `default` applies where none matches.
    pub fn new(rules: Vec<RouteRule>, default: Access) -> Result<Routes, ConfigError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.into_iter().enumerate() {
            let field = format!("routes[{i}].pattern");
            if rule.access == Access::Public && !rule.require.is_empty() {
                return Err(ConfigError::new(
                    format!("routes[{i}].require"),
                    "a public route admits anyone, so it can require nothing: make it page or api",
                ));
            }
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
                        if s.is_empty() {
                            Err(ConfigError::new(
                                field.clone(),
                                format!(
                                    "{:?} has an empty segment, which no path can match (paths with // are refused); write /a or /a/**",
                                    rule.pattern
                                ),
                            ))
                        } else if s == "**" {
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
                allow_semicolons: rule.allow_semicolons,
                pass_authorization: rule.pass_authorization,
                forward_preflight: rule.forward_preflight || rule.access == Access::Public,
                require: rule.require,
            });
        }
        Ok(Routes {
            rules: compiled,
            default,
            case_insensitive: false,
        })
    }

    /// Lets public rules match in any ASCII letter case too (protective rules
    /// always do), for origins that route case-insensitively: the
    /// configuration's `routeMatching: "case-insensitive"`.
    pub fn case_insensitive(mut self, on: bool) -> Routes {
        self.case_insensitive = on;
        self
    }

    /// What rule `rule` ([`RouteMatch::rule`]) requires; nothing for the
    /// default (`None`).
    pub fn requirements(&self, rule: Option<usize>) -> Option<&Requirements> {
        rule.and_then(|i| self.rules.get(i))
            .map(|r| &r.require)
            .filter(|r| !r.is_empty())
    }

    /// Classifies a request by method and raw path (without the query string).
    pub fn classify(&self, method: &str, raw_path: &str) -> Result<RouteMatch, Refusal> {
        let Decoded { path, semicolon } = decode(raw_path)?;
        let found = self.rule_for(method, &path);
        if semicolon && found.is_some_and(|(i, _)| self.rules[i].allow_semicolons) {
            // A server that strips path parameters routes the path without
            // them: it must be under the same rule, or a `;` would walk past
            // a rule's requirements (`/admin;x/users` is not `/admin/**`).
            let stripped: Vec<&str> = path
                .split('/')
                .map(|s| s.split(';').next().unwrap_or(""))
                .collect();
            let stripped = stripped.join("/");
            if self.rule_for(method, &stripped).map(|(i, _)| i) != found.map(|(i, _)| i) {
                return Err(refuse!(
                    PathInvalid,
                    "servers that strip ; path parameters route {} under another route rule than {}; refused",
                    crate::jwk::quoted(&stripped),
                    crate::jwk::quoted(&path)
                ));
            }
        }
        let found = match found {
            Some((i, rule)) => RouteMatch {
                access: rule.access,
                bearer: rule.bearer,
                rule: Some(i),
                path,
                pass_authorization: rule.pass_authorization,
                forward_preflight: rule.forward_preflight,
            },
            None => RouteMatch {
                access: self.default,
                bearer: self.default == Access::Api,
                rule: None,
                path,
                pass_authorization: false,
                forward_preflight: self.default == Access::Public,
            },
        };
        if semicolon && !found.rule.is_some_and(|i| self.rules[i].allow_semicolons) {
            return Err(refuse!(
                PathInvalid,
                "the path has a ; (a path parameter, which some servers strip before routing); allow it with allowSemicolons on the route"
            ));
        }
        Ok(found)
    }

    /// The first rule matching `method` and the decoded `path`.
    fn rule_for(&self, method: &str, path: &str) -> Option<(usize, &Compiled)> {
        let segments: Vec<&str> = path[1..].split('/').filter(|s| !s.is_empty()).collect();
        let trailing_slash = path.len() > 1 && path.ends_with('/');
        let head_as_get = method.eq_ignore_ascii_case("HEAD");
        self.rules.iter().enumerate().find(|(_, rule)| {
            let method_ok = rule.methods.is_empty()
                || rule
                    .methods
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(method) || (head_as_get && m == "GET"));
            let protective = rule.access != Access::Public;
            let spelling = Spelling {
                fold_case: protective || self.case_insensitive,
                trailing_slash: trailing_slash && !protective,
            };
            method_ok && matches(&rule.segments, &segments, spelling)
        })
    }
}

/// How loosely a rule matches a path's spelling.
#[derive(Clone, Copy)]
struct Spelling {
    /// Compare letters ASCII-case-insensitively.
    fold_case: bool,
    /// The path ends with `/`, and that counts: it then matches only a
    /// pattern ending in `**`. (Protective rules ignore a trailing slash.)
    trailing_slash: bool,
}

/// Segment-level matching: `**` takes any number of segments (dynamic
/// programming over segments, so no pattern is exponential). A path with a
/// trailing slash matches a pattern only if the pattern allows more segments.
fn matches(pattern: &[Segment], path: &[&str], spelling: Spelling) -> bool {
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
                    if reach[j] && glob(g.as_bytes(), path[j].as_bytes(), spelling.fold_case) {
                        next[j + 1] = true;
                    }
                }
            }
        }
        core::mem::swap(&mut reach, &mut next);
    }
    let ends_with_any = pattern.last() == Some(&Segment::AnyDepth);
    reach[path.len()] && (!spelling.trailing_slash || ends_with_any)
}

/// `*` within one segment; linear-time two-pointer matching.
fn glob(pattern: &[u8], text: &[u8], fold_case: bool) -> bool {
    let same = |a: u8, b: u8| a == b || (fold_case && a.eq_ignore_ascii_case(&b));
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && same(pattern[p], text[t]) {
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

/// A path percent-decoded once, and whether it has a `;`.
struct Decoded {
    path: String,
    semicolon: bool,
}

/// Normalises a raw request path: percent-decoded once, everything the module
/// docs list refused, `;` included.
///
/// ```
/// use tessera_core::routes::normalize;
/// assert_eq!(normalize("/caf%C3%A9/a%20b/").unwrap(), "/café/a b/");
/// for bad in ["//a", "/a/./b", "/a/../b", "/a/%2e%2e/b", "/a;x", "/a%3Bx", "/a%2Fb"] {
///     assert!(normalize(bad).is_err(), "{bad}");
/// }
/// ```
pub fn normalize(raw: &str) -> Result<String, Refusal> {
    let Decoded { path, semicolon } = decode(raw)?;
    if semicolon {
        return Err(refuse!(PathInvalid, "the path has a ; (a path parameter)"));
    }
    Ok(path)
}

fn decode(raw: &str) -> Result<Decoded, Refusal> {
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
    let path =
        String::from_utf8(decoded).map_err(|_| refuse!(PathInvalid, "the decoded path is not UTF-8"))?;
    if path.chars().any(char::is_control) {
        return Err(refuse!(PathInvalid, "the path has control characters"));
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    for (k, seg) in segments.iter().enumerate() {
        // `..;x` is `..` to servlet containers (path parameters).
        let bare = seg.split(';').next().unwrap_or("");
        if bare == "." || bare == ".." {
            return Err(refuse!(
                PathInvalid,
                "the path has a dot segment (. or ..), which the framework or the origin may resolve to another path; send the resolved path"
            ));
        }
        if seg.is_empty() && k != last {
            return Err(refuse!(
                PathInvalid,
                "the path has an empty segment (//), which some servers merge and others do not"
            ));
        }
    }
    let semicolon = path.contains(';');
    Ok(Decoded { path, semicolon })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<RouteRule> {
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
            RouteRule {
                allow_semicolons: true,
                ..RouteRule::new("/matrix/**", Access::Page)
            },
        ]
    }

    fn routes() -> Routes {
        Routes::new(rules(), Access::Page).unwrap()
    }

    fn access(method: &str, path: &str) -> Result<Access, &'static str> {
        routes()
            .classify(method, path)
            .map(|m| m.access)
            .map_err(|r| r.reason.code())
    }

    #[test]
    fn encodings_of_the_same_text_reach_the_same_rule() {
        for p in ["/admin", "/%61dmin", "/ADMIN", "/admin/"] {
            assert_eq!(access("GET", p), Ok(Access::Page), "{p}");
        }
        for p in [
            "/public",
            "/public/",
            "/public/a/b/c.js",
            "/public/%41.png",
            "/public/caf%C3%A9",
            "/public/a%20b",
        ] {
            assert_eq!(access("GET", p), Ok(Access::Public), "{p}");
        }
        assert_eq!(
            routes().classify("GET", "/public/caf%C3%A9").unwrap().path,
            "/public/café"
        );
    }

    #[test]
    fn paths_a_router_could_read_differently_are_refused_not_matched() {
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
            // Dot segments are refused, not resolved: Express routes
            // `/admin/..` to `/admin/:view`.
            "/admin/..",
            "/admin/.",
            "/x/../admin",
            "/./admin",
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/public/%2E./admin",
            "/admin/%2e",
            // Empty segments: merged by some servers, not by others.
            "//admin",
            "/public//admin",
            "/public//",
            // Path parameters, unless the rule opts in.
            "/admin/users/42/delete;.css",
            "/public/a;b",
            "/public/a%3Bb",
            "/api;/x",
        ] {
            assert_eq!(access("GET", p), Err("path-invalid"), "{p:?}");
        }
        assert_eq!(
            access("GET", &alloc::format!("/{}", "a".repeat(MAX_PATH_BYTES))),
            Err("path-invalid")
        );
        // A rule that allows `;` takes such paths; others still refuse them.
        assert_eq!(access("GET", "/matrix/a;v=1"), Ok(Access::Page));
        assert_eq!(access("GET", "/matrix/..;/public"), Err("path-invalid"));
    }

    #[test]
    fn protective_rules_match_every_spelling_public_rules_only_theirs() {
        let public_default = Routes::new(
            alloc::vec![
                RouteRule::new("/admin/**", Access::Page),
                RouteRule {
                    methods: alloc::vec![String::from("GET")],
                    ..RouteRule::new("/reports", Access::Api)
                },
                RouteRule::new("/health", Access::Public),
            ],
            Access::Public,
        )
        .unwrap();
        let get = |m: &str, p: &str| public_default.classify(m, p).unwrap().access;
        for p in ["/admin", "/ADMIN", "/Admin/Users", "/admin/", "/%41dmin/x"] {
            assert_eq!(get("GET", p), Access::Page, "{p}");
        }
        for p in ["/reports", "/REPORTS", "/reports/", "/Reports/"] {
            assert_eq!(get("GET", p), Access::Api, "{p}");
            assert_eq!(get("HEAD", p), Access::Api, "HEAD {p}");
        }
        assert_eq!(get("POST", "/reports"), Access::Public);
        // Under the protective default, a public rule's other spellings stay
        // protected ...
        assert_eq!(access("GET", "/PUBLIC/x"), Ok(Access::Page));
        assert_eq!(access("GET", "/docs/Intro.html"), Ok(Access::Public));
        assert_eq!(access("GET", "/docs/intro.HTML"), Ok(Access::Page));
        assert_eq!(access("GET", "/DOCS/intro.html"), Ok(Access::Page));
        // ... unless public rules are case-insensitive too.
        let folded = routes().case_insensitive(true);
        assert_eq!(
            folded.classify("GET", "/PUBLIC/x").unwrap().access,
            Access::Public
        );
        assert_eq!(get("GET", "/HEALTH"), Access::Public); // the public default
    }

    #[test]
    fn globs_methods_and_defaults() {
        assert_eq!(access("GET", "/docs/intro.html"), Ok(Access::Public));
        assert_eq!(access("GET", "/docs/a/intro.html"), Ok(Access::Page));
        assert_eq!(access("GET", "/docs/intro.htm"), Ok(Access::Page));
        assert_eq!(access("GET", "/feed"), Ok(Access::Public));
        assert_eq!(access("HEAD", "/feed"), Ok(Access::Public));
        assert_eq!(access("POST", "/feed"), Ok(Access::Page));
        assert_eq!(access("get", "/feed"), Ok(Access::Public));
        assert_eq!(access("GET", "/feed/"), Ok(Access::Page));
        assert_eq!(access("GET", "/users/42/settings"), Ok(Access::Page));
        assert_eq!(access("GET", "/api"), Ok(Access::Api));
        assert_eq!(access("DELETE", "/api/x/y"), Ok(Access::Api));
        assert_eq!(access("GET", "/apix"), Ok(Access::Page));
        assert_eq!(access("GET", "/"), Ok(Access::Public));
        let m = routes().classify("GET", "/api/x").unwrap();
        assert!(m.bearer && m.rule == Some(4) && !m.pass_authorization);
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
        for empty in ["/docs/", "//docs", "/a//b"] {
            let err =
                Routes::new(alloc::vec![RouteRule::new(empty, Access::Public)], Access::Page).unwrap_err();
            assert!(err.message.contains("empty segment"), "{empty}: {err}");
        }
    }
}
