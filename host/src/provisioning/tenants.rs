//! Creating, changing and deleting tenants, one at a time or in bulk.

use std::collections::BTreeMap;

use serde_json::json;

use super::files::{self, ImageKind};
use super::site;
use super::{Actor, BulkItem, ProvisionError, Provisioner, invalid};
use crate::auth::valid_name;
use crate::store::{Created, NewAccount, Origin, TenantChanges, TenantRow};
use crate::tenancy::{self, Tenant, TenantStatus};

/// What it takes to create a tenant.
#[derive(Debug, Clone, Default)]
pub struct NewTenant {
    pub name: String,
    pub subdomain: String,
    pub modules: Vec<String>,
    pub contact_email: Option<String>,
    pub primary_color: Option<String>,
    pub secondary_color: Option<String>,
    /// An IANA zone name; UTC when none.
    pub timezone: Option<String>,
    /// The plan the trial is of; the default plan when none.
    pub plan: Option<String>,
}

/// A new tenant's first TENANT_ADMIN.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub full_name: String,
    pub email: String,
    /// None: the admin is invited to choose one.
    pub password: Option<String>,
}

/// A tenant as the admin API shows it: its row, modules and domains.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TenantDetails {
    #[serde(flatten)]
    pub tenant: Tenant,
    pub modules: BTreeMap<String, bool>,
    pub domains: Vec<String>,
    pub logo_url: Option<String>,
}

