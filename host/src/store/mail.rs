//! Outgoing mail and the single-use tokens it carries.

use sqlx::{AnyConnection, Row};

use super::{AuditEntry, Db, DbResult, now_ms};

/// A message in the outbox.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mail {
    pub seq: i64,
    pub tenant_id: Option<String>,
    pub to_email: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
}

/// What a single-use token was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    Invite,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::Invite => "invite",
        }
    }
}

/// A single-use token (stored as its hash) and the mail that carries it: always
/// written together, in the transaction of what they are for, so no token exists
/// without its mail and no mail carries a token that was never stored.
#[derive(Debug, Clone)]
pub struct TokenMail<'a> {
    pub token_hash: String,
    pub purpose: TokenPurpose,
    pub tenant_id: Option<&'a str>,
    pub user_id: &'a str,
    pub expires_at: i64,
    pub to: &'a str,
    pub subject: String,
    pub body: String,
}

impl TokenMail<'_> {
    /// Writes the token and queues the mail in `conn`'s transaction.
    pub(super) async fn insert(&self, conn: &mut AnyConnection, now: i64) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO one_time_tokens (token_hash, purpose, tenant_id, user_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&self.token_hash)
        .bind(self.purpose.as_str())
        .bind(self.tenant_id)
        .bind(self.user_id)
        .bind(self.expires_at)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO mail_outbox (tenant_id, to_email, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(self.tenant_id)
        .bind(self.to)
        .bind(&self.subject)
        .bind(&self.body)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// The account a redeemed token was for.
#[derive(Debug, Clone)]
pub struct Redeemed {
    pub tenant_id: Option<String>,
    pub user_id: String,
}

impl Db {
    pub async fn queue_mail(
        &self,
        tenant_id: Option<&str>,
        to: &str,
        subject: &str,
        body: &str,
    ) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO mail_outbox (tenant_id, to_email, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant_id)
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mails queued and not sent yet.
    pub async fn unsent_mail(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL")
            .fetch_one(&self.pool)
            .await
    }

    /// The newest messages first.
    pub async fn recent_mail(&self, limit: i64) -> DbResult<Vec<Mail>> {
        sqlx::query(
            "SELECT seq, tenant_id, to_email, subject, body, created_at FROM mail_outbox ORDER BY seq DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Mail {
                seq: r.try_get(0)?,
                tenant_id: r.try_get(1)?,
                to_email: r.try_get(2)?,
                subject: r.try_get(3)?,
                body: r.try_get(4)?,
                created_at: r.try_get(5)?,
            })
        })
        .collect()
    }

    /// Issues a single-use token with the mail that carries it and the audit row of
    /// what asked for them, in one transaction.
    pub async fn send_token_mail(
        &self,
        mail: &TokenMail<'_>,
        audit: &AuditEntry<'_>,
    ) -> DbResult<()> {
        let mut w = self.begin_write().await?;
        let now = now_ms();
        mail.insert(&mut w.tx, now).await?;
        audit.insert(&mut w.tx, self.audit_key()?, now).await?;
        w.commit().await
    }

    /// The account a token is for, if it is still usable; leaves it unused.
    pub async fn peek_one_time_token(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
    ) -> DbResult<Option<Redeemed>> {
        let row = sqlx::query(
            "SELECT tenant_id, user_id FROM one_time_tokens \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(redeemed).transpose()
    }

    /// Uses a token up, atomically; none if it is unknown, used, expired or for
    /// another purpose.
    pub async fn redeem_one_time_token(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
    ) -> DbResult<Option<Redeemed>> {
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE one_time_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING tenant_id, user_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(redeemed).transpose()
    }
}

fn redeemed(row: &sqlx::any::AnyRow) -> DbResult<Redeemed> {
    Ok(Redeemed {
        tenant_id: row.try_get(0)?,
        user_id: row.try_get(1)?,
    })
}
