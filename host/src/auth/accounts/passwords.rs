//! Changing a password, and resetting a forgotten one through a mailed token.

use super::{Accounts, AuthError, RESET_TTL, hash_blocking, hash_token, verify_blocking};
use crate::auth::password;
use crate::store::{Account, AuditEntry, Origin, Realm, TokenMail, TokenPurpose, now_ms};

impl Accounts<'_> {
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
        if !verify_blocking(
            realm,
            current.to_owned(),
            Some(account.password_hash.clone()),
        )
        .await
        {
            return Err(AuthError::WrongCurrentPassword);
        }
        password::check_policy(new, &account.email).map_err(AuthError::WeakPassword)?;
        let hash = hash_blocking(super::queue_of(realm), new.to_owned())
            .await
            .map_err(AuthError::Signing)?;
        self.db.set_password(realm, user_id, &hash).await?;
        self.db.revoke_user_sessions(user_id, keep_session).await?;
        let actor = format!("user:{user_id}");
        self.audit_session(realm, origin, "password.change", &actor)
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
        let mail = TokenMail {
            token_hash: hash_token(&token),
            purpose: TokenPurpose::PasswordReset,
            tenant_id: account.tenant_id.as_deref(),
            user_id: &account.id,
            expires_at: now_ms() + i64::try_from(RESET_TTL.as_millis()).unwrap_or(i64::MAX),
            to: &account.email,
            subject: "Reset your Mosaic password".into(),
            body: format!(
                "Hello {},\n\nSomeone asked to reset the password of this account. If it was you, send\n\n  \
                 POST /api/auth/password-reset/confirm {{\"token\": \"{token}\", \"new_password\": \"...\"}}\n\n\
                 within the hour. If it was not, ignore this message: nothing changes.\n",
                account.full_name
            ),
        };
        let actor = format!("user:{}", account.id);
        let audit = AuditEntry::new(
            origin,
            &actor,
            realm.tenant(),
            "password.reset_requested",
            "session",
        );
        self.db.send_token_mail(&mail, &audit).await?;
        tracing::info!(to = %account.email, "password reset mail queued");
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
        self.db.clear_login_failures(&account.id, None).await?;
        self.db.revoke_user_sessions(&account.id, None).await?;
        let actor = format!("user:{}", account.id);
        self.audit_session(realm, origin, "password.reset", &actor)
            .await?;
        Ok(())
    }

    /// Checks a mailed single-use token and the new password, then uses the token up
    /// and sets the password. A refused password leaves the token usable.
    pub(super) async fn set_password_with_token(
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
        let hash = hash_blocking(super::queue_of(realm), new.to_owned())
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
}
