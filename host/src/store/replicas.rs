//! The replicas serving this database: each registers when it starts serving, beats
//! while it runs and leaves when it stops, and announces on PostgreSQL which tenant
//! changes it has applied (`NOTIFY` on [`TENANT_APPLIED`]).

use sqlx::Row;

use super::{Db, DbResult, Dialect};

/// The PostgreSQL channel of acknowledgements; the payload is
/// `<replica id>:<tenant id>:<generation>`.
pub const TENANT_APPLIED: &str = "mosaic_tenant_applied";

/// A replica as the others know it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReplicaInfo {
    pub id: String,
    /// Where it listens, as it bound.
    pub address: String,
}

impl Db {
    /// Records this replica as serving since `now`.
    pub async fn register_replica(&self, replica: &ReplicaInfo, now: i64) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO replicas (id, address, started_at, seen_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, seen_at = excluded.seen_at",
        )
        .bind(&replica.id)
        .bind(&replica.address)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// This replica is alive at `now` (registered again if it was taken for dead);
    /// replicas silent since `forget_before` are forgotten.
    pub async fn replica_heartbeat(
        &self,
        replica: &ReplicaInfo,
        now: i64,
        forget_before: i64,
    ) -> DbResult<()> {
        let seen = sqlx::query("UPDATE replicas SET seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&replica.id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if seen == 0 {
            self.register_replica(replica, now).await?;
        }
        sqlx::query("DELETE FROM replicas WHERE seen_at < $1")
            .bind(forget_before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// This replica stops serving.
    pub async fn leave_replica(&self, id: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The replicas seen since `since`, oldest first.
    pub async fn live_replicas(&self, since: i64) -> DbResult<Vec<ReplicaInfo>> {
        sqlx::query("SELECT id, address FROM replicas WHERE seen_at >= $1 ORDER BY started_at, id")
            .bind(since)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ReplicaInfo {
                    id: r.try_get(0)?,
                    address: r.try_get(1)?,
                })
            })
            .collect()
    }

    /// Tells the other replicas that `replica` serves `generation` of the tenant (or
    /// knows it is gone). PostgreSQL only: SQLite has one replica.
    pub async fn announce_applied(
        &self,
        replica: &str,
        tenant_id: &str,
        generation: i64,
    ) -> DbResult<()> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(TENANT_APPLIED)
                .bind(format!("{replica}:{tenant_id}:{generation}"))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}
