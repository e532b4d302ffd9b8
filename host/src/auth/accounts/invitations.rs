//! Inviting a tenant user, who then chooses a password with the mailed token.

use super::{Accounts, AuthError, INVITE_TTL, NO_PASSWORD_YET, hash_token};
use crate::store::{Account, AuditEntry, Db, Origin, Realm, TokenPurpose, now_ms};

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
        let created = self
            .db
            .insert_tenant_account_within(
                &tenant.id,
                &crate::store::NewAccount {
                    id: &id,
                    email: &email,
                    full_name,
                    role,
                    password_hash: NO_PASSWORD_YET,
                },
                max,
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
        self.audit_session(account.realm(), origin, "user.invite_accepted", &actor)
            .await?;
        Ok(())
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
