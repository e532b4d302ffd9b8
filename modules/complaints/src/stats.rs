//! Resolution: the tickets of a period, how long they took to resolve, how many
//! met their SLA and how many breached it, per priority; and the open load now.

use std::collections::BTreeMap;

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::Op;
use mosaic_sdk::time::{Period, hours_summary, now_ms};
use serde_json::{Value, json};

use crate::settings::PRIORITIES;
use crate::tickets::{TICKETS, Ticket};

/// `?from=&to=` (the current month by default).
pub fn stats(req: &Request) -> Result<Response> {
    let period = Period::from_request(req, 366)?;
    let (start, end) = period.millis();
    let within = |field: &str| {
        TICKETS
            .query()
            .filter(field, Op::Ge, start as i64)
            .filter(field, Op::Lt, end as i64)
    };
    let mut resolution = Vec::new();
    let mut within_sla = 0u64;
    let mut by_priority: BTreeMap<&str, Value> = PRIORITIES
        .iter()
        .map(|p| (*p, json!({"created": 0, "resolved": 0, "breached": 0})))
        .collect();
    let mut tally = |priority: &str, what: &str| {
        if let Some(counts) = by_priority.get_mut(priority) {
            counts[what] = json!(counts[what].as_u64().unwrap_or(0) + 1);
        }
    };
    within("resolved_at").limit(500).each(|doc| {
        let ticket: Ticket = doc.parse()?;
        if ticket.open {
            // Reopened since: not resolved (yet again).
            return Ok(());
        }
        let resolved_at = ticket.resolved_at.unwrap_or(doc.updated_at);
        let opened_at = ticket.opened_at.unwrap_or(doc.created_at);
        resolution.push(resolved_at.saturating_sub(opened_at));
        if resolved_at <= ticket.sla_due_at {
            within_sla += 1;
        }
        tally(&ticket.priority, "resolved");
        Ok(())
    })?;
    let mut created = 0u64;
    within("opened_at").limit(500).each(|doc| {
        created += 1;
        tally(&doc.parse::<Ticket>()?.priority, "created");
        Ok(())
    })?;
    let mut breached = 0u64;
    within("breached_at").limit(500).each(|doc| {
        breached += 1;
        tally(&doc.parse::<Ticket>()?.priority, "breached");
        Ok(())
    })?;
    let resolved = resolution.len() as u64;
    let open = TICKETS.query().eq("open", true);
    let overdue = open.clone().filter("sla_due_at", Op::Lt, now_ms() as i64);
    Response::json(
        200,
        &json!({"from": period.from.to_string(), "to": period.to.to_string(),
                "created": created, "resolved": resolved,
                "resolution_hours": hours_summary(&mut resolution),
                "sla_met_rate": (resolved > 0).then(|| (within_sla as f64 / resolved as f64 * 1000.0).round() / 1000.0),
                "sla_breaches": breached, "by_priority": by_priority,
                "open": TICKETS.count(open)?, "overdue": TICKETS.count(overdue)?}),
    )
}
