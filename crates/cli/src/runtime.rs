//! `tessera verify --config`: the token decided by the very engine a runtime
//! runs, with that configuration: issuer routing (`trustedIssuers`), the
//! route's rule and requirements, DPoP, revocation-free (the CLI holds no
//! revocations). The engine asks for what it needs (discovery, key sets) and
//! this host fetches it, as the worker and the npm package do.

use crate::args::VerifyArgs;
use crate::{fetch, load_keys, print_identity, print_refusal};
use serde_json::json;
use std::process::ExitCode;
use tessera_core::config::TesseraConfig;
use tessera_core::decision::{Action, Decision};
use tessera_core::engine::{Engine, Reply, Request, Step};

/// Decides `a`'s token under the configuration `text` at `now`.
pub fn decide(a: &VerifyArgs, text: &str, now: u64) -> ExitCode {
    let config = match TesseraConfig::parse(text).and_then(|c| c.validate().map(|()| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tessera: --config: `{}`: {}", e.field, e.message);
            return ExitCode::from(2);
        }
    };
    let rule = a
        .route
        .as_ref()
        .map(|(method, path)| describe_rule(&config, method, path));
    let engine = match a.keys.as_ref().and_then(load_keys) {
        None => Engine::new(config),
        Some(Ok(keys)) => Engine::with_keys(config, keys),
        Some(Err(refusal)) => {
            print_refusal(&refusal, a.json);
            return ExitCode::from(1);
        }
    };
    let mut engine = match engine {
        Ok(e) => e,
        Err(e) => {
            eprintln!("tessera: --config: `{}`: {}", e.field, e.message);
            return ExitCode::from(2);
        }
    };
    let step = match &a.route {
        Some((method, path)) => {
            let scheme = if a.dpop.is_some() { "DPoP" } else { "Bearer" };
            let authorization = format!("{scheme} {}", a.token);
            let mut headers = vec![("authorization", authorization.as_str())];
            if let Some(proof) = &a.dpop {
                headers.push(("dpop", proof.as_str()));
            }
            let req = Request {
                method,
                url: path,
                headers: &headers,
            };
            engine.handle(&req, now, random())
        }
        None => engine.verify_token(&a.token, now),
    };
    match drive(&mut engine, step, now) {
        Some(d) => report(a, &d, rule, now),
        None => {
            eprintln!("tessera: the engine stopped without a decision");
            ExitCode::from(2)
        }
    }
}

/// Runs the engine to its decision, fetching what it asks for.
fn drive(engine: &mut Engine, mut step: Step, now: u64) -> Option<Decision> {
    loop {
        step = match step {
            Step::Done(d) => return Some(d),
            Step::Fetch(p) | Step::Refresh(p) => {
                let answer = fetch::request(p.request());
                let reply = match &answer {
                    Ok((status, cache_control, body)) => Reply::Response {
                        status: *status,
                        cache_control: cache_control.as_deref(),
                        body,
                    },
                    Err(why) => Reply::Failed(why),
                };
                engine.resume(p, reply, now, random())
            }
            // Without a shared store this process is the deployment.
            Step::Store(p) => engine.resume(p, Reply::Stored(Ok(true)), now, random()),
            Step::Body(p) => engine.resume(p, Reply::Body(b""), now, random()),
            // The engine checks every signature itself here (no host checks
            // were asked for); a host check it did not ask for never passes.
            Step::Verify(p) => engine.resume(p, Reply::Signature(false), now, random()),
            Step::Idle => return None,
        };
    }
}

/// The route rule deciding `method` `path`, said for the reader.
fn describe_rule(config: &TesseraConfig, method: &str, path: &str) -> serde_json::Value {
    let matched = config.compiled_routes().ok().map(|r| r.classify(method, path));
    match matched {
        Some(Ok(m)) => match m.rule.and_then(|i| config.routes.get(i).map(|r| (i, r))) {
            Some((i, r)) => json!({
                "rule": i, "pattern": r.pattern, "access": r.access,
                "require": (!r.require.is_empty()).then_some(&r.require)
            }),
            None => json!({ "rule": null, "access": m.access, "default": true }),
        },
        _ => json!({ "rule": null, "invalid": true }),
    }
}

fn report(a: &VerifyArgs, d: &Decision, rule: Option<serde_json::Value>, now: u64) -> ExitCode {
    let identity = match &d.action {
        Action::Forward { identity, .. } => identity.clone(),
        Action::Respond { .. } => None,
    };
    if a.json {
        println!(
            "{}",
            json!({
                "allowed": identity.is_some(),
                "status": d.respond_status(),
                "reason": d.reason.map(|r| r.code()),
                "requirement": d.event.requirement,
                "message": d.message,
                "route": rule,
                "identity": identity.as_deref(),
            })
        );
    } else {
        let target = a
            .route
            .as_ref()
            .map(|(m, p)| format!(" {m} {p}"))
            .unwrap_or_default();
        match (&identity, d.reason) {
            (Some(_), _) => println!("allowed{target}"),
            (None, Some(reason)) => {
                let requirement = d
                    .event
                    .requirement
                    .map(|r| format!(" (requirement: {})", json!(r).as_str().unwrap_or("")))
                    .unwrap_or_default();
                println!(
                    "refused{target}: {}{requirement}, HTTP {}",
                    reason.code(),
                    d.respond_status().unwrap_or(reason.http_status())
                );
                if let Some(message) = &d.message {
                    println!("  {message}");
                }
                if reason.is_retryable() {
                    println!("  (an outage, not a bad token: retry later)");
                }
            }
            (None, None) => println!("refused{target}: HTTP {}", d.respond_status().unwrap_or(0)),
        }
        if let Some(rule) = &rule {
            println!("  route     {rule}");
        }
        if let Some(identity) = &identity {
            print_identity(identity, false, now);
        }
    }
    if identity.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// 32 unpredictable bytes for the engine (it seals nothing on this path):
/// the standard library's randomly keyed hasher, keyed from the OS.
fn random() -> [u8; 32] {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&state.hash_one(i).to_le_bytes());
    }
    out
}
