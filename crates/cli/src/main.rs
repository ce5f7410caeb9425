//! `tessera`: the tool a developer reaches for when a token is refused.
//!
//! ```text
//! tessera verify --token <JWT|@file|-> (--jwks <file|url> | --pem <file>)
//!     [--issuer ISS]... [--audience AUD]... [--authorized-party ORIGIN]...
//!     [--alg ALG]... [--leeway SECONDS] [--now UNIX_SECONDS] [--profile NAME] [--json]
//! tessera verify --token <JWT|@file|-> --config <file> [--route METHOD PATH] [--dpop PROOF]
//! tessera inspect <JWT|@file|->
//! tessera check-config <file|->
//! ```
//!
//! Exit status: 0 valid, 1 refused (with the reason code and what to check next),
//! 2 usage error.

mod args;
mod fetch;
mod runtime;

use args::{Command, InspectArgs, KeySource, Usage, VerifyArgs};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use tessera_core::{time, KeySet, Reason, Refusal, Verifier};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match args::parse(&argv) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::Verify(a)) => verify(a),
        Ok(Command::Inspect(a)) => inspect(a),
        Ok(Command::CheckConfig(text)) => check_config(&text),
        Err(Usage(msg)) => {
            eprintln!("tessera: {msg}\n\nRun `tessera --help` for usage.");
            ExitCode::from(2)
        }
    }
}

