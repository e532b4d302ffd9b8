//! Modules per tenant (one or many at once) and this replica's live slots.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminActor, check_bulk};
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::JsonBody;
use crate::provisioning::{GrantChoice, Installed, PackageError, Toggled};

/// The header carrying a module upload's signature: base64 ed25519 over its bytes.
pub const SIGNATURE_HEADER: &str = "x-mosaic-signature";

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
        .route(
            "/api/admin/tenants/{tenant}/modules/{module}/version",
            put(pin_version),
        )
        .route("/api/admin/slots", get(slots))
        .route(
            "/api/admin/modules",
            get(installed_modules).post(install_module),
        )
        .route(
            "/api/admin/modules/{key}",
            get(installed_module).delete(uninstall_module),
        )
        .route("/api/admin/modules/{key}/grant", put(grant_module))
        .route("/api/admin/modules/{key}/rollback", post(roll_back))
        .route("/api/admin/modules/{key}/activate", post(activate_version))
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

/// The modules this replica serves (manifest, digest), those refused at start-up,
/// and the modules installed at runtime with their versions and grants.
async fn installed_modules(
    State(state): State<AppState>,
    _admin: AdminActor,
) -> Result<Json<Value>, ApiError> {
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
    let installed = state.provisioner().package_views().await?;
    Ok(Json(json!({
        "items": items,
        "refused": state.runtime.refused_modules(),
        "installed": installed,
    })))
}

/// Installs a component sent as the body (`application/wasm`), signed by the
/// `X-Mosaic-Signature` header where the platform requires it.
async fn install_module(
    State(state): State<AppState>,
    admin: AdminActor,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Installed>), ApiError> {
    let max = state.config.packages.max_bytes;
    let wasm = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(max))?;
    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str())
        .transpose()
        .map_err(|_| ApiError::BadRequest(format!("{SIGNATURE_HEADER} is not text")))?;
    let installed = state
        .provisioner()
        .install_package(&wasm, signature, &admin.actor())
        .await?;
    let status = if installed.unchanged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(installed)))
}

async fn installed_module(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let view = state.provisioner().package_view(&key).await?;
    Ok(Json(json!(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Uninstall {
    #[serde(default)]
    purge: bool,
}

/// Uninstalls a module no tenant has enabled; `?purge=true` also deletes its data.
async fn uninstall_module(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
    Query(query): Query<Uninstall>,
) -> Result<Json<Value>, ApiError> {
    let done = state
        .provisioner()
        .uninstall_package(&key, query.purge, &admin.actor())
        .await?;
    Ok(Json(done))
}

async fn grant_module(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
    JsonBody(choice): JsonBody<GrantChoice>,
) -> Result<Json<Value>, ApiError> {
    let view = state
        .provisioner()
        .grant_module(&key, &choice, &admin.actor())
        .await?;
    Ok(Json(json!(view)))
}

async fn roll_back(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let view = state.provisioner().roll_back(&key, &admin.actor()).await?;
    Ok(Json(json!(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionChoice {
    version: String,
}

async fn activate_version(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<VersionChoice>,
) -> Result<Json<Value>, ApiError> {
    let view = state
        .provisioner()
        .activate_version(&key, &body.version, &admin.actor())
        .await?;
    Ok(Json(json!(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pin {
    version: Option<String>,
}

/// Holds one tenant on a version of a module (`{"version": null}` lets it follow
/// the current again).
async fn pin_version(
    State(state): State<AppState>,
    admin: AdminActor,
    Path((tenant, module)): Path<(String, String)>,
    JsonBody(body): JsonBody<Pin>,
) -> Result<Json<Value>, ApiError> {
    let pinned = state
        .provisioner()
        .pin_version(&tenant, &module, body.version.as_deref(), &admin.actor())
        .await?;
    Ok(Json(pinned))
}

impl From<PackageError> for ApiError {
    fn from(err: PackageError) -> Self {
        let message = err.to_string();
        match err {
            PackageError::TooLarge(max) => ApiError::PayloadTooLarge(max),
            PackageError::Invalid(_) => ApiError::Validation(json!({"module": message})),
            PackageError::KeyTaken(_) | PackageError::VersionExists { .. } => {
                ApiError::Conflict(message)
            }
            PackageError::Refused(_) | PackageError::InUse { .. } => ApiError::Conflict(message),
            PackageError::SignatureRequired | PackageError::BadSignature => {
                ApiError::Forbidden(message)
            }
            PackageError::UnknownModule(_) | PackageError::UnknownVersion { .. } => {
                ApiError::NotFound(message)
            }
            PackageError::Shipped(_) => ApiError::BadRequest(message),
            PackageError::Provision(err) => err.into(),
            PackageError::Db(err) => ApiError::internal(err),
            PackageError::Load(err) => ApiError::Internal(err),
        }
    }
}

async fn slots(State(state): State<AppState>, _admin: AdminActor) -> Json<Value> {
    Json(json!({ "slots": state.runtime.slots() }))
}
