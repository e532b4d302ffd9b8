//! Modules per tenant (one or many at once) and this replica's live slots.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AdminActor, check_bulk};
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::{JsonBody, QueryParams};
use crate::provisioning::{BulkItem, GrantChoice, Installed, PackageError, PackageView, Toggled};
use crate::runtime::{RefusedModule, SlotInfo};

/// The header carrying a module upload's signature: base64 ed25519 over its bytes.
pub const SIGNATURE_HEADER: &str = "x-mosaic-signature";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bulk_update_modules))
        .routes(routes!(toggle_module))
        .routes(routes!(module_settings, set_module_settings))
        .routes(routes!(pin_version))
        .routes(routes!(slots))
        .routes(routes!(installed_modules, install_module))
        .routes(routes!(installed_module, uninstall_module))
        .routes(routes!(grant_module))
        .routes(routes!(roll_back))
        .routes(routes!(activate_version))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkToggle {
    /// Up to 500 tenants, by subdomain or id.
    tenants: Vec<String>,
    module: String,
    enabled: bool,
}

#[derive(serde::Serialize, ToSchema)]
struct BulkToggled {
    updated: usize,
    failed: usize,
    /// One per tenant named, in order.
    results: Vec<BulkItem<Toggled>>,
}

/// The same toggle for many tenants, each on its own.
#[utoipa::path(
    post, path = "/api/admin/tenants/bulk-update-modules", tag = "admin",
    request_body = BulkToggle,
    responses((status = 200, body = BulkToggled)),
    security(("bearer" = [])),
)]
async fn bulk_update_modules(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<BulkToggle>,
) -> Result<Json<BulkToggled>, ApiError> {
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
    Ok(Json(BulkToggled {
        updated,
        failed: results.len() - updated,
        results,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Toggle {
    enabled: bool,
}

/// Switches a module on or off for a tenant, live. On PostgreSQL it answers once
/// every other replica has applied it, or names those that had not.
#[utoipa::path(
    post, path = "/api/admin/tenants/{tenant}/modules/{module}", tag = "admin",
    params(
        ("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme"),
        ("module" = String, Path, description = "The module's key", example = "attendance"),
    ),
    request_body = Toggle,
    responses(
        (status = 200, body = Toggled),
        (status = 403, description = "`plan_upgrade_required`: the tenant's plan lacks the module"),
        (status = 409, description = "A core module cannot be switched off"),
    ),
    security(("bearer" = [])),
)]
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

/// A module's settings for the tenant (`{}` when none were set).
#[utoipa::path(
    get, path = "/api/admin/tenants/{tenant}/modules/{module}/settings", tag = "admin",
    params(
        ("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme"),
        ("module" = String, Path, description = "The module's key", example = "attendance"),
    ),
    responses((status = 200, body = Object)),
    security(("bearer" = [])),
)]
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
#[utoipa::path(
    put, path = "/api/admin/tenants/{tenant}/modules/{module}/settings", tag = "admin",
    params(
        ("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme"),
        ("module" = String, Path, description = "The module's key", example = "attendance"),
    ),
    request_body = Object,
    responses((status = 200, body = Object)),
    security(("bearer" = [])),
)]
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

#[derive(serde::Serialize, ToSchema)]
struct InstalledModules {
    /// Each module's manifest and digest.
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
    refused: Vec<RefusedModule>,
    /// The modules installed at runtime: versions, which serves, grants.
    installed: Vec<PackageView>,
}

/// The modules this replica serves (manifest, digest), those refused at start-up,
/// and the modules installed at runtime with their versions and grants.
#[utoipa::path(
    get, path = "/api/admin/modules", tag = "admin",
    responses((status = 200, body = InstalledModules)),
    security(("bearer" = [])),
)]
async fn installed_modules(
    State(state): State<AppState>,
    _admin: AdminActor,
) -> Result<Json<InstalledModules>, ApiError> {
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
    Ok(Json(InstalledModules {
        items,
        refused: state.runtime.refused_modules(),
        installed,
    }))
}

/// Installs a component sent as the body (`application/wasm`), signed by the
/// `X-Mosaic-Signature` header where the platform requires it.
#[utoipa::path(
    post, path = "/api/admin/modules", tag = "admin",
    request_body(
        description = "The component (any content type: the bytes are judged)",
        content(
            (Vec<u8> = "application/wasm"),
            (Vec<u8> = "application/octet-stream"),
        ),
    ),
    params(("x-mosaic-signature" = Option<String>, Header, description = "Base64 ed25519 signature of the bytes, by a trusted publisher")),
    responses(
        (status = 201, body = Installed),
        (status = 200, description = "The same bytes were installed already", body = Installed),
        (status = 409, description = "A shipped key, another publisher's, or the same version with other bytes"),
        (status = 413, description = "Over the size cap"),
    ),
    security(("bearer" = [])),
)]
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

