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
        let mut problems = BTreeMap::new();
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
            status: TenantStatus::Active,
            plan: "standard".into(),
            timezone: "UTC".into(),
            generation: 0,
        };
        match self.db.create_tenant(&tenant, &new.modules).await? {
            crate::store::Created::Yes => Ok(tenant),
            crate::store::Created::SubdomainTaken => {
                Err(ProvisionError::SubdomainTaken(new.subdomain))
            }
        }
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
