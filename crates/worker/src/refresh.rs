//! One refresh per session. In each isolate a [`SingleFlight`] lets the first
//! request lead and the rest wait for its result; late arrivals with the
//! rotated-out refresh token get that result replayed ([`RefreshCoordinator`]).
//! With the `TESSERA_REFRESH` Durable Object binding, the leader of each isolate
//! asks the object named after the refresh token, which runs the same
//! single-flight, so only one request per session reaches the provider
//! whatever the number of isolates.

use crate::host::{self, Slot};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use tessera_core::engine::HttpRequest;
use tessera_core::oidc::{self, TokenSet};
use tessera_core::refresh::{busy, RefreshCoordinator, Ticket};
use tessera_core::Refusal;
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, State};

/// The Durable Object binding name.
pub const BINDING: &str = "TESSERA_REFRESH";

pub type Outcome = Result<TokenSet, Refusal>;

/// How long a request waits for another one's refresh before answering 503:
/// the token endpoint's timeout plus a margin.
const JOIN_GIVE_UP_MS: u32 = 7_000;

/// Single-flight refresh with a replay window.
pub struct SingleFlight {
    coordinator: RefCell<RefreshCoordinator>,
    flights: RefCell<HashMap<[u8; 32], Slot<Outcome>>>,
}

impl SingleFlight {
    pub fn new(replay_window: u64) -> SingleFlight {
        SingleFlight {
            coordinator: RefCell::new(RefreshCoordinator::new(replay_window)),
            flights: RefCell::new(HashMap::new()),
        }
    }

    /// The outcome of refreshing `refresh_token`: replayed, joined, or
    /// obtained by running `refresh` (the leader).
    pub async fn run(
        &self,
        refresh_token: &str,
        refresh: impl std::future::Future<Output = Outcome>,
    ) -> Outcome {
        let key: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let ticket = self.coordinator.borrow_mut().begin(refresh_token, host::now());
        match ticket {
            Ticket::Replay(outcome) => outcome,
            Ticket::Join => {
                let slot = self.flights.borrow().get(&key).cloned();
                match slot {
                    Some(slot) => match host::wait_for(&slot, JOIN_GIVE_UP_MS).await {
                        Some(outcome) => (*outcome).clone(),
                        None => Err(busy()),
                    },
                    None => Err(busy()),
                }
            }
            Ticket::Lead => {
                let slot = Slot::default();
                self.flights.borrow_mut().insert(key, Rc::clone(&slot));
                let outcome = refresh.await;
                self.coordinator
                    .borrow_mut()
                    .complete(refresh_token, host::now(), outcome.clone());
                *slot.borrow_mut() = Some(Rc::new(outcome.clone()));
                self.flights.borrow_mut().remove(&key);
                outcome
            }
        }
    }
}

/// Sends the token request and reads the answer.
pub async fn exchange(request: HttpRequest) -> Outcome {
    match host::http(&request).await {
        host::Fetched::Response { status, body, .. } => oidc::token_response(status, &body),
        host::Fetched::Failed(why) => Err(oidc::token_endpoint_unreachable(&why)),
    }
}

/// What the worker sends the Durable Object.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ask {
    refresh_token: String,
    replay_window: u64,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    timeout_ms: u32,
    max_bytes: usize,
}

/// Asks the session's Durable Object for the outcome.
pub async fn via_object(env: &Env, refresh_token: &str, replay_window: u64, request: HttpRequest) -> Outcome {
    let unavailable = |why: String| {
        Refusal::new(
            tessera_core::Reason::AuthApiUnavailable,
            format!("the refresh coordinator (Durable Object {BINDING}) failed: {why}"),
        )
    };
    let ask = Ask {
        refresh_token: refresh_token.to_string(),
        replay_window,
        url: request.url,
        headers: request.headers,
        body: request.body,
        timeout_ms: request.timeout_ms,
        max_bytes: request.max_bytes,
    };
    let call = async {
        let namespace = env.durable_object(BINDING)?;
        let name = tessera_core::hex::encode(&Sha256::digest(refresh_token.as_bytes()));
        let stub = namespace.id_from_name(&name)?.get_stub()?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(serde_json::to_string(&ask)?.into()));
        let req = Request::new_with_init("https://tessera.refresh/", &init)?;
        let mut res = stub.fetch_with_request(req).await?;
        res.json::<Outcome>().await
    };
    call.await.unwrap_or_else(|e| Err(unavailable(e.to_string())))
}

/// The per-session refresh coordinator across isolates.
#[durable_object(fetch)]
pub struct RefreshSession {
    flight: RefCell<Option<Rc<SingleFlight>>>,
}

impl DurableObject for RefreshSession {
    fn new(_state: State, _env: Env) -> Self {
        RefreshSession {
            flight: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let ask: Ask = req.json().await?;
        let flight = Rc::clone(
            self.flight
                .borrow_mut()
                .get_or_insert_with(|| Rc::new(SingleFlight::new(ask.replay_window))),
        );
        let request = HttpRequest {
            method: "POST",
            url: ask.url,
            headers: ask.headers,
            body: ask.body,
            timeout_ms: ask.timeout_ms,
            max_bytes: ask.max_bytes,
            share: None,
        };
        let outcome = flight.run(&ask.refresh_token, exchange(request)).await;
        Response::from_json(&outcome)
    }
}
