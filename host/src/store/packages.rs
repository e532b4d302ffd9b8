//! Modules installed at runtime: every uploaded version with its bytes, which one
//! each key serves, and what a platform admin granted it. Each change bumps the
//! catalog's generation, which every replica polls.

use std::convert::Infallible;

use sqlx::{AnyConnection, Row};

use super::{AuditEntry, Db, DbResult, Dialect, now_ms};
use crate::runtime::grant::{Grant, GrantKind, Request};

/// A version to store.
pub struct NewPackage<'a> {
    pub key: &'a str,
    pub version: &'a str,
    pub sha256: &'a str,
    pub contract: &'a str,
    pub manifest: &'a str,
    pub wasm: &'a [u8],
    pub publisher: Option<&'a str>,
    pub uploaded_by: &'a str,
}

/// A stored version, without its bytes.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PackageInfo {
    pub version: String,
    pub sha256: String,
    pub contract: String,
    pub size_bytes: i64,
    pub publisher: Option<String>,
    pub uploaded_by: String,
    pub uploaded_at: i64,
    pub activated_at: Option<i64>,
}

/// An installed key: who owns it and which version serves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Release {
    pub key: String,
    pub publisher: Option<String>,
    pub current_version: Option<String>,
    pub pending_version: Option<String>,
}

/// Why an upload was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadRefusal {
    /// The key belongs to another publisher (`None`: it was installed unsigned).
    KeyOwned { publisher: Option<String> },
    /// This version is stored already with other bytes.
    VersionExists,
}

/// What became of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    /// The same bytes were stored already.
    Again,
}

const PACKAGE_COLUMNS: &str =
    "version, sha256, contract, size_bytes, publisher, uploaded_by, uploaded_at, activated_at";

impl Db {
    /// The catalog's generation: it changes with every install, grant, activation
    /// and uninstall.
    pub async fn module_catalog_generation(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT generation FROM module_catalog WHERE id = 1")
            .fetch_one(&self.pool)
            .await
    }