/// Loads a configuration as a runtime would (secrets may be absent: they come
/// from secret bindings) and prints its first error or its warnings.
fn check_config(text: &str) -> ExitCode {
    let config = match tessera_core::config::TesseraConfig::parse(text).and_then(|c| c.validate().map(|()| c))
    {
        Ok(config) => config,
        Err(e) => {
            println!("error: `{}`: {}", e.field, e.message);
            return ExitCode::from(1);
        }
    };
    let warnings = config.warnings();
    for w in &warnings {
        println!("warning: `{}`: {}", w.field, w.message);
    }
    if warnings.is_empty() {
        println!("ok: the configuration is valid and has no warnings");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The keys `--jwks` or `--pem` name; `None` for `--introspect`.
fn load_keys(source: &KeySource) -> Option<Result<KeySet, Refusal>> {
    match source {
        // An opaque token: the endpoint vouches, its answer checked as the engine checks it.
        KeySource::Introspect { .. } => None,
        KeySource::JwksFile(bytes) => Some(KeySet::from_jwks(bytes)),
        KeySource::JwksUrl(url) => Some(fetch::jwks(url).and_then(|body| KeySet::from_jwks(&body))),
        KeySource::Pem(bytes) => Some(
            std::str::from_utf8(bytes)
                .map_err(|_| Refusal::new(Reason::KeyUnusable, "the PEM file is not text"))
                .and_then(KeySet::from_pem),
        ),
    }
}

fn verify(a: Box<VerifyArgs>) -> ExitCode {
    let now = a.now.unwrap_or_else(now);
    if let Some(config) = &a.config {
        return runtime::decide(&a, config, now);
    }
    let keys = match &a.keys {
        Some(source) => load_keys(source),
        None => unreachable!("the arguments require keys without --config"),
    };
    let result = match keys {
        None => introspected(&a, now),
        Some(Err(refusal)) => Err(refusal),
        Some(Ok(keys)) => match Verifier::new(keys, a.policy.clone()) {
            Ok(mut verifier) => verifier.verify(&a.token, now),
            Err(e) => {
                eprintln!("tessera: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(identity) => {
            print_identity(&identity, a.json, now);
            ExitCode::SUCCESS
        }
        Err(refusal) => {
            print_refusal(&refusal, a.json);
            ExitCode::from(1)
        }
    }
}

/// A verified identity, as text or JSON.
fn print_identity(identity: &tessera_core::Identity, json: bool, now: u64) {
    {
        {
            if json {
                println!(
                    "{}",
                    json!({
                        "valid": true, "kind": identity.kind, "roles": identity.roles,
                        "permissions": identity.permissions, "claims": identity.claims
                    })
                );
            } else {
                match identity.alg {
                    Some(alg) => {
                        let kid = identity
                            .kid
                            .as_deref()
                            .map(|k| format!("key {k:?}"))
                            .unwrap_or_else(|| "the configured key".into());
                        println!(
                            "valid: signature verified with {kid} ({}), all claim checks passed",
                            alg.name()
                        );
                    }
                    None => {
                        println!("valid: the introspection endpoint says active, all claim checks passed")
                    }
                }
                println!("  subject   {} ({})", identity.sub, identity.kind.name());
                println!("  issuer    {}", identity.iss);
                if !identity.aud.is_empty() {
                    println!("  audience  {}", identity.aud.join(", "));
                }
                if let Some(sid) = &identity.sid {
                    println!("  session   {sid}");
                }
                if let Some(org) = &identity.org {
                    println!(
                        "  org       {}{}",
                        org.id,
                        org.role.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
                    );
                }
                for (what, list) in [
                    ("scopes", &identity.scopes),
                    ("roles", &identity.roles),
                    ("perms", &identity.permissions),
                ] {
                    if !list.is_empty() {
                        println!("  {what:<9} {}", list.join(" "));
                    }
                }
                println!(
                    "  expires   {} ({})",
                    time::utc(identity.exp),
                    relative(identity.exp, now)
                );
                println!("claims:\n{}", pretty(&Value::Object(identity.claims.clone())));
            }
        }
    }
}

/// A refusal, as text or JSON.
fn print_refusal(refusal: &Refusal, json: bool) {
    if json {
        println!(
            "{}",
            json!({ "valid": false, "reason": refusal.reason.code(), "message": refusal.message })
        );
    } else {
        println!("refused: {}", refusal.reason.code());
        println!("  {}", refusal.message);
        if refusal.is_retryable() {
            println!("  (an outage, not a bad token: retry later)");
        }
    }
}

/// `verify --introspect`: the endpoint's answer for the token.
fn introspected(a: &VerifyArgs, now: u64) -> Result<std::sync::Arc<tessera_core::Identity>, Refusal> {
    use tessera_core::introspection::{answer, identity, Answer};
    let KeySource::Introspect {
        url,
        client_id,
        client_secret,
    } = a.keys.as_ref().expect("introspection has a key source")
    else {
        unreachable!("called for --introspect only")
    };
    let (status, body) = fetch::introspect(url, &a.token, client_id, client_secret)?;
    match answer(status, &body)? {
        Answer::Active(claims) => {
            identity(claims, &a.policy, now, now, &Default::default()).map(std::sync::Arc::new)
        }
        Answer::Inactive => Err(Refusal::new(
            Reason::TokenInactive,
            format!("{url} says the token is not active (revoked, expired or never issued)"),
        )),
    }
}

fn inspect(a: InspectArgs) -> ExitCode {
    match tessera_core::jws::decode_unverified(&a.token) {
        Ok((header, claims)) => {
            let now = now();
            println!("UNVERIFIED: decoded without checking the signature or any claim. Do not trust it.");
            println!("header:\n{}", pretty(&Value::Object(header)));
            println!("claims:\n{}", pretty(&Value::Object(claims.clone())));
            let mut shown = false;
            for name in ["iat", "nbf", "exp", "auth_time"] {
                if let Some(secs) = claims
                    .get(name)
                    .and_then(Value::as_f64)
                    .filter(|s| *s >= 0.0 && *s < 253_402_300_800.0)
                {
                    if !shown {
                        println!("times (UTC):");
                        shown = true;
                    }
                    let secs = secs as u64;
                    println!("  {name:<9} {}  ({})", time::utc(secs), relative(secs, now));
                }
            }
            ExitCode::SUCCESS
        }
        Err(refusal) => {
            println!("cannot decode: {}: {}", refusal.reason.code(), refusal.message);
            ExitCode::from(1)
        }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// "in 1m 5s" / "1h 2m ago".
fn relative(at: u64, now: u64) -> String {
    let (delta, future) = if at >= now {
        (at - now, true)
    } else {
        (now - at, false)
    };
    let span = match delta {
        d if d < 60 => format!("{d}s"),
        d if d < 3600 => format!("{}m {}s", d / 60, d % 60),
        d if d < 86_400 => format!("{}h {}m", d / 3600, (d % 3600) / 60),
        d => format!("{}d {}h", d / 86_400, (d % 86_400) / 3600),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}
