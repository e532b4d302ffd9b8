//! The control plane's domain logic: creating, changing and removing tenants,
//! switching their modules, converting demo requests, and the files each tenant
//! has on disk. The admin API and the CLI both call this; neither writes tenants
//! any other way. One file per resource, each adding its own `impl Provisioner`.

mod demo;
mod domains;
pub mod files;
mod modules;
pub mod packages;
mod payments;
mod plans;
mod publishing;
mod site;
mod states;
mod tenants;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::runtime::Runtime;
use crate::store::{AuditEntry, Db, Origin};
use crate::tenancy::{Directory, TenantView};

pub use demo::Conversion;
pub use files::{AssetRefusal, ImageKind, TenantFiles, WrittenFile};
pub use modules::Toggled;
pub use packages::{GrantChoice, Installed, PackageError, PackageSettings, PackageView};
pub use plans::{NewPlan, PlanChanged, PlanChanges};
pub use publishing::TenantHealth;
pub use site::PublicConfig;
pub use states::Transition;
pub use tenants::{FirstAdmin, NewTenant, TenantDetails};

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
    #[error("unknown plan {0}")]
    UnknownPlan(String),
    #[error("plan {0} exists already")]
    PlanTaken(String),
    #[error("module {module} is not in the {plan} plan")]
    NotInPlan {
        module: String,
        plan: String,
        /// The cheapest plan that has it.
        upgrade_to: Option<String>,
    },
    #[error("the demo request was converted already")]
    DemoRequestConverted,
    #[error("module {0} is core and always enabled")]
    CoreModule(String),
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{0}")]
    Payment(crate::store::PaymentRefusal),
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
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    /// `user:<id>`, `cli:<login>` or `signup`.
    pub id: &'a str,
    pub origin: Origin,
}

impl Actor<'_> {
    pub(crate) fn audit<'e>(
        &'e self,
        tenant_id: Option<&'e str>,
        action: &'e str,
        target: &'e str,
    ) -> AuditEntry<'e> {
        AuditEntry::new(&self.origin, self.id, tenant_id, action, target)
    }
}

/// One item of a bulk operation: its result or its error, never both.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BulkItem<T> {
    pub index: usize,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<BulkError>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
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

/// The domain services a control-plane operation needs.
pub struct Provisioner<'a> {
    pub db: &'a Db,
    pub runtime: &'a Runtime,
    pub directory: &'a Directory,
    pub files: &'a TenantFiles,
    pub billing: &'a crate::billing::BillingSettings,
    pub clock: &'a crate::clock::Clock,
    pub packages: &'a PackageSettings,
    /// This replica; a change waits for the others to apply it.
    pub replicas: &'a crate::tenancy::replicas::Replicas,
}

impl Provisioner<'_> {
    /// A trial of `plan` starting now, with the invoice for the period after it.
    pub(crate) async fn trial_start(
        &self,
        plan: &str,
    ) -> Result<crate::store::TrialStart, ProvisionError> {
        let plan = self
            .db
            .plan(plan)
            .await?
            .ok_or_else(|| ProvisionError::UnknownPlan(plan.to_owned()))?;
        let ends_at = self
            .clock
            .now_ms()
            .saturating_add(crate::billing::millis(self.billing.trial));
        Ok(crate::store::TrialStart {
            ends_at,
            first_invoice: self.billing.first_invoice(&plan, ends_at),
        })
    }

    /// The tenant named by id or subdomain.
    pub async fn find_tenant(&self, key: &str) -> Result<Arc<TenantView>, ProvisionError> {
        self.directory
            .by_key(key)
            .await?
            .ok_or(ProvisionError::UnknownTenant)
    }
}
