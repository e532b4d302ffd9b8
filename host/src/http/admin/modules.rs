//! Modules per tenant (one or many at once) and this replica's live slots.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminActor, check_bulk};
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::JsonBody;
use crate::provisioning::Toggled;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/admin/tenants/bulk-update-modules",
            post(bulk_update_modules),
        )
        .route(
            "/api/admin/tenants/{tenant}/modules/{module}",
            post(toggle_module),
        )
        .route(
            "/api/admin/tenants/{tenant}/modules/{module}/settings",
            get(module_settings).put(set_module_settings),
        )
        .route("/api/admin/slots", get(slots))
        .route("/api/admin/modules", get(installed_modules))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkToggle {
    tenants: Vec<String>,
    module: String,
    enabled: bool,
}

async fn bulk_update_modules(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<BulkToggle>,
) -> Result<Json<Value>, ApiError> {
    check_bulk(body.tenants.len())?;
    if state.runtime.module(&body.module).is_none() {
        return Err(ApiError::NotFound(format!(
            "Unknown module {}",
            body.module
        )));
    }
    let results = state
        .provisioner()
        .bulk_toggle(&body.tenants, &body.module, body.enabled, &admin.actor())
        .await;
    let updated = results.iter().filter(|r| r.ok).count();
    Ok(Json(json!({
        "updated": updated,
        "failed": results.len() - updated,
        "results": results,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Toggle {
    enabled: bool,
}

async fn toggle_module(
    State(state): State<AppState>,
    admin: AdminActor,
    Path((tenant, module)): Path<(String, String)>,
    JsonBody(body): JsonBody<Toggle>,
) -> Result<Json<Toggled>, ApiError> {
    let toggled = state
        .provisioner()
        .toggle_module(&tenant, &module, body.enabled, &admin.actor())
        .await?;
    Ok(Json(toggled))
}

async fn module_settings(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path((tenant, module)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let settings = state
        .provisioner()
        .module_settings(&tenant, &module)
        .await?;
    Ok(Json(settings))
}

/// Replaces the settings with the JSON object given.
async fn set_module_settings(
    State(state): State<AppState>,
    admin: AdminActor,
    Path((tenant, module)): Path<(String, String)>,
    JsonBody(settings): JsonBody<serde_json::Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let provisioner = state.provisioner();
    provisioner
        .set_module_settings(&tenant, &module, &settings, &admin.actor())
        .await?;
    Ok(Json(Value::Object(settings)))
}

/// The installed modules (manifest, digest) and those refused at start-up.
async fn installed_modules(State(state): State<AppState>, _admin: AdminActor) -> Json<Value> {
    let items: Vec<Value> = state
        .runtime
        .modules()
        .iter()
        .map(|m| {
            let mut manifest = m.manifest_json();
            manifest["sha256"] = json!(m.sha256);
            manifest
        })
        .collect();
    Json(json!({ "items": items, "refused": state.runtime.refused_modules() }))
}

async fn slots(State(state): State<AppState>, _admin: AdminActor) -> Json<Value> {
    Json(json!({ "slots": state.runtime.slots() }))
}