/// A module installed at runtime: its versions, which serves, and its grant.
#[utoipa::path(
    get, path = "/api/admin/modules/{key}", tag = "admin",
    params(("key" = String, Path, description = "The module's key", example = "attendance")),
    responses((status = 200, body = PackageView)),
    security(("bearer" = [])),
)]
async fn installed_module(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(key): Path<String>,
) -> Result<Json<PackageView>, ApiError> {
    Ok(Json(state.provisioner().package_view(&key).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Uninstall {
    /// Also delete every tenant's data of it, and free its key.
    #[serde(default)]
    purge: bool,
}

/// Uninstalls a module no tenant has enabled; `?purge=true` also deletes its data.
#[utoipa::path(
    delete, path = "/api/admin/modules/{key}", tag = "admin",
    params(("key" = String, Path, description = "The module's key", example = "attendance"), Uninstall),
    responses((status = 200, body = Object), (status = 409, description = "A tenant has it enabled")),
    security(("bearer" = [])),
)]
async fn uninstall_module(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
    QueryParams(query): QueryParams<Uninstall>,
) -> Result<Json<Value>, ApiError> {
    let done = state
        .provisioner()
        .uninstall_package(&key, query.purge, &admin.actor())
        .await?;
    Ok(Json(done))
}

/// Decides what the module's manifests request: what is not listed is refused.
#[utoipa::path(
    put, path = "/api/admin/modules/{key}/grant", tag = "admin",
    params(("key" = String, Path, description = "The module's key", example = "attendance")),
    request_body = GrantChoice,
    responses((status = 200, body = PackageView)),
    security(("bearer" = [])),
)]
async fn grant_module(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
    JsonBody(choice): JsonBody<GrantChoice>,
) -> Result<Json<PackageView>, ApiError> {
    let view = state
        .provisioner()
        .grant_module(&key, &choice, &admin.actor())
        .await?;
    Ok(Json(view))
}

/// Serves the most recently active other version again.
#[utoipa::path(
    post, path = "/api/admin/modules/{key}/rollback", tag = "admin",
    params(("key" = String, Path, description = "The module's key", example = "attendance")),
    responses((status = 200, body = PackageView), (status = 409, description = "Nothing to roll back to")),
    security(("bearer" = [])),
)]
async fn roll_back(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
) -> Result<Json<PackageView>, ApiError> {
    Ok(Json(
        state.provisioner().roll_back(&key, &admin.actor()).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VersionChoice {
    version: String,
}

/// Serves a stored version of the module.
#[utoipa::path(
    post, path = "/api/admin/modules/{key}/activate", tag = "admin",
    params(("key" = String, Path, description = "The module's key", example = "attendance")),
    request_body = VersionChoice,
    responses((status = 200, body = PackageView)),
    security(("bearer" = [])),
)]
async fn activate_version(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<VersionChoice>,
) -> Result<Json<PackageView>, ApiError> {
    let view = state
        .provisioner()
        .activate_version(&key, &body.version, &admin.actor())
        .await?;
    Ok(Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Pin {
    /// A stored version; none to follow the current again.
    version: Option<String>,
}

/// Holds one tenant on a version of a module (`{"version": null}` lets it follow
/// the current again).
#[utoipa::path(
    put, path = "/api/admin/tenants/{tenant}/modules/{module}/version", tag = "admin",
    params(
        ("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme"),
        ("module" = String, Path, description = "The module's key", example = "attendance"),
    ),
    request_body = Pin,
    responses((status = 200, body = Object), (status = 409, description = "The module is not enabled for the tenant")),
    security(("bearer" = [])),
)]
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

#[derive(serde::Serialize, ToSchema)]
struct Slots {
    slots: Vec<SlotInfo>,
}

/// This replica's live (tenant, module) slots.
#[utoipa::path(
    get, path = "/api/admin/slots", tag = "admin",
    responses((status = 200, body = Slots)),
    security(("bearer" = [])),
)]
async fn slots(State(state): State<AppState>, _admin: AdminActor) -> Json<Slots> {
    Json(Slots {
        slots: state.runtime.slots(),
    })
}
