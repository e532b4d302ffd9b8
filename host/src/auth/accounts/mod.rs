//! Accounts of tenant users and platform users: sessions (`sessions.rs`),
//! passwords (`passwords.rs`) and invitations (`invitations.rs`).

mod invitations;
mod passwords;
mod sessions;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::Semaphore;

use sha2::{Digest, Sha256};

use super::{JwtKeys, password};
use crate::store::{AuditEntry, Db, Origin, Realm};

pub use invitations::invitation;

/// How long a password-reset token can be used.
pub const RESET_TTL: Duration = Duration::from_secs(3600);
/// How long an invitation can be accepted.
pub const INVITE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The password hash of an invited user who has not chosen a password: it is not a
/// PHC string, so no password ever verifies against it.
pub const NO_PASSWORD_YET: &str = "!invited";

/// Token lifetimes and the lockout rule.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Failed logins in a row that lock an account...
    pub max_failed_logins: u32,
    /// ...for this long.
    pub lockout: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            max_failed_logins: 5,
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
    /// Seconds until `access` expires.
    pub expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("account is locked")]
    Locked { retry_after_secs: u64 },
    #[error("account is deactivated")]
    Deactivated,
    #[error("refresh token is invalid, expired or revoked")]
    InvalidRefresh,
    #[error("refresh token was used before; the session is revoked")]
    RefreshReused,
    #[error("no account behind this token")]
    NoAccount,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("the new password {0}")]
    WeakPassword(&'static str),
    #[error("the token is invalid, used or expired")]
    InvalidOneTimeToken,
    #[error("{0} {1}")]
    InvalidField(&'static str, &'static str),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("the tenant is not active")]
    TenantInactive,
    #[error("{}", .0.message)]
    UserLimit(crate::billing::Quota),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("signing failed: {0}")]
    Signing(String),
}

pub struct Accounts<'a> {
    pub db: &'a Db,
    pub keys: &'a JwtKeys,
    pub settings: &'a AuthSettings,
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Accounts<'_> {
    /// Appends an entry about `actor`'s own session or account.
    async fn audit_session(
        &self,
        realm: Realm<'_>,
        origin: &Origin,
        action: &str,
        actor: &str,
    ) -> Result<(), AuthError> {
        let entry = AuditEntry::new(origin, actor, realm.tenant(), action, "session");
        Ok(self.db.append_audit(&entry).await?)
    }
}

/// Argon2 calls at once: each takes ~19 MiB and a core for tens of milliseconds, so
/// a flood of logins queues here instead of exhausting memory.
static ARGON2_SLOTS: Semaphore = Semaphore::const_new(4);

/// Argon2 calls one queue (a tenant's users, the platform's, sign-ups) may have
/// waiting for or holding a slot: a flood of logins to one tenant waits in its own
/// queue, and another tenant's login finds at most this many of it ahead.
const ARGON2_PER_QUEUE: usize = 2;

static ARGON2_QUEUES: LazyLock<DashMap<String, Arc<Semaphore>>> = LazyLock::new(DashMap::new);

/// The queue of password work for companies signing up.
pub const SIGN_UP_QUEUE: &str = "sign-up";

/// The queue of password work for a realm's accounts.
pub fn queue_of(realm: Realm<'_>) -> &str {
    realm.tenant().unwrap_or("platform")
}

/// Runs Argon2 work off the async executor, after its queue's turn and a slot.
async fn argon2<T: Send + 'static>(
    queue: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    /// Forgets an idle queue however the wait ends, cancelled included.
    struct Turn<'a>(&'a str, Option<Arc<Semaphore>>);
    impl Drop for Turn<'_> {
        fn drop(&mut self) {
            self.1.take();
            ARGON2_QUEUES.remove_if(self.0, |_, q| Arc::strong_count(q) == 1);
        }
    }
    let gate = ARGON2_QUEUES
        .entry(queue.to_owned())
        .or_insert_with(|| Arc::new(Semaphore::new(ARGON2_PER_QUEUE)))
        .clone();
    let turn = Turn(queue, Some(gate));
    let _in_queue = turn.1.as_ref()?.acquire().await.ok()?;
    let _slot = ARGON2_SLOTS.acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// Argon2 is deliberately slow: verify off the async executor. Passwords longer than
/// the policy allows cannot match and are not hashed in full.
async fn verify_blocking(realm: Realm<'_>, password: String, stored: Option<String>) -> bool {
    let (password, stored) = if password.len() > 4 * password::MAX_LENGTH {
        (String::new(), None)
    } else {
        (password, stored)
    };
    argon2(queue_of(realm), move || match stored {
        Some(stored) => password::verify(&password, &stored),
        None => {
            password::verify_nothing(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Hashes off the async executor, in `queue`'s turn.
pub async fn hash_blocking(queue: &str, password: String) -> Result<String, String> {
    argon2(queue, move || {
        password::hash(&password).map_err(|e| e.to_string())
    })
    .await
    .ok_or_else(|| "the password hashing pool is closed".to_owned())?
}
