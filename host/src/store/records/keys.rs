//! The keys that enforce a manifest's unique indexes, kept in `record_keys` beside
//! each document.

use serde_json::Value as Json;
use sqlx::AnyConnection;

use super::{Scope, StoreError, StoreResult, UniqueIndex};

impl UniqueIndex {
    fn name(&self) -> String {
        self.fields.join(",")
    }

    /// The index key of `data`, or none when a field is missing or null (such
    /// documents are not constrained).
    fn key(&self, data: &Json) -> Option<String> {
        let values: Option<Vec<&Json>> = self
            .fields
            .iter()
            .map(|f| lookup(data, f).filter(|v| !v.is_null()))
            .collect();
        values.map(|v| Json::from(v.into_iter().cloned().collect::<Vec<_>>()).to_string())
    }
}

pub(super) fn indexes_of(indexes: &[UniqueIndex], collection: &str) -> Vec<UniqueIndex> {
    indexes
        .iter()
        .filter(|i| i.collection == collection)
        .cloned()
        .collect()
}

pub(super) async fn insert_keys(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    indexes: &[UniqueIndex],
    collection: &str,
    id: &str,
    data: &Json,
) -> StoreResult<()> {
    for index in indexes {
        let Some(key) = index.key(data) else { continue };
        let done = sqlx::query(
            "INSERT INTO record_keys (tenant_id, module, collection, index_name, key, record_id) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(scope.tenant_id)
        .bind(scope.module)
        .bind(collection)
        .bind(index.name())
        .bind(&key)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "unique index {collection}({}) already holds {key}",
                index.name()
            )));
        }
    }
    Ok(())
}

pub(super) async fn delete_keys(
    conn: &mut AnyConnection,
    scope: Scope<'_>,
    collection: &str,
    id: &str,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM record_keys WHERE tenant_id = $1 AND module = $2 AND collection = $3 AND record_id = $4",
    )
    .bind(scope.tenant_id)
    .bind(scope.module)
    .bind(collection)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn lookup<'a>(data: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(data, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_keys_skip_missing_and_null_fields() {
        let index = UniqueIndex {
            collection: "c".into(),
            fields: vec!["email".into()],
        };
        assert_eq!(
            index.key(&serde_json::json!({"email": "a@b.c"})).as_deref(),
            Some(r#"["a@b.c"]"#)
        );
        assert_eq!(index.key(&serde_json::json!({"email": null})), None);
        assert_eq!(index.key(&serde_json::json!({})), None);
    }
}
