//! Scheduled work, files and metering, for their tests. Its schedules record each
//! firing; its tenant's module settings `{"fail_schedules": true}` make them fail
//! instead. Its routes put, read, list and delete files, and meter and check
//! usage. Never installed by `mosaic serve` unless its path is given explicitly.

use mosaic_sdk::prelude::*;
use mosaic_sdk::{billing, files, identity, store, tenant};
use serde_json::{Value, json};

struct Clerk;

impl Module for Clerk {
    fn manifest() -> Manifest {
        Manifest::new("clerk", "Clerk", "0.2.0")
            .description("Runs on schedules and keeps files, for the tests")
            .capability(Capability::Files)
            .capability(Capability::Billing)
            .every("hourly", 3600)
            .cron("nightly", "30 2 * * *")
    }

    fn router() -> Router {
        Router::new()
            .get("/runs", runs)
            .get("/files", list_files)
            .post("/files", put_file)
            .post("/files/then-fail", put_then_fail)
            .get("/files/{id}", get_file)
            .get("/files/{id}/info", stat_file)
            .delete("/files/{id}", delete_file)
            .post("/usage", meter)
            .post("/usage/then-fail", meter_then_fail)
            .get("/quota", quota)
    }

    fn on_schedule(schedule: &str, fired_at: u64) -> std::result::Result<(), String> {
        record(schedule, fired_at).map_err(|e| format!("{e:?}"))
    }
}

export_module!(Clerk);

const RUNS: store::Collection = store::collection("runs");

fn record(schedule: &str, fired_at: u64) -> Result<()> {
    let settings: Value = serde_json::from_str(&tenant::current().settings).unwrap_or_default();
    if settings["fail_schedules"].as_bool() == Some(true) {
        return Err(Error::Internal("failing, as the settings say".into()));
    }
    RUNS.insert(&json!({
        "schedule": schedule,
        "fired_at": fired_at,
        "system_call": identity::caller().is_none(),
        "tenant": tenant::current().subdomain,
    }))?;
    Ok(())
}

/// Every firing recorded, oldest first.
fn runs(_: &Request) -> Result<Response> {
    let page = RUNS.query().limit(500).fetch()?;
    Ok(Response::raw_json(200, store::to_json_array(&page.items)))
}

/// The body as a file named `?name=`, of type `?type=`.
fn put_file(req: &Request) -> Result<Response> {
    let name = req.query("name").unwrap_or_default();
    let content_type = req.query("type").unwrap_or("application/octet-stream");
    Response::json(201, &files::put(name, content_type, &req.body)?)
}

/// Puts the file, then fails the request: the file must go with its writes.
fn put_then_fail(req: &Request) -> Result<Response> {
    put_file(req)?;
    Err(Error::Internal("failing after the put".into()))
}

/// Records `?amount=` of `?metric=`.
fn meter(req: &Request) -> Result<Response> {
    let amount = req.query_u32("amount")?.unwrap_or(1);
    billing::record_usage(req.query("metric").unwrap_or_default(), u64::from(amount))?;
    Ok(Response::no_content())
}

/// Records the usage, then fails the request: the usage must go with it.
fn meter_then_fail(req: &Request) -> Result<Response> {
    meter(req)?;
    Err(Error::Internal("failing after the metering".into()))
}

/// Whether `?amount=` more of `?metric=` fits the plan.
fn quota(req: &Request) -> Result<Response> {
    let amount = req.query_u32("amount")?.unwrap_or(1);
    billing::check_quota(req.query("metric").unwrap_or_default(), u64::from(amount))?;
    Ok(Response::no_content())
}

fn list_files(req: &Request) -> Result<Response> {
    let limit = req.query_u32("limit")?.unwrap_or(100);
    let page = files::list(limit, req.query("cursor"))?;
    Response::json(
        200,
        &json!({ "items": page.items, "next_cursor": page.next_cursor }),
    )
}

fn get_file(req: &Request) -> Result<Response> {
    match files::get(req.param("id"))? {
        Some((info, content)) => Ok(Response::bytes(200, &info.content_type, content)),
        None => Err(Error::NotFound("No such file".into())),
    }
}

fn stat_file(req: &Request) -> Result<Response> {
    match files::stat(req.param("id"))? {
        Some(info) => Response::json(200, &info),
        None => Err(Error::NotFound("No such file".into())),
    }
}

fn delete_file(req: &Request) -> Result<Response> {
    if files::delete(req.param("id"))? {
        Ok(Response::no_content())
    } else {
        Err(Error::NotFound("No such file".into()))
    }
}
