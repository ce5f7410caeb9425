//! The worker's configuration: the one `TesseraConfig` schema, read from the
//! `TESSERA_CONFIG` var (JSON), with the secrets from secret bindings, plus
//! `ORIGIN_URL`.
//!
//! | binding | kind | holds |
//! |---|---|---|
//! | `TESSERA_CONFIG` | var | the configuration JSON (no secrets in it) |
//! | `ORIGIN_URL` | var | where to proxy, e.g. `https://app-origin.example.com` |
//! | `TESSERA_HOST_SIGNATURES` | var | algorithms checked with WebCrypto (default all: `ES256,EdDSA,RS256,RS384,RS512,PS256,PS384,PS512`; `none` keeps every check in Rust) |
//! | `TESSERA_LOG` | var | `problems` (default: refusals and errors), `all` (one event per request), `off` |
//! | `TESSERA_CLIENT_SECRET` | secret | the OAuth client secret (omit for a public client) |
//! | `TESSERA_COOKIE_KEYS` | secret | the cookie sealing keyring `id:base64url32,…` |
//! | `TESSERA_FORWARD_SECRET` | secret | optional: signs the identity headers for the origin |
//! | `TESSERA_REVOKE_SECRET` | secret | optional: the bearer secret of `POST /__tessera/revoke` |
//! | `TESSERA_REFRESH` | Durable Object | optional: one refresh per session across isolates |
//! | `TESSERA_STORE` | Durable Object | optional: revocations and logout-token ids shared by every isolate |
//! | `TESSERA_STORE_STALENESS` | var | seconds an isolate serves its copy of the revocations before asking `TESSERA_STORE` again (default 5, 1–60) |

use tessera_core::config::{ConfigError, Secret, TesseraConfig};
use tessera_core::Alg;
use worker::Env;

/// Everything the worker needs, validated.
pub struct WorkerConfig {
    pub tessera: TesseraConfig,
    /// The origin, without a trailing slash.
    pub origin: String,
    /// Whether the refresh Durable Object is bound.
    pub refresh_object: bool,
    /// Whether the store Durable Object (revocations) is bound.
    pub store_object: bool,
    /// Seconds an isolate serves its copy of the revocations before reading
    /// the store again (`TESSERA_STORE_STALENESS`, default 5, 1–60).
    pub store_staleness: u64,
    /// What to log.
    pub log: Log,
    /// Algorithms whose signatures WebCrypto checks.
    pub host_signatures: Vec<Alg>,
}

/// What the worker logs (`TESSERA_LOG`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// Nothing but configuration errors and panics.
    Off,
    /// Decisions with a reason other than a plain missing token, and errors.
    Problems,
    /// One event per request.
    All,
}

impl WorkerConfig {
    /// Reads and validates the bindings; the error names the binding or field.
    pub fn from_env(env: &Env) -> Result<WorkerConfig, ConfigError> {
        let text = env.var("TESSERA_CONFIG").map(|v| v.to_string()).map_err(|_| {
            ConfigError::new(
                "TESSERA_CONFIG",
                "is not set: add it under [vars] in wrangler.toml",
            )
        })?;
        // Parsed first, validated once the secrets are in: the rules that
        // involve them (cookieKeys needs clientId, clientAuth needs the secret).
        let mut tessera = TesseraConfig::parse(&text).map_err(|e| match e.field.as_str() {
            "(document)" => ConfigError::new("TESSERA_CONFIG", e.message),
            field => ConfigError::new(format!("TESSERA_CONFIG.{field}"), e.message),
        })?;
        for (binding, field, value) in [
            (
                "TESSERA_CLIENT_SECRET",
                "clientSecret",
                &mut tessera.client_secret,
            ),
            ("TESSERA_COOKIE_KEYS", "cookieKeys", &mut tessera.cookie_keys),
            (
                "TESSERA_FORWARD_SECRET",
                "forwardSigningSecret",
                &mut tessera.forward_signing_secret,
            ),
            (
                "TESSERA_REVOKE_SECRET",
                "revokeSecret",
                &mut tessera.revoke_secret,
            ),
        ] {
            if !value.is_empty() {
                return Err(ConfigError::new(
                    format!("TESSERA_CONFIG.{field}"),
                    format!("secrets do not belong in a var (vars are visible in the dashboard): use `wrangler secret put {binding}`"),
                ));
            }
            if let Ok(secret) = env.secret(binding) {
                *value = Secret::new(secret.to_string());
            }
        }
        tessera.validate()?;
        let origin = env
            .var("ORIGIN_URL")
            .map(|v| v.to_string())
            .map_err(|_| ConfigError::new("ORIGIN_URL", "is not set: the URL requests are proxied to"))?;
        let origin = origin.trim_end_matches('/').to_string();
        if !(origin.starts_with("https://") || origin.starts_with("http://"))
            || origin.matches('/').count() > 2
        {
            return Err(ConfigError::new(
                "ORIGIN_URL",
                "must be an origin like https://origin.example.com (no path)",
            ));
        }
        let refresh_object = env.durable_object(crate::refresh::BINDING).is_ok();
        let store_object = env.durable_object(crate::store::BINDING).is_ok();
        let store_staleness = match env.var("TESSERA_STORE_STALENESS").map(|v| v.to_string()) {
            Err(_) => 5,
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=60).contains(s))
                .ok_or_else(|| {
                    ConfigError::new(
                        "TESSERA_STORE_STALENESS",
                        format!("{text:?} is not a number of seconds from 1 to 60"),
                    )
                })?,
        };
        let log = match env.var("TESSERA_LOG").map(|v| v.to_string()).as_deref() {
            Err(_) | Ok("problems") => Log::Problems,
            Ok("all") => Log::All,
            Ok("off") => Log::Off,
            Ok(other) => {
                return Err(ConfigError::new(
                    "TESSERA_LOG",
                    format!("{other:?} is not one of problems, all, off"),
                ))
            }
        };
        let host_signatures = match env.var("TESSERA_HOST_SIGNATURES").map(|v| v.to_string()) {
            Err(_) => Alg::ALL.to_vec(),
            Ok(list) if list.trim() == "none" => Vec::new(),
            Ok(list) => list
                .split(',')
                .map(|name| {
                    Alg::from_name(name.trim()).map_err(|_| {
                        ConfigError::new(
                            "TESSERA_HOST_SIGNATURES",
                            format!("{name:?} is not one of ES256, EdDSA, RS256, RS384, RS512, PS256, PS384, PS512 (or `none`)"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(WorkerConfig {
            tessera,
            origin,
            refresh_object,
            store_object,
            store_staleness,
            log,
            host_signatures,
        })
    }
}
