//! Creating tenants, switching their modules, and the demo data of a fresh install.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::auth::{Caller, Role};
use crate::runtime::{Dispatch, Runtime};
use crate::store::{AuditEntry, Db};
use crate::tenancy::{self, Directory, Tenant, TenantStatus, TenantView};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("validation failed")]
    Invalid(BTreeMap<String, String>),
    #[error("subdomain {0} is taken")]
    SubdomainTaken(String),
    #[error("unknown tenant")]
    UnknownTenant,
    #[error("unknown module {0}")]
    UnknownModule(String),
    #[error("module {0} is core and always enabled")]
    CoreModule(String),
    #[error("{0}")]
    InvalidTransition(String),
    #[error("hashing the password failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What it takes to create a tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: String,
    pub subdomain: String,
    pub modules: Vec<String>,
}

/// The domain services a control-plane operation needs.
pub struct Provisioner<'a> {
    pub db: &'a Db,
    pub runtime: &'a Runtime,
    pub directory: &'a Directory,
}

/// The first administrator of a self-registered tenant.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub full_name: String,
    pub email: String,
    pub password: String,
}

/// A demo employee: name, department, position.
type Person = (&'static str, &'static str, &'static str);

/// The result of a toggle.
#[derive(Debug, serde::Serialize)]
pub struct Toggled {
    pub tenant: String,
    pub module: String,
    pub enabled: bool,
    pub was_enabled: bool,
    pub slot_dropped: bool,
}

impl Provisioner<'_> {
    pub async fn create_tenant(&self, new: NewTenant) -> Result<Tenant, ProvisionError> {
        self.provision(new, TenantStatus::Active, None).await
    }

    /// Self-service signup: a PENDING tenant and its first TENANT_ADMIN, together. A
    /// platform admin approves the tenant before anyone can use it.
    pub async fn register(
        &self,
        new: NewTenant,
        admin: FirstAdmin,
    ) -> Result<Tenant, ProvisionError> {
        self.provision(new, TenantStatus::Pending, Some(admin))
            .await
    }

    async fn provision(
        &self,
        new: NewTenant,
        status: TenantStatus,
        admin: Option<FirstAdmin>,
    ) -> Result<Tenant, ProvisionError> {
        let mut problems = BTreeMap::new();
        if let Some(admin) = &admin {
            let email = admin.email.trim().to_lowercase();
            if !crate::auth::valid_email(&email) {
                problems.insert("email".into(), "must be a valid email address".into());
            }
            let name = admin.full_name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                problems.insert("full_name".into(), "must be 1 to 200 characters".into());
            }
            if let Err(message) = crate::auth::password::check_policy(&admin.password, &email) {
                problems.insert("password".into(), message.into());
            }
        }
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            problems.insert("name".into(), "must be 1 to 200 characters".into());
        }
        if let Err(message) = tenancy::valid_subdomain(&new.subdomain) {
            problems.insert("subdomain".into(), message.into());
        }
        let unknown: Vec<&str> = new
            .modules
            .iter()
            .filter(|k| self.runtime.module(k).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            problems.insert(
                "modules".into(),
                format!("unknown modules: {}", unknown.join(", ")),
            );
        }
        if !problems.is_empty() {
            return Err(ProvisionError::Invalid(problems));
        }
        let tenant = Tenant {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_owned(),
            subdomain: new.subdomain.clone(),
            status,
            plan: "standard".into(),
            timezone: "UTC".into(),
            generation: 0,
        };
        let id = uuid::Uuid::now_v7().to_string();
        let admin = match admin {
            Some(admin) => Some(FirstAdmin {
                email: admin.email.trim().to_lowercase(),
                full_name: admin.full_name.trim().to_owned(),
                password: crate::auth::accounts::hash_blocking(admin.password)
                    .await
                    .map_err(ProvisionError::Hashing)?,
            }),
            None => None,
        };
        // `password` holds the hash from here on.
        let account = admin.as_ref().map(|a| crate::store::NewAccount {
            id: &id,
            email: &a.email,
            full_name: &a.full_name,
            role: "TENANT_ADMIN",
            password_hash: &a.password,
        });
        match self
            .db
            .create_tenant(&tenant, &new.modules, account.as_ref())
            .await?
        {
            crate::store::Created::Yes => Ok(tenant),
            crate::store::Created::SubdomainTaken => {
                Err(ProvisionError::SubdomainTaken(new.subdomain))
            }
        }
    }

    /// PENDING → ACTIVE, audited; the next request sees it.
    pub async fn approve(
        &self,
        tenant_key: &str,
        actor: &str,
        request_id: Option<&str>,
    ) -> Result<Tenant, ProvisionError> {
        let view = self.find_tenant(tenant_key).await?;
        let tenant = &view.tenant;
        let target = format!("tenant:{}", tenant.subdomain);
        let audit = AuditEntry {
            tenant_id: Some(&tenant.id),
            actor,
            action: "tenant.approve",
            target: &target,
            before: Some(serde_json::json!({"status": tenant.status.as_str()}).to_string()),
            after: Some(serde_json::json!({"status": "active"}).to_string()),
            request_id,
            ip: None,
            user_agent: None,
        };
        if !self
            .db
            .transition_tenant(
                &tenant.id,
                TenantStatus::Pending,
                TenantStatus::Active,
                audit,
            )
            .await?
        {
            return Err(ProvisionError::InvalidTransition(format!(
                "tenant {} is {}, not pending",
                tenant.subdomain,
                tenant.status.as_str()
            )));
        }
        self.directory.invalidate(&tenant.id);
        let mut approved = tenant.clone();
        approved.status = TenantStatus::Active;
        Ok(approved)
    }

    /// The tenant named by id or subdomain.
    pub async fn find_tenant(&self, key: &str) -> Result<Arc<TenantView>, ProvisionError> {
        self.directory
            .by_key(key)
            .await?
            .ok_or(ProvisionError::UnknownTenant)
    }

    /// Switches `module` for a tenant. When this returns, the next request on this
    /// replica sees the change; disabling drops the tenant's slot (requests in flight
    /// finish on their instances). Data is kept either way.
    pub async fn toggle_module(
        &self,
        tenant_key: &str,
        module: &str,
        enabled: bool,
        actor: &str,
        request_id: Option<&str>,
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
        let was_enabled = view.has_enabled(module);
        let audit = AuditEntry {
            tenant_id: Some(&tenant_id),
            actor,
            action: if enabled {
                "module.enable"
            } else {
                "module.disable"
            },
            target: &target,
            before: Some(serde_json::json!({"enabled": was_enabled}).to_string()),
            after: Some(serde_json::json!({"enabled": enabled}).to_string()),
            request_id,
            ip: None,
            user_agent: None,
        };
        let was_enabled = self
            .db
            .toggle_module(&tenant_id, module, enabled, audit)
            .await?;
        self.directory.invalidate(&tenant_id);
        let slot_dropped = !enabled && self.runtime.drop_slot(&tenant_id, module);
        tracing::info!(tenant = %view.tenant.subdomain, %module, enabled, was_enabled, "module toggled");
        Ok(Toggled {
            tenant: view.tenant.subdomain.clone(),
            module: module.to_owned(),
            enabled,
            was_enabled,
            slot_dropped,
        })
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
        for (subdomain, staff) in people {
            let modules = ["attendance"]
                .into_iter()
                .filter(|k| self.runtime.module(k).is_some())
                .map(str::to_owned)
                .collect();
            let name = format!("{}{} Inc.", subdomain[..1].to_uppercase(), &subdomain[1..]);
            let tenant = self
                .create_tenant(NewTenant {
                    name,
                    subdomain: subdomain.into(),
                    modules,
                })
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
                        headers: vec![crate::runtime::bindings::Header {
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
