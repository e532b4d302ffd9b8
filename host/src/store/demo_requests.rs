//! Requests for a demo, sent from the public site, until a platform admin turns one
//! into a tenant.

use sqlx::Row;

use super::{Db, DbResult, now_ms};

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DemoRequest {
    pub id: String,
    pub company: String,
    pub contact_name: String,
    pub email: String,
    pub message: String,
    /// `new` or `converted`.
    pub status: String,
    pub tenant_id: Option<String>,
    pub created_at: i64,
    pub converted_at: Option<i64>,
}

/// What the public form sends.
#[derive(Debug, Clone)]
pub struct NewDemoRequest<'a> {
    pub company: &'a str,
    pub contact_name: &'a str,
    pub email: &'a str,
    pub message: &'a str,
    pub ip: Option<&'a str>,
}

const COLUMNS: &str =
    "id, company, contact_name, email, message, status, tenant_id, created_at, converted_at";

fn demo_request(row: &sqlx::any::AnyRow) -> DbResult<DemoRequest> {
    Ok(DemoRequest {
        id: row.try_get(0)?,
        company: row.try_get(1)?,
        contact_name: row.try_get(2)?,
        email: row.try_get(3)?,
        message: row.try_get(4)?,
        status: row.try_get(5)?,
        tenant_id: row.try_get(6)?,
        created_at: row.try_get(7)?,
        converted_at: row.try_get(8)?,
    })
}

impl Db {
    pub async fn insert_demo_request(&self, new: &NewDemoRequest<'_>) -> DbResult<DemoRequest> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO demo_requests (id, company, contact_name, email, message, status, ip, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'new', $6, $7)",
        )
        .bind(&id)
        .bind(new.company)
        .bind(new.contact_name)
        .bind(new.email)
        .bind(new.message)
        .bind(new.ip)
        .bind(now_ms())
        .execute(&mut *w.tx)
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM demo_requests WHERE id = $1"
        )))
        .bind(&id)
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit().await?;
        demo_request(&row)
    }

    pub async fn demo_request(&self, id: &str) -> DbResult<Option<DemoRequest>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM demo_requests WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(demo_request)
        .transpose()
    }

    /// Newest first, optionally only those in `status`.
    pub async fn list_demo_requests(
        &self,
        status: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> DbResult<Vec<DemoRequest>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM demo_requests WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(demo_request)
            .collect()
    }
}

/// Marks a new request converted into `tenant_id`, inside the transaction that creates
/// the tenant. False when it was converted already (or does not exist).
pub(super) async fn mark_converted(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    tenant_id: &str,
    now: i64,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE demo_requests SET status = 'converted', tenant_id = $1, converted_at = $2 \
         WHERE id = $3 AND status = 'new'",
    )
    .bind(tenant_id)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
