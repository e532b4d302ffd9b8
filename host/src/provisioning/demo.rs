//! Demo requests turned into tenants, and the demo tenants seeded into an empty
//! database.

use std::sync::Arc;

use super::{Actor, FirstAdmin, NewTenant, ProvisionError, Provisioner};
use crate::auth::{Caller, Role};
use crate::runtime::Dispatch;
use crate::store::Origin;
use crate::tenancy::{Tenant, TenantStatus};

/// The plan of the seeded demo tenants: the one with every module the tour shows.
const DEMO_PLAN: &str = "enterprise";

/// How a demo request becomes a tenant.
#[derive(Debug, Clone)]
pub struct Conversion {
    pub subdomain: String,
    pub modules: Vec<String>,
}

/// A demo employee: name, department, position.
type Person = (&'static str, &'static str, &'static str);

impl Provisioner<'_> {
    /// Turns a demo request into an active tenant whose first TENANT_ADMIN (the
    /// requester) is mailed an invitation to choose a password, all in one
    /// transaction: the tenant never exists without the invitation, nor the other way.
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
        self.provision(
            new,
            TenantStatus::Active,
            Some(admin),
            Some(request_id),
            actor,
        )
        .await
    }

    /// On an empty database: tenants `demo` and `acme` with attendance, wallet,
    /// tasks and complaints enabled and a few employees each, created through the
    /// employees module itself.
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
            let modules = [
                "attendance",
                "wallet",
                "tasks",
                "complaints",
                "shifts",
                "reports",
            ]
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
                        timezone: None,
                        plan: Some(DEMO_PLAN.into()),
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
