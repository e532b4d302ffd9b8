//! The tenant's complaints settings
//! (`PUT /api/admin/tenants/{t}/modules/complaints/settings`):
//! `sla_hours`, hours to resolve per priority (`{"URGENT": 4, "HIGH": 24,
//! "MEDIUM": 72, "LOW": 168}` by default; a priority left out keeps its default).

use std::collections::BTreeMap;

use mosaic_sdk::prelude::*;
use mosaic_sdk::tenant;
use serde::Deserialize;

pub const PRIORITIES: &[&str] = &["URGENT", "HIGH", "MEDIUM", "LOW"];
const DEFAULT_HOURS: [u64; 4] = [4, 24, 72, 168];
/// A year: longer is a typo.
const MAX_HOURS: u64 = 24 * 366;

#[derive(Deserialize, Default)]
struct Settings {
    #[serde(default)]
    sla_hours: BTreeMap<String, u64>,
}

/// How long a ticket of `priority` may take, in milliseconds. Settings an admin got
/// wrong are a 409 that says which.
pub fn sla_ms(priority: &str) -> Result<u64> {
    let settings: Settings = serde_json::from_str(&tenant::current().settings).map_err(|e| {
        Error::Conflict(format!("The tenant's complaints settings are invalid: {e}"))
    })?;
    let index = PRIORITIES
        .iter()
        .position(|p| *p == priority)
        .ok_or_else(|| Error::Internal(format!("unknown priority {priority}")))?;
    let hours = settings
        .sla_hours
        .get(priority)
        .copied()
        .unwrap_or(DEFAULT_HOURS[index]);
    if hours == 0 || hours > MAX_HOURS {
        return Err(Error::Conflict(format!(
            "The tenant's complaints sla_hours.{priority} must be 1 to {MAX_HOURS}"
        )));
    }
    Ok(hours * 3_600_000)
}
