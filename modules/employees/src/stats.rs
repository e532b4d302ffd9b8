//! Headcount: by status and by department, and the hires of a period.

use std::collections::BTreeMap;

use mosaic_sdk::prelude::*;
use mosaic_sdk::time::Period;
use serde::Deserialize;
use serde_json::json;

use crate::EMPLOYEES;

#[derive(Deserialize)]
struct Headcount {
    department: Option<String>,
    hired_on: String,
    status: String,
}

#[derive(Default)]
struct Department {
    active: u64,
    inactive: u64,
}

/// `{"total", "by_status", "by_department": [...], "hired"}`, with `hired` the hires
/// of `?from=&to=` (the current month by default).
pub fn stats(req: &Request) -> Result<Response> {
    let period = Period::from_request(req, 3660)?;
    let (from, to) = (period.from.to_string(), period.to.to_string());
    let mut departments: BTreeMap<String, Department> = BTreeMap::new();
    let (mut total, mut hired) = (0u64, 0u64);
    EMPLOYEES.query().limit(500).each(|doc| {
        let employee: Headcount = doc.parse()?;
        total += 1;
        if (from.as_str()..=to.as_str()).contains(&employee.hired_on.as_str()) {
            hired += 1;
        }
        let name = employee.department.unwrap_or_else(|| "(none)".into());
        let department = departments.entry(name).or_default();
        if employee.status == "active" {
            department.active += 1;
        } else {
            department.inactive += 1;
        }
        Ok(())
    })?;
    let active: u64 = departments.values().map(|d| d.active).sum();
    let by_department: Vec<_> = departments
        .iter()
        .map(|(name, d)| {
            json!({"department": name, "total": d.active + d.inactive,
                   "active": d.active, "inactive": d.inactive})
        })
        .collect();
    Response::json(
        200,
        &json!({"from": from, "to": to, "total": total,
                "by_status": {"active": active, "inactive": total - active},
                "by_department": by_department, "hired": hired}),
    )
}
