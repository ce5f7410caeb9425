//! Command-line parsing. Hand-written to keep exact control of the contract:
//! repeated flags add to lists, `--token` is taken byte for byte, and every usage
//! problem is exit status 2 with a message that says what to do.

use std::io::Read;
use tessera_core::{Alg, Policy, Provider};

pub const HELP: &str = "\
tessera: verify session and access tokens, and say why one is refused.

USAGE:
  tessera verify --token <TOKEN|@file|-> (--jwks <file|url> | --pem <file> | --introspect <url>)
      [--issuer ISS]... [--audience AUD]... [--authorized-party ORIGIN]...
      [--alg ALG]... [--leeway SECONDS] [--now UNIX_SECONDS] [--profile NAME] [--json]
  tessera verify --token <TOKEN|@file|-> --config <file> [--route METHOD PATH]
      [--dpop PROOF] [--jwks <file|url> | --pem <file>] [--now UNIX_SECONDS] [--json]
  tessera inspect <JWT|@file|->
  tessera check-config <file|->
  tessera --help

CHECK-CONFIG:
  reads a Tessera configuration (the JSON of TESSERA_CONFIG or createTessera) and
  prints the first error, naming the field, or every warning (a public default
  under protective rules, no audience, a short forward secret, ...); secrets may
  be left out (they come from secret bindings)

