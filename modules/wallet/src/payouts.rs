//! Salary payouts: every active employee is paid their `salary` once per period.
//!
//! A payout is one unit of work: the period's document (under the period, so a
//! second run finds it and pays nothing), and one credit per employee with its
//! account's new balance, all in one batch. Salaries come from employees.

use std::collections::{BTreeMap, HashMap};

use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Batch, Collection, Document, Op};
use mosaic_sdk::time::{self, Date, ISOWeekDate, Period, Weekday, now_ms};
use mosaic_sdk::{billing, events, identity, modules};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ledger::{
    ACCOUNTS, Account, Kind, PAYOUT_KEY_PREFIX, Posting, TRANSACTIONS, new_account, transaction,
};
use crate::settings::{PayoutPeriod, Settings};

/// One per period paid, under the period (`2026-11`, or `2026-W48` for weeks).
pub const PAYOUTS: Collection = store::collection("payouts");

/// The schedules: on the 1st of a month, and on Mondays, each paying the period
/// that just ended when it is the tenant's period.
pub const MONTHLY: &str = "monthly-payout";
pub const WEEKLY: &str = "weekly-payout";

/// Runs that lost a race with a posting on one of the accounts start again.
const MAX_ATTEMPTS: usize = 5;

#[derive(Serialize, Deserialize)]
struct Payout {
    period: String,
    currency: String,
    paid: usize,
    /// Minor units.
    total: i64,
    skipped: Vec<Skipped>,
    actor: String,
    at: u64,
}

#[derive(Serialize, Deserialize)]
struct Skipped {
    employee_id: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    period: Option<String>,
}

pub fn list(req: &Request) -> Result<Response> {
    let query = PAYOUTS.query().order_by("period", true).paged(req)?;
    Ok(Response::raw_json(200, query.fetch()?.to_json()))
}

/// The payouts made in `?from=&to=` (the current month by default): each period
/// paid, its employees and total, and the sums.
pub fn summary(req: &Request) -> Result<Response> {
    let window = Period::from_request(req, 3660)?;
    let (start, end) = window.millis();
    let mut periods = Vec::new();
    let mut paid = 0usize;
    // A tenant that changed its currency has payouts in each: they do not add up.
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    PAYOUTS
        .query()
        .filter("at", Op::Ge, start as i64)
        .filter("at", Op::Lt, end as i64)
        .order_by("at", false)
        .limit(500)
        .each(|doc| {
            let payout: Payout = doc.parse()?;
            paid += payout.paid;
            *totals.entry(payout.currency.clone()).or_default() += payout.total;
            periods.push(json!({"period": payout.period, "paid": payout.paid,
                                "total": payout.total, "currency": payout.currency,
                                "skipped": payout.skipped.len(), "at": payout.at}));
            Ok(())
        })?;
    Response::json(
        200,
        &json!({"from": window.from.to_string(), "to": window.to.to_string(),
                "payouts": periods.len(), "employees_paid": paid, "totals": totals,
                "periods": periods}),
    )
}

/// `{"period"?}` (the current one by default): 201 with the payout, or 200 saying
/// the period was already paid.
pub fn create(req: &Request) -> Result<Response> {
    let Run { period } = if req.body.is_empty() {
        Run { period: None }
    } else {
        req.json()?
    };
    let settings = Settings::current()?;
    let today = time::date_at(now_ms(), &time::tenant_zone());
    let period = match period {
        Some(text) => check_period(&text, settings.payout_period)?,
        None => period_of(today, settings.payout_period),
    };
    let (doc, created) = pay(&period, &settings)?;
    if created {
        return Ok(Response::raw_json(201, doc.to_json()));
    }
    let payout: serde_json::Value = serde_json::from_str(&doc.to_json())
        .map_err(|e| Error::Internal(format!("payout {} is unreadable: {e}", doc.id)))?;
    Response::json(
        200,
        &json!({
            "already_paid": true,
            "paid": 0,
            "message": format!("Period {period} was already paid; nothing was paid again"),
            "payout": payout,
        }),
    )
}

/// Pays the period that ended before `fired_at`, if `schedule` is the tenant's.
pub fn scheduled(schedule: &str, fired_at: u64) -> Result<()> {
    let settings = Settings::current()?;
    let due = match (schedule, settings.payout_period) {
        (MONTHLY, PayoutPeriod::Month) | (WEEKLY, PayoutPeriod::Week) => settings.payout_period,
        _ => return Ok(()),
    };
    let fired = time::date_at(fired_at, &time::tenant_zone());
    let last_day = match due {
        PayoutPeriod::Month => fired.first_of_month().yesterday(),
        PayoutPeriod::Week => fired.yesterday(),
    }
    .map_err(|e| Error::Internal(e.to_string()))?;
    pay(&period_of(last_day, due), &settings).map(drop)
}

/// `YYYY-MM` or `YYYY-Www`, the name of the period `day` is in.
fn period_of(day: Date, kind: PayoutPeriod) -> String {
    match kind {
        PayoutPeriod::Month => day.strftime("%Y-%m").to_string(),
        PayoutPeriod::Week => {
            let week = day.iso_week_date();
            format!("{:04}-W{:02}", week.year(), week.week())
        }
    }
}

