//! Writing tenants: create, update, change state, delete.

use sqlx::AssertSqlSafe;

use super::modules::set_module;
use super::subscriptions::TrialStart;
use super::{Announce, Tenant, TenantStatus, Unchanged, one_row, tenant_in};
use crate::billing::invoice::NewInvoice;
use crate::store::demo_requests::mark_converted;
use crate::store::invoices;
use crate::store::users::insert_account;
use crate::store::{AuditEntry, Db, DbResult, NewAccount, Realm, TokenMail};

/// Tables that hold a tenant's data, all keyed by `tenant_id`; a hard delete empties
/// them (children first) before the tenant row.
const TENANT_TABLES: &[&str] = &[
    "record_keys",
    "records",
    "event_deliveries",
    "event_outbox",
    "module_files",
    "usage",
    "schedule_runs",
    "payments",
    "invoices",
    "subscriptions",
    "refresh_tokens",
    "one_time_tokens",
    "mail_outbox",
    "users",
    "tenant_modules",
    "tenant_domains",
];

/// Whether a tenant row was written, and if not, why.
pub enum Created {
    Yes,
    SubdomainTaken,
    /// The demo request it was to be created from was converted already.
    DemoRequestConverted,
}

/// A tenant to insert, with what comes into being together with it.
pub struct TenantRow<'a> {
    pub tenant: &'a Tenant,
    pub modules: &'a [String],
    pub admin: Option<NewAccount<'a>>,
    /// The first admin's invitation (an admin who has no password yet).
    pub invitation: Option<TokenMail<'a>>,
    /// The demo request this tenant converts, marked converted in the same transaction.
    pub demo_request: Option<&'a str>,
    /// When the trial its subscription starts with ends.
    pub trial_ends_at: i64,
    /// The invoice for the first period after the trial (none for a pending
    /// sign-up: its trial restarts at approval, which issues it).
    pub first_invoice: Option<NewInvoice>,
}

