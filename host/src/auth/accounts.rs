//! Logging in, refreshing and logging out, for tenant users and platform users.
//!
//! Access tokens are short-lived JWTs. Refresh tokens are random, stored as SHA-256
//! hashes, and single-use: each refresh uses one up and issues the next of its
//! family. Presenting a used one again means it was stolen or replayed, so the whole
//! family (the session) is revoked.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Claims, JwtKeys, Role, password};
use crate::store::{Account, AuditEntry, Db, Origin, Realm, RefreshUse, TokenPurpose, now_ms};

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

#[derive(Debug, serde::Serialize)]
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
    /// Checks a password and opens a session. Unknown emails, wrong passwords and
    /// locked accounts are told apart only where the caller is entitled to know.
    pub async fn login(
        &self,
        realm: Realm<'_>,
        email: &str,
        password: &str,
        origin: &Origin,
    ) -> Result<TokenPair, AuthError> {
        let email = email.trim().to_lowercase();
        let account = self.db.account_by_email(realm, &email).await?;
        let Some(account) = account else {
            verify_blocking(password.to_owned(), None).await;
            let actor = format!("email:{email}");
            self.db
                .append_audit(&session_entry(realm, origin, "login.failure", &actor))
                .await?;
            return Err(AuthError::InvalidCredentials);
        };
        let actor = format!("user:{}", account.id);
        let now = now_ms();
        let max = i64::from(self.settings.max_failed_logins);
        // The attempt is counted before the (slow) check, so a burst of concurrent
        // guesses cannot all slip past the limit.
        let reserved = self
            .db
            .reserve_login_attempt(realm, &account.id, now)
            .await?;
        let Some(failures) = reserved.filter(|failures| *failures <= max) else {
            let until = match reserved {
                // Over the limit by concurrency: lock now.
                Some(_) => self.lock(realm, &account.id, now).await?,
                None => self
                    .db
                    .account_by_id(realm, &account.id)
                    .await?
                    .and_then(|a| a.locked_until)
                    .unwrap_or(now),
            };
            self.db
                .append_audit(&session_entry(realm, origin, "login.locked", &actor))
                .await?;
            return Err(AuthError::Locked {
                retry_after_secs: retry_after(until, now),
            });
        };
        if !verify_blocking(password.to_owned(), Some(account.password_hash.clone())).await {
            if failures >= max {
                let until = self.lock(realm, &account.id, now).await?;
                self.db
                    .append_audit(&session_entry(realm, origin, "login.lockout", &actor))
                    .await?;
                return Err(AuthError::Locked {
                    retry_after_secs: retry_after(until, now),
                });
            }
            self.db
                .append_audit(&session_entry(realm, origin, "login.failure", &actor))
                .await?;
            return Err(AuthError::InvalidCredentials);
        }
        if !account.active {
            self.db
                .append_audit(&session_entry(realm, origin, "login.deactivated", &actor))
                .await?;
            return Err(AuthError::Deactivated);
        }
        self.db.record_login_success(realm, &account.id).await?;
        let family = uuid::Uuid::new_v4().to_string();
        let pair = self.issue(&account, &family).await?;
        self.db
            .append_audit(&session_entry(realm, origin, "login.success", &actor))
            .await?;
        Ok(pair)
    }

    /// Uses a refresh token up and issues the next pair of its session.
    pub async fn refresh(&self, token: &str, origin: &Origin) -> Result<TokenPair, AuthError> {
        let (family_id, user_id, tenant_id, expires_at) =
            match self.db.use_refresh_token(&hash_token(token)).await? {
                RefreshUse::Fresh {
                    family_id,
                    user_id,
                    tenant_id,
                    expires_at,
                } => (family_id, user_id, tenant_id, expires_at),
                RefreshUse::Replayed {
                    family_id,
                    user_id,
                    tenant_id,
                } => {
                    self.db.revoke_refresh_family(&family_id).await?;
                    let actor = format!("user:{user_id}");
                    let target = format!("session:{family_id}");
                    let realm = Realm::of(tenant_id.as_deref());
                    let entry = AuditEntry::new(
                        origin,
                        &actor,
                        realm.tenant(),
                        "session.revoked_on_reuse",
                        &target,
                    );
                    self.db.append_audit(&entry).await?;
                    return Err(AuthError::RefreshReused);
                }
                RefreshUse::Unknown => return Err(AuthError::InvalidRefresh),
            };
        if expires_at <= now_ms() {
            return Err(AuthError::InvalidRefresh);
        }
        let realm = Realm::of(tenant_id.as_deref());
        let account = self
            .db
            .account_by_id(realm, &user_id)
            .await?
            .ok_or(AuthError::InvalidRefresh)?;
        if !account.active {
            self.db.revoke_refresh_family(&family_id).await?;
            return Err(AuthError::Deactivated);
        }
        if let Some(tenant_id) = &tenant_id {
            let active = self
                .db
                .tenant_by_id(tenant_id)
                .await?
                .is_some_and(|t| t.status == crate::tenancy::TenantStatus::Active);
            if !active {
                return Err(AuthError::TenantInactive);
            }
        }
        let pair = self.issue(&account, &family_id).await?;
        // A revocation that raced this refresh: it may have marked the family's tokens
        // before ours was written, so make sure ours goes too.
        if self.db.session_revoked(&family_id).await? {
            self.db.revoke_refresh_family(&family_id).await?;
            return Err(AuthError::InvalidRefresh);
        }
        Ok(pair)
    }

    /// Ends the session the refresh token belongs to. Unknown tokens end nothing.
    pub async fn logout(&self, token: &str, origin: &Origin) -> Result<(), AuthError> {
        if let Some((family, user_id, tenant_id)) = self.db.session_of(&hash_token(token)).await? {
            self.db.revoke_refresh_family(&family).await?;
            let actor = format!("user:{user_id}");
            let realm = Realm::of(tenant_id.as_deref());
            self.db
                .append_audit(&session_entry(realm, origin, "logout", &actor))
                .await?;
        }
        Ok(())
    }

    /// Locks an account for the lockout period; returns until when.
    async fn lock(&self, realm: Realm<'_>, id: &str, now: i64) -> Result<i64, AuthError> {
        let until = now + i64::try_from(self.settings.lockout.as_millis()).unwrap_or(i64::MAX);
        self.db.lock_account(realm, id, until).await?;
        Ok(until)
    }

    /// Replaces a user's password after checking the current one, and ends every
    /// other session of theirs (`keep_session` is the caller's own).
    pub async fn change_password(
        &self,
        realm: Realm<'_>,
        user_id: &str,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        let account = self
            .db
            .account_by_id(realm, user_id)
            .await?
            .ok_or(AuthError::NoAccount)?;
        if !verify_blocking(current.to_owned(), Some(account.password_hash.clone())).await {
            return Err(AuthError::WrongCurrentPassword);
        }
        password::check_policy(new, &account.email).map_err(AuthError::WeakPassword)?;
        let hash = hash_blocking(new.to_owned())
            .await
            .map_err(AuthError::Signing)?;
        self.db.set_password(realm, user_id, &hash).await?;
        self.db.revoke_user_sessions(user_id, keep_session).await?;
        let actor = format!("user:{user_id}");
        self.db
            .append_audit(&session_entry(realm, origin, "password.change", &actor))
            .await?;
        Ok(())
    }

    /// Mails a single-use reset token if the email has an active account. Says
    /// nothing either way, so the answer does not reveal which emails exist.
    pub async fn request_password_reset(
        &self,
        realm: Realm<'_>,
        email: &str,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        let email = email.trim().to_lowercase();
        let Some(account) = self
            .db
            .account_by_email(realm, &email)
            .await?
            .filter(|a| a.active)
        else {
            return Ok(());
        };
        let token = hex::encode(rand::random::<[u8; 32]>());
        let expires_at = now_ms() + i64::try_from(RESET_TTL.as_millis()).unwrap_or(i64::MAX);
        let tenant_id = account.tenant_id.as_deref();
        self.db
            .insert_one_time_token(
                &hash_token(&token),
                TokenPurpose::PasswordReset,
                tenant_id,
                &account.id,
                expires_at,
            )
            .await?;
        let body = format!(
            "Hello {},\n\nSomeone asked to reset the password of this account. If it was you, send\n\n  \
             POST /api/auth/password-reset/confirm {{\"token\": \"{token}\", \"new_password\": \"...\"}}\n\n\
             within the hour. If it was not, ignore this message: nothing changes.\n",
            account.full_name
        );
        self.db
            .queue_mail(
                tenant_id,
                &account.email,
                "Reset your Mosaic password",
                &body,
            )
            .await?;
        tracing::info!(to = %account.email, "password reset mail queued");
        let actor = format!("user:{}", account.id);
        self.db
            .append_audit(&session_entry(
                realm,
                origin,
                "password.reset_requested",
                &actor,
            ))
            .await?;
        Ok(())
    }

    /// Sets a new password with a reset token. The token is used up only once the new
    /// password passes the policy; every session of the account ends.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new: &str,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        let account = self
            .set_password_with_token(token, TokenPurpose::PasswordReset, new)
            .await?;
        let realm = account.realm();
        self.db.record_login_success(realm, &account.id).await?;
        self.db.revoke_user_sessions(&account.id, None).await?;
        let actor = format!("user:{}", account.id);
        self.db
            .append_audit(&session_entry(realm, origin, "password.reset", &actor))
            .await?;
        Ok(())
    }

    /// Checks a mailed single-use token and the new password, then uses the token up
    /// and sets the password. A refused password leaves the token usable.
    async fn set_password_with_token(
        &self,
        token: &str,
        purpose: TokenPurpose,
        new: &str,
    ) -> Result<Account, AuthError> {
        let hashed = hash_token(token);
        let holder = self
            .db
            .peek_one_time_token(&hashed, purpose)
            .await?
            .ok_or(AuthError::InvalidOneTimeToken)?;
        let realm = Realm::of(holder.tenant_id.as_deref());
        let account = self
            .db
            .account_by_id(realm, &holder.user_id)
            .await?
            .filter(|a| a.active)
            .ok_or(AuthError::InvalidOneTimeToken)?;
        password::check_policy(new, &account.email).map_err(AuthError::WeakPassword)?;
        let hash = hash_blocking(new.to_owned())
            .await
            .map_err(AuthError::Signing)?;
        if self
            .db
            .redeem_one_time_token(&hashed, purpose)
            .await?
            .is_none()
        {
            return Err(AuthError::InvalidOneTimeToken);
        }
        self.db.set_password(realm, &account.id, &hash).await?;
        Ok(account)
    }
    /// Creates a tenant user who chooses a password through a mailed, single-use
    /// invitation.
    pub async fn invite(
        &self,
        tenant: &crate::tenancy::Tenant,
        email: &str,
        full_name: &str,
        role: &str,
        inviter: &str,
        origin: &Origin,
    ) -> Result<Account, AuthError> {
        let email = email.trim().to_lowercase();
        if !super::valid_email(&email) {
            return Err(AuthError::InvalidField(
                "email",
                "must be a valid email address",
            ));
        }
        let full_name = full_name.trim();
        if full_name.is_empty()
            || full_name.chars().count() > 200
            || full_name.chars().any(char::is_control)
        {
            return Err(AuthError::InvalidField(
                "full_name",
                "must be 1 to 200 characters",
            ));
        }
        let realm = Realm::Tenant(&tenant.id);
        let id = uuid::Uuid::now_v7().to_string();
        let created = self
            .db
            .insert_account(
                realm,
                &crate::store::NewAccount {
                    id: &id,
                    email: &email,
                    full_name,
                    role,
                    password_hash: NO_PASSWORD_YET,
                },
            )
            .await?;
        if !created {
            return Err(AuthError::EmailTaken);
        }
        send_invitation(self.db, tenant, &id, &email, full_name).await?;
        let actor = format!("user:{inviter}");
        let target = format!("user:{id}");
        let entry = AuditEntry::new(origin, &actor, realm.tenant(), "user.invite", &target)
            .after(&serde_json::json!({"email": email, "role": role}));
        self.db.append_audit(&entry).await?;
        self.db
            .account_by_id(realm, &id)
            .await?
            .ok_or(AuthError::NoAccount)
    }

    /// Sets the password of an invited user; the invitation is used up only once the
    /// password passes the policy.
    pub async fn accept_invite(
        &self,
        token: &str,
        new: &str,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        let account = self
            .set_password_with_token(token, TokenPurpose::Invite, new)
            .await?;
        let actor = format!("user:{}", account.id);
        self.db
            .append_audit(&session_entry(
                account.realm(),
                origin,
                "user.invite_accepted",
                &actor,
            ))
            .await?;
        Ok(())
    }

    async fn issue(&self, account: &Account, family: &str) -> Result<TokenPair, AuthError> {
        let role: Role = account
            .role
            .parse()
            .map_err(|e: String| AuthError::Signing(e))?;
        let ttl = self.settings.access_ttl.as_secs();
        let mut claims = Claims::new(account.id.clone(), account.tenant_id.clone(), role, ttl);
        claims.email = Some(account.email.clone());
        claims.name = Some(account.full_name.clone());
        claims.sid = Some(family.to_owned());
        let access = self
            .keys
            .issue(&claims)
            .map_err(|e| AuthError::Signing(e.to_string()))?;
        let refresh = hex::encode(rand::random::<[u8; 32]>());
        let expires_at =
            now_ms() + i64::try_from(self.settings.refresh_ttl.as_millis()).unwrap_or(i64::MAX);
        self.db
            .insert_refresh_token(
                &hash_token(&refresh),
                family,
                &account.id,
                account.tenant_id.as_deref(),
                expires_at,
            )
            .await?;
        Ok(TokenPair {
            access,
            refresh,
            expires_in: ttl,
        })
    }
}

