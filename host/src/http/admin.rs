//! `/api/admin/...`: the platform administrators' control plane.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{JsonBody, PlatformAdmin};
use super::{ApiError, request_id};
use crate::AppState;
use crate::provisioning::{NewTenant, ProvisionError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/tenants", post(create_tenant))
        .route("/api/admin/tenants/{tenant}/approve", post(approve))
        .route(
            "/api/admin/tenants/{tenant}/modules/{module}",
            post(toggle_module),
        )
        .route("/api/admin/slots", get(slots))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
    subdomain: String,
    #[serde(default)]
    modules: Vec<String>,
}

async fn create_tenant(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = state
        .provisioner()
        .create_tenant(NewTenant {
            name: body.name,
            subdomain: body.subdomain,
            modules: body.modules.clone(),
        })
        .await?;
    let modules: serde_json::Map<String, Value> = state
        .runtime
        .modules()
        .iter()
        .map(|m| {
            (
                m.key.clone(),
                json!(m.core || body.modules.contains(&m.key)),
            )
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": tenant.id,
            "name": tenant.name,
            "subdomain": tenant.subdomain,
            "status": tenant.status.as_str(),
            "modules": modules,
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Toggle {
    enabled: bool,
}

async fn toggle_module(
    State(state): State<AppState>,
    PlatformAdmin(admin): PlatformAdmin,
    Path((tenant, module)): Path<(String, String)>,
    JsonBody(body): JsonBody<Toggle>,
) -> Result<Json<crate::provisioning::Toggled>, ApiError> {
    let actor = format!("user:{}", admin.sub);
    let toggled = state
        .provisioner()
        .toggle_module(
            &tenant,
            &module,
            body.enabled,
            &actor,
            request_id().as_deref(),
        )
        .await?;
    Ok(Json(toggled))
}

async fn approve(
    State(state): State<AppState>,
    PlatformAdmin(admin): PlatformAdmin,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let actor = format!("user:{}", admin.sub);
    let tenant = state
        .provisioner()
        .approve(&tenant, &actor, request_id().as_deref())
        .await?;
    Ok(Json(json!({
        "id": tenant.id,
        "name": tenant.name,
        "subdomain": tenant.subdomain,
        "status": tenant.status.as_str(),
    })))
}

async fn slots(State(state): State<AppState>, _admin: PlatformAdmin) -> Json<Value> {
    Json(json!({ "slots": state.runtime.slots() }))
}

impl From<ProvisionError> for ApiError {
    fn from(err: ProvisionError) -> Self {
        match err {
            ProvisionError::Invalid(fields) => ApiError::Validation(json!(fields)),
            ProvisionError::SubdomainTaken(s) => {
                ApiError::Conflict(format!("Subdomain {s} is taken"))
            }
            ProvisionError::UnknownTenant => ApiError::NotFound("Unknown tenant".into()),
            ProvisionError::UnknownModule(m) => ApiError::NotFound(format!("Unknown module {m}")),
            ProvisionError::CoreModule(m) => {
                ApiError::Conflict(format!("Module {m} is core and cannot be disabled"))
            }
            ProvisionError::InvalidTransition(m) => ApiError::Conflict(m),
            ProvisionError::Hashing(e) => ApiError::internal(anyhow::Error::msg(e)),
            ProvisionError::Db(e) => ApiError::internal(e),
        }
    }
}
