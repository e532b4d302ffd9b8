//! `/api/admin/tenants...`: creating, listing, changing and deleting tenants, their
//! logo, health and exported site.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AdminActor, check_bulk, default_per_page, first_page, paging};
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::{JsonBody, QueryParams};
use crate::provisioning::{BulkItem, NewTenant, TenantDetails, TenantHealth, WrittenFile};
use crate::store::{Tenant, TenantChanges, TenantQuery, TenantStatistics};
use crate::tenancy::TenantStatus;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(statistics))
        .routes(routes!(bulk_create))
        .routes(routes!(get_tenant, update_tenant, delete_tenant))
        .routes(routes!(health))
        .routes(routes!(upload_logo))
        .routes(routes!(deploy_site))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
    subdomain: String,
    #[serde(default)]
    modules: Vec<String>,
    contact_email: Option<String>,
    primary_color: Option<String>,
    secondary_color: Option<String>,
    timezone: Option<String>,
    plan: Option<String>,
}

impl From<CreateTenant> for NewTenant {
    fn from(body: CreateTenant) -> Self {
        Self {
            name: body.name,
            subdomain: body.subdomain,
            modules: body.modules,
            contact_email: body.contact_email,
            primary_color: body.primary_color,
            secondary_color: body.secondary_color,
            timezone: body.timezone,
            plan: body.plan,
        }
    }
}

/// Creates an active tenant on a trial of its plan.
#[utoipa::path(
    post, path = "/api/admin/tenants", tag = "admin",
    request_body = CreateTenant,
    responses((status = 201, body = TenantDetails), (status = 409, description = "The subdomain is taken")),
    security(("bearer" = [])),
)]
async fn create_tenant(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<(StatusCode, Json<TenantDetails>), ApiError> {
    let provisioner = state.provisioner();
    let tenant = provisioner
        .create_tenant(body.into(), &admin.actor())
        .await?;
    let details = provisioner.details(&tenant.id).await?;
    Ok((StatusCode::CREATED, Json(details)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListTenants {
    /// Part of the name, subdomain or contact email, in any case.
    search: Option<String>,
    /// `pending`, `active`, `suspended` or `archived`.
    status: Option<String>,
    /// From 1.
    #[serde(default = "first_page")]
    page: i64,
    /// 1 to 100.
    #[serde(default = "default_per_page")]
    per_page: i64,
}

/// A page of tenants, newest first.
#[derive(serde::Serialize, ToSchema)]
struct TenantPage {
    items: Vec<Tenant>,
    /// How many match in all.
    total: i64,
    page: i64,
    per_page: i64,
}

#[utoipa::path(
    get, path = "/api/admin/tenants", tag = "admin",
    params(ListTenants),
    responses((status = 200, body = TenantPage)),
    security(("bearer" = [])),
)]
async fn list_tenants(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<ListTenants>,
) -> Result<Json<TenantPage>, ApiError> {
    let (limit, offset) = paging(query.page, query.per_page)?;
    let status = query
        .status
        .as_deref()
        .map(str::parse::<TenantStatus>)
        .transpose()
        .map_err(|_| {
            ApiError::Validation(
                json!({"status": "must be pending, active, suspended or archived"}),
            )
        })?;
    let (tenants, total) = state
        .db
        .list_tenants(&TenantQuery {
            search: query.search.filter(|s| !s.trim().is_empty()),
            status,
            limit,
            offset,
        })
        .await?;
    Ok(Json(TenantPage {
        items: tenants,
        total,
        page: query.page,
        per_page: query.per_page,
    }))
}

/// The tenant: its fields, every installed module and whether it is on, its
/// domains and logo.
#[utoipa::path(
    get, path = "/api/admin/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme")),
    responses((status = 200, body = TenantDetails)),
    security(("bearer" = [])),
)]
async fn get_tenant(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(tenant): Path<String>,
) -> Result<Json<TenantDetails>, ApiError> {
    Ok(Json(state.provisioner().details(&tenant).await?))
}

/// A PATCH body: an absent field is left alone, a `null` clears an optional one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateTenant {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    contact_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    primary_color: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    secondary_color: Option<Option<String>>,
    /// Present and null is refused: a tenant always has a zone.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    timezone: Option<Option<String>>,
}