VERIFY:
  --token T             the token: verbatim, @file or - (stdin); files and stdin lose
                        at most one trailing newline, a verbatim token loses nothing
  --jwks F|URL          a JWK Set file, or an http(s) URL fetched once (5 s timeout)
  --pem F               one SPKI public key (-----BEGIN PUBLIC KEY-----): RSA, P-256, Ed25519
  --introspect URL      an opaque token: ask this RFC 7662 introspection endpoint, as
                        client TESSERA_CLIENT_ID with TESSERA_CLIENT_SECRET (HTTP Basic;
                        from the environment), and check its answer as Tessera does
  --issuer ISS          an allowed `iss`, compared exactly; required, repeatable
  --audience AUD        an allowed audience; when given, `aud` is required; repeatable
  --authorized-party O  an allowed `azp` (e.g. https://app.example.com); repeatable
  --alg ALG             allow this algorithm; repeatable (default: ES256 EdDSA RS256 PS256)
  --leeway S            clock-skew tolerance in seconds for exp/nbf/iat (default 5, max 300)
  --now T               verify as of this unix time (default: the system clock)
  --profile NAME        provider conventions: clerk auth0 supabase firebase cognito
                        workos keycloak entra google oidc
  --json                print one JSON object instead of text

VERIFY --CONFIG (exactly as the runtime decides, with its configuration):
  --config F            a Tessera configuration (TESSERA_CONFIG's JSON); the token goes
                        to the issuer its iss names (trustedIssuers), keys come from each
                        issuer (discovery, jwksUri) unless --jwks/--pem give the main one
  --route METHOD PATH   decide a request to this route (its rule, its requirements, and
                        for a DPoP-bound token the proof); without it, as verify() does
  --dpop PROOF          the request's DPoP proof (with --route): Authorization: DPoP

EXIT STATUS:
  0 valid, 1 refused (reason code and message printed), 2 usage error.
  check-config: 0 valid without warnings, 1 invalid or with warnings, 2 usage error.
";

/// A usage error: exit 2.
pub struct Usage(pub String);

pub enum Command {
    Help(&'static str),
    Verify(Box<VerifyArgs>),
    Inspect(InspectArgs),
    /// `check-config`: the configuration document's text.
    CheckConfig(String),
}

pub enum KeySource {
    JwksFile(Vec<u8>),
    JwksUrl(String),
    Pem(Vec<u8>),
    /// An introspection endpoint, and the client that asks.
    Introspect {
        url: String,
        client_id: String,
        client_secret: String,
    },
}

pub struct VerifyArgs {
    pub token: String,
    /// `None` only with `config` (the configuration says where keys are).
    pub keys: Option<KeySource>,
    pub policy: Policy,
    pub now: Option<u64>,
    pub json: bool,
    /// `--config`: the configuration's text.
    pub config: Option<String>,
    /// `--route METHOD PATH`.
    pub route: Option<(String, String)>,
    /// `--dpop PROOF`.
    pub dpop: Option<String>,
}

pub struct InspectArgs {
    pub token: String,
}

/// A whole file, or standard input for `-`, as text.
fn read_file_or_stdin(path: &str) -> Result<String, Usage> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Usage(format!("cannot read standard input: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| Usage(format!("cannot read {path:?}: {e}")))
}

fn usage<T>(msg: impl Into<String>) -> Result<T, Usage> {
    Err(Usage(msg.into()))
}

pub fn parse(argv: &[String]) -> Result<Command, Usage> {
    match argv.first().map(String::as_str) {
        None => usage("no command given; use `tessera verify` or `tessera inspect`"),
        Some("-h" | "--help" | "help") => Ok(Command::Help(HELP)),
        Some("verify") if argv[1..].iter().any(|a| a == "-h" || a == "--help") => Ok(Command::Help(HELP)),
        Some("verify") => parse_verify(&argv[1..]).map(|a| Command::Verify(Box::new(a))),
        Some("inspect") => match &argv[1..] {
            [flag] if flag == "-h" || flag == "--help" => Ok(Command::Help(HELP)),
            [token] => Ok(Command::Inspect(InspectArgs {
                token: read_token(token)?,
            })),
            [] => usage("inspect needs a token: `tessera inspect <JWT|@file|->`"),
            _ => usage("inspect takes exactly one token"),
        },
        Some("check-config") => match &argv[1..] {
            [flag] if flag == "-h" || flag == "--help" => Ok(Command::Help(HELP)),
            [file] => read_file_or_stdin(file).map(Command::CheckConfig),
            _ => usage("check-config takes one file (or - for stdin): `tessera check-config tessera.json`"),
        },
        Some(other) => usage(format!(
            "unknown command {other:?}; use `verify`, `inspect` or `check-config`"
        )),
    }
}

fn parse_verify(argv: &[String]) -> Result<VerifyArgs, Usage> {
    let mut token = None;
    let mut keys: Option<KeySource> = None;
    let mut policy = Policy {
        issuers: Vec::new(),
        ..Policy::default()
    };
    let mut algs: Vec<Alg> = Vec::new();
    let mut profile = None;
    let mut now = None;
    let mut json = false;
    let mut config = None;
    let mut route = None;
    let mut dpop = None;
    let mut policy_flags = Vec::new();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Usage(format!("{flag} needs a value")))
        };
        if matches!(
            flag.as_str(),
            "--issuer"
                | "--audience"
                | "--authorized-party"
                | "--alg"
                | "--leeway"
                | "--profile"
                | "--introspect"
        ) {
            policy_flags.push(flag.clone());
        }
        match flag.as_str() {
            "--json" => json = true,
            "--config" => config = Some(read_file_or_stdin(&value()?)?),
            "--route" => {
                let method = value()?;
                let path = value()?;
                if !path.starts_with('/') {
                    return usage(
                        "--route takes a method and a path starting with /, e.g. --route GET /api/orders",
                    );
                }
                route = Some((method, path));
            }
            "--dpop" => dpop = Some(read_token(&value()?)?),
            "--token" => {
                if token.is_some() {
                    return usage("--token given twice");
                }
                token = Some(read_token(&value()?)?);
            }
            "--jwks" | "--pem" | "--introspect" => {
                if keys.is_some() {
                    return usage("give exactly one of --jwks, --pem and --introspect");
                }
                let v = value()?;
                keys = Some(if flag == "--introspect" {
                    if !(v.starts_with("http://") || v.starts_with("https://")) {
                        return usage("--introspect takes the endpoint's http(s) URL");
                    }
                    let client_id = std::env::var("TESSERA_CLIENT_ID").unwrap_or_default();
                    if client_id.is_empty() {
                        return usage(
                            "--introspect asks as a client: set TESSERA_CLIENT_ID (and TESSERA_CLIENT_SECRET) in the environment",
                        );
                    }
                    KeySource::Introspect {
                        url: v,
                        client_id,
                        client_secret: std::env::var("TESSERA_CLIENT_SECRET").unwrap_or_default(),
                    }
                } else if flag == "--pem" {
                    KeySource::Pem(read_bytes(&v, "--pem")?)
                } else if v.starts_with("http://") || v.starts_with("https://") {
                    KeySource::JwksUrl(v)
                } else {
                    KeySource::JwksFile(read_bytes(&v, "--jwks")?)
                });
            }
            "--issuer" => policy.issuers.push(value()?),
            "--audience" => policy.audiences.push(value()?),
            "--authorized-party" => policy.authorized_parties.push(value()?),
            "--alg" => {
                let v = value()?;
                let alg = Alg::from_name(&v).map_err(|why| Usage(format!("--alg {v}: {why}")))?;
                if !algs.contains(&alg) {
                    algs.push(alg);
                }
            }
            "--leeway" => policy.leeway = number(&value()?, "--leeway")?,
            "--now" => now = Some(number(&value()?, "--now")?),
            "--profile" => {
                let v = value()?;
                let names: Vec<&str> = Provider::ALL.iter().map(|p| p.name()).collect();
                profile =
                    Some(Provider::from_name(&v).ok_or_else(|| {
                        Usage(format!("unknown profile {v:?}; known: {}", names.join(", ")))
                    })?);
            }
            other => return usage(format!("unknown option {other:?}")),
        }
    }
    let token = token.ok_or_else(|| Usage("--token is required (a JWT, @file, or - for stdin)".into()))?;
    if config.is_some() {
        if let Some(flag) = policy_flags.first() {
            return usage(format!(
                "{flag} cannot go with --config: the configuration sets the policy (edit it, or drop --config)"
            ));
        }
        if dpop.is_some() && route.is_none() {
            return usage("--dpop needs --route: a proof is for a request");
        }
        return Ok(VerifyArgs {
            token,
            keys,
            policy,
            now,
            json,
            config,
            route,
            dpop,
        });
    }
    if route.is_some() || dpop.is_some() {
        return usage("--route and --dpop need --config: a route is the configuration's");
    }
    let keys = keys.ok_or_else(|| {
        let hint = profile
            .zip(policy.issuers.first())
            .and_then(|(p, iss)| p.jwks_uri(iss))
            .map(|url| format!("; for this profile and issuer the key set is at {url}"))
            .unwrap_or_default();
        Usage(format!("--jwks, --pem or --introspect is required{hint}"))
    })?;
    if policy.issuers.is_empty() {
        return usage(
            "--issuer is required: tokens are only accepted from a named issuer (`tessera inspect` shows the token's iss)",
        );
    }
    if !algs.is_empty() {
        policy.algorithms = algs;
    }
    if let Some(p) = profile {
        p.apply(&mut policy);
    }
    policy.validate().map_err(|e| Usage(e.to_string()))?;
    Ok(VerifyArgs {
        token,
        keys: Some(keys),
        policy,
        now,
        json,
        config: None,
        route: None,
        dpop: None,
    })
}

fn number(v: &str, flag: &str) -> Result<u64, Usage> {
    v.parse()
        .map_err(|_| Usage(format!("{flag} takes a whole number of seconds, not {v:?}")))
}

/// Key files are read as bytes: content that is not even text is a refusal of the
/// key set (exit 1), not a usage error; only a file that cannot be read is.
fn read_bytes(path: &str, flag: &str) -> Result<Vec<u8>, Usage> {
    std::fs::read(path).map_err(|e| Usage(format!("{flag} {path}: cannot read it: {e}")))
}

fn read_file(path: &str, flag: &str) -> Result<String, Usage> {
    std::fs::read_to_string(path).map_err(|e| Usage(format!("{flag} {path}: cannot read it: {e}")))
}

/// `--token` semantics: verbatim, `@file`, or `-` (stdin); files and stdin lose at
/// most one trailing newline (`\n` or `\r\n`).
fn read_token(arg: &str) -> Result<String, Usage> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Usage(format!("reading the token from stdin: {e}")))?;
        s
    } else if let Some(path) = arg.strip_prefix('@') {
        read_file(path, "--token")?
    } else {
        return Ok(arg.to_string());
    };
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(trimmed.to_string())
}
