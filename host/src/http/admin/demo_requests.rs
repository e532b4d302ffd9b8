//! `/api/admin/demo-requests...`: demo requests, and turning one into a tenant.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminActor, default_per_page, first_page, paging};
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::{JsonBody, QueryParams};
use crate::provisioning::Conversion;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/demo-requests", get(list_demo_requests))
        .route(
            "/api/admin/demo-requests/{id}/convert",
            post(convert_demo_request),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListDemoRequests {
    status: Option<String>,
    #[serde(default = "first_page")]
    page: i64,
    #[serde(default = "default_per_page")]
    per_page: i64,
}

async fn list_demo_requests(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<ListDemoRequests>,
) -> Result<Json<Value>, ApiError> {
    let (limit, offset) = paging(query.page, query.per_page)?;
    if query
        .status
        .as_deref()
        .is_some_and(|s| s != "new" && s != "converted")
    {
        return Err(ApiError::Validation(
            json!({"status": "must be new or converted"}),
        ));
    }
    let items = state
        .db
        .list_demo_requests(query.status.as_deref(), limit, offset)
        .await?;
    Ok(Json(
        json!({ "items": items, "page": query.page, "per_page": query.per_page }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Convert {
    subdomain: String,
    #[serde(default)]
    modules: Vec<String>,
}

async fn convert_demo_request(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Convert>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let provisioner = state.provisioner();
    let tenant = provisioner
        .convert_demo_request(
            &id,
            Conversion {
                subdomain: body.subdomain,
                modules: body.modules,
            },
            &admin.actor(),
        )
        .await?;
    let details = provisioner.details(&tenant.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "tenant": details,
            "message": "Tenant created; its first admin was mailed an invitation.",
        })),
    ))
}
