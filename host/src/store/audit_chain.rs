//! The audit log's chain. Each row's hash covers its content and the previous row's
//! hash, keyed (HMAC-SHA256) with a key kept outside the database: whoever can write
//! to the database can neither recompute a hash after an edit nor clear them all
//! unnoticed. `audit_seal` records the first keyed row and the key's fingerprint;
//! rows before it (written by releases before the key) carry plain SHA-256 hashes.
//! A head exported with `mosaic audit head` lets `verify` catch a log rewritten
//! from scratch, seal included.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::audit::{AUDIT_COLUMNS, audit_record};
use super::{Db, DbResult};

/// The key audit rows are sealed with.
#[derive(Clone)]
pub struct AuditKey(Arc<[u8]>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", self.id())
    }
}

impl AuditKey {
    /// As for the JWT secret: a key shorter than this could be guessed.
    pub const MIN_BYTES: usize = 32;

    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < Self::MIN_BYTES {
            return Err(format!(
                "the audit key has {} bytes; it needs at least {}",
                secret.len(),
                Self::MIN_BYTES
            ));
        }
        Ok(Self(secret.into()))
    }

    /// A fingerprint that names the key without revealing it.
    pub fn id(&self) -> String {
        self.mac(b"mosaic audit key id")[..16].to_owned()
    }

    fn mac(&self, content: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(content);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// What a row's hash covers, as a canonical JSON array (field order fixed, so the
/// same row always hashes the same).
pub(super) struct RowContent<'a> {
    pub prev_hash: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub at: i64,
}

impl RowContent<'_> {
    fn canonical(&self) -> String {
        serde_json::json!([
            self.prev_hash,
            self.tenant_id,
            self.actor,
            self.action,
            self.target,
            self.before,
            self.after,
            self.request_id,
            self.ip,
            self.user_agent,
            self.at
        ])
        .to_string()
    }

    /// The keyed hash of a sealed row.
    pub(super) fn sealed_hash(&self, key: &AuditKey) -> String {
        key.mac(self.canonical().as_bytes())
    }

    /// The plain hash of a row from before the seal.
    fn legacy_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical().as_bytes()))
    }
}

/// The first keyed row, and the key's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seal {
    pub first_seq: i64,
    pub key_id: String,
}

pub(super) async fn seal(conn: &mut sqlx::AnyConnection) -> DbResult<Option<Seal>> {
    let row = sqlx::query("SELECT first_seq, key_id FROM audit_seal WHERE id = 1")
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(Seal {
            first_seq: r.try_get(0)?,
            key_id: r.try_get(1)?,
        })
    })
    .transpose()
}

/// Records that rows from `first_seq` on are sealed with `key`.
pub(super) async fn record_seal(
    conn: &mut sqlx::AnyConnection,
    first_seq: i64,
    key: &AuditKey,
    at: i64,
) -> DbResult<()> {
    sqlx::query("INSERT INTO audit_seal (id, first_seq, key_id, sealed_at) VALUES (1, $1, $2, $3)")
        .bind(first_seq)
        .bind(key.id())
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Refuses a key other than the one the log was sealed with.
pub(super) fn check_key(seal: Option<&Seal>, key: &AuditKey) -> DbResult<()> {
    match seal {
        Some(seal) if seal.key_id != key.id() => Err(sqlx::Error::Configuration(
            format!(
                "the audit key (fingerprint {}) is not the one the log was sealed with ({})",
                key.id(),
                seal.key_id
            )
            .into(),
        )),
        _ => Ok(()),
    }
}

/// The newest row as exported to be checked later: `seq:sealed_from:hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    pub seq: i64,
    /// The first sealed row, which a rewrite that drops the seal would change.
    pub sealed_from: i64,
    pub hash: String,
}

impl std::fmt::Display for AuditHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.seq, self.sealed_from, self.hash)
    }
}

