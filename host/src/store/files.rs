//! Files kept for modules, scoped to one (tenant, module), in the tenant's module
//! data. Every function takes the unit of work's connection, so a file is written
//! and discarded with the call that put it.

use sqlx::{AnyConnection, Row as _};

use super::DbResult;
use super::records::Scope;

/// A stored file's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: i64,
}

const INFO_COLUMNS: &str = "id, name, content_type, size, sha256, created_at";

fn info(row: &sqlx::any::AnyRow) -> DbResult<FileInfo> {
    Ok(FileInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn insert(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    file: &FileInfo,
    content: &[u8],
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO module_files \
         (tenant_id, module, id, name, content_type, size, sha256, content, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(scope.tenant_id)
    .bind(scope.module)
    .bind(&file.id)
    .bind(&file.name)
    .bind(&file.content_type)
    .bind(file.size)
    .bind(&file.sha256)
    .bind(content)
    .bind(file.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The bytes every module of the tenant keeps.
pub async fn tenant_total(conn: &mut AnyConnection, tenant_id: &str) -> DbResult<i64> {
    // SUM of an empty set is NULL; a BIGINT SUM on PostgreSQL is NUMERIC.
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM module_files WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_one(conn)
    .await
}

pub async fn stat(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    id: &str,
) -> DbResult<Option<FileInfo>> {
    let sql = format!(
        "SELECT {INFO_COLUMNS} FROM module_files WHERE tenant_id = $1 AND module = $2 AND id = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.tenant_id)
        .bind(scope.module)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(info).transpose()
}

pub async fn get(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    id: &str,
) -> DbResult<Option<(FileInfo, Vec<u8>)>> {
    let sql = format!(
        "SELECT {INFO_COLUMNS}, content FROM module_files \
         WHERE tenant_id = $1 AND module = $2 AND id = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.tenant_id)
        .bind(scope.module)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| Ok((info(&row)?, row.try_get("content")?)))
        .transpose()
}

/// Answers whether there was a file to delete.
pub async fn delete(conn: &mut AnyConnection, scope: Scope<'_>, id: &str) -> DbResult<bool> {
    let done =
        sqlx::query("DELETE FROM module_files WHERE tenant_id = $1 AND module = $2 AND id = $3")
            .bind(scope.tenant_id)
            .bind(scope.module)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Up to `limit` files with ids after `after`, oldest first (ids are UUIDv7).
pub async fn list(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    after: Option<&str>,
    limit: u32,
) -> DbResult<Vec<FileInfo>> {
    let sql = format!(
        "SELECT {INFO_COLUMNS} FROM module_files \
         WHERE tenant_id = $1 AND module = $2 AND id > $3 ORDER BY id LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(scope.tenant_id)
        .bind(scope.module)
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await?;
    rows.iter().map(info).collect()
}
