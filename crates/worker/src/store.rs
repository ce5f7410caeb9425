//! The shared store at the edge: one Durable Object (`TESSERA_STORE`, class
//! `RevocationStore`, the instance named `revocations`) keeps every live
//! revocation and the logout tokens' ids, durably. A class of its own rather
//! than more of `RefreshSession`: those objects are one per refresh token,
//! while revocations must be one set every isolate reads.
//!
//! Each isolate keeps the set in its engine and asks the object for what
//! changed since its last read at most every `TESSERA_STORE_STALENESS`
//! seconds (default 5), before a request: a revocation made on any isolate is
//! enforced everywhere within that bound plus one read. The engine never
//! waits on the object otherwise; only sign-outs, logouts and `revoke` write
//! to it.
//!
//! | request | answer |
//! |---|---|
//! | `GET /since?v=N` | text: the current version, then one record per line, those written after version `N` (all when `N` is 0 or ahead) |
//! | `POST /revoke` | each line a record (JSON): kept until its `until`; `204` |
//! | `POST /once?key=K&ttl=T` | `first` if `K` was not held (now held `T` s), else `seen` |

use crate::host;
use std::cell::RefCell;
use std::collections::BTreeMap;
use tessera_core::revocation::Revocation;
use worker::{
    durable_object, DurableObject, Env, ListOptions, Method, Request, RequestInit, Response, State,
};

/// The Durable Object binding name.
pub const BINDING: &str = "TESSERA_STORE";

/// What the object holds in memory, loaded from its storage on first use.
struct Held {
    version: u64,
    /// By store key: the version it was written at, its JSON, its expiry.
    records: BTreeMap<String, (u64, String, u64)>,
}

/// The revocation set every isolate reads.
#[durable_object(fetch)]
pub struct RevocationStore {
    state: State,
    held: RefCell<Option<Held>>,
}

