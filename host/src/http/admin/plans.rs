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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/plans", get(list).post(create))
        .route("/api/admin/plans/{key}", patch(update))
        .route("/api/admin/plans/{key}/retire", post(retire))
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
