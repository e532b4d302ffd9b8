//! The module catalog: which module versions are installed.

use super::{Db, DbResult, now_ms};

impl Db {
    /// Records an installed module (the latest install of a key wins).
    pub async fn upsert_module(
        &self,
        key: &str,
        name: &str,
        version: &str,
        wasm_sha256: &str,
        manifest_json: &str,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO modules (key, name, version, wasm_sha256, manifest, installed_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, version = excluded.version, \
             wasm_sha256 = excluded.wasm_sha256, manifest = excluded.manifest, installed_at = excluded.installed_at",
        )
        .bind(key)
        .bind(name)
        .bind(version)
        .bind(wasm_sha256)
        .bind(manifest_json)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
