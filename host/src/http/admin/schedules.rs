//! `/api/admin/schedules`: when each module's scheduled work fires next for each
//! tenant, and how its last firing went.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminActor;
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::QueryParams;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/admin/schedules", get(schedules))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulesQuery {
    /// A tenant id or subdomain; none for every tenant.
    tenant: Option<String>,
}

async fn schedules(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<SchedulesQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = match &query.tenant {
        Some(key) => Some(
            state
                .directory
                .by_key(key)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("Unknown tenant {key}")))?
                .tenant
                .id
                .clone(),
        ),
        None => None,
    };
    let runs = state.db.schedule_runs(tenant_id.as_deref()).await?;
    Ok(Json(json!({ "items": runs })))
}
