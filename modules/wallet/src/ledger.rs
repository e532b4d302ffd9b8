//! Accounts and the posting of transactions.

use mosaic_sdk::input::{Field, Fields};
use mosaic_sdk::prelude::*;
use mosaic_sdk::store::{self, Batch, Collection, Document, Index};
use mosaic_sdk::time::{self, now_ms};
use mosaic_sdk::{billing, events, identity, modules};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::settings::Settings;
use crate::{may_see, own_employee_id};

/// One per employee, under the employee's id.
pub const ACCOUNTS: Collection = store::collection("accounts");
/// The key is unique per account, and a transaction is reversed at most once.
pub const TRANSACTIONS: Collection = store::collection("transactions").indexes(&[
    Index::unique(&["account_id", "idempotency_key"]),
    Index::unique(&["reverses"]),
    Index::on(&["account_id", "at"]),
]);

/// A posting that lost the race for the account's version reads it again; each
/// loss means another posting committed, so this many only under a storm.
const MAX_ATTEMPTS: usize = 25;
/// The idempotency keys of payout credits start with this; clients' may not.
pub const PAYOUT_KEY_PREFIX: &str = "payout:";
/// Ten billion in major units of a two-decimal currency: more is a typo.
const MAX_AMOUNT: i64 = 1_000_000_000_000;

#[derive(Clone, Serialize, Deserialize)]
pub struct Account {
    pub employee_id: String,
    pub currency: String,
    /// Minor units; always the sum of the account's transactions.
    pub balance: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Credit,
    Debit,
}

