//! `GET /healthz`: the process is up and its database answers; `degraded` names
//! the modules refused at start-up while the others serve.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    sqlx::query("SELECT 1").execute(&state.db.pool).await?;
    let refused = state.runtime.refused_modules();
    Ok(Json(json!({
        "status": if refused.is_empty() { "ok" } else { "degraded" },
        "modules": state.runtime.modules().len(),
        "refused_modules": refused,
    })))
}
