//! `/api/admin/plans`: the billing plans, created, edited and retired by platform
//! admins (every change audited).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AdminActor;
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::JsonBody;
use crate::provisioning::{NewPlan, PlanChanges};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePlan {
    plan: String,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/plans", get(list).post(create))
        .route("/api/admin/plans/{key}", patch(update))
        .route("/api/admin/plans/{key}/retire", post(retire))
        .route("/api/admin/tenants/{tenant}/plan", post(change_plan))
}

/// Every plan, retired ones included.
async fn list(State(state): State<AppState>, _admin: AdminActor) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": state.db.plans(true).await? })))
}

async fn create(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<NewPlan>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let plan = state
        .provisioner()
        .create_plan(body, &admin.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(plan))))
}

async fn update(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<PlanChanges>,
) -> Result<Json<Value>, ApiError> {
    let plan = state
        .provisioner()
        .update_plan(&key, body, &admin.actor())
        .await?;
    Ok(Json(json!(plan)))
}

async fn retire(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let plan = state
        .provisioner()
        .retire_plan(&key, &admin.actor())
        .await?;
    Ok(Json(json!(plan)))
}

/// Moves a tenant to another plan: modules it lacks are switched off (data kept),
/// modules switched off by an earlier change come back when it has them.
async fn change_plan(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<ChangePlan>,
) -> Result<Json<Value>, ApiError> {
    let changed = state
        .provisioner()
        .change_plan(&tenant, &body.plan, &admin.actor())
        .await?;
    Ok(Json(json!(changed)))
}
