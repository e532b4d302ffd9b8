//! `/api/admin/tenants/{tenant}/domains...`: custom domains.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminActor;
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::JsonBody;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/tenants/{tenant}/domains", post(add_domain))
        .route(
            "/api/admin/tenants/{tenant}/domains/{domain}",
            delete(remove_domain),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddDomain {
    domain: String,
}

async fn add_domain(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<AddDomain>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let details = state
        .provisioner()
        .add_domain(&tenant, &body.domain, &admin.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(details))))
}

async fn remove_domain(
    State(state): State<AppState>,
    admin: AdminActor,
    Path((tenant, domain)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let details = state
        .provisioner()
        .remove_domain(&tenant, &domain, &admin.actor())
        .await?;
    Ok(Json(json!(details)))
}