    pub async fn module_releases(&self) -> DbResult<Vec<Release>> {
        sqlx::query(
            "SELECT key, publisher, current_version, pending_version FROM module_releases ORDER BY key",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(release_from_row)
        .collect()
    }

    pub async fn module_release(&self, key: &str) -> DbResult<Option<Release>> {
        release(&mut *self.pool.acquire().await?, key).await
    }

    /// The stored versions of `key`, newest upload first.
    pub async fn module_packages(&self, key: &str) -> DbResult<Vec<PackageInfo>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PACKAGE_COLUMNS} FROM module_packages WHERE key = $1 ORDER BY uploaded_at DESC, version DESC"
        )))
        .bind(key)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(PackageInfo {
                version: row.try_get(0)?,
                sha256: row.try_get(1)?,
                contract: row.try_get(2)?,
                size_bytes: row.try_get(3)?,
                publisher: row.try_get(4)?,
                uploaded_by: row.try_get(5)?,
                uploaded_at: row.try_get(6)?,
                activated_at: row.try_get(7)?,
            })
        })
        .collect()
    }

    /// The bytes of a stored version.
    pub async fn module_wasm(&self, key: &str, version: &str) -> DbResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT wasm FROM module_packages WHERE key = $1 AND version = $2")
            .bind(key)
            .bind(version)
            .fetch_optional(&self.pool)
            .await
    }

    /// The versions tenants are pinned to, by key.
    pub async fn pinned_module_versions(&self) -> DbResult<Vec<(String, String)>> {
        sqlx::query(
            "SELECT DISTINCT module_key, pinned_version FROM tenant_modules \
             WHERE pinned_version IS NOT NULL ORDER BY module_key, pinned_version",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }

    /// How many tenants have `key` enabled.
    pub async fn tenants_enabling(&self, key: &str) -> DbResult<i64> {
        tenants_enabling(&mut *self.pool.acquire().await?, key).await
    }

    /// What the platform decided about each request of `key`.
    pub async fn module_grant(&self, key: &str) -> DbResult<Grant> {
        grant(&mut *self.pool.acquire().await?, key).await
    }

    /// Stores an uploaded version of a key owned by `publisher` (or a new key, which
    /// it then owns). It serves at once if the key's grant has decided all its
    /// `requests` (read in the same transaction, so a grant at the same moment cannot
    /// slip between); otherwise it waits, as the key's pending version, for a grant.
    /// Bytes stored already change nothing. Returns whether it now serves.
    pub async fn store_module_package(
        &self,
        package: &NewPackage<'_>,
        requests: &[Request],
        audit: AuditEntry<'_>,
    ) -> DbResult<Result<(Stored, bool), UploadRefusal>> {
        self.change_catalog(audit, async |conn, now| {
            let owner = release(conn, package.key).await?;
            if let Some(owner) = &owner
                && owner.publisher.as_deref() != package.publisher
            {
                return Ok(Err(UploadRefusal::KeyOwned {
                    publisher: owner.publisher.clone(),
                }));
            }
            let stored: Option<String> = sqlx::query_scalar(
                "SELECT sha256 FROM module_packages WHERE key = $1 AND version = $2",
            )
            .bind(package.key)
            .bind(package.version)
            .fetch_optional(&mut *conn)
            .await?;
            match stored {
                Some(sha256) if sha256 != package.sha256 => {
                    return Ok(Err(UploadRefusal::VersionExists));
                }
                // Bytes stored before: which version serves is activate's business.
                Some(_) => {
                    let current = owner.and_then(|o| o.current_version);
                    return Ok(Ok((Stored::Again, current.as_deref() == Some(package.version))));
                }
                None => {}
            }
            sqlx::query(
                "INSERT INTO module_packages (key, version, sha256, contract, manifest, wasm, \
                 size_bytes, publisher, uploaded_by, uploaded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(package.key)
            .bind(package.version)
            .bind(package.sha256)
            .bind(package.contract)
            .bind(package.manifest)
            .bind(package.wasm)
            .bind(i64::try_from(package.wasm.len()).unwrap_or(i64::MAX))
            .bind(package.publisher)
            .bind(package.uploaded_by)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            if owner.is_none() {
                sqlx::query(
                    "INSERT INTO module_releases (key, publisher, changed_at) VALUES ($1, $2, $3)",
                )
                .bind(package.key)
                .bind(package.publisher)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            let grant = grant(conn, package.key).await?;
            let activate = requests.iter().all(|r| grant.has_decided(r));
            if activate {
                activate_version(conn, package.key, package.version, now).await?;
            } else {
                sqlx::query(
                    "UPDATE module_releases SET pending_version = $2, changed_at = $3 WHERE key = $1",
                )
                .bind(package.key)
                .bind(package.version)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            Ok(Ok((Stored::New, activate)))
        })
        .await
    }

    /// Replaces the decisions on `key`'s requests, and makes `activate` (its pending
    /// version, now covered) the version it serves.
    pub async fn store_module_grant(
        &self,
        key: &str,
        decisions: &[(Request, bool)],
        activate: Option<&str>,
        decided_by: &str,
        audit: AuditEntry<'_>,
    ) -> DbResult<()> {
        let done = self
            .change_catalog(audit, async |conn, now| {
                sqlx::query("DELETE FROM module_grants WHERE key = $1")
                    .bind(key)
                    .execute(&mut *conn)
                    .await?;
                for ((kind, item), allowed) in decisions {
                    sqlx::query(
                    "INSERT INTO module_grants (key, kind, item, allowed, decided_by, decided_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(key)
                .bind(kind.as_str())
                .bind(item)
                .bind(i64::from(*allowed))
                .bind(decided_by)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                }
                if let Some(version) = activate {
                    activate_version(conn, key, version, now).await?;
                }
                Ok(Ok::<(), Infallible>(()))
            })
            .await?;
        let Ok(()) = done;
        Ok(())
    }

    /// Makes a stored version the one `key` serves (a rollback, say).
    pub async fn activate_module_version(
        &self,
        key: &str,
        version: &str,
        audit: AuditEntry<'_>,
    ) -> DbResult<()> {
        let done = self
            .change_catalog(audit, async |conn, now| {
                activate_version(conn, key, version, now).await?;
                Ok(Ok::<(), Infallible>(()))
            })
            .await?;
        let Ok(()) = done;
        Ok(())
    }

    /// Removes `key`'s versions, grant, schedules and pins, unless a tenant has it
    /// enabled: then the number of such tenants. `forget` also drops the key's
    /// owner; otherwise the key stays with its publisher (its tenants' data is still
    /// there) and only that publisher may install it again.
    pub async fn remove_module_package(
        &self,
        key: &str,
        forget: bool,
        audit: AuditEntry<'_>,
    ) -> DbResult<Result<(), i64>> {
        self.change_catalog(audit, async |conn, now| {
            let enabled = tenants_enabling(conn, key).await?;
            if enabled > 0 {
                return Ok(Err(enabled));
            }
            for table in ["module_packages", "module_grants", "modules"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE key = $1"
                )))
                .bind(key)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query("DELETE FROM schedule_runs WHERE module = $1")
                .bind(key)
                .execute(&mut *conn)
                .await?;
            sqlx::query("UPDATE tenant_modules SET pinned_version = NULL WHERE module_key = $1")
                .bind(key)
                .execute(&mut *conn)
                .await?;
            let release = if forget {
                sqlx::query("DELETE FROM module_releases WHERE key = $1").bind(key)
            } else {
                sqlx::query(
                    "UPDATE module_releases SET current_version = NULL, pending_version = NULL, \
                     changed_at = $2 WHERE key = $1",
                )
                .bind(key)
                .bind(now)
            };
            release.execute(&mut *conn).await?;
            Ok(Ok(()))
        })
        .await
    }

    /// Deletes what `module` stored for `tenant_id` (documents, keys, files, the
    /// events still waiting for it) and the tenant's settings of it.
    pub async fn purge_module_data(&self, tenant_id: &str, module: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM tenant_modules WHERE tenant_id = $1 AND module_key = $2")
            .bind(tenant_id)
            .bind(module)
            .execute(&self.pool)
            .await?;
        let data = self.module_data(tenant_id).await?;
        let mut w = data.begin_write().await?;
        for (table, column) in [
            ("records", "module"),
            ("record_keys", "module"),
            ("module_files", "module"),
            ("event_deliveries", "subscriber"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND {column} = $2"
            )))
            .bind(tenant_id)
            .bind(module)
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await
    }

    /// One change to the catalog: `statement`, the generation bumped and the audit
    /// row, in one transaction. On PostgreSQL catalog changes take turns on its row.
    async fn change_catalog<T, R>(
        &self,
        audit: AuditEntry<'_>,
        statement: impl AsyncFnOnce(&mut AnyConnection, i64) -> DbResult<Result<T, R>>,
    ) -> DbResult<Result<T, R>> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT generation FROM module_catalog WHERE id = 1 FOR UPDATE")
                .execute(&mut *w.tx)
                .await?;
        }
        let changed = match statement(&mut w.tx, now).await? {
            Ok(changed) => changed,
            refused @ Err(_) => return Ok(refused),
        };
        bump_catalog(&mut w.tx).await?;
        audit.insert(&mut w.tx, self.audit_key()?, now).await?;
        w.commit().await?;
        Ok(Ok(changed))
    }
}

