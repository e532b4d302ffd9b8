//! Emits events on request and records the ones delivered to it, for the event
//! delivery tests. Its tenant's module settings steer how it takes a delivery:
//! `{"refuse_events": true}` answers `Err`, `{"trap_events": true}` traps, and
//! `{"event_delay_ms": n}` waits that long first. It can also look for a file by
//! id, to show it never sees another module's. Never installed by `mosaic serve`
//! unless its path is given explicitly.

use mosaic_sdk::events::{self, Event};
use mosaic_sdk::notify::{self, To};
use mosaic_sdk::prelude::*;
use mosaic_sdk::{identity, store, tenant};
use serde_json::{Value, json};

struct Relay;

impl Module for Relay {
    fn manifest() -> Manifest {
        Manifest::new("relay", "Relay", "0.1.0")
            .description("Emits and receives events for the tests")
            .capability(Capability::Events)
            .capability(Capability::Notify)
            .capability(Capability::Files)
            .subscribe("relay.*")
            .subscribe("employee.created")
    }

    fn router() -> Router {
        Router::new()
            .post("/emit", emit)
            .post("/notify", send_notices)
            .get("/received", received)
            // Whether this module sees a file by that id (another's it must not).
            .get("/files/{id}", |req| {
                let found = mosaic_sdk::files::stat(req.param("id"))?;
                Response::json(200, &json!({ "found": found.is_some() }))
            })
            .get("/deliveries", |_| {
                Response::json(
                    200,
                    &json!({ "count": DELIVERIES.count(DELIVERIES.query())? }),
                )
            })
    }

    fn on_event(event: Event) -> std::result::Result<(), String> {
        take(event).map_err(|e| format!("{e:?}"))
    }
}

export_module!(Relay);

const RECEIVED: store::Collection = store::collection("received");
/// Every delivery handled, the same event again included: what at least once cost.
const DELIVERIES: store::Collection = store::collection("deliveries");

/// Emits each `{kind, subject?, data?}` of the JSON array body, in order.
fn emit(req: &Request) -> Result<Response> {
    let batch: Vec<Value> = req.json()?;
    for item in &batch {
        let kind = item["kind"].as_str().unwrap_or("relay.ping");
        let data = item.get("data").cloned().unwrap_or_else(|| json!({}));
        events::emit(kind, item["subject"].as_str(), &data)?;
    }
    Response::json(202, &json!({ "emitted": batch.len() }))
}

/// Sends `{to_user?, to_email?, kind, subject, body}` `times` times (1), and
/// answers how many went and how the host refused the next one, if it did.
fn send_notices(req: &Request) -> Result<Response> {
    let message: Value = req.json()?;
    let text = |field: &str| message[field].as_str().unwrap_or_default().to_owned();
    let to = match (message["to_user"].as_str(), message["to_email"].as_str()) {
        (Some(id), _) => To::User(id),
        (None, Some(email)) => To::Email(email),
        (None, None) => To::Email(""),
    };
    let times = message["times"].as_u64().unwrap_or(1);
    for sent in 0..times {
        if let Err(refused) = notify::send(to, &text("kind"), &text("subject"), &text("body")) {
            return Response::json(
                200,
                &json!({ "sent": sent, "refused": format!("{refused:?}") }),
            );
        }
    }
    Response::json(200, &json!({ "sent": times, "refused": null }))
}

/// What was delivered, in the order it was first received.
fn received(_: &Request) -> Result<Response> {
    let page = RECEIVED.query().limit(500).fetch()?;
    Ok(Response::raw_json(200, store::to_json_array(&page.items)))
}

fn take(event: Event) -> Result<()> {
    let settings: Value = serde_json::from_str(&tenant::current().settings).unwrap_or_default();
    if let Some(ms) = settings["event_delay_ms"].as_u64() {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    if settings["trap_events"].as_bool() == Some(true) {
        panic!("relay: deliberate trap on {}", event.id);
    }
    if settings["refuse_events"].as_bool() == Some(true) {
        return Err(Error::Internal(
            "refusing events, as the settings say".into(),
        ));
    }
    let record = json!({
        "event_id": event.id,
        "source": event.source,
        "kind": event.kind,
        "subject": event.subject,
        "data": serde_json::from_str::<Value>(&event.data).unwrap_or_default(),
        "system_call": identity::caller().is_none(),
        "received_at": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        "occurred_at": event.occurred_at,
    });
    DELIVERIES.insert(&json!({ "event_id": event.id }))?;
    // The same event delivered again is taken once: at least once becomes exactly
    // once from here.
    match RECEIVED.insert_with_id(&event.id, &record) {
        Ok(_) | Err(Error::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
