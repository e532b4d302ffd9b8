//! `/api/admin/plans`: the billing plans, created, edited and retired by platform
//! admins (every change audited).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AdminActor;
use crate::AppState;
use crate::http::ApiError;
use crate::http::billing::Items;
use crate::http::extract::JsonBody;
use crate::provisioning::{NewPlan, PlanChanged, PlanChanges};
use crate::store::plans::Plan;

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePlan {
    plan: String,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update))
        .routes(routes!(retire))
        .routes(routes!(change_plan))
}

/// Every plan, retired ones included.
#[utoipa::path(
    get, path = "/api/admin/plans", tag = "admin",
    responses((status = 200, body = Items<Plan>)),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    _admin: AdminActor,
) -> Result<Json<Items<Plan>>, ApiError> {
    Ok(Json(Items {
        items: state.db.plans(true).await?,
    }))
}

#[utoipa::path(
    post, path = "/api/admin/plans", tag = "admin",
    request_body = NewPlan,
    responses((status = 201, body = Plan), (status = 409, description = "The key is taken")),
    security(("bearer" = [])),
)]
async fn create(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<NewPlan>,
) -> Result<(StatusCode, Json<Plan>), ApiError> {
    let plan = state
        .provisioner()
        .create_plan(body, &admin.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(plan)))
}

/// Edits a plan; its subscribers' limits change with it.
#[utoipa::path(
    patch, path = "/api/admin/plans/{key}", tag = "admin",
    params(("key" = String, Path, description = "The plan's key", example = "business")),
    request_body = PlanChanges,
    responses((status = 200, body = Plan)),
    security(("bearer" = [])),
)]
async fn update(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<PlanChanges>,
) -> Result<Json<Plan>, ApiError> {
    let plan = state
        .provisioner()
        .update_plan(&key, body, &admin.actor())
        .await?;
    Ok(Json(plan))
}

/// The plan keeps its subscribers and takes no new ones.
#[utoipa::path(
    post, path = "/api/admin/plans/{key}/retire", tag = "admin",
    params(("key" = String, Path, description = "The plan's key", example = "business")),
    responses((status = 200, body = Plan), (status = 409, description = "The default plan")),
    security(("bearer" = [])),
)]
async fn retire(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
) -> Result<Json<Plan>, ApiError> {
    let plan = state
        .provisioner()
        .retire_plan(&key, &admin.actor())
        .await?;
    Ok(Json(plan))
}

/// Moves a tenant to another plan: modules it lacks are switched off (data kept),
/// modules switched off by an earlier change come back when it has them.
#[utoipa::path(
    post, path = "/api/admin/tenants/{tenant}/plan", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme")),
    request_body = ChangePlan,
    responses((status = 200, body = PlanChanged)),
    security(("bearer" = [])),
)]
async fn change_plan(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<ChangePlan>,
) -> Result<Json<PlanChanged>, ApiError> {
    let changed = state
        .provisioner()
        .change_plan(&tenant, &body.plan, &admin.actor())
        .await?;
    Ok(Json(changed))
}