/// Tells every replica that the installed modules (or the versions tenants are
/// pinned to) changed.
pub(crate) async fn bump_catalog(conn: &mut AnyConnection) -> DbResult<()> {
    sqlx::query("UPDATE module_catalog SET generation = generation + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

async fn tenants_enabling(conn: &mut AnyConnection, key: &str) -> DbResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM tenant_modules WHERE module_key = $1 AND enabled = 1")
        .bind(key)
        .fetch_one(conn)
        .await
}

async fn grant(conn: &mut AnyConnection, key: &str) -> DbResult<Grant> {
    let rows = sqlx::query("SELECT kind, item, allowed FROM module_grants WHERE key = $1")
        .bind(key)
        .fetch_all(conn)
        .await?;
    let mut decisions = Vec::with_capacity(rows.len());
    for row in &rows {
        let kind: String = row.try_get(0)?;
        let Some(kind) = GrantKind::parse(&kind) else {
            continue;
        };
        let allowed: i64 = row.try_get(2)?;
        decisions.push(((kind, row.try_get(1)?), allowed == 1));
    }
    Ok(Grant::from_decisions(decisions))
}

async fn release(conn: &mut AnyConnection, key: &str) -> DbResult<Option<Release>> {
    sqlx::query(
        "SELECT key, publisher, current_version, pending_version FROM module_releases WHERE key = $1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(release_from_row)
    .transpose()
}

fn release_from_row(row: &sqlx::any::AnyRow) -> DbResult<Release> {
    Ok(Release {
        key: row.try_get(0)?,
        publisher: row.try_get(1)?,
        current_version: row.try_get(2)?,
        pending_version: row.try_get(3)?,
    })
}

async fn activate_version(
    conn: &mut AnyConnection,
    key: &str,
    version: &str,
    now: i64,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE module_releases SET current_version = $2, pending_version = NULL, \
         changed_at = $3 WHERE key = $1",
    )
    .bind(key)
    .bind(version)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE module_packages SET activated_at = $3 WHERE key = $1 AND version = $2")
        .bind(key)
        .bind(version)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