/// A field that is present: `Some(None)` for `null`, `Some(Some(v))` for a value.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Changes a tenant's name, contact, colours or time zone.
#[utoipa::path(
    patch, path = "/api/admin/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme")),
    request_body = UpdateTenant,
    responses((status = 200, body = TenantDetails)),
    security(("bearer" = [])),
)]
async fn update_tenant(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<UpdateTenant>,
) -> Result<Json<TenantDetails>, ApiError> {
    let changes = TenantChanges {
        name: body.name,
        contact_email: body.contact_email,
        primary_color: body.primary_color,
        secondary_color: body.secondary_color,
        logo: None,
        timezone: match body.timezone {
            Some(None) => {
                return Err(ApiError::Validation(
                    json!({"timezone": "must be an IANA time zone such as Europe/Paris, not null"}),
                ));
            }
            other => other.flatten(),
        },
    };
    let details = state
        .provisioner()
        .update_tenant(&tenant, changes, &admin.actor())
        .await?;
    Ok(Json(details))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteTenant {
    /// The tenant's subdomain, typed again.
    confirm: String,
}

/// Removes the tenant with all its data and files; the audit log keeps the record.
#[utoipa::path(
    delete, path = "/api/admin/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme")),
    request_body = DeleteTenant,
    responses((status = 204, description = "Deleted")),
    security(("bearer" = [])),
)]
async fn delete_tenant(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<DeleteTenant>,
) -> Result<StatusCode, ApiError> {
    state
        .provisioner()
        .delete_tenant(&tenant, &body.confirm, &admin.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores the tenant's logo: PNG, JPEG or WebP judged by its content, at most 2 MB.
#[utoipa::path(
    put, path = "/api/admin/tenants/{tenant}/logo", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The image"),
    responses((status = 200, body = TenantDetails), (status = 413, description = "Over 2 MB")),
    security(("bearer" = [])),
)]
async fn upload_logo(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    body: Body,
) -> Result<Json<TenantDetails>, ApiError> {
    let limit = crate::provisioning::files::MAX_LOGO_BYTES;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let details = state
        .provisioner()
        .set_logo(&tenant, &bytes, &admin.actor())
        .await?;
    Ok(Json(details))
}

/// The tenant's folder, config, modules, slots and last failure on this replica.
#[utoipa::path(
    get, path = "/api/admin/tenants/{tenant}/health", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme")),
    responses((status = 200, body = TenantHealth)),
    security(("bearer" = [])),
)]
async fn health(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(tenant): Path<String>,
) -> Result<Json<TenantHealth>, ApiError> {
    Ok(Json(state.provisioner().health(&tenant).await?))
}

#[derive(serde::Serialize, ToSchema)]
struct Deployed {
    files: Vec<WrittenFile>,
}

/// Exports the tenant's static site into `tenants/<subdomain>/site/`.
#[utoipa::path(
    post, path = "/api/admin/tenants/{tenant}/deploy-site", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's subdomain or id", example = "acme")),
    responses((status = 200, body = Deployed)),
    security(("bearer" = [])),
)]
async fn deploy_site(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
) -> Result<Json<Deployed>, ApiError> {
    let files = state
        .provisioner()
        .deploy_site(&tenant, &admin.actor())
        .await?;
    Ok(Json(Deployed { files }))
}

/// Counts of tenants by status and plan, and of modules enabled.
#[utoipa::path(
    get, path = "/api/admin/tenants/statistics", tag = "admin",
    responses((status = 200, body = TenantStatistics)),
    security(("bearer" = [])),
)]
async fn statistics(
    State(state): State<AppState>,
    _admin: AdminActor,
) -> Result<Json<TenantStatistics>, ApiError> {
    Ok(Json(state.db.tenant_statistics().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkCreate {
    tenants: Vec<CreateTenant>,
}

#[derive(serde::Serialize, ToSchema)]
struct BulkCreated {
    created: usize,
    failed: usize,
    /// One per tenant asked for, in order.
    results: Vec<BulkItem<TenantDetails>>,
}

/// Creates up to 500 tenants, each on its own: one that fails leaves nothing behind.
#[utoipa::path(
    post, path = "/api/admin/tenants/bulk-create", tag = "admin",
    request_body = BulkCreate,
    responses((status = 200, body = BulkCreated)),
    security(("bearer" = [])),
)]
async fn bulk_create(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<BulkCreate>,
) -> Result<Json<BulkCreated>, ApiError> {
    check_bulk(body.tenants.len())?;
    let tenants = body.tenants.into_iter().map(NewTenant::from).collect();
    let results = state
        .provisioner()
        .bulk_create(tenants, &admin.actor(), |_| {})
        .await;
    let created = results.iter().filter(|r| r.ok).count();
    Ok(Json(BulkCreated {
        created,
        failed: results.len() - created,
        results,
    }))
}
