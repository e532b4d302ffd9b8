//! A module that misbehaves on purpose, for the integration tests and benchmarks.
//! Never installed by `mosaic serve` unless its path is given explicitly.

use mosaic_sdk::notify::{self, To};
use mosaic_sdk::prelude::*;
use mosaic_sdk::{identity, modules, store, tenant};
use serde_json::json;

struct Testbed;

impl Module for Testbed {
    fn manifest() -> Manifest {
        // Depends on itself to show the host refusing a call cycle, and on attendance
        // to show a call into a disabled module. No `events` or `notify`
        // capability, on purpose.
        Manifest::new("testbed", "Testbed", "0.1.0")
            .description("Misbehaves on purpose")
            .depends_on("testbed")
            .depends_on("attendance")
    }

    fn router() -> Router {
        Router::new()
            .get("/fixed", |_| Ok(Response::raw_json(200, FIXED)))
            .get("/spin", spin)
            .get("/sleep", |req| {
                sleep(req)?;
                Ok(Response::no_content())
            })
            .post("/write-then-sleep", |req| {
                NOTES.insert(&json!({"text": "written before a sleep"}))?;
                sleep(req)?;
                Ok(Response::no_content())
            })
            .get("/alloc", alloc)
            .get("/trap", |_| panic!("testbed: deliberate trap"))
            .get("/big", big)
            .post("/echo", |req| Ok(Response::raw_json(200, req.body.clone())))
            .get("/whoami", whoami)
            .post("/write-then-fail", write_then_fail)
            .get("/notes", |_| {
                Response::json(200, &json!({"count": NOTES.count(NOTES.query())?}))
            })
            .post("/batch", batch)
            .get("/call-undeclared", |_| {
                let reply = modules::call::<()>("employees", "GET", "/", None)?;
                Response::json(200, &json!({"status": reply.status}))
            })
            .get("/call-self", |_| {
                modules::call::<()>("testbed", "GET", "/fixed", None)?;
                Ok(Response::no_content())
            })
            .get("/call-attendance", |_| {
                let reply = modules::call::<()>("attendance", "GET", "/", None)?;
                Response::json(200, &json!({"status": reply.status}))
            })
            .post("/emit", |_| {
                mosaic_sdk::events::emit("testbed.poked", None, &json!({}))?;
                Ok(Response::no_content())
            })
            .post("/notify", |_| {
                notify::send(To::Email("someone@example.com"), "testbed.poked", "Hi", "")?;
                Ok(Response::no_content())
            })
            .post("/files", |_| {
                mosaic_sdk::files::put("note.txt", "text/plain", b"hi")?;
                Ok(Response::no_content())
            })
            .get("/admin-only", |_| Ok(Response::no_content()))
            .min_role(Role::TenantAdmin)
    }
}

export_module!(Testbed);

const FIXED: &str = r#"{"message":"hello from a module"}"#;
const NOTES: store::Collection = store::collection("notes");

fn spin(_: &Request) -> Result<Response> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Waits in WASI (a clock poll), where the epoch deadline cannot reach it.
fn sleep(req: &Request) -> Result<()> {
    let ms = req.query_u32("ms")?.unwrap_or(10_000);
    std::thread::sleep(std::time::Duration::from_millis(ms.into()));
    Ok(())
}

fn alloc(_: &Request) -> Result<Response> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

fn big(req: &Request) -> Result<Response> {
    let size = req.query_u32("bytes")?.unwrap_or(1 << 20) as usize;
    Ok(Response::raw_json(200, format!("\"{}\"", "x".repeat(size))))
}

fn whoami(_: &Request) -> Result<Response> {
    let caller = identity::caller();
    let info = tenant::current();
    Response::json(
        200,
        &json!({
            "tenant": info.subdomain,
            "tenant_id": info.id,
            "user": caller.as_ref().map(|c| c.user_id.clone()),
            "email": caller.as_ref().and_then(|c| c.email.clone()),
            "name": caller.as_ref().and_then(|c| c.display_name.clone()),
            "manager": identity::has_role(Role::Manager),
        }),
    )
}

/// Writes, then fails: the unit of work must discard the write.
fn write_then_fail(req: &Request) -> Result<Response> {
    NOTES.insert(&json!({"text": "should not survive"}))?;
    let status = req.query_u32("status")?.unwrap_or(500);
    Ok(Response::raw_json(
        u16::try_from(status).unwrap_or(500),
        r#"{"error":"failed on purpose","code":"testbed"}"#,
    ))
}

/// Two notes in one batch; `?conflict=1` adds a third write that cannot succeed, so
/// none of them may be stored.
fn batch(req: &Request) -> Result<Response> {
    let mut batch = store::Batch::new()
        .insert(NOTES, &json!({"text": "one"}))?
        .insert_with_id(NOTES, "fixed-id", &json!({"text": "two"}))?;
    if req.query("conflict").is_some() {
        batch = batch.insert_with_id(NOTES, "fixed-id", &json!({"text": "clash"}))?;
    }
    let written = batch.commit()?;
    Response::json(201, &json!({"written": written.len()}))
}