impl Kind {
    fn opposite(self) -> Self {
        match self {
            Self::Credit => Self::Debit,
            Self::Debit => Self::Credit,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct Transaction {
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Minor units, always positive: the type says which way.
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    /// The user who posted it, or `system` for a scheduled payout.
    pub actor: String,
    pub idempotency_key: String,
    pub balance_after: i64,
    /// Milliseconds since the epoch; `date` and `month` are its day and month in
    /// the tenant's zone, for filters and statements.
    pub at: u64,
    pub date: String,
    pub month: String,
    /// The transaction this one reverses.
    pub reverses: Option<String>,
    /// The payout period that paid it.
    pub payout: Option<String>,
}

/// What a client asks to post.
#[derive(Deserialize)]
struct Entry {
    amount: i64,
    reason: String,
    idempotency_key: Option<String>,
    currency: Option<String>,
}

const ENTRY: Fields = Fields::new(&[
    Field::integer("amount")
        .min(1)
        .max(MAX_AMOUNT)
        .unit("minor currency units")
        .required(),
    Field::text("reason", 1, 500).required(),
    Field::text("idempotency_key", 1, 100).optional(),
    Field::text("currency", 3, 3).optional(),
]);

/// A transaction to post.
pub struct Posting {
    pub account_id: String,
    pub kind: Kind,
    pub amount: i64,
    pub currency: Option<String>,
    pub reason: String,
    pub idempotency_key: String,
    pub reverses: Option<String>,
}

pub fn list(req: &Request) -> Result<Response> {
    if identity::has_role(Role::Manager) {
        let query = ACCOUNTS.query().paged(req)?;
        return Ok(Response::raw_json(200, query.fetch()?.to_json()));
    }
    let own = match own_employee_id()? {
        Some(id) => ACCOUNTS.get(&id)?.into_iter().collect(),
        None => Vec::new(),
    };
    Ok(Response::raw_json(
        200,
        format!(
            "{{\"items\":{},\"next_cursor\":null}}",
            store::to_json_array(&own)
        ),
    ))
}

/// The account; one not opened yet shows a zero balance in the tenant's currency.
pub fn show(req: &Request) -> Result<Response> {
    let employee_id = req.param("employee_id");
    may_see(employee_id)?;
    if let Some(doc) = ACCOUNTS.get(employee_id)? {
        return Ok(Response::raw_json(200, doc.to_json()));
    }
    require_employee(employee_id)?;
    let currency = Settings::current()?.currency;
    Response::json(
        200,
        &json!({"id": employee_id, "version": 0, "employee_id": employee_id,
                "currency": currency, "balance": 0, "opened": false}),
    )
}

pub fn credit(req: &Request) -> Result<Response> {
    post_entry(req, Kind::Credit)
}

pub fn debit(req: &Request) -> Result<Response> {
    post_entry(req, Kind::Debit)
}

fn post_entry(req: &Request, kind: Kind) -> Result<Response> {
    let entry: Entry = ENTRY.create(req)?;
    let idempotency_key = entry
        .idempotency_key
        .or_else(|| req.header("idempotency-key").map(str::to_owned))
        .filter(|key| !key.trim().is_empty() && key.len() <= 100)
        .ok_or_else(|| {
            Error::invalid_field(
                "idempotency_key",
                "is required (in the body or an Idempotency-Key header, at most 100 characters)",
            )
        })?;
    check_client_key(&idempotency_key)?;
    let posting = Posting {
        account_id: req.param("employee_id").to_owned(),
        kind,
        amount: entry.amount,
        currency: entry.currency,
        reason: entry.reason,
        idempotency_key,
        reverses: None,
    };
    answer(post(posting)?)
}

#[derive(Deserialize)]
struct Reversal {
    reason: String,
    idempotency_key: Option<String>,
}

const REVERSAL: Fields = Fields::new(&[
    Field::text("reason", 1, 500).required(),
    Field::text("idempotency_key", 1, 100).optional(),
]);

/// Posts the opposite of a transaction, once.
pub fn reverse(req: &Request) -> Result<Response> {
    let id = req.param("id");
    let original: Transaction = TRANSACTIONS.fetch(id, "Transaction")?.parse()?;
    if original.reverses.is_some() {
        return Err(Error::Conflict(
            "A reversal is not reversed: post a new transaction".into(),
        ));
    }
    let Reversal {
        reason,
        idempotency_key,
    } = REVERSAL.create(req)?;
    if let Some(key) = &idempotency_key {
        check_client_key(key)?;
    }
    let posting = Posting {
        account_id: original.account_id,
        kind: original.kind.opposite(),
        amount: original.amount,
        currency: Some(original.currency),
        reason,
        idempotency_key: idempotency_key.unwrap_or_else(|| format!("reversal:{id}")),
        reverses: Some(id.to_owned()),
    };
    answer(post(posting)?)
}

/// A client's idempotency key may not be one the payouts use.
fn check_client_key(key: &str) -> Result<()> {
    if key.starts_with(PAYOUT_KEY_PREFIX) {
        return Err(Error::invalid_field(
            "idempotency_key",
            "keys starting with payout: are the payouts'",
        ));
    }
    Ok(())
}

/// 201 with a new transaction, 200 with the one an earlier request with the same
/// key posted.
fn answer((doc, created): (Document, bool)) -> Result<Response> {
    let response = Response::raw_json(if created { 201 } else { 200 }, doc.to_json());
    Ok(if created {
        response
    } else {
        response.with_header("idempotent-replayed", "true")
    })
}

/// Posts `p` and moves the balance with it, or finds the transaction an earlier
/// request with the same key posted (`false`).
pub fn post(p: Posting) -> Result<(Document, bool)> {
    let settings = Settings::current()?;
    modules::check_id("employee_id", &p.account_id)?;
    let actor = identity::caller().map_or_else(|| "system".to_owned(), |c| c.user_id);
    for _ in 0..MAX_ATTEMPTS {
        if let Some(earlier) = by_key(&p.account_id, &p.idempotency_key)? {
            return replay(earlier, &p).map(|doc| (doc, false));
        }
        if let Some(original) = &p.reverses
            && TRANSACTIONS.count(TRANSACTIONS.query().eq("reverses", original.as_str()))? > 0
        {
            return Err(Error::Conflict(format!(
                "Transaction {original} is already reversed"
            )));
        }
        let stored = ACCOUNTS.get(&p.account_id)?;
        let mut account = match &stored {
            Some(doc) => doc.parse::<Account>()?,
            None => {
                require_employee(&p.account_id)?;
                new_account(&p.account_id, &settings)
            }
        };
        if let Some(currency) = &p.currency
            && *currency != account.currency
        {
            return Err(Error::invalid_field(
                "currency",
                &format!("the account is in {}", account.currency),
            ));
        }
        let balance_after = match p.kind {
            Kind::Credit => account.balance.checked_add(p.amount),
            Kind::Debit => account.balance.checked_sub(p.amount),
        }
        .ok_or_else(|| Error::invalid_field("amount", "would overflow the balance"))?;
        if p.kind == Kind::Debit && balance_after < settings.floor() {
            return Err(Error::Conflict(format!(
                "Insufficient funds: the balance is {} {} and the debit {}",
                account.balance, account.currency, p.amount
            )));
        }
        account.balance = balance_after;
        let txn = transaction(&p, &account, &actor);
        let batch = Batch::new().insert(TRANSACTIONS, &txn)?;
        let batch = match &stored {
            Some(doc) => batch.update(ACCOUNTS, &p.account_id, Some(doc.version), &account)?,
            None => batch.insert_with_id(ACCOUNTS, &p.account_id, &account)?,
        };
        match batch.commit() {
            Ok(mut written) => {
                let doc = written
                    .swap_remove(0)
                    .ok_or_else(|| Error::Internal("an insert answered no document".into()))?;
                announce(&doc, &txn)?;
                billing::record_usage("wallet_transactions", 1)?;
                return Ok((doc, true));
            }
            // Another posting moved the account (or used the key) first: read again.
            Err(Error::Conflict(_)) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(Error::Conflict(
        "The account is busy: retry with the same idempotency key".into(),
    ))
}

/// Opens the employee's account if it has none; false if it had one.
pub fn open(employee_id: &str) -> Result<bool> {
    let account = new_account(employee_id, &Settings::current()?);
    match ACCOUNTS.insert_with_id(employee_id, &account) {
        Ok(_) => Ok(true),
        Err(Error::Conflict(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

pub fn new_account(employee_id: &str, settings: &Settings) -> Account {
    Account {
        employee_id: employee_id.to_owned(),
        currency: settings.currency.clone(),
        balance: 0,
    }
}

/// The transaction `p` makes on `account` (whose balance already includes it).
pub fn transaction(p: &Posting, account: &Account, actor: &str) -> Transaction {
    let at = now_ms();
    let date = time::date_at(at, &time::tenant_zone());
    Transaction {
        account_id: p.account_id.clone(),
        kind: p.kind,
        amount: p.amount,
        currency: account.currency.clone(),
        reason: p.reason.clone(),
        actor: actor.to_owned(),
        idempotency_key: p.idempotency_key.clone(),
        balance_after: account.balance,
        at,
        date: date.to_string(),
        month: date.strftime("%Y-%m").to_string(),
        reverses: p.reverses.clone(),
        payout: None,
    }
}

fn by_key(account_id: &str, key: &str) -> Result<Option<Document>> {
    let page = TRANSACTIONS
        .query()
        .eq("account_id", account_id)
        .eq("idempotency_key", key)
        .limit(1)
        .fetch()?;
    Ok(page.items.into_iter().next())
}

/// The earlier transaction, if it is the one `p` asks for again.
fn replay(earlier: Document, p: &Posting) -> Result<Document> {
    let txn: Transaction = earlier.parse()?;
    if txn.kind == p.kind && txn.amount == p.amount && txn.reverses == p.reverses {
        Ok(earlier)
    } else {
        Err(Error::Conflict(format!(
            "Idempotency key {:?} was used for a different transaction ({})",
            p.idempotency_key, earlier.id
        )))
    }
}

fn announce(doc: &Document, txn: &Transaction) -> Result<()> {
    let kind = match txn.kind {
        Kind::Credit => "wallet.credited",
        Kind::Debit => "wallet.debited",
    };
    events::emit(
        kind,
        Some(&doc.id),
        &json!({
            "account_id": txn.account_id, "employee_id": txn.account_id,
            "amount": txn.amount, "currency": txn.currency, "reason": txn.reason,
            "balance_after": txn.balance_after, "reverses": txn.reverses,
        }),
    )
}

/// 404 unless `employee_id` is an employee of the tenant, asked of employees.
fn require_employee(employee_id: &str) -> Result<()> {
    modules::check_id("employee_id", employee_id)?;
    match modules::employee::<serde_json::Value>(employee_id)? {
        Some(_) => Ok(()),
        None => Err(Error::NotFound(format!("Employee {employee_id} not found"))),
    }
}