/// Mails an invited account (created with [`NO_PASSWORD_YET`]) a single-use token to
/// choose its password with.
pub async fn send_invitation(
    db: &Db,
    tenant: &crate::tenancy::Tenant,
    account_id: &str,
    email: &str,
    full_name: &str,
) -> Result<(), sqlx::Error> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let expires_at = now_ms() + i64::try_from(INVITE_TTL.as_millis()).unwrap_or(i64::MAX);
    db.insert_one_time_token(
        &hash_token(&token),
        TokenPurpose::Invite,
        Some(&tenant.id),
        account_id,
        expires_at,
    )
    .await?;
    let body = format!(
        "Hello {full_name},\n\nYou are invited to {} on Mosaic. Choose your password with\n\n  \
         POST /api/auth/invite/accept {{\"token\": \"{token}\", \"password\": \"...\"}}\n\n\
         within a week, then log in at {} with this address.\n",
        tenant.name, tenant.subdomain
    );
    db.queue_mail(
        Some(&tenant.id),
        email,
        &format!("Join {} on Mosaic", tenant.name),
        &body,
    )
    .await
}

/// An entry about `actor`'s own session or account.
fn session_entry<'a>(
    realm: Realm<'a>,
    origin: &'a Origin,
    action: &'a str,
    actor: &'a str,
) -> AuditEntry<'a> {
    AuditEntry::new(origin, actor, realm.tenant(), action, "session")
}

fn retry_after(until: i64, now: i64) -> u64 {
    u64::try_from((until - now + 999) / 1000)
        .unwrap_or(1)
        .max(1)
}

/// Argon2 calls at once: each takes ~19 MiB and a core for tens of milliseconds, so
/// a flood of logins queues here instead of exhausting memory.
static ARGON2_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Argon2 is deliberately slow: verify off the async executor. Passwords longer than
/// the policy allows cannot match and are not hashed in full.
async fn verify_blocking(password: String, stored: Option<String>) -> bool {
    let (password, stored) = if password.len() > 4 * password::MAX_LENGTH {
        (String::new(), None)
    } else {
        (password, stored)
    };
    let Ok(_slot) = ARGON2_SLOTS.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => password::verify(&password, &stored),
        None => {
            password::verify_nothing(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Hashes off the async executor.
pub async fn hash_blocking(password: String) -> Result<String, String> {
    let _slot = ARGON2_SLOTS.acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || password::hash(&password).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}
