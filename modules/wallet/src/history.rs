//! An account's transactions: filtered pages, one transaction, monthly statements.

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Op};
use mosaic_sdk::time::{self, now_ms};
use serde_json::json;

use crate::ledger::{ACCOUNTS, Account, Kind, TRANSACTIONS, Transaction};
use crate::may_see;
use crate::settings::Settings;

/// The most transactions one statement lists.
const MAX_STATEMENT_ITEMS: usize = 5000;

/// Newest first. Filters: `type` (credit, debit), `from` and `to` (dates in the
/// tenant's zone, inclusive), `min_amount` and `max_amount` (minor units).
pub fn list(req: &Request) -> Result<Response> {
    let account_id = req.param("employee_id");
    may_see(account_id)?;
    let mut query = TRANSACTIONS
        .query()
        .eq("account_id", account_id)
        .order_by("at", true)
        .paged(req)?;
    match req.query("type") {
        None => {}
        Some(kind @ ("credit" | "debit")) => query = query.eq("type", kind),
        Some(_) => return Err(Error::invalid_field("type", "must be credit or debit")),
    }
    query = query.dated(req, "date")?;
    for (name, op) in [("min_amount", Op::Ge), ("max_amount", Op::Le)] {
        if let Some(text) = req.query(name) {
            let amount: i64 = text.parse().map_err(|_| {
                Error::invalid_field(name, "must be an integer (minor currency units)")
            })?;
            query = query.filter("amount", op, amount);
        }
    }
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

pub fn show(req: &Request) -> Result<Response> {
    let doc = TRANSACTIONS.fetch(req.param("id"), "Transaction")?;
    let txn: Transaction = doc.parse()?;
    // A transaction of an account the caller may not see does not exist for them.
    may_see(&txn.account_id).map_err(|err| match err {
        Error::Forbidden(_) => Error::NotFound("Transaction not found".into()),
        other => other,
    })?;
    Ok(Response::raw_json(200, doc.to_json()))
}

/// `?month=YYYY-MM` (this month by default): the opening balance, the month's
/// transactions oldest first, their totals and the closing balance.
pub fn statement(req: &Request) -> Result<Response> {
    let account_id = req.param("employee_id");
    may_see(account_id)?;
    let month = match req.query("month") {
        Some(text) => parse_month(text)
            .ok_or_else(|| Error::invalid_field("month", "must be a month as YYYY-MM"))?,
        None => time::date_at(now_ms(), &time::tenant_zone())
            .strftime("%Y-%m")
            .to_string(),
    };
    let currency = match ACCOUNTS.get(account_id)? {
        Some(doc) => doc.parse::<Account>()?.currency,
        None => Settings::current()?.currency,
    };
    let before = TRANSACTIONS
        .query()
        .eq("account_id", account_id)
        .filter("month", Op::Lt, month.as_str())
        .order_by("at", true)
        .limit(1)
        .fetch()?;
    let opening = match before.items.first() {
        Some(doc) => doc.parse::<Transaction>()?.balance_after,
        None => 0,
    };
    let (mut credits, mut debits, mut closing) = (0i64, 0i64, opening);
    let mut items = Vec::new();
    let mut count = 0usize;
    let mut cursor = None;
    loop {
        let page = TRANSACTIONS
            .query()
            .eq("account_id", account_id)
            .eq("month", month.as_str())
            .order_by("at", false)
            .limit(500)
            .cursor(cursor.as_deref())
            .fetch()?;
        for doc in page.items {
            let txn: Transaction = doc.parse()?;
            match txn.kind {
                Kind::Credit => credits += txn.amount,
                Kind::Debit => debits += txn.amount,
            }
            closing = txn.balance_after;
            count += 1;
            if items.len() < MAX_STATEMENT_ITEMS {
                items.push(doc);
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let body = json!({
        "account_id": account_id,
        "currency": currency,
        "month": month,
        "opening_balance": opening,
        "credits": credits,
        "debits": debits,
        "closing_balance": closing,
        "count": count,
        "truncated": count > items.len(),
    });
    // The items are spliced in unparsed.
    let head = body.to_string();
    let head = head.strip_suffix('}').unwrap_or(&head);
    Ok(Response::raw_json(
        200,
        format!("{head},\"items\":{}}}", store::to_json_array(&items)),
    ))
}

/// `YYYY-MM` with a real month.
fn parse_month(text: &str) -> Option<String> {
    time::parse_date(&format!("{text}-01")).map(|_| text.to_owned())
}
