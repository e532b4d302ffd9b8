//! Reports: headcount, attendance, task throughput, complaint resolution and wallet
//! payouts over a period, each gathered from its owning module through
//! `modules.call` (reports keeps no data of its own). A section whose module is
//! disabled for the tenant, or does not answer, is `{"available": false, "reason"}`
//! and the rest of the report still answers.
//!
//! `GET /` is every section at once; `GET /{section}` one; either as CSV with
//! `?format=csv` (or `/{section}.csv`). Managers only.

mod csv_export;
mod sections;

use mosaic_sdk::prelude::*;
use mosaic_sdk::time::{Period, now_ms};
use serde_json::{Map, Value, json};

use sections::{SECTIONS, Section};

/// The longest period a report covers: attendance summarises at most 92 days.
const MAX_DAYS: i32 = 92;

struct Reports;

impl Module for Reports {
    fn manifest() -> Manifest {
        let mut manifest = Manifest::new("reports", "Reports", env!("CARGO_PKG_VERSION"))
            .description("Headcount, attendance, tasks, complaints and payouts over a period")
            .icon("bar-chart-3")
            .sort_order(80);
        for section in SECTIONS {
            manifest = manifest.depends_on(section.module);
        }
        manifest
    }

    fn router() -> Router {
        Router::new()
            .get("/", overview)
            .min_role(Role::Manager)
            .get("/{section}", one)
            .min_role(Role::Manager)
    }
}

export_module!(Reports);

/// Every section over the period.
fn overview(req: &Request) -> Result<Response> {
    let period = Period::from_request(req, MAX_DAYS)?;
    let csv = wants_csv(req, false)?;
    let mut sections = Map::new();
    let mut calls = 0;
    for section in SECTIONS {
        let gathered = section.gather(&period);
        calls += usize::from(gathered.called);
        sections.insert(section.key.into(), gathered.figures);
    }
    if csv {
        return csv_export::overview(&sections);
    }
    Response::json(200, &report(&period, calls, sections))
}

/// One section, by key; `{key}.csv` asks for CSV.
fn one(req: &Request) -> Result<Response> {
    let name = req.param("section");
    let (key, suffixed) = match name.strip_suffix(".csv") {
        Some(key) => (key, true),
        None => (name, false),
    };
    let section: &Section = SECTIONS.iter().find(|s| s.key == key).ok_or_else(|| {
        let keys: Vec<_> = SECTIONS.iter().map(|s| s.key).collect();
        Error::NotFound(format!(
            "No report section {key}; sections: {}",
            keys.join(", ")
        ))
    })?;
    let period = Period::from_request(req, MAX_DAYS)?;
    let csv = wants_csv(req, suffixed)?;
    let gathered = section.gather(&period);
    if csv {
        return csv_export::section(section, &gathered.figures);
    }
    let mut sections = Map::new();
    sections.insert(section.key.into(), gathered.figures);
    Response::json(
        200,
        &report(&period, usize::from(gathered.called), sections),
    )
}

/// `calls`: the `modules.call`s this report made (each source module's own calls,
/// such as attendance asking employees, are not counted).
fn report(period: &Period, calls: usize, sections: Map<String, Value>) -> Value {
    json!({"from": period.from.to_string(), "to": period.to.to_string(),
           "generated_at": now_ms(), "modules_calls": calls, "sections": sections})
}

fn wants_csv(req: &Request, suffixed: bool) -> Result<bool> {
    match req.query("format") {
        None => Ok(suffixed),
        Some("csv") => Ok(true),
        Some("json") if !suffixed => Ok(false),
        Some(_) => Err(Error::invalid_field("format", "must be json or csv")),
    }
}