/// The editable fields of a tenant; `None` leaves a field as it is, `Some(None)`
/// clears an optional one.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct TenantChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_color: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<Option<String>>,
    /// An IANA zone name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl Db {
    /// Creates a tenant with its modules, first admin and audit row in one transaction.
    pub async fn create_tenant(
        &self,
        row: &TenantRow<'_>,
        audit: AuditEntry<'_>,
    ) -> DbResult<Created> {
        let tenant = row.tenant;
        let created = self
            .change_tenant(&tenant.id, Announce::Silent, audit, async |conn, now, _| {
                let done = sqlx::query(
                    "INSERT INTO tenants (id, name, subdomain, status, plan, timezone, generation, \
                     contact_email, primary_color, secondary_color, logo, created_by, status_reason, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $11, $12, $13, $13) ON CONFLICT DO NOTHING",
                )
                .bind(&tenant.id)
                .bind(&tenant.name)
                .bind(&tenant.subdomain)
                .bind(tenant.status.as_str())
                .bind(&tenant.plan)
                .bind(&tenant.timezone)
                .bind(&tenant.contact_email)
                .bind(&tenant.primary_color)
                .bind(&tenant.secondary_color)
                .bind(&tenant.logo)
                .bind(&tenant.created_by)
                .bind(&tenant.status_reason)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(Err(Created::SubdomainTaken));
                }
                for key in row.modules {
                    set_module(conn, &tenant.id, key, true, now).await?;
                }
                super::subscriptions::start_trial(conn, &tenant.id, row.trial_ends_at, now).await?;
                if let Some(invoice) = &row.first_invoice {
                    invoices::issue(conn, &tenant.id, invoice, now).await?;
                }
                if let Some(admin) = &row.admin {
                    insert_account(conn, Realm::Tenant(&tenant.id), admin).await?;
                }
                if let Some(invitation) = &row.invitation {
                    invitation.insert(conn, now).await?;
                }
                if let Some(request) = row.demo_request
                    && !mark_converted(conn, request, &tenant.id, now).await?
                {
                    return Ok(Err(Created::DemoRequestConverted));
                }
                Ok(Ok(()))
            })
            .await?;
        Ok(created.err().unwrap_or(Created::Yes))
    }

    /// Applies `changes` with its audit row. False when there is no such tenant.
    pub async fn update_tenant(
        &self,
        tenant_id: &str,
        changes: &TenantChanges,
        audit: AuditEntry<'_>,
    ) -> DbResult<bool> {
        let mut sets: Vec<(&str, Option<&str>)> = Vec::new();
        if let Some(name) = &changes.name {
            sets.push(("name", Some(name)));
        }
        if let Some(timezone) = &changes.timezone {
            sets.push(("timezone", Some(timezone)));
        }
        for (column, value) in [
            ("contact_email", &changes.contact_email),
            ("primary_color", &changes.primary_color),
            ("secondary_color", &changes.secondary_color),
            ("logo", &changes.logo),
        ] {
            if let Some(value) = value {
                sets.push((column, value.as_deref()));
            }
        }
        let assignments: String = sets
            .iter()
            .enumerate()
            .map(|(i, (column, _))| format!(", {column} = ${}", i + 3))
            .collect();
        // The generation is bumped here, so an empty change still reaches the caches.
        let sql = format!(
            "UPDATE tenants SET generation = generation + 1, updated_at = $1{assignments} WHERE id = $2"
        );
        let updated = self
            .change_tenant(
                tenant_id,
                Announce::Notify,
                audit,
                async |conn, now, found| {
                    let Some(current) = tenant_in(conn, tenant_id).await? else {
                        return Ok(Err(Unchanged));
                    };
                    found.record(serde_json::json!({
                        "name": current.name,
                        "contact_email": current.contact_email,
                        "primary_color": current.primary_color,
                        "secondary_color": current.secondary_color,
                        "logo": current.logo,
                        "timezone": current.timezone,
                    }));
                    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now).bind(tenant_id);
                    for (_, value) in &sets {
                        query = query.bind(*value);
                    }
                    Ok(one_row(&query.execute(conn).await?))
                },
            )
            .await?;
        Ok(updated.is_ok())
    }

    /// Moves a tenant into state `to` from one of `from`, recording the reason, with
    /// its audit row, in one transaction. False when the tenant was in none of `from`.
    /// `trial` restarts a subscription still on trial (a sign-up's trial runs from
    /// its approval, not from its request) with the invoice for the period after it.
    pub async fn transition_tenant(
        &self,
        tenant_id: &str,
        from: &[TenantStatus],
        to: TenantStatus,
        reason: Option<&str>,
        trial: Option<&TrialStart>,
        audit: AuditEntry<'_>,
    ) -> DbResult<bool> {
        let status_params: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            "UPDATE tenants SET status = $1, status_reason = $2, generation = generation + 1, updated_at = $3 \
             WHERE id = ${} AND status IN ({})",
            from.len() + 4,
            status_params.join(", ")
        );
        let moved = self
            .change_tenant(
                tenant_id,
                Announce::Notify,
                audit,
                async |conn, now, found| {
                    let Some(current) = tenant_in(conn, tenant_id).await? else {
                        return Ok(Err(Unchanged));
                    };
                    found.record(serde_json::json!({"status": current.status}));
                    let mut query = sqlx::query(AssertSqlSafe(sql))
                        .bind(to.as_str())
                        .bind(reason)
                        .bind(now);
                    for state in from {
                        query = query.bind(state.as_str());
                    }
                    let moved = one_row(&query.bind(tenant_id).execute(&mut *conn).await?);
                    if moved.is_ok()
                        && let Some(trial) = trial
                    {
                        super::subscriptions::restart_trial(conn, tenant_id, trial, now).await?;
                    }
                    Ok(moved)
                },
            )
            .await?;
        Ok(moved.is_ok())
    }

    /// Removes the tenant and everything it owns, keeping only the audit log. False
    /// when there was no such tenant.
    pub async fn delete_tenant(&self, tenant_id: &str, audit: AuditEntry<'_>) -> DbResult<bool> {
        let deleted = self
            .change_tenant(
                tenant_id,
                Announce::Notify,
                audit,
                async |conn, _, found| {
                    let Some(current) = tenant_in(conn, tenant_id).await? else {
                        return Ok(Err(Unchanged));
                    };
                    found.record(
                        serde_json::json!({"name": current.name, "status": current.status}),
                    );
                    for table in TENANT_TABLES {
                        sqlx::query(AssertSqlSafe(format!(
                            "DELETE FROM {table} WHERE tenant_id = $1"
                        )))
                        .bind(tenant_id)
                        .execute(&mut *conn)
                        .await?;
                    }
                    let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
                        .bind(tenant_id)
                        .execute(conn)
                        .await?;
                    Ok(one_row(&done))
                },
            )
            .await?;
        if deleted.is_ok() {
            self.remove_module_data(tenant_id).await?;
        }
        Ok(deleted.is_ok())
    }
}
