//! The control plane's domain logic: creating, changing and removing tenants,
//! switching their modules, converting demo requests, and the files each tenant
//! has on disk. The admin API and the CLI both call this; neither writes tenants
//! any other way.

pub mod files;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::auth::accounts::Origin;
use crate::auth::{Caller, Role};
use crate::runtime::registry::LoadedModule;
use crate::runtime::{Dispatch, ModuleFailure, Runtime, SlotInfo};
use crate::store::{AuditEntry, Created, Db, NewAccount, TenantChanges, TenantRow};
use crate::tenancy::{self, Directory, RenderedConfig, Tenant, TenantStatus, TenantView};

pub use files::{AssetRefusal, ImageKind, TenantFiles, WrittenFile};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("validation failed: {}", describe_fields(.0))]
    Invalid(BTreeMap<String, String>),
    #[error("subdomain {0} is taken")]
    SubdomainTaken(String),
    #[error("domain {0} is taken")]
    DomainTaken(String),
    #[error("unknown tenant")]
    UnknownTenant,
    #[error("unknown module {0}")]
    UnknownModule(String),
    #[error("unknown domain {0}")]
    UnknownDomain(String),
    #[error("unknown demo request")]
    UnknownDemoRequest,
    #[error("the demo request was converted already")]
    DemoRequestConverted,
    #[error("module {0} is core and always enabled")]
    CoreModule(String),
    #[error("{0}")]
    InvalidTransition(String),
    #[error("the confirmation does not match the tenant's subdomain")]
    ConfirmationMismatch,
    #[error("hashing the password failed: {0}")]
    Hashing(String),
    #[error("writing the tenant's files: {0}")]
    Files(#[from] std::io::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn describe_fields(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(field, problem)| format!("{field} {problem}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn invalid(field: &str, message: impl Into<String>) -> ProvisionError {
    ProvisionError::Invalid(BTreeMap::from([(field.to_owned(), message.into())]))
}

/// Who makes a change, and from where: what the audit log records.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// `user:<id>`, `cli:<login>` or `signup`.
    pub id: &'a str,
    pub origin: Origin<'a>,
}

impl<'a> Actor<'a> {
    fn audit(
        &self,
        tenant_id: Option<&'a str>,
        action: &'a str,
        target: &'a str,
    ) -> AuditEntry<'a> {
        AuditEntry {
            tenant_id,
            actor: self.id,
            action,
            target,
            before: None,
            after: None,
            request_id: self.origin.request_id,
            ip: self.origin.ip,
            user_agent: self.origin.user_agent,
        }
    }
}

/// What it takes to create a tenant.
#[derive(Debug, Clone, Default)]
pub struct NewTenant {
    pub name: String,
    pub subdomain: String,
    pub modules: Vec<String>,
    pub contact_email: Option<String>,
    pub primary_color: Option<String>,
    pub secondary_color: Option<String>,
}

/// A new tenant's first TENANT_ADMIN.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub full_name: String,
    pub email: String,
    /// None: the admin is invited to choose one.
    pub password: Option<String>,
}

/// A state change of a tenant. Each one is allowed only from the states listed by
/// [`Transition::from`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Approve,
    Suspend,
    Reactivate,
    Archive,
    Restore,
}

impl Transition {
    pub fn from(self) -> &'static [TenantStatus] {
        use TenantStatus::*;
        match self {
            Self::Approve => &[Pending],
            Self::Suspend => &[Active],
            Self::Reactivate => &[Suspended],
            // Not from pending: restore goes to active, which would skip approval.
            Self::Archive => &[Active, Suspended],
            Self::Restore => &[Archived],
        }
    }

    pub fn to(self) -> TenantStatus {
        match self {
            Self::Approve | Self::Reactivate | Self::Restore => TenantStatus::Active,
            Self::Suspend => TenantStatus::Suspended,
            Self::Archive => TenantStatus::Archived,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Suspend => "suspend",
            Self::Reactivate => "reactivate",
            Self::Archive => "archive",
            Self::Restore => "restore",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Self::Approve => "tenant.approve",
            Self::Suspend => "tenant.suspend",
            Self::Reactivate => "tenant.reactivate",
            Self::Archive => "tenant.archive",
            Self::Restore => "tenant.restore",
        }
    }

    /// Taking a tenant out of service needs a reason; the others may give one.
    fn needs_reason(self) -> bool {
        matches!(self, Self::Suspend | Self::Archive)
    }
}

