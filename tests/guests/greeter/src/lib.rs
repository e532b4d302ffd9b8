// The module key `greeter`, installed at runtime by the integration tests (not
// shipped). Version 1 requests `files`; version 2 (the crate `greeter-next`,
// which includes this file) requests `events` too and emits one per greeting, so
// that its upgrade waits for a grant. Both read what the other wrote.

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Collection};
use mosaic_sdk::{events, files};
use serde_json::json;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const NEXT: bool = matches!(env!("CARGO_PKG_NAME").as_bytes(), b"greeter-next");
const GREETINGS: Collection = store::collection("greetings");

struct Greeter;

impl Module for Greeter {
    fn manifest() -> Manifest {
        let manifest = Manifest::new("greeter", "Greeter", VERSION)
            .description("Greetings, installed at runtime")
            .capability(Capability::Files);
        if NEXT {
            manifest.capability(Capability::Events)
        } else {
            manifest
        }
    }

    fn router() -> Router {
        Router::new()
            .get("/", hello)
            .post("/", create)
            .get("/slow", slow)
            .post("/file", file)
            .get("/{id}", show)
    }
}

export_module!(Greeter);

fn hello(_: &Request) -> Result<Response> {
    Response::json(200, &json!({ "version": VERSION }))
}

fn create(req: &Request) -> Result<Response> {
    let body: serde_json::Value = req.json()?;
    let text = body["text"]
        .as_str()
        .ok_or_else(|| Error::invalid_field("text", "must be a string"))?;
    let doc = GREETINGS.insert(&json!({ "text": text, "by": VERSION }))?;
    if NEXT {
        events::emit("greeting.created", None, &json!({ "text": text }))?;
    }
    Ok(Response::raw_json(201, doc.to_json()))
}

fn show(req: &Request) -> Result<Response> {
    let doc = GREETINGS.fetch(req.param("id"), "Greeting")?;
    Ok(Response::raw_json(200, doc.to_json()))
}

/// Computes for `?ms=` milliseconds (at most 1000), then answers its version: a
/// request still in flight when a new version is installed.
fn slow(req: &Request) -> Result<Response> {
    let ms = u64::from(req.query_u32("ms")?.unwrap_or(200).min(1000));
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(ms) {
        std::hint::spin_loop();
    }
    Response::json(200, &json!({ "version": VERSION }))
}

/// Keeps a small file: needs the `files` capability granted.
fn file(_: &Request) -> Result<Response> {
    let info = files::put("hello.txt", "text/plain", b"hello")?;
    Response::json(201, &json!({ "id": info.id }))
}
