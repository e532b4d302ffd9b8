//! Inviting a tenant user, who then chooses a password with the mailed token.

use super::{Accounts, AuthError, INVITE_TTL, NO_PASSWORD_YET, hash_token};
use crate::store::{Account, AuditEntry, Origin, Realm, TokenMail, TokenPurpose, now_ms};

impl Accounts<'_> {
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
        if !crate::auth::valid_email(&email) {
            return Err(AuthError::InvalidField(
                "email",
                "must be a valid email address",
            ));
        }
        let full_name = full_name.trim();
        if !crate::auth::valid_name(full_name) {
            return Err(AuthError::InvalidField(
                "full_name",
                "must be 1 to 200 characters",
            ));
        }
        let realm = Realm::Tenant(&tenant.id);
        let id = uuid::Uuid::now_v7().to_string();
        let plan = self.db.plan(&tenant.plan).await?;
        let max = plan.as_ref().and_then(|p| p.limits.max_users);
        let actor = format!("user:{inviter}");
        let target = format!("user:{id}");
        let audit = AuditEntry::new(origin, &actor, realm.tenant(), "user.invite", &target)
            .after(&serde_json::json!({"email": email, "role": role}));
        let created = self
            .db
            .invite_tenant_account(
                &tenant.id,
                &crate::store::NewAccount {
                    id: &id,
                    email: &email,
                    full_name,
                    role,
                    password_hash: NO_PASSWORD_YET,
                },
                max,
                &invitation(tenant, &id, &email, full_name),
                &audit,
            )
            .await?;
        match created {
            Ok(true) => {}
            Ok(false) => return Err(AuthError::EmailTaken),
            Err(used) => {
                let (Some(plan), Some(max)) = (plan, max) else {
                    unreachable!("only a plan's limit refuses");
                };
                return Err(AuthError::UserLimit(crate::billing::Quota::new(
                    &plan,
                    "users",
                    "max_users",
                    max,
                    used,
                    1,
                )));
            }
        }
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
        self.audit_session(account.realm(), origin, "user.invite_accepted", &actor)
            .await?;
        Ok(())
    }
}

/// The invitation of an account created with [`NO_PASSWORD_YET`]: a single-use
/// token to choose its password with, and the mail that carries it, to be written in
/// the account's own transaction.
pub fn invitation<'a>(
    tenant: &'a crate::tenancy::Tenant,
    account_id: &'a str,
    email: &'a str,
    full_name: &str,
) -> TokenMail<'a> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    TokenMail {
        token_hash: hash_token(&token),
        purpose: TokenPurpose::Invite,
        tenant_id: Some(&tenant.id),
        user_id: account_id,
        expires_at: now_ms() + i64::try_from(INVITE_TTL.as_millis()).unwrap_or(i64::MAX),
        to: email,
        subject: format!("Join {} on Mosaic", tenant.name),
        body: format!(
            "Hello {full_name},\n\nYou are invited to {} on Mosaic. Choose your password with\n\n  \
             POST /api/auth/invite/accept {{\"token\": \"{token}\", \"password\": \"...\"}}\n\n\
             within a week, then log in at {} with this address.\n",
            tenant.name, tenant.subdomain
        ),
    }
}