impl std::str::FromStr for Transition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Approve,
            Self::Suspend,
            Self::Reactivate,
            Self::Archive,
            Self::Restore,
        ]
        .into_iter()
        .find(|t| t.name() == s)
        .ok_or_else(|| format!("unknown transition {s:?}"))
    }
}

/// The result of a toggle.
#[derive(Debug, serde::Serialize)]
pub struct Toggled {
    pub tenant: String,
    pub module: String,
    pub enabled: bool,
    pub was_enabled: bool,
    pub slot_dropped: bool,
}

/// One item of a bulk operation: its result or its error, never both.
#[derive(Debug, serde::Serialize)]
pub struct BulkItem<T> {
    pub index: usize,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<BulkError>,
}

#[derive(Debug, serde::Serialize)]
pub struct BulkError {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

impl<T> BulkItem<T> {
    fn from_result(index: usize, result: Result<T, ProvisionError>) -> Self {
        match result {
            Ok(value) => Self {
                index,
                ok: true,
                result: Some(value),
                error: None,
            },
            Err(err) => Self {
                index,
                ok: false,
                result: None,
                error: Some(BulkError {
                    message: err.to_string(),
                    fields: match err {
                        ProvisionError::Invalid(fields) => Some(fields),
                        _ => None,
                    },
                }),
            },
        }
    }
}

/// A tenant as the admin API shows it: its row, modules and domains.
#[derive(Debug, serde::Serialize)]
pub struct TenantDetails {
    #[serde(flatten)]
    pub tenant: Tenant,
    pub modules: BTreeMap<String, bool>,
    pub domains: Vec<String>,
    pub logo_url: Option<String>,
}

/// `GET /api/admin/tenants/{tenant}/health`.
#[derive(Debug, serde::Serialize)]
pub struct TenantHealth {
    pub tenant: String,
    pub status: TenantStatus,
    pub healthy: bool,
    pub folder_exists: bool,
    pub config_present: bool,
    pub config_current: bool,
    pub modules: BTreeMap<String, bool>,
    /// This replica's live slots of the tenant.
    pub slots: Vec<SlotInfo>,
    /// This replica's most recent failed module call for the tenant.
    pub last_error: Option<ModuleFailure>,
}

/// How a demo request becomes a tenant.
#[derive(Debug, Clone)]
pub struct Conversion {
    pub subdomain: String,
    pub modules: Vec<String>,
}

/// The domain services a control-plane operation needs.
pub struct Provisioner<'a> {
    pub db: &'a Db,
    pub runtime: &'a Runtime,
    pub directory: &'a Directory,
    pub files: &'a TenantFiles,
}

