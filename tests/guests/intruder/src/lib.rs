//! A hostile module with the `events` capability, for the sandbox tests: it tries
//! to get past every cap the host sets on a call. Never installed by `mosaic serve`
//! unless its path is given explicitly.

use mosaic_sdk::prelude::*;
use mosaic_sdk::{events, log, modules, store};
use serde_json::json;

struct Intruder;

impl Module for Intruder {
    fn manifest() -> Manifest {
        Manifest::new("intruder", "Intruder", "0.1.0")
            .description("Attacks the sandbox on purpose")
            .capability(Capability::Events)
            .depends_on("testbed")
    }

    fn router() -> Router {
        Router::new()
            .post("/event", big_event)
            .post("/events", many_events)
            .get("/headers", many_headers)
            .get("/big-header", big_header)
            .post("/call-big-body", call_big_body)
            .post("/log-flood", log_flood)
            .post("/hoard", hoard)
            .get("/hoard", read_hoard)
    }
}

export_module!(Intruder);

const NOTES: store::Collection = store::collection("notes");

fn size(req: &Request, default: u32) -> Result<usize> {
    Ok(req.query_u32("bytes")?.unwrap_or(default) as usize)
}

/// One event with `?bytes=` of data, or with a subject that long when `?subject`.
fn big_event(req: &Request) -> Result<Response> {
    let filler = "x".repeat(size(req, 2 << 20)?);
    if req.query("subject").is_some() {
        events::emit("intruder.big", Some(&filler), &json!({}))?;
    } else {
        events::emit("intruder.big", None, &json!({ "filler": filler }))?;
    }
    Ok(Response::no_content())
}

/// `?count=` small events in one request.
fn many_events(req: &Request) -> Result<Response> {
    for i in 0..req.query_u32("count")?.unwrap_or(100_000) {
        events::emit("intruder.tick", None, &json!({ "i": i }))?;
    }
    Ok(Response::no_content())
}

/// A note, then a response with `?count=` headers: if the host refuses the response,
/// the note must not survive.
fn many_headers(req: &Request) -> Result<Response> {
    NOTES.insert(&json!({"text": "written before a bad response"}))?;
    let mut response = Response::no_content();
    for i in 0..req.query_u32("count")?.unwrap_or(40_000) {
        response = response.with_header(format!("x-intruder-{i}"), "1");
    }
    Ok(response)
}

/// A note, then one header of `?bytes=`.
fn big_header(req: &Request) -> Result<Response> {
    NOTES.insert(&json!({"text": "written before a bad response"}))?;
    Ok(Response::no_content().with_header("x-intruder", "x".repeat(size(req, 8 << 20)?)))
}

/// A `modules.call` carrying `?bytes=` of body.
fn call_big_body(req: &Request) -> Result<Response> {
    let body = json!({ "filler": "x".repeat(size(req, 8 << 20)?) });
    let reply = modules::call("testbed", "POST", "/echo", Some(&body))?;
    Response::json(200, &json!({ "status": reply.status }))
}

/// `?count=` log lines, each a forged host log line after a newline.
fn log_flood(req: &Request) -> Result<Response> {
    for _ in 0..req.query_u32("count")?.unwrap_or(100_000) {
        log::error("innocent\n2026-01-01T00:00:00Z ERROR mosaic: forged host line");
    }
    Ok(Response::no_content())
}

const HOARD: store::Collection = store::collection("hoard");

/// `?count=` documents of almost 1 MiB each.
fn hoard(req: &Request) -> Result<Response> {
    let filler = "x".repeat(1_000_000);
    for _ in 0..req.query_u32("count")?.unwrap_or(12) {
        HOARD.insert(&json!({ "filler": filler }))?;
    }
    Ok(Response::no_content())
}

/// Reads the whole hoard with the largest page size, page after page.
fn read_hoard(_: &Request) -> Result<Response> {
    let (mut pages, mut largest, mut ids) = (0, 0, Vec::new());
    let mut cursor: Option<String> = None;
    loop {
        let page = HOARD.query().limit(500).cursor(cursor.as_deref()).fetch()?;
        pages += 1;
        largest = largest.max(page.items.len());
        ids.extend(page.items.into_iter().map(|doc| doc.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let read = ids.len();
    ids.sort();
    ids.dedup();
    Response::json(
        200,
        &json!({ "pages": pages, "largest_page": largest, "read": read, "distinct": ids.len() }),
    )
}
