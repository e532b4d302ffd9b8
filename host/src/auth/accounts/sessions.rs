//! Logging in, refreshing and logging out, for tenant users and platform users.
//!
//! Access tokens are short-lived JWTs. Refresh tokens are random, stored as SHA-256
//! hashes, and single-use: each refresh uses one up and issues the next of its
//! family. Presenting a used one again means it was stolen or replayed, so the whole
//! family (the session) is revoked.

use super::{Accounts, AuthError, TokenPair, hash_token, verify_blocking};
use crate::auth::{Claims, Role};
use crate::store::{Account, AuditEntry, Origin, Realm, RefreshUse, now_ms};

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
            verify_blocking(realm, password.to_owned(), None).await;
            let actor = format!("email:{email}");
            self.audit_session(realm, origin, "login.failure", &actor)
                .await?;
            return Err(AuthError::InvalidCredentials);
        };
        let actor = format!("user:{}", account.id);
        let now = now_ms();
        let max = i64::from(self.settings.max_failed_logins);
        // Failures count per client address: a guesser locks out only itself, never
        // the account's owner elsewhere. The attempt is counted before the (slow)
        // check, so a burst of concurrent guesses cannot all slip past the limit.
        let client = origin.ip.as_deref().unwrap_or_default();
        let reserved = self
            .db
            .reserve_login_attempt(&account.id, client, now)
            .await?;
        let Some(failures) = reserved.filter(|failures| *failures <= max) else {
            let until = match reserved {
                // Over the limit by concurrency: lock now.
                Some(_) => self.lock(&account.id, client, now).await?,
                None => self
                    .db
                    .login_locked_until(&account.id, client)
                    .await?
                    .unwrap_or(now),
            };
            self.audit_session(realm, origin, "login.locked", &actor)
                .await?;
            return Err(AuthError::Locked {
                retry_after_secs: retry_after(until, now),
            });
        };
        let verified = verify_blocking(
            realm,
            password.to_owned(),
            Some(account.password_hash.clone()),
        )
        .await;
        if !verified {
            if failures >= max {
                let until = self.lock(&account.id, client, now).await?;
                self.audit_session(realm, origin, "login.lockout", &actor)
                    .await?;
                return Err(AuthError::Locked {
                    retry_after_secs: retry_after(until, now),
                });
            }
            self.audit_session(realm, origin, "login.failure", &actor)
                .await?;
            return Err(AuthError::InvalidCredentials);
        }
        if !account.active {
            self.audit_session(realm, origin, "login.deactivated", &actor)
                .await?;
            return Err(AuthError::Deactivated);
        }
        self.db
            .clear_login_failures(&account.id, Some(client))
            .await?;
        let family = uuid::Uuid::new_v4().to_string();
        let pair = self.issue(&account, &family).await?;
        self.audit_session(realm, origin, "login.success", &actor)
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
            self.audit_session(realm, origin, "logout", &actor).await?;
        }
        Ok(())
    }

    /// Locks `client` out of the account for the lockout period; returns until when.
    async fn lock(&self, account_id: &str, client: &str, now: i64) -> Result<i64, AuthError> {
        let until = now + i64::try_from(self.settings.lockout.as_millis()).unwrap_or(i64::MAX);
        self.db.lock_login(account_id, client, until).await?;
        Ok(until)
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

fn retry_after(until: i64, now: i64) -> u64 {
    u64::try_from((until - now + 999) / 1000)
        .unwrap_or(1)
        .max(1)
}