/// A demo employee: name, department, position.
type Person = (&'static str, &'static str, &'static str);

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
        origin: Origin<'_>,
    ) -> Result<Tenant, ProvisionError> {
        let actor = Actor {
            id: "signup",
            origin,
        };
        self.provision(new, TenantStatus::Pending, Some(admin), None, &actor)
            .await
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

    /// Turns a demo request into an active tenant whose first TENANT_ADMIN (the
    /// requester) is mailed an invitation to choose a password.
    pub async fn convert_demo_request(
        &self,
        request_id: &str,
        conversion: Conversion,
        actor: &Actor<'_>,
    ) -> Result<Tenant, ProvisionError> {
        let request = self
            .db
            .demo_request(request_id)
            .await?
            .ok_or(ProvisionError::UnknownDemoRequest)?;
        if request.status != "new" {
            return Err(ProvisionError::DemoRequestConverted);
        }
        let admin = FirstAdmin {
            full_name: request.contact_name.clone(),
            email: request.email.clone(),
            password: None,
        };
        let new = NewTenant {
            name: request.company.clone(),
            subdomain: conversion.subdomain,
            modules: conversion.modules,
            contact_email: Some(request.email.clone()),
            ..NewTenant::default()
        };
        let tenant = self
            .provision(
                new,
                TenantStatus::Active,
                Some(admin),
                Some(request_id),
                actor,
            )
            .await?;
        let account = self
            .db
            .account_by_email(
                crate::store::Realm::Tenant(&tenant.id),
                &request.email.trim().to_lowercase(),
            )
            .await?
            .ok_or(ProvisionError::UnknownTenant)?;
        crate::auth::accounts::send_invitation(
            self.db,
            &tenant,
            &account.id,
            &account.email,
            &account.full_name,
        )
        .await?;
        Ok(tenant)
    }

    /// Validates and writes a new tenant. An admin without a password is to be invited
    /// (the caller mails the invitation once the tenant exists).
    async fn provision(
        &self,
        new: NewTenant,
        status: TenantStatus,
        admin: Option<FirstAdmin>,
        demo_request: Option<&str>,
        actor: &Actor<'_>,
    ) -> Result<Tenant, ProvisionError> {
        let mut problems = BTreeMap::new();
        if let Some(admin) = &admin {
            let email = admin.email.trim().to_lowercase();
            if !crate::auth::valid_email(&email) {
                problems.insert("email".into(), "must be a valid email address".into());
            }
            if !valid_text(&admin.full_name) {
                problems.insert("full_name".into(), "must be 1 to 200 characters".into());
            }
            if let Some(password) = &admin.password
                && let Err(message) = crate::auth::password::check_policy(password, &email)
            {
                problems.insert("password".into(), message.into());
            }
        }
        if !valid_text(&new.name) {
            problems.insert("name".into(), "must be 1 to 200 characters".into());
        }
        if let Err(message) = tenancy::valid_subdomain(&new.subdomain) {
            problems.insert("subdomain".into(), message.into());
        }
        if let Err(message) = self.check_modules(&new.modules) {
            problems.insert("modules".into(), message);
        }
        let branding = TenantChanges {
            contact_email: Some(new.contact_email.clone()),
            primary_color: Some(new.primary_color.clone()),
            secondary_color: Some(new.secondary_color.clone()),
            ..TenantChanges::default()
        };
        check_branding(&branding, &mut problems);
        if !problems.is_empty() {
            return Err(ProvisionError::Invalid(problems));
        }
        let tenant = Tenant {
            id: uuid::Uuid::now_v7().to_string(),
            name: new.name.trim().to_owned(),
            subdomain: new.subdomain.clone(),
            status,
            plan: "standard".into(),
            timezone: "UTC".into(),
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
            password_hash: String,
        }
        let admin = match admin {
            Some(admin) => Some(Hashed {
                email: admin.email.trim().to_lowercase(),
                full_name: admin.full_name.trim().to_owned(),
                password_hash: match admin.password {
                    None => crate::auth::accounts::NO_PASSWORD_YET.to_owned(),
                    Some(password) => crate::auth::accounts::hash_blocking(password)
                        .await
                        .map_err(ProvisionError::Hashing)?,
                },
            }),
            None => None,
        };
        let target = format!("tenant:{}", tenant.subdomain);
        let mut audit = actor.audit(Some(&tenant.id), "tenant.create", &target);
        audit.after = Some(
            json!({"name": tenant.name, "status": tenant.status, "modules": new.modules})
                .to_string(),
        );
        let row = TenantRow {
            tenant: &tenant,
            modules: &new.modules,
            admin: admin.as_ref().map(|a| NewAccount {
                id: &admin_id,
                email: &a.email,
                full_name: &a.full_name,
                role: "TENANT_ADMIN",
                password_hash: &a.password_hash,
            }),
            demo_request,
        };
        match self.db.create_tenant(&row, audit).await? {
            Created::Yes => {}
            Created::SubdomainTaken => {
                return Err(ProvisionError::SubdomainTaken(new.subdomain));
            }
            Created::DemoRequestConverted => return Err(ProvisionError::DemoRequestConverted),
        }
        self.published(&tenant.id).await?;
        Ok(tenant)
    }

    fn check_modules(&self, modules: &[String]) -> Result<(), String> {
        let unknown: Vec<&str> = modules
            .iter()
            .filter(|k| self.runtime.module(k).is_none())
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(format!("unknown modules: {}", unknown.join(", ")))
        }
    }

    /// Changes a tenant's name, contact or branding.
    pub async fn update_tenant(
        &self,
        tenant_key: &str,
        changes: TenantChanges,
        actor: &Actor<'_>,
    ) -> Result<TenantDetails, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let mut problems = BTreeMap::new();
        if changes.name.as_deref().is_some_and(|n| !valid_text(n)) {
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
        };
        self.apply_changes(&view.tenant, changes, "tenant.update", actor)
            .await?;
        self.details(&view.tenant.id).await
    }

    /// Stores a logo (PNG, JPEG or WebP, up to [`files::MAX_LOGO_BYTES`]) checked by
    /// its content.
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
        let files = self.files.clone();
        let subdomain = view.tenant.subdomain.clone();
        let bytes = bytes.to_vec();
        let name = tokio::task::spawn_blocking(move || files.write_logo(&subdomain, kind, &bytes))
            .await
            .map_err(std::io::Error::other)??;
        let changes = TenantChanges {
            logo: Some(Some(name)),
            ..TenantChanges::default()
        };
        self.apply_changes(&view.tenant, changes, "tenant.logo", actor)
            .await?;
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
        let mut audit = actor.audit(Some(&tenant.id), action, &target);
        let before = json!({
            "name": tenant.name,
            "contact_email": tenant.contact_email,
            "primary_color": tenant.primary_color,
            "secondary_color": tenant.secondary_color,
            "logo": tenant.logo,
        });
        audit.before = Some(before.to_string());
        audit.after = Some(serde_json::to_string(&changes).unwrap_or_default());
        if !self.db.update_tenant(&tenant.id, &changes, audit).await? {
            return Err(ProvisionError::UnknownTenant);
        }
        self.published(&tenant.id).await
    }

    /// Moves a tenant to another state, if the transition is allowed from its
    /// current one. Suspending or archiving drops its slots at once.
    pub async fn transition(
        &self,
        tenant_key: &str,
        transition: Transition,
        reason: Option<&str>,
        actor: &Actor<'_>,
    ) -> Result<Tenant, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let tenant = &view.tenant;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        match reason {
            None if transition.needs_reason() => {
                return Err(invalid(
                    "reason",
                    format!("is required to {}", transition.name()),
                ));
            }
            Some(r) if r.chars().count() > 500 => {
                return Err(invalid("reason", "must be at most 500 characters"));
            }
            _ => {}
        }
        let not_allowed = || {
            ProvisionError::InvalidTransition(format!(
                "cannot {} tenant {}: it is {}",
                transition.name(),
                tenant.subdomain,
                tenant.status.as_str()
            ))
        };
        if !transition.from().contains(&tenant.status) {
            return Err(not_allowed());
        }
        let target = format!("tenant:{}", tenant.subdomain);
        let mut audit = actor.audit(Some(&tenant.id), transition.action(), &target);
        audit.before = Some(json!({"status": tenant.status}).to_string());
        audit.after = Some(json!({"status": transition.to(), "reason": reason}).to_string());
        if !self
            .db
            .transition_tenant(
                &tenant.id,
                transition.from(),
                transition.to(),
                reason,
                audit,
            )
            .await?
        {
            // Someone else moved it first.
            return Err(not_allowed());
        }
        if transition.to() != TenantStatus::Active {
            self.runtime.drop_tenant_slots(&tenant.id);
        }
        tracing::info!(tenant = %tenant.subdomain, transition = transition.name(), "tenant state changed");
        self.published(&tenant.id).await?;
        let mut changed = tenant.clone();
        changed.status = transition.to();
        changed.status_reason = reason.map(str::to_owned);
        Ok(changed)
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
        let mut audit = actor.audit(Some(&tenant.id), "tenant.delete", &target);
        audit.before = Some(json!({"name": tenant.name, "status": tenant.status}).to_string());
        if !self.db.delete_tenant(&tenant.id, audit).await? {
            return Err(ProvisionError::UnknownTenant);
        }
        self.directory.refresh(&tenant.id).await?;
        self.runtime.forget_tenant(&tenant.id);
        self.files.remove(&tenant.subdomain)?;
        tracing::info!(tenant = %tenant.subdomain, "tenant deleted");
        Ok(())
    }

    /// Adds a custom domain; requests for it resolve to the tenant before any
    /// subdomain match.
    pub async fn add_domain(
        &self,
        tenant_key: &str,
        domain: &str,
        actor: &Actor<'_>,
    ) -> Result<TenantDetails, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if !valid_domain(&domain) {
            return Err(invalid(
                "domain",
                "must be a host name of two or more DNS labels",
            ));
        }
        let target = format!("tenant:{}/domain:{domain}", view.tenant.subdomain);
        let audit = actor.audit(Some(&view.tenant.id), "tenant.domain.add", &target);
        if !self
            .db
            .add_tenant_domain(&view.tenant.id, &domain, audit)
            .await?
        {
            return Err(ProvisionError::DomainTaken(domain));
        }
        self.published(&view.tenant.id).await?;
        self.details(&view.tenant.id).await
    }

    pub async fn remove_domain(
        &self,
        tenant_key: &str,
        domain: &str,
        actor: &Actor<'_>,
    ) -> Result<TenantDetails, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let domain = domain.to_ascii_lowercase();
        let target = format!("tenant:{}/domain:{domain}", view.tenant.subdomain);
        let audit = actor.audit(Some(&view.tenant.id), "tenant.domain.remove", &target);
        if !self
            .db
            .remove_tenant_domain(&view.tenant.id, &domain, audit)
            .await?
        {
            return Err(ProvisionError::UnknownDomain(domain));
        }
        self.published(&view.tenant.id).await?;
        self.details(&view.tenant.id).await
    }

    /// The tenant named by id or subdomain.
    pub async fn find_tenant(&self, key: &str) -> Result<Arc<TenantView>, ProvisionError> {
        self.directory
            .by_key(key)
            .await?
            .ok_or(ProvisionError::UnknownTenant)
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
                .map(|logo| files::asset_url(&view.tenant.subdomain, logo)),
            tenant: view.tenant.clone(),
        })
    }

    /// Every installed module and whether the tenant has it on.
    fn module_map(&self, view: &TenantView) -> BTreeMap<String, bool> {
        self.modules_of(view)
            .into_iter()
            .map(|(m, on)| (m.key.clone(), on))
            .collect()
    }

    /// Every installed module in catalog order, and whether the tenant has it on.
    fn modules_of(&self, view: &TenantView) -> Vec<(Arc<LoadedModule>, bool)> {
        let mut modules: Vec<(Arc<LoadedModule>, bool)> = self
            .runtime
            .modules()
            .into_iter()
            .map(|m| {
                let on = self.runtime.is_enabled(view, &m.key);
                (m, on)
            })
            .collect();
        modules.sort_by(|(a, _), (b, _)| {
            (a.manifest.sort_order, &a.key).cmp(&(b.manifest.sort_order, &b.key))
        });
        modules
    }

    /// The tenant's public configuration, rendered once per cached view.
    pub fn config(&self, view: &TenantView) -> Arc<RenderedConfig> {
        view.config
            .get_or_init(|| {
                let modules = self.modules_of(view);
                let refs: Vec<(&LoadedModule, bool)> =
                    modules.iter().map(|(m, on)| (m.as_ref(), *on)).collect();
                Arc::new(files::render_config(&view.tenant, &refs))
            })
            .clone()
    }

    /// After a change: forget the cached tenant on this replica (others hear of it
    /// through the database) and rewrite its `config.json`.
    async fn published(&self, tenant_id: &str) -> Result<(), ProvisionError> {
        self.directory.refresh(tenant_id).await?;
        let view = self.find_tenant(tenant_id).await?;
        let config = self.config(&view);
        let files = self.files.clone();
        let subdomain = view.tenant.subdomain.clone();
        tokio::task::spawn_blocking(move || files.write_config(&subdomain, &config))
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Exports the tenant's static site into its folder and lists what it wrote.
    pub async fn deploy_site(
        &self,
        tenant_key: &str,
        actor: &Actor<'_>,
    ) -> Result<Vec<WrittenFile>, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let config = self.config(&view);
        let modules = self.modules_of(&view);
        let files = self.files.clone();
        let tenant = view.tenant.clone();
        let written = tokio::task::spawn_blocking(move || {
            let refs: Vec<(&LoadedModule, bool)> =
                modules.iter().map(|(m, on)| (m.as_ref(), *on)).collect();
            files.deploy_site(&tenant, &config, &refs)
        })
        .await
        .map_err(std::io::Error::other)??;
        let target = format!("tenant:{}", view.tenant.subdomain);
        let mut audit = actor.audit(Some(&view.tenant.id), "tenant.deploy_site", &target);
        audit.after = Some(json!({"files": written}).to_string());
        self.db.append_audit(&audit).await?;
        Ok(written)
    }

    pub async fn health(&self, tenant_key: &str) -> Result<TenantHealth, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let tenant = &view.tenant;
        let config = self.config(&view);
        let on_disk = self.files.config_is_current(&tenant.subdomain, &config);
        let folder_exists = self.files.folder(&tenant.subdomain).is_dir();
        let slots: Vec<SlotInfo> = self
            .runtime
            .slots()
            .into_iter()
            .filter(|s| s.tenant_id == tenant.id)
            .collect();
        let config_current = on_disk == Some(true);
        Ok(TenantHealth {
            tenant: tenant.subdomain.clone(),
            status: tenant.status,
            healthy: folder_exists && config_current,
            folder_exists,
            config_present: on_disk.is_some(),
            config_current,
            modules: self.module_map(&view),
            slots,
            last_error: self.runtime.last_failure(&tenant.id),
        })
    }

    /// Switches `module` for a tenant. When this returns, the next request on this
    /// replica sees the change; disabling drops the tenant's slot (requests in flight
    /// finish on their instances). Data is kept either way.
    pub async fn toggle_module(
        &self,
        tenant_key: &str,
        module: &str,
        enabled: bool,
        actor: &Actor<'_>,
    ) -> Result<Toggled, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let loaded = self
            .runtime
            .module(module)
            .ok_or_else(|| ProvisionError::UnknownModule(module.to_owned()))?;
        if loaded.core && !enabled {
            return Err(ProvisionError::CoreModule(module.to_owned()));
        }
        let tenant_id = view.tenant.id.clone();
        let target = format!("tenant:{}/module:{module}", view.tenant.subdomain);
        let action = if enabled {
            "module.enable"
        } else {
            "module.disable"
        };
        let mut audit = actor.audit(Some(&tenant_id), action, &target);
        audit.before = Some(json!({"enabled": view.has_enabled(module)}).to_string());
        audit.after = Some(json!({"enabled": enabled}).to_string());
        let was_enabled = self
            .db
            .toggle_module(&tenant_id, module, enabled, audit)
            .await?;
        let slot_dropped = !enabled && self.runtime.drop_slot(&tenant_id, module);
        self.published(&tenant_id).await?;
        tracing::info!(tenant = %view.tenant.subdomain, %module, enabled, was_enabled, "module toggled");
        Ok(Toggled {
            tenant: view.tenant.subdomain.clone(),
            module: module.to_owned(),
            enabled,
            was_enabled,
            slot_dropped,
        })
    }

    /// The same toggle for many tenants, each on its own.
    pub async fn bulk_toggle(
        &self,
        tenants: &[String],
        module: &str,
        enabled: bool,
        actor: &Actor<'_>,
    ) -> Vec<BulkItem<Toggled>> {
        let mut results = Vec::with_capacity(tenants.len());
        for (index, key) in tenants.iter().enumerate() {
            let toggled = self.toggle_module(key, module, enabled, actor).await;
            results.push(BulkItem::from_result(index, toggled));
        }
        results
    }

    /// On an empty database: tenants `demo` and `acme` with attendance enabled and a
    /// few employees each, created through the employees module itself.
    pub async fn seed_demo(&self) -> anyhow::Result<bool> {
        if self.db.count_tenants().await? > 0 {
            return Ok(false);
        }
        let people: [(&str, &[Person]); 2] = [
            (
                "demo",
                &[
                    ("Ada Lovelace", "Engineering", "Lead engineer"),
                    ("Grace Hopper", "Engineering", "Compiler engineer"),
                    ("Mary Jackson", "Operations", "Operations manager"),
                ],
            ),
            (
                "acme",
                &[
                    ("Wile E. Coyote", "Research", "Inventor"),
                    ("Road Runner", "Logistics", "Courier"),
                ],
            ),
        ];
        let actor = Actor {
            id: "seed",
            origin: Origin::default(),
        };
        for (subdomain, staff) in people {
            let modules = ["attendance"]
                .into_iter()
                .filter(|k| self.runtime.module(k).is_some())
                .map(str::to_owned)
                .collect();
            let name = format!("{}{} Inc.", subdomain[..1].to_uppercase(), &subdomain[1..]);
            let tenant = self
                .create_tenant(
                    NewTenant {
                        name,
                        subdomain: subdomain.into(),
                        modules,
                        contact_email: Some(format!("it@{subdomain}.example")),
                        primary_color: Some("#0f766e".into()),
                        secondary_color: Some("#f59e0b".into()),
                    },
                    &actor,
                )
                .await?;
            let view = self
                .directory
                .by_id(&tenant.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("seeded tenant vanished"))?;
            let employees = self
                .runtime
                .gate(&view, "employees")
                .ok_or_else(|| anyhow::anyhow!("the employees module is not installed"))?;
            let seeder = Arc::new(Caller {
                user_id: "seed".into(),
                role: Role::TenantAdmin,
                email: None,
                display_name: Some("Demo data".into()),
                session: None,
            });
            for (i, (name, department, position)) in staff.iter().enumerate() {
                let email = format!(
                    "{}@{subdomain}.example",
                    name.to_lowercase().replace([' ', '.'], "")
                );
                let body = serde_json::json!({
                    "name": name, "email": email, "department": department, "position": position,
                    "salary": 5_000_000 + 250_000 * i64::try_from(i).unwrap_or(0), "hired_on": "2024-01-15",
                });
                let response = self
                    .runtime
                    .dispatch(Dispatch {
                        tenant: view.clone(),
                        module: employees.clone(),
                        method: "POST".into(),
                        path: "/".into(),
                        query: String::new(),
                        headers: vec![crate::runtime::types::Header {
                            name: "content-type".into(),
                            value: "application/json".into(),
                        }],
                        body: body.to_string().into_bytes(),
                        caller: Some(seeder.clone()),
                        request_id: "seed".into(),
                    })
                    .await?;
                anyhow::ensure!(
                    response.status == 201,
                    "seeding {subdomain}: employees answered {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                );
            }
        }
        Ok(true)
    }
}

/// A display name: 1 to 200 characters, no control characters.
fn valid_text(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.chars().count() <= 200 && !s.chars().any(char::is_control)
}

/// `#rrggbb`.
pub fn valid_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A host name: two or more DNS labels, lower-case.
fn valid_domain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').count() >= 2
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_domains() {
        assert!(valid_color("#1f6FEB"));
        assert!(!valid_color("1f6feb"));
        assert!(!valid_color("#1f6fe"));
        assert!(!valid_color("#1f6fez"));
        assert!(valid_domain("hr.acme.example"));
        assert!(!valid_domain("localhost"));
        assert!(!valid_domain("a..b"));
        assert!(!valid_domain("-a.b"));
        assert!(!valid_domain("ac/me.example"));
    }

    #[test]
    fn transitions_only_from_their_states() {
        use TenantStatus::*;
        assert_eq!(Transition::Approve.from(), &[Pending]);
        assert!(!Transition::Suspend.from().contains(&Archived));
        assert!(!Transition::Restore.from().contains(&Active));
        assert_eq!("archive".parse::<Transition>(), Ok(Transition::Archive));
        assert!("delete".parse::<Transition>().is_err());
    }
}