impl std::str::FromStr for AuditHead {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.trim().splitn(3, ':');
        let mut number = |what: &str| {
            parts
                .next()
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("{text:?} is no head (`seq:sealed_from:hash`): no {what}"))
        };
        let (seq, sealed_from) = (number("seq")?, number("sealed_from")?);
        let hash = parts
            .next()
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("{text:?} is no head: no 64-digit hash"))?;
        Ok(Self {
            seq,
            sealed_from,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// What `Db::verify_audit` found.
#[derive(Debug, Clone, Serialize)]
pub struct AuditVerification {
    /// Rows checked against the chain.
    pub rows: u64,
    /// Rows written before the chain existed (the first migrations), left unchecked.
    pub unsealed: u64,
    /// The first row hashed with the key; none while no row is.
    pub sealed_from: Option<i64>,
    /// The newest row: export it (`mosaic audit head`) to catch a rewrite later.
    pub head: Option<AuditHead>,
    /// The first row that does not hold, if any.
    pub problem: Option<AuditProblem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditProblem {
    pub seq: i64,
    pub reason: &'static str,
}

impl Db {
    /// Fails when the log was sealed with another key, so a host with the wrong key
    /// never starts writing rows nobody can verify.
    pub async fn check_audit_key(&self, key: &AuditKey) -> DbResult<()> {
        let mut conn = self.pool.acquire().await?;
        check_key(seal(&mut conn).await?.as_ref(), key)
    }

    /// The newest sealed row, to keep outside the database.
    pub async fn audit_head(&self) -> DbResult<Option<AuditHead>> {
        let mut conn = self.pool.acquire().await?;
        let Some(seal) = seal(&mut conn).await? else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|r| {
            Ok(AuditHead {
                seq: r.try_get(0)?,
                sealed_from: seal.first_seq,
                hash: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
            })
        })
        .transpose()
    }

    /// Walks the whole chain, oldest first, recomputing every hash: with `key` from
    /// the seal on, plainly before it. With `head` (exported earlier), that row must
    /// still be there, with its hash, sealed from the same row. `progress` is called
    /// with the number of rows seen so far.
    pub async fn verify_audit(
        &self,
        key: &AuditKey,
        head: Option<&AuditHead>,
        mut progress: impl FnMut(u64),
    ) -> DbResult<AuditVerification> {
        use futures::TryStreamExt;
        let seal = {
            let mut conn = self.pool.acquire().await?;
            seal(&mut conn).await?
        };
        check_key(seal.as_ref(), key)?;
        let sealed_from = seal.as_ref().map(|s| s.first_seq);
        let mut report = AuditVerification {
            rows: 0,
            unsealed: 0,
            sealed_from,
            head: None,
            problem: None,
        };
        if let Some(head) = head
            && sealed_from != Some(head.sealed_from)
        {
            report.problem = Some(AuditProblem {
                seq: head.sealed_from,
                reason: "the seal is not the one the exported head names",
            });
            return Ok(report);
        }
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq");
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&self.pool);
        let mut chained = false;
        let mut prev: Option<String> = None;
        let mut head_seen = false;
        let mut last_seq = 0;
        while let Some(row) = rows.try_next().await? {
            let r = audit_record(&row)?;
            progress(report.rows + report.unsealed + 1);
            let sealed = sealed_from.is_some_and(|first| r.seq >= first);
            let Some(hash) = &r.hash else {
                if chained || sealed {
                    report.problem = Some(AuditProblem {
                        seq: r.seq,
                        reason: "row has no hash after the chain began",
                    });
                    break;
                }
                report.unsealed += 1;
                continue;
            };
            chained = true;
            report.rows += 1;
            if r.prev_hash != prev {
                report.problem = Some(AuditProblem {
                    seq: r.seq,
                    reason: "previous row is missing or was replaced",
                });
                break;
            }
            // `before`/`after` are hashed as stored text, so read them back as text.
            let text = |i: usize| row.try_get::<Option<String>, _>(i);
            let (before, after) = (text(5)?, text(6)?);
            let content = RowContent {
                prev_hash: r.prev_hash.as_deref(),
                tenant_id: r.tenant_id.as_deref(),
                actor: &r.actor,
                action: &r.action,
                target: &r.target,
                before: before.as_deref(),
                after: after.as_deref(),
                request_id: r.request_id.as_deref(),
                ip: r.ip.as_deref(),
                user_agent: r.user_agent.as_deref(),
                at: r.at,
            };
            let expected = if sealed {
                content.sealed_hash(key)
            } else {
                content.legacy_hash()
            };
            if &expected != hash {
                report.problem = Some(AuditProblem {
                    seq: r.seq,
                    reason: "row content does not match its hash",
                });
                break;
            }
            if let Some(head) = head
                && head.seq == r.seq
            {
                head_seen = true;
                if &head.hash != hash {
                    report.problem = Some(AuditProblem {
                        seq: r.seq,
                        reason: "the exported head's row was rewritten",
                    });
                    break;
                }
            }
            prev = Some(hash.clone());
            last_seq = r.seq;
        }
        if report.problem.is_none()
            && let Some(head) = head
            && !head_seen
        {
            report.problem = Some(AuditProblem {
                seq: head.seq,
                reason: "the exported head's row is gone",
            });
        }
        report.head = match (&prev, sealed_from) {
            (Some(hash), Some(sealed_from)) => Some(AuditHead {
                seq: last_seq,
                sealed_from,
                hash: hash.clone(),
            }),
            _ => None,
        };
        Ok(report)
    }
}
