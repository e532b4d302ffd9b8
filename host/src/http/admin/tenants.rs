//! `/api/admin/tenants...`: creating, listing, changing and deleting tenants, their
//! logo, health and exported site.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminActor, check_bulk, default_per_page, first_page, paging};
use crate::AppState;
use crate::http::ApiError;
use crate::http::extract::{JsonBody, QueryParams};
use crate::provisioning::NewTenant;
use crate::store::{TenantChanges, TenantQuery};
use crate::tenancy::TenantStatus;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/tenants", get(list_tenants).post(create_tenant))
        .route("/api/admin/tenants/statistics", get(statistics))
        .route("/api/admin/tenants/bulk-create", post(bulk_create))
        .route(
            "/api/admin/tenants/{tenant}",
            get(get_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route("/api/admin/tenants/{tenant}/health", get(health))
        .route("/api/admin/tenants/{tenant}/logo", put(upload_logo))
        .route("/api/admin/tenants/{tenant}/deploy-site", post(deploy_site))
}

#[derive(Deserialize)]
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

async fn create_tenant(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let provisioner = state.provisioner();
    let tenant = provisioner
        .create_tenant(body.into(), &admin.actor())
        .await?;
    let details = provisioner.details(&tenant.id).await?;
    Ok((StatusCode::CREATED, Json(json!(details))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListTenants {
    search: Option<String>,
    status: Option<String>,
    #[serde(default = "first_page")]
    page: i64,
    #[serde(default = "default_per_page")]
    per_page: i64,
}

async fn list_tenants(
    State(state): State<AppState>,
    _admin: AdminActor,
    QueryParams(query): QueryParams<ListTenants>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "items": tenants,
        "total": total,
        "page": query.page,
        "per_page": query.per_page,
    })))
}

async fn get_tenant(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.provisioner().details(&tenant).await?)))
}

/// A PATCH body: an absent field is left alone, a `null` clears an optional one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTenant {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    contact_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    primary_color: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    secondary_color: Option<Option<String>>,
    /// Present and null is refused: a tenant always has a zone.
    #[serde(default, deserialize_with = "present")]
    timezone: Option<Option<String>>,
}

/// A field that is present: `Some(None)` for `null`, `Some(Some(v))` for a value.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

async fn update_tenant(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<UpdateTenant>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!(details)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteTenant {
    /// The tenant's subdomain, typed again.
    confirm: String,
}

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

async fn upload_logo(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let limit = crate::provisioning::files::MAX_LOGO_BYTES;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let details = state
        .provisioner()
        .set_logo(&tenant, &bytes, &admin.actor())
        .await?;
    Ok(Json(json!(details)))
}

async fn health(
    State(state): State<AppState>,
    _admin: AdminActor,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.provisioner().health(&tenant).await?)))
}

async fn deploy_site(
    State(state): State<AppState>,
    admin: AdminActor,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let files = state
        .provisioner()
        .deploy_site(&tenant, &admin.actor())
        .await?;
    Ok(Json(json!({ "files": files })))
}

async fn statistics(
    State(state): State<AppState>,
    _admin: AdminActor,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.db.tenant_statistics().await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkCreate {
    tenants: Vec<CreateTenant>,
}

async fn bulk_create(
    State(state): State<AppState>,
    admin: AdminActor,
    JsonBody(body): JsonBody<BulkCreate>,
) -> Result<Json<Value>, ApiError> {
    check_bulk(body.tenants.len())?;
    let tenants = body.tenants.into_iter().map(NewTenant::from).collect();
    let results = state
        .provisioner()
        .bulk_create(tenants, &admin.actor(), |_| {})
        .await;
    let created = results.iter().filter(|r| r.ok).count();
    Ok(Json(json!({
        "created": created,
        "failed": results.len() - created,
        "results": results,
    })))
}