impl DurableObject for RevocationStore {
    fn new(state: State, _env: Env) -> Self {
        RevocationStore {
            state,
            held: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.load().await?;
        // The URL as a string (`Request::url` would parse it with the `url`
        // crate, tens of kilobytes of the module for a path and two numbers).
        let url = req.inner().url();
        let target = url.strip_prefix("https://tessera.store").unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .map(String::from)
        };
        let now = host::now();
        match (req.method(), path) {
            (Method::Get, "/since") => {
                let since: u64 = param("v").and_then(|v| v.parse().ok()).unwrap_or(0);
                let held = self.held.borrow();
                let Some(held) = held.as_ref() else {
                    return Response::error("not loaded", 500);
                };
                let since = if since > held.version { 0 } else { since };
                let mut text = format!("{}\n", held.version);
                for (version, record, until) in held.records.values() {
                    if *version > since && now < *until {
                        text.push_str(record);
                        text.push('\n');
                    }
                }
                Response::ok(text)
            }
            (Method::Post, "/revoke") => {
                let body = req.text().await?;
                for line in body.lines() {
                    let Ok(mut r) = Revocation::from_json(line.as_bytes()) else {
                        continue;
                    };
                    let (version, json) = {
                        let mut held = self.held.borrow_mut();
                        let Some(held) = held.as_mut() else { break };
                        // A repeat keeps the later cut-off and expiry, never
                        // the last write's: an older `at` must not readmit.
                        if let Some(before) = held
                            .records
                            .get(&r.key())
                            .and_then(|(_, json, _)| Revocation::from_json(json.as_bytes()).ok())
                        {
                            r.at = r.at.max(before.at);
                            r.until = r.until.max(before.until);
                        }
                        held.version += 1;
                        let json = r.to_json();
                        held.records
                            .insert(r.key(), (held.version, json.clone(), r.until));
                        (held.version, json)
                    };
                    let storage = self.state.storage();
                    storage
                        .put(&format!("rev:{}", r.key()), format!("{version}\n{json}"))
                        .await?;
                    storage.put("version", version).await?;
                }
                Response::empty().map(|r| r.with_status(204))
            }
            (Method::Post, "/once") => {
                let (Some(key), Some(ttl)) = (param("key"), param("ttl").and_then(|t| t.parse::<u64>().ok()))
                else {
                    return Response::error("key and ttl", 400);
                };
                let storage = self.state.storage();
                let name = format!("once:{key}");
                let held: Option<u64> = storage.get(&name).await?;
                if held.is_some_and(|until| now < until) {
                    return Response::ok("seen");
                }
                storage.put(&name, now.saturating_add(ttl.min(86_400))).await?;
                Response::ok("first")
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl RevocationStore {
    /// Reads the records from storage once per object instance, dropping
    /// the expired ones.
    async fn load(&self) -> worker::Result<()> {
        if self.held.borrow().is_some() {
            return Ok(());
        }
        let storage = self.state.storage();
        let version: u64 = storage.get("version").await?.unwrap_or(0);
        let stored = storage
            .list_with_options(ListOptions::new().prefix("rev:"))
            .await?;
        let now = host::now();
        let mut records = BTreeMap::new();
        let mut expired = Vec::new();
        stored.for_each(&mut |value, key| {
            let (Some(key), Some(value)) = (key.as_string(), value.as_string()) else {
                return;
            };
            let parsed = value.split_once('\n').and_then(|(v, json)| {
                let r = Revocation::from_json(json.as_bytes()).ok()?;
                Some((v.parse::<u64>().ok()?, String::from(json), r.until))
            });
            match parsed {
                Some(entry) if now < entry.2 => {
                    records.insert(key.trim_start_matches("rev:").to_string(), entry);
                }
                _ => expired.push(key),
            }
        });
        for key in expired {
            storage.delete(&key).await?;
        }
        // The version never goes back, even if a write of "version" was
        // lost after its record's: an isolate that read it would miss what
        // comes next.
        let version = records.values().map(|(v, _, _)| *v).fold(version, u64::max);
        if self.held.borrow().is_none() {
            *self.held.borrow_mut() = Some(Held { version, records });
        }
        Ok(())
    }
}

/// Asks the store object: `path` (with its query) and `body` for a POST.
async fn ask(env: &Env, method: Method, path: &str, body: Option<String>) -> Result<String, String> {
    let call = async {
        let namespace = env.durable_object(BINDING)?;
        let stub = namespace.id_from_name("revocations")?.get_stub()?;
        let mut init = RequestInit::new();
        init.with_method(method).with_body(body.map(Into::into));
        let req = Request::new_with_init(&format!("https://tessera.store{path}"), &init)?;
        let mut res = stub.fetch_with_request(req).await?;
        if !(200..300).contains(&res.status_code()) {
            return Err(worker::Error::RustError(format!("HTTP {}", res.status_code())));
        }
        res.text().await
    };
    call.await
        .map_err(|e| format!("the store (Durable Object {BINDING}) failed: {e}"))
}

/// Records written after `version`: the new version and the records, one per line.
pub async fn since(env: &Env, version: u64) -> Result<(u64, String), String> {
    let text = ask(env, Method::Get, &format!("/since?v={version}"), None).await?;
    let (head, records) = text.split_once('\n').unwrap_or((&text, ""));
    let version = head
        .parse()
        .map_err(|_| String::from("the store's answer has no version"))?;
    Ok((version, records.to_string()))
}

/// Keeps and publishes revocations (one JSON record per line).
pub async fn revoke(env: &Env, records: String) -> Result<(), String> {
    ask(env, Method::Post, "/revoke", Some(records)).await.map(|_| ())
}

/// Records `key` for `ttl` seconds unless held: whether it was absent.
pub async fn once(env: &Env, key: &str, ttl: u64) -> Result<bool, String> {
    let answer = ask(env, Method::Post, &format!("/once?key={key}&ttl={ttl}"), None).await?;
    Ok(answer == "first")
}
