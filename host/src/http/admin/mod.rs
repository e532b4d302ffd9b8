//! `/api/admin/...`: the platform administrators' control plane, one router per
//! resource. Every handler takes an [`AdminActor`] (a SUPER_ADMIN, and where the
//! call came from) and hands the work to the provisioner.

mod audit;
mod demo_requests;
mod domains;
mod events;
mod modules;
mod payments;
mod plans;
mod schedules;
mod states;
mod tenants;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::json;

use super::ApiError;
use super::extract::PlatformAdmin;
use crate::AppState;
use crate::provisioning::{Actor, ProvisionError};
use crate::store::Origin;

pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .merge(tenants::router())
        .merge(states::router())
        .merge(domains::router())
        .merge(modules::router())
        .merge(audit::router())
        .merge(events::router())
        .merge(plans::router())
        .merge(payments::router())
        .merge(schedules::router())
        .merge(demo_requests::router())
}

/// A platform administrator and where the request came from: what an audited
/// change needs.
pub struct AdminActor {
    id: String,
    origin: Origin,
}

impl AdminActor {
    fn actor(&self) -> Actor<'_> {
        Actor {
            id: &self.id,
            origin: self.origin.clone(),
        }
    }
}

impl FromRequestParts<AppState> for AdminActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let PlatformAdmin(claims) = PlatformAdmin::from_request_parts(parts, state).await?;
        let Ok(origin) = Origin::from_request_parts(parts, state).await;
        Ok(Self {
            id: format!("user:{}", claims.sub),
            origin,
        })
    }
}

fn first_page() -> i64 {
    1
}

fn default_per_page() -> i64 {
    20
}

/// `page` (from 1) and `per_page` (1 to 100) as LIMIT and OFFSET.
fn paging(page: i64, per_page: i64) -> Result<(i64, i64), ApiError> {
    if page < 1 || !(1..=100).contains(&per_page) {
        return Err(ApiError::Validation(json!({
            "page": "must be 1 or more",
            "per_page": "must be 1 to 100",
        })));
    }
    Ok((per_page, (page - 1).saturating_mul(per_page)))
}

/// Most tenants one bulk request may name.
const MAX_BULK: usize = 500;

fn check_bulk(tenants: usize) -> Result<(), ApiError> {
    if tenants == 0 || tenants > MAX_BULK {
        return Err(ApiError::Validation(
            json!({"tenants": format!("must hold 1 to {MAX_BULK} tenants")}),
        ));
    }
    Ok(())
}

impl From<ProvisionError> for ApiError {
    fn from(err: ProvisionError) -> Self {
        match err {
            ProvisionError::Invalid(fields) => ApiError::Validation(json!(fields)),
            ProvisionError::SubdomainTaken(s) => {
                ApiError::Conflict(format!("Subdomain {s} is taken"))
            }
            ProvisionError::DomainTaken(d) => ApiError::Conflict(format!("Domain {d} is taken")),
            ProvisionError::UnknownTenant => ApiError::NotFound("Unknown tenant".into()),
            ProvisionError::UnknownModule(m) => ApiError::NotFound(format!("Unknown module {m}")),
            ProvisionError::UnknownDomain(d) => ApiError::NotFound(format!("Unknown domain {d}")),
            ProvisionError::UnknownDemoRequest => ApiError::NotFound("Unknown demo request".into()),
            ProvisionError::UnknownPlan(p) => ApiError::NotFound(format!("Unknown plan {p}")),
            ProvisionError::PlanTaken(p) => ApiError::Conflict(format!("Plan {p} exists already")),
            ProvisionError::NotInPlan {
                module,
                plan,
                upgrade_to,
            } => ApiError::NotInPlan {
                module,
                plan,
                upgrade_to,
            },
            ProvisionError::DemoRequestConverted => {
                ApiError::Conflict("The demo request was converted already".into())
            }
            ProvisionError::CoreModule(m) => {
                ApiError::Conflict(format!("Module {m} is core and cannot be disabled"))
            }
            ProvisionError::InvalidTransition(m) => ApiError::Conflict(m),
            ProvisionError::Payment(refused) => super::billing::payment_refusal(refused),
            ProvisionError::ConfirmationMismatch => {
                ApiError::Validation(json!({"confirm": "must repeat the tenant's subdomain"}))
            }
            ProvisionError::Hashing(e) => ApiError::internal(anyhow::Error::msg(e)),
            ProvisionError::Files(e) => ApiError::internal(e),
            ProvisionError::Db(e) => ApiError::internal(e),
        }
    }
}