impl Provisioner<'_> {
    /// An active tenant, created by a platform admin (or the CLI).
    pub async fn create_tenant(
        &self,
        new: NewTenant,
        actor: &Actor<'_>,
    ) -> Result<Tenant, ProvisionError> {
        self.provision(new, TenantStatus::Active, None, None, actor)
            .await
    }

    /// Self-service signup: a PENDING tenant and its first TENANT_ADMIN, together. A
    /// platform admin approves the tenant before anyone can use it.
    pub async fn register(
        &self,
        new: NewTenant,
        admin: FirstAdmin,
        origin: Origin,
    ) -> Result<Tenant, ProvisionError> {
        let actor = Actor {
            id: "signup",
            origin,
        };
        self.provision(new, TenantStatus::Pending, Some(admin), None, &actor)
            .await
    }

    /// What a sign-up would be refused for, checked without writing or hashing
    /// anything: so that only a sign-up that can succeed costs its sender a try.
    pub async fn check_sign_up(
        &self,
        new: &NewTenant,
        admin: &FirstAdmin,
    ) -> Result<(), ProvisionError> {
        self.check_new_tenant(new, Some(admin)).await.map(drop)
    }

    /// Validates a new tenant and its first admin; returns the plan it starts on.
    /// Cheap conflicts are found here, before the slow password hash; the insert
    /// still decides a race between two sign-ups for one subdomain.
    async fn check_new_tenant(
        &self,
        new: &NewTenant,
        admin: Option<&FirstAdmin>,
    ) -> Result<String, ProvisionError> {
        let mut problems = BTreeMap::new();
        if let Some(admin) = admin {
            let email = admin.email.trim().to_lowercase();
            if !crate::auth::valid_email(&email) {
                problems.insert("email".into(), "must be a valid email address".into());
            }
            if !valid_name(&admin.full_name) {
                problems.insert("full_name".into(), "must be 1 to 200 characters".into());
            }
            if let Some(password) = &admin.password
                && let Err(message) = crate::auth::password::check_policy(password, &email)
            {
                problems.insert("password".into(), message.into());
            }
        }
        if !valid_name(&new.name) {
            problems.insert("name".into(), "must be 1 to 200 characters".into());
        }
        if let Err(message) = tenancy::valid_subdomain(&new.subdomain) {
            problems.insert("subdomain".into(), message.into());
        }
        let plan = new
            .plan
            .clone()
            .unwrap_or_else(|| self.billing.default_plan.clone());
        let takes_subscribers = match &new.plan {
            None => true,
            Some(key) => self
                .db
                .plan(key)
                .await?
                .is_some_and(|p| p.takes_subscribers()),
        };
        if !takes_subscribers {
            problems.insert("plan".into(), "is no plan that takes subscribers".into());
        } else if let Err(message) = self.check_modules(&new.modules) {
            problems.insert("modules".into(), message);
        } else {
            match self.check_plan_allows(&plan, &new.modules).await {
                Ok(()) => {}
                Err(ProvisionError::NotInPlan { module, plan, .. }) => {
                    problems.insert(
                        "modules".into(),
                        format!("{module} is not in the {plan} plan the tenant starts on"),
                    );
                }
                Err(other) => return Err(other),
            }
        }
        let branding = TenantChanges {
            contact_email: Some(new.contact_email.clone()),
            primary_color: Some(new.primary_color.clone()),
            secondary_color: Some(new.secondary_color.clone()),
            timezone: new.timezone.clone(),
            ..TenantChanges::default()
        };
        check_branding(&branding, &mut problems);
        if !problems.is_empty() {
            return Err(ProvisionError::Invalid(problems));
        }
        if self.db.tenant_by_subdomain(&new.subdomain).await?.is_some() {
            return Err(ProvisionError::SubdomainTaken(new.subdomain.clone()));
        }
        Ok(plan)
    }

    /// Creates each tenant on its own: one that fails leaves nothing behind and does
    /// not stop the others.
    pub async fn bulk_create(
        &self,
        tenants: Vec<NewTenant>,
        actor: &Actor<'_>,
        mut progress: impl FnMut(usize),
    ) -> Vec<BulkItem<TenantDetails>> {
        let mut results = Vec::with_capacity(tenants.len());
        for (index, new) in tenants.into_iter().enumerate() {
            let created = match self.create_tenant(new, actor).await {
                Ok(tenant) => self.details(&tenant.id).await,
                Err(err) => Err(err),
            };
            results.push(BulkItem::from_result(index, created));
            progress(index + 1);
        }
        results
    }

    /// Validates and writes a new tenant. An admin without a password is invited: the
    /// invitation is written with the tenant, in its transaction.
    pub(super) async fn provision(
        &self,
        new: NewTenant,
        status: TenantStatus,
        admin: Option<FirstAdmin>,
        demo_request: Option<&str>,
        actor: &Actor<'_>,
    ) -> Result<Tenant, ProvisionError> {
        let plan = self.check_new_tenant(&new, admin.as_ref()).await?;
        let tenant = Tenant {
            id: uuid::Uuid::now_v7().to_string(),
            name: new.name.trim().to_owned(),
            subdomain: new.subdomain.clone(),
            status,
            plan,
            timezone: new
                .timezone
                .as_deref()
                .and_then(tenancy::canonical_zone)
                .unwrap_or_else(|| "UTC".into()),
            generation: 0,
            contact_email: new.contact_email.map(|e| e.trim().to_lowercase()),
            primary_color: new.primary_color.map(|c| c.to_ascii_lowercase()),
            secondary_color: new.secondary_color.map(|c| c.to_ascii_lowercase()),
            logo: None,
            created_by: Some(actor.id.to_owned()),
            status_reason: None,
            created_at: 0,
            updated_at: 0,
        };
        let admin_id = uuid::Uuid::now_v7().to_string();
        struct Hashed {
            email: String,
            full_name: String,
            /// None: invited to choose one.
            password_hash: Option<String>,
        }
        let admin = match admin {
            Some(admin) => Some(Hashed {
                email: admin.email.trim().to_lowercase(),
                full_name: admin.full_name.trim().to_owned(),
                password_hash: match admin.password {
                    None => None,
                    Some(password) => Some(
                        crate::auth::accounts::hash_blocking(
                            crate::auth::accounts::SIGN_UP_QUEUE,
                            password,
                        )
                        .await
                        .map_err(ProvisionError::Hashing)?,
                    ),
                },
            }),
            None => None,
        };
        let target = format!("tenant:{}", tenant.subdomain);
        let audit = actor
            .audit(Some(&tenant.id), "tenant.create", &target)
            .after(&json!({"name": tenant.name, "status": tenant.status, "modules": new.modules, "timezone": tenant.timezone}));
        let trial = self.trial_start(&tenant.plan).await?;
        let row = TenantRow {
            tenant: &tenant,
            modules: &new.modules,
            admin: admin.as_ref().map(|a| NewAccount {
                id: &admin_id,
                email: &a.email,
                full_name: &a.full_name,
                role: "TENANT_ADMIN",
                password_hash: a
                    .password_hash
                    .as_deref()
                    .unwrap_or(crate::auth::accounts::NO_PASSWORD_YET),
            }),
            invitation: admin
                .as_ref()
                .filter(|a| a.password_hash.is_none())
                .map(|a| {
                    crate::auth::accounts::invitation(&tenant, &admin_id, &a.email, &a.full_name)
                }),
            demo_request,
            trial_ends_at: trial.ends_at,
            // A pending sign-up's trial, and its first invoice, start at approval.
            first_invoice: (tenant.status != TenantStatus::Pending).then_some(trial.first_invoice),
        };
        match self.db.create_tenant(&row, audit).await? {
            Created::Yes => {}
            Created::SubdomainTaken => {
                return Err(ProvisionError::SubdomainTaken(new.subdomain));
            }
            Created::DemoRequestConverted => return Err(ProvisionError::DemoRequestConverted),
        }
        let (subdomain, tenant_id) = (tenant.subdomain.clone(), tenant.id.clone());
        let claimed = self
            .on_disk(move |files| files.claim_folder(&subdomain, &tenant_id))
            .await;
        self.files.record(&tenant.id, "folder", claimed);
        self.published(&tenant.id).await?;
        Ok(tenant)
    }

    /// Changes a tenant's name, contact, branding or time zone.
    pub async fn update_tenant(
        &self,
        tenant_key: &str,
        changes: TenantChanges,
        actor: &Actor<'_>,
    ) -> Result<TenantDetails, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let mut problems = BTreeMap::new();
        if changes.name.as_deref().is_some_and(|n| !valid_name(n)) {
            problems.insert("name".into(), "must be 1 to 200 characters".into());
        }
        if changes.logo.is_some() {
            problems.insert(
                "logo".into(),
                "is uploaded with PUT /api/admin/tenants/{tenant}/logo".into(),
            );
        }
        check_branding(&changes, &mut problems);
        if !problems.is_empty() {
            return Err(ProvisionError::Invalid(problems));
        }
        let changes = TenantChanges {
            name: changes.name.map(|n| n.trim().to_owned()),
            contact_email: changes
                .contact_email
                .map(|e| e.map(|e| e.trim().to_lowercase())),
            primary_color: changes
                .primary_color
                .map(|c| c.map(|c| c.to_ascii_lowercase())),
            secondary_color: changes
                .secondary_color
                .map(|c| c.map(|c| c.to_ascii_lowercase())),
            logo: None,
            timezone: changes
                .timezone
                .as_deref()
                .and_then(tenancy::canonical_zone),
        };
        self.apply_changes(&view.tenant, changes, "tenant.update", actor)
            .await?;
        self.details(&view.tenant.id).await
    }

    /// Stores a logo (PNG, JPEG or WebP, up to [`files::MAX_LOGO_BYTES`]) checked by
    /// its content. Uploads take turns: staged, committed, then put in place, so the
    /// logo served is always the one the last committed change names.
    pub async fn set_logo(
        &self,
        tenant_key: &str,
        bytes: &[u8],
        actor: &Actor<'_>,
    ) -> Result<TenantDetails, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        if bytes.len() > files::MAX_LOGO_BYTES {
            return Err(invalid("logo", "must be at most 2 MB"));
        }
        let kind = ImageKind::sniff(bytes)
            .ok_or_else(|| invalid("logo", "must be a PNG, JPEG or WebP image"))?;
        let _turn = self.files.logo_turn().await;
        let subdomain = view.tenant.subdomain.clone();
        let bytes = bytes.to_vec();
        let name = self
            .on_disk(move |files| files.stage_logo(&subdomain, kind, &bytes))
            .await?;
        let changes = TenantChanges {
            logo: Some(Some(name.clone())),
            ..TenantChanges::default()
        };
        let subdomain = view.tenant.subdomain.clone();
        if let Err(err) = self
            .apply_changes(&view.tenant, changes, "tenant.logo", actor)
            .await
        {
            self.files.discard_logo(&subdomain, &name);
            return Err(err);
        }
        let published = self
            .on_disk(move |files| files.publish_logo(&subdomain, &name))
            .await;
        self.files.record(&view.tenant.id, "logo", published);
        self.details(&view.tenant.id).await
    }

    async fn apply_changes(
        &self,
        tenant: &Tenant,
        changes: TenantChanges,
        action: &str,
        actor: &Actor<'_>,
    ) -> Result<(), ProvisionError> {
        let target = format!("tenant:{}", tenant.subdomain);
        let audit = actor
            .audit(Some(&tenant.id), action, &target)
            .after(&changes);
        if !self.db.update_tenant(&tenant.id, &changes, audit).await? {
            return Err(ProvisionError::UnknownTenant);
        }
        self.published(&tenant.id).await.map(drop)
    }

    /// Removes a tenant with all its data, files and slots. `confirm` must repeat its
    /// subdomain. The audit log keeps the record of it.
    pub async fn delete_tenant(
        &self,
        tenant_key: &str,
        confirm: &str,
        actor: &Actor<'_>,
    ) -> Result<(), ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let tenant = &view.tenant;
        if confirm != tenant.subdomain {
            return Err(ProvisionError::ConfirmationMismatch);
        }
        let target = format!("tenant:{}", tenant.subdomain);
        let audit = actor.audit(Some(&tenant.id), "tenant.delete", &target);
        if !self.db.delete_tenant(&tenant.id, audit).await? {
            return Err(ProvisionError::UnknownTenant);
        }
        self.directory.refresh(&tenant.id).await?;
        self.runtime.forget_tenant(&tenant.id);
        self.replicas
            .wait(self.db, &tenant.id, crate::tenancy::replicas::GONE)
            .await?;
        let (subdomain, tenant_id) = (tenant.subdomain.clone(), tenant.id.clone());
        let removed = self
            .on_disk(move |files| files.remove(&subdomain, &tenant_id))
            .await;
        self.files.record(&tenant.id, "folder", removed);
        tracing::info!(tenant = %tenant.subdomain, "tenant deleted");
        Ok(())
    }

    pub async fn details(&self, tenant_key: &str) -> Result<TenantDetails, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        Ok(TenantDetails {
            modules: self.module_map(&view),
            domains: self.db.tenant_domains(&view.tenant.id).await?,
            logo_url: view
                .tenant
                .logo
                .as_ref()
                .map(|logo| site::asset_url(&view.tenant.subdomain, logo)),
            tenant: view.tenant.clone(),
        })
    }
}

/// `#rrggbb`.
pub fn valid_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_branding(changes: &TenantChanges, problems: &mut BTreeMap<String, String>) {
    if let Some(Some(email)) = &changes.contact_email
        && !crate::auth::valid_email(&email.trim().to_lowercase())
    {
        problems.insert(
            "contact_email".into(),
            "must be a valid email address".into(),
        );
    }
    for (field, color) in [
        ("primary_color", &changes.primary_color),
        ("secondary_color", &changes.secondary_color),
    ] {
        if let Some(Some(color)) = color
            && !valid_color(color)
        {
            problems.insert(field.into(), "must be a hex colour like #1f6feb".into());
        }
    }
    if let Some(zone) = &changes.timezone
        && tenancy::canonical_zone(zone).is_none()
    {
        problems.insert(
            "timezone".into(),
            "must be an IANA time zone such as Europe/Paris".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours() {
        assert!(valid_color("#1f6FEB"));
        assert!(!valid_color("1f6feb"));
        assert!(!valid_color("#1f6fe"));
        assert!(!valid_color("#1f6fez"));
    }
}