fn check_period(text: &str, kind: PayoutPeriod) -> Result<String> {
    let real = match kind {
        PayoutPeriod::Month => time::parse_date(&format!("{text}-01")).is_some(),
        PayoutPeriod::Week => text
            .split_once("-W")
            .filter(|(year, week)| year.len() == 4 && week.len() == 2)
            .and_then(|(year, week)| Some((year.parse().ok()?, week.parse().ok()?)))
            .is_some_and(|(year, week)| ISOWeekDate::new(year, week, Weekday::Monday).is_ok()),
    };
    if real {
        Ok(text.to_owned())
    } else {
        Err(Error::invalid_field(
            "period",
            match kind {
                PayoutPeriod::Month => "must be a month as YYYY-MM (the tenant pays monthly)",
                PayoutPeriod::Week => "must be an ISO week as YYYY-Www (the tenant pays weekly)",
            },
        ))
    }
}

/// Pays `period`, or finds that it was paid (`false`).
fn pay(period: &str, settings: &Settings) -> Result<(Document, bool)> {
    let actor = identity::caller().map_or_else(|| "system".to_owned(), |c| c.user_id);
    for _ in 0..MAX_ATTEMPTS {
        if let Some(done) = PAYOUTS.get(period)? {
            return Ok((done, false));
        }
        let mut accounts = all_accounts()?;
        let mut payout = Payout {
            period: period.to_owned(),
            currency: settings.currency.clone(),
            paid: 0,
            total: 0,
            skipped: Vec::new(),
            actor: actor.clone(),
            at: now_ms(),
        };
        let mut batch = Batch::new();
        for (employee_id, salary) in active_salaries()? {
            let stored = accounts.remove(&employee_id);
            let mut account = match &stored {
                Some((_, account)) => account.clone(),
                None => new_account(&employee_id, settings),
            };
            let skip = if salary <= 0 {
                Some("no salary".to_owned())
            } else if account.currency != settings.currency {
                Some(format!("the account is in {}", account.currency))
            } else {
                None
            };
            if let Some(reason) = skip {
                payout.skipped.push(Skipped {
                    employee_id,
                    reason,
                });
                continue;
            }
            account.balance = account.balance.saturating_add(salary);
            let posting = Posting {
                account_id: employee_id.clone(),
                kind: Kind::Credit,
                amount: salary,
                currency: None,
                reason: format!("Salary {period}"),
                idempotency_key: format!("{PAYOUT_KEY_PREFIX}{period}"),
                reverses: None,
            };
            let mut txn = transaction(&posting, &account, &actor);
            txn.payout = Some(period.to_owned());
            batch = batch.insert(TRANSACTIONS, &txn)?;
            batch = match stored {
                Some((version, _)) => {
                    batch.update(ACCOUNTS, &employee_id, Some(version), &account)?
                }
                None => batch.insert_with_id(ACCOUNTS, &employee_id, &account)?,
            };
            payout.paid += 1;
            payout.total = payout.total.saturating_add(salary);
        }
        batch = batch.insert_with_id(PAYOUTS, period, &payout)?;
        match batch.commit() {
            Ok(mut written) => {
                let doc = written
                    .pop()
                    .flatten()
                    .ok_or_else(|| Error::Internal("an insert answered no document".into()))?;
                events::emit(
                    "wallet.payout_completed",
                    Some(period),
                    &json!({"period": period, "paid": payout.paid, "total": payout.total,
                            "currency": payout.currency, "skipped": payout.skipped.len()}),
                )?;
                if payout.paid > 0 {
                    billing::record_usage("wallet_transactions", payout.paid as u64)?;
                }
                return Ok((doc, true));
            }
            // A concurrent run paid the period, or a posting moved an account.
            Err(Error::Conflict(_)) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(Error::Conflict(
        "The payout kept meeting concurrent postings: run it again".into(),
    ))
}

/// Every account and its version, by employee id.
fn all_accounts() -> Result<HashMap<String, (u64, Account)>> {
    let mut accounts = HashMap::new();
    let mut cursor = None;
    loop {
        let page = ACCOUNTS
            .query()
            .limit(500)
            .cursor(cursor.as_deref())
            .fetch()?;
        for doc in page.items {
            let account: Account = doc.parse()?;
            accounts.insert(doc.id, (doc.version, account));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(accounts),
        }
    }
}

/// Every active employee's id and salary, asked of employees a page at a time.
fn active_salaries() -> Result<Vec<(String, i64)>> {
    #[derive(Deserialize)]
    struct Employee {
        id: String,
        salary: i64,
    }
    #[derive(Deserialize)]
    struct Page {
        items: Vec<Employee>,
        next_cursor: Option<String>,
    }
    let mut salaries = Vec::new();
    let mut path = "/?status=active&limit=500".to_owned();
    loop {
        let page: Page = modules::get("employees", &path)?
            .ok_or_else(|| Error::Internal("employees has no list route".into()))?;
        salaries.extend(page.items.into_iter().map(|e| (e.id, e.salary)));
        match page.next_cursor {
            // Cursors are hex: safe in a query string as they are.
            Some(next) => path = format!("/?status=active&limit=500&cursor={next}"),
            None => return Ok(salaries),
        }
    }
}
